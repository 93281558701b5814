'use strict';
// Where a server's CPU goes, by kind of work, for each implementation under the same load: the
// kernel's TCP stack and its copies, memcpy, malloc, V8's garbage collector, Node's streams, the
// unmasking kernel (our WebAssembly, ws's bufferutil) and the library's own JavaScript. It answers
// "how much of this is ours to win": only the last two buckets belong to a WebSocket library; the
// rest is what any Node server pays to move the same bytes.
//
// Needs Linux `perf` (Debian: linux-perf) and permission to record another process (root, or
// kernel.perf_event_paranoid <= 1). The servers run with --perf-basic-prof so JIT frames have names.
//
//   node bench/profile.js --scenario binary64k --impl ours,ws --runs 3
//
// For each run (implementations interleaved, as in run.js) a fresh server is started on
// --server-cpu, the load generator on --loadgen-cpu; once it starts measuring, `perf record`
// samples the server for the measured period less half a second. Each bucket is the median of its
// share over the runs, also given in µs per message from the server's CPU time in that period.

const { spawn, spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { byId } = require('./lib/scenarios');
const { log, fatal, parseOptions, RUN_OPTIONS, PIN_OPTIONS } = require('./lib/cli');
const { Child, runMain } = require('./lib/child');
const { detectPinning } = require('./lib/pinning');
const { median } = require('./lib/results');

const BENCH = __dirname;
const IMPLS = ['ours', 'ws', 'websocket', 'ws-nobufferutil', 'raw', 'ours-before'];

const HELP = `Usage: node bench/profile.js [options]

  --scenario ID     one echo scenario (default binary64k; node bench/run.js --list)
  --impl LIST       implementations (default ours,ws; also ${IMPLS.slice(2).join(', ')})
  --runs N          runs per implementation, median per bucket (default 3)
  --duration S      measured seconds per run; perf records S - 0.5 (default 5)
  --warmup S        unmeasured seconds before each run (default 1)
  --frequency HZ    perf sampling frequency (default 999)
  --no-pin          do not pin processes to CPUs
  --loadgen-cpu N   CPU for the load generator (default 0)
  --server-cpu N    CPU for the server (default 1)
  --runs-json FILE  also write every run's buckets to FILE
`;

function options(argv) {
  const o = parseOptions(
    argv,
    { scenario: 'binary64k', impl: 'ours,ws', runs: 3, duration: 5, warmup: 1, frequency: 999, pin: true, loadgenCpu: 0, serverCpu: 1 },
    { '--scenario': ['scenario', 'string'], '--impl': ['impl', 'string'], '--frequency': ['frequency', 'number'], '--runs-json': ['runsJson', 'string'], ...RUN_OPTIONS, ...PIN_OPTIONS },
    HELP
  );
  o.sc = byId(o.scenario);
  if (!o.sc || o.sc.type !== 'echo') fatal(`--scenario needs one echo scenario, not ${o.scenario}`);
  o.impls = o.impl.split(',').filter(Boolean);
  for (const i of o.impls) if (!IMPLS.includes(i)) fatal(`unknown implementation ${i}`);
  if (!(o.duration >= 1.5)) fatal('--duration must be at least 1.5 s');
  return o;
}

// Kind of work for one `perf report` row: [dso, symbol] -> bucket name. Order matters. OWN names
// the buckets that belong to a WebSocket library; the rest is what any Node server pays.
const BUCKETS = [
  ['kernel: receive copy (tcp_recvmsg)', (dso, sym) => dso === '[kernel.kallsyms]' && /_copy_to_iter|copy_user/.test(sym) && !/from/.test(sym)],
  ['kernel: send copy (tcp_sendmsg)', (dso, sym) => dso === '[kernel.kallsyms]' && /_copy_from_iter/.test(sym)],
  ['kernel: page faults', (dso, sym) => dso === '[kernel.kallsyms]' && /clear_page|page_fault|handle_mm_fault|do_anonymous_page/.test(sym)],
  ['kernel: TCP/IP, syscalls, scheduler', (dso) => dso === '[kernel.kallsyms]'],
  ['memcpy (libc)', (dso, sym) => /memmove|memcpy/.test(sym)],
  ['malloc/free (libc)', (dso, sym) => /libc/.test(dso) && /malloc|free|unlink_chunk|consolidate|_int_|tcache|sysmalloc|brk/.test(sym)],
  ['unmask kernel (WebAssembly / bufferutil)', (dso, sym) => /wasm-function/.test(sym) || /bufferutil/.test(dso)],
  ['library and echo app, JavaScript (self)', (dso, sym) => /^JS:.*(\/lib\/|node_modules\/(ws|websocket(-upstream)?)\/|bench\/servers\/)/.test(sym) && !/node:/.test(sym)],
  ['V8 garbage collector', (dso, sym) => /Scaveng|Sweep|Heap::|GCTracer|MarkCompact|Evacuat|ConcurrentMark|MinorMark/.test(sym)],
  ['Node JavaScript (streams, net, ticks)', (dso, sym) => /^JS:/.test(sym)],
  ['V8/Node C++, builtins, rest', () => true],
];
const OWN = ['unmask kernel (WebAssembly / bufferutil)', 'library and echo app, JavaScript (self)'];

// `perf report` flat by dso and symbol, as { bucket: percent }.
function bucketsOf(dataFile) {
  const r = spawnSync('perf', ['report', '-i', dataFile, '--stdio', '--no-children', '-g', 'none', '--sort', 'dso,sym', '--percent-limit', '0'], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`perf report failed: ${r.stderr.trim().split('\n').pop()}`);
  const out = Object.fromEntries(BUCKETS.map(([name]) => [name, 0]));
  let samples = 0;
  for (const line of r.stdout.split('\n')) {
    const s = /^# Samples: (\d+)([KM]?)/.exec(line);
    if (s) samples = Number(s[1]) * (s[2] === 'K' ? 1e3 : s[2] === 'M' ? 1e6 : 1);
    const m = /^\s+([\d.]+)%\s+(\[[^\]]+\]|\S+(?: tid \d+)?)\s+\[.\]\s+(.*)$/.exec(line);
    if (!m) continue;
    const [, pct, dso, sym] = m;
    const [name] = BUCKETS.find(([, test]) => test(dso, sym));
    out[name] += Number(pct);
  }
  return { buckets: out, samples };
}

