'use strict';
// Child processes of the orchestrators. Each one is a node script that talks JSON lines (commands
// on stdin, answers on stdout) and exits as soon as its stdin closes; every one still alive is
// killed when this process exits for any reason. A child can be pinned to one CPU with taskset
// (see lib/pinning.js).

const { spawn } = require('child_process');
const path = require('path');
const { log } = require('./cli');
const { lineSplitter } = require('./lines');

const ROOT = path.resolve(__dirname, '..', '..');

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

// For what is not a Child (fanout/cluster.js's redis-server): run on the way out, like killAll.
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

// `onMessage`, when set, sees every line first and keeps it out of the queue by returning true
// (the fan-out load generator's acks are relayed that way, thousands per second).
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
    this.proc.stdout.setEncoding('utf8');
    this.proc.stdout.on(
      'data',
      lineSplitter((line) => {
        let msg;
        try {
          msg = JSON.parse(line);
        } catch {
          return; // stray output from a library
        }
        if (this.onMessage && this.onMessage(msg)) return;
        this.lines.push(msg);
        this.wake();
      })
    );
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

// The thrown error's own line when there is one (a Node crash ends with a stack and a version
// banner, which say little), otherwise the last lines.
function lastLines(text, n = 3) {
  const lines = text.trim().split('\n').filter(Boolean);
  const err = lines.find((l) => /^\w*(Error|Exception)\b.*:/.test(l.trim()));
  if (err) return err.trim();
  return lines.slice(-n).join(' | ') || 'no output';
}

// Runs the orchestrator's main(); however it ends, no child is left behind.
function runMain(main) {
  main().then(
    () => killAll(),
    (err) => {
      log(`bench: ${err.stack || err}`);
      killAll();
      process.exit(1);
    }
  );
}

module.exports = { Child, onExit, lastLines, runMain };
