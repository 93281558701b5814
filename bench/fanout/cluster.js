'use strict';
// Cross-node fan-out: one redis-server, several server processes (default 3), each with its own
// http server, WebSocketServer and RedisBroker and M subscribed connections (default 1,000). Node 0
// publishes, at a fixed rate or as fast as the receivers keep up; its publish reaches its own
// subscribers directly and every other node's through Redis. Measures deliveries per second on all
// nodes, publish-to-receive latency on the publisher's own node and on the others, and Redis's own
// round trip (PING) in the same run, for scale. See bench/README.md, "Fan-out".
// `node bench/fanout/cluster.js --help`.

const fs = require('fs');
const net = require('net');
const path = require('path');
const { spawn, execFileSync } = require('child_process');
const { performance } = require('perf_hooks');
const { log, fatal, parseOptions, RUN_OPTIONS, OUT_OPTIONS, checkRunLength } = require('../lib/cli');
const { Child, onExit, lastLines, runMain } = require('../lib/child');
const { median, heading, everyRun, failedRuns, save } = require('../lib/results');
const { FANOUT, ROOT, ensureFileLimit, machineInfo, machineLines, sleep, cpuOf, clockOffset, fmtRate, fmtUs, fmtPct, pct } = require('./_common');

const SERVER = path.join(FANOUT, 'server.js');
const LOADGEN = path.join(FANOUT, 'loadgen.js');

const HELP = `Usage: node bench/fanout/cluster.js [options]     (npm run bench:fanout:cluster -- [options])

  --nodes N          server processes, each with a RedisBroker (default 3); node 0 publishes
  --connections N    subscribed connections per node (default 1000)
  --rate LIST        publish rates, comma separated: messages per second, or "max" for as fast
                     as every connection receives them with --window in flight (default 20,max)
  --window N         for "max": messages published but not yet received everywhere (default 16)
  --size N           message size in bytes, 28 to 65535 (default 64)
  --client NAME      the nodes' Redis client: node-redis or ioredis (default node-redis)
  --runs N           runs per rate, median reported (default 3)
  --duration S       measured seconds per run (default 5)
  --warmup S         unmeasured seconds before each run (default 2)
  --redis-server P   the redis-server binary (default: /usr/bin/redis-server, else from PATH)
  --out DIR          where results go (default bench/results)
  --no-save          print the tables only
`;

function options() {
  const o = parseOptions(
    process.argv.slice(2),
    {
      nodes: 3,
      connections: 1000,
      rate: '20,max',
      window: 16,
      size: 64,
      client: 'node-redis',
      runs: 3,
      duration: 5,
      warmup: 2,
      redisServer: null,
      out: path.join(ROOT, 'bench', 'results'),
      save: true,
    },
    {
      '--nodes': ['nodes', 'number'],
      '--connections': ['connections', 'number'],
      '--rate': ['rate', 'string'],
      '--window': ['window', 'number'],
      '--size': ['size', 'number'],
      '--client': ['client', 'string'],
      ...RUN_OPTIONS,
      '--redis-server': ['redisServer', 'string'],
      ...OUT_OPTIONS,
    },
    HELP
  );
  if (!(o.nodes >= 2 && o.nodes <= 16)) fatal('--nodes must be between 2 and 16');
  if (!(o.connections >= 1 && o.connections <= 30000)) fatal('--connections must be between 1 and 30000');
  if (!(o.size >= 28 && o.size <= 65535)) fatal('--size must be between 28 and 65535');
  if (!(o.window >= 1 && o.window <= 1024)) fatal('--window must be between 1 and 1024');
  checkRunLength(o, 120, 60);
  if (!['node-redis', 'ioredis'].includes(o.client)) fatal('--client must be node-redis or ioredis');
  o.rates = o.rate.split(',').map((x) => x.trim()).filter(Boolean).map((x) => {
    const r = x === 'max' ? 'max' : Number(x);
    if (r !== 'max' && !(r > 0 && r <= 100000)) fatal(`--rate: ${x} is neither "max" nor a rate in (0, 100000]`);
    return r;
  });
  if (!o.rates.length) fatal('--rate needs at least one rate');
  o.out = path.resolve(o.out);
  return o;
}

const rateLabel = (r, o) => (r === 'max' ? `max (window ${o.window})` : `${r} msg/s`);

// ---------------------------------------------------------------------------------------------
// redis-server: started on a free port without persistence, killed with this process (setpriv
// --pdeathsig, when there is setpriv) even if this process is killed with SIGKILL.

