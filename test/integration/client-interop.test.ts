/**
 * Interop matrix: our WebSocketClient and W3CWebSocket against our server, a `ws` server and a
 * WebSocket-Node 1.0.35 server; then WebSocket-Node's client and a `ws` client against our server.
 * Every pair exchanges text, binary and large (fragmented) messages and closes in both directions.
 */
import { WebSocket as WsClient, WebSocketServer as WsServer } from 'ws';
import * as http from 'node:http';
import websocket = require('../../lib/websocket');
import { AsyncQueue, Tracker, deferred, waitEvent, withTimeout } from '../helpers/client-harness';
import { startEchoServer, type EchoServer, type ServerKind } from '../helpers/client-servers';

const upstream = require('websocket-upstream');

type Connection = InstanceType<typeof websocket.connection>;

const tracker = new Tracker();
afterEach(() => tracker.cleanup());

/** A received message, normalised across the client APIs. */
type Received = { text: string } | { binary: Buffer };

/** What the interop tests need from a client, whatever its API. */
interface ClientPeer {
  protocol: string | undefined;
  messages: AsyncQueue<Received>;
  closed: Promise<{ code: number; reason: string; wasClean?: boolean }>;
  sendText(text: string): void;
  sendBinary(data: Buffer): void;
  close(code?: number, reason?: string): void;
}

/** A WebSocketClient-style client (ours or WebSocket-Node's, same API). */
async function connectionClient(Client: typeof websocket.client, url: string, protocols?: string[]): Promise<ClientPeer> {
  const client = new Client();
  const messages = new AsyncQueue<Received>();
  const closed = deferred<{ code: number; reason: string }>();
  const connected = deferred<Connection>();
  client.on('connect', (connection: Connection) => {
    // Listeners go on inside 'connect', so nothing the server sends first can be missed.
    connection.on('message', (message: { type: string; utf8Data?: string; binaryData?: Buffer }) => {
      messages.push(message.type === 'utf8' ? { text: message.utf8Data as string } : { binary: message.binaryData as Buffer });
    });
    connection.on('close', (code: number, reason: string) => closed.resolve({ code, reason }));
    connection.on('error', () => undefined);
    tracker.defer(() => connection.drop());
    connected.resolve(connection);
  });
  client.on('connectFailed', (error: Error) => connected.reject(error));
  client.connect(url, protocols);
  const connection = await withTimeout(connected.promise, 'connect');
  return {
    protocol: connection.protocol ?? undefined,
    messages,
    closed: closed.promise,
    sendText: (text) => connection.sendUTF(text),
    sendBinary: (data) => connection.sendBytes(data),
    close: (code, reason) => connection.close(code, reason),
  };
}

/** Our W3CWebSocket. */
async function w3cClient(url: string, protocols?: string[]): Promise<ClientPeer> {
  const ws = new websocket.w3cwebsocket(url, protocols);
  tracker.defer(() => ws.close());
  const messages = new AsyncQueue<Received>();
  const closed = deferred<{ code: number; reason: string; wasClean?: boolean }>();
  const opened = deferred<void>();
  ws.onopen = () => opened.resolve();
  ws.onerror = () => opened.reject(new Error('W3CWebSocket failed to connect'));
  ws.onmessage = (event) => {
    const data = event['data'];
    messages.push(typeof data === 'string' ? { text: data } : { binary: Buffer.from(data as ArrayBuffer) });
  };
  ws.onclose = (event) => closed.resolve({ code: event['code'] as number, reason: event['reason'] as string, wasClean: event['wasClean'] as boolean });
  await withTimeout(opened.promise, 'open');
  return {
    protocol: ws.protocol,
    messages,
    closed: closed.promise,
    sendText: (text) => ws.send(text),
    sendBinary: (data) => ws.send(data),
    close: (code, reason) => ws.close(code, reason),
  };
}

