'use strict';
// Local fan-out: one server process with N idle upgraded connections, one small text message sent
// to all of them, over and over. Measures deliveries per second (counted by the clients) and the
// server's CPU time per delivery, for this package's topics (publish), its broadcastUTF, ws@8 and
// websocket@1.0.35. See bench/README.md, "Fan-out". `node bench/fanout/local.js --help`.

const path = require('path');
const { log, fatal, parseOptions, RUN_OPTIONS, PIN_OPTIONS, OUT_OPTIONS, checkRunLength } = require('../lib/cli');
const { Child, lastLines, runMain } = require('../lib/child');
const { detectPinning } = require('../lib/pinning');
const { median, heading, everyRun, failedRuns, save } = require('../lib/results');
const { FANOUT, ROOT, ensureFileLimit, machineInfo, machineLines, sleep, cpuOf, fmtRate, fmtUs, fmtPct, fmtRatio } = require('./_common');

const SERVER = path.join(FANOUT, 'server.js');
const LOADGEN = path.join(FANOUT, 'loadgen.js');
const IMPLS = ['ours', 'ours-broadcast', 'ws', 'websocket'];
const BASELINE = 'ws';

const HELP = `Usage: node bench/fanout/local.js [options]     (npm run bench:fanout -- [options])

  --impl LIST        implementations, comma separated (default: ${IMPLS.join(',')})
  --connections N    idle connections, all receiving every message (default 10000)
  --size N           message size in bytes, 28 to 65535 (default 64)
  --window N         messages published but not yet received by every connection (default 16)
  --burst N          messages published per event-loop turn, at most --window (default 1): a burst
                     shows what batching writes per connection is worth
  --runs N           runs per implementation, median reported (default 3)
  --duration S       measured seconds per run (default 5)
  --warmup S         unmeasured seconds before each run (default 2)
  --no-pin           do not pin the server and the load generator to CPUs
  --loadgen-cpu N    CPU for the load generator (default 0)
  --server-cpu N     CPU for the server (default 1)
  --out DIR          where results go (default bench/results)
  --no-save          print the table only
`;

function options() {
  const o = parseOptions(
    process.argv.slice(2),
    {
      impl: IMPLS.join(','),
      connections: 10000,
      size: 64,
      window: 16,
      burst: 1,
      runs: 3,
      duration: 5,
      warmup: 2,
      pin: true,
      loadgenCpu: 0,
      serverCpu: 1,
      out: path.join(ROOT, 'bench', 'results'),
      save: true,
    },
    {
      '--impl': ['impl', 'string'],
      '--connections': ['connections', 'number'],
      '--size': ['size', 'number'],
      '--window': ['window', 'number'],
      '--burst': ['burst', 'number'],
      ...RUN_OPTIONS,
      ...PIN_OPTIONS,
      ...OUT_OPTIONS,
    },
    HELP
  );
  o.impls = o.impl.split(',').map((x) => x.trim()).filter(Boolean);
  for (const i of o.impls) if (!IMPLS.includes(i)) fatal(`unknown implementation ${i} (${IMPLS.join(', ')})`);
  if (!(o.connections >= 1 && o.connections <= 60000)) fatal('--connections must be between 1 and 60000');
  if (!(o.size >= 28 && o.size <= 65535)) fatal('--size must be between 28 and 65535');
  if (!(o.window >= 1 && o.window <= 1024)) fatal('--window must be between 1 and 1024');
  if (!(o.burst >= 1 && o.burst <= o.window)) fatal('--burst must be between 1 and --window');
  checkRunLength(o, 120, 60);
  o.out = path.resolve(o.out);
  return o;
}

// ---------------------------------------------------------------------------------------------
// One run: a fresh server and a fresh load generator.

