'use strict';
// The fan-out server for local.js and cluster.js: one implementation, idle upgraded connections,
// and one text message of --size bytes published to all of them, again and again, when told to.
//
//   node bench/fanout/server.js --impl ours|ours-broadcast|ws|websocket [--size 64]
//                               [--redis URL --prefix P [--client node-redis|ioredis]]   (ours only)
//
// How each implementation sends one message to every connection, written the way its docs do it:
// - ours:           every connection calls connection.subscribe('bench') when accepted, and each
//                   message is server.publish('bench', text): encoded once, the same frame bytes
//                   written to each subscriber. With --redis the server has a RedisBroker, and a
//                   publish also reaches every other node's subscribers through Redis.
// - ours-broadcast: server.broadcastUTF(text), on the same encode-once path.
// - ws:             ws@8, `for (const c of wss.clients) if (c.readyState === OPEN) c.send(buf, { binary: false })`.
//                   The text is turned into a Buffer once per message, not once per client, so ws
//                   gets the frame it would build for a received message being passed on (its
//                   best case; `c.send(string)` would encode the string again for every client).
// - websocket:      upstream websocket@1.0.35 (websocket-upstream), server.broadcastUTF(text),
//                   which calls connection.sendUTF(text) for every connection.
//
// The message is ASCII: a 10-digit sequence number, a space, the publish time as a 16-digit count
// of µs since the epoch (performance.timeOrigin + performance.now()), a space, then 'x' up to --size.
//
// Prints {"port", "pid", "impl", "nodeId"} on stdout once it listens (and, with a broker, once the
// broker is ready). Commands on stdin, one per line:
//   count          -> {"count": {connections, subscribers, cluster}}  (cluster: subscribers on every node)
//   start window W [B] -> publish whenever fewer than W messages are unacknowledged, B (default 1)
//                     per event-loop turn
//   start rate R   -> publish R messages per second, open loop (never more than 10 at once after a stall)
//   ack N          -> the load generator has seen messages 0..N-1 reach every connection
//   cpu            -> {"cpu", "user", "wall", "published", "skipped", "blocked"}  (µs of CPU time, of wall
//                     clock, and of wall clock spent with a full window waiting for acks)
//   clock          -> {"clock"}  (performance.timeOrigin + performance.now(), ms)
// Exits when stdin closes (after closing the broker, if any, so it leaves the cluster at once).

const http = require('http');
const { performance } = require('perf_hooks');
const { readStdinLines } = require('../lib/lines');

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const impl = args.impl;
const size = Number(args.size || 64);
const TOPIC = 'bench';
const HEAD = 28; // seq (10) + ' ' + µs timestamp (16) + ' '
if (!(size >= HEAD && size <= 65535)) fail(`--size must be between ${HEAD} and 65535`);
if (args.redis && impl !== 'ours') fail('only ours has a broker');

function fail(msg) {
  process.stderr.write(`fanout server: ${msg}\n`);
  process.exit(2);
}

const FILL = 'x'.repeat(size);
function message(seq) {
  const us = Math.round((performance.timeOrigin + performance.now()) * 1000);
  return String(seq).padStart(10, '0') + ' ' + String(us).padStart(16, '0') + ' ' + FILL.slice(0, size - HEAD);
}

const httpServer = http.createServer((req, res) => {
  res.writeHead(404);
  res.end();
});

let publishText; // (text) => void
let counts; // () => Promise<{connections, subscribers, cluster}>
let ready = Promise.resolve();
let nodeId = null;
let closeBroker = async () => {};

function websocketNode(moduleName, options, onConnection) {
  const { server: WebSocketServer } = require(moduleName);
  const wsServer = new WebSocketServer({ httpServer, autoAcceptConnections: false, keepalive: false, ...options });
  wsServer.on('request', (request) => {
    const connection = request.accept(null, request.origin);
    connection.on('error', () => {}); // the load generator resets its sockets at the end
    onConnection(connection);
  });
  return wsServer;
}