function perfAvailable() {
  const r = spawnSync('perf', ['--version'], { encoding: 'utf8' });
  return !r.error && r.status === 0;
}

function record(pid, seconds, file, frequency) {
  return new Promise((resolve, reject) => {
    const p = spawn('perf', ['record', '-q', '-F', String(frequency), '-g', '-p', String(pid), '-o', file, '--', 'sleep', String(seconds)], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`perf record exited ${code}: ${err.trim().split('\n').pop()}`))));
  });
}

async function serverCpu(server) {
  server.send('cpu');
  return server.next((m) => typeof m.cpu === 'number', 10000);
}

async function profileOnce(impl, o, pinning, tmp) {
  const server = new Child(`${impl} server`, path.join(BENCH, 'servers', `${impl}.js`), [], {
    cpu: o.serverCpu,
    // --perf-basic-prof also turns on V8's log; it goes to the temporary folder, not the repo.
    nodeArgs: ['--expose-gc', '--perf-basic-prof', '--no-logfile-per-isolate', `--logfile=${path.join(tmp, 'v8.log')}`],
    pinning,
  });
  const dataFile = path.join(tmp, `${impl}-${Date.now()}.data`);
  let lg = null;
  try {
    const info = await server.next((m) => typeof m.port === 'number', 15000);
    const args = ['--scenario', o.sc.id, '--port', String(info.port), '--duration', String(o.duration), '--warmup', String(o.warmup), '--sample', '0'];
    lg = new Child('load generator', path.join(BENCH, 'loadgen.js'), args, { cpu: o.loadgenCpu, pinning });
    const bound = (o.warmup + o.duration) * 1000 + 30000;
    const first = await lg.next((m) => m.event === 'measuring' || m.result, bound);
    if (first.result) throw new Error(`load generator: ${JSON.stringify(first.result.errors)}`);
    const cpu0 = await serverCpu(server);
    const t0 = performance.now();
    await record(info.pid, o.duration - 0.5, dataFile, o.frequency);
    const cpu1 = await serverCpu(server);
    const seconds = (performance.now() - t0) / 1000;
    const { result } = await lg.next((m) => m.result, bound);
    if (!result.ok) throw new Error(`load generator: ${JSON.stringify(result.errors)}`);
    const messages = result.msgPerS * seconds;
    const { buckets, samples } = bucketsOf(dataFile);
    return { impl, msgPerS: result.msgPerS, mbPerS: result.mbPerS, cpuUsPerMsg: (cpu1.cpu - cpu0.cpu) / messages, buckets, samples };
  } finally {
    if (lg) await lg.stop();
    await server.stop();
    fs.rmSync(dataFile, { force: true });
    fs.rmSync(dataFile + '.old', { force: true });
    fs.rmSync(path.join(os.tmpdir(), `perf-${server.pid}.map`), { force: true });
  }
}