/** A `ws` client. */
async function wsClient(url: string, protocols?: string[]): Promise<ClientPeer> {
  const ws = new WsClient(url, protocols ?? []);
  tracker.defer(() => ws.terminate());
  const messages = new AsyncQueue<Received>();
  const closed = deferred<{ code: number; reason: string }>();
  ws.on('message', (data: Buffer, isBinary: boolean) => messages.push(isBinary ? { binary: Buffer.from(data) } : { text: data.toString('utf8') }));
  ws.on('close', (code: number, reason: Buffer) => closed.resolve({ code, reason: reason.toString('utf8') }));
  ws.on('error', () => undefined);
  await waitEvent(ws, 'open');
  return {
    protocol: ws.protocol === '' ? undefined : ws.protocol,
    messages,
    closed: closed.promise,
    sendText: (text) => ws.send(text),
    sendBinary: (data) => ws.send(data),
    close: (code, reason) => ws.close(code, reason),
  };
}

type ClientKind = 'ours client' | 'ours w3c' | 'upstream client' | 'ws client';

function connectPeer(kind: ClientKind, url: string, protocols?: string[]): Promise<ClientPeer> {
  switch (kind) {
    case 'ours client':
      return connectionClient(websocket.client, url, protocols);
    case 'upstream client':
      return connectionClient(upstream.client, url, protocols);
    case 'ours w3c':
      return w3cClient(url, protocols);
    case 'ws client':
      return wsClient(url, protocols);
  }
}

