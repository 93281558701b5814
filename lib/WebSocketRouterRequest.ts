/** WebSocketRouterRequest: what a router handler receives; it accepts with the protocol the route matched. */
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { Url } from 'node:url';
import type { RequestCookie, SetCookie } from './handshake/cookies';
import type { ExtensionOffer } from './handshake/header-values';
import type WebSocketRequest = require('./WebSocketRequest');
import type WebSocketConnection = require('./WebSocketConnection');

/** The router's marker for "the client asked for no subprotocol". */
const NO_PROTOCOL = '____no_protocol____';

/** A routed request; see the module comment. */
class WebSocketRouterRequest extends EventEmitter {
  webSocketRequest: WebSocketRequest;
  protocol: string | null;
  origin: string | undefined;
  resource: string;
  resourceURL: Url;
  httpRequest: IncomingMessage;
  remoteAddress: string | undefined;
  webSocketVersion: number | undefined;
  requestedExtensions: ExtensionOffer[];
  cookies: RequestCookie[];

  constructor(webSocketRequest: WebSocketRequest, resolvedProtocol: string) {
    super();
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

  /** Accepts with the routed protocol: `(origin, cookies)`, as WebSocket-Node's router requests do. */
  accept(origin?: string | null, cookies?: SetCookie[]): WebSocketConnection {
    const connection = this.webSocketRequest.accept(this.protocol, origin, cookies);
    this.emit('requestAccepted', connection);
    return connection;
  }

  /** Refuses the request (see WebSocketRequest#reject). */
  reject(status?: number, reason?: string, extraHeaders?: Record<string, unknown>): void {
    this.webSocketRequest.reject(status, reason, extraHeaders);
    this.emit('requestRejected', this);
  }
}

export = WebSocketRouterRequest;
