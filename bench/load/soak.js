'use strict';
// Soak test: holds many concurrent WebSocket connections with traffic against an echo server in a
// child process, churns them (close and reopen batches) for a while, closes everything, and reports
// the server's RSS at start, at peak and after everything closed and settled, with connection and
// message counts. Not run in CI; see bench/load/README.md.
//
//   node bench/load/soak.js [--connections 10000] [--duration 180] [--impl ours|upstream] ...
//   node bench/load/soak.js --help
//
// The clients are raw TCP sockets with their own handshake and masked frames (bench/lib/frames.js),
// all in this process; the server is `require('websocket')` (this repo, compiled lib/*.js) or
// websocket@1.0.35 in a child started with --expose-gc, so its memory can be read from
// /proc/<pid>/status and collected on request. Only 127.0.0.x addresses are used.

const { fork, spawnSync } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const net = require('net');
const path = require('path');
const { acceptKey, clientFrame, closeFrame, randomMask } = require('../lib/frames');

const HOST = '127.0.0.1';
const MiB = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Options

const DEFAULTS = {
  connections: 10000,
  duration: 180, // seconds of churn and traffic
  impl: 'ours',
  size: 64, // bytes per message
  'message-interval': 5000, // ms between two messages of one connection
  churn: 0.02, // fraction of the connections closed and reopened per churn interval (or a count when >= 1)
  'churn-interval': 1000, // ms
  concurrency: 256, // handshakes in flight while opening
  settle: 5, // seconds between the last close and the final measurement
  cycles: 1, // ramp, churn, close-all rounds; more than one shows whether what stays after a round grows
  'source-addresses': 1, // 127.0.0.1 .. 127.0.0.N; more are added if ephemeral ports run out
  'server-config': '{}', // JSON merged into the WebSocketServer config
  progress: 5, // seconds between progress lines
};

const HELP = `Usage: node bench/load/soak.js [options]
  --connections N        concurrent connections to hold (default ${DEFAULTS.connections})
  --duration S           seconds of traffic and churn after the ramp (default ${DEFAULTS.duration})
  --impl ours|upstream   server implementation (default ${DEFAULTS.impl})
  --size N               bytes per text message (default ${DEFAULTS.size})
  --message-interval MS  each connection sends one message every MS ms (default ${DEFAULTS['message-interval']})
  --churn F              per churn interval, close and reopen F x connections (F < 1) or F connections (default ${DEFAULTS.churn})
  --churn-interval MS    (default ${DEFAULTS['churn-interval']})
  --concurrency N        handshakes in flight while opening (default ${DEFAULTS.concurrency})
  --settle S             seconds to wait after the last close before the final reading (default ${DEFAULTS.settle})
  --cycles N             repeat ramp, churn and close-all N times (default ${DEFAULTS.cycles}); RSS after each
                         round tells memory kept by the allocator (flat) from a leak (growing)
  --source-addresses N   spread clients over 127.0.0.1..127.0.0.N (default ${DEFAULTS['source-addresses']})
  --server-config JSON   extra WebSocketServer options, e.g. '{"maxBufferedBytes":1048576}'
  --progress S           seconds between progress lines (default ${DEFAULTS.progress})
  --json                 also print the result as one JSON line
The file-descriptor limit is raised by re-running under "bash -c 'ulimit -n ...'" when it is too
low for the connection count; node cannot call setrlimit itself.`;

function parseArgs(argv) {
  const opts = { ...DEFAULTS, json: false, child: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') {
      console.log(HELP);
      process.exit(0);
    }
    if (arg === '--json') opts.json = true;
    else if (arg === '--child') opts.child = true;
    else if (arg.startsWith('--')) {
      const [key, inline] = arg.slice(2).split('=', 2);
      if (!(key in DEFAULTS)) throw new Error(`unknown option --${key} (see --help)`);
      const value = inline !== undefined ? inline : argv[++i];
      if (value === undefined) throw new Error(`--${key} needs a value`);
      opts[key] = typeof DEFAULTS[key] === 'number' ? Number(value) : value;
      if (typeof DEFAULTS[key] === 'number' && !Number.isFinite(opts[key])) throw new Error(`--${key} must be a number`);
    } else {
      throw new Error(`unexpected argument ${arg}`);
    }
  }
  if (!['ours', 'upstream'].includes(opts.impl)) throw new Error('--impl must be ours or upstream');
  opts.serverConfig = JSON.parse(opts['server-config']);
  return opts;
}

