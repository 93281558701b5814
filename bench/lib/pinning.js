'use strict';
// CPU pinning: the load side on --loadgen-cpu, the server side on --server-cpu, with taskset, so
// the two do not compete for one core. Child (lib/child.js) applies the answer.

const os = require('os');
const { spawnSync } = require('child_process');

// { pinned, why }: `why` says what was done, or why not, in words for the report;
// `loadgenRole` and `serverRole` name what runs on each CPU.
function detectPinning(o, loadgenRole, serverRole) {
  if (!o.pin) return { pinned: false, why: 'disabled with --no-pin' };
  const cpus = os.cpus().length;
  if (cpus < 2) return { pinned: false, why: 'only one CPU' };
  if (Math.max(o.loadgenCpu, o.serverCpu) >= cpus) return { pinned: false, why: `CPU ${Math.max(o.loadgenCpu, o.serverCpu)} does not exist` };
  const r = spawnSync('taskset', ['-c', String(o.serverCpu), 'true']);
  if (r.error || r.status !== 0) return { pinned: false, why: 'taskset is not available' };
  return { pinned: true, why: `${loadgenRole} on CPU ${o.loadgenCpu}, ${serverRole} on CPU ${o.serverCpu} (taskset)` };
}

module.exports = { detectPinning };