/** Deterministic bytes so a corrupted byte anywhere shows up. */
function pattern(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const LARGE = 300 * 1024 + 7;
const largeText = 'añ€😀'.repeat(Math.ceil(LARGE / 10)).slice(0, LARGE);

function defineMatrix(clientKind: ClientKind, serverKinds: ServerKind[]): void {
  describe.each(serverKinds)(`${clientKind} ↔ %s server`, (serverKind) => {
    let server: EchoServer;
    beforeEach(async () => {
      server = await startEchoServer(tracker, serverKind);
    });

    test('text round trip, including multi-byte UTF-8', async () => {
      const peer = await connectPeer(clientKind, server.url);
      for (const text of ['hello', 'Grüße, 世界 🚀', 'x'.repeat(200)]) {
        peer.sendText(text);
        expect(await server.received.next()).toEqual({ text });
        expect(await peer.messages.next()).toEqual({ text });
      }
    });

    test('binary round trip, every byte value', async () => {
      const peer = await connectPeer(clientKind, server.url);
      const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      peer.sendBinary(bytes);
      expect(await server.received.next()).toEqual({ binary: bytes });
      expect(await peer.messages.next()).toEqual({ binary: bytes });
    });

    test('large text and binary messages (300 KiB) arrive whole', async () => {
      const peer = await connectPeer(clientKind, server.url);
      peer.sendText(largeText);
      const receivedText = await server.received.next();
      expect(receivedText).toEqual({ text: largeText });
      expect(await peer.messages.next()).toEqual({ text: largeText });
      const bytes = pattern(LARGE, 42);
      peer.sendBinary(bytes);
      const receivedBinary = (await server.received.next()) as { binary: Buffer };
      expect(receivedBinary.binary.equals(bytes)).toBe(true);
      const echoed = (await peer.messages.next()) as { binary: Buffer };
      expect(Buffer.isBuffer(echoed.binary) && echoed.binary.equals(bytes)).toBe(true);
    });

    test('many messages keep their order', async () => {
      const peer = await connectPeer(clientKind, server.url);
      for (let i = 0; i < 50; i++) {
        if (i % 2 === 0) peer.sendText(`message ${i}`);
        else peer.sendBinary(Buffer.from([i]));
      }
      for (let i = 0; i < 50; i++) {
        expect(await peer.messages.next()).toEqual(i % 2 === 0 ? { text: `message ${i}` } : { binary: Buffer.from([i]) });
      }
    });

    test('the subprotocol the server picks is reported', async () => {
      const peer = await connectPeer(clientKind, server.url, ['echo-protocol', 'other']);
      expect(await server.requestedProtocols.next()).toEqual(['echo-protocol', 'other']);
      expect(peer.protocol).toBe('echo-protocol');
    });

    test('the client closes with a code and reason; the server sees both', async () => {
      const peer = await connectPeer(clientKind, server.url);
      peer.close(4001, 'client bye');
      expect(await server.closes.next()).toEqual({ code: 4001, reason: 'client bye' });
      const closed = await withTimeout(peer.closed, 'the client close event');
      if (clientKind === 'ws client') {
        // ws reports the code of the peer's reply, and our server (like WebSocket-Node) answers
        // every valid close with 1000.
        expect(closed.code).toBe(1000);
      } else {
        expect(closed.code).toBe(4001);
        expect(closed.reason).toBe('client bye');
      }
      // As WebSocket-Node's W3CWebSocket: only 1000 counts as clean.
      if (clientKind === 'ours w3c') expect(closed.wasClean).toBe(false);
    });

    test('the server closes with a code and reason; the client sees both', async () => {
      const peer = await connectPeer(clientKind, server.url);
      peer.sendText('close:4002:server bye ✓');
      const closed = await withTimeout(peer.closed, 'the client close event');
      expect(closed.code).toBe(4002);
      expect(closed.reason).toBe('server bye ✓');
      // As WebSocket-Node's W3CWebSocket: only 1000 counts as clean.
      if (clientKind === 'ours w3c') expect(closed.wasClean).toBe(false);
    });

    test('a 1000 close from the server', async () => {
      const peer = await connectPeer(clientKind, server.url);
      peer.sendText('close:1000:done');
      const closed = await withTimeout(peer.closed, 'the client close event');
      expect(closed.code).toBe(1000);
      expect(closed.reason).toBe('done');
      if (clientKind === 'ours w3c') expect(closed.wasClean).toBe(true);
    });
  });
}

defineMatrix('ours client', ['ours', 'ws', 'upstream']);
defineMatrix('ours w3c', ['ours', 'ws', 'upstream']);
// Other clients against our server.
defineMatrix('upstream client', ['ours']);
defineMatrix('ws client', ['ours']);

describe('ws client ↔ ours server: subprotocol negotiation', () => {
  test('the server picks its preferred protocol among the offered ones', async () => {
    const server = await startEchoServer(tracker, 'ours', { preferProtocols: ['superchat', 'chat'] });
    const peer = await wsClient(server.url, ['chat', 'superchat']);
    expect(await server.requestedProtocols.next()).toEqual(['chat', 'superchat']);
    expect(peer.protocol).toBe('superchat');
    peer.sendText('after negotiation');
    expect(await peer.messages.next()).toEqual({ text: 'after negotiation' });
  });

  test('requested protocols reach the server lower-cased, the response keeps the case the client sent', async () => {
    const server = await startEchoServer(tracker, 'ours', { preferProtocols: ['mqtt'] });
    const peer = await wsClient(server.url, ['MQTT', 'chat']);
    expect(await server.requestedProtocols.next()).toEqual(['mqtt', 'chat']);
    expect(peer.protocol).toBe('MQTT');
  });

  test('no protocol offered: the ws client gets none', async () => {
    const server = await startEchoServer(tracker, 'ours');
    const peer = await wsClient(server.url);
    expect(await server.requestedProtocols.next()).toEqual([]);
    expect(peer.protocol).toBeUndefined();
  });
});

describe.each(['ours client', 'ours w3c'] as const)('%s ← ws server sending explicit fragments', (clientKind) => {
  test('a text message in 3 fragments with a ping between them arrives whole', async () => {
    const httpServer = http.createServer();
    const wss = new WsServer({ server: httpServer });
    tracker.defer(() => new Promise<void>((resolve) => wss.close(() => resolve())));
    wss.on('connection', (ws) => {
      ws.send('frag-one ', { fin: false });
      ws.ping('between');
      ws.send('frag-two ', { fin: false });
      ws.send('frag-three', { fin: true });
      ws.send(Buffer.from([1, 2]), { binary: true, fin: false });
      ws.send(Buffer.from([3]), { binary: true, fin: true });
    });
    const port = await tracker.listen(httpServer);
    const peer = await connectPeer(clientKind, `ws://127.0.0.1:${port}/`);
    expect(await peer.messages.next()).toEqual({ text: 'frag-one frag-two frag-three' });
    expect(await peer.messages.next()).toEqual({ binary: Buffer.from([1, 2, 3]) });
  });
});
