/**
 * W3CWebSocket: the browser-style WebSocket API over WebSocketClient, as WebSocket-Node offers it
 * (extra constructor arguments for origin, headers, request options and client config).
 *
 * Every value a consumer can branch on (`wasClean`, `protocol`, `bufferedAmount`, which messages are
 * dispatched, what `close()` accepts) is WebSocket-Node's, because real consumers depend on it: for
 * example web3-providers-ws 1.x reconnects only when `wasClean === false` or the code is neither 1000
 * nor 1001. `clientConfig.whatwg: true` opts into the WHATWG WebSockets Standard's values instead.
 */
import type * as http from 'node:http';
import type { IClientConfig } from './config';
import type { ICloseEvent, IExtension, IMessageEvent, IStringified } from './public-types';
import { addListener, createEvent, dispatch, removeListener, type DispatchedEvent, type ListenerMap } from './event-target';
import WebSocketClient = require('./WebSocketClient');
import type WebSocketConnection = require('./WebSocketConnection');

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

/** The `'open'` event. */
type W3COpenEvent = DispatchedEvent & { type: 'open' };
/** The `'message'` event: text as a string, binary as a fresh ArrayBuffer. */
type W3CMessageEvent = DispatchedEvent & IMessageEvent & { data: string | ArrayBuffer };
/**
 * The `'error'` event. Typed as an Error because `@types/websocket` declares `onerror(error: Error)`;
 * at run time it is a plain event without `name` or `message`, as in WebSocket-Node.
 */
type W3CErrorEvent = DispatchedEvent & Error;
/** The `'close'` event. */
type W3CCloseEvent = DispatchedEvent & ICloseEvent;

/** A message as the connection emits it (text or binary). */
type ReceivedMessage = { type: string; utf8Data?: string | undefined; binaryData?: Buffer | undefined };

/** The sixth constructor argument: a WebSocketClient config, plus this class's own switch. */
type W3CClientConfig = IClientConfig & {
  /**
   * New, off by default: the WHATWG WebSockets Standard's values instead of WebSocket-Node's
   * (`wasClean` for any completed closing handshake, `protocol` `''` when none, empty text messages
   * dispatched, `bufferedAmount` counting unsent bytes, `close()` checking its arguments).
   */
  whatwg?: boolean | undefined;
};

/** The browser WebSocket API for Node; see the module comment. */
class W3CWebSocket {
  static readonly CONNECTING = CONNECTING;
  static readonly OPEN = OPEN;
  static readonly CLOSING = CLOSING;
  static readonly CLOSED = CLOSED;

  _url: string;
  _readyState = CONNECTING;
  _protocol: string | undefined = undefined;
  /** '' before the connection opens (as in WebSocket-Node); typed as `@types` has it. */
  _extensions: IExtension[] = '' as unknown as IExtension[];
  /** Always 0 unless `whatwg` is set, as in WebSocket-Node (issue #243). */
  _bufferedAmount = 0;
  _binaryType: 'arraybuffer' = 'arraybuffer';
  _connection: WebSocketConnection | undefined = undefined;
  _client: WebSocketClient;
  _listeners: ListenerMap = {};
  /** `clientConfig.whatwg`, read once. */
  private readonly _whatwg: boolean;

  constructor(
    url: string,
    protocols?: string | string[] | null,
    origin?: string | null,
    headers?: http.OutgoingHttpHeaders | null,
    requestOptions?: http.RequestOptions | object | null,
    clientConfig?: W3CClientConfig | null,
  ) {
    const config = clientConfig ?? {};
    // compat: the W3C API needs whole messages; WebSocket-Node sets this on the caller's object, and
    // hands that same object to the client (which deletes its tlsOptions), so no copy is made here.
    config.assembleFragments = true;
    this._whatwg = config.whatwg === true;
    this._url = url;
    this._client = new WebSocketClient(config);
    this._client.on('connect', (connection: WebSocketConnection) => this._onConnect(connection));
    this._client.on('connectFailed', () => this._onConnectFailed());
    this._client.connect(url, protocols, origin, headers, requestOptions as http.RequestOptions | null | undefined);
  }

  get url(): string {
    return this._url;
  }

  get readyState(): number {
    return this._readyState;
  }

