/**
 * Shared plumbing for the client-side integration tests (client-*, w3c-*, router-* in
 * test/integration): servers on 127.0.0.1:0, a raw upgrade server whose answer a test writes by
 * hand, event waits with short timeouts, and a tracker that tears everything down in afterEach.
 */
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import type { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type * as net from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { types } from 'node:util';

/** RFC 6455 §1.3 GUID the accept key is derived with. */
const HANDSHAKE_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** The Sec-WebSocket-Accept value for a key (RFC 6455 §4.2.2 item 5.4). */
export function acceptKeyFor(key: string): string {
  return crypto.createHash('sha1').update(key + HANDSHAKE_GUID).digest('base64');
}

/**
 * Whether `value` is an Error. Errors made by Node's core come from another realm than the test's
 * globals under jest, so `toBeInstanceOf(Error)` is unreliable for them.
 */
export function isError(value: unknown): value is Error {
  return types.isNativeError(value) || value instanceof Error;
}

/** Default wait: long enough for a loaded 2-core machine, short enough to fail fast. */
export const WAIT_MS = 4000;

/** Resolves with the event's arguments, or rejects after `ms` naming the event that never came. */
export function waitEvent<T extends unknown[] = unknown[]>(emitter: EventEmitter, event: string, ms = WAIT_MS): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.removeListener(event, onEvent);
      reject(new Error(`timed out after ${ms} ms waiting for '${event}'`));
    }, ms);
    function onEvent(...args: unknown[]): void {
      clearTimeout(timer);
      resolve(args as T);
    }
    emitter.once(event, onEvent);
  });
}

/** Rejects after `ms` unless `promise` settles first. */
export function withTimeout<T>(promise: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/** Resolves after `ms`; used only to prove that something does NOT happen. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A promise plus its resolver, for values produced inside event handlers. */
export interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A queue of values that tests pull one at a time (messages, requests, sockets). */
export class AsyncQueue<T> {
  private items: T[] = [];
  private waiters: Array<(value: T) => void> = [];

  push(item: T): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter(item);
    else this.items.push(item);
  }

  next(what = 'the next queued item', ms = WAIT_MS): Promise<T> {
    const item = this.items.shift();
    if (item !== undefined) return Promise.resolve(item);
    return withTimeout(new Promise<T>((resolve) => this.waiters.push(resolve)), what, ms);
  }

  get length(): number {
    return this.items.length;
  }
}

/**
 * Everything a test opens: servers are closed and every socket they accepted is destroyed (upgraded
 * sockets survive server.close()), then any extra cleanup registered with `defer`.
 */
export class Tracker {
  private servers: Array<http.Server | https.Server | net.Server> = [];
  private sockets = new Set<Socket>();
  private cleanups: Array<() => unknown> = [];

  /** Starts `server` on 127.0.0.1 with an ephemeral port and returns the port. */
  async listen(server: http.Server | https.Server | net.Server): Promise<number> {
    this.servers.push(server);
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    server.on('secureConnection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.removeListener('error', reject);
        resolve();
      });
    });
    return (server.address() as AddressInfo).port;
  }

  /** Tracks a socket the test opened itself (client side). */
  socket(socket: Socket): Socket {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    return socket;
  }

  defer(cleanup: () => unknown): void {
    this.cleanups.push(cleanup);
  }

  async cleanup(): Promise<void> {
    const cleanups = this.cleanups.splice(0).reverse();
    for (const fn of cleanups) {
      try {
        await fn();
      } catch {
        // Cleanup must not mask the test's own failure.
      }
    }
    // Newest first, so a TLS server's TLSSocket ('secureConnection') goes before the TCP socket
    // under it ('connection'): on Node 18, destroying the TCP socket first leaves the TLSSocket
    // without a 'close' event, and our server connection on it lingers until keepalive drops it
    // 30 s later, holding jest open.
    for (const socket of [...this.sockets].reverse()) socket.destroy();
    this.sockets.clear();
    const servers = this.servers.splice(0);
    await Promise.all(
      servers.map(
        (server) =>
          new Promise<void>((resolve) => {
            if (!server.listening) return resolve();
            server.close(() => resolve());
            // Keep-alive HTTP sockets would otherwise hold close() open.
            (server as http.Server).closeAllConnections?.();
          }),
      ),
    );
  }
}

/** What a raw upgrade server saw of one request. */
export interface CapturedUpgrade {
  request: http.IncomingMessage;
  socket: Socket;
  head: Buffer;
  /** Header name → value, lower-case names, as Node parsed them. */
  headers: http.IncomingHttpHeaders;
  /** Header names exactly as sent, in order, paired with their values. */
  rawHeaders: Array<[string, string]>;
}

/**
 * A plain http server whose 'upgrade' events are handed to the test, which answers by writing
 * bytes to the socket itself (for crafted and broken handshakes). Non-upgrade requests get 404.
 */
