/** The package's export map: the same keys, in the same order, as WebSocket-Node's `lib/websocket.js`. */
import server = require('./WebSocketServer');
import client = require('./WebSocketClient');
import router = require('./WebSocketRouter');
import frame = require('./WebSocketFrame');
import request = require('./WebSocketRequest');
import connection = require('./WebSocketConnection');
import w3cwebsocket = require('./W3CWebSocket');
import deprecation = require('./Deprecation');
import version = require('./version');

export = { server, client, router, frame, request, connection, w3cwebsocket, deprecation, version };
