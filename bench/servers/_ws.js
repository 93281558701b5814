'use strict';
// Echo server on ws@8. Text echoes go back as text without decoding, as ws applications usually do.
// BENCH_DEFLATE=1 (set by run.js for the compressed scenarios) turns on permessage-deflate with the
// parameters in lib/deflate.js, in ws's spelling.

const http = require('http');
const { serve, MiB } = require('./_control');
const { wsOptions } = require('../lib/deflate');

module.exports = function start(impl) {
  const { WebSocketServer } = require('ws');
  const httpServer = http.createServer((req, res) => {
    res.writeHead(404);
    res.end();
  });
  const deflate = process.env.BENCH_DEFLATE === '1' ? wsOptions() : null;
  const wss = new WebSocketServer({ server: httpServer, perMessageDeflate: deflate || false, maxPayload: 64 * MiB });
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('error', () => {});
  });
  serve(httpServer, impl, { deflate });
};
