'use strict';
// Runs the benchmark matrix: for each scenario, runs 1..N of every implementation interleaved
// (A B C A B C), each run on a freshly started server, then the median per cell, one markdown
// table with ratios against ws, and the results saved under bench/results/.
// `node bench/run.js --help` lists the options.

const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const { SCENARIOS, GROUPS, byId, supports } = require('./lib/scenarios');
const deflate = require('./lib/deflate');
const { log, fatal, parseOptions, RUN_OPTIONS, PIN_OPTIONS, OUT_OPTIONS, checkRunLength } = require('./lib/cli');
const { Child, lastLines, runMain } = require('./lib/child');
const { detectPinning } = require('./lib/pinning');
const { openFileLimit, reexecWithFileLimit } = require('./lib/file-limit');
const { machineInfo, packageVersions, machineLines } = require('./lib/machine');
const { median, heading, everyRun, failedRuns, save } = require('./lib/results');

const BENCH = __dirname;
const ROOT = path.resolve(BENCH, '..');
const LOADGEN = path.join(BENCH, 'loadgen.js');
const MICRO = path.join(BENCH, 'micro.js');

// Every implementation has an echo server in servers/<name>.js and a client in clients/<name>.js;
// `raw` is the ceiling on both sides (its client is the load generator itself).
// 'ours-before' is this package at an earlier commit (bench/before.sh builds it); never a default.
// 'ours-async' is this package's server written with for await + await send (server rows only,
// see SERVER_ONLY in lib/scenarios.js); asked for by name, so the default run stays as it was.
const IMPLS = ['ours', 'websocket', 'ws', 'ws-nobufferutil', 'raw', 'ours-async', 'ours-before'];
const OPT_IN = ['ours-async', 'ours-before'];
const DEFAULT_IMPLS = IMPLS.filter((i) => !OPT_IN.includes(i));
const BASELINE = 'ws';
const EXPECT_NATIVE = { ws: true, 'ws-nobufferutil': false }; // bufferutil loaded or not

const HELP = `Usage: node bench/run.js [options]     (npm run bench -- [options])

  --scenario LIST   scenario ids or groups, comma separated (default: all)
                    groups: ${Object.keys(GROUPS).join(', ')}
  --impl LIST       implementations (default: ${DEFAULT_IMPLS.join(',')}; also ${OPT_IN.join(', ')})
  --runs N          runs per cell, median reported (default 3)
  --duration S      measured seconds per run (default 3)
  --warmup S        unmeasured seconds before each run (default 1)
  --sample N        check the payload of 1 echo in N byte for byte; 0 = lengths only (default 17)
  --client-server I fixed server for the client scenarios (default raw)
  --rss-connections N   idle connections for rss-2000 (default 2000)
  --micro-time MS   time per micro-benchmark sample (default 100)
  --no-pin          do not pin processes to CPUs
  --loadgen-cpu N   CPU for the load generator and clients (default 0)
  --server-cpu N    CPU for the servers (default 1)
  --out DIR         where results go (default bench/results)
  --no-save         print the table only
  --list            list the scenarios and exit
`;

// ---------------------------------------------------------------------------------------------
// Options

function options(argv) {
  const o = parseOptions(
    argv,
    {
      scenario: 'all',
      impl: DEFAULT_IMPLS.join(','),
      runs: 3,
      duration: 3,
      warmup: 1,
      sample: 17,
      clientServer: 'raw',
      rssConnections: 2000,
      microTime: 100,
      pin: true,
      loadgenCpu: 0,
      serverCpu: 1,
      out: path.join(BENCH, 'results'),
      save: true,
      list: false,
    },
    {
      '--scenario': ['scenario', 'string'],
      '--impl': ['impl', 'string'],
      ...RUN_OPTIONS,
      '--sample': ['sample', 'number'],
      '--client-server': ['clientServer', 'string'],
      '--rss-connections': ['rssConnections', 'number'],
      '--micro-time': ['microTime', 'number'],
      ...PIN_OPTIONS,
      ...OUT_OPTIONS,
      '--list': ['list', 'flag', true],
    },
    HELP
  );
  checkRunLength(o, 60, 30);
  o.out = path.resolve(o.out);

  const ids = [];
  for (const s of o.scenario.split(',').map((x) => x.trim()).filter(Boolean)) {
    const list = GROUPS[s] || (byId(s) ? [s] : null);
    if (!list) fatal(`unknown scenario ${s}; --list shows them`);
    for (const id of list) if (!ids.includes(id)) ids.push(id);
  }
  o.scenarios = SCENARIOS.filter((s) => ids.includes(s.id)).map((s) =>
    s.type === 'rss' ? { ...s, connections: o.rssConnections } : s
  );
  o.impls = o.impl.split(',').map((x) => x.trim()).filter(Boolean);
  for (const i of o.impls) if (!IMPLS.includes(i)) fatal(`unknown implementation ${i} (${IMPLS.join(', ')})`);
  if (!IMPLS.includes(o.clientServer)) fatal(`unknown --client-server ${o.clientServer}`);
  return o;
}

