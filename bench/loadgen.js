'use strict';
// Load generator for the echo benchmarks. It uses no WebSocket library: raw TCP sockets, its own
// handshake, masked frames built once before the run, a bounded window of messages in flight per
// connection, and a minimal parser for the echoes that checks every length and a sample of the
// payloads byte for byte.
//
// Usage: node bench/loadgen.js --port N --scenario ID [--duration S] [--warmup S] [--sample N]
//        [--connections N] [--window N] [--size N] [--kind binary|text|utf8|json] [--concurrency N]
// Prints progress lines and one final line {"result": {...}} as JSON on stdout. Exits when its
// stdin closes, so it cannot outlive run.js.

const net = require('net');
const crypto = require('crypto');
const { acceptKey, handshakeResponse, closeFrame, clientFrame, randomMask, makePayloads, opcodeFor, buildRing, ringOf } = require('./lib/frames');
const deflate = require('./lib/deflate');
const { byId } = require('./lib/scenarios');
const { readStdinLines } = require('./lib/lines');

const HOST = '127.0.0.1';

// ---------------------------------------------------------------------------------------------
// Opening handshake

// Resolves with a paused socket and any bytes that followed the 101 response, so the caller can
// attach its own 'data' listener before anything is lost, plus the server's
// Sec-WebSocket-Extensions value (null without one). `extensions` is offered when given.
function openWebSocket(port, { timeoutMs = 10000, extensions = null } = {}) {
  return new Promise((resolve, reject) => {
    const key = crypto.randomBytes(16).toString('base64');
    const expected = acceptKey(key);
    const socket = net.connect({ host: HOST, port });
    socket.setNoDelay(true);
    let head = null;
    let settled = false;
    const timer = setTimeout(() => fail(new Error('handshake timed out')), timeoutMs);

    function cleanup() {
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('error', fail);
      socket.removeListener('close', onClose);
    }
    function fail(err) {
      if (settled) return;
      settled = true;
      cleanup();
      socket.destroy();
      reject(err);
    }
    function onClose() {
      fail(new Error('connection closed during handshake'));
    }
    function onData(chunk) {
      head = head === null ? chunk : Buffer.concat([head, chunk]);
      const res = handshakeResponse(head, expected);
      if (res === null) return;
      if (res.error) return fail(new Error(res.error));
      const ext = /\r\nsec-websocket-extensions:[ \t]*([^\r\n]*?)[ \t]*(?:\r\n|$)/i.exec(res.text);
      if (ext && !extensions) return fail(new Error(`server answered extensions nobody offered: ${ext[1]}`));
      settled = true;
      cleanup();
      socket.pause();
      resolve({ socket, rest: res.rest, extensions: ext ? ext[1] : null });
    }

    socket.on('connect', () => {
      socket.write(
        `GET / HTTP/1.1\r\nHost: ${HOST}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
          (extensions ? `Sec-WebSocket-Extensions: ${extensions}\r\n` : '') +
          '\r\n'
      );
    });
    socket.on('data', onData);
    socket.on('error', fail);
    socket.on('close', onClose);
  });
}

async function openMany(port, count, concurrency, options) {
  const out = [];
  let next = 0;
  async function worker() {
    while (next < count) {
      next++;
      out.push(await openWebSocket(port, options));
    }
  }
  const workers = [];
  for (let i = 0; i < Math.min(concurrency, count); i++) workers.push(worker());
  try {
    await Promise.all(workers);
  } catch (err) {
    for (const c of out) c.socket.destroy();
    throw err;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Shared run bookkeeping

class Stats {
  constructor() {
    this.messages = 0;
    this.bytes = 0;
    this.checked = 0;
    this.mismatches = 0;
    this.wireBytes = 0; // compressed payload bytes received (permessage-deflate only)
    this.inflatedBytes = 0; // what they stand for
    this.errors = [];
  }
  error(msg) {
    if (this.errors.length < 5) this.errors.push(msg);
  }
  mismatch(msg) {
    this.mismatches++;
    this.error(msg);
  }
}

// Counts only what happens between the end of the warm-up and the end of the run.
// Also reports this process's own CPU time per GB moved: for the client rows, where the process is
// the client under test, that is the client's cost, as the server CPU rows are the server's.
function measure(stats, warmupS, durationS, onDone, onStart) {
  let m0 = 0;
  let b0 = 0;
  let t0 = 0n;
  let cpu0 = null;
  const warm = setTimeout(() => {
    m0 = stats.messages;
    b0 = stats.bytes;
    t0 = process.hrtime.bigint();
    cpu0 = process.cpuUsage();
    // run.js samples the server's CPU time now and again at the result.
    emit({ event: 'measuring' });
    if (onStart) onStart();
  }, warmupS * 1000);
  const end = setTimeout(() => {
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const bytes = stats.bytes - b0;
    const cpu = process.cpuUsage(cpu0);
    const cpuMsPerGB = bytes > 0 ? (cpu.user + cpu.system) / 1000 / (bytes / 1e9) : null;
    onDone({ seconds, messages: stats.messages - m0, bytes, cpuMsPerGB });
  }, (warmupS + durationS) * 1000);
  return () => {
    clearTimeout(warm);
    clearTimeout(end);
  };
}

// ---------------------------------------------------------------------------------------------
// Echo connection: keeps `window` messages in flight and reads the echoes.

class EchoConnection {
  constructor(socket, ctx) {
    this.socket = socket;
    this.ctx = ctx; // { ring, offsets, count, payloads, opcode, sample, stats, running, onFailure, deflate }
    this.sendPos = 0; // ring position of the next frame to send
    this.inFlight = 0;
    this.recvIndex = 0; // echoes are FIFO per connection: message n carries payload n % count
    this.rest = null;
    this.remaining = 0; // payload bytes of the current frame still to come
    this.fin = false;
    this.inMessage = false;
    this.msgLength = 0;
    this.checking = false;
    this.expected = null;
    this.compressed = false; // RSV1 on the current message's first frame
    this.parts = null; // its compressed bytes, kept only when it is checked
    this.onData = this.onData.bind(this);
  }

  start(initialRest) {
    this.socket.on('data', this.onData);
    this.socket.on('error', (err) => this.ctx.onFailure(`socket error: ${err.message}`));
    this.socket.on('close', () => {
      if (this.ctx.running) this.ctx.onFailure('server closed the connection');
    });
    this.socket.resume();
    if (initialRest.length) this.onData(initialRest);
    this.send(this.ctx.count);
  }

  send(k) {
    const { ring, offsets, count } = this.ctx;
    this.socket.write(ring.subarray(offsets[this.sendPos], offsets[this.sendPos + k]));
    this.sendPos = (this.sendPos + k) % count;
    this.inFlight += k;
  }

  onData(chunk) {
    let buf = chunk;
    if (this.rest !== null) {
      buf = Buffer.concat([this.rest, chunk]);
      this.rest = null;
    }
    const len = buf.length;
    let pos = 0;
    let done = 0;
    while (pos < len) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, len - pos);
        if (this.checking) {
          if (this.compressed) this.parts.push(buf.subarray(pos, pos + take));
          else this.compare(buf, pos, take);
        }
        this.msgLength += take;
        this.remaining -= take;
        pos += take;
        if (this.remaining === 0 && this.fin) {
          this.finishMessage();
          done++;
        }
        continue;
      }
      if (len - pos < 2) {
        this.rest = buf.subarray(pos);
        break;
      }
      const b0 = buf[pos];
      const b1 = buf[pos + 1];
      let plen = b1 & 0x7f;
      let hl = 2;
      if (plen === 126) {
        if (len - pos < 4) {
          this.rest = buf.subarray(pos);
          break;
        }
        plen = buf.readUInt16BE(pos + 2);
        hl = 4;
      } else if (plen === 127) {
        if (len - pos < 10) {
          this.rest = buf.subarray(pos);
          break;
        }
        plen = buf.readUInt32BE(pos + 2) * 0x100000000 + buf.readUInt32BE(pos + 6);
        hl = 10;
      }
      if (b1 & 0x80) return this.fail('server sent a masked frame');
      const opcode = b0 & 0x0f;
      const fin = (b0 & 0x80) !== 0;
      // RSV1 marks a compressed message, and only on its first data frame (RFC 7692 §6).
      const rsv1 = (b0 & 0x40) !== 0;
      if (b0 & 0x30 || (rsv1 && (!this.ctx.deflate || opcode === 0 || opcode >= 0x8))) {
        return this.fail(`server set RSV bits ${(b0 >> 4) & 7} on opcode ${opcode}`);
      }
      if (opcode >= 0x8) {
        if (len - pos < hl + plen) {
          this.rest = buf.subarray(pos);
          break;
        }
        if (opcode === 0x8) {
          const code = plen >= 2 ? buf.readUInt16BE(pos + hl) : 1005;
          const reason = plen > 2 ? buf.toString('utf8', pos + hl + 2, pos + hl + plen) : '';
          return this.fail(`server sent close ${code}${reason ? ` (${reason})` : ''}`);
        }
        if (opcode === 0x9) this.socket.write(clientFrame(0xa, buf.subarray(pos + hl, pos + hl + plen), randomMask()));
        pos += hl + plen;
        continue;
      }
      if (opcode !== 0) {
        if (this.inMessage) return this.fail('new message before the previous one finished');
        this.beginMessage(opcode, rsv1);
      } else if (!this.inMessage) {
        return this.fail('continuation frame outside a message');
      }
      this.fin = fin;
      this.remaining = plen;
      pos += hl;
      if (plen === 0 && fin) {
        this.finishMessage();
        done++;
      }
    }
    if (done > 0) {
      if (done > this.inFlight) return this.fail('more echoes than messages sent');
      this.inFlight -= done;
      if (this.ctx.running) this.send(done);
    }
  }

  beginMessage(opcode, compressed) {
    const { stats, sample, count, payloads } = this.ctx;
    this.inMessage = true;
    this.msgLength = 0;
    this.expected = payloads[this.recvIndex % count];
    this.checking = sample > 0 && this.recvIndex % sample === 0;
    if (this.checking) stats.checked++;
    if (opcode !== this.ctx.opcode) stats.mismatch(`echo #${this.recvIndex} has opcode ${opcode}, sent ${this.ctx.opcode}`);
    // Every payload is far above both servers' threshold, so an uncompressed echo means the
    // server is not doing the work being measured.
    if (this.ctx.deflate && !compressed) stats.mismatch(`echo #${this.recvIndex} was not compressed`);
    this.compressed = compressed;
    if (compressed && this.checking) this.parts = [];
  }

  compare(buf, pos, take) {
    const off = this.msgLength;
    if (off + take > this.expected.length || buf.compare(this.expected, off, off + take, pos, pos + take) !== 0) {
      this.checking = false;
      this.ctx.stats.mismatch(`echo #${this.recvIndex} differs from what was sent (payload bytes ${off} to ${off + take - 1})`);
    }
  }

  finishMessage() {
    const { stats } = this.ctx;
    if (this.compressed) {
      this.finishCompressed();
    } else if (this.msgLength !== this.expected.length) {
      stats.mismatch(`echo #${this.recvIndex} has ${this.msgLength} bytes, sent ${this.expected.length}`);
    }
    this.inMessage = false;
    this.checking = false;
    this.recvIndex++;
    stats.messages++;
    // Throughput is counted in payload bytes, compressed or not.
    stats.bytes += this.expected.length;
  }

  // A compressed echo's size says nothing about the payload's; inflating the sampled ones checks
  // both. The others are counted as the payload they stand for.
  finishCompressed() {
    const { stats } = this.ctx;
    const expected = this.expected;
    stats.wireBytes += this.msgLength;
    stats.inflatedBytes += expected.length;
    if (this.msgLength === 0) stats.mismatch(`echo #${this.recvIndex} is compressed but empty`);
    if (!this.checking) return;
    let plain;
    try {
      plain = deflate.inflateMessage(this.parts, expected.length + 1);
    } catch (err) {
      stats.mismatch(`echo #${this.recvIndex} does not inflate: ${err.message}`);
      return;
    } finally {
      this.parts = null;
    }
    if (plain.length !== expected.length) stats.mismatch(`echo #${this.recvIndex} inflates to ${plain.length} bytes, sent ${expected.length}`);
    else if (!plain.equals(expected)) stats.mismatch(`echo #${this.recvIndex} inflates to something else than was sent`);
  }

  fail(msg) {
    this.ctx.onFailure(msg);
  }
}

// With permessage-deflate, the frames are compressed once here, after the handshakes, with the
// window the servers allowed; nothing is compressed during the run.
function deflateRing(payloads, opcode, conns) {
  let windowBits = 15;
  for (const c of conns) windowBits = Math.min(windowBits, deflate.checkAgreement(c.extensions).clientMaxWindowBits);
  const compressed = payloads.map((p) => deflate.compressMessage(p, windowBits));
  const frames = compressed.map((c) => clientFrame(opcode, c, randomMask(), true));
  const sentBytes = compressed.reduce((t, c) => t + c.length, 0);
  const payloadBytes = payloads.reduce((t, p) => t + p.length, 0);
  return { ...ringOf(frames), agreed: conns[0].extensions, sentRatio: payloadBytes / sentBytes };
}

async function runEcho(o) {
  const stats = new Stats();
  const payloads = makePayloads(o.kind, o.size, o.window);
  const opcode = opcodeFor(o.kind);
  const conns = await openMany(o.port, o.connections, 50, { extensions: o.deflate ? deflate.OFFER : null });
  let ringInfo;
  try {
    ringInfo = o.deflate ? deflateRing(payloads, opcode, conns) : buildRing(payloads, opcode);
  } catch (err) {
    for (const c of conns) c.socket.destroy();
    throw err;
  }
  const { ring, offsets, count } = ringInfo;
  return new Promise((resolve) => {
    let finished = false;
    let stopMeasure = null;
    const ctx = { ring, offsets, count, payloads, opcode, sample: o.sample, stats, running: true, onFailure, deflate: !!o.deflate };
    function finish(measured) {
      if (finished) return;
      finished = true;
      ctx.running = false;
      if (stopMeasure) stopMeasure();
      for (const c of conns) c.socket.destroy();
      const m = measured || { seconds: 0, messages: 0, bytes: 0 };
      const msgPerS = measured ? m.messages / m.seconds : null;
      const mbPerS = measured ? m.bytes / m.seconds / 1e6 : null;
      const extra = o.deflate
        ? {
            extensions: ringInfo.agreed,
            sentRatio: ringInfo.sentRatio,
            echoRatio: stats.wireBytes ? stats.inflatedBytes / stats.wireBytes : null,
          }
        : {};
      resolve(result(stats, { value: o.unit === 'MB/s' ? mbPerS : msgPerS, unit: o.unit, msgPerS, mbPerS, ...m, ...extra }));
    }
    function onFailure(msg) {
      stats.error(msg);
      finish(null);
    }
    const list = conns.map((c) => new EchoConnection(c.socket, ctx));
    stopMeasure = measure(stats, o.warmup, o.duration, finish);
    list.forEach((ec, i) => ec.start(conns[i].rest));
  });
}

// ---------------------------------------------------------------------------------------------
// Handshakes: each worker opens a connection, sends a close frame, waits for the server's close
// and the end of the TCP connection, then starts again.

function handshakeCycle(port, timeoutMs = 5000) {
  return openWebSocket(port).then(
    ({ socket, rest }) =>
      new Promise((resolve, reject) => {
        let buf = rest;
        let gotClose = false;
        const timer = setTimeout(() => {
          socket.destroy();
          reject(new Error('closing handshake timed out'));
        }, timeoutMs);
        function check() {
          if (!gotClose && buf.length >= 2) {
            if ((buf[0] & 0x0f) !== 0x8) {
              socket.destroy();
              clearTimeout(timer);
              return reject(new Error(`expected a close frame, got opcode ${buf[0] & 0x0f}`));
            }
            gotClose = true;
            socket.end();
          }
        }
        socket.on('data', (chunk) => {
          buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
          check();
        });
        socket.on('error', () => {}); // a reset after both closes were exchanged is harmless
        socket.on('close', () => {
          clearTimeout(timer);
          if (gotClose) resolve();
          else reject(new Error('connection closed without a close frame'));
        });
        socket.write(closeFrame(1000, randomMask()));
        socket.resume();
        check();
      })
  );
}

function runHandshakes(o) {
  const stats = new Stats();
  return new Promise((resolve) => {
    let running = true;
    let finished = false;
    let stopMeasure = null;
    let active = 0;
    function finish(measured) {
      if (finished) return;
      finished = true;
      running = false;
      if (stopMeasure) stopMeasure();
      const m = measured || { seconds: 0, messages: 0, bytes: 0 };
      const out = () => resolve(result(stats, { value: measured ? m.messages / m.seconds : null, unit: 'conn/s', ...m }));
      // Let in-flight cycles drain so the server is not torn down under them; bounded by their timeout.
      const wait = () => (active === 0 ? out() : setTimeout(wait, 20));
      wait();
    }
    async function worker() {
      while (running) {
        active++;
        try {
          await handshakeCycle(o.port);
          stats.messages++;
        } catch (err) {
          stats.error(err.message);
          active--;
          return finish(null);
        }
        active--;
      }
    }
    stopMeasure = measure(stats, o.warmup, o.duration, finish);
    for (let i = 0; i < o.concurrency; i++) worker();
  });
}

// ---------------------------------------------------------------------------------------------
// Idle connections for the RSS scenario: open them, report, hold them until told to close.

async function runIdle(o, control) {
  const stats = new Stats();
  let conns;
  try {
    conns = await openMany(o.port, o.connections, 100);
  } catch (err) {
    stats.error(err.message);
    return result(stats, { value: null, unit: 'connections' });
  }
  let lost = 0;
  for (const c of conns) {
    c.socket.on('error', () => {});
    c.socket.on('close', () => lost++);
    c.socket.resume();
  }
  emit({ event: 'opened', connections: conns.length });
  await control.waitFor('close');
  if (lost) stats.error(`${lost} idle connections were closed by the server`);
  for (const c of conns) c.socket.destroy();
  return result(stats, { value: conns.length - lost, unit: 'connections' });
}

// ---------------------------------------------------------------------------------------------
// Latency: one message every 1/rate s whatever the echoes do (open loop); the round trip of each
// is measured from the moment it was written.

async function runLatency(o) {
  const stats = new Stats();
  const payloads = makePayloads(o.kind, o.size, 64);
  const opcode = opcodeFor(o.kind);
  const frames = payloads.map((p) => clientFrame(opcode, p, randomMask()));
  const [{ socket, rest }] = await openMany(o.port, 1, 1);
  return new Promise((resolve) => {
    const sentAt = [];
    let head = 0;
    let sent = 0; // slots of the schedule used, including any skipped after a stall
    let written = 0; // echoes must come back in this order, whatever was skipped
    let measuring = false;
    const samples = [];
    const interval = 1e9 / o.rate;
    const start = process.hrtime.bigint();
    let finished = false;
    let stopMeasure = null;
    const ctx = {
      ring: null,
      offsets: null,
      count: payloads.length,
      payloads,
      opcode,
      sample: o.sample,
      stats,
      running: true,
      onFailure(msg) {
        stats.error(msg);
        finish(null);
      },
    };
    const ec = new EchoConnection(socket, ctx);
    // Echoes arrive in order, so each finished message matches the oldest send time.
    const finishMessage = ec.finishMessage.bind(ec);
    ec.finishMessage = () => {
      finishMessage();
      const t = process.hrtime.bigint();
      if (head >= sentAt.length) return ctx.onFailure('echo without a matching send');
      const rtt = Number(t - sentAt[head++]) / 1000;
      if (measuring) samples.push(rtt);
    };
    ec.send = () => {}; // the fixed-rate timer below does the sending
    const tick = setInterval(() => {
      const due = Math.floor(Number(process.hrtime.bigint() - start) / interval) + 1;
      // A stalled loop must not turn into a burst that measures the burst instead of the server.
      const n = Math.min(due - sent, 10);
      for (let i = 0; i < n; i++) {
        sentAt.push(process.hrtime.bigint());
        socket.write(frames[written++ % frames.length]);
        ec.inFlight++;
        sent++;
      }
      if (due - sent > 0) sent = due;
    }, 1);
    function finish(measured) {
      if (finished) return;
      finished = true;
      ctx.running = false;
      clearInterval(tick);
      if (stopMeasure) stopMeasure();
      socket.destroy();
      samples.sort((a, b) => a - b);
      const pct = (p) => (samples.length ? samples[Math.min(samples.length - 1, Math.floor((p / 100) * samples.length))] : null);
      const m = measured || { seconds: 0, messages: 0, bytes: 0 };
      resolve(
        result(stats, {
          value: measured ? pct(50) : null,
          unit: 'µs',
          p50: pct(50),
          p99: pct(99),
          p999: pct(99.9),
          max: samples.length ? samples[samples.length - 1] : null,
          rate: measured ? m.messages / m.seconds : null,
          ...m,
        })
      );
    }
    stopMeasure = measure(stats, o.warmup, o.duration, finish, () => {
      measuring = true;
    });
    ec.start(rest);
  });
}

// ---------------------------------------------------------------------------------------------

function result(stats, extra) {
  if (extra.value !== null && extra.messages === 0 && extra.unit !== 'connections') stats.error('nothing completed during the measured time');
  const ok = stats.errors.length === 0 && stats.mismatches === 0 && extra.value !== null;
  return { ok, checked: stats.checked, mismatches: stats.mismatches, errors: stats.errors, ...extra };
}

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

// Lines from the parent on stdin; the end of stdin means the parent is gone.
function controlChannel() {
  const waiters = new Map();
  readStdinLines(
    (line) => {
      const w = waiters.get(line);
      if (w) {
        waiters.delete(line);
        w();
      }
    },
    () => process.exit(2)
  );
  return {
    waitFor(line) {
      return new Promise((resolve) => waiters.set(line, resolve));
    },
  };
}

function parseArgs(argv) {
  const o = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const key = a.slice(2);
    const val = argv[i + 1];
    if (val === undefined || val.startsWith('--')) throw new Error(`missing value for ${a}`);
    o[key] = val;
    i++;
  }
  return o;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const scenario = byId(args.scenario);
  if (!scenario) throw new Error(`unknown scenario ${args.scenario}`);
  const o = {
    ...scenario,
    port: Number(args.port),
    duration: Number(args.duration || 3),
    warmup: Number(args.warmup || 1),
    sample: Number(args.sample || 17),
  };
  for (const k of ['connections', 'window', 'size', 'concurrency', 'rate']) if (args[k]) o[k] = Number(args[k]);
  if (args.kind) o.kind = args.kind;
  if (o.deflate && o.type !== 'echo') throw new Error('only echo scenarios can use permessage-deflate');
  if (!o.port) throw new Error('--port is required');
  const control = controlChannel();
  let res;
  switch (o.type) {
    case 'echo':
    case 'client': // the load generator is also the "raw" client
      res = await runEcho(o);
      break;
    case 'handshake':
      res = await runHandshakes(o);
      break;
    case 'rss':
      res = await runIdle(o, control);
      break;
    case 'latency':
      res = await runLatency(o);
      break;
    default:
      throw new Error(`the load generator does not run ${o.type} scenarios`);
  }
  emit({ result: res });
  process.exit(0);
}

if (require.main === module) {
  main().catch((err) => {
    emit({ result: { ok: false, value: null, errors: [err.message] } });
    process.exit(1);
  });
}

module.exports = { openWebSocket, Stats, measure, result, emit, controlChannel, parseArgs };
