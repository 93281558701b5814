'use strict';
// Codec micro-benchmarks: masking, UTF-8 validation, frame parsing and frame writing, each
// against the obvious alternatives. Every implementation's output is checked against a plain
// reference before it is timed; a wrong one is reported, never timed.
//
// Usage: node bench/micro.js [--only mask,utf8,parse,write] [--time MS] [--samples N] [--json]
// --time is the length of one timed sample (default 100 ms); the median of --samples (default 5)
// is reported. --json prints one line {"micro": ..., "markdown": ...} for run.js.

const crypto = require('crypto');
const path = require('path');
const buffer = require('buffer');
const internals = require('./lib/internals');

const ROOT = internals.ROOT;
const SECTIONS = ['mask', 'utf8', 'parse', 'write'];

function parseArgs(argv) {
  const o = { only: SECTIONS, time: 100, samples: 5, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') o.json = true;
    else if (a === '--only') o.only = argv[++i].split(',');
    else if (a === '--time') o.time = Number(argv[++i]);
    else if (a === '--samples') o.samples = Number(argv[++i]);
    else if (a === '--help' || a === '-h') {
      process.stdout.write('node bench/micro.js [--only mask,utf8,parse,write] [--time MS] [--samples N] [--json]\n');
      process.exit(0);
    } else throw new Error(`unknown option ${a}`);
  }
  for (const s of o.only) if (!SECTIONS.includes(s)) throw new Error(`unknown section ${s}`);
  return o;
}

// ---------------------------------------------------------------------------------------------
// Timing: each case gets its own compiled loop, so one case's call site cannot turn megamorphic
// and slow down the cases timed after it.

function makeLoop() {
  // eslint-disable-next-line no-new-func
  return new Function('fn', 'n', 'let s = 0; for (let i = 0; i < n; i++) s = (s + fn()) | 0; return s;');
}

let sink = 0;

function timeIt(fn, o) {
  const loop = makeLoop();
  const target = o.time / 1000;
  let n = 1;
  // Warm up and calibrate: grow n until one loop takes a quarter of a sample.
  for (;;) {
    const t0 = process.hrtime.bigint();
    sink ^= loop(fn, n);
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    if (s >= target / 4 || n > 1e9) {
      n = Math.max(1, Math.round((n * target) / Math.max(s, 1e-9)));
      break;
    }
    n *= s < target / 100 ? 10 : 2;
  }
  const rates = [];
  for (let i = 0; i < o.samples; i++) {
    const t0 = process.hrtime.bigint();
    sink ^= loop(fn, n);
    rates.push(n / (Number(process.hrtime.bigint() - t0) / 1e9));
  }
  rates.sort((a, b) => a - b);
  return rates[rates.length >> 1];
}

// ---------------------------------------------------------------------------------------------
// Candidates

function bufferutil() {
  try {
    const bu = require(require.resolve('bufferutil', { paths: [ROOT] }));
    const fallback = require(require.resolve('bufferutil/fallback', { paths: [ROOT] }));
    return { native: bu.unmask !== fallback.unmask ? bu : null, fallback };
  } catch {
    return { native: null, fallback: null };
  }
}

function utf8validate() {
  try {
    const file = require.resolve('utf-8-validate', { paths: [ROOT] });
    const mod = require(file);
    const fallback = require(path.join(path.dirname(file), 'fallback'));
    return mod !== fallback ? mod : null;
  } catch {
    return null;
  }
}

function byteLoopMask(buf, key) {
  for (let i = 0; i < buf.length; i++) buf[i] ^= key[i & 3];
}

const SIZE_LABEL = (n) => (n >= 1048576 ? `${n / 1048576} MiB` : n >= 1024 ? `${n / 1024} KiB` : `${n} B`);

// ---------------------------------------------------------------------------------------------
// Sections. Each returns { title, unit, columns, rows: [{ label, cells: { col: value|string } }], notes }