function findRedisServer(given) {
  const candidates = given ? [given] : ['/usr/bin/redis-server', '/usr/local/bin/redis-server'];
  for (const c of candidates) if (fs.existsSync(c)) return c;
  try {
    return execFileSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

function hasSetpriv() {
  try {
    return /pdeathsig/.test(execFileSync('setpriv', ['--help'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
  } catch {
    return false;
  }
}

// A raw RESP connection that sends PING and waits for +PONG, one at a time: Redis's own round
// trip over loopback, without any client library in the way.
class Pinger {
  static connect(port) {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      socket.setNoDelay(true);
      socket.once('connect', () => {
        socket.removeListener('error', reject);
        resolve(new Pinger(socket));
      });
      socket.once('error', reject);
    });
  }

  constructor(socket) {
    this.socket = socket;
    this.buf = '';
    this.waiter = null;
    socket.setEncoding('latin1');
    socket.on('data', (d) => {
      this.buf += d;
      if (this.waiter && this.buf.includes('\r\n')) {
        const line = this.buf.slice(0, this.buf.indexOf('\r\n'));
        this.buf = this.buf.slice(line.length + 2);
        const w = this.waiter;
        this.waiter = null;
        w(line);
      }
    });
    socket.on('error', () => {});
  }

  // Round trip in µs.
  ping() {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(new Error('redis-server did not answer PING within 5 s'));
      }, 5000);
      const t0 = performance.now();
      this.waiter = (line) => {
        clearTimeout(timer);
        if (line === '+PONG') resolve((performance.now() - t0) * 1000);
        else reject(new Error(`PING answered ${line}`));
      };
      this.socket.write('*1\r\n$4\r\nPING\r\n');
    });
  }

  close() {
    this.socket.destroy();
  }
}

async function startRedis(binary) {
  const port = await freePort();
  const redisArgs = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--loglevel', 'warning'];
  const [cmd, argv] = hasSetpriv() ? ['setpriv', ['--pdeathsig', 'KILL', binary, ...redisArgs]] : [binary, redisArgs];
  const proc = spawn(cmd, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => (stderr = (stderr + d).slice(-2000)));
  let exited = false;
  const exitPromise = new Promise((resolve) => proc.on('exit', () => resolve((exited = true))));
  proc.on('error', (err) => {
    stderr += err.message;
    exited = true;
  });
  onExit(() => {
    if (!exited) proc.kill('SIGKILL');
  });
  const deadline = Date.now() + 10000;
  for (;;) {
    if (exited) throw new Error(`redis-server exited at start: ${stderr.trim()}`);
    try {
      const p = await Pinger.connect(port);
      await p.ping();
      p.close();
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`redis-server did not start on port ${port}: ${stderr.trim()}`);
      await sleep(20);
    }
  }
  const version = (() => {
    try {
      return execFileSync(binary, ['--version'], { encoding: 'utf8' }).match(/v=(\S+)/)[1];
    } catch {
      return '?';
    }
  })();
  return {
    port,
    pid: proc.pid, // setpriv execs redis-server, so this is redis-server's pid
    version,
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      if (exited) return;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exitPromise;
      clearTimeout(timer);
    },
  };
}

let clockTicks = 100;
try {
  clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
} catch {
  // the usual value
}

// CPU time (µs) of another process, from /proc (resolution 1/CLK_TCK s).
function procCpuUs(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) / clockTicks) * 1e6;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// One run: fresh server processes and load generator on the shared redis-server, under a prefix
// of their own (so nothing left in Redis by an earlier run counts).