async function runOne(impl, o, pinning) {
  const server = new Child(`${impl} server`, SERVER, ['--impl', impl, '--size', String(o.size)], { cpu: o.serverCpu, pinning });
  let lg = null;
  try {
    const info = await server.next((m) => typeof m.port === 'number', 15000);
    lg = new Child(
      'load generator',
      LOADGEN,
      ['--ports', String(info.port), '--connections', String(o.connections), '--size', String(o.size), '--window', String(o.window), '--warmup', String(o.warmup), '--duration', String(o.duration)],
      { cpu: o.loadgenCpu, pinning }
    );
    const opened = await lg.next((m) => m.event === 'opened' || m.result, 300000);
    if (opened.result) return opened.result;

    // Every connection must be there (and subscribed) before the first message.
    let count = null;
    for (let i = 0; i < 50; i++) {
      server.send('count');
      count = (await server.next((m) => 'count' in m, 10000)).count;
      if (count && count.connections === o.connections && count.subscribers === o.connections) break;
      await sleep(100);
    }
    if (!count || count.connections !== o.connections || count.subscribers !== o.connections) {
      return { ok: false, errors: [`server has ${count && count.connections} connections and ${count && count.subscribers} subscribers, expected ${o.connections}`] };
    }

    // The load generator's acks go straight to the server.
    lg.onMessage = (m) => {
      if (m.ack === undefined) return false;
      server.send(`ack ${m.ack}`);
      return true;
    };
    lg.send('go');
    server.send(`start window ${o.window} ${o.burst}`);
    const bound = (o.warmup + o.duration) * 1000 + 30000;
    const first = await lg.next((m) => m.event === 'measuring' || m.result, bound);
    if (first.result) return first.result;
    const cpu0 = await cpuOf(server);
    const { result } = await lg.next((m) => m.result, bound);
    const cpu1 = await cpuOf(server);
    if (server.exited) throw new Error(`server exited during the run: ${lastLines(server.stderr)}`);
    if (!result.ok) return result;
    // Nothing may be lost on one process: every connection must get every message.
    if (result.lostTotal > 0) return { ...result, ok: false, errors: [`${result.lostTotal} deliveries never arrived`] };
    const cpu = cpu1.cpu - cpu0.cpu;
    return {
      ...result,
      serverUsPerDelivery: cpu / result.deliveries,
      serverUserUsPerDelivery: (cpu1.user - cpu0.user) / result.deliveries,
      serverCpuPct: (cpu / (cpu1.wall - cpu0.wall)) * 100,
      blockedPct: ((cpu1.blocked - cpu0.blocked) / (cpu1.wall - cpu0.wall)) * 100,
      published: cpu1.published,
    };
  } finally {
    if (lg) await lg.stop();
    await server.stop();
  }
}

// ---------------------------------------------------------------------------------------------

const METRICS = [
  { key: 'deliveriesPerS', fmt: fmtRate },
  { key: 'serverUsPerDelivery', fmt: fmtUs },
  { key: 'serverUserUsPerDelivery', fmt: fmtUs },
  { key: 'serverCpuPct', fmt: fmtPct },
  { key: 'loadgenCpuPct', fmt: fmtPct },
  { key: 'blockedPct', fmt: fmtPct },
];

function summarize(results, impls) {
  const rows = {};
  for (const impl of impls) {
    const runs = results[impl] || [];
    const ok = runs.filter((r) => r.ok);
    const row = { runs: runs.length, failed: runs.length - ok.length };
    for (const m of METRICS) row[m.key] = median(ok.map((r) => r[m.key]));
    rows[impl] = row;
  }
  return rows;
}

function markdownTable(rows, impls) {
  const base = rows[BASELINE] || null;
  const out = [
    '| impl | deliveries/s | ÷ ws | server CPU µs/delivery ↓ | ÷ ws | of which user µs ↓ | server core busy | load generator core busy | server waiting for acks |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const impl of impls) {
    const r = rows[impl];
    if (!r.runs) continue;
    if (r.failed === r.runs) {
      out.push(`| ${impl} | failed | | | | | | | |`);
      continue;
    }
    const failed = r.failed ? ` *${r.failed} failed*` : '';
    out.push(
      `| ${impl}${failed} | ${fmtRate(r.deliveriesPerS)} | ${base ? fmtRatio(r.deliveriesPerS, base.deliveriesPerS) : ''} | ` +
        `${fmtUs(r.serverUsPerDelivery)} | ${base ? fmtRatio(r.serverUsPerDelivery, base.serverUsPerDelivery) : ''} | ` +
        `${fmtUs(r.serverUserUsPerDelivery)} | ${fmtPct(r.serverCpuPct)} | ${fmtPct(r.loadgenCpuPct)} | ${fmtPct(r.blockedPct)} |`
    );
  }
  return out.join('\n');
}

function runsTable(results, impls) {
  const out = ['| impl | deliveries/s | server CPU µs/delivery | server waiting for acks | load generator core busy |', '|---|---|---|---|---|'];
  for (const impl of impls) {
    const runs = results[impl] || [];
    const each = (key, f) => runs.map((r) => (r.ok ? f(r[key]) : 'failed')).join(', ');
    out.push(
      `| ${impl} | ${each('deliveriesPerS', fmtRate)} | ${each('serverUsPerDelivery', fmtUs)} | ${each('blockedPct', fmtPct)} | ${each('loadgenCpuPct', fmtPct)} |`
    );
  }
  return out.join('\n');
}

