'use strict';
// Just enough RFC 6455 for a load generator that must not depend on any WebSocket library:
// the opening handshake, masked client frames, and the payloads each scenario sends.

const crypto = require('crypto');

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

function acceptKey(key) {
  return crypto.createHash('sha1').update(key + GUID).digest('base64');
}

// The server's answer to an opening handshake, judged on `head`, the bytes read so far: null
// while the header is incomplete; { error } when it is too long, not a 101, or has a
// Sec-WebSocket-Accept other than `accept`; otherwise { text, rest }: the header (without the
// blank line that ends it) and the bytes that followed it, already the first frames.
function handshakeResponse(head, accept) {
  const end = head.indexOf('\r\n\r\n');
  if (end === -1) return head.length > 16384 ? { error: 'handshake response too long' } : null;
  const text = head.toString('latin1', 0, end);
  const status = text.slice(0, text.indexOf('\r\n') === -1 ? text.length : text.indexOf('\r\n'));
  if (!/^HTTP\/1\.1 101\b/.test(status)) return { error: `handshake refused: ${status}` };
  const m = /\r\nsec-websocket-accept:[ \t]*([^\r\n]*?)[ \t]*(?:\r\n|$)/i.exec(text);
  if (!m || m[1] !== accept) return { error: 'bad Sec-WebSocket-Accept' };
  return { text, rest: head.subarray(end + 4) };
}

function headerLength(payloadLength) {
  if (payloadLength < 126) return 2;
  if (payloadLength < 0x10000) return 4;
  return 10;
}

// One complete frame (FIN set) from client to server, masked with `maskKey`. `rsv1` marks a
// compressed message (permessage-deflate).
function clientFrame(opcode, payload, maskKey, rsv1 = false) {
  const n = payload.length;
  const hl = headerLength(n);
  const out = Buffer.allocUnsafe(hl + 4 + n);
  out[0] = 0x80 | (rsv1 ? 0x40 : 0) | opcode;
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

// Deterministic pseudo-random numbers (mulberry32), so every run sends the same JSON.
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FIRST = ['Alice', 'Bruno', 'Chloé', 'Dmitri', 'Emma', 'Farid', 'Grace', 'Hiroshi', 'Inès', 'Jonas', 'Kateřina', 'Liam', 'Maya', 'Noah', 'Olga', 'Pablo'];
const LAST = ['Martin', 'Schmidt', 'Rossi', 'García', 'Nowak', 'Dubois', 'Jensen', 'Tanaka', 'Silva', 'Müller', 'Kowalski', 'Brown'];
const CITIES = ['Berlin', 'Lyon', 'Kraków', 'Porto', 'Osaka', 'Toronto', 'Austin', 'Malmö', 'São Paulo', 'Dublin'];
const EVENTS = ['order.created', 'order.paid', 'order.shipped', 'cart.updated', 'user.login', 'invoice.sent'];
const STATUS = ['pending', 'active', 'shipped', 'cancelled', 'refunded'];
const TAGS = ['priority', 'web', 'mobile', 'gift', 'b2b', 'newsletter', 'returning', 'promo'];
const WORDS = ['fast', 'delivery', 'please', 'leave', 'at', 'door', 'call', 'before', 'arrival', 'fragile', 'thanks', 'again'];

// Records as an event stream or an API page would send them: the same keys every time, a
// recurring set of users and products (with some non-ASCII names), rising timestamps, amounts and
// a little free text. That compresses about as well as such JSON does in practice (5-6x here).
function jsonRecords(rnd) {
  const pick = (list) => list[Math.floor(rnd() * list.length)];
  const users = [];
  for (let i = 0; i < 24; i++) {
    const first = pick(FIRST);
    const last = pick(LAST);
    users.push({
      id: 100000 + Math.floor(rnd() * 900000),
      name: `${first} ${last}`,
      email: `${first}.${last}@example.com`.toLowerCase().normalize('NFD').replace(/[^\x20-\x7e]/g, ''),
      city: pick(CITIES),
      verified: rnd() < 0.8,
    });
  }
  const products = [];
  for (let i = 0; i < 40; i++) products.push({ sku: `SKU-${10000 + Math.floor(rnd() * 90000)}`, price: Math.round(rnd() * 20000) / 100 });
  let t = Date.UTC(2024, 0, 1) + Math.floor(rnd() * 3e10);
  return (id) => {
    t += Math.floor(rnd() * 5000);
    const items = [];
    for (let i = 0, n = 1 + Math.floor(rnd() * 3); i < n; i++) items.push({ ...pick(products), qty: 1 + Math.floor(rnd() * 4) });
    const note = [];
    for (let i = 0, n = Math.floor(rnd() * 6); i < n; i++) note.push(pick(WORDS));
    return {
      id,
      type: pick(EVENTS),
      ts: new Date(t).toISOString(),
      user: pick(users),
      items,
      total: Math.round(items.reduce((sum, x) => sum + x.qty * x.price, 0) * 100) / 100,
      currency: rnd() < 0.7 ? 'EUR' : 'USD',
      status: pick(STATUS),
      tags: [pick(TAGS), pick(TAGS)],
      note: note.join(' '),
    };
  };
}

// A JSON array of records, exactly `size` bytes of UTF-8: the last record's `note` is padded with
// random letters to make up the difference. `variant` seeds the generator, so the variants differ.
function jsonPayload(size, variant) {
  const rnd = prng(0x9e3779b9 ^ (variant + 1));
  const record = jsonRecords(rnd);
  const parts = [];
  let bytes = 2; // the brackets
  for (let id = variant * 100000; ; id++) {
    const s = JSON.stringify(record(id));
    const len = Buffer.byteLength(s) + (parts.length ? 1 : 0);
    if (bytes + len > size - 96) break;
    parts.push(s);
    bytes += len;
  }
  const head = `${parts.length ? ',' : ''}{"id":${variant * 100000 + parts.length},"type":"heartbeat","note":"`;
  const tail = '"}';
  let pad = '';
  for (let n = size - bytes - Buffer.byteLength(head) - tail.length; n > 0; n--) pad += String.fromCharCode(0x61 + Math.floor(rnd() * 26));
  const out = Buffer.from(`[${parts.join(',')}${head}${pad}${tail}]`, 'utf8');
  if (out.length !== size) throw new Error(`JSON payload is ${out.length} bytes, wanted ${size}`);
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
  } else if (kind === 'json') {
    for (let v = 0; v < count; v++) out.push(jsonPayload(size, v));
  } else {
    throw new Error(`unknown payload kind ${kind}`);
  }
  return out;
}

function opcodeFor(kind) {
  return kind === 'binary' ? 0x2 : 0x1;
}

// The frames for variants 0..W-1, written twice in a row: sending k frames starting at ring
// position p is then one zero-copy slice, ring[offsets[p] .. offsets[p+k]), for any p < W and
// k <= W. Compressed frames differ in length, hence the offsets.
function buildRing(payloads, opcode) {
  return ringOf(payloads.map((p) => clientFrame(opcode, p, randomMask())));
}

function ringOf(frames) {
  const twice = frames.concat(frames);
  const offsets = new Array(twice.length + 1);
  offsets[0] = 0;
  for (let i = 0; i < twice.length; i++) offsets[i + 1] = offsets[i] + twice[i].length;
  return { ring: Buffer.concat(twice), offsets, count: frames.length };
}

module.exports = {
  GUID,
  acceptKey,
  handshakeResponse,
  clientFrame,
  closeFrame,
  randomMask,
  makePayloads,
  jsonPayload,
  opcodeFor,
  buildRing,
  ringOf,
  headerLength,
};
