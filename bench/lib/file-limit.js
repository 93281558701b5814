'use strict';
// The open file limit (RLIMIT_NOFILE): every connection a process holds costs it a descriptor.

const fs = require('fs');
const { spawnSync } = require('child_process');

// { soft, hard } (Infinity for unlimited), or null where /proc does not say (not Linux).
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

// Node raises its soft RLIMIT_NOFILE to the hard limit when it starts, but cannot go past the
// hard limit. A shell can, when it is allowed to (root, or a generous limits.conf), so the
// orchestrator re-runs itself (`script`, with the same arguments) through
// `bash -c 'ulimit -n N; exec node ...'`; every child inherits the limit. When that works, this
// process exits with the re-run's status; it returns only when the limit cannot be raised (or
// this already is the re-run), and the caller decides what to do without.
const CANNOT_RAISE = 97;

function reexecWithFileLimit(target, script) {
  if (process.env.BENCH_ULIMIT_REEXEC) return;
  const r = spawnSync(
    'bash',
    ['-c', `ulimit -n ${target} 2>/dev/null || exit ${CANNOT_RAISE}; exec "$@"`, 'bash', process.execPath, ...process.execArgv, script, ...process.argv.slice(2)],
    { stdio: 'inherit', env: { ...process.env, BENCH_ULIMIT_REEXEC: '1' } }
  );
  if (!r.error && r.status !== CANNOT_RAISE) process.exit(r.status === null ? 1 : r.status);
}

module.exports = { openFileLimit, reexecWithFileLimit };