  /** The subprotocol the server selected: `undefined` when none, as in WebSocket-Node (`''` with `whatwg`). */
  get protocol(): string | undefined {
    return this._whatwg ? (this._protocol ?? '') : this._protocol;
  }

  /** '' before the connection opens, then the connection's extensions, as in WebSocket-Node. */
  get extensions(): IExtension[] {
    return this._extensions;
  }

  /** 0, as in WebSocket-Node; with `whatwg`, the bytes passed to `send()` not yet written to the socket. */
  get bufferedAmount(): number {
    const connection = this._connection;
    return this._whatwg && connection !== undefined ? connection.bytesWaitingToFlush : this._bufferedAmount;
  }

  get binaryType(): 'arraybuffer' {
    return this._binaryType;
  }

  set binaryType(type: 'arraybuffer') {
    if (type !== 'arraybuffer') throw new SyntaxError('just "arraybuffer" type allowed for "binaryType" attribute');
    this._binaryType = type;
  }

  get CONNECTING(): number {
    return CONNECTING;
  }

  get OPEN(): number {
    return OPEN;
  }

  get CLOSING(): number {
    return CLOSING;
  }

  get CLOSED(): number {
    return CLOSED;
  }

  /** Adds a listener; the `on<type>` handler still runs first. */
  addEventListener(type: 'open', listener: (event: W3COpenEvent) => void): void;
  addEventListener(type: 'message', listener: (event: W3CMessageEvent) => void): void;
  addEventListener(type: 'error', listener: (event: W3CErrorEvent) => void): void;
  addEventListener(type: 'close', listener: (event: W3CCloseEvent) => void): void;
  addEventListener(type: string, listener: (event: DispatchedEvent) => void): void;
  addEventListener(type: string, listener: unknown): void {
    addListener(this._listeners, type, listener);
  }

  /** Removes a listener added with `addEventListener`. */
  removeEventListener(type: string, listener: unknown): void {
    removeListener(this._listeners, type, listener);
  }

  /** Dispatches an event: `on<type>` first, then the listeners in the order added. */
  dispatchEvent(event: DispatchedEvent): boolean {
    return dispatch(this, this._listeners, event);
  }

  /** Sends a string as text, or a Buffer, ArrayBuffer or typed array as binary (without copying). */
  send(data: ArrayBufferView | ArrayBuffer | Buffer | IStringified): void {
    if (this._readyState !== OPEN) throw new Error('cannot call send() while not connected');
    const connection = this._connection as WebSocketConnection;
    if (typeof data === 'string' || data instanceof String) {
      connection.sendUTF(data as string);
    } else if (Buffer.isBuffer(data)) {
      connection.sendBytes(data);
    } else {
      // WebSocket-Node's test: anything with a byteLength is binary. Reading it off null or undefined
      // throws the same TypeError as there. (compat fix, data loss: a DataView is sent with its bytes;
      // WebSocket-Node's conversion turned it into an empty message.)
      const byteLength = (data as { byteLength?: unknown }).byteLength;
      if (byteLength || byteLength === 0) connection.sendBytes(bufferOf(data as ArrayBufferView | ArrayBuffer));
      else throw new Error('unknown binary data:');
    }
  }

  /** Starts closing; while connecting, the attempt is aborted and the connection reported failed. */
  close(code?: number, reason?: string): void {
    if (this._whatwg) checkCloseArguments(code, reason);
    switch (this._readyState) {
      case CONNECTING:
        // compat fix (leak): WebSocket-Node faked the failure but left the request running, holding
        // a socket to a dead server until the OS gave up (#187, #371). The events are the same.
        this._client.abort();
        this._onConnectFailed();
        break;
      case OPEN:
        this._readyState = CLOSING;
        // A reason over 123 bytes is cut by the connection (RFC 6455 §5.5), not refused, as upstream
        // never refused it; an invalid code throws the connection's error.
        if (code) this._connection?.close(code, reason);
        else this._connection?.close();
        break;
      default:
        break;
    }
  }

