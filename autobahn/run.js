'use strict';
// Runs the Autobahn WebSocket test suite against our server and/or client and checks the result.
//
//   node autobahn/run.js [server|client|all] [--cases 1.*,2.*] [--update]
//
// The suite is found, in this order: `wstest` on PATH; AUTOBAHN_TESTSUITE_DIR (a directory that
// contains the `autobahntestsuite` Python package); the Docker image crossbario/autobahn-testsuite
// when a Docker engine answers. AUTOBAHN_IMPL=ours|upstream picks the implementation under test.
//
// Exit status: 0 when every case is OK/INFORMATIONAL or matches its entry in expected.json,
// 1 on any unexpected result, 2 when the run itself could not be done.

const fs = require('fs');
const net = require('net');
const path = require('path');
const readline = require('readline');
const { spawn, spawnSync } = require('child_process');
const { selectedImpl } = require('./impl');

const DIR = __dirname;
const REPORTS = path.join(DIR, 'reports');
const DOCKER_IMAGE = 'crossbario/autobahn-testsuite';
const CLEAN = new Set(['OK', 'INFORMATIONAL']);
const BEHAVIORS = ['OK', 'NON-STRICT', 'INFORMATIONAL', 'UNIMPLEMENTED', 'FAILED'];

// The spec is named after wstest's mode: its fuzzing client tests our server, and vice versa.
const SPEC_FILES = { server: 'fuzzingclient.json', client: 'fuzzingserver.json' };

class SetupError extends Error {}

// ---------------------------------------------------------------------------------------------
// Command line

function usage() {
  return [
    'usage: node autobahn/run.js [server|client|all] [--cases 1.*,2.*] [--update]',
    '  server     wstest -m fuzzingclient against autobahn/echo-server.js',
    '  client     wstest -m fuzzingserver against autobahn/client.js',
    '  all        both, one after the other (default)',
    '  --cases    run only these case ids/patterns (comma separated, * is a wildcard)',
    '  --update   write the normalised results to autobahn/results-<side>.json',
    'env: AUTOBAHN_IMPL=ours|upstream, AUTOBAHN_TESTSUITE_DIR=<dir>, AUTOBAHN_PYTHON=<python3>',
  ].join('\n');
}

function parseArgs(argv) {
  const opts = { sides: ['server', 'client'], cases: null, update: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === 'server' || arg === 'client') opts.sides = [arg];
    else if (arg === 'all') opts.sides = ['server', 'client'];
    else if (arg === '--update') opts.update = true;
    else if (arg === '--cases' || arg.startsWith('--cases=')) {
      const value = arg === '--cases' ? argv[++i] : arg.slice('--cases='.length);
      if (!value) throw new SetupError('--cases needs a list, e.g. --cases 1.*,2.*');
      opts.cases = value.split(',').map((s) => s.trim()).filter(Boolean);
      const bad = opts.cases.filter((c) => !/^[0-9*]+(\.[0-9*]+)*$/.test(c));
      if (bad.length) throw new SetupError(`not a case id or pattern: ${bad.join(', ')}`);
    } else if (arg === '-h' || arg === '--help') {
      console.log(usage());
      process.exit(0);
    } else {
      throw new SetupError(`unknown argument "${arg}"\n${usage()}`);
    }
  }
  return opts;
}

// ---------------------------------------------------------------------------------------------
// Finding the suite

function onPath(name) {
  const exts = process.platform === 'win32' ? ['.exe', '.cmd', '.bat', ''] : [''];
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    if (!dir) continue;
    for (const ext of exts) {
      const file = path.join(dir, name + ext);
      try {
        fs.accessSync(file, fs.constants.X_OK);
        if (fs.statSync(file).isFile()) return file;
      } catch {
        // not here
      }
    }
  }
  return null;
}

