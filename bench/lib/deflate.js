'use strict';
// permessage-deflate (RFC 7692) for the compressed scenarios, without any WebSocket library: the
// offer the load generator makes, the check of the server's answer, per-message compression and
// inflation with node:zlib, and the one set of server parameters both libraries are given.

const zlib = require('zlib');

// No context takeover in either direction: every message is compressed on its own, so the load
// generator can send frames compressed once before the run, and inflate any single echo.
const OFFER = 'permessage-deflate; client_no_context_takeover; server_no_context_takeover; client_max_window_bits';

// The parameters both servers get. Level 6 and memLevel 8 are zlib's defaults (and each
// library's); threshold and concurrencyLimit are each library's defaults.
const SERVER_PARAMS = {
  serverNoContextTakeover: true,
  clientNoContextTakeover: true,
  serverMaxWindowBits: 15,
  clientMaxWindowBits: 15,
  level: 6,
  memLevel: 8,
  threshold: 1024,
  concurrencyLimit: 10,
};

// This package takes the parameters as they are.
function oursOptions(p = SERVER_PARAMS) {
  return { ...p };
}

// ws@8 spells the same parameters with zlib's option names for level and memLevel.
function wsOptions(p = SERVER_PARAMS) {
  return {
    serverNoContextTakeover: p.serverNoContextTakeover,
    clientNoContextTakeover: p.clientNoContextTakeover,
    serverMaxWindowBits: p.serverMaxWindowBits,
    clientMaxWindowBits: p.clientMaxWindowBits,
    zlibDeflateOptions: { level: p.level, memLevel: p.memLevel },
    threshold: p.threshold,
    concurrencyLimit: p.concurrencyLimit,
  };
}

function describeParams(p = SERVER_PARAMS) {
  return Object.entries(p)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
}

const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

// What the server agreed to, from its Sec-WebSocket-Extensions value (null when absent).
// Throws when the answer is not one this load generator can work with.
function checkAgreement(header) {
  if (header === null || header === undefined) throw new Error('server did not accept permessage-deflate (no Sec-WebSocket-Extensions)');
  const parts = header.split(',').map((s) => s.trim()).filter(Boolean);
  if (parts.length !== 1) throw new Error(`server answered ${parts.length} extensions: ${header}`);
  const [name, ...params] = parts[0].split(';').map((s) => s.trim());
  if (name.toLowerCase() !== 'permessage-deflate') throw new Error(`server answered another extension: ${header}`);
  const agreed = { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 };
  for (const param of params) {
    const eq = param.indexOf('=');
    const key = (eq === -1 ? param : param.slice(0, eq)).trim().toLowerCase();
    const value = eq === -1 ? null : param.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
    const bits = () => {
      if (value === null || !/^(?:[89]|1[0-5])$/.test(value)) throw new Error(`bad ${key} in ${header}`);
      return Number(value);
    };
    if (key === 'server_no_context_takeover' && value === null) agreed.serverNoContextTakeover = true;
    else if (key === 'client_no_context_takeover' && value === null) agreed.clientNoContextTakeover = true;
    else if (key === 'server_max_window_bits') agreed.serverMaxWindowBits = bits();
    else if (key === 'client_max_window_bits') agreed.clientMaxWindowBits = bits();
    else throw new Error(`unexpected parameter ${param} in ${header}`);
  }
  // Each echo is inflated on its own, which only works if the server resets its compressor.
  if (!agreed.serverNoContextTakeover) throw new Error(`server kept context takeover despite the offer: ${header}`);
  // zlib cannot produce a raw stream with a 256-byte window (it silently uses 512).
  if (agreed.clientMaxWindowBits < 9) throw new Error(`client_max_window_bits=${agreed.clientMaxWindowBits} is not supported here`);
  return agreed;
}

// One message's compressed payload: a sync flush ends it with 00 00 ff ff, which RFC 7692
// §7.2.1 says to remove.
function compressMessage(payload, windowBits = 15, level = 6) {
  const out = zlib.deflateRawSync(payload, { level, windowBits, finishFlush: zlib.constants.Z_SYNC_FLUSH });
  if (out.length < 4 || !out.subarray(out.length - 4).equals(TAIL)) throw new Error('deflate output does not end with 00 00 ff ff');
  return out.subarray(0, out.length - 4);
}

// The inverse (RFC 7692 §7.2.2): put the tail back and inflate. `parts` are the compressed
// payload's pieces as they arrived; `limit` guards against an echo that inflates to far more
// than was sent.
function inflateMessage(parts, limit) {
  return zlib.inflateRawSync(Buffer.concat([...parts, TAIL]), { finishFlush: zlib.constants.Z_SYNC_FLUSH, maxOutputLength: limit });
}

module.exports = { OFFER, SERVER_PARAMS, oursOptions, wsOptions, describeParams, checkAgreement, compressMessage, inflateMessage };
