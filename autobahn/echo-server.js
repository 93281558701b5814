'use strict';
// Autobahn testee for the server side (wstest -m fuzzingclient connects to it).
// Written against the public WebSocket-Node API only, the way an application would.
//
//   node autobahn/echo-server.js [port]        port 0 = any free port (default 9001)
//   AUTOBAHN_IMPL=upstream node autobahn/echo-server.js
//
// Prints one line "listening on ws://127.0.0.1:<port>" once ready (run.js waits for it).

const http = require('http');
const { loadImpl, TESTEE_CONFIG } = require('./impl');

const impl = loadImpl();
const WebSocketServer = impl.websocket.server;
const debug = !!process.env.AUTOBAHN_DEBUG;

const portArg = process.argv[2] !== undefined ? process.argv[2] : process.env.AUTOBAHN_PORT;
const port = portArg !== undefined ? Number(portArg) : 9001;

const httpServer = http.createServer((req, res) => {
  res.writeHead(404, { 'Content-Type': 'text/plain' });
  res.end('WebSocket echo server for the Autobahn test suite\n');
});

const wsServer = new WebSocketServer({
  httpServer,
  autoAcceptConnections: false,
  // The fuzzer is the only peer; pings of our own would only add noise to its logs.
  keepalive: false,
  ...TESTEE_CONFIG,
});

wsServer.on('request', (request) => {
  const protocol = request.requestedProtocols.length > 0 ? request.requestedProtocols[0] : null;
  let connection;
  try {
    connection = request.accept(protocol, request.origin);
  } catch (err) {
    if (debug) console.error('accept failed:', err);
    return;
  }
  connection.on('message', (message) => {
    if (message.type === 'utf8') connection.sendUTF(message.utf8Data);
    else connection.sendBytes(message.binaryData);
  });
  // Most cases end in a protocol error on purpose; an unhandled 'error' would crash the testee.
  connection.on('error', (err) => {
    if (debug) console.error('connection error:', err.message);
  });
  if (debug) {
    connection.on('close', (code, description) => console.error('close', code, description));
  }
});

httpServer.listen(port, '127.0.0.1', () => {
  console.log(`listening on ws://127.0.0.1:${httpServer.address().port} (${impl.agent})`);
});

function shutdown() {
  wsServer.shutDown();
  httpServer.close();
  // Connections still mid-handshake would keep the process alive; the run is over anyway.
  setTimeout(() => process.exit(0), 200).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