if (impl === 'ours' || impl === 'ours-broadcast') {
  let broker = null;
  if (args.redis) {
    const { RedisBroker } = require('websocket');
    const client = args.client === 'ioredis' ? new (require('ioredis'))(args.redis) : require('redis').createClient({ url: args.redis });
    client.on('error', () => {}); // the broker reports errors itself
    broker = new RedisBroker({ client, prefix: args.prefix || 'websocket:' });
    broker.on('error', (err) => process.stderr.write(`broker error: ${err.message}\n`));
    nodeId = broker.nodeId;
    ready = new Promise((resolve) => (broker.ready ? resolve() : broker.once('ready', resolve)));
    closeBroker = async () => {
      await broker.close();
      await (client.quit ? client.quit() : client.disconnect());
    };
  }
  const subscribe = impl === 'ours';
  const wsServer = websocketNode('websocket', broker ? { broker } : {}, (connection) => {
    if (subscribe) connection.subscribe(TOPIC);
  });
  publishText = subscribe ? (text) => wsServer.publish(TOPIC, text) : (text) => wsServer.broadcastUTF(text);
  counts = async () => ({
    connections: wsServer.connections.length,
    subscribers: subscribe ? wsServer.subscriberCount(TOPIC) : wsServer.connections.length,
    cluster: broker ? await wsServer.clusterSubscriberCount(TOPIC) : null,
  });
} else if (impl === 'websocket') {
  const wsServer = websocketNode('websocket-upstream', {}, () => {});
  publishText = (text) => wsServer.broadcastUTF(text);
  counts = async () => ({ connections: wsServer.connections.length, subscribers: wsServer.connections.length, cluster: null });
} else if (impl === 'ws') {
  const { WebSocketServer, WebSocket } = require('ws');
  const wss = new WebSocketServer({ server: httpServer, perMessageDeflate: false });
  wss.on('connection', (ws) => ws.on('error', () => {}));
  const OPEN = WebSocket.OPEN;
  const TEXT = { binary: false };
  publishText = (text) => {
    const buf = Buffer.from(text, 'latin1');
    for (const c of wss.clients) if (c.readyState === OPEN) c.send(buf, TEXT);
  };
  counts = async () => ({ connections: wss.clients.size, subscribers: wss.clients.size, cluster: null });
} else {
  fail(`unknown --impl ${impl}`);
}

// ---------------------------------------------------------------------------------------------
// Publishing

let seq = 0;
let acked = 0;
let windowSize = 0;
// Messages published per event-loop turn in window mode (--burst in local.js; 1 by default).
let burst = 1;
let pumping = false;
let ticker = null;
let skipped = 0;
// Window mode: how long the publisher sat with a full window, waiting for acks (µs).
let blockedSince = null;
let blockedUs = 0;

function publishOne() {
  publishText(message(seq++));
}

// Window mode: one publish per event-loop turn, so stdin (acks, cpu requests) and socket writes
// are served between two fan-outs.
function pump() {
  pumping = false;
  for (let i = 0; i < burst && seq - acked < windowSize; i++) publishOne();
  if (seq - acked < windowSize) {
    pumping = true;
    setImmediate(pump);
  } else if (windowSize > 0 && blockedSince === null) {
    blockedSince = performance.now();
  }
}

function blocked() {
  return blockedUs + (blockedSince === null ? 0 : (performance.now() - blockedSince) * 1000);
}

function startRate(rate) {
  const t0 = performance.now();
  let slots = 0;
  ticker = setInterval(() => {
    const due = Math.floor(((performance.now() - t0) * rate) / 1000) + 1;
    const n = Math.min(due - slots, 10);
    for (let i = 0; i < n; i++) publishOne();
    if (due - slots > n) skipped += due - slots - n;
    slots = due;
  }, 1);
}

// ---------------------------------------------------------------------------------------------

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  windowSize = 0;
  if (ticker) clearInterval(ticker);
  const timer = setTimeout(() => process.exit(0), 1500);
  closeBroker().then(
    () => process.exit(0),
    () => process.exit(0)
  );
  timer.unref();
}

function command(line) {
  const [cmd, a, b] = line.split(' ');
  if (cmd === 'ack') {
    const n = Number(a);
    if (n > acked) acked = n;
    if (!pumping && seq - acked < windowSize) {
      if (blockedSince !== null) blockedUs += (performance.now() - blockedSince) * 1000;
      blockedSince = null;
      pumping = true;
      setImmediate(pump);
    }
  } else if (cmd === 'cpu') {
    const { user, system } = process.cpuUsage();
    emit({ cpu: user + system, user, wall: performance.now() * 1000, published: seq, skipped, blocked: blocked() });
  } else if (cmd === 'clock') {
    emit({ clock: performance.timeOrigin + performance.now() });
  } else if (cmd === 'count') {
    counts().then(
      (count) => emit({ count }),
      (err) => emit({ count: null, error: err.message })
    );
  } else if (cmd === 'start') {
    if (a === 'window') {
      windowSize = Number(b);
      burst = Number(line.split(' ')[3] || 1);
      pumping = true;
      setImmediate(pump);
    } else if (a === 'rate') {
      startRate(Number(b));
    }
  } else if (cmd === 'exit') {
    stop();
  }
}

readStdinLines((line) => {
  if (line) command(line);
}, stop);

httpServer.on('error', (err) => fail(err.stack || String(err)));
httpServer.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => {
  ready.then(() => emit({ port: httpServer.address().port, pid: process.pid, impl, nodeId }));
});
