#!/usr/bin/env node
'use strict';
// A chat server on every CPU core behind one port: this primary process forks one worker
// (worker.js) per core with node:cluster, and the workers' RedisBrokers carry each room's messages
// to the members connected to the other workers. Without a Redis at REDIS_URL it starts a
// throwaway local redis-server (when one is installed) and stops it on exit.
const cluster = require('cluster');
const os = require('os');
const fs = require('fs');
const net = require('net');
const tls = require('tls');
const path = require('path');
const { spawn } = require('child_process');

const tag = '[primary ' + process.pid + ']';
const redisUrl = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const requestedWorkers = process.env.CLUSTER_WORKERS;
const workerCount =
  requestedWorkers === undefined || requestedWorkers === ''
    ? (os.availableParallelism?.() ?? os.cpus().length)
    : Number(requestedWorkers);
if (!Number.isInteger(workerCount) || workerCount < 1) {
  console.error(tag + ' CLUSTER_WORKERS must be a whole number of at least 1, not ' + JSON.stringify(requestedWorkers) + '.');
  process.exit(1);
}

/** The redis-server started for this demo, if any. */
let redisChild = null;
let stopping = false;
/** Workers by id that said they are ready (listening, and linked to Redis). */
const ready = new Set();
let announced = false;
let startupTimer = null;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Whether something at `url` answers like Redis (any reply to PING, NOAUTH included). */
function redisAnswers(url) {
  return new Promise((resolve) => {
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const port = Number(url.port || 6379);
    const socket = url.protocol === 'rediss:' ? tls.connect({ host, port, servername: host }) : net.connect(port, host);
    const done = (answer) => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('data', (chunk) => done(chunk[0] === 0x2b /* + */ || chunk[0] === 0x2d /* - */));
    socket.write('PING\r\n');
  });
}

