/**
 * WebSocketRequest: a validated upgrade request waiting for `accept()` or `reject()`, with
 * WebSocket-Node's properties, validation order, error messages and byte-exact responses.
 */
import { EventEmitter } from 'node:events';
import { CAPTURE_REJECTIONS, handleListenerRejection, kRejection } from './promises/listener-rejections';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { UrlWithParsedQuery } from 'node:url';
import { computeAcceptKey } from './handshake/accept-key';
import { formatSetCookies, parseCookieHeader, type RequestCookie, type SetCookie } from './handshake/cookies';
import { findIllegalTokenChar, headerString, parseExtensionList, splitHeaderList, stripCrLf, type ExtensionOffer } from './handshake/header-values';
import { reasonPhrase } from './handshake/http-status';
import { legacyResourceUrl } from './handshake/legacy-url';
import { requestHeader } from './handshake/request-headers';
import { checkUpgradeRequest } from './handshake/upgrade-checks';
import type { IServerConfig } from './config';
import type { ICookie, IExtension } from './public-types';
import { deflateOptionsFrom, describeParams, negotiateOffers } from './extensions/deflate-negotiation';
import { setSocketOwner, socketOwner } from './transport/socket-binding';
import WebSocketConnection = require('./WebSocketConnection');

/** What a server waiting on a request is told: WebSocket-Node's server listens for these two events. */
interface RequestOwner {
  _requestResolved(request: WebSocketRequest): void;
  _requestAccepted(connection: WebSocketConnection): void;
}

/**
 * The 101 response up to the accept key, as one constant: building it from parts made a string per
 * part for every handshake.
 */
const ACCEPT_HEAD = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ';

/** An error from `readHandshake()`, carrying the HTTP status and headers of the refusal. */
interface HandshakeError extends Error {
  httpCode?: number;
  headers?: Record<string, string>;
}

/** One upgrade request; see the module comment. */
class WebSocketRequest extends EventEmitter {
  /** EventEmitter's hook for a rejected async listener (captureRejections): lib/promises/listener-rejections.ts. */
  [kRejection](error: unknown): void {
    handleListenerRejection(error);
  }

  socket: Socket;
  httpRequest: IncomingMessage;
  serverConfig: IServerConfig;
  resource: string;
  // The fields below are typed as `@types/websocket` has them; at run time `origin`, `host` and `key`
  // are undefined when the header is absent, and the protocol list and map become null after accept().
  remoteAddress: string;
  remoteAddresses: string[];
  host!: string;
  key!: string;
  webSocketVersion!: number;
  origin!: string;
  // Set by readHandshake(), as in WebSocket-Node (undefined before it).
  requestedProtocols!: string[];
  protocolFullCaseMap!: Record<string, string>;
  requestedExtensions!: ExtensionOffer[];
  /** Cookies of the request; a cookie without `=` has a null value at run time. */
  cookies!: ICookie[];
  _resolved = false;
  _socketIsClosing = false;
  /**
   * WebSocket-Node's socket 'end'/'close' handler. One shared function that finds its request
   * through the socket (no bound function per request); calling it as a method works too.
   */
  _socketCloseHandler: () => void = socketClosedBeforeAccept;
  /** @internal bytes that arrived with the upgrade request (the 'upgrade' event's `head`) */
  _head: Buffer | undefined;
  /** @internal the server waiting on this request, told when it is resolved (no listeners per request). */
  _owner: RequestOwner | null = null;
  /** @internal when handshakeTimeout refuses it (a performance.now() time); 0 without a timeout. */
  _deadline = 0;
  /** @internal the resource `resourceURL` is parsed from, once read (parsed on first use: most apps never read it). */
  _urlSource: string | null = null;
  /** @internal resourceURL once parsed or assigned. */
  _url: UrlWithParsedQuery | null = null;