function report(o, pinning, runs) {
  const lines = [];
  const fmt = (v, d = 1) => v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
  lines.push(`# Server CPU by kind of work: ${o.sc.id}`);
  lines.push('');
  lines.push(`${o.sc.title}. Medians of ${o.runs} runs per implementation, interleaved; perf at ${o.frequency} Hz over ${o.duration - 0.5} s of each measured period; ${pinning.why}. Node ${process.version}, ${os.cpus()[0].model}.`);
  lines.push('');
  const head = ['bucket', ...o.impls.flatMap((i) => [`${i} %`, `${i} µs/msg`])];
  lines.push(`| ${head.join(' | ')} |`);
  lines.push(`|---|${head.slice(1).map(() => '---:').join('|')}|`);
  const med = {};
  for (const impl of o.impls) {
    const mine = runs.filter((r) => r.impl === impl);
    med[impl] = {
      cpu: median(mine.map((r) => r.cpuUsPerMsg)),
      msg: median(mine.map((r) => r.msgPerS)),
      mb: median(mine.map((r) => r.mbPerS)),
      b: Object.fromEntries(BUCKETS.map(([name]) => [name, median(mine.map((r) => r.buckets[name]))])),
    };
  }
  for (const [name] of BUCKETS) {
    const cells = o.impls.flatMap((i) => [fmt(med[i].b[name]), fmt((med[i].b[name] / 100) * med[i].cpu, 2)]);
    lines.push(`| ${name} | ${cells.join(' | ')} |`);
  }
  const ours = (i) => OWN.reduce((sum, name) => sum + med[i].b[name], 0);
  lines.push(`| **the library's own (unmask + its JavaScript)** | ${o.impls.flatMap((i) => [`**${fmt(ours(i))}**`, `**${fmt((ours(i) / 100) * med[i].cpu, 2)}**`]).join(' | ')} |`);
  lines.push(`| server CPU µs/msg (all) | ${o.impls.flatMap((i) => ['', fmt(med[i].cpu, 2)]).join(' | ')} |`);
  lines.push(`| throughput msg/s (MB/s) | ${o.impls.flatMap((i) => ['', `${fmt(med[i].msg, 0)} (${fmt(med[i].mb, 0)})`]).join(' | ')} |`);
  lines.push('');
  lines.push('Runs: ' + runs.map((r) => `${r.impl} ${fmt(r.mbPerS, 0)} MB/s ${fmt(r.cpuUsPerMsg, 2)} µs/msg (${r.samples} samples)`).join('; ') + '.');
  return lines.join('\n') + '\n';
}

async function main() {
  const o = options(process.argv.slice(2));
  if (!perfAvailable()) fatal('perf is not installed (Debian: apt-get install linux-perf)');
  const pinning = detectPinning(o, 'load generator', 'server');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-profile-'));
  const runs = [];
  try {
    for (let run = 1; run <= o.runs; run++) {
      for (const impl of o.impls) {
        log(`profile: ${o.sc.id} ${impl} run ${run}/${o.runs}`);
        runs.push(await profileOnce(impl, o, pinning, tmp));
      }
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  if (o.runsJson) fs.writeFileSync(o.runsJson, JSON.stringify(runs, null, 1) + '\n');
  process.stdout.write(report(o, pinning, runs));
}

runMain(main);
