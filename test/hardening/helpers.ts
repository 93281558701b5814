/**
 * Plumbing for the hardening suites (hostile input, slow peers, socket faults): an echo server that
 * records every request, connection, 'close' and 'error'; process-level guards that fail a test on
 * an uncaught exception, an unhandled rejection or any process warning (MaxListenersExceeded is a
 * leak symptom); checks that the server still serves a fresh client and kept nothing behind; and
 * memory figures taken from outside the code under test.
 *
 * Everything runs on 127.0.0.1 with OS-chosen ports and is torn down by `cleanup()` in afterEach.
 */
import * as http from 'node:http';
import type * as net from 'node:net';
import * as v8 from 'node:v8';
import { types } from 'node:util';
import * as vm from 'node:vm';
import * as zlib from 'node:zlib';
import {
  cleanup,
  delay,
  listenForTest,
  onCleanup,
  trackOpen,
  until,
  websocket,
  wsClient,
  wsMessage,
  type ServerConfig,
  type TestServer,
  type WebSocketConnection,
  type WebSocketRequest,
} from '../helpers/server';

export { cleanup, delay, onCleanup, until };
export type { WebSocketConnection, WebSocketRequest };

export const KiB = 1024;
export const MiB = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Process guards

export interface ProcessGuard {
  uncaught: unknown[];
  rejections: unknown[];
  warnings: Error[];
}

/**
 * Installs beforeEach/afterEach hooks that record uncaught exceptions, unhandled rejections and
 * warnings while a test runs, close everything the test opened, and fail the test if anything was
 * recorded. Also checks that no ref'd timer the test started is still pending afterwards.
 */
export function guardProcess(): ProcessGuard {
  const guard: ProcessGuard = { uncaught: [], rejections: [], warnings: [] };
  const onUncaught = (error: unknown): void => {
    guard.uncaught.push(error);
  };
  const onRejection = (reason: unknown): void => {
    guard.rejections.push(reason);
  };
  const onWarning = (warning: Error): void => {
    guard.warnings.push(warning);
  };
  let timersBefore = 0;
  beforeEach(() => {
    guard.uncaught.length = 0;
    guard.rejections.length = 0;
    guard.warnings.length = 0;
    process.on('uncaughtException', onUncaught);
    process.on('unhandledRejection', onRejection);
    process.on('warning', onWarning);
    timersBefore = activeTimers();
  });
  afterEach(async () => {
    await cleanup();
    // A ref'd timer left behind (close timer, keepalive, handshake timer) would keep jest alive.
    await until(() => activeTimers() <= timersBefore, 'the timers started by the test to be cleared', 1000).catch(() => undefined);
    const timersAfter = activeTimers();
    process.removeListener('uncaughtException', onUncaught);
    process.removeListener('unhandledRejection', onRejection);
    process.removeListener('warning', onWarning);
    expect(guard.uncaught.map(String)).toEqual([]);
    expect(guard.rejections.map(String)).toEqual([]);
    expect(guard.warnings.map((w) => `${w.name}: ${w.message}`)).toEqual([]);
    expect(timersAfter).toBeLessThanOrEqual(timersBefore);
  });
  return guard;
}

/** Ref'd timers alive in this process (unref'd ones do not keep the process up and are not listed). */
export function activeTimers(): number {
  return process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
}

/** Whether `value` is an Error from any realm (Node's own errors fail jest's instanceof Error). */
export function isError(value: unknown): value is Error {
  return value instanceof Error || types.isNativeError(value);
}

// ---------------------------------------------------------------------------------------------
// Memory, measured from the outside

/** V8's collector, reachable without --expose-gc by enabling the flag and reading it from a new context. */
const collect: (() => void) | null = (() => {
  try {
    v8.setFlagsFromString('--expose-gc');
    const fn: unknown = vm.runInNewContext('gc');
    return typeof fn === 'function' ? (fn as () => void) : null;
  } catch {
    return null;
  }
})();

export interface MemorySample {
  rss: number;
  heapUsed: number;
  arrayBuffers: number;
  /** Whether a full collection ran first (the figures are then live memory, not garbage). */
  collected: boolean;
}

/** process.memoryUsage() after a full collection when one can be forced. */
export function memory(): MemorySample {
  if (collect !== null) {
    collect();
    collect();
  }
  const usage = process.memoryUsage();
  return { rss: usage.rss, heapUsed: usage.heapUsed, arrayBuffers: usage.arrayBuffers, collected: collect !== null };
}

/** Growth between two samples, in MiB, for readable failure messages. */
export function growth(before: MemorySample, after: MemorySample): { rss: number; heapUsed: number; arrayBuffers: number } {
  const mib = (n: number): number => Math.round((n / MiB) * 10) / 10;
  return {
    rss: mib(after.rss - before.rss),
    heapUsed: mib(after.heapUsed - before.heapUsed),
    arrayBuffers: mib(after.arrayBuffers - before.arrayBuffers),
  };
}