function pythonExecutable() {
  if (process.env.AUTOBAHN_PYTHON) return process.env.AUTOBAHN_PYTHON;
  // The system interpreter is where distro packages (python3-autobahn, python3-twisted) live;
  // a pyenv or venv `python3` earlier on PATH usually lacks them.
  if (fs.existsSync('/usr/bin/python3')) return '/usr/bin/python3';
  return 'python3';
}

function dockerAnswers() {
  if (!onPath('docker')) return false;
  const r = spawnSync('docker', ['info'], { stdio: 'ignore', timeout: 15000 });
  return r.status === 0;
}

// A suite knows how to build the command for one wstest invocation. Spec and report paths are
// always inside autobahn/, which is the working directory (or the mounted volume for Docker).
function locateSuite() {
  const wstest = onPath('wstest');
  if (wstest) {
    return {
      describe: `wstest on PATH (${wstest})`,
      command: (args) => ({ cmd: wstest, args, env: {} }),
      toSuitePath: (p) => p,
    };
  }

  const dirVar = process.env.AUTOBAHN_TESTSUITE_DIR;
  if (dirVar) {
    let dir = path.resolve(dirVar);
    // Accept the package directory itself as well as its parent.
    if (path.basename(dir) === 'autobahntestsuite' && fs.existsSync(path.join(dir, 'wstest.py'))) {
      dir = path.dirname(dir);
    }
    if (!fs.existsSync(path.join(dir, 'autobahntestsuite', 'wstest.py'))) {
      throw new SetupError(
        `AUTOBAHN_TESTSUITE_DIR=${dirVar} does not contain the autobahntestsuite package ` +
          `(expected ${path.join(dir, 'autobahntestsuite', 'wstest.py')})`,
      );
    }
    const python = pythonExecutable();
    const pythonPath = [dir, process.env.PYTHONPATH].filter(Boolean).join(path.delimiter);
    return {
      describe: `${python} -m autobahntestsuite.wstest from ${dir}`,
      command: (args) => ({
        cmd: python,
        args: ['-m', 'autobahntestsuite.wstest', ...args],
        env: { PYTHONPATH: pythonPath },
      }),
      toSuitePath: (p) => p,
    };
  }

  if (dockerAnswers()) {
    const user = typeof process.getuid === 'function' ? ['--user', `${process.getuid()}:${process.getgid()}`] : [];
    return {
      describe: `docker image ${DOCKER_IMAGE} (pulled on first use)`,
      docker: true,
      command: (args, containerName) => ({
        cmd: 'docker',
        args: [
          'run', '--rm', '--name', containerName,
          // The testees listen on and dial 127.0.0.1 of the host.
          '--network', 'host',
          '-e', 'PYTHONUNBUFFERED=1',
          '-v', `${DIR}:/autobahn`, '-w', '/autobahn',
          ...user,
          '--entrypoint', 'wstest',
          DOCKER_IMAGE,
          ...args,
        ],
        env: {},
      }),
      toSuitePath: (p) => path.posix.join('/autobahn', path.relative(DIR, p).split(path.sep).join('/')),
    };
  }

  throw new SetupError(
    [
      'The Autobahn test suite (wstest) was not found. Provide it in one of these ways:',
      '  1. put `wstest` on PATH (`pip install autobahntestsuite` in a Python 2.7 environment,',
      '     or a Python 3 port of the suite installed with pip);',
      '  2. set AUTOBAHN_TESTSUITE_DIR to a directory that contains the `autobahntestsuite` Python',
      '     package of a Python 3 port, with its dependencies installed for python3, e.g. on Debian:',
      '     apt-get install python3-autobahn python3-twisted python3-jinja2 python3-openssl python3-service-identity',
      `  3. start a Docker engine; the image ${DOCKER_IMAGE} is pulled on first use.`,
      'See autobahn/README.md.',
    ].join('\n'),
  );
}

// ---------------------------------------------------------------------------------------------
// Processes

const running = new Set();

