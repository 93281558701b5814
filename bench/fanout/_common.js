'use strict';
// What local.js and cluster.js share: option parsing, child processes that cannot outlive the
// orchestrator, CPU pinning, the open-file limit, clock comparison between processes, medians,
// number formatting and the result files. Same conventions as bench/run.js.

const { spawn, spawnSync, execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { performance } = require('perf_hooks');

const FANOUT = __dirname;
const ROOT = path.resolve(FANOUT, '..', '..');

function log(msg) {
  process.stderr.write(msg + '\n');
}

function fatal(msg) {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(2);
}

// `spec` maps each option to [key, kind]: 'flag' (no value; sets `value`), 'number' or 'string'.
function parseOptions(argv, defaults, spec, help) {
  const o = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    let v;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq !== -1) {
      v = a.slice(eq + 1);
      a = a.slice(0, eq);
    }
    if (a === '--help' || a === '-h') {
      process.stdout.write(help);
      process.exit(0);
    }
    const s = spec[a];
    if (!s) fatal(`unknown option ${a}\n\n${help}`);
    const [key, kind, value] = s;
    if (kind === 'flag') {
      o[key] = value;
      continue;
    }
    if (v === undefined) v = argv[++i];
    if (v === undefined) fatal(`missing value for ${a}`);
    if (kind === 'number') {
      o[key] = Number(v);
      if (!Number.isFinite(o[key])) fatal(`${a} needs a number`);
    } else {
      o[key] = v;
    }
  }
  return o;
}

// ---------------------------------------------------------------------------------------------
// Environment

function openFileLimit() {
  try {
    const line = fs.readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const [soft, hard] = line.split(/\s{2,}/).slice(1, 3);
    const num = (x) => (x === 'unlimited' ? Infinity : Number(x));
    return { soft: num(soft), hard: num(hard) };
  } catch {
    return null;
  }
}

// Each process needs about one descriptor per connection it holds. Node raises its soft limit to
// the hard limit by itself and children inherit it; past the hard limit only a shell can help
// (when allowed to), so the orchestrator re-runs itself under `bash -c 'ulimit -n N; exec ...'`.
const CANNOT_RAISE = 97;

function ensureFileLimit(need, script) {
  const lim = openFileLimit();
  if (!lim || lim.soft >= need) return;
  if (!process.env.BENCH_ULIMIT_REEXEC) {
    const r = spawnSync(
      'bash',
      ['-c', `ulimit -n ${need} 2>/dev/null || exit ${CANNOT_RAISE}; exec "$@"`, 'bash', process.execPath, ...process.execArgv, script, ...process.argv.slice(2)],
      { stdio: 'inherit', env: { ...process.env, BENCH_ULIMIT_REEXEC: '1' } }
    );
    if (!r.error && r.status !== CANNOT_RAISE) process.exit(r.status === null ? 1 : r.status);
  }
  fatal(`the open file limit is ${lim.soft} but this run needs about ${need}; run 'ulimit -n ${need}' (as a user allowed to) first, or use fewer connections`);
}

function detectPinning(o) {
  if (!o.pin) return { pinned: false, why: 'disabled with --no-pin' };
  const cpus = os.cpus().length;
  if (cpus < 2) return { pinned: false, why: 'only one CPU' };
  if (Math.max(o.loadgenCpu, o.serverCpu) >= cpus) return { pinned: false, why: `CPU ${Math.max(o.loadgenCpu, o.serverCpu)} does not exist` };
  const r = spawnSync('taskset', ['-c', String(o.serverCpu), 'true']);
  if (r.error || r.status !== 0) return { pinned: false, why: 'taskset is not available' };
  return { pinned: true, why: `load generator on CPU ${o.loadgenCpu}, server on CPU ${o.serverCpu} (taskset)` };
}

