'use strict';
// The command line of the orchestrators (run.js, fanout/local.js, fanout/cluster.js): option
// parsing, the checks they share, and messages on stderr (stdout carries only the report).

function log(msg) {
  process.stderr.write(msg + '\n');
}

function fatal(msg) {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(2);
}

// `spec` maps each option to [key, kind]: 'flag' (no value; sets `value`), 'number' or 'string'.
// `--opt=value` and `--opt value` are both accepted; --help (-h) prints `help` and exits.
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

// Options spelled the same way by every orchestrator that has them, for parseOptions's `spec`
// (each orchestrator's help text still describes them, with its own defaults).
const RUN_OPTIONS = {
  '--runs': ['runs', 'number'],
  '--duration': ['duration', 'number'],
  '--warmup': ['warmup', 'number'],
};
const PIN_OPTIONS = {
  '--no-pin': ['pin', 'flag', false],
  '--loadgen-cpu': ['loadgenCpu', 'number'],
  '--server-cpu': ['serverCpu', 'number'],
};
const OUT_OPTIONS = {
  '--out': ['out', 'string'],
  '--no-save': ['save', 'flag', false],
};

// --runs, --duration and --warmup, each orchestrator with its own upper bounds (seconds).
function checkRunLength(o, maxDuration, maxWarmup) {
  if (!(o.runs >= 1 && o.runs <= 20)) fatal('--runs must be between 1 and 20');
  if (!(o.duration > 0 && o.duration <= maxDuration)) fatal(`--duration must be in (0, ${maxDuration}] seconds`);
  if (!(o.warmup >= 0 && o.warmup <= maxWarmup)) fatal(`--warmup must be in [0, ${maxWarmup}] seconds`);
}

module.exports = { log, fatal, parseOptions, RUN_OPTIONS, PIN_OPTIONS, OUT_OPTIONS, checkRunLength };
