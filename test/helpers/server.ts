/**
 * Servers, clients and event helpers for the server integration tests: real http servers on
 * 127.0.0.1 port 0, with everything opened by a test registered for teardown in afterEach.
 *
 * WS_TARGET=upstream runs the same tests against websocket@1.0.35 (installed as websocket-upstream),
 * which is how the deliberate differences listed in the test files show up.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import ours = require('../../lib/websocket');

export const websocket: typeof ours = process.env['WS_TARGET'] === 'upstream' ? require('websocket-upstream') : ours;

export type WebSocketServer = InstanceType<typeof ours.server>;
export type WebSocketConnection = InstanceType<typeof ours.connection>;
export type WebSocketRequest = InstanceType<typeof ours.request>;
export type ServerConfig = ConstructorParameters<typeof ours.server>[0] & object;

type Cleanup = () => void | Promise<void>;
const cleanups: Cleanup[] = [];

/** Registers something to undo in `cleanup()` (last registered, first run). */
export function onCleanup(fn: Cleanup): void {
  cleanups.push(fn);
}

/** Closes every server, socket and client the test opened. Call from afterEach. */
export async function cleanup(): Promise<void> {
  while (cleanups.length > 0) {
    const fn = cleanups.pop()!;
    try {
      await fn();
    } catch {
      // Teardown of something already gone.
    }
  }
}

export const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export interface TestServer {
  http: http.Server;
  ws: WebSocketServer;
  port: number;
  url: string;
}

/** What a server hands out that teardown must destroy: sockets, HTTP/2 sessions. */
interface Closable {
  destroy(): void;
  once(event: 'close', listener: () => void): unknown;
}

/** The `Closable`s `server` emits as `event`, each kept until it closes. */
export function trackOpen<T extends Closable>(server: EventEmitter, event: string): Set<T> {
  const open = new Set<T>();
  server.on(event, (item: T) => {
    open.add(item);
    item.once('close', () => open.delete(item));
  });
  return open;
}

/** Teardown destroys what is still open in `tracked`, then closes `server`. */
export function closeOnCleanup(server: import('node:net').Server, ...tracked: Set<Closable>[]): void {
  onCleanup(
    () =>
      new Promise<void>((resolve) => {
        for (const open of tracked) for (const item of open) item.destroy();
        server.close(() => resolve());
      }),
  );
}

/** Listens on 127.0.0.1, port 0, with `closeOnCleanup(server, ...tracked)`. Resolves with the port. */
export async function listenForTest(server: import('node:net').Server, ...tracked: Set<Closable>[]): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closeOnCleanup(server, ...tracked);
  return (server.address() as AddressInfo).port;
}

/** Teardown for a mounted WebSocketServer: its connections are dropped, then it is unmounted. */
export function unmountOnCleanup(ws: WebSocketServer): void {
  onCleanup(() => {
    for (const connection of [...ws.connections]) connection.drop(1006, 'test teardown', true);
    try {
      ws.unmount();
    } catch {
      // never mounted
    }
  });
}

/** An http server on 127.0.0.1, port 0, tracking its sockets so teardown can destroy upgraded ones. */
export async function startHttpServer(): Promise<{ http: http.Server; port: number }> {
  const server = http.createServer((_req, res) => {
    res.writeHead(426).end();
  });
  const sockets = trackOpen(server, 'connection');
  return { http: server, port: await listenForTest(server, sockets) };
}

/**
 * A WebSocketServer mounted on a fresh http server. Keepalive is off unless the test asks for it,
 * so no test waits on the 20 s default timer.
 */
export async function startServer(config: Partial<ServerConfig> = {}): Promise<TestServer> {
  const { http: httpServer, port } = await startHttpServer();
  const ws = new websocket.server({ keepalive: false, ...config, httpServer } as ServerConfig);
  unmountOnCleanup(ws);
  return { http: httpServer, ws, port, url: `ws://127.0.0.1:${port}/` };
}

/** Resolves with the arguments of the next `event`, or rejects after `timeoutMs`. */
export function nextEvent<T extends unknown[] = unknown[]>(emitter: EventEmitter, event: string, timeoutMs = 2000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.removeListener(event, listener);
      reject(new Error(`Timed out after ${timeoutMs} ms waiting for '${event}'`));
    }, timeoutMs);
    const listener = (...args: unknown[]): void => {
      clearTimeout(timer);
      resolve(args as T);
    };
    emitter.once(event, listener);
  });
}

/** Records the arguments of every `event` emitted from now on. */
export function record<T extends unknown[] = unknown[]>(emitter: EventEmitter, event: string): T[] {
  const calls: T[] = [];
  emitter.on(event, (...args: unknown[]) => calls.push(args as T));
  return calls;
}

/** Polls `check` until it returns true. */
export async function until(check: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(5);
  }
}

/** A `ws` client connected to the server, closed at teardown. */
export async function wsClient(url: string, protocols?: string | string[], options: WebSocket.ClientOptions = {}): Promise<WebSocket> {
  const client = new WebSocket(url, protocols, options);
  onCleanup(() => {
    client.terminate();
  });
  await new Promise<void>((resolve, reject) => {
    client.once('open', () => resolve());
    client.once('error', reject);
  });
  return client;
}

/** Resolves with the next message a `ws` client receives, as text or as a Buffer. */
export function wsMessage(client: WebSocket, timeoutMs = 2000): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('Timed out waiting for a ws message')), timeoutMs);
    client.once('message', (data: WebSocket.RawData, isBinary: boolean) => {
      clearTimeout(timer);
      resolve({ data: Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[]), isBinary });
    });
  });
}