// ---------------------------------------------------------------------------------------------
// The server under test

export interface HardenedOptions {
  /**
   * Handles a 'request' (other than the probe's): call `accept()` for the default (echo) accept,
   * or keep the request to resolve later. Without it every request is accepted.
   */
  handler?: (request: WebSocketRequest, accept: () => WebSocketConnection) => void;
  /** Listen for 'error' on every connection (default false: errors must then stay inside the library). */
  errorListener?: boolean;
  /** Accept with the first requested subprotocol and no try/catch, as many applications do. */
  acceptFirstProtocol?: boolean;
  /** Options of the http server (maxHeaderSize, ...). */
  httpOptions?: http.ServerOptions;
  /** Echo every message back (default true). */
  echo?: boolean;
}

export interface Hardened extends TestServer {
  /** Every request the 'request' event delivered (the probes' included). */
  requests: WebSocketRequest[];
  /** Every connection the server reported with 'connect', in order. */
  accepted: WebSocketConnection[];
  /** Each connection's 'close' events. */
  closes: Map<WebSocketConnection, Array<[number, string]>>;
  /** Each connection's 'error' events (only recorded when `errorListener` is set). */
  errors: Map<WebSocketConnection, Error[]>;
  /** The server's 'close' events. */
  serverCloses: WebSocketConnection[];
  upgradeErrors: Error[];
  /** Every socket the http server accepted. */
  sockets: Set<net.Socket>;
  /** Messages received, per connection. */
  messages: Map<WebSocketConnection, number>;
}

/** Path of the probe client that `expectServing` uses; it always gets the default accept. */
export const PROBE_PATH = '/probe';

/**
 * A WebSocketServer on a fresh http server on 127.0.0.1 that echoes every message. Keepalive is off
 * unless the config turns it on. An 'upgradeError' listener records refusals and handler failures.
 */
export async function startHardenedServer(config: Partial<ServerConfig> = {}, options: HardenedOptions = {}): Promise<Hardened> {
  const httpServer = http.createServer(options.httpOptions ?? {}, (_req, res) => {
    res.writeHead(426).end();
  });
  const sockets = trackOpen<net.Socket>(httpServer, 'connection');
  const port = await listenForTest(httpServer, sockets);
  const ws = new websocket.server({ keepalive: false, ...config, httpServer } as ServerConfig);
  onCleanup(() => {
    for (const connection of [...ws.connections]) connection.drop(1006, 'test teardown', true);
    for (const request of [...ws.pendingRequests]) {
      if (!request._resolved) request.reject(503);
    }
    ws.unmount();
  });

  const h: Hardened = {
    http: httpServer,
    ws,
    port,
    url: `ws://127.0.0.1:${port}/`,
    requests: [],
    accepted: [],
    closes: new Map(),
    errors: new Map(),
    serverCloses: [],
    upgradeErrors: [],
    sockets,
    messages: new Map(),
  };
  ws.on('upgradeError', (error: Error) => h.upgradeErrors.push(error));
  ws.on('close', (connection: WebSocketConnection) => h.serverCloses.push(connection));
  ws.on('connect', (connection: WebSocketConnection) => {
    h.accepted.push(connection);
    const closes: Array<[number, string]> = [];
    h.closes.set(connection, closes);
    h.messages.set(connection, 0);
    connection.on('close', (code: number, description: string) => closes.push([code, description]));
    if (options.errorListener === true) {
      const errors: Error[] = [];
      h.errors.set(connection, errors);
      connection.on('error', (error: Error) => errors.push(error));
    }
    connection.on('message', (message) => {
      h.messages.set(connection, (h.messages.get(connection) ?? 0) + 1);
      if (options.echo === false) return;
      if (message.type === 'utf8') connection.sendUTF(message.utf8Data);
      else connection.sendBytes(message.binaryData);
    });
  });
  ws.on('request', (request: WebSocketRequest) => {
    h.requests.push(request);
    const accept = (): WebSocketConnection => {
      const protocol = options.acceptFirstProtocol === true ? (request.requestedProtocols[0] ?? null) : null;
      return request.accept(protocol, request.origin);
    };
    if (request.resource === PROBE_PATH || options.handler === undefined) accept();
    else options.handler(request, accept);
  });
  return h;
}

let probes = 0;

/**
 * A fresh `ws` client can still connect, and a text and a binary message come back intact; the
 * probe's connection then closes cleanly and leaves the server's bookkeeping as it was.
 */
export async function expectServing(h: Hardened): Promise<void> {
  const before = h.ws.connections.length;
  const client = await wsClient(`ws://127.0.0.1:${h.port}${PROBE_PATH}`);
  const text = `still serving ${++probes}`;
  let reply = wsMessage(client);
  client.send(text);
  expect((await reply).data.toString()).toBe(text);
  const bytes = Buffer.from([probes & 0xff, 0, 1, 2, 0xfe, 0xff]);
  reply = wsMessage(client);
  client.send(bytes);
  const binary = await reply;
  expect(binary.isBinary).toBe(true);
  expect(binary.data.equals(bytes)).toBe(true);
  const closed = new Promise<number>((resolve) => client.once('close', (code: number) => resolve(code)));
  client.close(1000);
  expect(await closed).toBe(1000);
  await until(() => h.ws.connections.length === before, 'the probe connection to leave server.connections');
}

