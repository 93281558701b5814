/**
 * A WebSocketRequest that arrived as an RFC 8441 extended CONNECT on an HTTP/2 stream. It has the
 * same properties, events and `accept()` / `reject()` contract as one that arrived as an HTTP/1.1
 * upgrade; what differs is the handshake's form:
 * - the request is `:method` CONNECT with `:protocol` websocket; `:path` gives `resource`,
 *   `:authority` gives `host`, and there is no Upgrade, Connection or Sec-WebSocket-Key (RFC 8441 §5);
 * - `accept()` answers `:status` 200 on the stream, with no Sec-WebSocket-Accept (RFC 8441 §5), and
 *   the stream then carries the connection (lib/http2/stream-socket);
 * - `reject()` answers the status with END_STREAM, which ends the stream, not the session.
 */
import type { IncomingMessage } from 'node:http';
import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { IServerConfig } from '../config';
import { formatSetCookies, type SetCookie } from '../handshake/cookies';
import { headerString } from '../handshake/header-values';
import type { ICookie, IExtension } from '../public-types';
import WebSocketConnection = require('../WebSocketConnection');
import WebSocketRequest = require('../WebSocketRequest');
import { Http2RequestView } from './request-view';
import { addExtraHeaders, fieldValue, refusalStatus, setCookieValues } from './response-headers';
import { streamAsSocket } from './stream-socket';

/** An error from `readHandshake()`, with the status and headers of the refusal (as WebSocketRequest's). */
export interface Http2HandshakeError extends Error {
  httpCode?: number;
  headers?: Record<string, string>;
}

/** One extended CONNECT waiting for `accept()` or `reject()`; see the module comment. */
export class Http2WebSocketRequest extends WebSocketRequest {
  /** The stream the request came on; after `accept()`, the connection's `socket` too. */
  readonly stream: ServerHttp2Stream;

  constructor(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, serverConfig: IServerConfig, rawHeaders?: readonly string[]) {
    const socket = streamAsSocket(stream);
    super(socket, new Http2RequestView(stream, socket, headers, rawHeaders) as unknown as IncomingMessage, serverConfig);
    this.stream = stream;
  }

  /** Validates the extended CONNECT and fills in the request's properties; throws on a bad request. */
  override readHandshake(): void {
    const headers = this.httpRequest.headers as IncomingHttpHeaders;
    // RFC 8441 §4: "On requests that contain the :protocol pseudo-header field, the :scheme and
    // :path pseudo-header fields of the target URI MUST also be included." Without them the
    // request is malformed (RFC 9113 §8.1.1), answered here with 400.
    if (!headerString(headers[':path'])) throw handshakeError(400, 'Extended CONNECT requires a :path pseudo-header field.');
    if (!headerString(headers[':scheme'])) throw handshakeError(400, 'Extended CONNECT requires a :scheme pseudo-header field.');
    this._urlSource = this.resource;
    this._url = null;

    // RFC 9113 §8.3.1: ":authority" takes the place of Host (a Host field is still honoured).
    this.host = (headerString(headers[':authority']) ?? headerString(headers.host)) as string;
    if (!this.host) throw handshakeError(400, 'Client must provide an :authority pseudo-header field or a Host header.');

    // RFC 8441 §5: Sec-WebSocket-Version is used as RFC 6455 §4.1 says, whose only version is 13.
    const version = parseInt(headerString(headers['sec-websocket-version']) ?? '', 10);
    this.webSocketVersion = version;
    if (!version || isNaN(version)) throw handshakeError(400, 'Client must provide a value for Sec-WebSocket-Version.');
    if (version !== 13) {
      // RFC 6455 §4.4: answer an unsupported version with the version we do support.
      throw handshakeError(426, `Unsupported websocket client version: ${version}. Only version 13 is supported over HTTP/2.`, {
        'sec-websocket-version': '13',
      });
    }
    // RFC 8441 §5: the Sec-WebSocket-Key and Sec-WebSocket-Accept fields are not used; Origin,
    // Sec-WebSocket-Protocol and Sec-WebSocket-Extensions are, as in RFC 6455. (RFC 9113 §8.2.3
    // lets a client split Cookie into several fields; Node joins them with "; ".)
    this._readOffer(headerString(headers.origin));
  }

