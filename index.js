'use strict';
// The package entry: the same object as `lib/websocket`, as in WebSocket-Node's index.js.
module.exports = require('./lib/websocket');
