'use strict';
// Echo server on the WebSocket-Node API, shared by `ours` (require('websocket')) and `websocket`
// (upstream 1.0.35 as require('websocket-upstream')). Written the way an application would use
// that API; only the limits and keepalive are changed so the big-message scenarios fit.

const http = require('http');
const { serve, MiB } = require('./_control');

module.exports = function start(moduleName, impl) {
  const { server: WebSocketServer } = require(moduleName);
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
  });
  wsServer.on('request', (request) => {
    const connection = request.accept(null, request.origin);
    connection.on('message', (message) => {
      if (message.type === 'utf8') connection.sendUTF(message.utf8Data);
      else connection.sendBytes(message.binaryData);
    });
    // Load generators reset their sockets at the end of a run.
    connection.on('error', () => {});
  });
  serve(httpServer, impl, { module: moduleName });
};