function start(name, cmd, args, { env = {}, logFile, onLine } = {}) {
  const child = spawn(cmd, args, {
    cwd: DIR,
    env: { ...process.env, PYTHONUNBUFFERED: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = logFile ? fs.createWriteStream(logFile) : null;
  const tail = [];
  const handle = { name, child, tail, exited: false, code: null, signal: null };
  for (const stream of [child.stdout, child.stderr]) {
    readline.createInterface({ input: stream }).on('line', (line) => {
      if (log) log.write(line + '\n');
      tail.push(line);
      if (tail.length > 40) tail.shift();
      if (onLine) onLine(line);
    });
  }
  handle.done = new Promise((resolve) => {
    child.on('error', (err) => {
      tail.push(`${name}: ${err.message}`);
      handle.exited = true;
      handle.code = -1;
      running.delete(handle);
      resolve(handle);
    });
    child.on('exit', (code, signal) => {
      handle.exited = true;
      handle.code = code;
      handle.signal = signal;
      running.delete(handle);
      // Let the last buffered lines reach the log before anyone reads it.
      setImmediate(() => {
        if (log) log.end();
        resolve(handle);
      });
    });
  });
  running.add(handle);
  return handle;
}

async function stop(handle, graceMs = 3000) {
  if (handle.exited) return handle.done;
  if (handle.containerName) {
    spawnSync('docker', ['rm', '-f', handle.containerName], { stdio: 'ignore', timeout: 20000 });
  }
  handle.child.kill('SIGTERM');
  const timer = setTimeout(() => handle.child.kill('SIGKILL'), graceMs);
  await handle.done;
  clearTimeout(timer);
  return handle;
}

function stopAllNow() {
  for (const handle of running) {
    if (handle.containerName) spawnSync('docker', ['rm', '-f', handle.containerName], { stdio: 'ignore' });
    handle.child.kill('SIGKILL');
  }
}

function exitText(handle) {
  return handle.signal ? `was killed by ${handle.signal}` : `exited with code ${handle.code}`;
}

function tailText(handle) {
  return handle.tail.map((l) => `    ${l}`).join('\n');
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port) {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

async function waitFor(what, check, handle, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (handle.exited) {
      throw new SetupError(`${handle.name} ${exitText(handle)} before ${what}:\n${tailText(handle)}`);
    }
    if (Date.now() > deadline) throw new SetupError(`timed out waiting for ${what}:\n${tailText(handle)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// ---------------------------------------------------------------------------------------------
// Running one side

// Follows wstest's console output: the list of cases it will run, and a progress line.
function progressTracker(side) {
  const state = { total: null, caseIds: null, n: 0, group: null };
  const tty = process.stdout.isTTY;
  state.onLine = (line) => {
    let m = /will run (\d+) test cases/.exec(line);
    if (m) state.total = Number(m[1]);
    if (/^Cases = \[/.test(line)) {
      state.caseIds = Array.from(line.matchAll(/'(\d+(?:\.\d+)*)'/g), (x) => x[1]);
    }
    m = /Running test case ID (\S+)/.exec(line);
    if (m) {
      state.n++;
      const id = m[1];
      const total = state.total != null ? `/${state.total}` : '';
      if (tty) {
        process.stdout.write(`\r  ${side}: case ${state.n}${total} (${id})      `);
      } else {
        const group = id.split('.')[0];
        if (group !== state.group) {
          state.group = group;
          console.log(`  ${side}: case ${state.n}${total}, group ${group}.*`);
        }
      }
    }
  };
  state.finish = () => {
    if (tty && state.n) process.stdout.write('\n');
  };
  return state;
}

function readSpec(side) {
  return JSON.parse(fs.readFileSync(path.join(DIR, SPEC_FILES[side]), 'utf8'));
}

function writeRunSpec(side, spec) {
  const file = path.join(REPORTS, `spec-${side}.json`);
  fs.writeFileSync(file, JSON.stringify(spec, null, 2) + '\n');
  return file;
}

async function runServerSide(suite, impl, opts, progress) {
  const spec = readSpec('server');
  const testee = start('echo-server', process.execPath, [path.join(DIR, 'echo-server.js'), '0'], {
    logFile: path.join(REPORTS, 'testee-server.log'),
  });
  try {
    const port = await waitFor(
      'the echo server listens',
      async () => {
        for (const line of testee.tail) {
          const m = /^listening on ws:\/\/127\.0\.0\.1:(\d+)/.exec(line);
          if (m) return Number(m[1]);
        }
        return null;
      },
      testee,
      15000,
    );
    const server = { ...(spec.servers && spec.servers[0]), agent: impl.agent, url: `ws://127.0.0.1:${port}` };
    const runSpec = { ...spec, servers: [server] };
    if (opts.cases) runSpec.cases = opts.cases;
    const specPath = writeRunSpec('server', runSpec);

    const containerName = `autobahn-server-${process.pid}`;
    const c = suite.command(['-m', 'fuzzingclient', '-s', suite.toSuitePath(specPath)], containerName);
    const wstest = start('wstest', c.cmd, c.args, {
      env: c.env,
      logFile: path.join(REPORTS, 'wstest-server.log'),
      onLine: progress.onLine,
    });
    if (suite.docker) wstest.containerName = containerName;
    await wstest.done;
    progress.finish();
    if (wstest.code !== 0) {
      throw new SetupError(`wstest ${exitText(wstest)} (log: autobahn/reports/wstest-server.log):\n${tailText(wstest)}`);
    }
    return { outdir: spec.outdir, testeeCrashed: testee.exited ? testee : null };
  } finally {
    await stop(testee);
  }
}

async function runClientSide(suite, impl, opts, progress) {
  const spec = readSpec('client');
  const port = await freePort();
  const runSpec = { ...spec, url: `ws://127.0.0.1:${port}` };
  if (opts.cases) runSpec.cases = opts.cases;
  const specPath = writeRunSpec('client', runSpec);

  const containerName = `autobahn-client-${process.pid}`;
  // --webport 0: no report web server, so there is one port less to find free.
  const c = suite.command(['-m', 'fuzzingserver', '-s', suite.toSuitePath(specPath), '--webport', '0'], containerName);
  const wstest = start('wstest', c.cmd, c.args, {
    env: c.env,
    logFile: path.join(REPORTS, 'wstest-client.log'),
    onLine: progress.onLine,
  });
  if (suite.docker) wstest.containerName = containerName;
  try {
    // A Docker image may be pulled first, hence the long wait.
    await waitFor('the fuzzing server listens', () => canConnect(port), wstest, suite.docker ? 600000 : 60000);
    const testee = start('client', process.execPath, [
      path.join(DIR, 'client.js'), '--url', `ws://127.0.0.1:${port}`, '--agent', impl.agent,
    ], { logFile: path.join(REPORTS, 'testee-client.log') });
    await testee.done;
    progress.finish();
    if (testee.code !== 0) {
      return { outdir: spec.outdir, testeeCrashed: testee };
    }
    return { outdir: spec.outdir, testeeCrashed: null };
  } finally {
    await stop(wstest);
  }
}

// ---------------------------------------------------------------------------------------------
// Results

function compareCaseIds(a, b) {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] === undefined ? -1 : pa[i]) - (pb[i] === undefined ? -1 : pb[i]);
    if (d) return d;
  }
  return 0;
}

function sortedCases(cases) {
  const out = {};
  for (const id of Object.keys(cases).sort(compareCaseIds)) out[id] = cases[id];
  return out;
}

// Durations and report file names change on every run; what is left is what the testee did.
function normalise(agentResults) {
  const cases = {};
  for (const [id, r] of Object.entries(agentResults)) {
    cases[id] = {
      behavior: r.behavior,
      behaviorClose: r.behaviorClose,
      remoteCloseCode: r.remoteCloseCode === undefined ? null : r.remoteCloseCode,
    };
  }
  return sortedCases(cases);
}

function summarise(cases) {
  const behavior = {};
  const behaviorClose = {};
  for (const r of Object.values(cases)) {
    behavior[r.behavior] = (behavior[r.behavior] || 0) + 1;
    behaviorClose[r.behaviorClose] = (behaviorClose[r.behaviorClose] || 0) + 1;
  }
  const sortKeys = (o) => Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));
  return { behavior: sortKeys(behavior), behaviorClose: sortKeys(behaviorClose) };
}