  constructor(socket: Socket, httpRequest: IncomingMessage, serverConfig: IServerConfig) {
    // Async listeners' rejections: see lib/promises/listener-rejections.ts.
    super(CAPTURE_REJECTIONS);
    this.socket = socket;
    this.httpRequest = httpRequest;
    this.serverConfig = serverConfig;
    this.resource = httpRequest.url ?? '/';
    this.remoteAddress = socket.remoteAddress as string;
    this.remoteAddresses = [this.remoteAddress];
    // The socket's shared listeners find the request through it, until the connection takes over.
    setSocketOwner(socket, this);
    socket.on('end', socketClosedBeforeAccept);
    socket.on('close', socketClosedBeforeAccept);
    // compat fix: WebSocket-Node left the socket without an 'error' listener until the connection
    // took over, so a reset in that window (or after reject() on TLS) crashed the process.
    // The connection replaces this guard (it removes every 'error' listener) once accepted.
    socket.on('error', socketClosedBeforeAccept);
  }

  /** `url.parse(resource, true)`'s legacy Url, as readHandshake() found the resource; parsed when first read. */
  get resourceURL(): UrlWithParsedQuery {
    if (this._url === null && this._urlSource !== null) this._url = legacyResourceUrl(this._urlSource) as UrlWithParsedQuery;
    return this._url as UrlWithParsedQuery;
  }

  set resourceURL(value: UrlWithParsedQuery) {
    this._url = value;
  }

  /** Validates the request headers and fills in the request's properties; throws on a bad request. */
  readHandshake(): void {
    // Read in place: building httpRequest.headers costs every handshake (handshake/request-headers).
    const request = this.httpRequest;
    this._urlSource = this.resource;
    this._url = null;

    this.host = requestHeader(request, 'host') as string;
    if (!this.host) throw new Error('Client must provide a Host header.');

    this.key = headerString(requestHeader(request, 'sec-websocket-key')) as string;
    if (!this.key) throw new Error('Client must provide a value for Sec-WebSocket-Key.');

    const version = parseInt(headerString(requestHeader(request, 'sec-websocket-version')) ?? '', 10);
    this.webSocketVersion = version;
    if (!version || isNaN(version)) throw new Error('Client must provide a value for Sec-WebSocket-Version.');
    if (version !== 8 && version !== 13) {
      // compat: the missing space before "Only" is WebSocket-Node 1.0.35's text.
      const error: HandshakeError = new Error(
        `Unsupported websocket client version: ${version}Only versions 8 and 13 are supported.`,
      );
      // RFC 6455 §4.4: answer an unsupported version with the versions we do support.
      error.httpCode = 426;
      error.headers = { 'Sec-WebSocket-Version': '13' };
      throw error;
    }
    const refusal = checkUpgradeRequest(request, this.key);
    if (refusal !== null) {
      const error: HandshakeError = new Error(refusal.message);
      error.httpCode = refusal.httpCode;
      if (refusal.headers !== undefined) error.headers = refusal.headers;
      throw error;
    }
    this._readOffer(headerString(requestHeader(request, version === 13 ? 'origin' : 'sec-websocket-origin')));
  }

  /**
   * @internal the fields of the client's offer, read alike for an HTTP/1.1 upgrade and an HTTP/2
   * extended CONNECT (RFC 8441 §5 keeps Origin, Sec-WebSocket-Protocol and -Extensions, cookies).
   */
  _readOffer(origin: string | undefined): void {
    const request = this.httpRequest;
    this.origin = origin as string;
    const protocols = headerString(requestHeader(request, 'sec-websocket-protocol'));
    this.protocolFullCaseMap = {};
    this.requestedProtocols = [];
    if (protocols) {
      for (const protocol of splitHeaderList(protocols)) {
        const lower = protocol.toLocaleLowerCase();
        this.requestedProtocols.push(lower);
        this.protocolFullCaseMap[lower] = protocol;
      }
    }

    const forwardedFor = headerString(requestHeader(request, 'x-forwarded-for'));
    if (!this.serverConfig.ignoreXForwardedFor && forwardedFor) {
      // compat: the left-most (client-supplied) address wins; see docs/security.md.
      const addresses = splitHeaderList(forwardedFor);
      addresses.push(this.remoteAddress);
      this.remoteAddresses = addresses;
      this.remoteAddress = addresses[0] as string;
    }

    this.requestedExtensions = this.serverConfig.parseExtensions
      ? this.parseExtensions(headerString(requestHeader(request, 'sec-websocket-extensions')))
      : [];
    this.cookies = this.serverConfig.parseCookies ? (this.parseCookies(requestHeader(request, 'cookie')) as ICookie[]) : [];
  }

