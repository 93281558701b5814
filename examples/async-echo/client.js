#!/usr/bin/env node
'use strict';
// A client for examples/async-echo (examples/echo-server works too), written with upstream v2's
// promise API: connects with 'echo-protocol', sends a few text messages and one binary message,
// checks that each echo matches what was sent, then closes. See docs/promises.md.
// Usage: node examples/async-echo/client.js [ws://127.0.0.1:8080/]
const WebSocketClient = require('websocket').client;

const url = process.argv[2] || 'ws://127.0.0.1:' + (process.env.PORT || 8080) + '/';
const outgoing = ['Hello', 'from', 'async WebSocket-Node', Buffer.from([0xde, 0xad, 0xbe, 0xef])];

function describe(data) {
  return Buffer.isBuffer(data) ? 'binary ' + data.toString('hex') : "'" + data + "'";
}

async function main() {
  const client = new WebSocketClient();
  // Rejects with the Error 'connectFailed' gets: ECONNREFUSED, a refused handshake, ...
  const connection = await client.connect(url, 'echo-protocol');
  console.log('Connected (protocol: ' + connection.protocol + ')');

  // Iterate from before the first send: echoes that arrive while we are still sending wait in the
  // iterator's queue instead of being emitted to nobody.
  const incoming = connection.messages();

  for (const data of outgoing) {
    // send() picks sendBytes for a Buffer and sendUTF otherwise; it settles once the message has
    // been handed to the kernel, and rejects if it could not be sent.
    await connection.send(data);
    console.log('Sent: ' + describe(data));
  }

  let received = 0;
  for await (const message of incoming) {
    const echo = message.type === 'utf8' ? message.utf8Data : message.binaryData;
    const expected = outgoing[received];
    const same = Buffer.isBuffer(expected) ? Buffer.isBuffer(echo) && expected.equals(echo) : echo === expected;
    console.log('Received: ' + describe(echo) + (same ? '' : ' (expected ' + describe(expected) + ')'));
    if (!same) process.exitCode = 1;
    received += 1;
    // Leaving the loop stops the iteration but keeps the connection open: closing is our call.
    if (received === outgoing.length) break;
  }
  // Only reached early if the server closed normally before echoing everything.
  if (received < outgoing.length) {
    console.log('The server closed after ' + received + ' of ' + outgoing.length + ' echoes');
    process.exitCode = 1;
  }

  // Resolves with what the 'close' event reports, once the closing handshake is over.
  const { reasonCode, description } = await connection.close(1000, 'All echoes received');
  console.log('Connection Closed. Code: ' + reasonCode + ' Reason: ' + description);
}

main().catch((err) => {
  // A failed connect, a send refused, or the connection closing abnormally while we iterate
  // (a ConnectionClosedError, with err.code and err.description).
  console.log('Error: ' + err.message);
  process.exitCode = 1;
});