function resultsFileName(side, impl) {
  return impl.name === 'ours' ? `results-${side}.json` : `results-${side}.${impl.name}.json`;
}

// One case per line, so that `git diff` of a results file reads as a list of changed cases.
function formatResults(doc) {
  const lines = ['{'];
  lines.push(`  "agent": ${JSON.stringify(doc.agent)},`);
  lines.push(`  "side": ${JSON.stringify(doc.side)},`);
  lines.push(`  "summary": ${JSON.stringify(doc.summary)},`);
  lines.push('  "cases": {');
  const ids = Object.keys(doc.cases);
  ids.forEach((id, i) => {
    const r = doc.cases[id];
    const body = JSON.stringify({ behavior: r.behavior, behaviorClose: r.behaviorClose, remoteCloseCode: r.remoteCloseCode });
    lines.push(`    ${JSON.stringify(id)}: ${body}${i < ids.length - 1 ? ',' : ''}`);
  });
  lines.push('  }');
  lines.push('}');
  return lines.join('\n') + '\n';
}

function readJson(file) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    if (err.code === 'ENOENT') return null;
    throw new SetupError(`cannot read ${path.relative(process.cwd(), file)}: ${err.message}`);
  }
}

function describeResult(r) {
  if (!r) return '(absent)';
  const code = r.remoteCloseCode == null ? '' : ` ${r.remoteCloseCode}`;
  return `${r.behavior}/${r.behaviorClose}${code}`;
}