  /** WebSocket-Node's Sec-WebSocket-Extensions parser (see handshake/header-values). */
  parseExtensions(extensionsString: string | undefined): ExtensionOffer[] {
    return parseExtensionList(extensionsString);
  }

  /** WebSocket-Node's Cookie header parser (see handshake/cookies). */
  parseCookies(cookieString: unknown): RequestCookie[] {
    return parseCookieHeader(cookieString);
  }

  /**
   * Accepts the request: writes the 101 response and returns the new connection. Validation
   * failures reject the request with 500 and then throw, as WebSocket-Node does.
   */
  accept(acceptedProtocol?: string | null, allowedOrigin?: string | null, cookies?: ICookie[] | SetCookie[]): WebSocketConnection {
    this._verifyResolution();
    let response = ACCEPT_HEAD + computeAcceptKey(this.key ?? '') + '\r\n';
    const protocolFullCase = this._answeredProtocol(acceptedProtocol);
    if (protocolFullCase) response += `Sec-WebSocket-Protocol: ${stripCrLf(protocolFullCase)}\r\n`;
    const extensions: IExtension[] = [];
    const deflate = this._negotiateDeflate();
    if (deflate !== null) {
      response += `Sec-WebSocket-Extensions: ${deflate.response}\r\n`;
      extensions.push(deflate.extension);
    }

    if (allowedOrigin) {
      const origin = stripCrLf(allowedOrigin);
      if (this.webSocketVersion === 13) response += `Origin: ${origin}\r\n`;
      else if (this.webSocketVersion === 8) response += `Sec-WebSocket-Origin: ${origin}\r\n`;
    }

    if (cookies) {
      try {
        response += formatSetCookies(cookies);
      } catch (error) {
        this.reject(500);
        throw error;
      }
    }

    this._markResolved();
    response += '\r\n';

    const connection = this._newConnection(extensions, acceptedProtocol);

    if (this._socketIsClosing || this.socket.destroyed) {
      process.nextTick(dropLostConnection, connection);
    } else {
      const head = this._head;
      this.socket.write(response, 'ascii', (error?: Error | null) => {
        if (error) {
          dropLostConnection(connection);
          return;
        }
        this._handOver(connection);
        // compat fix: WebSocket-Node dropped the bytes that arrived with the upgrade request.
        if (head !== undefined && head.length > 0) connection.handleSocketData(head);
      });
    }
    this._head = undefined;
    this._markAccepted(connection);
    return connection;
  }

  /** @internal the connection an accepted request becomes, with the request's version and addresses (as WebSocket-Node sets them). */
  _newConnection(extensions: IExtension[], acceptedProtocol: string | null | undefined): WebSocketConnection {
    const connection = new WebSocketConnection(this.socket, extensions, acceptedProtocol, false, this.serverConfig);
    connection.webSocketVersion = this.webSocketVersion as number;
    connection.remoteAddress = this.remoteAddress as string;
    connection.remoteAddresses = this.remoteAddresses;
    return connection;
  }

  /**
   * @internal the connection takes the socket's listeners over from the request, once the answer
   * is out. The order keeps the socket's listener table small (memory per idle connection): an
   * event name whose last listener goes is deleted from it, which turns it into a larger
   * dictionary, so 'close' gets its new listener first; 'end' always keeps net.Socket's own
   * listener, and removing ours first keeps its listener array from growing to a bigger store.
   */
  _handOver(connection: WebSocketConnection): void {
    this.socket.removeListener('end', this._socketCloseHandler);
    connection._addSocketEventListeners();
    this.socket.removeListener('close', this._socketCloseHandler);
  }

  /**
   * @internal the subprotocol to answer with (the client's spelling of `acceptedProtocol`), checked;
   * refuses the request with 500 and throws when it is malformed or was not requested. Afterwards
   * the protocol list and map are gone, as in WebSocket-Node.
   */
  _answeredProtocol(acceptedProtocol: string | null | undefined): string | null | undefined {
    let protocolFullCase: string | null | undefined = acceptedProtocol;
    if (acceptedProtocol) {
      protocolFullCase = (this.protocolFullCaseMap as Record<string, string> | null)?.[acceptedProtocol.toLocaleLowerCase()] ?? acceptedProtocol;
    }
    this.protocolFullCaseMap = null as unknown as Record<string, string>;
    if (protocolFullCase) {
      const bad = findIllegalTokenChar(protocolFullCase);
      if (bad !== null) {
        this.reject(500);
        // compat fix: WebSocket-Node always printed "\u0000" here instead of the character.
        throw new Error(`Illegal character "${bad}" in subprotocol.`);
      }
      // compat fix: WebSocket-Node compared the argument case-sensitively with the lower-cased list.
      const requested = this.requestedProtocols as string[] | null;
      if (requested === null || !requested.includes(protocolFullCase.toLocaleLowerCase())) {
        this.reject(500);
        throw new Error('Specified protocol was not requested by the client.');
      }
    }
    this.requestedProtocols = null as unknown as string[];
    return protocolFullCase;
  }