async function runOne(rate, o, redis, runId) {
  const prefix = `fanout-${process.pid}-${runId}:`;
  const nodes = [];
  let lg = null;
  let pinger = null;
  try {
    for (let i = 0; i < o.nodes; i++) {
      nodes.push(
        new Child(`node ${i}`, SERVER, ['--impl', 'ours', '--size', String(o.size), '--redis', redis.url, '--prefix', prefix, '--client', o.client])
      );
    }
    const infos = await Promise.all(nodes.map((n) => n.next((m) => typeof m.port === 'number', 20000)));
    lg = new Child('load generator', LOADGEN, [
      '--ports',
      infos.map((x) => x.port).join(','),
      '--connections',
      String(o.connections),
      '--size',
      String(o.size),
      '--window',
      String(rate === 'max' ? o.window : 0),
      '--latency',
      '1',
      '--warmup',
      String(o.warmup),
      '--duration',
      String(o.duration),
    ]);
    const opened = await lg.next((m) => m.event === 'opened' || m.result, 300000);
    if (opened.result) return opened.result;

    // Every node has its subscribers, and the publisher sees all of them in the cluster counts
    // (presence is written shortly after the subscribes, which reach Redis first).
    const want = o.nodes * o.connections;
    let seen = null;
    for (let i = 0; i < 200; i++) {
      const counts = await Promise.all(
        nodes.map(async (n) => {
          n.send('count');
          return (await n.next((m) => 'count' in m, 10000)).count;
        })
      );
      seen = counts;
      if (counts.every((c) => c && c.subscribers === o.connections) && counts[0].cluster === want) break;
      await sleep(100);
    }
    if (!seen.every((c) => c && c.subscribers === o.connections) || seen[0].cluster !== want) {
      return { ok: false, errors: [`subscribers per node ${seen.map((c) => c && c.subscribers).join('/')}, cluster count ${seen[0] && seen[0].cluster}, expected ${o.connections} each and ${want}`] };
    }

    // The publisher's and the load generator's clocks, compared over their pipes.
    const pubClock = await clockOffset(nodes[0]);
    const lgClock = await clockOffset(lg);
    const clock = { offsetUs: pubClock.offsetUs - lgClock.offsetUs, errorUs: pubClock.errorUs + lgClock.errorUs };

    lg.onMessage = (m) => {
      if (m.ack === undefined) return false;
      nodes[0].send(`ack ${m.ack}`);
      return true;
    };
    pinger = await Pinger.connect(redis.port);
    lg.send('go');
    nodes[0].send(rate === 'max' ? `start window ${o.window}` : `start rate ${rate}`);
    const bound = (o.warmup + o.duration) * 1000 + 30000;
    const first = await lg.next((m) => m.event === 'measuring' || m.result, bound);
    if (first.result) return first.result;
    const cpu0 = await Promise.all(nodes.map(cpuOf));
    const redis0 = procCpuUs(redis.pid);
    const w0 = performance.now();

    // Redis's round trip while the benchmark runs: one PING every 2 ms from this process.
    const pings = [];
    let pinging = true;
    const pingLoop = (async () => {
      while (pinging) {
        pings.push(await pinger.ping());
        await sleep(2);
      }
    })();

    const { result } = await lg.next((m) => m.result, bound);
    const cpu1 = await Promise.all(nodes.map(cpuOf));
    const redis1 = procCpuUs(redis.pid);
    const wall = (performance.now() - w0) * 1000;
    pinging = false;
    await pingLoop;
    for (const n of nodes) if (n.exited) throw new Error(`${n.label} exited during the run: ${lastLines(n.stderr)}`);
    if (!result.ok) return result;
    const pub = {
      published: cpu1[0].published - cpu0[0].published,
      wall: cpu1[0].wall - cpu0[0].wall,
      skipped: cpu1[0].skipped - cpu0[0].skipped,
      blocked: cpu1[0].blocked - cpu0[0].blocked,
    };
    const nodeCpuPct = nodes.map((n, i) => ((cpu1[i].cpu - cpu0[i].cpu) / (cpu1[i].wall - cpu0[i].wall)) * 100);
    const sortedPings = Float64Array.from(pings).sort();
    return {
      ...result,
      publishedPerS: pub.published / (pub.wall / 1e6),
      skipped: pub.skipped,
      publisherWaitingPct: rate === 'max' ? (pub.blocked / pub.wall) * 100 : null,
      nodeCpuPct,
      publisherCpuPct: nodeCpuPct[0],
      otherNodesCpuPct: nodeCpuPct.slice(1).reduce((a, b) => a + b, 0) / (nodeCpuPct.length - 1),
      redisCpuPct: redis0 !== null && redis1 !== null ? ((redis1 - redis0) / wall) * 100 : null,
      ping: { n: sortedPings.length, p50: pct(sortedPings, 50), p99: pct(sortedPings, 99), max: sortedPings.length ? sortedPings[sortedPings.length - 1] : null },
      clock,
    };
  } finally {
    if (pinger) pinger.close();
    if (lg) await lg.stop();
    await Promise.all(nodes.map((n) => n.stop()));
  }
}

// ---------------------------------------------------------------------------------------------

