'use strict';
// Upstream websocket@1.0.35's WebSocketClient.
require('./_websocket-node')('websocket-upstream');