// ---------------------------------------------------------------------------------------------
// The server (child process)

function runServer(opts) {
  const http = require('http');
  const moduleName = opts.impl === 'upstream' ? 'websocket-upstream' : 'websocket';
  const { server: WebSocketServer } = require(moduleName);
  const httpServer = http.createServer((req, res) => {
    res.writeHead(404);
    res.end();
  });
  // The library's defaults (keepalive on, 20 s) unless --server-config says otherwise.
  const wsServer = new WebSocketServer({ httpServer, autoAcceptConnections: false, ...opts.serverConfig });
  const stats = { accepted: 0, closed: 0, messagesIn: 0, errors: 0, upgradeErrors: 0, closeCodes: {} };
  wsServer.on('upgradeError', () => stats.upgradeErrors++);
  wsServer.on('request', (request) => {
    const connection = request.accept(null, request.origin);
    stats.accepted++;
    connection.on('message', (message) => {
      stats.messagesIn++;
      if (message.type === 'utf8') connection.sendUTF(message.utf8Data);
      else connection.sendBytes(message.binaryData);
    });
    connection.on('error', () => stats.errors++);
    connection.on('close', (code) => {
      stats.closed++;
      stats.closeCodes[code] = (stats.closeCodes[code] || 0) + 1;
    });
  });
  httpServer.listen({ port: 0, host: HOST, backlog: 4096 }, () => {
    process.send({ type: 'ready', port: httpServer.address().port, pid: process.pid, module: moduleName });
  });
  process.on('message', (msg) => {
    if (msg.type === 'gc') {
      if (global.gc) {
        global.gc();
        global.gc();
      }
      process.send({ type: 'gc', id: msg.id, gc: typeof global.gc === 'function' });
    } else if (msg.type === 'stats') {
      const resources = {};
      if (msg.resources) for (const kind of process.getActiveResourcesInfo()) resources[kind] = (resources[kind] || 0) + 1;
      process.send({
        type: 'stats',
        id: msg.id,
        connections: wsServer.connections.length,
        pending: wsServer.pendingRequests.length,
        memory: process.memoryUsage(),
        resources,
        ...stats,
      });
    } else if (msg.type === 'exit') {
      process.exit(0);
    }
  });
  process.on('disconnect', () => process.exit(0));
}

// ---------------------------------------------------------------------------------------------
// File-descriptor limit

function fdLimits() {
  try {
    const line = fs
      .readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const [soft, hard] = line.replace('Max open files', '').trim().split(/\s+/);
    const num = (v) => (v === 'unlimited' ? Infinity : Number(v));
    return { soft: num(soft), hard: num(hard) };
  } catch {
    return null;
  }
}

/** Re-runs this script under bash with a raised `ulimit -n` when the current one is too low. */
function reexecWithMoreFds(opts) {
  const limits = fdLimits();
  const needed = opts.connections + 1024;
  if (limits === null || limits.soft >= needed || process.env.SOAK_FD_RAISED === '1') return;
  const script = 'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"';
  const args = ['-c', script, process.execPath, ...process.execArgv, __filename, ...process.argv.slice(2)];
  const result = spawnSync('bash', args, { stdio: 'inherit', env: { ...process.env, SOAK_FD_RAISED: '1' } });
  if (result.error) {
    console.error(`could not re-run under bash to raise the fd limit (${result.error.message}); continuing with ${limits.soft}`);
    return;
  }
  process.exit(result.status === null ? 1 : result.status);
}

// ---------------------------------------------------------------------------------------------
// Server process handle

function readStatus(pid) {
  const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name) => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : NaN;
  };
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