function maskSection(o) {
  const sizes = [5, 20, 125, 1024, 65536, 1048576];
  const bu = bufferutil();
  const ours = internals.applyMask();
  const cands = [
    ['ours applyMask', ours.fn ? (b, k) => ours.fn(b, k, 0, b.length, 0) : null, ours.skip],
    ['bufferutil (native)', bu.native ? (b, k) => bu.native.unmask(b, k) : null, bu.native ? null : 'native bufferutil not loaded'],
    ['bufferutil fallback (JS)', bu.fallback ? (b, k) => bu.fallback.unmask(b, k) : null, bu.fallback ? null : 'bufferutil not installed'],
    ['byte loop', byteLoopMask, null],
  ];
  const key = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
  const notes = [];
  const rows = [];
  for (const size of sizes) {
    const data = crypto.randomBytes(size);
    const expected = Buffer.from(data);
    byteLoopMask(expected, key);
    const cells = {};
    for (const [name, fn, skip] of cands) {
      if (!fn) {
        cells[name] = 'n/a';
        if (skip && !notes.includes(`${name}: ${skip}`)) notes.push(`${name}: ${skip}`);
        continue;
      }
      const copy = Buffer.from(data);
      fn(copy, key);
      if (!copy.equals(expected)) {
        cells[name] = 'WRONG';
        continue;
      }
      const buf = Buffer.from(data);
      // In place, so the buffer alternates between masked and clear; the work is the same.
      const rate = timeIt(() => {
        fn(buf, key);
        return buf[0];
      }, o);
      cells[name] = (rate * size) / 1e6;
    }
    rows.push({ label: SIZE_LABEL(size), cells });
  }
  return { id: 'mask', title: 'Masking in place (MB/s)', unit: 'MB/s', columns: cands.map((c) => c[0]), rows, notes, ratio: ['ours applyMask', 'bufferutil (native)'] };
}

function utf8Inputs() {
  const ascii = (n) => Buffer.from('x'.repeat(n));
  const units = ['a', 'é', '€', '😀', 'ß', '中', '𝄞'];
  const mixed = (n) => {
    const parts = [];
    let len = 0;
    for (let i = 0; ; i++) {
      const u = Buffer.from(units[i % units.length]);
      if (len + u.length > n) break;
      parts.push(u);
      len += u.length;
    }
    // Pad with ASCII to the exact size rather than split a character.
    parts.push(ascii(n - len));
    return Buffer.concat(parts);
  };
  return [
    ['ASCII 64 B', ascii(64)],
    ['ASCII 16 KiB', ascii(16384)],
    ['ASCII 1 MiB', ascii(1048576)],
    ['multi-byte 64 B', mixed(64)],
    ['multi-byte 16 KiB', mixed(16384)],
    ['multi-byte 1 MiB', mixed(1048576)],
  ];
}

