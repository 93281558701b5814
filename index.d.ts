// Types of the package root, under the names `@types/websocket` uses, so code written against it
// compiles unchanged. Classes come from the declarations the build emits for lib/ into types/lib/
// (one source of truth for values and types); never from lib/ itself, where a consumer's tsc would
// pick our .ts sources over any .d.ts and type-check them under its own settings.
import server = require('./types/lib/WebSocketServer');
import client = require('./types/lib/WebSocketClient');
import router = require('./types/lib/WebSocketRouter');
import frame = require('./types/lib/WebSocketFrame');
import request = require('./types/lib/WebSocketRequest');
import connection = require('./types/lib/WebSocketConnection');
import w3cwebsocket = require('./types/lib/W3CWebSocket');
import deprecation = require('./types/lib/Deprecation');
import version = require('./types/lib/version');
import WebSocketRouterRequest = require('./types/lib/WebSocketRouterRequest');

export { server, client, router, frame, request, connection, w3cwebsocket, deprecation, version };
// New in this package: stream adapters (docs/streams.md) and the promise API's types (docs/promises.md).
export { createWebSocketStream } from './types/lib/streams/create-websocket-stream';
export type { CreateWebSocketStreamOptions, StreamableConnection } from './types/lib/streams/create-websocket-stream';
export { WebSocketStream, WebSocketError } from './types/lib/streams/websocket-stream';
export type {
  WebSocketStreamOptions,
  WebSocketOpenInfo,
  WebSocketCloseResult,
  WebSocketCloseInfo,
  WebSocketStreamChunk,
} from './types/lib/streams/websocket-stream';
export { ConnectionClosedError } from './types/lib/promises/message-iterator';
export type { MessageIteratorOptions } from './types/lib/promises/message-iterator';
export type { SendResult, CloseResult, ConnectResult, CloseOutcome } from './types/lib/promises/results';
// Scaling out (docs/scaling.md): topics' options and the broker interface, and the Redis broker.
export { RedisBroker } from './types/lib/brokers/redis-broker';
export type { RedisBrokerOptions, RedisBrokerStats } from './types/lib/brokers/redis-broker';
export type { Broker, BrokerNode, OutgoingDelivery, IncomingDelivery, DeliveryKind } from './types/lib/brokers/broker';
export type { PublishOptions } from './types/lib/topics/server-topics';
export type { IConfig, IServerConfig, IClientConfig, PerMessageDeflateOptions } from './types/lib/config';
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
} from './types/lib/public-types';

/** What a router handler receives (`lib/WebSocketRouterRequest`). */
export type IRouterRequest = WebSocketRouterRequest;

/** Router options. */
export interface IRouterConfig {
  server: server;
}

/** A mounted route. */
export type IRouterHandler = router['handlers'][number];