export async function rawUpgradeServer(
  tracker: Tracker,
  onUpgrade?: (captured: CapturedUpgrade) => void,
): Promise<{ port: number; upgrades: AsyncQueue<CapturedUpgrade>; server: http.Server }> {
  const upgrades = new AsyncQueue<CapturedUpgrade>();
  const server = http.createServer((_req, res) => {
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('not found');
  });
  server.on('upgrade', (request: http.IncomingMessage, socket: Socket, head: Buffer) => {
    socket.on('error', () => undefined);
    const rawHeaders: Array<[string, string]> = [];
    for (let i = 0; i + 1 < request.rawHeaders.length; i += 2) {
      rawHeaders.push([request.rawHeaders[i]!, request.rawHeaders[i + 1]!]);
    }
    const captured: CapturedUpgrade = { request, socket, head, headers: request.headers, rawHeaders };
    if (onUpgrade) onUpgrade(captured);
    upgrades.push(captured);
  });
  const port = await tracker.listen(server);
  return { port, upgrades, server };
}

/** A 101 response for `key`, with `overrides` replacing (or, with null, removing) headers. */
export function switchingProtocols(key: string, overrides: Record<string, string | null> = {}): string {
  const headers: Record<string, string | null> = {
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Accept': acceptKeyFor(key),
    ...overrides,
  };
  let text = 'HTTP/1.1 101 Switching Protocols\r\n';
  for (const [name, value] of Object.entries(headers)) {
    if (value !== null) text += `${name}: ${value}\r\n`;
  }
  return text + '\r\n';
}

/** An unfragmented frame as a server sends it (unmasked unless `maskKey` is given). */
export function serverFrame(opcode: number, payload: Buffer | string, maskKey?: Buffer): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  let header: Buffer;
  const maskBit = maskKey ? 0x80 : 0;
  if (body.length < 126) {
    header = Buffer.from([0x80 | opcode, maskBit | body.length]);
  } else if (body.length < 65536) {
    header = Buffer.alloc(4);
    header[0] = 0x80 | opcode;
    header[1] = maskBit | 126;
    header.writeUInt16BE(body.length, 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = 0x80 | opcode;
    header[1] = maskBit | 127;
    header.writeBigUInt64BE(BigInt(body.length), 2);
  }
  if (!maskKey) return Buffer.concat([header, body]);
  const masked = Buffer.alloc(body.length);
  for (let i = 0; i < body.length; i++) masked[i] = body[i]! ^ maskKey[i & 3]!;
  return Buffer.concat([header, maskKey, masked]);
}

/** One frame read from a client (which masks): header fields and the unmasked payload. */
export interface ParsedFrame {
  fin: boolean;
  opcode: number;
  masked: boolean;
  payload: Buffer;
}

/** Parses every complete frame in `bytes`; returns them and the bytes left over. */
export function parseFrames(bytes: Buffer): { frames: ParsedFrame[]; rest: Buffer } {
  const frames: ParsedFrame[] = [];
  let offset = 0;
  for (;;) {
    if (bytes.length - offset < 2) break;
    const b0 = bytes[offset]!;
    const b1 = bytes[offset + 1]!;
    let length = b1 & 0x7f;
    let at = offset + 2;
    if (length === 126) {
      if (bytes.length < at + 2) break;
      length = bytes.readUInt16BE(at);
      at += 2;
    } else if (length === 127) {
      if (bytes.length < at + 8) break;
      length = Number(bytes.readBigUInt64BE(at));
      at += 8;
    }
    const masked = (b1 & 0x80) !== 0;
    let key: Buffer | null = null;
    if (masked) {
      if (bytes.length < at + 4) break;
      key = bytes.subarray(at, at + 4);
      at += 4;
    }
    if (bytes.length < at + length) break;
    const payload = Buffer.from(bytes.subarray(at, at + length));
    if (key) for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ key[i & 3]!;
    frames.push({ fin: (b0 & 0x80) !== 0, opcode: b0 & 0x0f, masked, payload });
    offset = at + length;
  }
  return { frames, rest: bytes.subarray(offset) };
}

/** Collects the frames a client writes on a raw socket. */
export function frameReader(socket: Socket): AsyncQueue<ParsedFrame> {
  const queue = new AsyncQueue<ParsedFrame>();
  let pending = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    const { frames, rest } = parseFrames(pending);
    pending = Buffer.from(rest);
    for (const frame of frames) queue.push(frame);
  });
  return queue;
}

/** A self-signed certificate for 127.0.0.1 / localhost, made with the openssl CLI. */
export interface TestCertificate {
  key: string;
  cert: string;
}

let cachedCertificate: TestCertificate | null | undefined;

/** Returns null (and the reason) when openssl is not available. */
export function selfSignedCertificate(): { certificate: TestCertificate | null; reason: string } {
  if (cachedCertificate !== undefined) {
    return { certificate: cachedCertificate, reason: cachedCertificate ? '' : 'openssl failed earlier' };
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ws-client-tls-'));
  try {
    const keyPath = path.join(dir, 'key.pem');
    const certPath = path.join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', keyPath, '-out', certPath, '-days', '2', '-subj', '/CN=localhost',
        '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
      ],
      { stdio: 'pipe', timeout: 20000 },
    );
    cachedCertificate = { key: fs.readFileSync(keyPath, 'utf8'), cert: fs.readFileSync(certPath, 'utf8') };
    return { certificate: cachedCertificate, reason: '' };
  } catch (error) {
    cachedCertificate = null;
    return { certificate: null, reason: `openssl could not make a certificate: ${(error as Error).message}` };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