function tryExec(cmd, args) {
  try {
    return execFileSync(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'], encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
}

function pkgVersion(name) {
  try {
    return JSON.parse(fs.readFileSync(require.resolve(`${name}/package.json`, { paths: [ROOT] }), 'utf8')).version;
  } catch {
    return null;
  }
}

function machineInfo(extra = {}) {
  let cpuModel = null;
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) cpuModel = m[1].trim();
  } catch {
    // not Linux
  }
  return {
    date: new Date().toISOString(),
    commit: tryExec('git', ['rev-parse', '--short', 'HEAD']) || 'unknown',
    dirty: !!tryExec('git', ['status', '--porcelain']),
    node: process.version,
    v8: process.versions.v8,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    cpu: cpuModel || (os.cpus()[0] && os.cpus()[0].model) || 'unknown',
    cores: os.cpus().length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    versions: {
      ours: pkgVersion('websocket'),
      websocket: pkgVersion('websocket-upstream'),
      ws: pkgVersion('ws'),
      redis: pkgVersion('redis'),
      ioredis: pkgVersion('ioredis'),
    },
    ...extra,
  };
}

function machineLines(meta) {
  const v = meta.versions;
  return [
    `- Machine: ${meta.cpu}, ${meta.cores} cores, ${meta.memoryGiB} GiB, ${meta.platform}`,
    `- Node ${meta.node} (V8 ${meta.v8})`,
    `- Versions: ours ${v.ours || '?'}, websocket ${v.websocket || '?'} (as websocket-upstream), ws ${v.ws || '?'}, redis (node-redis) ${v.redis || '?'}, ioredis ${v.ioredis || '?'}`,
  ];
}

// ---------------------------------------------------------------------------------------------
// Child processes. Each one exits as soon as its stdin closes, and every one still alive is
// killed when this process exits for any reason.

const children = new Set();

function killAll() {
  for (const c of children) {
    try {
      c.proc.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}

let exitHooks = [];
function onExit(fn) {
  exitHooks.push(fn);
}
function runExitHooks() {
  for (const fn of exitHooks) {
    try {
      fn();
    } catch {
      // best effort
    }
  }
  exitHooks = [];
}
process.on('exit', () => {
  killAll();
  runExitHooks();
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    log(`\nbench: ${sig}, stopping`);
    killAll();
    runExitHooks();
    process.exit(130);
  });
}

// A node child that talks JSON lines: it reads commands on stdin and answers on stdout.
// `onMessage`, when set, sees every line first and keeps it out of the queue by returning true
// (the load generator's acks are relayed that way, thousands per second).
class Child {
  constructor(label, script, args, { cpu, pinning, env = {}, nodeArgs = [] } = {}) {
    let cmd = process.execPath;
    let argv = [...nodeArgs, script, ...args];
    if (pinning && pinning.pinned && cpu !== undefined) {
      argv = ['-c', String(cpu), cmd, ...argv];
      cmd = 'taskset';
    }
    this.label = label;
    this.proc = spawn(cmd, argv, { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    this.lines = [];
    this.waiter = null;
    this.onMessage = null;
    this.stderr = '';
    this.exited = false;
    this.exitCode = null;
    children.add(this);
    let buf = '';
    this.proc.stdout.setEncoding('utf8');
    this.proc.stdout.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) !== -1) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        let msg;
        try {
          msg = JSON.parse(line);
        } catch {
          continue; // stray output from a library
        }
        if (this.onMessage && this.onMessage(msg)) continue;
        this.lines.push(msg);
        this.wake();
      }
    });
    this.proc.stderr.setEncoding('utf8');
    this.proc.stderr.on('data', (d) => {
      this.stderr = (this.stderr + d).slice(-4000);
    });
    this.proc.stdin.on('error', () => {}); // the child may be gone already
    this.exitPromise = new Promise((resolve) => {
      this.proc.on('exit', (code, signal) => {
        this.exited = true;
        this.exitCode = code === null ? signal : code;
        children.delete(this);
        this.wake();
        resolve();
      });
      this.proc.on('error', (err) => {
        this.stderr += `\n${err.message}`;
        this.exited = true;
        children.delete(this);
        this.wake();
        resolve();
      });
    });
  }

  get pid() {
    return this.proc.pid;
  }

  wake() {
    if (this.waiter) this.waiter();
  }

  // The first message satisfying `pred`, or an error on timeout or exit.
  next(pred, timeoutMs) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(new Error(`${this.label}: no answer within ${Math.round(timeoutMs / 1000)} s`));
      }, timeoutMs);
      const check = () => {
        const i = this.lines.findIndex(pred);
        if (i !== -1) {
          clearTimeout(timer);
          this.waiter = null;
          resolve(this.lines.splice(i, 1)[0]);
        } else if (this.exited) {
          clearTimeout(timer);
          this.waiter = null;
          reject(new Error(`${this.label} exited (${this.exitCode}): ${lastLines(this.stderr)}`));
        }
      };
      this.waiter = check;
      check();
    });
  }

  send(line) {
    if (!this.exited) this.proc.stdin.write(line + '\n');
  }

  async stop(graceMs = 3000) {
    if (this.exited) return;
    this.proc.stdin.end();
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    await this.exitPromise;
    clearTimeout(timer);
  }
}