function printSummary(side, agent, cases) {
  const { behavior, behaviorClose } = summarise(cases);
  const total = Object.keys(cases).length;
  const rowsA = BEHAVIORS.concat(Object.keys(behavior).filter((b) => !BEHAVIORS.includes(b)));
  const rowsB = Object.keys(behaviorClose);
  console.log(`\n${side} (${agent}): ${total} cases`);
  console.log(`  ${'behavior'.padEnd(16)}${'count'.padStart(6)}     ${'behaviorClose'.padEnd(18)}${'count'.padStart(6)}`);
  for (let i = 0; i < Math.max(rowsA.length, rowsB.length); i++) {
    const a = rowsA[i] !== undefined ? `${rowsA[i].padEnd(16)}${String(behavior[rowsA[i]] || 0).padStart(6)}` : ' '.repeat(22);
    const b = rowsB[i] !== undefined ? `${rowsB[i].padEnd(18)}${String(behaviorClose[rowsB[i]]).padStart(6)}` : '';
    console.log(`  ${a}     ${b}`.trimEnd());
  }
}

function accepts(spec, value) {
  if (spec === undefined) return true;
  return Array.isArray(spec) ? spec.includes(value) : spec === value;
}

function checkAgainstExpected(side, impl, cases, ranIds, fullRun) {
  const expectedDoc = readJson(path.join(DIR, 'expected.json')) || {};
  const section = impl.name === 'ours' ? expectedDoc : expectedDoc[impl.name] || {};
  const expected = section[side] || {};
  const problems = [];
  let known = 0;

  // A key may be a pattern such as "12.*", for a whole group that fails for one reason;
  // an entry for the exact id wins over a pattern.
  const patterns = Object.keys(expected)
    .filter((key) => key.includes('*'))
    .map((key) => ({ key, re: new RegExp(`^${key.split('*').map((p) => p.replace(/\./g, '\\.')).join('.*')}$`) }));
  const entryFor = (id) => {
    if (Object.prototype.hasOwnProperty.call(expected, id)) return expected[id];
    const p = patterns.find(({ re }) => re.test(id));
    return p ? expected[p.key] : undefined;
  };

  for (const [key, exp] of Object.entries(expected)) {
    if (!exp || typeof exp.reason !== 'string' || !exp.reason.trim()) {
      problems.push(`${key}: the expected.json entry has no "reason"`);
    }
    if (!exp || exp.behavior === undefined) problems.push(`${key}: the expected.json entry has no "behavior"`);
    if (fullRun) {
      const p = patterns.find((x) => x.key === key);
      const used = p ? ranIds.some((id) => p.re.test(id)) : ranIds.includes(key);
      if (!used) problems.push(`${key}: listed in expected.json but matches no case of the suite`);
    }
  }

  for (const id of ranIds) {
    const r = cases[id];
    if (!r) {
      problems.push(`${id}: no result in the report (did the testee crash or hang?)`);
      continue;
    }
    const exp = entryFor(id);
    const clean = CLEAN.has(r.behavior) && CLEAN.has(r.behaviorClose);
    if (exp) {
      if (accepts(exp.behavior, r.behavior) && accepts(exp.behaviorClose, r.behaviorClose)) {
        known++;
      } else if (clean) {
        problems.push(`${id}: ${describeResult(r)}, better than expected.json says${exp.reason ? ` (${exp.reason})` : ''}; remove or update the entry`);
      } else {
        const want = `${[].concat(exp.behavior).join('|')}/${exp.behaviorClose === undefined ? '*' : [].concat(exp.behaviorClose).join('|')}`;
        problems.push(`${id}: ${describeResult(r)}, expected.json expects ${want}${exp.reason ? ` (${exp.reason})` : ''}`);
      }
    } else if (!clean) {
      problems.push(`${id}: ${describeResult(r)} (not listed in expected.json)`);
    }
  }
  return { problems, known };
}

