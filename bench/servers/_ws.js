'use strict';
// Echo server on ws@8. Text echoes go back as text without decoding, as ws applications usually do.

const http = require('http');
const { serve, MiB } = require('./_control');

module.exports = function start(impl) {
  const { WebSocketServer } = require('ws');
  const httpServer = http.createServer((req, res) => {
    res.writeHead(404);
    res.end();
  });
  const wss = new WebSocketServer({ server: httpServer, perMessageDeflate: false, maxPayload: 64 * MiB });
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('error', () => {});
  });
  serve(httpServer, impl);
};
