'use strict';
// Receiving side of the fan-out benchmarks: N raw TCP clients that do the opening handshake by
// hand (one fixed Sec-WebSocket-Key, so the request is one prebuilt buffer and the expected
// Sec-WebSocket-Accept one constant), then only read. No WebSocket library: for every chunk it
// walks the frames, which all have the same length (header + --size), checks each header (FIN,
// text, unmasked, the length) and reads the 10-digit sequence number at the start of the payload.
//
//   node bench/fanout/loadgen.js --ports P1[,P2,...] --connections N (per port) --size 64
//        --window W (0: no acks, for a publisher at a fixed rate) --warmup S --duration S [--latency 1]
//
// - Every connection must see the sequence numbers 0, 1, 2, ... A jump counts the skipped
//   messages as lost (Redis pub/sub delivers at most once); going back fails the run.
// - With --window W, message k is complete once every connection has it (or lost it); the count of
//   complete messages goes out as {"ack": n} on stdout, at most once per event-loop turn, and the
//   orchestrator passes it to the publishing server, which keeps at most W messages unacknowledged.
// - With --latency 1, each frame's publish time (µs since the epoch, digits 11-26 of the payload)
//   is subtracted from this process's performance.timeOrigin + performance.now() at the chunk's
//   arrival. Ports after the first are other nodes: samples are kept apart for "same node as the
//   publisher" (the first port) and "other nodes".
//
// Lines out: {"event":"opened"}, acks, {"event":"measuring"} at the end of the warm-up, and
// {"result": {...}}. Lines in: "go" (start the clock; the orchestrator starts the publisher right
// after), "clock". Exits when stdin closes, resetting its sockets (no TIME_WAIT left behind).

const net = require('net');
const fs = require('fs');
const { performance } = require('perf_hooks');
const { acceptKey, handshakeResponse } = require('../lib/frames');
const { openFileLimit } = require('../lib/file-limit');
const { readStdinLines } = require('../lib/lines');

const HOST = '127.0.0.1';
const KEY = 'dGhlIHNhbXBsZSBub25jZQ=='; // RFC 6455's own example
const ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';
if (acceptKey(KEY) !== ACCEPT) throw new Error('fixed key and accept value disagree');

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const ports = String(args.ports || '').split(',').filter(Boolean).map(Number);
const perPort = Number(args.connections || 1000);
const size = Number(args.size || 64);
const windowSize = Number(args.window || 0);
const warmup = Number(args.warmup ?? 2);
const duration = Number(args.duration ?? 5);
const latency = args.latency === '1';
const concurrency = Number(args.concurrency || 200);
const total = perPort * ports.length;

// Every frame is a text frame of `size` bytes: FIN + text, then the length.
const HL = size < 126 ? 2 : 4;
const FRAME = HL + size;
const H1 = size < 126 ? size : 126;
const H2 = size >> 8;
const H3 = size & 0xff;

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

let finished = false;
function failRun(msg) {
  if (finished) return;
  finished = true;
  emit({ result: { ok: false, errors: [msg] } });
  // Sockets stay open until stdin closes, like after a good run.
}

// ---------------------------------------------------------------------------------------------
// Limits: one descriptor per socket, and one local port per connection to each server port.

function checkLimits() {
  const lim = openFileLimit(); // null when not on Linux: let connect() fail if it must
  if (lim && lim.soft < total + 64) return `open file limit ${lim.soft} is below the ${total + 64} this run needs`;
  try {
    const [lo, hi] = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (hi - lo + 1 < perPort) return `only ${hi - lo + 1} local ports (ip_local_port_range) for ${perPort} connections to one server port`;
  } catch {
    // not Linux
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Opening handshake

function open(port, request) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: HOST, port });
    let head = null;
    const timer = setTimeout(() => done(new Error('handshake timed out')), 30000);
    function done(err, rest) {
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('error', done);
      socket.removeListener('close', onClose);
      if (err) {
        socket.destroy();
        reject(err);
      } else {
        resolve({ socket, rest });
      }
    }
    function onClose() {
      done(new Error('connection closed during the handshake'));
    }
    function onData(chunk) {
      head = head === null ? chunk : Buffer.concat([head, chunk]);
      const res = handshakeResponse(head, ACCEPT);
      if (res === null) return;
      if (res.error) return done(new Error(res.error));
      done(null, res.rest);
    }
    socket.on('data', onData);
    socket.on('error', done);
    socket.on('close', onClose);
    socket.write(request);
  });
}

