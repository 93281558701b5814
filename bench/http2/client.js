'use strict';
// Load generator for bench/http2: N WebSockets to the echo server, either N TCP connections with an
// HTTP/1.1 upgrade each, or N extended CONNECT streams (RFC 8441) on ONE HTTP/2 connection. Raw
// frames built once (masked, as a client must), `window` messages in flight per WebSocket, echoes
// counted by parsing frame headers. Prints one JSON line:
//   { setupMs, messages, bytes, seconds }
// usage: node client.js --mode tcp|h2|h2big --port P --connections N --size BYTES --window W --duration S

const net = require('net');
const http2 = require('http2');
const crypto = require('crypto');

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const mode = args.mode;
const port = Number(args.port);
const connections = Number(args.connections || 50);
const size = Number(args.size || 64);
const windowSize = Number(args.window || 16);
const duration = Number(args.duration || 3) * 1000;
const warmup = 1000;

/** One masked binary frame of `size` bytes (the mask key is fixed: the server unmasks either way). */
function maskedFrame(length) {
  const header = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const frame = Buffer.alloc(header + 4 + length);
  frame[0] = 0x82;
  if (header === 2) frame[1] = 0x80 | length;
  else if (header === 4) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeUInt32BE(0, 2);
    frame.writeUInt32BE(length, 6);
  }
  const key = crypto.randomBytes(4);
  key.copy(frame, header);
  const payload = crypto.randomBytes(length);
  for (let i = 0; i < length; i++) frame[header + 4 + i] = payload[i] ^ key[i & 3];
  return frame;
}

const FRAME = maskedFrame(size);
let counting = false;
let messages = 0;
let bytes = 0;

/** Counts the server's (unmasked) frames in a byte stream; `onEcho` runs once per whole frame. */
function echoCounter(onEcho) {
  const header = Buffer.alloc(10);
  let have = 0; // header bytes read so far
  let need = 2; // header bytes this frame has
  let remaining = 0; // payload bytes still to skip
  return (chunk) => {
    let pos = 0;
    while (pos < chunk.length) {
      if (remaining > 0) {
        const take = Math.min(remaining, chunk.length - pos);
        remaining -= take;
        pos += take;
        if (remaining === 0) onEcho();
        continue;
      }
      header[have++] = chunk[pos++];
      const len7 = header[1] & 0x7f;
      if (have === 2) need = len7 < 126 ? 2 : len7 === 126 ? 4 : 10;
      if (have === need) {
        remaining = len7 < 126 ? len7 : len7 === 126 ? header.readUInt16BE(2) : header.readUInt32BE(6);
        have = 0;
        need = 2;
        if (remaining === 0) onEcho();
      }
    }
  };
}

function upgradeTcp() {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    socket.on('error', reject);
    socket.once('connect', () => {
      socket.write(
        'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`
      );
    });
    let head = Buffer.alloc(0);
    const onData = (chunk) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      socket.removeListener('data', onData);
      if (!head.subarray(0, 12).toString().includes('101')) return reject(new Error(head.toString()));
      resolve({ write: (b) => socket.write(b), on: (fn) => socket.on('data', fn), close: () => socket.destroy() });
    };
    socket.on('data', onData);
  });
}

function openH2(session) {
  return new Promise((resolve, reject) => {
    const stream = session.request(
      { ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': 'http', ':path': '/', ':authority': `127.0.0.1:${port}`, 'sec-websocket-version': '13' },
      { endStream: false }
    );
    stream.on('error', reject);
    stream.once('response', (headers) => {
      if (headers[':status'] !== 200) return reject(new Error(`status ${headers[':status']}`));
      resolve({ write: (b) => stream.write(b), on: (fn) => stream.on('data', fn), close: () => stream.close() });
    });
  });
}

async function main() {
  let session = null;
  const start = process.hrtime.bigint();
  const sockets = [];
  if (mode === 'h2' || mode === 'h2big') {
    // h2big: receive windows sized for bulk transfer on this side too (see server.js).
    session = http2.connect(`http://127.0.0.1:${port}`, mode === 'h2big' ? { settings: { initialWindowSize: 1 << 20, maxFrameSize: (1 << 24) - 1 } } : {});
    await new Promise((resolve, reject) => {
      session.once('remoteSettings', resolve);
      session.once('error', reject);
    });
    if (mode === 'h2big') session.setLocalWindowSize(16 << 20);
    for (let i = 0; i < connections; i++) sockets.push(openH2(session));
  } else {
    for (let i = 0; i < connections; i++) sockets.push(upgradeTcp());
  }
  const opened = await Promise.all(sockets);
  const setupMs = Number(process.hrtime.bigint() - start) / 1e6;
  for (const ws of opened) {
    const send = () => ws.write(FRAME);
    ws.on(
      echoCounter(() => {
        if (counting) {
          messages++;
          bytes += size;
        }
        send();
      })
    );
    for (let i = 0; i < windowSize; i++) send();
  }
  await new Promise((r) => setTimeout(r, warmup));
  counting = true;
  const t0 = process.hrtime.bigint();
  process.stdout.write(JSON.stringify({ event: 'measuring' }) + '\n');
  await new Promise((r) => setTimeout(r, duration));
  counting = false;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  process.stdout.write(JSON.stringify({ setupMs, messages, bytes, seconds }) + '\n');
  for (const ws of opened) ws.close();
  if (session !== null) session.destroy();
  process.exit(0);
}

main().catch((error) => {
  process.stdout.write(JSON.stringify({ error: String(error && error.stack ? error.stack : error) }) + '\n');
  process.exit(1);
});