/**
 * Waits until the server holds no connection and no pending request, lets late events show up, and
 * checks that every connection ever accepted emitted 'close' exactly once, is closed, and that the
 * server's own 'close' event fired once per connection.
 */
export async function expectSettled(h: Hardened, timeoutMs = 3000): Promise<void> {
  await until(
    () => h.ws.connections.length === 0 && h.ws.pendingRequests.length === 0,
    `server.connections (${h.ws.connections.length}) and pendingRequests (${h.ws.pendingRequests.length}) to empty`,
    timeoutMs,
  );
  // A second 'close' (or one that never comes) needs a moment to show.
  await delay(30);
  expect(h.ws.connections).toHaveLength(0);
  expect(h.ws.pendingRequests).toHaveLength(0);
  for (const connection of h.accepted) {
    expect({ closes: h.closes.get(connection)?.length }).toEqual({ closes: 1 });
    expect(connection.state).toBe('closed');
    expect(connection.connected).toBe(false);
    expect(connection.closeTimer ?? null).toBeNull();
    expect(h.serverCloses.filter((c) => c === connection)).toHaveLength(1);
  }
}

/** The only 'close' event of a connection. */
export function onlyClose(h: Hardened, connection: WebSocketConnection): [number, string] {
  const closes = h.closes.get(connection) ?? [];
  expect(closes).toHaveLength(1);
  return closes[0]!;
}

/** Resolves once the server side of `connection` has read `bytes` bytes in all (the handshake included) and handled them. */
export async function serverHasRead(connection: WebSocketConnection, bytes: number, what = 'the server to read the bytes'): Promise<void> {
  await until(() => connection.socket.bytesRead >= bytes || connection.socket.destroyed, what);
  // Received bytes are parsed on the next tick; a macrotask later they have been.
  await new Promise((resolve) => setImmediate(resolve));
}

/** Blocks the thread: lets the kernel deliver a reset before the event loop can read it. */
export function blockFor(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** A compressed message body as permessage-deflate sends it (RFC 7692 §7.2.1: the 00 00 ff ff tail removed). */
export function deflateMessage(payload: Buffer): Buffer {
  const out = zlib.deflateRawSync(payload, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  return out.subarray(0, out.length - 4);
}

/** Deterministic incompressible bytes (xorshift), so a compressed frame is about as long as its input. */
export function noise(length: number, seed = 0x9e3779b9): Buffer {
  const out = Buffer.allocUnsafe(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/**
 * Walks a stream of unmasked server frames chunk by chunk, keeping only each frame's opcode and
 * length, so a test can check megabytes of traffic without holding it.
 */
export class FrameWalker {
  /** Frames seen so far, counted by opcode. */
  readonly opcodes = new Map<number, number>();
  frames = 0;
  payloadBytes = 0;
  private header: Buffer = Buffer.alloc(0);
  private remaining = 0;

  push(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, chunk.length - offset);
        this.remaining -= take;
        offset += take;
        continue;
      }
      const carried = this.header.length;
      const candidate = Buffer.concat([this.header, chunk.subarray(offset, offset + 14)]);
      const parsed = parseHeader(candidate);
      if (parsed === null) {
        // A header split across chunks (never longer than 14 bytes): keep it for the next one.
        this.header = candidate;
        offset = chunk.length;
        continue;
      }
      offset += parsed.headerLength - carried;
      this.header = Buffer.alloc(0);
      this.frames++;
      this.payloadBytes += parsed.length;
      this.opcodes.set(parsed.opcode, (this.opcodes.get(parsed.opcode) ?? 0) + 1);
      this.remaining = parsed.length;
    }
  }

  /** The opcodes seen, sorted. */
  get kinds(): number[] {
    return [...this.opcodes.keys()].sort((a, b) => a - b);
  }
}

function parseHeader(buf: Buffer): { opcode: number; length: number; headerLength: number } | null {
  if (buf.length < 2) return null;
  let length = buf[1]! & 0x7f;
  let headerLength = 2 + ((buf[1]! & 0x80) !== 0 ? 4 : 0);
  if (length === 126) {
    if (buf.length < 4) return null;
    length = buf.readUInt16BE(2);
    headerLength += 2;
  } else if (length === 127) {
    if (buf.length < 10) return null;
    length = buf.readUInt32BE(2) * 0x100000000 + buf.readUInt32BE(6);
    headerLength += 8;
  }
  if (buf.length < headerLength) return null;
  return { opcode: buf[0]! & 0x0f, length, headerLength };
}
