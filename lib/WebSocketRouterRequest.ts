/** WebSocketRouterRequest: what a router handler receives; it accepts with the protocol the route matched. */
import { EventEmitter } from 'node:events';
import { CAPTURE_REJECTIONS, handleListenerRejection, kRejection } from './promises/listener-rejections';
import type { IncomingMessage } from 'node:http';
import type { UrlWithParsedQuery } from 'node:url';
import type { SetCookie } from './handshake/cookies';
import type { ICookie } from './public-types';
import type { ExtensionOffer } from './handshake/header-values';
import type WebSocketRequest = require('./WebSocketRequest');
import type WebSocketConnection = require('./WebSocketConnection');

/** The router's marker for "the client asked for no subprotocol". */
const NO_PROTOCOL = '____no_protocol____';

/** A routed request; see the module comment. */
class WebSocketRouterRequest extends EventEmitter {
  /** EventEmitter's hook for a rejected async listener (captureRejections): lib/promises/listener-rejections.ts. */
  [kRejection](error: unknown): void {
    handleListenerRejection(error);
  }

  webSocketRequest: WebSocketRequest;
  protocol: string | null;
  origin: string;
  resource: string;
  resourceURL: UrlWithParsedQuery;
  httpRequest: IncomingMessage;
  remoteAddress: string;
  webSocketVersion: number;
  requestedExtensions: ExtensionOffer[];
  cookies: ICookie[];

  constructor(webSocketRequest: WebSocketRequest, resolvedProtocol: string) {
    // Async listeners' rejections: see lib/promises/listener-rejections.ts.
    super(CAPTURE_REJECTIONS);
    this.webSocketRequest = webSocketRequest;
    this.protocol = resolvedProtocol === NO_PROTOCOL ? null : resolvedProtocol;
    this.origin = webSocketRequest.origin;
    this.resource = webSocketRequest.resource;
    this.resourceURL = webSocketRequest.resourceURL;
    this.httpRequest = webSocketRequest.httpRequest;
    this.remoteAddress = webSocketRequest.remoteAddress;
    this.webSocketVersion = webSocketRequest.webSocketVersion;
    this.requestedExtensions = webSocketRequest.requestedExtensions;
    this.cookies = webSocketRequest.cookies;
  }

  /**
   * Accepts with the routed protocol: `(origin, cookies)`, as WebSocket-Node's router requests do.
   * compat fix: `@types/websocket` declares `(acceptedProtocol, allowedOrigin, cookies)`; code that
   * follows it passes a string second, which WebSocket-Node took for the cookies and failed with 500.
   * A string second argument (or a third argument) is read in that form; the routed protocol stays.
   */
  accept(
    origin?: string | null,
    cookies?: ICookie[] | SetCookie[] | string | null,
    typedCookies?: ICookie[] | SetCookie[],
  ): WebSocketConnection {
    let allowedOrigin = origin;
    let setCookies = cookies ?? undefined;
    if (typeof cookies === 'string' || typedCookies !== undefined) {
      allowedOrigin = typeof cookies === 'string' ? cookies : null;
      setCookies = typedCookies;
    }
    const connection = this.webSocketRequest.accept(this.protocol, allowedOrigin, setCookies as SetCookie[] | undefined);
    this.emit('requestAccepted', connection);
    return connection;
  }

  /** Refuses the request (see WebSocketRequest#reject). */
  reject(status?: number, reason?: string, extraHeaders?: object): void {
    this.webSocketRequest.reject(status, reason, extraHeaders);
    this.emit('requestRejected', this);
  }
}

/** Typed event overloads, as `@types/websocket` declares them for IRouterRequest. */
interface WebSocketRouterRequest {
  on(event: 'requestAccepted', cb: (connection: WebSocketConnection) => void): this;
  on(event: 'requestRejected', cb: (request: this) => void): this;
  addListener(event: 'requestAccepted', cb: (connection: WebSocketConnection) => void): this;
  addListener(event: 'requestRejected', cb: (request: this) => void): this;
}

export = WebSocketRouterRequest;
