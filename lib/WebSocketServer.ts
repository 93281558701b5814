/**
 * WebSocketServer: mounts on http(s) servers' `'upgrade'` events and turns each upgrade into a
 * WebSocketRequest, dispatched to `'request'`, auto-accepted, or refused with 404, as in WebSocket-Node.
 */
import { EventEmitter } from 'node:events';
import { CAPTURE_REJECTIONS, handleListenerRejection, kRejection } from './promises/listener-rejections';
import type * as http from 'node:http';
import type * as https from 'node:https';
import type { Socket } from 'node:net';
import { serverDefaults, type IServerConfig, type ServerConfig } from './config';
import type { WriteCallback } from './protocol/output-sink';
import type { IStringified } from './public-types';
import { isBroker } from './brokers/broker';
import { FanOutMessage } from './topics/shared-message';
import { messageOf, ServerTopics, type Payload, type PublishOptions } from './topics/server-topics';
import { HandshakeDeadlines } from './transport/handshake-deadlines';
import { socketOwner } from './transport/socket-binding';
import WebSocketRequest = require('./WebSocketRequest');
import WebSocketConnection = require('./WebSocketConnection');
import { mountHttp2, unmountHttp2 } from './http2/mount';

/** Error thrown by `readHandshake()`, with the status of the refusal. */
interface HandshakeError extends Error {
  httpCode?: number;
  headers?: Record<string, string>;
}

/** Bound handlers, kept so they can be removed again (WebSocket-Node's `_handlers`). */
interface ServerHandlers {
  upgrade: (request: http.IncomingMessage, socket: Socket, head: Buffer) => void;
  requestAccepted: (connection: WebSocketConnection) => void;
  requestResolved: (request: WebSocketRequest) => void;
}

/** A WebSocket server; see the module comment. */
class WebSocketServer extends EventEmitter {
  /** EventEmitter's hook for a rejected async listener (captureRejections): lib/promises/listener-rejections.ts. */
  [kRejection](error: unknown): void {
    handleListenerRejection(error);
  }

  config: ServerConfig | undefined;
  connections: WebSocketConnection[] = [];
  pendingRequests: WebSocketRequest[] = [];
  _handlers: ServerHandlers;
  /** Topics, connection ids and the broker link (lib/topics); made on first use, or at mount with a broker. */
  private _topicState: ServerTopics | null = null;
  /** handshakeTimeout's one timer for all pending requests; made with the first. */
  private _deadlines: HandshakeDeadlines<WebSocketRequest> | null = null;

  constructor(config?: IServerConfig) {
    // Async listeners' rejections: see lib/promises/listener-rejections.ts.
    super(CAPTURE_REJECTIONS);
    this._handlers = {
      upgrade: this.handleUpgrade.bind(this),
      requestAccepted: this.handleRequestAccepted.bind(this),
      requestResolved: this.handleRequestResolved.bind(this),
    };
    if (config) this.mount(config);
  }

  /** Applies the config (defaults first, then every key given) and listens on each http server. */
  mount(config: IServerConfig): void {
    const merged: Record<string, unknown> = serverDefaults();
    // compat: every enumerable key is copied, unknown ones included.
    for (const key of Object.keys(config)) merged[key] = (config as unknown as Record<string, unknown>)[key];
    const httpServer = merged['httpServer'] as ServerConfig['httpServer'] | http.Server | https.Server | null | undefined;
    if (!httpServer) throw new Error('You must specify an httpServer on which to mount the WebSocket server.');
    merged['httpServer'] = Array.isArray(httpServer) ? httpServer : [httpServer];
    this.config = merged as ServerConfig;
    const broker = merged['broker'];
    if (broker !== undefined && broker !== null) {
      if (!isBroker(broker)) throw new TypeError('config.broker must be a Broker (for example a RedisBroker).');
      // With a broker the node takes part in the cluster from the start: deliveries may come before any subscribe.
      this._topicState ??= new ServerTopics(() => this.connections, broker);
    }
    for (const server of this.config.httpServer) {
      server.on('upgrade', this._handlers.upgrade);
      // RFC 8441 WebSockets on an http2 server (a no-op for other servers): lib/http2/mount.ts.
      mountHttp2(this, server);
    }
  }

  /** Stops listening for upgrades; existing connections stay open. */
  unmount(): void {
    const config = this.config as ServerConfig;
    for (const server of config.httpServer) server.removeListener('upgrade', this._handlers.upgrade);
    unmountHttp2(this);
  }

  /** Closes every connection (1000) and refuses every pending request with 503. */
  closeAllConnections(): void {
    for (const connection of this.connections.slice()) connection.close();
    for (const request of this.pendingRequests.slice()) {
      process.nextTick(() => {
        // compat fix: WebSocket-Node threw (uncaught) when the request had been resolved meanwhile.
        if (!request._resolved) request.reject(503);
      });
    }
  }

  /** Sends to every connection: a Buffer as binary, anything else as text. */
  broadcast(data: Buffer | IStringified): void {
    if (Buffer.isBuffer(data)) {
      this.broadcastBytes(data);
    } else if (typeof data.toString === 'function') {
      this.broadcastUTF(data);
    }
  }