const METRICS = {
  publishedPerS: (r) => r.publishedPerS,
  deliveriesPerS: (r) => r.deliveriesPerS,
  lost: (r) => r.lost,
  sameP50: (r) => r.latency.same.p50,
  sameP99: (r) => r.latency.same.p99,
  otherP50: (r) => r.latency.other.p50,
  otherP99: (r) => r.latency.other.p99,
  allP999: (r) => r.latency.all.p999,
  pingP50: (r) => r.ping.p50,
  pingP99: (r) => r.ping.p99,
  publisherCpuPct: (r) => r.publisherCpuPct,
  otherNodesCpuPct: (r) => r.otherNodesCpuPct,
  redisCpuPct: (r) => r.redisCpuPct,
  loadgenCpuPct: (r) => r.loadgenCpuPct,
  publisherWaitingPct: (r) => r.publisherWaitingPct,
  clockOffsetUs: (r) => r.clock.offsetUs,
  clockErrorUs: (r) => r.clock.errorUs,
};

function summarize(results, o) {
  return o.rates.map((rate) => {
    const runs = results[String(rate)] || [];
    const ok = runs.filter((r) => r.ok);
    const row = { rate, runs: runs.length, failed: runs.length - ok.length };
    for (const [key, get] of Object.entries(METRICS)) row[key] = median(ok.map(get));
    return row;
  });
}

function tables(rows, o) {
  const out = [];
  out.push('| publish rate | messages/s | deliveries/s | lost | same node p50 | same node p99 | other nodes p50 | other nodes p99 | all p99.9 | Redis PING p50 | Redis PING p99 |');
  out.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    const label = rateLabel(r.rate, o) + (r.failed && r.failed < r.runs ? ` *${r.failed} failed*` : '');
    if (r.failed === r.runs) {
      out.push(`| ${label} | failed | | | | | | | | | |`);
      continue;
    }
    out.push(
      `| ${label} | ${fmtRate(r.publishedPerS)} | ${fmtRate(r.deliveriesPerS)} | ${r.lost === null ? '—' : Math.round(r.lost)} | ` +
        `${fmtUs(r.sameP50)} | ${fmtUs(r.sameP99)} | ${fmtUs(r.otherP50)} | ${fmtUs(r.otherP99)} | ${fmtUs(r.allP999)} | ${fmtUs(r.pingP50)} | ${fmtUs(r.pingP99)} |`
    );
  }
  out.push('');
  out.push('CPU time ÷ wall time of each process over the measured period (100 % = one core):');
  out.push('');
  out.push('| publish rate | publisher node | other nodes (mean) | redis-server | load generator | publisher waiting for acks |');
  out.push('|---|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    if (r.failed === r.runs) continue;
    out.push(
      `| ${rateLabel(r.rate, o)} | ${fmtPct(r.publisherCpuPct)} | ${fmtPct(r.otherNodesCpuPct)} | ${fmtPct(r.redisCpuPct)} | ` +
        `${fmtPct(r.loadgenCpuPct)} | ${r.rate === 'max' ? fmtPct(r.publisherWaitingPct) : 'n/a'} |`
    );
  }
  return out.join('\n');
}

function runsTable(results, o) {
  const out = ['| publish rate | deliveries/s | same node p99 (µs) | other nodes p99 (µs) | Redis PING p99 (µs) | clock offset (µs) |', '|---|---|---|---|---|---|'];
  for (const rate of o.rates) {
    const runs = results[String(rate)] || [];
    const each = (f) => runs.map((r) => (r.ok ? f(r) : 'failed')).join(', ');
    out.push(
      `| ${rateLabel(rate, o)} | ${each((r) => fmtRate(r.deliveriesPerS))} | ${each((r) => fmtUs(r.latency.same.p99))} | ` +
        `${each((r) => fmtUs(r.latency.other.p99))} | ${each((r) => fmtUs(r.ping.p99))} | ${each((r) => `${r.clock.offsetUs.toFixed(0)} ± ${r.clock.errorUs.toFixed(0)}`)} |`
    );
  }
  return out.join('\n');
}

