'use strict';
// One worker of the cluster chat (server.js forks one per CPU core): an HTTP server that serves the
// chat page, and a WebSocketServer whose RedisBroker links it to every other worker. A room is a
// topic: joining subscribes the connection to it, and server.publish() reaches the room's members
// on every worker, whichever worker their browser happens to be connected to.
const http = require('http');
const fs = require('fs');
const path = require('path');
const { createClient } = require('redis');
const { server: WebSocketServer, RedisBroker } = require('websocket');

const PROTOCOL = 'cluster-chat';
const port = Number(process.env.PORT || 8080);
const redisUrl = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const indexPath = path.join(__dirname, 'index.html');
const tag = '[worker ' + process.pid + ']';

/** Set once shutting down: the goodbyes to Redis are expected to end in errors. */
let stopping = false;

const ROOM_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;
const MAX_ROOMS = 10;
const MAX_TEXT = 500;

const httpServer = http.createServer((request, response) => {
  const pathname = (request.url || '/').split('?')[0];
  if (request.method === 'GET' && (pathname === '/' || pathname === '/index.html')) {
    // Read on every request so the page can be edited without restarting the server.
    fs.readFile(indexPath, (err, html) => {
      if (err) {
        response.writeHead(500, { 'Content-Type': 'text/plain' });
        response.end('Could not read index.html\n');
        return;
      }
      response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
      response.end(html);
    });
    return;
  }
  response.writeHead(404);
  response.end();
});

httpServer.on('error', (err) => {
  // EADDRINUSE and the like: the primary sees this worker die before it was ready and stops.
  console.error(tag + ' HTTP server error: ' + err.message);
  process.exit(1);
});

// The broker connects this client itself and makes its own subscriber connection (duplicate()).
const redis = createClient({ url: redisUrl });
const broker = new RedisBroker({
  client: redis,
  // Every worker with the same prefix is one cluster; another app on the same Redis uses another.
  prefix: 'cluster-chat:',
});
// Redis going away never takes the server down: local delivery goes on, publishes to the other
// workers wait in a bounded queue, and the broker reports the outage once.
broker.on('error', (err) => {
  if (!stopping) console.error(tag + ' ' + err.message);
});

const wsServer = new WebSocketServer({
  httpServer,
  // Never accept automatically in production: every request should pass an origin check first.
  autoAcceptConnections: false,
  // Chat messages are small; anything bigger is a protocol error (close 1009).
  maxReceivedFrameSize: 16 * 1024,
  maxReceivedMessageSize: 16 * 1024,
  broker,
});

// Tells the primary once: the HTTP server listens and both Redis connections are up.
let listening = false;
let linked = false;
let announced = false;
function reportReady() {
  if (announced || !listening || !linked) return;
  announced = true;
  console.log(tag + ' ready: node ' + wsServer.nodeId + ', port ' + httpServer.address().port);
  if (process.send) process.send({ type: 'ready', port: httpServer.address().port });
}
broker.on('ready', () => {
  linked = true;
  reportReady();
});
if (broker.ready) linked = true;

// HOST is optional; without it the server listens on every interface. In a cluster the primary
// owns the listening socket and hands each new connection to a worker in turn.
httpServer.listen(port, process.env.HOST || undefined, () => {
  listening = true;
  reportReady();
});

// Browsers always send Origin; accept only pages served by this server itself. Non-browser
// clients usually send no Origin at all, so let them in.
function originIsAllowed(origin, host) {
  if (!origin) return true;
  return origin === 'http://' + host || origin === 'https://' + host;
}

/** The name from `?name=` in the WebSocket URL: printable, at most 24 characters, or a guest name. */
function nameFrom(query) {
  const raw = Array.isArray(query.name) ? query.name[0] : query.name;
  const name = String(raw || '')
    .replace(/[\u0000-\u001f\u007f]/g, '')
    .trim()
    .slice(0, 24);
  return name || 'guest-' + String(Math.floor(Math.random() * 10000)).padStart(4, '0');
}

const topicOf = (room) => 'room:' + room;

function send(connection, message) {
  if (connection.connected) connection.sendUTF(JSON.stringify(message));
}

/** Members of a room on every worker (presence in Redis, updated within a few ms); null when unknown. */
async function membersOf(room) {
  try {
    return await wsServer.clusterSubscriberCount(topicOf(room));
  } catch {
    return null; // Redis is unreachable just now
  }
}

