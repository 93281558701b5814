'use strict';
// The micro-benchmarks reach into this package's codec. Its modules are still being written, so
// every accessor returns either the function to time or { skip: reason }, and micro.js prints
// the reason instead of failing.

const path = require('path');

const ROOT = path.resolve(__dirname, '..', '..');

function load(rel) {
  const file = path.join(ROOT, rel);
  try {
    return { mod: require(file) };
  } catch (err) {
    if (err.code === 'MODULE_NOT_FOUND' && String(err.message).includes(file)) {
      return { skip: `${rel}.js not found (run npm run build once it exists)` };
    }
    return { skip: `${rel}.js failed to load: ${String(err.message).split('\n')[0]}` };
  }
}

// applyMask(buf, mask, offset = 0, end = buf.length, maskOffset = 0), in place.
function applyMask() {
  const r = load('lib/codec/mask');
  if (r.skip) return r;
  if (typeof r.mod.applyMask !== 'function') return { skip: 'lib/codec/mask.js does not export applyMask' };
  return { fn: r.mod.applyMask };
}

// isValidUtf8(buf) -> boolean
function isValidUtf8() {
  const r = load('lib/codec/utf8');
  if (r.skip) return r;
  if (typeof r.mod.isValidUtf8 !== 'function') return { skip: 'lib/codec/utf8.js does not export isValidUtf8' };
  return { fn: r.mod.isValidUtf8 };
}

// WebSocketFrame through the public package, so the same code times ours and upstream.
function frameClass(moduleName) {
  try {
    const mod = require(require.resolve(moduleName, { paths: [ROOT] }));
    if (typeof mod.frame !== 'function') return { skip: `require('${moduleName}').frame is not a constructor` };
    return { fn: mod.frame };
  } catch (err) {
    return { skip: `require('${moduleName}') failed: ${String(err.message).split('\n')[0]}` };
  }
}

// The codec below the facades. Both interfaces may still change, so their shape is checked and a
// mismatch is reported as a skip (adjust the adapters here when they do).

// new FrameParser(handler: { onFrameHeader, onFramePayload(piece), onFrameEnd }, options), push(chunk)
function frameParser() {
  const r = load('lib/codec/frame-parser');
  if (r.skip) return r;
  const { FrameParser } = r.mod;
  if (typeof FrameParser !== 'function' || typeof FrameParser.prototype.push !== 'function') {
    return { skip: 'lib/codec/frame-parser.js no longer exports FrameParser with push(); update bench/lib/internals.js' };
  }
  return {
    fn(onPayload, onEnd, maxFrameSize) {
      const handler = { onFrameHeader() {}, onFramePayload: onPayload, onFrameEnd: onEnd };
      return new FrameParser(handler, { maxFrameSize, maskPolicy: 'require', allowRsv1: false });
    },
  };
}

// encodeFrame(sink: { push(chunk) }, fields: { fin, rsv1, opcode }, payload, maskKeys | null)
function frameWriter() {
  const r = load('lib/codec/frame-writer');
  if (r.skip) return r;
  if (typeof r.mod.encodeFrame !== 'function') {
    return { skip: 'lib/codec/frame-writer.js no longer exports encodeFrame; update bench/lib/internals.js' };
  }
  return { fn: r.mod.encodeFrame };
}

module.exports = { applyMask, isValidUtf8, frameClass, frameParser, frameWriter, ROOT };
