'use strict';
// What local.js and cluster.js share beyond bench/lib/: the open-file limit they need, the
// machine description with the Redis clients' versions, CPU time and clocks of the children,
// percentiles and number formatting. Same conventions as bench/run.js.

const path = require('path');
const { performance } = require('perf_hooks');
const { fatal } = require('../lib/cli');
const { openFileLimit, reexecWithFileLimit } = require('../lib/file-limit');
const machine = require('../lib/machine');

const FANOUT = __dirname;
const ROOT = path.resolve(FANOUT, '..', '..');

// ---------------------------------------------------------------------------------------------
// Environment

// Each process needs about one descriptor per connection it holds. Node raises its soft limit to
// the hard limit by itself and children inherit it; past the hard limit only a shell can help
// (when allowed to), so the orchestrator re-runs itself with a higher limit (lib/file-limit.js).
function ensureFileLimit(need, script) {
  const lim = openFileLimit();
  if (!lim || lim.soft >= need) return;
  reexecWithFileLimit(need, script);
  fatal(`the open file limit is ${lim.soft} but this run needs about ${need}; run 'ulimit -n ${need}' (as a user allowed to) first, or use fewer connections`);
}

function machineInfo(extra = {}) {
  return { ...machine.machineInfo(), versions: machine.packageVersions(['redis', 'ioredis']), ...extra };
}

function machineLines(meta) {
  return machine.machineLines(meta, { redis: 'redis (node-redis)' });
}

// ---------------------------------------------------------------------------------------------
// Children

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

module.exports = {
  FANOUT,
  ROOT,
  ensureFileLimit,
  machineInfo,
  machineLines,
  sleep,
  cpuOf,
  epochMs,
  clockOffset,
  fmtRate,
  fmtUs,
  fmtPct,
  fmtRatio,
  pct,
};