function diffAgainstBaseline(side, impl, cases, ranIds, fullRun) {
  const file = resultsFileName(side, impl);
  const baseline = readJson(path.join(DIR, file));
  if (!baseline) {
    console.log(`\n  no autobahn/${file} yet; run with --update to create it`);
    return;
  }
  const old = baseline.cases || {};
  const ids = new Set(ranIds);
  if (fullRun) for (const id of Object.keys(old)) ids.add(id);
  const lines = [];
  for (const id of [...ids].sort(compareCaseIds)) {
    const a = old[id];
    const b = cases[id];
    if (a && !b) lines.push(`  - ${id.padEnd(10)} ${describeResult(a)}`);
    else if (!a && b) lines.push(`  + ${id.padEnd(10)} ${describeResult(b)}`);
    else if (a && b && describeResult(a) !== describeResult(b)) {
      lines.push(`  ~ ${id.padEnd(10)} ${describeResult(a)} -> ${describeResult(b)}`);
    }
  }
  if (lines.length === 0) {
    console.log(`\n  no change against autobahn/${file}${fullRun ? '' : ' (for the cases run)'}`);
  } else {
    console.log(`\n  changes against autobahn/${file} (behavior/behaviorClose closeCode):`);
    for (const l of lines) console.log(l);
  }
}

function writeResults(side, impl, cases, target, merge) {
  let all = cases;
  if (merge) {
    const previous = readJson(target);
    all = sortedCases({ ...((previous && previous.cases) || {}), ...cases });
  }
  const doc = { agent: impl.agent, side, summary: summarise(all), cases: all };
  fs.writeFileSync(target, formatResults(doc));
}

