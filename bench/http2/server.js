'use strict';
// The echo server for bench/http2: one WebSocketServer (this package) mounted on an HTTP/1.1 server
// and on two cleartext HTTP/2 servers (h2c, RFC 8441) at once, the same echo handler for all. Prints
// {"tcp": port, "h2": port, "h2big": port} on stdout; on stdin, "cpu" answers the CPU time used so far (µs) and a
// closed stdin ends the process.

const http = require('http');
const http2 = require('http2');
const { server: WebSocketServer } = require('../..');
const { readStdinLines } = require('../lib/lines');

const MiB = 1024 * 1024;
const tcp = http.createServer((req, res) => res.writeHead(404).end());
// Two HTTP/2 servers: Node's defaults (64 KiB flow-control windows per stream and per connection,
// 16 KiB frames), and settings for bulk transfer (1 MiB per stream, 16 MiB per connection, frames
// up to 16 MiB), the receive side of each session; the load generator sets its own side the same way.
const h2 = http2.createServer();
const h2big = http2.createServer({ settings: { initialWindowSize: 1 << 20, maxFrameSize: (1 << 24) - 1 } });
h2big.on('session', (session) => session.setLocalWindowSize(16 << 20));
const wsServer = new WebSocketServer({
  httpServer: [tcp, h2, h2big],
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
  connection.on('error', () => {});
});

let listening = 0;
const ready = () => {
  if (++listening < 3) return;
  process.stdout.write(JSON.stringify({ tcp: tcp.address().port, h2: h2.address().port, h2big: h2big.address().port, pid: process.pid }) + '\n');
};
tcp.listen(0, '127.0.0.1', ready);
h2.listen(0, '127.0.0.1', ready);
h2big.listen(0, '127.0.0.1', ready);

readStdinLines(
  (cmd) => {
    if (cmd === 'cpu') {
      const { user, system } = process.cpuUsage();
      process.stdout.write(JSON.stringify({ cpu: user + system }) + '\n');
    }
  },
  () => process.exit(0)
);