  /** @internal New: permessage-deflate (RFC 7692) as agreed for this request, when the server config enables it. */
  _negotiateDeflate(): { response: string; extension: IExtension } | null {
    const deflateOptions = deflateOptionsFrom(this.serverConfig.perMessageDeflate);
    if (deflateOptions === null) return null;
    const offered = headerString(requestHeader(this.httpRequest, 'sec-websocket-extensions'));
    if (!offered) return null;
    const agreed = negotiateOffers(offered, deflateOptions);
    return agreed === null ? null : { response: agreed.response, extension: describeParams(agreed.params) };
  }

  /** Refuses the request with an HTTP status (403 when not a number), an optional reason and headers. */
  reject(status?: number, reason?: string, extraHeaders?: object): void {
    this._verifyResolution();
    this._markResolved();
    const code = typeof status === 'number' ? status : 403;
    let response = `HTTP/1.1 ${code} ${reasonPhrase(code)}\r\nConnection: close\r\n`;
    if (reason) response += `X-WebSocket-Reject-Reason: ${stripCrLf(String(reason))}\r\n`;
    if (extraHeaders) {
      const headers = extraHeaders as Record<string, unknown>;
      for (const key of Object.keys(headers)) {
        response += `${stripCrLf(key)}: ${stripCrLf(String(headers[key]))}\r\n`;
      }
    }
    response += '\r\n';
    this._head = undefined;
    this.socket.end(response, 'ascii');
    this.emit('requestRejected', this);
  }

  /** @internal the request is answered: its server is told first, then its listeners (as in WebSocket-Node). */
  _markResolved(): void {
    this._resolved = true;
    this._owner?._requestResolved(this);
    this.emit('requestResolved', this);
  }

  /** @internal the request is accepted: its server is told first, then its listeners. */
  _markAccepted(connection: WebSocketConnection): void {
    this._owner?._requestAccepted(connection);
    this.emit('requestAccepted', connection);
  }

  _handleSocketCloseBeforeAccept(): void {
    this._socketIsClosing = true;
    this._removeSocketCloseListeners();
  }

  _removeSocketCloseListeners(): void {
    this.socket.removeListener('end', this._socketCloseHandler);
    this.socket.removeListener('close', this._socketCloseHandler);
  }

  _verifyResolution(): void {
    if (this._resolved) throw new Error('WebSocketRequest may only be accepted or rejected one time.');
  }
}

/** Typed event overloads, as `@types/websocket` declares them. */
interface WebSocketRequest {
  on(event: 'requestResolved' | 'requestRejected', cb: (request: this) => void): this;
  on(event: 'requestAccepted', cb: (connection: WebSocketConnection) => void): this;
  addListener(event: 'requestResolved' | 'requestRejected', cb: (request: this) => void): this;
  addListener(event: 'requestAccepted', cb: (connection: WebSocketConnection) => void): this;
}

/**
 * The shared `_socketCloseHandler`: `this` is the socket, whose owner is its request until the
 * connection takes the socket over (then the write callback of the 101 removes this listener).
 */
function socketClosedBeforeAccept(this: Socket | WebSocketRequest): void {
  const request = this instanceof WebSocketRequest ? this : socketOwner(this);
  if (request instanceof WebSocketRequest) request._handleSocketCloseBeforeAccept();
}

/** The client left before the 101 was written: the connection closes with 1006, as WebSocket-Node does. */
function dropLostConnection(connection: WebSocketConnection): void {
  connection.drop(1006, 'TCP connection lost before handshake completed.', true);
}

export = WebSocketRequest;
