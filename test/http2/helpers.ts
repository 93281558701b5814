/**
 * Plumbing for the RFC 8441 tests: http2 servers (h2c, TLS, TLS with allowHTTP1) on 127.0.0.1 with
 * a WebSocketServer mounted, and a raw client: Node's own `http2.connect()` sending the extended
 * CONNECT by hand, then hand-built masked frames (test/helpers/frames) on the stream, with every
 * byte the server sends back kept for exact assertions. Nothing here uses lib/ to talk WebSocket.
 */
import type * as http from 'node:http';
import * as http2 from 'node:http2';
import ours = require('../../lib/websocket');
import { selfSignedCertificate, type TestCertificate } from '../helpers/client-harness';
import { Inbox } from '../helpers/deflate-wire';
import { parseFrames, type ParsedFrame } from '../helpers/frames';
import { delay, listenForTest, nextEvent as sharedNextEvent, onCleanup, trackOpen, unmountOnCleanup, until as sharedUntil, type ServerConfig, type WebSocketServer } from '../helpers/server';

export const websocket = ours;
// The shared test plumbing (types, the cleanup registry, delay): test/helpers/server.
export { cleanup, delay, onCleanup } from '../helpers/server';
export type { ServerConfig, WebSocketConnection, WebSocketRequest, WebSocketServer } from '../helpers/server';
export type Http2AnyServer = http2.Http2Server | http2.Http2SecureServer;

/** The test certificate (made once by the openssl CLI); throws when openssl is missing. */
export function certificate(): TestCertificate {
  const { certificate: made, reason } = selfSignedCertificate();
  if (made === null) throw new Error(reason);
  return made;
}

export type ServerKind = 'h2c' | 'tls' | 'tls+http1';

export interface H2Server {
  kind: ServerKind;
  server: Http2AnyServer;
  ws: WebSocketServer;
  port: number;
  /** http://127.0.0.1:port or https://127.0.0.1:port */
  origin: string;
  /** Server-side sessions, as they open. */
  sessions: Set<http2.ServerHttp2Session>;
}

/** Makes an (unlistened) http2 server of `kind`. */
export function createHttp2Server(kind: ServerKind, options: http2.SecureServerOptions = {}): Http2AnyServer {
  if (kind === 'h2c') return http2.createServer(options);
  const tls = certificate();
  return http2.createSecureServer({ key: tls.key, cert: tls.cert, ...(kind === 'tls+http1' ? { allowHTTP1: true } : {}), ...options });
}

/** Listens on 127.0.0.1:0 and registers teardown (sessions destroyed, server closed). */
export async function listen(server: Http2AnyServer): Promise<{ port: number; sessions: Set<http2.ServerHttp2Session> }> {
  const sessions = trackOpen<http2.ServerHttp2Session>(server, 'session');
  // (allowHTTP1 connections are plain sockets, never sessions.)
  const sockets = trackOpen(server, 'secureConnection');
  const port = await listenForTest(server as unknown as import('node:net').Server, sessions, sockets);
  return { port, sessions };
}

/**
 * An http2 server of `kind` with a WebSocketServer mounted (keepalive off unless asked for) and,
 * if given, the application's own 'request' handler (which activates Node's compatibility layer).
 */
export async function startH2Server(
  kind: ServerKind,
  config: Partial<ServerConfig> = {},
  onRequest?: (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void,
): Promise<H2Server> {
  const server = createHttp2Server(kind);
  if (onRequest !== undefined) server.on('request', onRequest);
  const ws = new websocket.server({ keepalive: false, ...config, httpServer: server as unknown as http.Server } as ServerConfig);
  unmountOnCleanup(ws);
  const { port, sessions } = await listen(server);
  return { kind, server, ws, port, origin: `${kind === 'h2c' ? 'http' : 'https'}://127.0.0.1:${port}`, sessions };
}

/** A client session to `origin` that has received the server's SETTINGS (so `:protocol` may be sent). */
export async function connectSession(origin: string): Promise<http2.ClientHttp2Session> {
  const options: http2.SecureClientSessionOptions = origin.startsWith('https:') ? { ca: certificate().cert, servername: 'localhost' } : {};
  const session = http2.connect(origin, options);
  session.on('error', () => undefined);
  onCleanup(() => {
    session.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    session.once('remoteSettings', () => resolve());
    session.once('error', reject);
  });
  return session;
}

/** The request headers of a websocket extended CONNECT (RFC 8441 §4-5) to `path`. */
export function connectHeaders(path = '/', extra: http2.OutgoingHttpHeaders = {}, scheme = 'http'): http2.OutgoingHttpHeaders {
  return {
    ':method': 'CONNECT',
    ':protocol': 'websocket',
    ':path': path,
    ':scheme': scheme,
    ':authority': 'example.test',
    'sec-websocket-version': '13',
    ...extra,
  };
}

/** One extended CONNECT stream, with the server's response and every frame it sends. */
export class WsStream {
  readonly stream: http2.ClientHttp2Stream;
  /** The response header block. */
  readonly response: Promise<http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader>;
  /** Every frame received, in order. */
  readonly frames = new Inbox<ParsedFrame>();
  /** Every DATA byte received. */
  received = Buffer.alloc(0);
  private pending = Buffer.alloc(0);
  /** Resolves when the server ends its side of the stream (END_STREAM). */
  readonly ended: Promise<void>;
  /** Resolves with the stream's RST_STREAM code (0 when it closed normally) once it closes. */
  readonly closed: Promise<number>;

  constructor(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders) {
    this.stream = session.request(headers, { endStream: false });
    this.stream.on('error', () => undefined);
    this.response = new Promise((resolve, reject) => {
      this.stream.once('response', resolve);
      this.stream.once('close', () => reject(new Error(`stream closed without a response (rst ${this.stream.rstCode})`)));
    });
    this.response.catch(() => undefined);
    this.ended = new Promise((resolve) => this.stream.once('end', resolve));
    this.closed = new Promise((resolve) => this.stream.once('close', () => resolve(this.stream.rstCode ?? 0)));
    this.stream.on('data', (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
      const { frames, rest } = parseFrames(Buffer.concat([this.pending, chunk]));
      this.pending = Buffer.from(rest);
      for (const frame of frames) this.frames.push(frame);
    });
  }

  /** Writes raw bytes (already framed) to the stream. */
  send(bytes: Buffer): void {
    this.stream.write(bytes);
  }

  /** The next frame the server sends. */
  next(what = 'a frame', timeoutMs = 2500): Promise<ParsedFrame> {
    return this.frames.next(what, timeoutMs);
  }
}

/** Sends a websocket extended CONNECT and waits for the response; throws unless it is 200. */
export async function openWebSocket(session: http2.ClientHttp2Session, path = '/', extra: http2.OutgoingHttpHeaders = {}): Promise<WsStream> {
  const scheme = session.encrypted === true ? 'https' : 'http';
  const ws = new WsStream(session, connectHeaders(path, extra, scheme));
  const response = await ws.response;
  if (response[':status'] !== 200) throw new Error(`status ${response[':status']}`);
  return ws;
}

/** test/helpers/server's nextEvent, with a little more time by default (TLS handshakes on a busy machine). */
export function nextEvent<T extends unknown[] = unknown[]>(emitter: NodeJS.EventEmitter, event: string, timeoutMs = 2500): Promise<T> {
  return sharedNextEvent<T>(emitter, event, timeoutMs);
}

/** test/helpers/server's until, with the same default as nextEvent above. */
export function until(check: () => boolean, what: string, timeoutMs = 2500): Promise<void> {
  return sharedUntil(check, what, timeoutMs);
}