function lastLines(text, n = 3) {
  const lines = text.trim().split('\n').filter(Boolean);
  const err = lines.find((l) => /^\w*(Error|Exception)\b.*:/.test(l.trim()));
  if (err) return err.trim();
  return lines.slice(-n).join(' | ') || 'no output';
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// CPU time (µs) a child has used, its wall clock (µs) and what it has published, asked over stdin.
async function cpuOf(child) {
  child.send('cpu');
  return child.next((m) => typeof m.cpu === 'number', 15000);
}

// ---------------------------------------------------------------------------------------------
// Clocks. Every process stamps times as performance.timeOrigin + performance.now() (ms since the
// epoch, sub-µs resolution; timeOrigin is read from the wall clock once at process start). Two
// processes on one machine should agree to a few µs, but timeOrigin is only as good as that one
// reading, so the orchestrator checks it: it sends "clock" over the pipe, the child answers its
// time, and the answer is compared with the midpoint of the round trip (the fastest of `n` is
// kept; its half round trip bounds the error).

function epochMs() {
  return performance.timeOrigin + performance.now();
}

async function clockOffset(child, n = 40) {
  let best = null;
  for (let i = 0; i < n; i++) {
    const t0 = epochMs();
    child.send('clock');
    const m = await child.next((x) => typeof x.clock === 'number', 10000);
    const t1 = epochMs();
    const rtt = t1 - t0;
    if (best === null || rtt < best.rtt) best = { rtt, offset: m.clock - (t0 + t1) / 2 };
  }
  return { offsetUs: best.offset * 1000, errorUs: (best.rtt / 2) * 1000 };
}

// ---------------------------------------------------------------------------------------------
// Summaries

function median(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

function fmtRate(v) {
  if (v === null || v === undefined) return '—';
  if (v >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
  if (v >= 1e4) return `${(v / 1e3).toFixed(1)}k`;
  return Math.round(v).toLocaleString('en-US');
}

function fmtUs(v) {
  if (v === null || v === undefined) return '—';
  if (v >= 100) return Math.round(v).toLocaleString('en-US');
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

function fmtPct(v) {
  return v === null || v === undefined ? '—' : `${Math.round(v)} %`;
}

function fmtRatio(a, b) {
  if (a === null || b === null || a === undefined || b === undefined || !b) return '';
  return `${(a / b).toFixed(2)}×`;
}

// Percentiles of a sorted typed array.
function pct(sorted, p) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function save(out, meta, suffix, md, json) {
  fs.mkdirSync(out, { recursive: true });
  let base = `${meta.date.slice(0, 10)}-${meta.commit}${meta.dirty ? '-dirty' : ''}-${suffix}`;
  if (fs.existsSync(path.join(out, `${base}.md`))) base += `-${meta.date.slice(11, 19).replace(/:/g, '')}`;
  const mdPath = path.join(out, `${base}.md`);
  fs.writeFileSync(mdPath, md + '\n');
  fs.writeFileSync(path.join(out, `${base}.json`), JSON.stringify(json, null, 2) + '\n');
  return mdPath;
}

module.exports = {
  FANOUT,
  ROOT,
  log,
  fatal,
  parseOptions,
  openFileLimit,
  ensureFileLimit,
  detectPinning,
  machineInfo,
  machineLines,
  Child,
  killAll,
  onExit,
  lastLines,
  sleep,
  cpuOf,
  epochMs,
  clockOffset,
  median,
  fmtRate,
  fmtUs,
  fmtPct,
  fmtRatio,
  pct,
  save,
};