// What the busy columns say about the run.
function notes(rows, impls) {
  const out = [];
  for (const impl of impls) {
    const r = rows[impl];
    if (!r || r.loadgenCpuPct === null) continue;
    // A server that never waited for acks was the bottleneck, whatever the load generator's load:
    // a load generator that falls behind reads several frames per read() and catches up.
    if (r.blockedPct !== null && r.blockedPct >= 5) {
      out.push(
        `\`${impl}\`: the server waited for acks ${Math.round(r.blockedPct)} % of the time (load generator ${Math.round(r.loadgenCpuPct)} % busy), ` +
          `so deliveries/s is partly the load generator's or the window's limit; a larger --window helps if the load generator is not saturated. CPU per delivery still holds.`
      );
    }
    if (r.serverCpuPct !== null && r.blockedPct !== null && r.serverCpuPct + r.blockedPct < 85) {
      out.push(`\`${impl}\`: the server was neither busy nor waiting for ${Math.round(100 - r.serverCpuPct - r.blockedPct)} % of the time: other processes were probably using its core; deliveries/s is low, CPU per delivery still holds.`);
    }
  }
  return out;
}

function report(meta, o, rows, results, errors) {
  const lines = [];
  lines.push(heading('Fan-out benchmark (local)', meta));
  lines.push('');
  lines.push(...machineLines(meta));
  lines.push(`- Pinning: ${meta.pinning}`);
  lines.push(
    `- Method: ${o.connections.toLocaleString('en-US')} idle connections on one server process, each message ${o.size} B of ASCII text sent ` +
      `to all of them; at most ${o.window} messages not yet received by every connection, ${o.burst} published per event-loop turn; ${o.runs} run(s) per implementation, ` +
      `interleaved (A B C A B C), each on a fresh server and load generator; ${o.warmup} s warm-up, then ${o.duration} s measured; median shown.`
  );
  lines.push(
    '- Send paths: `ours` = `server.publish(topic, text)` to a topic every connection subscribed to; `ours-broadcast` = `server.broadcastUTF(text)`; ' +
      '`ws` = `for (const c of wss.clients) c.send(buf, { binary: false })`, the text made a Buffer once per message; ' +
      '`websocket` = upstream 1.0.35 `server.broadcastUTF(text)`.'
  );
  lines.push('');
  lines.push('## Results');
  lines.push('');
  lines.push(
    'Deliveries are messages × connections that received them, counted by the load generator. Server CPU is `process.cpuUsage()` of the server ' +
      'over the measured period (user + system: most of the system part is the kernel carrying each write across loopback TCP), divided by the deliveries. ' +
      '"÷ ws" divides by the `ws` median. "Core busy" is CPU time ÷ wall time of each process; "waiting for acks" is the share of the ' +
      'measured time the server had a full window and nothing to do.'
  );
  lines.push('');
  lines.push(markdownTable(rows, o.impls));
  lines.push('');
  const n = notes(rows, o.impls);
  if (n.length) {
    for (const x of n) lines.push(`- ${x}`);
    lines.push('');
  }
  lines.push(...everyRun(runsTable(results, o.impls)));
  lines.push(...failedRuns(errors));
  return lines.join('\n');
}

async function main() {
  const o = options();
  ensureFileLimit(o.connections + 512, __filename);
  const pinning = detectPinning(o, 'load generator', 'server');
  const meta = machineInfo({ pinning: pinning.why });
  const errors = [];
  log(
    `bench: fan-out to ${o.connections} connections, ${o.impls.length} implementation(s) × ${o.runs} run(s), ` +
      `about ${Math.ceil((o.impls.length * o.runs * (o.warmup + o.duration + 5)) / 60)} min; ${pinning.why}`
  );
  const results = {};
  for (let run = 1; run <= o.runs; run++) {
    for (const impl of o.impls) {
      let res;
      try {
        res = await runOne(impl, o, pinning);
      } catch (err) {
        res = { ok: false, errors: [err.message] };
      }
      (results[impl] = results[impl] || []).push(res);
      const shown = res.ok
        ? `${fmtRate(res.deliveriesPerS)} deliveries/s, ${fmtUs(res.serverUsPerDelivery)} µs server CPU/delivery, ` +
          `server ${fmtPct(res.serverCpuPct)}, load generator ${fmtPct(res.loadgenCpuPct)}`
        : `FAILED: ${(res.errors || []).join('; ')}`;
      log(`fanout run ${run}/${o.runs} ${impl.padEnd(15)} ${shown}`);
      if (!res.ok) errors.push(`run ${run} ${impl}: ${(res.errors || []).join('; ') || 'no result'}`);
    }
  }
  const rows = summarize(results, o.impls);
  const md = report(meta, o, rows, results, errors);
  process.stdout.write('\n' + md + '\n');
  if (o.save) {
    save(o.out, meta, o.burst > 1 ? `fanout-burst${o.burst}` : 'fanout', md, { meta, options: { ...o, out: path.relative(ROOT, o.out) }, rows, results, errors });
  }
}

runMain(main);