  /**
   * Sends a text message to every connection (and, with a broker, to every node's). The frame is
   * encoded once and the same bytes are written to each connection, as each `sendUTF` would.
   */
  broadcastUTF(utfData: IStringified, cb?: WriteCallback): void {
    this._broadcast(utfData, false, cb);
  }

  /** Sends a binary message to every connection (and, with a broker, to every node's), encoded once. */
  broadcastBytes(data: Buffer, cb?: WriteCallback): void {
    this._broadcast(data, true, cb);
  }

  private _broadcast(data: Payload, binary: boolean, cb: WriteCallback | undefined): void {
    let message: FanOutMessage | null = null;
    const shared = (): FanOutMessage => (message ??= binary ? new FanOutMessage(data as Buffer, true) : messageOf(String(data.toString()), true));
    for (const connection of this.connections) {
      // compat: a connection whose sendUTF/sendBytes was replaced (a subclass, a wrapper) is called as in
      // 1.x, and so is sendBytes with a non-Buffer, to throw its error.
      if (binary ? connection.sendBytes !== PLAIN_SEND_BYTES || !Buffer.isBuffer(data) : connection.sendUTF !== PLAIN_SEND_UTF) {
        if (binary) connection.sendBytes(data as Buffer, cb as WriteCallback);
        else connection.sendUTF(data, cb as WriteCallback);
        continue;
      }
      // Written before this returns, as each sendUTF/sendBytes of 1.x writes.
      connection._protocol.sender.sendShared(shared(), cb, false);
    }
    const topics = this._topicState;
    // (Only a Buffer goes out as binary: 1.x's sendBytes would have thrown for anything else.)
    if (topics !== null && topics.hasBroker && (!binary || Buffer.isBuffer(data))) {
      topics.forwardBroadcast(shared());
    }
  }

  // ---- topics (lib/topics) ----

  /**
   * Sends `data` to every connection subscribed to `topic` (a Buffer as binary, anything else as
   * text), on this node and, with a broker, on every other. Encoded once; returns this node's deliveries.
   */
  publish(topic: string, data: Buffer | IStringified, options?: PublishOptions): number {
    return this._serverTopics().publish(topic, data, options);
  }

  /** This node's subscribers of `topic`. */
  subscriberCount(topic: string): number {
    return this._topicState?.subscriberCount(topic) ?? 0;
  }

  /**
   * Sends `data` to the connection with this `id` (`connection.clusterId`), here or on another node.
   * False when no open connection has it here and it names no other node reachable by a broker.
   */
  sendTo(id: string, data: Buffer | IStringified, options?: { compress?: boolean }): boolean {
    return this._serverTopics().sendTo(id, data, options);
  }

  /** Subscribers of `topic` on every live node (this node's alone without a broker). */
  clusterSubscriberCount(topic: string): Promise<number> {
    return this._serverTopics().clusterSubscriberCount(topic);
  }

  /** Open connections on every live node (this node's alone without a broker). */
  clusterConnectionCount(): Promise<number> {
    return this._serverTopics().clusterConnectionCount();
  }

  /** This node's id: the broker's, or one per process. Connection ids (`clusterId`) start with it. */
  get nodeId(): string {
    return this._serverTopics().nodeId;
  }

  /** compat: an application's own `nodeId` field on its server stays possible (a plain property). */
  set nodeId(value: string) {
    Object.defineProperty(this, 'nodeId', { value, writable: true, enumerable: true, configurable: true });
  }

  /** @internal the topics, made on first use. */
  _serverTopics(): ServerTopics {
    return (this._topicState ??= new ServerTopics(() => this.connections, null));
  }

  /** Unmounts and closes everything. */
  shutDown(): void {
    this.unmount();
    this.closeAllConnections();
    this._topicState?.detach();
  }

  /** The `'upgrade'` handler. compat fix: `head` (bytes sent with the request) is kept, not lost. */
  handleUpgrade(request: http.IncomingMessage, socket: Socket, head?: Buffer): void {
    const wsRequest = new WebSocketRequest(socket, request, this.config as ServerConfig);
    if (head !== undefined && head.length > 0) wsRequest._head = Buffer.from(head);
    this._dispatchRequest(wsRequest);
  }