wsServer.on('request', (request) => {
  if (!originIsAllowed(request.origin, request.host)) {
    request.reject();
    console.log(tag + ' Connection from origin ' + request.origin + ' rejected.');
    return;
  }

  if (request.requestedProtocols.indexOf(PROTOCOL) === -1) {
    request.reject(400, 'Use the ' + PROTOCOL + ' subprotocol.');
    console.log(tag + ' Connection without the ' + PROTOCOL + ' subprotocol rejected.');
    return;
  }

  let connection;
  try {
    connection = request.accept(PROTOCOL, request.origin);
  } catch (err) {
    console.log(tag + ' Connection refused: ' + err.message);
    return;
  }

  const name = nameFrom(request.resourceURL.query);
  // The rooms this connection is in, for the goodbyes: when 'close' fires it has left them already.
  const rooms = new Set();
  console.log(tag + ' ' + name + ' connected as ' + connection.clusterId);

  (async () => {
    let online = null;
    try {
      online = await wsServer.clusterConnectionCount();
    } catch {
      // Redis is unreachable just now
    }
    send(connection, { type: 'welcome', worker: process.pid, id: connection.clusterId, name, online });
  })();

  // Runs one request from the page; returns what to tell the page when it cannot be done.
  function handle(msg) {
    if (msg === null || typeof msg !== 'object') return 'Send a JSON object.';
    if (msg.type !== 'join' && msg.type !== 'leave' && msg.type !== 'say') {
      return 'Unknown message type ' + JSON.stringify(msg.type) + '.';
    }
    const room = msg.room;
    if (typeof room !== 'string' || !ROOM_PATTERN.test(room)) return 'A room name is 1 to 32 letters, digits, - or _.';
    const topic = topicOf(room);

    if (msg.type === 'join') {
      if (connection.isSubscribed(topic)) return 'You are in ' + room + ' already.';
      if (connection.topics.length >= MAX_ROOMS) return 'At most ' + MAX_ROOMS + ' rooms at a time.';
      connection.subscribe(topic);
      rooms.add(room);
      // To everybody in the room on every worker, except the one who joined.
      const notice = { type: 'notice', room, text: name + ' joined', worker: process.pid };
      wsServer.publish(topic, JSON.stringify(notice), { except: connection });
      send(connection, { type: 'joined', room });
      // Then how many are in the room on all workers (the other workers' counts are read from Redis).
      membersOf(room).then((members) => {
        if (members !== null && connection.isSubscribed(topic)) send(connection, { type: 'members', room, members });
      });
    } else if (msg.type === 'leave') {
      if (!connection.unsubscribe(topic)) return 'You are not in ' + room + '.';
      rooms.delete(room);
      wsServer.publish(topic, JSON.stringify({ type: 'notice', room, text: name + ' left', worker: process.pid }));
      send(connection, { type: 'left', room });
    } else {
      if (!connection.isSubscribed(topic)) return 'Join ' + room + ' first.';
      const text = typeof msg.text === 'string' ? msg.text.trim() : '';
      if (text === '' || text.length > MAX_TEXT) return 'A message is 1 to ' + MAX_TEXT + ' characters.';
      // To the room on every worker, the sender included: that is how its page knows it went through.
      wsServer.publish(topic, JSON.stringify({ type: 'message', room, from: name, text, worker: process.pid }));
    }
    return null;
  }

  connection.on('message', (message) => {
    let problem = 'Send JSON text messages.';
    if (message.type === 'utf8') {
      let msg;
      try {
        msg = JSON.parse(message.utf8Data);
      } catch {
        msg = undefined;
      }
      problem = msg === undefined ? 'Not JSON.' : handle(msg);
    }
    if (problem !== null) send(connection, { type: 'error', message: problem });
  });

  connection.on('close', (reasonCode, description) => {
    console.log(tag + ' ' + name + ' disconnected. Code: ' + reasonCode + (description ? ' Reason: ' + description : ''));
    if (stopping) return;
    for (const room of rooms) {
      wsServer.publish(topicOf(room), JSON.stringify({ type: 'notice', room, text: name + ' left', worker: process.pid }));
    }
  });
});

/** Resolves `promise`, or undefined after `ms`: shutting down must not hang on an unreachable Redis. */
function within(ms, promise) {
  let timer;
  return Promise.race([
    Promise.resolve(promise).catch(() => undefined),
    new Promise((resolve) => (timer = setTimeout(resolve, ms))),
  ]).finally(() => clearTimeout(timer));
}

function allClosed() {
  return new Promise((resolve) => {
    const check = () => {
      if (wsServer.connections.length > 0) return;
      wsServer.removeListener('close', check);
      resolve();
    };
    wsServer.on('close', check);
    check();
  });
}

async function shutDown(why) {
  if (stopping) return;
  stopping = true;
  console.log(tag + ' shutting down (' + why + ')');
  // The broker stops listening to the client in close(); a late error must not end the process.
  redis.on('error', () => undefined);
  httpServer.close();
  // Closes every connection (1000), stops taking upgrades and detaches from the broker.
  wsServer.shutDown();
  await within(3000, allClosed());
  // Takes this worker out of the cluster's counts and closes the subscriber connection.
  await within(2000, broker.close());
  // node-redis v5+ has close(), v4 quit().
  await within(2000, typeof redis.close === 'function' ? redis.close() : redis.quit());
  process.exit(0);
}

process.on('SIGTERM', () => shutDown('SIGTERM'));
// Ctrl+C in a terminal reaches every process of the group, the workers too.
process.on('SIGINT', () => shutDown('SIGINT'));
// The primary is gone (killed): do not linger as an orphan.
process.on('disconnect', () => shutDown('the primary process went away'));
