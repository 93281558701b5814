'use strict';
// Just enough RFC 6455 for a load generator that must not depend on any WebSocket library:
// the opening handshake, masked client frames, and the payloads each scenario sends.

const crypto = require('crypto');

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

function acceptKey(key) {
  return crypto.createHash('sha1').update(key + GUID).digest('base64');
}

function headerLength(payloadLength) {
  if (payloadLength < 126) return 2;
  if (payloadLength < 0x10000) return 4;
  return 10;
}

// One complete frame (FIN set) from client to server, masked with `maskKey`.
function clientFrame(opcode, payload, maskKey) {
  const n = payload.length;
  const hl = headerLength(n);
  const out = Buffer.allocUnsafe(hl + 4 + n);
  out[0] = 0x80 | opcode;
  if (n < 126) {
    out[1] = 0x80 | n;
  } else if (n < 0x10000) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(n, 2);
  } else {
    out[1] = 0x80 | 127;
    out.writeUInt32BE(Math.floor(n / 0x100000000), 2);
    out.writeUInt32BE(n >>> 0, 6);
  }
  maskKey.copy(out, hl, 0, 4);
  const p = hl + 4;
  for (let i = 0; i < n; i++) out[p + i] = payload[i] ^ maskKey[i & 3];
  return out;
}

function closeFrame(code, maskKey) {
  const body = Buffer.allocUnsafe(2);
  body.writeUInt16BE(code, 0);
  return clientFrame(0x8, body, maskKey);
}

function randomMask() {
  // A zero key would let a server skip unmasking and look faster than it is.
  let key;
  do key = crypto.randomBytes(4); while (key.readUInt32BE(0) === 0);
  return key;
}

// Multi-byte UTF-8 text: 2-, 3- and 4-byte sequences (9 bytes per group) plus ASCII filler,
// so a validator cannot take its all-ASCII fast path.
const UTF8_UNITS = ['é', '€', '😀', 'ß', '中', '𝄞', 'ж', '水'];

function utf8Payload(size, variant) {
  let s = '';
  let bytes = 0;
  let i = variant;
  for (;;) {
    const unit = UTF8_UNITS[i++ % UTF8_UNITS.length];
    const len = Buffer.byteLength(unit);
    if (bytes + len > size) break;
    s += unit;
    bytes += len;
  }
  while (bytes < size) {
    s += String.fromCharCode(0x41 + ((variant + bytes) % 26));
    bytes++;
  }
  return Buffer.from(s, 'utf8');
}

function asciiPayload(size, variant) {
  const out = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) out[i] = 0x20 + ((i * 7 + variant) % 95);
  return out;
}

// `count` distinct payloads of exactly `size` bytes, so an echo of the wrong message is caught.
// Large binary payloads share one random buffer at different offsets to keep memory flat.
function makePayloads(kind, size, count) {
  const out = [];
  if (kind === 'binary') {
    const base = crypto.randomBytes(size + count);
    for (let v = 0; v < count; v++) out.push(base.subarray(v, v + size));
  } else if (kind === 'text') {
    for (let v = 0; v < count; v++) out.push(asciiPayload(size, v));
  } else if (kind === 'utf8') {
    for (let v = 0; v < count; v++) out.push(utf8Payload(size, v));
  } else {
    throw new Error(`unknown payload kind ${kind}`);
  }
  return out;
}

function opcodeFor(kind) {
  return kind === 'binary' ? 0x2 : 0x1;
}

// The frames for variants 0..W-1, written twice in a row: sending k frames starting at ring
// position p is then one zero-copy slice, batch[p .. p+k), for any p < W and k <= W.
function buildRing(payloads, opcode) {
  const frames = payloads.map((p) => clientFrame(opcode, p, randomMask()));
  const frameLen = frames[0].length;
  for (const f of frames) if (f.length !== frameLen) throw new Error('payload variants must have equal length');
  const ring = Buffer.concat(frames.concat(frames));
  return { ring, frameLen, count: frames.length };
}

module.exports = {
  GUID,
  acceptKey,
  clientFrame,
  closeFrame,
  randomMask,
  makePayloads,
  opcodeFor,
  buildRing,
  headerLength,
};