// ---------------------------------------------------------------------------------------------
// Counting

const conns = [];
let frames = 0;
let lost = 0;
let running = true;
let measuring = false;

// Window mode: how many connections have message k (slot k % RING); `complete` counts the messages
// every connection has. A connection is never more than `windowSize` messages past `complete`.
const RING = Math.max(64, windowSize * 2);
const have = new Uint32Array(RING);
let complete = 0;
let ackQueued = false;

function sendAck() {
  ackQueued = false;
  if (running) emit({ ack: complete });
}

function got(k) {
  if (k - complete >= RING) return failRun(`message ${k} arrived while message ${complete} is still incomplete (window overrun)`);
  if (++have[k % RING] !== total) return;
  while (have[complete % RING] === total) {
    have[complete % RING] = 0;
    complete++;
  }
  if (!ackQueued) {
    ackQueued = true;
    setImmediate(sendAck);
  }
}

// Latency samples (µs), in chunks; group 0 is the publisher's own node, 1 every other node.
const CHUNK = 1 << 20;
const samples = [
  { chunks: [new Float64Array(CHUNK)], n: 0 },
  { chunks: [new Float64Array(CHUNK)], n: 0 },
];
const MAX_SAMPLES = 32 * CHUNK;

function record(group, us) {
  const s = samples[group];
  if (s.n >= MAX_SAMPLES) return;
  const i = s.n & (CHUNK - 1);
  if (i === 0 && s.n > 0) s.chunks.push(new Float64Array(CHUNK));
  s.chunks[s.chunks.length - 1][i] = us;
  s.n++;
}

function sorted(s) {
  const out = new Float64Array(s.n);
  let at = 0;
  for (const c of s.chunks) {
    const take = Math.min(CHUNK, s.n - at);
    if (take <= 0) break;
    out.set(c.subarray(0, take), at);
    at += take;
  }
  return out.sort();
}

function describe(frameStart, buf) {
  const op = buf[frameStart] & 0x0f;
  if (op === 0x8) return 'the server sent a close frame';
  return `unexpected frame header ${buf.subarray(frameStart, frameStart + HL).toString('hex')} (expected a ${size} B text frame)`;
}

class Conn {
  constructor(socket, group) {
    this.socket = socket;
    this.group = group;
    this.expect = 0; // next sequence number
    this.rest = null; // bytes of an incomplete frame
    this.onData = this.onData.bind(this);
  }

  onData(chunk) {
    let buf = chunk;
    if (this.rest !== null) {
      buf = Buffer.concat([this.rest, chunk]);
      this.rest = null;
    }
    const len = buf.length;
    let pos = 0;
    let now = 0;
    while (len - pos >= FRAME) {
      if (buf[pos] !== 0x81 || buf[pos + 1] !== H1 || (HL === 4 && (buf[pos + 2] !== H2 || buf[pos + 3] !== H3))) {
        return failRun(describe(pos, buf));
      }
      const p = pos + HL;
      let seq = 0;
      for (let i = 0; i < 10; i++) seq = seq * 10 + (buf[p + i] - 48);
      if (seq !== this.expect) {
        if (!(seq > this.expect)) return failRun(`a connection got message ${seq} after ${this.expect - 1}`);
        lost += seq - this.expect;
        if (windowSize) for (let k = this.expect; k < seq; k++) got(k);
      }
      this.expect = seq + 1;
      frames++;
      if (windowSize) got(seq);
      if (latency && measuring) {
        if (now === 0) now = (performance.timeOrigin + performance.now()) * 1000;
        let sent = 0;
        for (let i = 11; i < 27; i++) sent = sent * 10 + (buf[p + i] - 48);
        record(this.group, now - sent);
      }
      pos += FRAME;
    }
    if (pos < len) this.rest = Buffer.from(buf.subarray(pos));
  }
}