  /**
   * Accepts the request: answers `:status` 200 and returns the connection, which runs over the
   * stream. Validation failures reject the request with 500 and then throw, as over HTTP/1.1.
   */
  override accept(acceptedProtocol?: string | null, allowedOrigin?: string | null, cookies?: ICookie[] | SetCookie[]): WebSocketConnection {
    this._verifyResolution();
    // RFC 8441 §5: a 2xx status accepts; "the Sec-WebSocket-Accept header field is not used".
    const headers: OutgoingHttpHeaders = { ':status': 200 };
    const protocolFullCase = this._answeredProtocol(acceptedProtocol);
    if (protocolFullCase) headers['sec-websocket-protocol'] = fieldValue(protocolFullCase);
    // permessage-deflate (RFC 7692) is negotiated as over HTTP/1.1, when the server config enables it.
    const extensions: IExtension[] = [];
    const deflate = this._negotiateDeflate();
    if (deflate !== null) {
      headers['sec-websocket-extensions'] = deflate.response;
      extensions.push(deflate.extension);
    }

    // As the HTTP/1.1 answer does (WebSocket-Node sends the allowed origin back).
    if (allowedOrigin) headers['origin'] = fieldValue(allowedOrigin);

    if (cookies) {
      try {
        const lines = formatSetCookies(cookies);
        if (lines !== '') headers['set-cookie'] = setCookieValues(lines);
      } catch (error) {
        this.reject(500);
        throw error;
      }
    }

    this._markResolved();

    const connection = this._newConnection(extensions, acceptedProtocol);

    if (this._socketIsClosing || !respond(this.stream, headers, false)) {
      process.nextTick(dropLostConnection, connection);
    } else {
      // The stream is the connection's from here; what the client sent early waits in the stream
      // (bounded by HTTP/2 flow control) and is read once the 'data' listener is attached.
      this._handOver(connection);
    }
    this._markAccepted(connection);
    return connection;
  }

  /**
   * Refuses the request: the status (403 when not a number; see refusalStatus()) with END_STREAM,
   * an `x-websocket-reject-reason` field when a reason is given, and the extra headers.
   */
  override reject(status?: number, reason?: string, extraHeaders?: object): void {
    this._verifyResolution();
    this._markResolved();
    const code = refusalStatus(status);
    const headers: OutgoingHttpHeaders = { ':status': code };
    if (reason) headers['x-websocket-reject-reason'] = fieldValue(reason);
    addExtraHeaders(headers, extraHeaders);
    // A header Node still refuses must not leave the stream unanswered: the status alone then.
    if (!respond(this.stream, headers, true) && !respond(this.stream, { ':status': code }, true)) {
      if (!this.stream.destroyed && !this.stream.headersSent) this.stream.destroy();
    }
    this.emit('requestRejected', this);
  }
}

/** Sends the response headers; false when the stream can no longer take them. */
function respond(stream: ServerHttp2Stream, headers: OutgoingHttpHeaders, endStream: boolean): boolean {
  if (stream.destroyed || stream.closed || stream.headersSent) return false;
  try {
    stream.respond(headers, { endStream });
    return true;
  } catch {
    // ERR_HTTP2_INVALID_STREAM (the session went meanwhile) or a header Node refuses.
    return false;
  }
}

/** A `readHandshake()` error carrying the refusal's status and headers. */
function handshakeError(httpCode: number, message: string, headers?: Record<string, string>): Http2HandshakeError {
  const error: Http2HandshakeError = new Error(message);
  error.httpCode = httpCode;
  if (headers !== undefined) error.headers = headers;
  return error;
}

/** The stream went before the 200 could be sent: the connection closes with 1006, as over HTTP/1.1. */
function dropLostConnection(connection: WebSocketConnection): void {
  connection.drop(1006, 'HTTP/2 stream closed before handshake completed.', true);
}