  private _onConnect(connection: WebSocketConnection): void {
    this._readyState = OPEN;
    this._connection = connection;
    this._protocol = connection.protocol;
    this._extensions = connection.extensions;
    connection.on('close', (code: number | undefined, reason: string | undefined) => this._onClose(code, reason));
    connection.on('message', (message: ReceivedMessage) => this._onMessage(message));
    this.dispatchEvent(createEvent('open'));
  }

  private _onConnectFailed(): void {
    this._destroy();
    this._readyState = CLOSED;
    try {
      // Carries nothing, as in WebSocket-Node (and browsers): the reason is the client's 'connectFailed'.
      this.dispatchEvent(createEvent('error'));
    } finally {
      this.dispatchEvent(createEvent('close', closeFields(1006, 'connection failed', false)));
    }
  }

  private _onClose(code: number | undefined, reason: string | undefined): void {
    const connection = this._connection;
    this._destroy();
    this._readyState = CLOSED;
    const wasClean = this._whatwg
      ? // RFC 6455 §7.1.4 / WHATWG: the closing handshake completed and the TCP connection ended
        // without an error. (A peer that never answers our close within closeTimeout also ends
        // with our own code, so it counts as clean here too.)
        code !== 1006 && connection?.socketHadError !== true
      : // WebSocket-Node: only a normal closure (or no code) is clean; web3-providers-ws and others
        // reconnect on `wasClean === false`.
        code === undefined || code === 1000;
    this.dispatchEvent(createEvent('close', closeFields(code as number, reason || '', wasClean)));
  }

  private _onMessage(message: ReceivedMessage): void {
    const text = message.utf8Data;
    // WebSocket-Node tests the text for truthiness, so an empty text message is never dispatched;
    // consumers that JSON.parse every message rely on that. The WHATWG mode dispatches it.
    if (text || (this._whatwg && text === '' && message.type === 'utf8')) {
      this.dispatchEvent(createEvent('message', { data: text }));
    } else if (message.binaryData) {
      const buffer = message.binaryData;
      // A fresh ArrayBuffer the page owns, as WebSocket-Node (and browsers) hand out.
      const data = buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.length);
      this.dispatchEvent(createEvent('message', { data }));
    }
  }

  private _destroy(): void {
    this._client.removeAllListeners();
    this._connection?.removeAllListeners();
  }
}

/**
 * The handler properties. They are plain properties, absent until assigned (as in WebSocket-Node),
 * looked up at dispatch time; only their types are declared here. Read, each has the type
 * `@types/websocket` gives it, so `const c: (event: ICloseEvent) => void = ws.onclose` compiles;
 * assigned, a handler receives the richer event type.
 */
interface W3CWebSocket {
  get onopen(): () => void;
  set onopen(handler: ((event: W3COpenEvent) => void) | null | undefined);
  get onmessage(): (message: IMessageEvent) => void;
  set onmessage(handler: ((event: W3CMessageEvent) => void) | null | undefined);
  get onerror(): (error: Error) => void;
  set onerror(handler: ((event: W3CErrorEvent) => void) | null | undefined);
  get onclose(): (event: ICloseEvent) => void;
  set onclose(handler: ((event: W3CCloseEvent) => void) | null | undefined);
}

/** A Buffer over the same bytes (no copy), as WebSocket-Node's typedarray-to-buffer makes it. */
function bufferOf(data: ArrayBufferView | ArrayBuffer): Buffer {
  return ArrayBuffer.isView(data) ? Buffer.from(data.buffer, data.byteOffset, data.byteLength) : Buffer.from(data);
}

/** WHATWG WebSockets, `close()` steps 1 and 2 (only with `whatwg`). */
function checkCloseArguments(code: number | undefined, reason: string | undefined): void {
  if (code !== undefined && code !== 1000 && !(Number.isInteger(code) && code >= 3000 && code <= 4999)) {
    throw new DOMException(`The close code must be 1000 or between 3000 and 4999; ${String(code)} is neither.`, 'InvalidAccessError');
  }
  if (reason !== undefined && Buffer.byteLength(String(reason)) > 123) {
    throw new DOMException('The close reason must not be longer than 123 bytes.', 'SyntaxError');
  }
}

function closeFields(code: number, reason: string, wasClean: boolean): ICloseEvent & Record<string, unknown> {
  return { code, reason, wasClean };
}

export = W3CWebSocket;
