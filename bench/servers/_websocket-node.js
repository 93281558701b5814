'use strict';
// Echo server on the WebSocket-Node API, shared by `ours` (require('websocket')) and `websocket`
// (upstream 1.0.35 as require('websocket-upstream')). Written the way an application would use
// that API; only the limits and keepalive are changed so the big-message scenarios fit.
// BENCH_DEFLATE=1 (set by run.js for the compressed scenarios) turns on permessage-deflate with the
// parameters in lib/deflate.js. Upstream has no such option and ignores it; the load generator
// then reports that the server did not accept the offer.
// `echo` answers one accepted connection; by default with the event API. `ours-async` passes its
// own (for await + await send), so both variants share every setting above and differ only there.

const http = require('http');
const { serve, MiB } = require('./_control');
const { oursOptions } = require('../lib/deflate');

// The event API, as the WebSocket-Node docs write it.
function echoEvents(connection) {
  connection.on('message', (message) => {
    if (message.type === 'utf8') connection.sendUTF(message.utf8Data);
    else connection.sendBytes(message.binaryData);
  });
}

module.exports = function start(moduleName, impl, echo = echoEvents) {
  const { server: WebSocketServer } = require(moduleName);
  const deflate = process.env.BENCH_DEFLATE === '1' ? oursOptions() : null;
  const httpServer = http.createServer((req, res) => {
    res.writeHead(404);
    res.end();
  });
  const wsServer = new WebSocketServer({
    httpServer,
    autoAcceptConnections: false,
    keepalive: false,
    maxReceivedFrameSize: 64 * MiB,
    maxReceivedMessageSize: 64 * MiB,
    fragmentOutgoingMessages: false,
    ...(deflate ? { perMessageDeflate: deflate } : {}),
  });
  wsServer.on('request', (request) => {
    const connection = request.accept(null, request.origin);
    echo(connection);
    // Load generators reset their sockets at the end of a run.
    connection.on('error', () => {});
  });
  serve(httpServer, impl, { module: moduleName, deflate });
};
