/**
 * WebSocketClient: opens a connection with an HTTP(S) upgrade request and validates the response,
 * with WebSocket-Node's argument checks, header precedence, events and error messages.
 */
import { EventEmitter } from 'node:events';
import { CAPTURE_REJECTIONS, handleListenerRejection, kRejection } from './promises/listener-rejections';
import * as http from 'node:http';
import * as https from 'node:https';
import type { ClientHttp2Session } from 'node:http2';
import type { Socket } from 'node:net';
import type { Url } from 'node:url';
import { clientDefaults, type ConnectionConfig, type IClientConfig } from './config';
import { generateKey } from './handshake/accept-key';
import { parseClientUrl } from './handshake/client-url';
import { checkServerResponse } from './handshake/client-response';
import { findIllegalTokenChar } from './handshake/header-values';
import { acceptServerExtensions, deflateOptionsFrom, describeParams, formatClientOffer } from './extensions/deflate-negotiation';
import type { IExtension } from './public-types';
import { ConnectResult } from './promises/results';
import { connectOverHttp2, type Http2Attempt } from './http2/client-connect';
import WebSocketConnection = require('./WebSocketConnection');

/** The merged client config (`client.config`). */
type ClientConfig = ConnectionConfig & {
  webSocketVersion: number;
  tlsOptions: https.RequestOptions;
  http2?: boolean | ClientHttp2Session | null | undefined;
};

// Request options the TLS options may not override.
const EXCLUDED_TLS_OPTIONS = new Set(['hostname', 'port', 'method', 'path', 'headers']);

/** A WebSocket client; see the module comment. */
class WebSocketClient extends EventEmitter {
  /** EventEmitter's hook for a rejected async listener (captureRejections): lib/promises/listener-rejections.ts. */
  [kRejection](error: unknown): void {
    handleListenerRejection(error);
  }

  config: ClientConfig;
  url: Url | undefined;
  protocols: string[] = [];
  origin: string | undefined;
  secure = false;
  base64nonce: string | undefined;
  socket: Socket | undefined;
  response: http.IncomingMessage | undefined;
  firstDataChunk: Buffer | null | undefined;
  protocol: string | undefined;
  /** New: the extensions agreed in the last handshake (permessage-deflate when enabled and accepted). */
  extensions: IExtension[] = [];
  _req: http.ClientRequest | null = null;
  /** @internal an HTTP/2 connection attempt in progress (config `http2`) */
  _http2: Http2Attempt | null = null;
  /** @internal the outcome of the latest connect(), for its awaitable */
  _connecting: ConnectResult<WebSocketConnection> | null = null;

  constructor(config?: IClientConfig) {
    // Async listeners' rejections: see lib/promises/listener-rejections.ts.
    super(CAPTURE_REJECTIONS);
    const merged = clientDefaults() as ClientConfig;
    if (config) {
      let tlsOptions: https.RequestOptions = {};
      if (config.tlsOptions) {
        tlsOptions = config.tlsOptions;
        // compat: WebSocket-Node deletes tlsOptions from the caller's config object.
        delete config.tlsOptions;
      }
      Object.assign(merged, config);
      merged.tlsOptions = Object.assign({}, tlsOptions);
    }
    this.config = merged;
    if (merged.webSocketVersion !== 8 && merged.webSocketVersion !== 13) {
      throw new Error('Requested webSocketVersion is not supported. Allowed values are 8 and 13.');
    }
  }