const INVALID_UTF8 = [
  [0xc0, 0xaf], // overlong
  [0xed, 0xa0, 0x80], // surrogate
  [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
  [0x61, 0xe2, 0x82], // truncated
  [0xff],
  [0x80],
].map((b) => Buffer.from(b));

function utf8Section(o) {
  const ours = internals.isValidUtf8();
  const uv = utf8validate();
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const cands = [
    ['ours isValidUtf8', ours.fn || null, ours.skip],
    ['buffer.isUtf8', typeof buffer.isUtf8 === 'function' ? buffer.isUtf8 : null, 'needs Node >= 18.14'],
    ['utf-8-validate (native)', uv, 'native utf-8-validate not installed'],
    [
      'TextDecoder fatal',
      (b) => {
        try {
          decoder.decode(b);
          return true;
        } catch {
          return false;
        }
      },
      null,
    ],
  ];
  const notes = [];
  const rows = [];
  const broken = new Set();
  for (const [name, fn] of cands) {
    if (!fn) continue;
    const wrong = INVALID_UTF8.find((b) => fn(b) !== false);
    if (wrong) {
      broken.add(name);
      notes.push(`${name}: accepts invalid input <${wrong.toString('hex')}>, not timed`);
    }
  }
  for (const [label, input] of utf8Inputs()) {
    const cells = {};
    for (const [name, fn, skip] of cands) {
      if (!fn) {
        cells[name] = 'n/a';
        if (skip && !notes.includes(`${name}: ${skip}`)) notes.push(`${name}: ${skip}`);
        continue;
      }
      if (broken.has(name) || fn(input) !== true) {
        cells[name] = 'WRONG';
        continue;
      }
      const rate = timeIt(() => (fn(input) ? 1 : 0), o);
      cells[name] = (rate * input.length) / 1e6;
    }
    rows.push({ label, cells });
  }
  return { id: 'utf8', title: 'UTF-8 validation of valid input (MB/s)', unit: 'MB/s', columns: cands.map((c) => c[0]), rows, notes, ratio: ['ours isValidUtf8', 'buffer.isUtf8'] };
}

const FRAME_SIZES = [0, 5, 20, 125, 65536, 204800, 1048576];
const MAX = 64 * 1024 * 1024;

// The shape WebSocketFrame.addData needs (length, joinInto, advance, take) over one buffer.
class OneBufferList {
  constructor(buf) {
    this.buf = buf;
    this.off = 0;
  }
  get length() {
    return this.buf.length - this.off;
  }
  reset() {
    this.off = 0;
  }
  joinInto(target, targetStart, sourceStart, sourceEnd) {
    this.buf.copy(target, targetStart, this.off + sourceStart, this.off + sourceEnd);
    return target;
  }
  advance(n) {
    this.off += n;
    return this;
  }
  // Upstream's list copies here too, and the frame unmasks the copy in place.
  take(n) {
    const out = Buffer.allocUnsafe(n);
    this.buf.copy(out, 0, this.off, this.off + n);
    return out;
  }
}

function frameTargets() {
  return [
    ['ours', 'websocket'],
    ['websocket', 'websocket-upstream'],
  ].map(([name, mod]) => [name, internals.frameClass(mod)]);
}

function parseSection(o) {
  const { clientFrame } = require('./lib/frames');
  const key = Buffer.from([0x11, 0x22, 0x33, 0x44]);
  const notes = [];
  const cands = [];
  for (const [name, t] of frameTargets()) {
    cands.push([`${name} WebSocketFrame`, t.fn ? wsfParser(t.fn) : null, t.skip]);
  }
  const parser = internals.frameParser();
  cands.push(['ours FrameParser', parser.fn ? codecParser(parser.fn) : null, parser.skip]);
  cands.push(['ws Receiver', wsReceiverParser(), 'ws not installed']);

  const rows = [];
  for (const size of FRAME_SIZES) {
    const payload = crypto.randomBytes(size);
    const frame = clientFrame(0x2, payload, key);
    const cells = {};
    for (const [name, make, skip] of cands) {
      if (!make) {
        cells[name] = 'n/a';
        if (skip && !notes.includes(`${name}: ${skip}`)) notes.push(`${name}: ${skip}`);
        continue;
      }
      let p;
      try {
        p = make(frame);
        const got = p.once(Buffer.from(frame));
        if (!got || !got.equals(payload)) {
          cells[name] = 'WRONG';
          continue;
        }
      } catch (err) {
        cells[name] = 'WRONG';
        notes.push(`${name} at ${SIZE_LABEL(size)}: ${err.message}`);
        continue;
      }
      cells[name] = timeIt(p.run, o);
    }
    rows.push({ label: SIZE_LABEL(size), size, cells });
  }
  return {
    id: 'parse',
    title: 'Parsing one masked binary frame (frames/s; MB/s of payload in brackets from 64 KiB up)',
    unit: 'ops/s',
    mbps: true,
    columns: cands.map((c) => c[0]),
    rows,
    notes,
    ratio: ['ours WebSocketFrame', 'websocket WebSocketFrame'],
  };
}

function wsfParser(WebSocketFrame) {
  const maskBytes = Buffer.alloc(4);
  const frameHeader = Buffer.alloc(10);
  const config = { maxReceivedFrameSize: MAX };
  return (frame) => {
    const list = new OneBufferList(frame);
    const parseOne = (l) => {
      const f = new WebSocketFrame(maskBytes, frameHeader, config);
      if (!f.addData(l) || f.protocolError || f.frameTooLarge) throw new Error('frame not parsed');
      return f;
    };
    return {
      once(buf) {
        const f = parseOne(new OneBufferList(buf));
        return f.opcode === 2 && f.fin ? f.binaryPayload : null;
      },
      run() {
        list.reset();
        return parseOne(list).length;
      },
    };
  };
}

// Payload pieces are views of the input, like ws's; the parser unmasks them in place, so the
// timed loop alternates the buffer between masked and clear, as with ws.
function codecParser(create) {
  return (frame) => {
    let pieces = [];
    let ends = 0;
    let bytes = 0;
    const collecting = create(
      (piece) => pieces.push(Buffer.from(piece)),
      () => ends++,
      MAX
    );
    const counting = create(
      (piece) => {
        bytes += piece.length;
      },
      () => ends++,
      MAX
    );
    const buf = Buffer.from(frame);
    return {
      once(b) {
        pieces = [];
        const before = ends;
        collecting.push(b);
        return ends === before + 1 ? Buffer.concat(pieces) : null;
      },
      run() {
        counting.push(buf);
        return bytes;
      },
    };
  };
}

function wsReceiverParser() {
  let Receiver;
  try {
    Receiver = require(require.resolve('ws', { paths: [ROOT] })).Receiver;
  } catch {
    return null;
  }
  return (frame) => {
    let last = null;
    let count = 0;
    const r = new Receiver({ isServer: true, maxPayload: 0, binaryType: 'nodebuffer' });
    r.on('message', (data) => {
      last = data;
      count++;
    });
    r.on('error', (err) => {
      throw err;
    });
    // ws unmasks in place in the buffer it was given, so the timed loop alternates the payload
    // between masked and clear; parsing costs the same either way.
    const buf = Buffer.from(frame);
    return {
      once(b) {
        const before = count;
        r.write(b);
        return count === before + 1 ? Buffer.from(last) : null;
      },
      run() {
        r.write(buf);
        return count;
      },
    };
  };
}

function writeSection(o) {
  const notes = [];
  const cands = [];
  for (const [name, t] of frameTargets()) {
    cands.push([`${name} WebSocketFrame`, t.fn ? wsfWriter(t.fn) : null, t.skip]);
  }
  const writer = internals.frameWriter();
  cands.push(['ours encodeFrame', writer.fn ? codecWriter(writer.fn) : null, writer.skip]);
  let Sender = null;
  try {
    Sender = require(require.resolve('ws', { paths: [ROOT] })).Sender;
  } catch {
    // reported below
  }
  cands.push([
    'ws Sender.frame',
    Sender
      ? (payload) => () => {
          const parts = Sender.frame(payload, { fin: true, rsv1: false, opcode: 0x2, mask: false, readOnly: false });
          return parts.length === 1 ? parts[0] : Buffer.concat(parts);
        }
      : null,
    'ws not installed',
  ]);
  notes.push(
    'ws Sender.frame and ours encodeFrame hand large payloads on as a separate buffer (no copy), where WebSocketFrame.toBuffer ' +
      'copies header and payload into one; the joining done for the correctness check is not timed.'
  );

  const rows = [];
  for (const size of FRAME_SIZES) {
    const payload = crypto.randomBytes(size);
    const expected = serverFrame(0x2, payload);
    const cells = {};
    for (const [name, make, skip] of cands) {
      if (!make) {
        cells[name] = 'n/a';
        if (skip && !notes.includes(`${name}: ${skip}`)) notes.push(`${name}: ${skip}`);
        continue;
      }
      const build = make(payload);
      let got;
      try {
        got = build();
      } catch (err) {
        notes.push(`${name} at ${SIZE_LABEL(size)}: ${err.message}`);
      }
      if (!got || !got.equals(expected)) {
        cells[name] = 'WRONG';
        continue;
      }
      let run = build;
      if (name === 'ws Sender.frame') {
        run = () => Sender.frame(payload, { fin: true, rsv1: false, opcode: 0x2, mask: false, readOnly: false }).length;
      } else if (name === 'ours encodeFrame') {
        const encode = internals.frameWriter().fn;
        const fields = { fin: true, rsv1: false, opcode: 0x2 };
        let n = 0;
        const sink = { push: () => n++ };
        run = () => {
          encode(sink, fields, payload, null);
          return n;
        };
      } else {
        const inner = build;
        run = () => inner().length;
      }
      cells[name] = timeIt(run, o);
    }
    rows.push({ label: SIZE_LABEL(size), size, cells });
  }
  return {
    id: 'write',
    title: 'Writing one unmasked binary frame, as a server does (frames/s)',
    unit: 'ops/s',
    columns: cands.map((c) => c[0]),
    rows,
    notes,
    ratio: ['ours WebSocketFrame', 'websocket WebSocketFrame'],
  };
}

function codecWriter(encodeFrame) {
  const fields = { fin: true, rsv1: false, opcode: 0x2 };
  return (payload) => () => {
    const parts = [];
    encodeFrame({ push: (c) => parts.push(c) }, fields, payload, null);
    return parts.length === 1 ? parts[0] : Buffer.concat(parts);
  };
}

function wsfWriter(WebSocketFrame) {
  const maskBytes = Buffer.alloc(4);
  const frameHeader = Buffer.alloc(10);
  const config = { maxReceivedFrameSize: MAX };
  return (payload) => () => {
    const f = new WebSocketFrame(maskBytes, frameHeader, config);
    f.fin = true;
    f.opcode = 0x2;
    f.mask = false;
    f.binaryPayload = payload;
    return f.toBuffer();
  };
}

function serverFrame(opcode, payload) {
  const n = payload.length;
  const hl = n < 126 ? 2 : n < 0x10000 ? 4 : 10;
  const out = Buffer.alloc(hl + n);
  out[0] = 0x80 | opcode;
  if (n < 126) out[1] = n;
  else if (n < 0x10000) {
    out[1] = 126;
    out.writeUInt16BE(n, 2);
  } else {
    out[1] = 127;
    out.writeUInt32BE(Math.floor(n / 0x100000000), 2);
    out.writeUInt32BE(n >>> 0, 6);
  }
  payload.copy(out, hl);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Output

function fmtCell(v, section, row) {
  if (typeof v === 'string') return v;
  if (section.unit === 'MB/s') return v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(1);
  const ops = v >= 1e6 ? `${(v / 1e6).toFixed(2)}M` : v >= 1e4 ? `${(v / 1e3).toFixed(1)}k` : Math.round(v).toLocaleString('en-US');
  if (section.mbps && row.size >= 65536) return `${ops} (${Math.round((v * row.size) / 1e6).toLocaleString('en-US')})`;
  return ops;
}

function markdown(sections) {
  const out = [];
  for (const s of sections) {
    out.push(`### ${s.title}`);
    out.push('');
    const [a, b] = s.ratio;
    const head = ['input', ...s.columns, `${a} ÷ ${b}`];
    out.push(`| ${head.join(' | ')} |`);
    out.push(`|---|${head.slice(1).map(() => '---:').join('|')}|`);
    for (const row of s.rows) {
      const x = row.cells[a];
      const y = row.cells[b];
      const r = typeof x === 'number' && typeof y === 'number' ? `${(x / y).toFixed(2)}×` : '';
      out.push(`| ${row.label} | ${s.columns.map((c) => fmtCell(row.cells[c], s, row)).join(' | ')} | ${r} |`);
    }
    out.push('');
    for (const n of s.notes) out.push(`- ${n}`);
    if (s.notes.length) out.push('');
  }
  return out.join('\n');
}

function main() {
  const o = parseArgs(process.argv.slice(2));
  const makers = { mask: maskSection, utf8: utf8Section, parse: parseSection, write: writeSection };
  const sections = [];
  for (const id of o.only) {
    const t0 = Date.now();
    sections.push(makers[id](o));
    process.stderr.write(`micro: ${id} done in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  }
  const md = markdown(sections);
  if (o.json) {
    process.stdout.write(JSON.stringify({ micro: { node: process.version, time: o.time, samples: o.samples, sections }, markdown: md }) + '\n');
  } else {
    process.stdout.write(md + '\n');
  }
  if (sink === 0.5) process.stdout.write(''); // keeps the results observable to the optimiser
}

main();