// ---------------------------------------------------------------------------------------------
// Environment

// rss-2000 holds its connections open at once; below the limit it needs, run.js re-runs itself
// with a higher one (see lib/file-limit.js), and when that cannot be done the scenario is skipped.
function ensureFileLimit(o) {
  const rss = o.scenarios.find((s) => s.type === 'rss');
  if (!rss) return;
  const need = rss.connections + 512;
  const lim = openFileLimit();
  if (!lim || lim.soft >= need) return;
  reexecWithFileLimit(Math.max(need, 8192), __filename);
  log(
    `bench: the open file limit is ${lim.soft} but ${rss.id} needs about ${need} and it cannot be raised from here; ` +
      `skipping it. Run 'ulimit -n 8192' (as a user allowed to) before the benchmark.`
  );
  o.scenarios = o.scenarios.filter((s) => s !== rss);
}

// The result's "meta": the machine, how processes were pinned, and the library versions.
function machineMeta(pinning) {
  return { ...machineInfo(), pinning: pinning.why, versions: packageVersions(['bufferutil', 'utf-8-validate']) };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function vmRssKiB(pid) {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

// ---------------------------------------------------------------------------------------------
// One run

// `sc.deflate` starts the server with permessage-deflate on (BENCH_DEFLATE=1, parameters from
// lib/deflate.js); a server that does not confirm it is not used.
async function startServer(impl, ctx, sc = null) {
  const compress = !!(sc && sc.deflate);
  const server = new Child(`${impl} server`, path.join(BENCH, 'servers', `${impl}.js`), [], {
    cpu: ctx.o.serverCpu,
    // BENCH_SERVER_NODE_ARGS: extra Node flags for the servers, e.g. to profile one
    // (`--cpu-prof --cpu-prof-dir=/tmp/prof`).
    nodeArgs: ['--expose-gc', ...(process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean)],
    env: compress ? { BENCH_DEFLATE: '1' } : {},
    pinning: ctx.pinning,
  });
  try {
    server.info = await server.next((m) => typeof m.port === 'number', 15000);
    if (compress && !server.info.deflate) throw new Error(`${impl} server has no permessage-deflate option`);
  } catch (err) {
    await server.stop();
    throw err;
  }
  ctx.native[impl] = server.info.native;
  return server;
}

function loadgenArgs(sc, port, o) {
  return ['--scenario', sc.id, '--port', String(port), '--duration', String(o.duration), '--warmup', String(o.warmup), '--sample', String(o.sample)];
}

function bound(o, extra = 0) {
  return (o.warmup + o.duration) * 1000 + 30000 + extra;
}

async function runLoadgen(sc, port, ctx, script = LOADGEN, extraArgs = [], label = 'load generator') {
  const lg = new Child(label, script, [...loadgenArgs(sc, port, ctx.o), ...extraArgs], { cpu: ctx.o.loadgenCpu, pinning: ctx.pinning });
  try {
    const { result } = await lg.next((m) => m.result, bound(ctx.o));
    return result;
  } finally {
    await lg.stop();
  }
}

async function serverCpu(server) {
  server.send('cpu');
  return server.next((m) => typeof m.cpu === 'number', 10000);
}

// A load generator run that also measures the server's CPU time over the measured period.
async function runEcho(sc, server, ctx) {
  const lg = new Child('load generator', LOADGEN, loadgenArgs(sc, server.info.port, ctx.o), { cpu: ctx.o.loadgenCpu, pinning: ctx.pinning });
  try {
    const first = await lg.next((m) => m.event === 'measuring' || m.result, bound(ctx.o));
    if (first.result) return first.result;
    const cpu0 = await serverCpu(server);
    const { result } = await lg.next((m) => m.result, bound(ctx.o));
    const cpu1 = await serverCpu(server);
    if (result.ok && sc.type === 'handshake' && result.messages > 0) {
      return { ...result, serverCpuUsPerConn: (cpu1.cpu - cpu0.cpu) / result.messages };
    }
    if (!result.ok || !(result.bytes > 0)) return result;
    const perGB = (micros) => micros / 1000 / (result.bytes / 1e9);
    return {
      ...result,
      serverCpuMsPerGB: perGB(cpu1.cpu - cpu0.cpu),
      serverUserCpuMsPerGB: perGB(cpu1.user - cpu0.user),
      serverCpuUsPerMsg: result.messages > 0 ? (cpu1.cpu - cpu0.cpu) / result.messages : undefined,
    };
  } finally {
    await lg.stop();
  }
}

// A load generator holding `count` idle connections to the server, once they are open (or its
// result, when they could not be).
async function openIdle(sc, server, ctx, count, label) {
  const lg = new Child(label, LOADGEN, [...loadgenArgs(sc, server.info.port, ctx.o), '--connections', String(count)], {
    cpu: ctx.o.loadgenCpu,
    pinning: ctx.pinning,
  });
  try {
    return { lg, opened: await lg.next((m) => m.event === 'opened' || m.result, 120000) };
  } catch (error) {
    await lg.stop();
    throw error;
  }
}

async function runRss(sc, server, ctx) {
  const pid = server.info.pid;
  const gc = async () => {
    server.send('gc');
    await server.next((m) => 'gc' in m, 10000);
    await sleep(300);
  };
  if (sc.warmConnections) {
    // Open and close some connections first: what a server spends once (code compiled on first
    // use, its young generation's first growth) then stays out of the per-connection figure.
    const warm = await openIdle(sc, server, ctx, sc.warmConnections, 'warm-up load generator');
    try {
      if (warm.opened.result) return warm.opened.result;
      warm.lg.send('close');
      await warm.lg.next((m) => m.result, 30000);
    } finally {
      await warm.lg.stop();
    }
    await sleep(500);
  }
  await gc();
  const before = vmRssKiB(pid);
  const { lg, opened } = await openIdle(sc, server, ctx, sc.connections, 'load generator');
  try {
    if (opened.result) return opened.result;
    await sleep(500);
    await gc();
    const after = vmRssKiB(pid);
    lg.send('close');
    const { result } = await lg.next((m) => m.result, 30000);
    return {
      ...result,
      value: result.ok ? (after - before) / opened.connections : null,
      unit: 'KiB/conn',
      rssBeforeKiB: before,
      rssAfterKiB: after,
      connections: opened.connections,
    };
  } finally {
    await lg.stop();
  }
}

async function runOne(sc, impl, ctx) {
  if (sc.type === 'client') {
    const server = await startServer(ctx.o.clientServer, ctx);
    try {
      if (impl === 'raw') return await runLoadgen(sc, server.info.port, ctx);
      return await runLoadgen(sc, server.info.port, ctx, path.join(BENCH, 'clients', `${impl}.js`), [], `${impl} client`);
    } finally {
      await server.stop();
    }
  }
  const server = await startServer(impl, ctx, sc);
  try {
    if (sc.type === 'rss') return await runRss(sc, server, ctx);
    const result = await runEcho(sc, server, ctx);
    if (server.exited) throw new Error(`server exited during the run: ${lastLines(server.stderr)}`);
    return result;
  } finally {
    await server.stop();
  }
}

async function runMicro(ctx) {
  const m = new Child('micro', MICRO, ['--json', '--time', String(ctx.o.microTime)], { cpu: ctx.o.loadgenCpu, pinning: ctx.pinning });
  try {
    return await m.next((x) => x.micro, 600000);
  } finally {
    await m.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// Summaries

// Latency gives two rows from the same runs, and so do scenarios that list `metrics`.
function metricsOf(sc) {
  if (sc.type === 'latency') return [
    { key: 'p50', label: `${sc.id} p50` },
    { key: 'p99', label: `${sc.id} p99` },
  ];
  if (sc.metrics) return sc.metrics.map((m) => ({ key: m.key, label: sc.id, unit: m.unit, lower: m.lower }));
  return [{ key: 'value', label: sc.id }];
}

function fmt(v, unit) {
  if (v === null || v === undefined) return '—';
  if (unit === 'msg/s' || unit === 'conn/s') {
    if (v >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
    if (v >= 1e4) return `${(v / 1e3).toFixed(1)}k`;
    return Math.round(v).toLocaleString('en-US');
  }
  if (unit === 'MB/s') return Math.round(v).toLocaleString('en-US');
  if (unit === 'KiB/conn') return v.toFixed(1);
  if (unit.startsWith('server ') || unit.startsWith('client ')) return Math.round(v).toLocaleString('en-US');
  if (unit === 'µs') return v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(1);
  return String(Math.round(v * 100) / 100);
}

function ratio(a, b) {
  if (a === null || b === null || !b) return null;
  return a / b;
}

function fmtRatio(r) {
  return r === null ? '' : `${r.toFixed(2)}×`;
}

function summarize(results, o) {
  const rows = [];
  for (const sc of o.scenarios) {
    if (sc.type === 'micro') continue;
    for (const metric of metricsOf(sc)) {
      const row = { scenario: sc.id, metric: metric.key, label: metric.label, title: sc.title, unit: metric.unit || sc.unit, lower: !!(metric.lower ?? sc.lower), cells: {} };
      for (const impl of o.impls) {
        if (!supports(sc, impl)) {
          row.cells[impl] = { na: true, median: null, runs: [], failed: 0 };
          continue;
        }
        const runs = (results[sc.id] && results[sc.id][impl]) || [];
        if (!runs.length) continue;
        const ok = runs.filter((r) => r.ok);
        row.cells[impl] = {
          median: median(ok.map((r) => r[metric.key])),
          runs: runs.map((r) => (r.ok ? r[metric.key] : null)),
          failed: runs.length - ok.length,
        };
      }
      rows.push(row);
    }
  }
  return rows;
}

// Extra ratio columns, each shown when both implementations ran: ours against upstream, and the
// for-await server against the event-API one (what the async layer costs on the same server).
const PAIR_RATIOS = [
  ['ours', 'websocket'],
  ['ours-async', 'ours'],
];

function markdownTable(rows, impls) {
  const head = ['scenario', 'unit', ...impls];
  const pairs = PAIR_RATIOS.filter(([a, b]) => impls.includes(a) && impls.includes(b));
  for (const [a, b] of pairs) head.push(`${a} ÷ ${b}`);
  const out = [`| ${head.join(' | ')} |`, `|${head.map((h, i) => (i < 2 ? '---' : '---:')).join('|')}|`];
  for (const row of rows) {
    const base = row.cells[BASELINE] ? row.cells[BASELINE].median : null;
    const cells = [row.label, row.lower ? `${row.unit} ↓` : row.unit];
    for (const impl of impls) {
      const c = row.cells[impl];
      if (!c) {
        cells.push('');
        continue;
      }
      let s = fmt(c.median, row.unit);
      if (c.na) s = 'n/a';
      else if (c.median === null) s = 'failed';
      else if (impl !== BASELINE && base !== null) s += ` (${fmtRatio(ratio(c.median, base))})`;
      if (c.failed && c.median !== null) s += ` *${c.failed} failed*`;
      cells.push(s);
    }
    for (const [a, b] of pairs) {
      const x = row.cells[a];
      const y = row.cells[b];
      cells.push(x && y ? fmtRatio(ratio(x.median, y.median)) : '');
    }
    out.push(`| ${cells.join(' | ')} |`);
  }
  return out.join('\n');
}

function runsTable(rows, impls) {
  const out = ['| scenario | unit | impl | runs (in order) |', '|---|---|---|---|'];
  for (const row of rows) {
    for (const impl of impls) {
      const c = row.cells[impl];
      if (!c || c.na) continue;
      out.push(`| ${row.label} | ${row.unit} | ${impl} | ${c.runs.map((v) => (v === null ? 'failed' : fmt(v, row.unit))).join(', ')} |`);
    }
  }
  return out.join('\n');
}

function sentRatioOf(scenarios, results) {
  for (const sc of scenarios) {
    for (const runs of Object.values(results[sc.id] || {})) {
      const r = runs.find((x) => x.ok && x.sentRatio);
      if (r) return r.sentRatio.toFixed(2);
    }
  }
  return '?';
}

function report(meta, o, rows, micro, errors, results) {
  const lines = [];
  lines.push(heading('Benchmark results', meta));
  lines.push('');
  lines.push(...machineLines(meta));
  lines.push(`- Pinning: ${meta.pinning}`);
  lines.push(
    `- Method: ${o.runs} run(s) per cell, implementations interleaved (A B C A B C), median shown; each run on a fresh ` +
      `server, ${o.warmup} s warm-up then ${o.duration} s measured; every echo's length checked and 1 in ${o.sample || '∞'} ` +
      `compared byte for byte. Client scenarios run against the \`${o.clientServer}\` server.`
  );
  const compressed = o.scenarios.filter((s) => s.deflate);
  if (compressed.length) {
    lines.push(
      `- permessage-deflate (${compressed.map((s) => `\`${s.id}\``).join(', ')}): both servers get ${deflate.describeParams()}; ` +
        `the load generator offers \`${deflate.OFFER}\` and sends frames compressed before the run. ` +
        `Throughput counts uncompressed payload bytes. Implementations without permessage-deflate show n/a.`
    );
    const notes = [];
    for (const sc of compressed) {
      for (const impl of o.impls) {
        const ok = ((results[sc.id] || {})[impl] || []).filter((r) => r.ok);
        if (!ok.length) continue;
        const answer = ok[0].extensions;
        notes.push(`${sc.id} ${impl}: echoes ${median(ok.map((r) => r.echoRatio)).toFixed(2)}:1, server answered \`${answer}\``);
      }
    }
    if (notes.length) lines.push(`- Compression ratio of the echoes (payload ÷ compressed; the load generator's frames are ${sentRatioOf(compressed, results)}:1): ${notes.join('; ')}`);
  }
  const nativeNotes = Object.entries(meta.native || {}).map(([impl, n]) => `${impl}: bufferutil ${n.bufferutil ? 'native' : 'not loaded'}`);
  if (nativeNotes.length) lines.push(`- Native add-ons in the servers: ${nativeNotes.join('; ')}`);
  lines.push('');
  if (rows.length) {
    lines.push('## Results');
    lines.push('');
    lines.push(
      `Each cell is the median; in brackets, the ratio to \`${BASELINE}\` (with bufferutil). ↓ marks rows where lower is ` +
        `better; elsewhere higher is better. \`raw\` is a minimal \`net\` framing server (and, for client rows, the raw load ` +
        `generator): the ceiling, not a competitor.`
    );
    lines.push('');
    lines.push(markdownTable(rows, o.impls));
    lines.push('');
    lines.push('Scenarios:');
    lines.push('');
    for (const sc of o.scenarios) if (sc.type !== 'micro') lines.push(`- \`${sc.id}\`: ${sc.title}${sc.window ? `, ${sc.window} messages in flight per connection` : ''}`);
    lines.push('');
    lines.push(...everyRun(runsTable(rows, o.impls)));
  }
  if (micro) {
    lines.push('## Codec micro-benchmarks');
    lines.push('');
    lines.push(micro.markdown.trim());
    lines.push('');
  }
  lines.push(...failedRuns(errors));
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const o = options(process.argv.slice(2));
  if (o.list) {
    for (const s of SCENARIOS) process.stdout.write(`${s.id.padEnd(18)} ${s.title}${s.unit ? ` (${s.unit})` : ''}\n`);
    process.stdout.write(`\ngroups: ${Object.entries(GROUPS).map(([k, v]) => `${k} = ${v.join(',')}`).join('\n        ')}\n`);
    return;
  }
  ensureFileLimit(o);
  if (!o.scenarios.length) fatal('nothing left to run');
  const pinning = detectPinning(o, 'load generator and clients', 'servers');
  const meta = machineMeta(pinning);
  const ctx = { o, pinning, native: {} };
  meta.native = ctx.native;
  const errors = [];

  // An implementation that cannot start (ours, while it is being written) is left out, not fatal.
  const needsServers = o.scenarios.some((s) => s.type !== 'micro' && s.type !== 'client');
  const needsClients = o.scenarios.some((s) => s.type === 'client');
  const usable = [];
  for (const impl of o.impls) {
    let reason = null;
    if (needsServers || (needsClients && impl === o.clientServer)) {
      try {
        const s = await startServer(impl, ctx);
        await s.stop();
        const want = EXPECT_NATIVE[impl];
        if (want !== undefined && s.info.native.bufferutil !== want) {
          log(`bench: warning: ${impl} server has bufferutil ${s.info.native.bufferutil ? 'loaded' : 'not loaded'}`);
        }
      } catch (err) {
        reason = err.message;
      }
    }
    // Only implementations that will run a client row need their client module to load.
    if (!reason && impl !== 'raw' && o.scenarios.some((s) => s.type === 'client' && supports(s, impl))) {
      const probe = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(impl === 'ours' ? 'websocket' : impl === 'websocket' ? 'websocket-upstream' : 'ws')})`], {
        cwd: ROOT,
        encoding: 'utf8',
      });
      if (probe.status !== 0) reason = `cannot be loaded: ${lastLines(probe.stderr, 1)}`;
    }
    if (reason) {
      log(`bench: skipping ${impl}: ${reason}`);
      errors.push(`${impl} skipped: ${reason}`);
    } else {
      usable.push(impl);
    }
  }
  o.impls = usable;
  if (needsClients && !usable.includes(o.clientServer)) {
    // The fixed server has to be usable even when it is not being compared.
    try {
      const s = await startServer(o.clientServer, ctx);
      await s.stop();
    } catch (err) {
      fatal(`the client scenarios' server ${o.clientServer} does not start: ${err.message}`);
    }
  }

  const perRun = o.warmup + o.duration + 1.5;
  const measured = o.scenarios.filter((s) => s.type !== 'micro');
  const cells = measured.reduce((n, sc) => n + o.impls.filter((impl) => supports(sc, impl)).length, 0);
  const estimate = Math.ceil((cells * o.runs * perRun) / 60);
  log(
    `bench: ${measured.length} scenario(s) × ${o.impls.length} implementation(s) × ${o.runs} run(s), about ${estimate} min` +
      `${o.scenarios.some((s) => s.type === 'micro') ? ' plus micro-benchmarks' : ''}; ${pinning.why}`
  );

  const results = {};
  let micro = null;
  for (const sc of o.scenarios) {
    if (sc.type === 'micro') {
      log('micro-benchmarks …');
      try {
        micro = await runMicro(ctx);
      } catch (err) {
        errors.push(`micro: ${err.message}`);
        log(`micro: failed: ${err.message}`);
      }
      continue;
    }
    results[sc.id] = {};
    for (let run = 1; run <= o.runs; run++) {
      for (const impl of o.impls) {
        if (!supports(sc, impl)) continue;
        let res;
        try {
          res = await runOne(sc, impl, ctx);
        } catch (err) {
          res = { ok: false, value: null, errors: [err.message] };
        }
        (results[sc.id][impl] = results[sc.id][impl] || []).push(res);
        let shown = `${fmt(res.value, sc.unit)} ${sc.unit}`;
        if (sc.type === 'latency' && res.ok) shown = `p50 ${fmt(res.p50, 'µs')} p99 ${fmt(res.p99, 'µs')} µs at ${Math.round(res.rate)} msg/s`;
        else if (sc.deflate && res.ok) shown += `, ${fmt(res.mbPerS, 'MB/s')} MB/s, echoes compressed ${res.echoRatio.toFixed(2)}:1`;
        const check = res.checked ? ` (${res.checked} echoes compared)` : '';
        log(`${sc.id.padEnd(18)} run ${run}/${o.runs} ${impl.padEnd(16)} ${res.ok ? shown + check : 'FAILED: ' + (res.errors || []).join('; ')}`);
        if (!res.ok) errors.push(`${sc.id} run ${run} ${impl}: ${(res.errors || []).join('; ') || 'no result'}${res.mismatches ? ` (${res.mismatches} echo mismatches)` : ''}`);
      }
    }
  }

  const rows = summarize(results, o);
  const md = report(meta, o, rows, micro, errors, results);
  process.stdout.write('\n' + md + '\n');
  if (o.save) {
    const options = { ...o, out: path.relative(ROOT, o.out), scenarios: o.scenarios.map((s) => s.id) };
    const json = { meta, options, rows, results, micro: micro && micro.micro, errors };
    save(o.out, meta, null, md, json);
  }
}

runMain(main);
