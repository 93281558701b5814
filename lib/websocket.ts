/**
 * The package's export map: the same keys, in the same order, as WebSocket-Node's `lib/websocket.js`,
 * then what this package adds (stream adapters, the close error of the promise API, the Redis broker), after them.
 */
import server = require('./WebSocketServer');
import client = require('./WebSocketClient');
import router = require('./WebSocketRouter');
import frame = require('./WebSocketFrame');
import request = require('./WebSocketRequest');
import connection = require('./WebSocketConnection');
import w3cwebsocket = require('./W3CWebSocket');
import deprecation = require('./Deprecation');
import version = require('./version');
import streams = require('./streams/create-websocket-stream');
import webStreams = require('./streams/websocket-stream');
import iteration = require('./promises/message-iterator');
import redisBroker = require('./brokers/redis-broker');

// Plain local names, so the compiled `module.exports = { ... }` lists identifiers only: that is the
// form Node's ESM loader (cjs-module-lexer) reads named exports from.
const createWebSocketStream = streams.createWebSocketStream;
const WebSocketStream = webStreams.WebSocketStream;
const WebSocketError = webStreams.WebSocketError;
const ConnectionClosedError = iteration.ConnectionClosedError;
const RedisBroker = redisBroker.RedisBroker;

export = {
  server,
  client,
  router,
  frame,
  request,
  connection,
  w3cwebsocket,
  deprecation,
  version,
  createWebSocketStream,
  WebSocketStream,
  WebSocketError,
  ConnectionClosedError,
  RedisBroker,
};