  /**
   * Starts connecting; the outcome is `'connect'` or `'connectFailed'` (or `'httpResponse'`). As in
   * upstream's v2, it also returns an awaitable of the connection, which rejects with the Error
   * `'connectFailed'` gets; made lazily, so ignoring it never leaves an unhandled rejection. Typed
   * `void & ConnectResult` so that code written against @types (which says void) still compiles;
   * in TypeScript, `await (client.connect(url) as ConnectResult<connection>)` types the connection.
   */
  connect(
    requestUrl: string | Url | URL,
    protocols?: string | string[] | null,
    origin?: string | null,
    headers?: http.OutgoingHttpHeaders | null,
    extraRequestOptions?: http.RequestOptions | null,
  ): void & ConnectResult<WebSocketConnection> {
    const result = new ConnectResult<WebSocketConnection>();
    this._connecting = result;
    let list: string[];
    if (typeof protocols === 'string') list = protocols.length > 0 ? [protocols] : [];
    else list = Array.isArray(protocols) ? protocols : [];
    this.protocols = list;
    this.origin = origin ?? undefined;

    // A legacy Url object is used as given, as WebSocket-Node does. A WHATWG URL is read through a
    // legacy copy (compat fix, RFC 6455 §4.1: its path and query are the request-target), but
    // `client.url` is the object the caller passed, as in WebSocket-Node.
    const target: Url = typeof requestUrl === 'string' || requestUrl instanceof URL ? parseClientUrl(requestUrl) : requestUrl;
    this.url = requestUrl instanceof URL ? (requestUrl as unknown as Url) : target;
    if (!target.protocol) throw new Error('You must specify a full WebSocket URL, including protocol.');
    if (!target.host) {
      throw new Error('You must specify a full WebSocket URL, including hostname. Relative URLs are not supported.');
    }
    // compat: only "wss:" is secure, as in WebSocket-Node; "https:" connects in plain text like "http:",
    // so an application that works against upstream keeps working (docs/WebSocketClient.md).
    this.secure = target.protocol === 'wss:';

    for (const protocol of list) {
      const bad = findIllegalTokenChar(protocol);
      if (bad !== null) throw new Error(`Protocol list contains invalid character "${bad}"`);
    }

    if (!target.port) target.port = this.secure ? '443' : '80';
    // RFC 6455 §4.1: the nonce is 16 random bytes (compat fix: WebSocket-Node used Math.random).
    const nonce = generateKey();
    this.base64nonce = nonce;

    // compat fix: IPv6 literals keep their brackets in the Host header (RFC 7230 §5.4).
    const hostname = target.hostname ?? '';
    let hostHeader = hostname.includes(':') ? `[${hostname}]` : hostname;
    if (target.port !== (this.secure ? '443' : '80')) hostHeader += ':' + target.port;

    const requestHeaders: http.OutgoingHttpHeaders = {};
    const tlsOptions = this.config.tlsOptions;
    if (this.secure && Object.prototype.hasOwnProperty.call(tlsOptions, 'headers')) {
      Object.assign(requestHeaders, tlsOptions.headers);
    }
    if (headers) Object.assign(requestHeaders, headers);
    Object.assign(requestHeaders, {
      Upgrade: 'websocket',
      Connection: 'Upgrade',
      'Sec-WebSocket-Version': this.config.webSocketVersion.toString(10),
      'Sec-WebSocket-Key': nonce,
      Host: requestHeaders['Host'] ?? hostHeader,
    });
    if (list.length > 0) requestHeaders['Sec-WebSocket-Protocol'] = list.join(', ');
    const deflateOptions = deflateOptionsFrom(this.config.perMessageDeflate);
    if (deflateOptions !== null) requestHeaders['Sec-WebSocket-Extensions'] = formatClientOffer(deflateOptions);
    if (this.origin) {
      if (this.config.webSocketVersion === 13) requestHeaders['Origin'] = this.origin;
      else requestHeaders['Sec-WebSocket-Origin'] = this.origin;
    }

    let pathAndQuery: string;
    if (target.pathname) pathAndQuery = target.path ?? target.pathname;
    else if (target.path) pathAndQuery = '/' + target.path;
    else pathAndQuery = '/';

    const requestOptions: https.RequestOptions = { agent: false };
    if (extraRequestOptions) Object.assign(requestOptions, extraRequestOptions);
    Object.assign(requestOptions, {
      hostname: hostname,
      port: target.port,
      method: 'GET',
      path: pathAndQuery,
      headers: requestHeaders,
    });
    if (this.secure) {
      for (const key of Object.keys(tlsOptions)) {
        if (!EXCLUDED_TLS_OPTIONS.has(key)) {
          (requestOptions as Record<string, unknown>)[key] = (tlsOptions as Record<string, unknown>)[key];
        }
      }
    }

    if (this.config.http2 !== undefined && this.config.http2 !== false && this.config.http2 !== null) {
      // New: RFC 8441 (lib/http2): an extended CONNECT stream on an HTTP/2 session, falling back to
      // this HTTP/1.1 upgrade when the server does not offer it.
      const port = target.port;
      this._http2 = connectOverHttp2(
        {
          secure: this.secure,
          hostPort: `${hostname.includes(':') ? `[${hostname}]` : hostname}:${port}`,
          authority: String(requestHeaders['Host']),
          path: pathAndQuery,
          headers: requestHeaders,
          protocols: list,
          perMessageDeflate: this.config.perMessageDeflate,
          tlsOptions: this.secure ? tlsOptions : null,
          session: this.config.http2 === true ? null : this.config.http2,
        },
        {
          fallBack: () => {
            this._http2 = null;
            this._upgradeOverHttp1(requestOptions, result);
          },
          fail: (failure) => {
            // Not failHandshake(): that ends `this.socket`, which here may still be the socket of
            // an earlier connection of this client (the refused stream is closed already).
            this._http2 = null;
            const error = typeof failure === 'string' ? new Error(failure) : failure;
            result.failed(error);
            this.emit('connectFailed', error);
          },
          open: (socket, protocol, extensions) => {
            this._http2 = null;
            this.socket = socket;
            this.response = undefined;
            this.firstDataChunk = null;
            this.protocol = protocol;
            this.extensions = extensions;
            this.succeedHandshake();
          },
        },
      );
      return result as void & ConnectResult<WebSocketConnection>;
    }
    this._upgradeOverHttp1(requestOptions, result);
    return result as void & ConnectResult<WebSocketConnection>;
  }