function report(meta, o, rows, results, errors) {
  const lines = [];
  lines.push(heading('Fan-out benchmark (cluster)', meta));
  lines.push('');
  lines.push(...machineLines(meta));
  lines.push(`- redis-server ${meta.redis}, persistence off, on 127.0.0.1; the nodes use ${o.client}`);
  lines.push('- Pinning: none (more processes than cores: the OS schedules them)');
  lines.push(
    `- Method: ${o.nodes} server processes, each an http server + WebSocketServer + RedisBroker with ${o.connections.toLocaleString('en-US')} ` +
      `connections subscribed to one topic; node 0 calls \`server.publish(topic, text)\` with ${o.size} B of ASCII text, which its own subscribers ` +
      `get directly and the other nodes' through Redis pub/sub. ${o.runs} run(s) per rate, each on fresh server processes and load generator; ` +
      `${o.warmup} s warm-up, then ${o.duration} s measured; median shown.`
  );
  lines.push(
    '- Latency: from the publisher\'s `performance.timeOrigin + performance.now()` just before `publish()` (written into the message) ' +
      'to the load generator\'s, when the chunk holding the frame is read. The two processes\' clocks were compared over their pipes ' +
      `before each run: median offset ${fmtSigned(rows, 'clockOffsetUs')} µs, bound ±${fmtUs(median(rows.map((r) => r.clockErrorUs)))} µs (see "Every run").`
  );
  lines.push('');
  lines.push('## Results');
  lines.push('');
  lines.push(
    `Deliveries are messages × connections that received them, on all nodes, counted by the load generator; "lost" are messages a ` +
      `connection never got during the measured time (Redis pub/sub delivers at most once). Latencies and PING in µs.`
  );
  lines.push('');
  lines.push(tables(rows, o));
  lines.push('');
  lines.push(...everyRun(runsTable(results, o)));
  lines.push(...failedRuns(errors));
  return lines.join('\n');
}

function fmtSigned(rows, key) {
  const v = median(rows.map((r) => r[key]));
  return v === null ? '—' : `${v >= 0 ? '+' : ''}${v.toFixed(0)}`;
}

async function main() {
  const o = options();
  ensureFileLimit(o.nodes * o.connections + 512, __filename);
  const binary = findRedisServer(o.redisServer);
  if (!binary) fatal('redis-server not found (apt-get install -y redis-server, or --redis-server PATH)');
  try {
    require.resolve(o.client === 'ioredis' ? 'ioredis' : 'redis', { paths: [ROOT] });
  } catch {
    fatal(`${o.client} is not installed`);
  }
  const redis = await startRedis(binary);
  const meta = machineInfo({ redis: redis.version, pinning: 'none' });
  const errors = [];
  const results = {};
  log(
    `bench: cluster fan-out, ${o.nodes} nodes × ${o.connections} connections, rates ${o.rates.join(', ')}, ${o.runs} run(s), ` +
      `about ${Math.ceil((o.rates.length * o.runs * (o.warmup + o.duration + 6)) / 60)} min; redis-server ${redis.version} on port ${redis.port}`
  );
  try {
    let runId = 0;
    for (let run = 1; run <= o.runs; run++) {
      for (const rate of o.rates) {
        let res;
        try {
          res = await runOne(rate, o, redis, ++runId);
        } catch (err) {
          res = { ok: false, errors: [err.message] };
        }
        (results[String(rate)] = results[String(rate)] || []).push(res);
        const shown = res.ok
          ? `${fmtRate(res.publishedPerS)} msg/s, ${fmtRate(res.deliveriesPerS)} deliveries/s, lost ${res.lost}, ` +
            `p50/p99 same node ${fmtUs(res.latency.same.p50)}/${fmtUs(res.latency.same.p99)} µs, other nodes ${fmtUs(res.latency.other.p50)}/${fmtUs(res.latency.other.p99)} µs, ` +
            `PING ${fmtUs(res.ping.p50)}/${fmtUs(res.ping.p99)} µs, clock offset ${res.clock.offsetUs.toFixed(0)} ± ${res.clock.errorUs.toFixed(0)} µs`
          : `FAILED: ${(res.errors || []).join('; ')}`;
        log(`cluster run ${run}/${o.runs} ${rateLabel(rate, o).padEnd(16)} ${shown}`);
        if (!res.ok) errors.push(`run ${run} ${rateLabel(rate, o)}: ${(res.errors || []).join('; ') || 'no result'}`);
      }
    }
  } finally {
    await redis.stop();
  }
  const rows = summarize(results, o);
  const md = report(meta, o, rows, results, errors);
  process.stdout.write('\n' + md + '\n');
  if (o.save) {
    save(o.out, meta, 'fanout-cluster', md, { meta, options: { ...o, out: path.relative(ROOT, o.out) }, rows, results, errors });
  }
}

runMain(main);