// ---------------------------------------------------------------------------------------------

function result() {
  // Counted from the end of the warm-up; the load generator's own CPU time tells whether it kept up.
  let f0 = 0;
  let l0 = 0;
  let t0 = 0;
  let c0 = null;
  let lastProgress = 0;
  let lastMark = performance.now();
  const stall = setInterval(() => {
    const mark = windowSize ? complete : frames;
    if (mark !== lastProgress) {
      lastProgress = mark;
      lastMark = performance.now();
    } else if (performance.now() - lastMark > 10000) {
      clearInterval(stall);
      const at = windowSize ? `, message ${complete} reached ${have[complete % RING]} of ${total} connections` : '';
      failRun(`no progress for 10 s${at}`);
    }
  }, 500);
  setTimeout(() => {
    f0 = frames;
    l0 = lost;
    t0 = performance.now();
    c0 = process.cpuUsage();
    measuring = true;
    emit({ event: 'measuring' });
  }, warmup * 1000);
  setTimeout(() => {
    clearInterval(stall);
    measuring = false;
    if (finished) return;
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(c0);
    const deliveries = frames - f0;
    const res = {
      ok: deliveries > 0,
      errors: deliveries > 0 ? [] : ['nothing was delivered during the measured time'],
      seconds,
      deliveries,
      deliveriesPerS: deliveries / seconds,
      lost: lost - l0,
      lostTotal: lost,
      loadgenCpuPct: ((cpu.user + cpu.system) / 1e6 / seconds) * 100,
      connections: total,
    };
    if (latency) {
      const groups = [sorted(samples[0]), sorted(samples[1])];
      const all = new Float64Array(groups[0].length + groups[1].length);
      all.set(groups[0]);
      all.set(groups[1], groups[0].length);
      all.sort();
      const stats = (a) => ({ n: a.length, p50: pct(a, 50), p90: pct(a, 90), p99: pct(a, 99), p999: pct(a, 99.9), max: a.length ? a[a.length - 1] : null });
      res.latency = { same: stats(groups[0]), other: stats(groups[1]), all: stats(all) };
    }
    finished = true;
    running = false;
    emit({ result: res });
  }, (warmup + duration) * 1000);
}

function pct(a, p) {
  if (!a.length) return null;
  return a[Math.min(a.length - 1, Math.floor((p / 100) * a.length))];
}

function closeAll() {
  running = false;
  for (const c of conns) {
    if (typeof c.socket.resetAndDestroy === 'function') c.socket.resetAndDestroy();
    else c.socket.destroy();
  }
}

async function main() {
  if (!ports.length || !(perPort > 0)) throw new Error('--ports and --connections are required');
  if (size < 28 || size > 65535) throw new Error('--size must be between 28 and 65535');
  const limit = checkLimits();
  if (limit) throw new Error(limit);

  readStdinLines(
    (line) => {
      if (line === 'go') result();
      else if (line === 'clock') emit({ clock: performance.timeOrigin + performance.now() });
    },
    () => {
      closeAll();
      process.exit(0);
    }
  );

  // Open every connection, `concurrency` handshakes at a time, port by port.
  for (let g = 0; g < ports.length; g++) {
    const request = Buffer.from(
      `GET / HTTP/1.1\r\nHost: ${HOST}:${ports[g]}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      'latin1'
    );
    let next = 0;
    const worker = async () => {
      while (next < perPort) {
        next++;
        const { socket, rest } = await open(ports[g], request);
        const c = new Conn(socket, g === 0 ? 0 : 1);
        conns.push(c);
        socket.on('data', c.onData);
        socket.on('error', (err) => running && failRun(`socket error: ${err.message}`));
        socket.on('close', () => running && failRun('the server closed a connection'));
        if (rest.length) c.onData(rest);
      }
    };
    const workers = [];
    for (let i = 0; i < Math.min(concurrency, perPort); i++) workers.push(worker());
    await Promise.all(workers);
  }
  emit({ event: 'opened', connections: conns.length });
}

main().catch((err) => {
  emit({ result: { ok: false, errors: [err.message] } });
  closeAll();
  process.exit(1);
});
