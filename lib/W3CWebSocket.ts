/**
 * W3CWebSocket: the browser-style WebSocket API over WebSocketClient, as WebSocket-Node offers it
 * (extra constructor arguments for origin, headers, request options and client config).
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
/** The `'error'` event; it carries `name` and `message`, so handlers typed for an Error work too. */
type W3CErrorEvent = DispatchedEvent & Error;
/** The `'close'` event. */
type W3CCloseEvent = DispatchedEvent & ICloseEvent;

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
  _bufferedAmount = 0;
  _binaryType: 'arraybuffer' = 'arraybuffer';
  _connection: WebSocketConnection | undefined = undefined;
  _client: WebSocketClient;
  _listeners: ListenerMap = {};
  onopen: ((event: W3COpenEvent) => void) | null = null;
  onmessage: ((event: W3CMessageEvent) => void) | null = null;
  onerror: ((event: W3CErrorEvent) => void) | null = null;
  onclose: ((event: W3CCloseEvent) => void) | null = null;

  constructor(
    url: string,
    protocols?: string | string[] | null,
    origin?: string | null,
    headers?: http.OutgoingHttpHeaders | null,
    requestOptions?: http.RequestOptions | object | null,
    clientConfig?: IClientConfig | null,
  ) {
    const config = clientConfig ?? {};
    // compat: the W3C API needs whole messages; WebSocket-Node sets this on the caller's object.
    config.assembleFragments = true;
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

  /** The subprotocol the server selected; '' when none (compat fix: WebSocket-Node gave undefined). */
  get protocol(): string {
    return this._protocol ?? '';
  }

  /** '' before the connection opens, then the connection's extensions, as in WebSocket-Node. */
  get extensions(): IExtension[] {
    return this._extensions;
  }

  /** Bytes queued but not yet sent (compat fix: WebSocket-Node always reported 0). */
  get bufferedAmount(): number {
    const connection = this._connection;
    return connection === undefined ? this._bufferedAmount : connection._output.bufferedBytes;
  }

  get binaryType(): 'arraybuffer' {
    return 'arraybuffer';
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
    if (this._readyState !== OPEN || this._connection === undefined) {
      throw new Error('cannot call send() while not connected');
    }
    const connection = this._connection;
    if (typeof data === 'string' || data instanceof String) {
      connection.sendUTF(data as string);
    } else if (Buffer.isBuffer(data)) {
      connection.sendBytes(data);
    } else if (data instanceof ArrayBuffer) {
      connection.sendBytes(Buffer.from(data));
    } else if (ArrayBuffer.isView(data)) {
      connection.sendBytes(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    } else {
      throw new Error('unknown binary data:');
    }
  }

  /** Starts closing; while connecting, the attempt is aborted and the connection reported failed. */
  close(code?: number, reason?: string): void {
    if (reason !== undefined && Buffer.byteLength(String(reason)) > 123) {
      // WHATWG WebSocket close() step 2: a reason over 123 bytes is a SyntaxError.
      throw new SyntaxError('The close reason must not be longer than 123 bytes.');
    }
    switch (this._readyState) {
      case CONNECTING:
        // compat fix: WebSocket-Node faked the failure but left the request running (#187, #371).
        this._client.abort();
        this._onConnectFailed();
        break;
      case OPEN:
        this._readyState = CLOSING;
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
    this._protocol = connection.protocol ?? undefined;
    this._extensions = connection.extensions;
    connection.on('close', (code: number, reason: string | undefined) => this._onClose(code, reason));
    connection.on('message', (message: { type: string; utf8Data?: string; binaryData?: Buffer }) => this._onMessage(message));
    this.dispatchEvent(createEvent('open'));
  }

  private _onConnectFailed(): void {
    this._destroy();
    this._readyState = CLOSED;
    try {
      this.dispatchEvent(createEvent('error', { name: 'Error', message: 'connection failed' }));
    } finally {
      this.dispatchEvent(createEvent('close', closeFields(1006, 'connection failed', false)));
    }
  }

  private _onClose(code: number, reason: string | undefined): void {
    const connection = this._connection;
    this._destroy();
    this._readyState = CLOSED;
    // compat fix: WebSocket-Node called only 1000 (or no code) clean; any close without an abnormal
    // drop or socket error completed the closing handshake.
    const wasClean = code !== 1006 && connection?.socketHadError !== true;
    this.dispatchEvent(createEvent('close', closeFields(code, reason ?? '', wasClean)));
  }

  private _onMessage(message: { type: string; utf8Data?: string; binaryData?: Buffer }): void {
    if (message.type === 'utf8' && typeof message.utf8Data === 'string') {
      // compat fix: WebSocket-Node skipped empty text messages.
      this.dispatchEvent(createEvent('message', { data: message.utf8Data }));
    } else if (message.binaryData !== undefined) {
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

function closeFields(code: number, reason: string, wasClean: boolean): ICloseEvent & Record<string, unknown> {
  return { code, reason, wasClean };
}

export = W3CWebSocket;
