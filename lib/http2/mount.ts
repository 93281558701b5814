/**
 * Mounting a WebSocketServer on an http2 server: what `mount()` / `unmount()` add for RFC 8441.
 *
 * - SETTINGS_ENABLE_CONNECT_PROTOCOL is turned on with `server.updateSettings()`, which reaches
 *   every session opened afterwards (RFC 8441 §3: a client may send `:protocol` only once the
 *   server has sent it). It is never turned off again, not even by `unmount()`: RFC 8441 §3 forbids
 *   sending 0 after 1, and other code may rely on it.
 * - A `'stream'` listener takes every stream whose `:method` is CONNECT and `:protocol` websocket,
 *   then handled as an HTTP/1.1 upgrade is (WebSocketServer._dispatchRequest). Other streams are
 *   left alone: the application's own `'stream'` or `'request'` handlers serve them. An extended CONNECT for another protocol is answered 501 only
 *   when no other `'stream'` listener exists (nobody else could ever answer it); a plain CONNECT
 *   (RFC 9113 §8.5) is never ours.
 * - A `'connect'` listener keeps Node's compatibility layer (active once the server has a
 *   `'request'` listener) from answering our streams with 405: without any `'connect'` listener,
 *   it refuses every CONNECT. For other CONNECTs it does what Node does when nobody listens
 *   (405 for HTTP/2, 501 for an extended CONNECT of another protocol, a destroyed socket for an
 *   HTTP/1.1 CONNECT under `allowHTTP1`), and nothing when the application listens too.
 * - HTTP/1.1 upgrades on a server with `allowHTTP1` arrive as `'upgrade'`, which WebSocketServer
 *   listens to itself.
 * No listener is put on sessions: a session's end reaches each of its streams, hence each connection.
 */
import type { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type WebSocketServer = require('../WebSocketServer');
import { http2Module, isHttp2Server, type Http2AnyServer } from './detect';
import type { ServerConfig } from '../config';
import { Http2WebSocketRequest } from './http2-request';

/** The listeners one WebSocketServer put on one http2 server. */
interface Mounted {
  server: Http2AnyServer;
  onStream: (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number, rawHeaders?: string[]) => void;
  onConnect: (request: unknown, response: unknown) => void;
}

/** Each WebSocketServer's http2 mounts, for `unmount()`. */
const mounts = new WeakMap<WebSocketServer, Mounted[]>();
/** Our listeners (of every WebSocketServer), told apart from the application's and Node's. */
const ourListeners = new WeakSet<object>();

/** Listens for RFC 8441 WebSockets on `server` when it is an http2 server; nothing otherwise. */
export function mountHttp2(wsServer: WebSocketServer, server: unknown): void {
  if (!isHttp2Server(server)) return;
  // RFC 8441 §3: the client "MUST NOT send a CONNECT request with the :protocol pseudo-header"
  // before it has received SETTINGS_ENABLE_CONNECT_PROTOCOL = 1.
  server.updateSettings({ enableConnectProtocol: true });
  const mounted: Mounted = {
    server,
    onStream: (stream, headers, _flags, rawHeaders) => onStream(wsServer, server, stream, headers, rawHeaders),
    onConnect: (request, response) => onConnect(server, request, response),
  };
  ourListeners.add(mounted.onStream);
  ourListeners.add(mounted.onConnect);
  const emitter = server as EventEmitter;
  emitter.on('stream', mounted.onStream);
  emitter.on('connect', mounted.onConnect);
  const list = mounts.get(wsServer);
  if (list === undefined) mounts.set(wsServer, [mounted]);
  else list.push(mounted);
}

/** Removes every listener `mountHttp2()` added for this WebSocketServer; open connections stay. */
export function unmountHttp2(wsServer: WebSocketServer): void {
  const list = mounts.get(wsServer);
  if (list === undefined) return;
  mounts.delete(wsServer);
  for (const mounted of list) {
    const emitter = mounted.server as EventEmitter;
    emitter.removeListener('stream', mounted.onStream);
    emitter.removeListener('connect', mounted.onConnect);
  }
}

/** Whether `protocol` names the WebSocket Protocol (RFC 8441 §5: `:protocol` is "websocket"). */
function isWebSocket(protocol: string | string[] | undefined): boolean {
  return typeof protocol === 'string' && protocol.toLowerCase() === 'websocket';
}

/** The `'stream'` listener: see the module comment. */
function onStream(
  wsServer: WebSocketServer,
  server: Http2AnyServer,
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  rawHeaders: readonly string[] | undefined,
): void {
  if (headers[':method'] !== 'CONNECT') return;
  const protocol = headers[':protocol'];
  if (protocol === undefined) return;
  if (!isWebSocket(protocol)) {
    if (onlyOurs(server, 'stream')) refuse(stream, 501);
    return;
  }
  // Another listener that ran first may have answered (or reset) it already.
  if (stream.headersSent || stream.destroyed) return;
  // The same steps as an HTTP/1.1 upgrade from here (WebSocketServer._dispatchRequest).
  wsServer._dispatchRequest(new Http2WebSocketRequest(stream, headers, wsServer.config as ServerConfig, rawHeaders));
}

/** The `'connect'` listener: see the module comment. */
function onConnect(server: Http2AnyServer, request: unknown, response: unknown): void {
  const h2 = http2Module();
  const alone = onlyOurs(server, 'connect');
  if (!(request instanceof h2.Http2ServerRequest)) {
    // An HTTP/1.1 CONNECT (allowHTTP1): Node destroys the socket when nobody listens.
    if (alone && typeof (response as { destroy?: unknown } | null)?.destroy === 'function') (response as { destroy(): void }).destroy();
    return;
  }
  const protocol = request.headers[':protocol'];
  if (isWebSocket(protocol) || !alone) return;
  if (response instanceof h2.Http2ServerResponse && !response.headersSent) {
    response.statusCode = protocol === undefined ? 405 : 501;
    response.end();
  }
}

/** Whether every `event` listener of `server` is one of ours (no application or Node handler). */
function onlyOurs(server: Http2AnyServer, event: 'stream' | 'connect'): boolean {
  return (server as EventEmitter).listeners(event).every((listener) => ourListeners.has(listener));
}

/** Answers a stream nobody else will with `status` and END_STREAM. */
function refuse(stream: ServerHttp2Stream, status: number): void {
  // A reset arriving later must not find the stream without an 'error' listener.
  stream.on('error', ignore);
  if (stream.headersSent || stream.destroyed) return;
  try {
    stream.respond({ ':status': status }, { endStream: true });
  } catch {
    // The session went meanwhile.
  }
}

function ignore(): void {}