function startServer(opts) {
  return new Promise((resolve, reject) => {
    const child = fork(__filename, ['--child', '--impl', opts.impl, '--server-config', JSON.stringify(opts.serverConfig)], {
      execArgv: ['--expose-gc'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let nextId = 0;
    const waiting = new Map();
    const request = (type, extra = {}) =>
      new Promise((res, rej) => {
        const id = ++nextId;
        const timer = setTimeout(() => {
          waiting.delete(id);
          rej(new Error(`server did not answer '${type}' within 10 s`));
        }, 10000);
        waiting.set(id, (msg) => {
          clearTimeout(timer);
          res(msg);
        });
        child.send({ type, id, ...extra });
      });
    child.on('message', (msg) => {
      if (msg.type === 'ready') {
        resolve({ child, port: msg.port, pid: msg.pid, module: msg.module, request });
      } else if (waiting.has(msg.id)) {
        const done = waiting.get(msg.id);
        waiting.delete(msg.id);
        done(msg);
      }
    });
    child.once('exit', (code, signal) => reject(new Error(`server exited early (${code ?? signal})`)));
    child.once('error', reject);
  });
}

// ---------------------------------------------------------------------------------------------
// Clients

class Counters {
  constructor() {
    this.opened = 0;
    this.openFailures = 0;
    this.closedClean = 0;
    this.closeTimeouts = 0;
    this.dropped = 0; // closed without our asking
    this.sent = 0;
    this.received = 0;
    this.badEchoes = 0;
    this.lostEchoes = 0; // sent but not echoed on connections we closed cleanly
    this.pongs = 0;
    this.errors = {};
  }

  error(err) {
    const code = err.code || err.message;
    this.errors[code] = (this.errors[code] || 0) + 1;
  }
}

/** A raw WebSocket client: handshake, masked text messages, echo counting, ping answers, clean close. */
class Client {
  constructor(counters, payloadLength) {
    this.counters = counters;
    this.payloadLength = payloadLength;
    this.socket = null;
    this.state = 'connecting';
    this.sent = 0;
    this.received = 0;
    this.pending = null;
    this.onClosed = null;
  }

  open(port, localAddress, timeoutMs = 15000) {
    return new Promise((resolve, reject) => {
      const key = crypto.randomBytes(16).toString('base64');
      const options = { host: HOST, port };
      if (localAddress !== HOST) options.localAddress = localAddress;
      const socket = net.connect(options);
      this.socket = socket;
      socket.setNoDelay(true);
      let head = null;
      let settled = false;
      const timer = setTimeout(() => fail(new Error('handshake timed out')), timeoutMs);
      const fail = (err) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.state = 'closed';
        socket.destroy();
        reject(err);
      };
      const onData = (chunk) => {
        head = head === null ? chunk : Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end === -1) return;
        const text = head.toString('latin1', 0, end);
        if (!text.startsWith('HTTP/1.1 101 ')) return fail(new Error(`handshake refused: ${text.split('\r\n')[0]}`));
        const m = /\r\nsec-websocket-accept:\s*(\S+)/i.exec(text);
        if (!m || m[1] !== acceptKey(key)) return fail(new Error('bad Sec-WebSocket-Accept'));
        settled = true;
        clearTimeout(timer);
        socket.removeListener('data', onData);
        socket.on('data', (data) => this.onData(data));
        this.state = 'open';
        const rest = head.subarray(end + 4);
        if (rest.length > 0) this.onData(rest);
        resolve();
      };
      socket.on('data', onData);
      socket.on('error', (err) => {
        this.counters.error(err);
        fail(err);
      });
      socket.on('close', () => {
        fail(new Error('closed during handshake'));
        this.handleClose();
      });
      socket.write(
        `GET /soak HTTP/1.1\r\nHost: ${HOST}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
  }

  send(frame) {
    if (this.state !== 'open') return;
    this.sent++;
    this.counters.sent++;
    this.socket.write(frame);
  }

  /** Parses the server's (unmasked) frames; only small, unfragmented ones are expected. */
  onData(chunk) {
    let buf = this.pending === null ? chunk : Buffer.concat([this.pending, chunk]);
    this.pending = null;
    let offset = 0;
    while (buf.length - offset >= 2) {
      const b0 = buf[offset];
      let length = buf[offset + 1] & 0x7f;
      let pos = offset + 2;
      if (length === 126) {
        if (buf.length - pos < 2) break;
        length = buf.readUInt16BE(pos);
        pos += 2;
      } else if (length === 127) {
        if (buf.length - pos < 8) break;
        length = buf.readUInt32BE(pos) * 0x100000000 + buf.readUInt32BE(pos + 4);
        pos += 8;
      }
      if (buf.length - pos < length) break;
      this.onFrame(b0 & 0x0f, buf.subarray(pos, pos + length));
      offset = pos + length;
    }
    if (offset < buf.length) this.pending = Buffer.from(buf.subarray(offset));
  }

  onFrame(opcode, payload) {
    if (opcode === 0x1) {
      this.received++;
      this.counters.received++;
      if (payload.length !== this.payloadLength) this.counters.badEchoes++;
    } else if (opcode === 0x9) {
      this.counters.pongs++;
      if (this.state === 'open') this.socket.write(clientFrame(0xa, payload, randomMask()));
    } else if (opcode === 0x8) {
      if (this.state === 'open') {
        // The server closed first: answer and let it hang up.
        this.state = 'closing';
        this.counters.dropped++;
        this.socket.write(closeFrame(1000, randomMask()));
      }
      this.socket.end();
    } else if (opcode !== 0xa) {
      this.counters.badEchoes++;
    }
  }

  /** Closing handshake started by us: close frame, then wait for the server's and for TCP close. */
  close(timeoutMs = 15000) {
    if (this.state !== 'open') return Promise.resolve();
    this.state = 'closing';
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.counters.closeTimeouts++;
        this.socket.destroy();
      }, timeoutMs);
      this.onClosed = () => {
        clearTimeout(timer);
        resolve();
      };
      this.socket.write(closeFrame(1000, randomMask()));
      this.ownClose = true;
    });
  }

  handleClose() {
    const wasOpen = this.state === 'open';
    this.state = 'closed';
    if (this.ownClose) {
      this.counters.closedClean++;
      // Everything we sent before our close frame must have been echoed before the server's close frame.
      this.counters.lostEchoes += this.sent - this.received;
    } else if (wasOpen) {
      this.counters.dropped++;
    }
    if (this.onClosed) this.onClosed();
  }
}

/** The pool of clients: opening with bounded concurrency, round-robin traffic, churn. */
class Pool {
  constructor(opts, port) {
    this.opts = opts;
    this.port = port;
    this.counters = new Counters();
    this.open = []; // clients in state 'open'
    this.sourceCount = Math.max(1, Math.min(opts['source-addresses'], 254));
    this.nextSource = 0;
    this.cursor = 0;
    const payload = Buffer.alloc(opts.size, 'soak ');
    // A few pre-masked frames, reused by every client (distinct masks, same payload length).
    this.frames = Array.from({ length: 16 }, () => clientFrame(0x1, payload, randomMask()));
  }

  sourceAddress() {
    const n = this.nextSource++ % this.sourceCount;
    return `127.0.0.${n + 1}`;
  }

  async openOne() {
    const client = new Client(this.counters, this.opts.size);
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await client.open(this.port, this.sourceAddress());
        this.counters.opened++;
        this.open.push(client);
        return client;
      } catch (err) {
        // Ephemeral ports of this source address exhausted: spread over one more address.
        if (err.code === 'EADDRNOTAVAIL' && this.sourceCount < 254) this.sourceCount++;
        else break;
      }
    }
    this.counters.openFailures++;
    return null;
  }

  /** Opens `n` connections, at most `concurrency` handshakes at a time. */
  async openMany(n) {
    let started = 0;
    const worker = async () => {
      while (started < n) {
        started++;
        await this.openOne();
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.opts.concurrency, n) }, worker));
  }

  /** Closes `n` random open connections cleanly, at most `concurrency` at a time. */
  async closeRandom(n) {
    const chosen = [];
    for (let i = 0; i < n && this.open.length > 0; i++) {
      const index = Math.floor(Math.random() * this.open.length);
      chosen.push(this.open[index]);
      this.open[index] = this.open[this.open.length - 1];
      this.open.pop();
    }
    await this.closeClients(chosen);
  }

  async closeAll() {
    const all = this.open;
    this.open = [];
    await this.closeClients(all);
  }

  async closeClients(clients) {
    let next = 0;
    const worker = async () => {
      while (next < clients.length) await clients[next++].close();
    };
    await Promise.all(Array.from({ length: Math.min(this.opts.concurrency, clients.length) }, worker));
  }

  /** Sends one message on each of the next `count` open connections (round robin). */
  sendRound(count) {
    const open = this.open;
    for (let i = 0; i < count && open.length > 0; i++) {
      this.cursor = (this.cursor + 1) % open.length;
      const client = open[this.cursor];
      if (client.state === 'open') client.send(this.frames[this.cursor & 15]);
    }
  }

  /** Drops clients the server closed from the open list. */
  prune() {
    this.open = this.open.filter((c) => c.state === 'open');
  }
}

// ---------------------------------------------------------------------------------------------
// Driver

const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const mib = (bytes) => (Number.isFinite(bytes) ? (bytes / MiB).toFixed(1) : 'n/a');

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.child) return runServer(opts);
  reexecWithMoreFds(opts);

  const limits = fdLimits();
  const notes = [];
  if (limits !== null) {
    notes.push(`file-descriptor limit: soft ${limits.soft}, hard ${limits.hard}` + (process.env.SOAK_FD_RAISED === '1' ? ' (after re-running under bash ulimit -n)' : ''));
    if (limits.soft < opts.connections + 1024) {
      const capped = Math.max(100, limits.soft - 1024);
      notes.push(`cannot raise the limit to hold ${opts.connections} connections (hard limit ${limits.hard}): capped at ${capped}`);
      opts.connections = capped;
    }
  } else {
    notes.push('file-descriptor limit unknown (no /proc/self/limits)');
  }
  const stale = staleBuild();
  if (opts.impl === 'ours' && stale.length > 0) notes.push(`warning: lib/*.js older than its .ts (${stale.slice(0, 3).join(', ')}...): run npm run build`);

  const server = await startServer(opts);
  let stopping = false;
  const killServer = () => {
    if (!server.child.killed && server.child.exitCode === null) server.child.kill();
  };
  process.on('exit', killServer);
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => {
      killServer();
      process.exit(130);
    });
  }
  server.child.on('exit', (code, signal) => {
    if (!stopping) {
      console.error(`server exited during the run (${code ?? signal})`);
      process.exit(1);
    }
  });

  const rows = [];
  const measure = async (phase, { gc = false, resources = false } = {}) => {
    if (gc) await server.request('gc');
    const stats = await server.request('stats', { resources });
    const status = readStatus(server.pid);
    const m = stats.memory;
    const row = {
      phase,
      rss: status.rss,
      hwm: status.hwm,
      heapTotal: m.heapTotal,
      heapUsed: m.heapUsed,
      external: m.external,
      arrayBuffers: m.arrayBuffers,
      serverConnections: stats.connections,
      clientOpen: pool ? pool.open.length : 0,
      stats,
    };
    rows.push(row);
    return row;
  };

  let pool = null;
  console.log(`soak: ${opts.impl} (${server.module}) server pid ${server.pid} on ${HOST}:${server.port}; ${opts.connections} connections, ${opts.duration} s, ${opts.size} B messages every ${opts['message-interval']} ms per connection`);
  for (const note of notes) console.log(`note: ${note}`);

  const start = await measure('start (listening, after gc)', { gc: true });
  pool = new Pool(opts, server.port);
  const perTick = Math.max(1, Math.round((opts.connections * 100) / opts['message-interval']));
  const churnCount = opts.churn >= 1 ? Math.round(opts.churn) : Math.round(opts.churn * opts.connections);
  const runStart = Date.now();
  let peakRss = 0;
  let peakAt = '';
  let churnRounds = 0;
  let final = start;

  for (let cycle = 1; cycle <= opts.cycles; cycle++) {
    const label = opts.cycles > 1 ? `cycle ${cycle}: ` : '';

    // Ramp.
    const rampStart = Date.now();
    await pool.openMany(opts.connections);
    const rampSeconds = (Date.now() - rampStart) / 1000;
    console.log(`${label}ramp: ${pool.open.length} open in ${rampSeconds.toFixed(1)} s (${pool.counters.openFailures} failed so far)`);
    await measure(`${label}after ramp (${pool.open.length} open)`);

    // Traffic and churn.
    const end = Date.now() + opts.duration * 1000;
    const trafficTimer = setInterval(() => pool.sendRound(perTick), 100);
    let churning = false;
    const churnTimer = setInterval(async () => {
      if (churning) return; // the previous batch is still reopening
      churning = true;
      try {
        pool.prune();
        await pool.closeRandom(churnCount);
        await pool.openMany(Math.max(0, opts.connections - pool.open.length));
        churnRounds++;
      } finally {
        churning = false;
      }
    }, opts['churn-interval']);
    let lastReport = Date.now();
    let lastSent = pool.counters.sent;
    while (Date.now() < end) {
      await delay(250);
      const { rss } = readStatus(server.pid);
      if (rss > peakRss) {
        peakRss = rss;
        peakAt = `${label}${((Date.now() - runStart) / 1000).toFixed(0)} s into the run`;
      }
      if (Date.now() - lastReport >= opts.progress * 1000) {
        const stats = await server.request('stats');
        const c = pool.counters;
        const rate = (c.sent - lastSent) / ((Date.now() - lastReport) / 1000);
        lastSent = c.sent;
        lastReport = Date.now();
        console.log(
          `  ${label}${Math.round((end - Date.now()) / 1000)} s left: client open ${pool.open.length}, server connections ${stats.connections}, ` +
            `RSS ${mib(rss)} MiB, ${rate.toFixed(0)} msg/s, opened ${c.opened}, churn rounds ${churnRounds}`,
        );
      }
    }
    clearInterval(trafficTimer);
    clearInterval(churnTimer);
    while (churning) await delay(50);
    await delay(500); // echoes in flight
    await measure(`${label}end of churn (${pool.open.length} open)`);

    // Close everything, settle, collect.
    await pool.closeAll();
    const closeDeadline = Date.now() + 30000;
    let stats = await server.request('stats');
    while (stats.connections > 0 && Date.now() < closeDeadline) {
      await delay(200);
      stats = await server.request('stats');
    }
    await delay(opts.settle * 1000);
    final = await measure(`${label}end (all closed, settled ${opts.settle} s, gc)`, { gc: true, resources: true });
  }

  const hwm = final.hwm;
  const c = pool.counters;
  const s = final.stats;
  stopping = true;
  await server.request('exit').catch(() => undefined);

  // Summary.
  const table = [
    '| phase | server RSS | heapTotal | heapUsed | external | arrayBuffers | server connections | client open |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const row of rows) {
    const cells = [row.rss, row.heapTotal, row.heapUsed, row.external, row.arrayBuffers].map(mib);
    table.push(`| ${row.phase} | ${cells.join(' | ')} | ${row.serverConnections} | ${row.clientOpen} |`);
  }
  const sampledPeak = Math.max(peakRss, ...rows.map((r) => r.rss));
  table.push(`| peak: VmHWM (highest sample, every 250 ms: ${mib(sampledPeak)}, ${peakAt || 'at a reading'}) | ${mib(Math.max(hwm, sampledPeak))} | | | | | | |`);
  table.push('', 'Memory in MiB, read from /proc/<pid>/status (RSS) and the server\'s process.memoryUsage().');
  console.log('\n' + table.join('\n'));
  const perConnection = rows[1] ? (rows[1].rss - start.rss) / Math.max(1, rows[1].serverConnections) / 1024 : NaN;
  console.log(`
| count | value |
|---|---:|
| connections opened (ramp + churn) | ${c.opened} |
| open failures | ${c.openFailures} |
| closed by us, cleanly | ${c.closedClean} |
| close timeouts | ${c.closeTimeouts} |
| closed by the server unasked | ${c.dropped} |
| churn rounds | ${churnRounds} (${churnCount} per round) |
| messages sent / echoes received | ${c.sent} / ${c.received} |
| echoes missing on cleanly closed connections | ${c.lostEchoes} |
| malformed echoes | ${c.badEchoes} |
| pings answered | ${c.pongs} |
| client socket errors | ${JSON.stringify(c.errors)} |
| server: accepted / closed / messages in | ${s.accepted} / ${s.closed} / ${s.messagesIn} |
| server: close codes | ${JSON.stringify(s.closeCodes)} |
| server: connection errors / upgrade errors | ${s.errors} / ${s.upgradeErrors} |
| server: pendingRequests at end | ${s.pending} |
| server: active handles at end | ${JSON.stringify(final.stats.resources)} |
| RSS per connection after ramp | ${perConnection.toFixed(1)} KiB |
| RSS end - start (after gc) | ${mib(final.rss - start.rss)} MiB |
| source addresses used | ${pool.sourceCount} |`);
  for (const note of notes) console.log(`note: ${note}`);
  if (opts.json) {
    console.log(JSON.stringify({ result: { opts: { ...opts, serverConfig: undefined }, rows, peakRss, hwm, counters: c, churnRounds, notes } }));
  }
}

/** lib/**\/*.ts files newer than their compiled .js (the server loads the .js). */
function staleBuild() {
  const root = path.join(__dirname, '..', '..', 'lib');
  const out = [];
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) {
        const js = full.slice(0, -3) + '.js';
        if (!fs.existsSync(js) || fs.statSync(js).mtimeMs < fs.statSync(full).mtimeMs) out.push(path.relative(root, full));
      }
    }
  };
  try {
    walk(root);
  } catch {
    // no lib/ next to bench/: nothing to compare
  }
  return out;
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
});