  /**
   * @internal validates a new request (refused and reported as `'upgradeError'` when bad), makes it
   * pending (until answered, its socket closes, or handshakeTimeout), then hands it to `'request'`,
   * auto-accepts it or refuses it (404). An HTTP/1.1 upgrade and an HTTP/2 extended CONNECT
   * (lib/http2) alike.
   */
  _dispatchRequest(wsRequest: WebSocketRequest): void {
    const config = this.config as ServerConfig;
    const socket = wsRequest.socket;
    try {
      wsRequest.readHandshake();
    } catch (caught) {
      const error = caught as HandshakeError;
      wsRequest.reject(error.httpCode ?? 400, error.message, error.headers);
      this.emit('upgradeError', error);
      return;
    }
    this.pendingRequests.push(wsRequest);
    // The request tells the server when it is resolved or accepted (WebSocket-Node listens for its
    // 'requestResolved' and 'requestAccepted', first in line): shared handlers, nothing per request.
    wsRequest._owner = this;
    // A request whose socket closes before it is resolved must not stay pending (WebSocket-Node PR #339).
    socket.on('close', pendingSocketClosed);
    // New: handshakeTimeout refuses requests the application leaves unanswered (408).
    const timeout = config.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT;
    if (typeof timeout === 'number' && timeout > 0) {
      (this._deadlines ??= new HandshakeDeadlines(this.pendingRequests, refuseLate)).add(wsRequest, timeout);
    }

    try {
      if (!config.autoAcceptConnections && this.listenerCount('request') > 0) {
        this.emit('request', wsRequest);
      } else if (config.autoAcceptConnections) {
        wsRequest.accept(wsRequest.requestedProtocols?.[0], wsRequest.origin);
      } else {
        wsRequest.reject(404, 'No handler is configured to accept the connection.');
      }
    } catch (caught) {
      // compat fix: WebSocket-Node let this escape the 'upgrade' event and crash the process, e.g.
      // when accept() refused a malformed Sec-WebSocket-Protocol under autoAcceptConnections.
      this.handleRequestError(wsRequest, caught);
    }
  }

  /** A `'request'` handler or auto-accept threw: refuse the request if still open and report. */
  private handleRequestError(request: WebSocketRequest, caught: unknown): void {
    const error = caught instanceof Error ? caught : new Error(String(caught));
    if (!request._resolved) request.reject(500);
    if (this.listenerCount('upgradeError') > 0) this.emit('upgradeError', error);
    else process.emitWarning(error);
  }

  /** @internal a pending request was resolved, or its socket closed: it is pending no longer. */
  _requestResolved(request: WebSocketRequest): void {
    request.socket.removeListener('close', pendingSocketClosed);
    this.handleRequestResolved(request);
  }

  /** @internal a request was accepted. */
  _requestAccepted(connection: WebSocketConnection): void {
    this.handleRequestAccepted(connection);
  }

  handleRequestAccepted(connection: WebSocketConnection): void {
    // One shared listener that finds the server through the connection: no closure per connection.
    connection._server = this;
    connection.on('close', onConnectionClose);
    this.connections.push(connection);
    this._topicState?.added();
    this.emit('connect', connection);
  }

  handleConnectionClose(connection: WebSocketConnection, closeReason: number, description: string): void {
    removeFrom(this.connections, connection);
    this._topicState?.forget(connection);
    this.emit('close', connection, closeReason, description);
  }

  handleRequestResolved(request: WebSocketRequest): void {
    removeFrom(this.pendingRequests, request);
  }
}

/** Typed event overloads, as `@types/websocket` declares them (plus `upgradeError`). */
interface WebSocketServer {
  on(event: 'request', cb: (request: WebSocketRequest) => void): this;
  on(event: 'connect', cb: (connection: WebSocketConnection) => void): this;
  on(event: 'close', cb: (connection: WebSocketConnection, reason: number, desc: string) => void): this;
  on(event: 'upgradeError', cb: (error: Error) => void): this;
  addListener(event: 'request', cb: (request: WebSocketRequest) => void): this;
  addListener(event: 'connect', cb: (connection: WebSocketConnection) => void): this;
  addListener(event: 'close', cb: (connection: WebSocketConnection, reason: number, desc: string) => void): this;
  addListener(event: 'upgradeError', cb: (error: Error) => void): this;
}

/**
 * How long an upgrade request may stay unanswered when `handshakeTimeout` is not given: generous
 * for an application that authenticates first, short enough that stalled requests cannot pile up.
 */
const DEFAULT_HANDSHAKE_TIMEOUT = 30000;

const PLAIN_SEND_UTF = WebSocketConnection.prototype.sendUTF;
const PLAIN_SEND_BYTES = WebSocketConnection.prototype.sendBytes;

/** A pending request's socket closed before it was resolved. */
function pendingSocketClosed(this: Socket): void {
  const request = socketOwner(this);
  if (request instanceof WebSocketRequest && request._owner instanceof WebSocketServer) request._owner._requestResolved(request);
}

/** handshakeTimeout ran out for a request the application left unanswered. */
function refuseLate(request: WebSocketRequest): void {
  request.reject(408, 'The WebSocket request was not answered in time.');
}

/** Removes a closed connection from its server (`'close'` is emitted once per connection). */
function onConnectionClose(this: WebSocketConnection, closeReason: number, description: string): void {
  this._server?.handleConnectionClose(this, closeReason, description);
}

/**
 * Removes `item`'s first occurrence in place, keeping the order: what `splice(indexOf(item), 1)`
 * does, without the array splice returns (garbage for every handshake and every close).
 */
function removeFrom<T>(list: T[], item: T): void {
  const index = list.indexOf(item);
  if (index === -1) return;
  for (let i = index + 1; i < list.length; i++) list[i - 1] = list[i] as T;
  list.pop();
}

export = WebSocketServer;
