// Types of the package root, under the names `@types/websocket` uses, so code written against it
// compiles unchanged. Classes come from lib/ (one source of truth for values and types).
import server = require('./lib/WebSocketServer');
import client = require('./lib/WebSocketClient');
import router = require('./lib/WebSocketRouter');
import frame = require('./lib/WebSocketFrame');
import request = require('./lib/WebSocketRequest');
import connection = require('./lib/WebSocketConnection');
import w3cwebsocket = require('./lib/W3CWebSocket');
import deprecation = require('./lib/Deprecation');
import version = require('./lib/version');
import WebSocketRouterRequest = require('./lib/WebSocketRouterRequest');

export { server, client, router, frame, request, connection, w3cwebsocket, deprecation, version };
export type { IConfig, IServerConfig, IClientConfig, PerMessageDeflateOptions } from './lib/config';
export type {
  IStringified,
  ICookie,
  IExtension,
  IUtf8Message,
  IBinaryMessage,
  Message,
  IMessage,
  IBufferList,
  ICloseEvent,
  IMessageEvent,
} from './lib/public-types';

/** What a router handler receives (`lib/WebSocketRouterRequest`). */
export type IRouterRequest = WebSocketRouterRequest;

/** Router options. */
export interface IRouterConfig {
  server: server;
}

/** A mounted route. */
export type IRouterHandler = router['handlers'][number];
