/**
 * A real consumer of W3CWebSocket: web3-providers-ws 1.10.4 (web3.js 1.x's WebSocket provider),
 * which requires `websocket` and so gets this package. Its reconnect rule is
 * `![1000, 1001].includes(event.code) || event.wasClean === false`, written against WebSocket-Node,
 * where `wasClean` is true only for code 1000: a server going away with 1001 (a node restarting)
 * must make it reconnect, and a normal 1000 close must not. Real sockets on 127.0.0.1 only.
 */
import { createRequire } from 'node:module';
import * as path from 'node:path';
import websocket = require('../../lib/websocket');
import { AsyncQueue, Tracker, delay, deferred, withTimeout } from '../helpers/client-harness';
import { startOurServer } from '../helpers/client-servers';

type Connection = InstanceType<typeof websocket.connection>;

/** What this test uses of the provider (its own typings pull in all of web3's). */
interface JsonRpcResponse {
  jsonrpc: string;
  id: number;
  result?: unknown;
}
interface Provider {
  connection: unknown;
  connected: boolean;
  send(payload: { jsonrpc: '2.0'; id: number; method: string; params: unknown[] }, callback: (error: unknown, result?: JsonRpcResponse) => void): void;
  disconnect(code?: number, reason?: string): void;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  once(event: string, listener: (...args: unknown[]) => void): unknown;
}
type ProviderClass = new (url: string, options?: Record<string, unknown>) => Provider;

const ROOT = path.resolve(__dirname, '../..');
const providerDir = path.dirname(require.resolve('web3-providers-ws/package.json'));
const WebsocketProvider = require('web3-providers-ws') as ProviderClass;

const tracker = new Tracker();
afterEach(() => tracker.cleanup());

/** Our server answering every JSON-RPC request with `result: '0x2a'`; hands each connection to the test. */
async function jsonRpcServer(): Promise<{ url: string; connections: AsyncQueue<Connection> }> {
  const connections = new AsyncQueue<Connection>();
  const { url } = await startOurServer(tracker, (request) => {
    const connection = request.accept(null, request.origin);
    connection.on('error', () => undefined);
    connection.on('message', (message: { type: string; utf8Data?: string }) => {
      if (message.type !== 'utf8' || message.utf8Data === undefined) return;
      const call = JSON.parse(message.utf8Data) as { id: number };
      connection.sendUTF(JSON.stringify({ jsonrpc: '2.0', id: call.id, result: '0x2a' }));
    });
    connections.push(connection);
  });
  return { url, connections };
}

function startProvider(url: string, clientConfig?: Record<string, unknown>): Provider {
  const provider = new WebsocketProvider(url, {
    reconnect: { auto: true, delay: 20, maxAttempts: 3 },
    ...(clientConfig ? { clientConfig } : {}),
  });
  tracker.defer(() => {
    if (provider.connected) provider.disconnect(1000);
  });
  return provider;
}

function call(provider: Provider, id: number): Promise<JsonRpcResponse> {
  return withTimeout(
    new Promise<JsonRpcResponse>((resolve, reject) => {
      provider.send({ jsonrpc: '2.0', id, method: 'eth_chainId', params: [] }, (error, result) => {
        if (error || result === undefined) reject(error instanceof Error ? error : new Error(String(error)));
        else resolve(result);
      });
    }),
    `the answer to JSON-RPC request ${id}`,
  );
}

test("web3-providers-ws resolves 'websocket' to this package, not to websocket@1.0.35", async () => {
  // Node's own resolution from the provider's directory (what any consumer of it gets).
  const resolved = createRequire(path.join(providerDir, 'index.js')).resolve('websocket');
  expect(resolved).toBe(path.join(ROOT, 'index.js'));
  // And the class the provider constructs in this process is ours.
  const { url, connections } = await jsonRpcServer();
  const provider = startProvider(url);
  await connections.next('the first connection');
  expect(provider.connection).toBeInstanceOf(websocket.w3cwebsocket);
});

test('a server closing with 1001 (going away): the provider reconnects and answers requests over the new connection', async () => {
  const { url, connections } = await jsonRpcServer();
  const provider = startProvider(url);
  const reconnects: unknown[] = [];
  provider.on('reconnect', (attempt) => reconnects.push(attempt));
  const opened = deferred<void>();
  provider.once('connect', () => opened.resolve());
  const first = await connections.next('the first connection');
  await withTimeout(opened.promise, "the provider's first 'connect'");
  expect((await call(provider, 1)).result).toBe('0x2a');

  const reconnected = deferred<void>();
  provider.once('connect', () => reconnected.resolve());
  first.close(1001, 'node restarting');
  const second = await connections.next('a second connection after the 1001 close');
  await withTimeout(reconnected.promise, "the provider's 'connect' after reconnecting");
  expect(reconnects).toEqual([1]);
  expect(second).not.toBe(first);
  expect(await call(provider, 2)).toEqual({ jsonrpc: '2.0', id: 2, result: '0x2a' });
});

test('a server closing with 1000: the provider does not reconnect and reports the close', async () => {
  const { url, connections } = await jsonRpcServer();
  const provider = startProvider(url);
  const reconnects: unknown[] = [];
  provider.on('reconnect', (attempt) => reconnects.push(attempt));
  const opened = deferred<void>();
  provider.once('connect', () => opened.resolve());
  const first = await connections.next('the first connection');
  await withTimeout(opened.promise, "the provider's 'connect'");

  const closed = deferred<{ code: number; wasClean: boolean }>();
  provider.once('close', (event) => closed.resolve(event as { code: number; wasClean: boolean }));
  first.close(1000, 'done');
  const event = await withTimeout(closed.promise, "the provider's 'close'");
  expect({ code: event.code, wasClean: event.wasClean }).toEqual({ code: 1000, wasClean: true });
  // Reconnecting would start after 20 ms; give it ten times that.
  await delay(200);
  expect(reconnects).toEqual([]);
  expect(connections.length).toBe(0);
});

test('with clientConfig.whatwg the 1001 close is clean, so the same provider gives up: why it is off by default', async () => {
  const { url, connections } = await jsonRpcServer();
  const provider = startProvider(url, { whatwg: true });
  const reconnects: unknown[] = [];
  provider.on('reconnect', (attempt) => reconnects.push(attempt));
  const opened = deferred<void>();
  provider.once('connect', () => opened.resolve());
  const first = await connections.next('the first connection');
  await withTimeout(opened.promise, "the provider's 'connect'");

  const closed = deferred<{ code: number; wasClean: boolean }>();
  provider.once('close', (event) => closed.resolve(event as { code: number; wasClean: boolean }));
  first.close(1001, 'node restarting');
  const event = await withTimeout(closed.promise, "the provider's 'close'");
  expect({ code: event.code, wasClean: event.wasClean }).toEqual({ code: 1001, wasClean: true });
  await delay(200);
  expect(reconnects).toEqual([]);
  expect(connections.length).toBe(0);
});