function isLocalHost(hostname) {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

/** `name` on PATH, or null. */
function findOnPath(name) {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/** Starts redis-server for `url` (a local address), without persistence, and waits until it answers. */
async function startRedis(url, binary) {
  const hostname = url.hostname.replace(/^\[|\]$/g, '');
  // 'localhost' may resolve to ::1 first; "-::1" binds it too when the machine has IPv6 (Redis 7).
  const bind = hostname === 'localhost' ? ['127.0.0.1', '-::1'] : [hostname];
  const args = ['--port', url.port || '6379', '--bind', ...bind, '--save', '', '--appendonly', 'no', '--loglevel', 'warning'];
  if (url.password) args.push('--requirepass', decodeURIComponent(url.password));
  // Its own process group: Ctrl+C reaches this process and the workers, and the workers still have
  // their Redis while they say goodbye; this process stops it after them.
  const child = spawn(binary, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  redisChild = child;
  // Its startup log (warnings about the host) is shown only when it fails to start.
  let output = '';
  const collect = (chunk) => {
    if (output.length < 8000) output += chunk;
  };
  child.stdout.setEncoding('utf8').on('data', collect);
  child.stderr.setEncoding('utf8').on('data', collect);
  let exited = false;
  child.once('exit', () => {
    exited = true;
    if (redisChild === child) redisChild = null;
  });
  child.once('error', (err) => console.error(tag + ' redis-server: ' + err.message));
  const deadline = Date.now() + 10000;
  while (!(await redisAnswers(url))) {
    if (exited) throw new Error('redis-server exited at start (is port ' + (url.port || '6379') + ' taken?):\n' + output);
    if (Date.now() > deadline) throw new Error('redis-server did not answer within 10 s:\n' + output);
    await sleep(50);
  }
  // From now on its warnings (if any) go to our stderr.
  output = '';
  child.stdout.removeListener('data', collect).pipe(process.stderr);
  child.stderr.removeListener('data', collect).pipe(process.stderr);
  console.log(
    tag + ' Started redis-server (pid ' + child.pid + ') at ' + url.host + ' for this demo, without persistence; it stops with the server.',
  );
}

/** Stops the redis-server this process started (SIGTERM, then SIGKILL after 5 s). */
async function stopRedis() {
  const child = redisChild;
  if (child === null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
  console.log(tag + ' Stopped redis-server.');
}

// Last resort (an exception, process.exit from elsewhere): never leave the demo's Redis behind.
process.on('exit', () => {
  if (redisChild !== null) redisChild.kill('SIGKILL');
});

function displayUrl(port) {
  const host = process.env.HOST;
  const shown = !host || host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? '[' + host + ']' : host;
  return 'http://' + shown + ':' + port + '/';
}

function fork() {
  return cluster.fork({ REDIS_URL: redisUrl });
}

function liveWorkers() {
  return Object.values(cluster.workers || {}).filter((worker) => worker !== undefined);
}

async function shutDown(code, why) {
  if (stopping) return;
  stopping = true;
  if (startupTimer !== null) clearTimeout(startupTimer);
  console.log(tag + ' Shutting down (' + why + ')...');
  const workers = liveWorkers();
  const exits = workers.map((worker) =>
    worker.isDead() ? Promise.resolve() : new Promise((resolve) => worker.process.once('exit', resolve)),
  );
  for (const worker of workers) {
    // Each worker closes its connections and leaves the cluster's counts, then exits.
    if (!worker.isDead()) worker.process.kill('SIGTERM');
  }
  const timer = setTimeout(() => {
    for (const worker of liveWorkers()) {
      if (!worker.isDead()) worker.process.kill('SIGKILL');
    }
  }, 8000);
  await Promise.all(exits);
  clearTimeout(timer);
  await stopRedis();
  console.log(tag + ' Bye.');
  process.exit(code);
}

async function main() {
  let url;
  try {
    url = new URL(redisUrl);
  } catch {
    throw new Error('REDIS_URL is not a URL: ' + redisUrl);
  }
  if (!(await redisAnswers(url))) {
    const binary = findOnPath('redis-server');
    if (!isLocalHost(url.hostname) || binary === null) {
      throw new Error(
        'No Redis answers at ' + redisUrl + (isLocalHost(url.hostname) ? ' and redis-server is not on PATH' : '') +
          '. Start one (apt-get install redis-server, or docker run -p 6379:6379 redis) or point REDIS_URL at one.',
      );
    }
    await startRedis(url, binary);
  }
  if (stopping) return;

  cluster.setupPrimary({ exec: path.join(__dirname, 'worker.js') });

  cluster.on('message', (worker, message) => {
    if (message === null || typeof message !== 'object' || message.type !== 'ready') return;
    ready.add(worker.id);
    if (announced) {
      console.log(tag + ' Worker ' + worker.process.pid + ' is ready.');
    } else if (ready.size === workerCount) {
      announced = true;
      clearTimeout(startupTimer);
      const pids = liveWorkers().map((w) => w.process.pid);
      console.log(
        'Cluster chat is listening on ' + displayUrl(message.port) + ' with ' + workerCount + ' worker' +
          (workerCount === 1 ? '' : 's') + ' (pids ' + pids.join(', ') + '), Redis at ' + redisUrl + '. Ctrl+C stops it.',
      );
    }
  });

  cluster.on('exit', (worker, code, signal) => {
    const wasReady = ready.delete(worker.id);
    if (stopping) return;
    const how = signal ? 'signal ' + signal : 'code ' + code;
    if (!wasReady) {
      // It never got going (port taken, Redis refused, a bug): a new one would fail the same way.
      shutDown(1, 'worker ' + worker.process.pid + ' exited with ' + how + ' before it was ready');
      return;
    }
    console.log(tag + ' Worker ' + worker.process.pid + ' exited with ' + how + '; starting another.');
    fork();
  });

  startupTimer = setTimeout(() => {
    console.log(tag + ' Still waiting for the workers after 15 s (' + ready.size + ' of ' + workerCount + ' ready); is Redis reachable?');
  }, 15000);
  startupTimer.unref();

  for (let i = 0; i < workerCount; i++) fork();
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    if (stopping) {
      // A second Ctrl+C: no more waiting.
      for (const worker of liveWorkers()) worker.process.kill('SIGKILL');
      if (redisChild !== null) redisChild.kill('SIGKILL');
      process.exit(1);
    }
    shutDown(0, signal);
  });
}

main().catch((err) => {
  console.error(tag + ' ' + err.message);
  shutDown(1, 'could not start');
});
