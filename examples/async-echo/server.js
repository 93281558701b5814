#!/usr/bin/env node
'use strict';
// The echo-protocol server of examples/echo-server, written with upstream v2's promise API: each
// connection is one async function that reads with `for await` and answers with `await`, and the
// shutdown awaits every connection's close. See docs/promises.md.
const http = require('http');
const WebSocketServer = require('websocket').server;

const port = Number(process.env.PORT || 8080);

const server = http.createServer((request, response) => {
  response.writeHead(404);
  response.end();
});

// HOST is optional; without it the server listens on every interface, like server.listen(8080).
server.listen(port, process.env.HOST || undefined, () => {
  console.log('Server is listening on port ' + server.address().port);
});

const wsServer = new WebSocketServer({
  httpServer: server,
  // Never accept automatically in production: every request should pass an origin check first.
  autoAcceptConnections: false,
});

// Node clients usually send no Origin; a browser page would need an entry in a real allow-list.
function originIsAllowed(origin) {
  return !origin;
}

wsServer.on('request', (request) => {
  if (!originIsAllowed(request.origin)) {
    request.reject(403, 'Origin not allowed');
    console.log('Connection from origin ' + request.origin + ' rejected.');
    return;
  }
  let connection;
  try {
    // Throws when the client did not ask for 'echo-protocol'; the request is rejected for us.
    connection = request.accept('echo-protocol', request.origin);
  } catch (err) {
    console.log('Connection refused: ' + err.message);
    return;
  }
  // The server ignores what a 'request' listener returns, so echo() must not reject: it catches
  // everything itself.
  echo(connection);
});

async function echo(connection) {
  const peer = connection.remoteAddress;
  console.log('Connection accepted from ' + peer);
  try {
    // messages() is called before anything is awaited, so no message can slip past it.
    for await (const message of connection.messages()) {
      if (message.type === 'utf8') {
        console.log('Received Message: ' + message.utf8Data);
        // Waiting for each echo to reach the kernel before reading the next message keeps a peer
        // that does not read our echoes from filling this process's memory.
        await connection.sendUTF(message.utf8Data);
      } else {
        console.log('Received Binary Message of ' + message.binaryData.length + ' bytes');
        await connection.sendBytes(message.binaryData);
      }
    }
    // The loop ends by itself only on a normal close (1000, 1001, or a close frame without a code).
    console.log('Peer ' + peer + ' disconnected. Code: ' + connection.closeReasonCode + ' Reason: ' + connection.closeDescription);
  } catch (err) {
    // Any other close (err.code, err.description), or an echo that could not be sent.
    console.log('Peer ' + peer + ' disconnected abnormally: ' + err.message);
  }
}

// Ctrl-C (or a service manager's SIGTERM): tell every client we are going away and wait for each
// closing handshake to finish before exiting. close() never rejects, and 'closeTimeout' bounds
// the wait for a peer that does not answer.
let stopping = false;
async function shutDown(signal) {
  if (stopping) return;
  stopping = true;
  console.log(signal + ': closing ' + wsServer.connections.length + ' connection(s)');
  wsServer.unmount();
  server.close();
  const outcomes = await Promise.all(wsServer.connections.map((connection) => connection.close(1001, 'Server shutting down')));
  for (const { reasonCode, description } of outcomes) console.log('Closed: ' + reasonCode + ' ' + description);
  console.log('Server stopped');
}
process.on('SIGINT', () => shutDown('SIGINT'));
process.on('SIGTERM', () => shutDown('SIGTERM'));
