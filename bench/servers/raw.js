'use strict';
// The ceiling: a `net` server that does the least RFC 6455 an echo needs. It parses every complete
// frame in an input chunk, unmasks each payload straight into one output buffer behind a server
// header, and writes that buffer once per chunk. It does not validate UTF-8, enforce limits or
// reassemble fragments (each frame is echoed as it came), so no library should beat it.

const net = require('net');
const crypto = require('crypto');
const { serve } = require('./_control');

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
let nativeMask = null;
try {
  nativeMask = require('bufferutil').mask;
} catch {
  // a byte loop below does the same job
}

// Below this size a JavaScript loop beats the call into the add-on.
const NATIVE_MIN = 64;

function unmaskInto(src, start, length, key, out, at) {
  if (nativeMask !== null && length >= NATIVE_MIN) {
    nativeMask(src.subarray(start, start + length), key, out, at, length);
    return;
  }
  const k0 = key[0];
  const k1 = key[1];
  const k2 = key[2];
  const k3 = key[3];
  let i = 0;
  for (; i + 3 < length; i += 4) {
    out[at + i] = src[start + i] ^ k0;
    out[at + i + 1] = src[start + i + 1] ^ k1;
    out[at + i + 2] = src[start + i + 2] ^ k2;
    out[at + i + 3] = src[start + i + 3] ^ k3;
  }
  for (; i < length; i++) out[at + i] = src[start + i] ^ key[i & 3];
}

function writeHeader(out, at, b0, length) {
  out[at] = b0;
  if (length < 126) {
    out[at + 1] = length;
    return 2;
  }
  if (length < 0x10000) {
    out[at + 1] = 126;
    out.writeUInt16BE(length, at + 2);
    return 4;
  }
  out[at + 1] = 127;
  out.writeUInt32BE(Math.floor(length / 0x100000000), at + 2);
  out.writeUInt32BE(length >>> 0, at + 6);
  return 10;
}

function handshake(socket, head) {
  const end = head.indexOf('\r\n\r\n');
  if (end === -1) return head.length > 16384 ? false : null;
  const text = head.toString('latin1', 0, end);
  const m = /\r\nsec-websocket-key:[ \t]*([^\r\n]*?)[ \t]*(?:\r\n|$)/i.exec(text);
  if (!m) {
    socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    return false;
  }
  const accept = crypto.createHash('sha1').update(m[1] + GUID).digest('base64');
  socket.write(
    `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`
  );
  return end + 4;
}

function onConnection(socket) {
  socket.setNoDelay(true);
  socket.on('error', () => {});
  let head = null;
  let open = false;
  // Bytes of an incomplete frame; `need` is how many must be buffered before parsing again,
  // so a 1 MiB frame arriving in 64 KiB chunks is joined once, not once per chunk.
  let chunks = [];
  let have = 0;
  let need = 0;
  let closed = false;

  socket.on('data', (chunk) => {
    if (closed) return;
    if (!open) {
      head = head === null ? chunk : Buffer.concat([head, chunk]);
      const at = handshake(socket, head);
      if (at === null) return;
      if (at === false) {
        closed = true;
        socket.destroy();
        return;
      }
      open = true;
      chunk = head.subarray(at);
      head = null;
      if (chunk.length === 0) return;
    }
    chunks.push(chunk);
    have += chunk.length;
    if (have < need) return;
    const buf = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, have);
    chunks = [];
    have = 0;
    need = 0;
    processFrames(buf);
  });

  function processFrames(buf) {
    const len = buf.length;
    // Server frames are 4 bytes (the mask key) shorter than client frames, so the input length bounds the output.
    const out = Buffer.allocUnsafe(len);
    let o = 0;
    let pos = 0;
    while (pos < len) {
      if (len - pos < 2) {
        need = 2;
        break;
      }
      const b0 = buf[pos];
      const b1 = buf[pos + 1];
      if ((b1 & 0x80) === 0) return protocolError(out, o);
      let plen = b1 & 0x7f;
      let hl = 2;
      if (plen === 126) {
        if (len - pos < 4) {
          need = 4;
          break;
        }
        plen = buf.readUInt16BE(pos + 2);
        hl = 4;
      } else if (plen === 127) {
        if (len - pos < 10) {
          need = 10;
          break;
        }
        plen = buf.readUInt32BE(pos + 2) * 0x100000000 + buf.readUInt32BE(pos + 6);
        hl = 10;
      }
      const frameLen = hl + 4 + plen;
      if (len - pos < frameLen) {
        need = frameLen;
        break;
      }
      const key = buf.subarray(pos + hl, pos + hl + 4);
      const opcode = b0 & 0x0f;
      if (opcode === 0x8) {
        // Echo the close (status code and reason) and finish.
        o += writeHeader(out, o, 0x88, plen);
        unmaskInto(buf, pos + hl + 4, plen, key, out, o);
        o += plen;
        closed = true;
        socket.end(out.subarray(0, o));
        return;
      }
      if (opcode === 0xa) {
        pos += frameLen;
        continue;
      }
      const outB0 = opcode === 0x9 ? 0x8a : b0;
      o += writeHeader(out, o, outB0, plen);
      unmaskInto(buf, pos + hl + 4, plen, key, out, o);
      o += plen;
      pos += frameLen;
    }
    if (pos < len) {
      chunks.push(buf.subarray(pos));
      have = len - pos;
    }
    if (o > 0) socket.write(out.subarray(0, o));
  }

  function protocolError(out, o) {
    if (o > 0) socket.write(out.subarray(0, o));
    closed = true;
    socket.end(Buffer.from([0x88, 0x02, 0x03, 0xea])); // 1002
  }
}

serve(net.createServer(onConnection), 'raw');
