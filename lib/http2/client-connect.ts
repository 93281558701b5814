/**
 * The client side of RFC 8441: a WebSocket opened as an extended CONNECT stream on an HTTP/2
 * session. The request carries what an HTTP/1.1 upgrade carries, minus what HTTP/2 has no use for
 * (RFC 8441 §4-5: no Upgrade, Connection or Sec-WebSocket-Key, so no Sec-WebSocket-Accept to
 * check; Host becomes `:authority`); a 2xx response opens the WebSocket, whose bytes then travel as
 * the stream's DATA frames.
 */
import type * as http from 'node:http';
import type * as http2 from 'node:http2';
import type * as https from 'node:https';
import type { Socket } from 'node:net';
import { checkSelectedProtocol } from '../handshake/client-response';
import { acceptServerExtensions, deflateOptionsFrom, describeParams } from '../extensions/deflate-negotiation';
import type { IExtension } from '../public-types';
import type { IncomingHttpHeaders } from 'node:http';
import { ownSession, pooledSession, releaseSession, type SessionCallback } from './client-sessions';
import { streamAsSocket } from './stream-socket';

/** What WebSocketClient prepared for its handshake, and the session to use (null: the pool's). */
export interface Http2ConnectRequest {
  readonly secure: boolean;
  /** `host:port` for the URL (IPv6 in brackets). */
  readonly hostPort: string;
  /** The Host header value: becomes `:authority`. */
  readonly authority: string;
  readonly path: string;
  /** The request headers as prepared for HTTP/1.1 (the application's included). */
  readonly headers: http.OutgoingHttpHeaders;
  readonly protocols: readonly string[];
  /** The client config's `perMessageDeflate`. */
  readonly perMessageDeflate: unknown;
  readonly tlsOptions: https.RequestOptions | null;
  readonly session: http2.ClientHttp2Session | null;
}

/** How the attempt ends, told to WebSocketClient. */
export interface Http2ConnectHost {
  /** The server cannot take WebSockets over HTTP/2: do the HTTP/1.1 handshake instead. */
  fallBack(): void;
  /** The handshake failed. */
  fail(message: string | Error): void;
  /** The WebSocket is open on `socket` (the stream). */
  open(socket: Socket, protocol: string | undefined, extensions: IExtension[]): void;
}

/** An attempt in progress: `abort()` cancels it (`'connectFailed'` follows). */
export interface Http2Attempt {
  abort(): void;
}

/** Headers HTTP/2 forbids or RFC 8441 replaces (RFC 9113 §8.2.2; RFC 8441 §4). */
const DROPPED = new Set(['host', 'upgrade', 'connection', 'sec-websocket-key', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te']);

/** Opens a WebSocket over HTTP/2 (see the module comment). */
export function connectOverHttp2(request: Http2ConnectRequest, host: Http2ConnectHost): Http2Attempt {
  let aborted = false;
  let stream: http2.ClientHttp2Stream | null = null;
  const onSession: SessionCallback = (session, error) => {
    if (aborted) {
      if (session !== null && request.session === null) releaseSession(session);
      return;
    }
    if (session === null) {
      // RFC 8441 §3: no SETTINGS_ENABLE_CONNECT_PROTOCOL (or no HTTP/2 at all): plain HTTP/1.1.
      if (request.session === null || error === null) host.fallBack();
      else host.fail(error);
      return;
    }
    stream = openStream(session, request, host);
  };
  if (request.session !== null) ownSession(request.session, onSession);
  else pooledSession(`${request.secure ? 'https' : 'http'}://${request.hostPort}`, request.secure ? request.tlsOptions ?? {} : null, onSession);
  return {
    abort(): void {
      if (aborted) return;
      aborted = true;
      if (stream !== null) stream.close();
      else host.fail(new Error('The connection attempt was aborted.'));
    },
  };
}

function openStream(session: http2.ClientHttp2Session, request: Http2ConnectRequest, host: Http2ConnectHost): http2.ClientHttp2Stream | null {
  const headers: http2.OutgoingHttpHeaders = {
    // RFC 8441 §4: ":method" CONNECT, ":protocol" websocket, and ":scheme" and ":path" (which a
    // plain CONNECT lacks) "MUST be included"; ":authority" carries what Host did.
    ':method': 'CONNECT',
    ':protocol': 'websocket',
    ':scheme': request.secure ? 'https' : 'http',
    ':path': request.path,
    ':authority': request.authority,
  };
  for (const name of Object.keys(request.headers)) {
    const lower = name.toLowerCase();
    const value = request.headers[name];
    if (DROPPED.has(lower) || value === undefined) continue;
    headers[lower] = value;
  }
  let stream: http2.ClientHttp2Stream;
  try {
    stream = session.request(headers, { endStream: false });
  } catch (error) {
    if (request.session === null) releaseSession(session);
    host.fail(error instanceof Error ? error : new Error(String(error)));
    return null;
  }
  let settled = false;
  const release = (): void => {
    if (request.session === null) releaseSession(session);
  };
  const failBeforeOpen = (error: Error): void => {
    if (settled) return;
    settled = true;
    host.fail(error);
  };
  stream.on('error', failBeforeOpen);
  stream.once('close', () => {
    release();
    failBeforeOpen(new Error(`The server reset the WebSocket stream (HTTP/2 error code ${stream.rstCode ?? 0}).`));
  });
  stream.once('response', (responseHeaders) => {
    if (settled) return;
    const status = Number(responseHeaders[':status']);
    // RFC 8441 §5: a 2xx response opens the WebSocket; anything else refuses it.
    if (!(status >= 200 && status < 300)) {
      let dump = '';
      for (const name of Object.keys(responseHeaders)) dump += `${name}: ${String(responseHeaders[name])}\n`;
      settled = true;
      stream.close();
      host.fail(`Server responded with a non-2xx status: ${status}\nResponse Headers Follow:\n${dump}`);
      return;
    }
    const protocol = checkSelectedProtocol(responseHeaders as IncomingHttpHeaders, request.protocols);
    if (protocol.ok === false) {
      settled = true;
      stream.close();
      host.fail(protocol.message);
      return;
    }
    let extensions: IExtension[] = [];
    const offered = responseHeaders['sec-websocket-extensions'];
    if (offered !== undefined && offered !== '') {
      const agreed = acceptServerExtensions(String(offered), deflateOptionsFrom(request.perMessageDeflate));
      if (typeof agreed === 'string') {
        settled = true;
        stream.close();
        host.fail(agreed);
        return;
      }
      extensions = [describeParams(agreed)];
    }
    settled = true;
    // From here on the connection owns the stream's errors.
    stream.removeListener('error', failBeforeOpen);
    host.open(streamAsSocket(stream), protocol.protocol, extensions);
  });
  return stream;
}
