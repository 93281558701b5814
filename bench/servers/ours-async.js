'use strict';
// This repository's package, like `ours`, but each connection echoes the way upstream v2's promise
// API is written: `for await` over connection.messages(), awaiting every send before taking the
// next message. Compared with `ours` in the same run, it shows what the async layer costs on the
// same server settings.
require('./_websocket-node')('websocket', 'ours-async', async (connection) => {
  try {
    for await (const message of connection.messages()) {
      if (message.type === 'utf8') await connection.sendUTF(message.utf8Data);
      else await connection.sendBytes(message.binaryData);
    }
  } catch {
    // The load generator resets its connections at the end of a run (a 1006 close), which ends the
    // loop with a ConnectionClosedError; nothing is left to do for this connection.
  }
});