  /** The HTTP/1.1 upgrade request (RFC 6455 §4.1). */
  private _upgradeOverHttp1(requestOptions: https.RequestOptions, result: ConnectResult<WebSocketConnection>): void {
    const request = (this.secure ? https : http).request(requestOptions);
    this._req = request;
    const onError = (error: Error): void => {
      this._req = null;
      result.failed(error);
      this.emit('connectFailed', error);
    };
    request.on('error', onError);
    request.on('upgrade', (response: http.IncomingMessage, socket: Socket, head: Buffer) => {
      this._req = null;
      request.removeListener('error', onError);
      // The socket has no 'error' listener until a connection owns it; a reset must not crash.
      socket.on('error', ignoreError);
      this.socket = socket;
      this.response = response;
      this.firstDataChunk = head;
      this.validateHandshake();
    });
    request.on('response', (response: http.IncomingMessage) => {
      this._req = null;
      if (this.listenerCount('httpResponse') > 0) {
        result.failed(new Error(`Server responded with a non-101 status: ${response.statusCode} ${response.statusMessage}`));
        this.emit('httpResponse', response, this);
        response.socket?.end();
        return;
      }
      let dump = '';
      for (const name of Object.keys(response.headers)) dump += `${name}: ${String(response.headers[name])}\n`;
      response.resume();
      this.failHandshake(
        `Server responded with a non-101 status: ${response.statusCode} ${response.statusMessage}\nResponse Headers Follow:\n${dump}`,
      );
    });
    request.end();
  }

  /** Checks the 101 response; fails or completes the handshake. */
  validateHandshake(): void {
    const check = checkServerResponse(this.response?.headers ?? {}, this.base64nonce ?? '', this.protocols);
    // `=== false`, not `!check.ok`: without strictNullChecks TypeScript narrows a union by a
    // boolean discriminant only on an explicit comparison, and this file must compile either way.
    if (check.ok === false) {
      this.failHandshake(check.message);
      return;
    }
    this.protocol = check.protocol;
    this.extensions = [];
    const header = this.response?.headers['sec-websocket-extensions'];
    if (header !== undefined && header !== '') {
      const agreed = acceptServerExtensions(header, deflateOptionsFrom(this.config.perMessageDeflate));
      if (typeof agreed === 'string') {
        this.failHandshake(agreed);
        return;
      }
      this.extensions = [describeParams(agreed)];
    }
    this.succeedHandshake();
  }

  /** Ends the socket and emits `'connectFailed'` with an Error. */
  failHandshake(errorDescription: string): void {
    if (this.socket && this.socket.writable) this.socket.end();
    const error = new Error(errorDescription);
    this._connecting?.failed(error);
    this.emit('connectFailed', error);
  }

  /** Creates the connection, emits `'connect'`, then feeds bytes that came with the 101. */
  succeedHandshake(): void {
    const socket = this.socket as Socket;
    const connection = new WebSocketConnection(socket, this.extensions, this.protocol, true, this.config);
    connection.webSocketVersion = this.config.webSocketVersion;
    connection._addSocketEventListeners();
    this._connecting?.succeeded(connection);
    this.emit('connect', connection);
    const first = this.firstDataChunk;
    if (first && first.length > 0) connection._receiveHandshakeHead(first);
    this.firstDataChunk = null;
  }

  /** Aborts a connection attempt in progress; `'connectFailed'` follows. */
  abort(): void {
    if (this._req) this._req.destroy();
    else this._http2?.abort();
  }
}

/** Typed event overloads, as `@types/websocket` declares them. */
interface WebSocketClient {
  on(event: 'connect', cb: (connection: WebSocketConnection) => void): this;
  on(event: 'connectFailed', cb: (err: Error) => void): this;
  on(event: 'httpResponse', cb: (response: http.IncomingMessage, client: WebSocketClient) => void): this;
  addListener(event: 'connect', cb: (connection: WebSocketConnection) => void): this;
  addListener(event: 'connectFailed', cb: (err: Error) => void): this;
  addListener(event: 'httpResponse', cb: (response: http.IncomingMessage, client: WebSocketClient) => void): this;
}

function ignoreError(): void {
  // The handshake outcome is reported through 'connectFailed' or the connection's own events.
}

export = WebSocketClient;
