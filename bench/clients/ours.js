'use strict';
// This repository's WebSocketClient (require('websocket') resolves to this package here).
require('./_websocket-node')('websocket');
