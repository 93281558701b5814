'use strict';
// Node's http2 alone (no WebSocket code): N streams on one session echo 8 × 64 KiB each, with flow
// control windows of 1 MiB per stream and 16 MiB per session on both sides. With 10 or 20 streams
// every byte comes back; with 50 (26 MB in flight both ways at once) the session stalls: the
// server stops reading part-way and the client gets nothing back. bench/http2/run.js meets the
// same stall in its "1 MiB / 16 MiB windows" layout at 64 KiB; see bench/README.md.
//   node bench/http2/node-stall.js [streams]

const http2 = require('http2');

const settings = { settings: { initialWindowSize: 1 << 20 } };
const server = http2.createServer(settings);
server.on('session', (session) => session.setLocalWindowSize(16 << 20));
let serverGot = 0;
server.on('stream', (stream) => {
  stream.respond({ ':status': 200 });
  stream.on('data', (data) => {
    serverGot += data.length;
    stream.write(data);
  });
});
server.listen(0, '127.0.0.1', async () => {
  const session = http2.connect(`http://127.0.0.1:${server.address().port}`, settings);
  await new Promise((resolve) => session.once('remoteSettings', resolve));
  session.setLocalWindowSize(16 << 20);
  const streams = Number(process.argv[2] || 50);
  const chunk = Buffer.alloc(65550);
  let clientGot = 0;
  for (let i = 0; i < streams; i++) {
    const stream = session.request({ ':method': 'POST', ':path': '/' }, { endStream: false });
    stream.on('data', (data) => (clientGot += data.length));
    for (let k = 0; k < 8; k++) stream.write(chunk);
  }
  setTimeout(() => {
    const sent = streams * 8 * chunk.length;
    console.log(`node ${process.version}, ${streams} streams: sent ${sent}, server received ${serverGot}, client received back ${clientGot}${clientGot < sent ? ' (stalled)' : ''}`);
    process.exit(0);
  }, 2000);
});