async function runSide(side, suite, impl, opts) {
  console.log(`\n== Autobahn ${side} side: ${impl.agent} (AUTOBAHN_IMPL=${impl.name}), cases ${opts.cases ? opts.cases.join(',') : '*'}`);
  const spec = readSpec(side);
  const outdir = path.resolve(DIR, spec.outdir);
  fs.rmSync(outdir, { recursive: true, force: true });
  fs.mkdirSync(outdir, { recursive: true });

  const progress = progressTracker(side);
  const started = Date.now();
  const run = side === 'server'
    ? await runServerSide(suite, impl, opts, progress)
    : await runClientSide(suite, impl, opts, progress);
  console.log(`  finished in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  const index = readJson(path.join(outdir, 'index.json'));
  if (!index || !index[impl.agent]) {
    const why = run.testeeCrashed ? `\n  ${run.testeeCrashed.name} ${exitText(run.testeeCrashed)}:\n${tailText(run.testeeCrashed)}` : '';
    throw new SetupError(`no results for agent "${impl.agent}" in ${path.relative(process.cwd(), path.join(outdir, 'index.json'))}${why}`);
  }
  const cases = normalise(index[impl.agent]);
  const fullRun = !opts.cases;
  // The ids wstest announced, so that a case without a result is noticed.
  const listed = progress.caseIds && (progress.total == null || progress.caseIds.length === progress.total)
    ? progress.caseIds
    : null;
  const ranIds = [...(listed || Object.keys(cases))].sort(compareCaseIds);
  const complete = !run.testeeCrashed && ranIds.every((id) => cases[id]) &&
    (listed || progress.total == null || Object.keys(cases).length === progress.total);

  printSummary(side, impl.agent, cases);
  diffAgainstBaseline(side, impl, cases, ranIds, fullRun);

  writeResults(side, impl, cases, path.join(REPORTS, resultsFileName(side, impl)), false);
  if (opts.update && !complete) {
    console.log(`  not writing autobahn/${resultsFileName(side, impl)}: the run is incomplete`);
  } else if (opts.update) {
    const target = path.join(DIR, resultsFileName(side, impl));
    writeResults(side, impl, cases, target, !fullRun);
    console.log(`  wrote autobahn/${resultsFileName(side, impl)}${fullRun ? '' : ' (merged with the cases not run)'}`);
  }

  const { problems, known } = checkAgainstExpected(side, impl, cases, ranIds, fullRun);
  // Without the suite's case list (older wstest output), at least compare the counts.
  if (!listed && progress.total != null && Object.keys(cases).length !== progress.total) {
    problems.push(`the suite planned ${progress.total} cases but reported ${Object.keys(cases).length}`);
  }
  if (run.testeeCrashed) {
    problems.unshift(`${run.testeeCrashed.name} ${exitText(run.testeeCrashed)} during the run:\n${tailText(run.testeeCrashed)}`);
  }
  if (known) console.log(`\n  ${known} case(s) match their known deviation in expected.json`);
  if (problems.length) {
    console.log(`\n  ${problems.length} unexpected result(s) on the ${side} side:`);
    for (const p of problems) console.log(`    ${p}`);
  } else {
    console.log(`\n  ${side} side: all ${ranIds.length} cases as expected`);
  }
  console.log(`  reports: autobahn/${path.relative(DIR, outdir)}/ (index.json; index.html if the suite wrote it)`);
  return problems.length === 0;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  let impl;
  try {
    impl = selectedImpl();
  } catch (err) {
    throw new SetupError(err.message);
  }
  // Fail early, before any wstest starts, if the implementation cannot even be loaded.
  try {
    require(impl.moduleName);
  } catch (err) {
    throw new SetupError(`require('${impl.moduleName}') failed (AUTOBAHN_IMPL=${impl.name}): ${err.message}`);
  }
  const suite = locateSuite();
  console.log(`Autobahn test suite: ${suite.describe}`);
  fs.mkdirSync(REPORTS, { recursive: true });

  let ok = true;
  for (const side of opts.sides) {
    ok = (await runSide(side, suite, impl, opts)) && ok;
  }
  console.log(ok ? '\nAutobahn: OK' : '\nAutobahn: FAILED (see the unexpected results above)');
  return ok ? 0 : 1;
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    stopAllNow();
    process.exit(130);
  });
}

main().then(
  (code) => process.exit(code),
  (err) => {
    stopAllNow();
    console.error(`\nautobahn: ${err instanceof SetupError ? err.message : err && err.stack ? err.stack : err}`);
    process.exit(2);
  },
);
