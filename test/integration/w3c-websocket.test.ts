/**
 * W3CWebSocket over real sockets (reference §7). Every value a consumer can branch on is
 * WebSocket-Node's (wasClean only for 1000, protocol undefined when none, bufferedAmount 0, empty
 * text messages not dispatched, an error event without details); the one deliberate difference is
 * that close() while CONNECTING aborts the request (a leak fix). `clientConfig.whatwg` switches to
 * the WHATWG values, tested at the end.
 */
import websocket = require('../../lib/websocket');
import { AsyncQueue, Tracker, delay, deferred, rawUpgradeServer, withTimeout } from '../helpers/client-harness';
import { startEchoServer, startOurServer } from '../helpers/client-servers';

const W3CWebSocket = websocket.w3cwebsocket;
type W3C = InstanceType<typeof W3CWebSocket>;
type Connection = InstanceType<typeof websocket.connection>;
type Event = { type: string; [key: string]: unknown };

const tracker = new Tracker();
afterEach(() => tracker.cleanup());

/**
 * A W3CWebSocket whose server has paused reading, so that 8 MiB sent by the test stay partly
 * unsent whether or not send() writes to the socket synchronously.
 */
async function openWithStalledServer(clientConfig: Record<string, unknown>): Promise<{ ws: W3C; serverConnection: Connection }> {
  const connections = new AsyncQueue<Connection>();
  const { url } = await startOurServer(
    tracker,
    (request) => {
      const connection = request.accept(null, request.origin);
      connection.on('error', () => undefined);
      connection.pause();
      connections.push(connection);
    },
    { maxReceivedFrameSize: 1 << 21, maxReceivedMessageSize: 1 << 21 },
  );
  const ws = open(url, undefined, undefined, undefined, undefined, clientConfig);
  const serverConnection = await connections.next('the server connection');
  await opened(ws);
  return { ws, serverConnection };
}

function open(url: string, ...rest: unknown[]): W3C {
  const ws = new (W3CWebSocket as unknown as new (...args: unknown[]) => W3C)(url, ...rest);
  tracker.defer(() => {
    if (ws.readyState === ws.OPEN) ws.close();
  });
  return ws;
}

function opened(ws: W3C): Promise<void> {
  return withTimeout(
    new Promise<void>((resolve, reject) => {
      ws.addEventListener('open', () => resolve());
      ws.addEventListener('error', () => reject(new Error('W3CWebSocket failed to connect')));
    }),
    'open',
  );
}

function nextEvent(ws: W3C, type: string): Promise<Event> {
  return withTimeout(
    new Promise<Event>((resolve) => {
      const listener = (event: Event): void => {
        ws.removeEventListener(type, listener);
        resolve(event);
      };
      ws.addEventListener(type, listener);
    }),
    `a '${type}' event`,
  );
}

/** A server that hands each accepted connection (and its request) to the test. */
async function scriptedServer(protocol: string | null = null): Promise<{
  url: string;
  connections: AsyncQueue<{ connection: Connection; origin: string | undefined; headers: Record<string, unknown> }>;
}> {
  const connections = new AsyncQueue<{ connection: Connection; origin: string | undefined; headers: Record<string, unknown> }>();
  const { url } = await startOurServer(tracker, (request) => {
    const connection = request.accept(protocol, request.origin);
    connection.on('error', () => undefined);
    connections.push({ connection, origin: request.origin, headers: request.httpRequest.headers as Record<string, unknown> });
  });
  return { url, connections };
}

describe('W3CWebSocket attributes', () => {
  test('readyState constants on the class and on instances', async () => {
    expect([W3CWebSocket.CONNECTING, W3CWebSocket.OPEN, W3CWebSocket.CLOSING, W3CWebSocket.CLOSED]).toEqual([0, 1, 2, 3]);
    const server = await startEchoServer(tracker, 'ours');
    const ws = open(server.url);
    expect([ws.CONNECTING, ws.OPEN, ws.CLOSING, ws.CLOSED]).toEqual([0, 1, 2, 3]);
    expect(ws.readyState).toBe(0);
    await opened(ws);
    expect(ws.readyState).toBe(1);
  });

  test('url is the constructor argument as given', async () => {
    const server = await startEchoServer(tracker, 'ours');
    const url = `${server.url}?a=1&b=%20`;
    const ws = open(url);
    expect(ws.url).toBe(url);
    await opened(ws);
    expect(ws.url).toBe(url);
  });

  test('protocol is undefined before open and when the server picks none; the chosen one otherwise', async () => {
    const server = await startEchoServer(tracker, 'ours');
    const plain = open(server.url);
    expect(plain.protocol).toBeUndefined();
    await opened(plain);
    expect(plain.protocol).toBeUndefined();
    const withProtocol = open(server.url, ['chat', 'superchat']);
    expect(withProtocol.protocol).toBeUndefined();
    await opened(withProtocol);
    expect(withProtocol.protocol).toBe('chat');
  });

  test('the handler properties are absent until assigned, as in WebSocket-Node', async () => {
    const server = await startEchoServer(tracker, 'ours');
    const ws = open(server.url);
    expect([ws.onopen, ws.onmessage, ws.onerror, ws.onclose]).toEqual([undefined, undefined, undefined, undefined]);
    expect(Object.keys(ws).filter((key) => key.startsWith('on'))).toEqual([]);
    const handler = (): void => undefined;
    ws.onopen = handler;
    expect(ws.onopen).toBe(handler);
    expect(Object.prototype.hasOwnProperty.call(ws, 'onopen')).toBe(true);
    await opened(ws);
  });

  test("extensions is '' before open and an empty list after (no extension negotiated)", async () => {
    const server = await startEchoServer(tracker, 'ours');
    const ws = open(server.url);
    expect(ws.extensions).toBe('');
    await opened(ws);
    expect(ws.extensions).toEqual([]);
  });

  test("binaryType defaults to 'arraybuffer' and refuses anything else with SyntaxError", async () => {
    const server = await startEchoServer(tracker, 'ours');
    const ws = open(server.url);
    expect(ws.binaryType).toBe('arraybuffer');
    for (const type of ['blob', 'nodebuffer', '']) {
      let thrown: unknown;
      try {
        // The declared type only admits 'arraybuffer'; plain JavaScript callers can pass anything.
        (ws as unknown as { binaryType: string }).binaryType = type;
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(SyntaxError);
      expect((thrown as Error).message).toBe('just "arraybuffer" type allowed for "binaryType" attribute');
    }
    ws.binaryType = 'arraybuffer';
    expect(ws.binaryType).toBe('arraybuffer');
  });

  test('bufferedAmount is always 0, even while the server does not read (WebSocket-Node #243)', async () => {
    const { ws, serverConnection } = await openWithStalledServer({});
    expect(ws.bufferedAmount).toBe(0);
    for (let i = 0; i < 8; i++) ws.send(Buffer.alloc(1 << 20, i));
    expect(ws.bufferedAmount).toBe(0);
    serverConnection.resume();
    await delay(50);
    expect(ws.bufferedAmount).toBe(0);
  });

  test('a bad URL or protocol throws from the constructor', () => {
    expect(() => new W3CWebSocket('/relative')).toThrow('You must specify a full WebSocket URL, including protocol.');
    expect(() => new W3CWebSocket('ws://127.0.0.1:9/', ['bad protocol'])).toThrow('Protocol list contains invalid character " "');
  });

  test("clientConfig.assembleFragments is forced to true on the caller's object", async () => {
    const server = await startEchoServer(tracker, 'ours');
    const config = { assembleFragments: false, maxReceivedFrameSize: 1234 };
    const ws = open(server.url, undefined, undefined, undefined, undefined, config);
    expect(config.assembleFragments).toBe(true);
    await opened(ws);
  });

  test('origin and headers reach the server', async () => {
    const server = await scriptedServer();
    const ws = open(server.url, null, 'http://origin.test', { 'X-Extra': 'extra' });
    const { origin, headers } = await server.connections.next();
    await opened(ws);
    expect(origin).toBe('http://origin.test');
    expect(headers['x-extra']).toBe('extra');
  });
});

describe('W3CWebSocket events', () => {
  test('open, message, close arrive in order with the right readyState', async () => {
    const { url } = await startOurServer(tracker, (request) => {
      const connection = request.accept(null, request.origin);
      connection.sendUTF('welcome');
      connection.close(4000, 'bye');
    });
    const ws = open(url);
    const log: string[] = [];
    const done = deferred<Event>();
    ws.onopen = (event) => log.push(`open:${event.type}:${ws.readyState}`);
    ws.onmessage = (event) => log.push(`message:${String(event['data'])}:${ws.readyState}`);
    ws.onclose = (event) => {
      log.push(`close:${ws.readyState}`);
      done.resolve(event);
    };
    const close = await withTimeout(done.promise, 'close');
    expect(log).toEqual(['open:open:1', 'message:welcome:1', 'close:3']);
    expect(close['code']).toBe(4000);
    expect(close['reason']).toBe('bye');
    // As WebSocket-Node: only 1000 is clean, whatever the closing handshake did.
    expect(close['wasClean']).toBe(false);
  });

  test('event objects carry type, target and the yaeti fields', async () => {
    const server = await startEchoServer(tracker, 'ours');
    const ws = open(server.url);
    const event = await nextEvent(ws, 'open');
    expect(event.type).toBe('open');
    expect(event['target']).toBe(ws);
    expect(event['isTrusted']).toBe(false);
    expect(event['cancelable']).toBe(true);
    expect(typeof event['stopImmediatePropagation']).toBe('function');
  });

  test('on<type> runs first, then listeners in the order they were added', async () => {
    const server = await startEchoServer(tracker, 'ours');
    const ws = open(server.url);
    const order: string[] = [];
    const done = deferred<void>();
    ws.addEventListener('close', () => order.push('listener 1'));
    ws.addEventListener('close', () => {
      order.push('listener 2');
      done.resolve();
    });
    ws.onclose = () => order.push('onclose');
    await opened(ws);
    ws.close();
    await withTimeout(done.promise, 'close');
    expect(order).toEqual(['onclose', 'listener 1', 'listener 2']);
  });

  test('the same listener added twice runs once; removeEventListener removes it', async () => {
    const server = await startEchoServer(tracker, 'ours');
    const ws = open(server.url);
    const twice = jest.fn();
    const removed = jest.fn();
    ws.addEventListener('message', twice);
    ws.addEventListener('message', twice);
    ws.addEventListener('message', removed);
    ws.removeEventListener('message', removed);
    await opened(ws);
    ws.send('one');
    await nextEvent(ws, 'message');
    await delay(20);
    expect(twice).toHaveBeenCalledTimes(1);
    expect(removed).not.toHaveBeenCalled();
    // Removing a listener that was never added is harmless.
    ws.removeEventListener('message', () => undefined);
    ws.removeEventListener('nothing', twice);
  });

  test('listeners run with this === the socket; stopImmediatePropagation stops later ones', async () => {
    const server = await startEchoServer(tracker, 'ours');
    const ws = open(server.url);
    let self: unknown;
    const later = jest.fn();
    const first = deferred<void>();
    ws.addEventListener('open', function (this: unknown, event: Event) {
      self = this;
      (event['stopImmediatePropagation'] as () => void)();
      first.resolve();
    });
    ws.addEventListener('open', later);
    await withTimeout(first.promise, 'open');
    await delay(20);
    expect(self).toBe(ws);
    expect(later).not.toHaveBeenCalled();
  });

  test('on<type> handlers are looked up at dispatch time', async () => {
    const server = await startEchoServer(tracker, 'ours');
    const ws = open(server.url);
    await opened(ws);
    const first = jest.fn();
    const second = jest.fn();
    ws.onmessage = first;
    ws.send('a');
    await nextEvent(ws, 'message');
    ws.onmessage = second;
    ws.send('b');
    await nextEvent(ws, 'message');
    expect(first).toHaveBeenCalledTimes(1);
    expect(second).toHaveBeenCalledTimes(1);
    expect(second.mock.calls[0][0].data).toBe('b');
  });
});

describe('W3CWebSocket send', () => {
  async function openWithServer(): Promise<{ ws: W3C; received: AsyncQueue<{ type: string; utf8Data?: string; binaryData?: Buffer }> }> {
    const server = await scriptedServer();
    const ws = open(server.url);
    const { connection } = await server.connections.next();
    const received = new AsyncQueue<{ type: string; utf8Data?: string; binaryData?: Buffer }>();
    connection.on('message', (message: { type: string; utf8Data?: string; binaryData?: Buffer }) => received.push(message));
    await opened(ws);
    return { ws, received };
  }

  test('strings and String objects go as text', async () => {
    const { ws, received } = await openWithServer();
    ws.send('plain ✓');
    ws.send(new String('boxed') as unknown as string);
    expect(await received.next()).toEqual({ type: 'utf8', utf8Data: 'plain ✓' });
    expect(await received.next()).toEqual({ type: 'utf8', utf8Data: 'boxed' });
  });

  test('Buffer, ArrayBuffer and typed-array views go as binary with exactly their bytes', async () => {
    const { ws, received } = await openWithServer();
    const backing = new ArrayBuffer(32);
    const all = new Uint8Array(backing);
    for (let i = 0; i < all.length; i++) all[i] = i + 100;

    const cases: Array<[string, unknown, number[]]> = [
      ['Buffer', Buffer.from([1, 2, 3]), [1, 2, 3]],
      ['Buffer slice of a larger buffer', Buffer.from([9, 8, 7, 6, 5]).subarray(1, 3), [8, 7]],
      ['ArrayBuffer', backing.slice(0, 4), [100, 101, 102, 103]],
      ['Uint8Array subarray', all.subarray(5, 9), [105, 106, 107, 108]],
      ['DataView over part of a buffer', new DataView(backing, 10, 3), [110, 111, 112]],
      ['Uint16Array view with an offset', new Uint16Array(backing, 4, 2), [104, 105, 106, 107]],
      ['empty Uint8Array', new Uint8Array(0), []],
    ];
    for (const [, data] of cases) ws.send(data as Buffer);
    for (const [name, , bytes] of cases) {
      const message = await received.next(name);
      expect({ name, type: message.type, bytes: [...(message.binaryData ?? [])] }).toEqual({ name, type: 'binary', bytes });
    }
  });

  test('unsupported data throws', async () => {
    const { ws } = await openWithServer();
    expect(() => ws.send(42 as never)).toThrow('unknown binary data:');
    expect(() => ws.send({ some: 'object' } as never)).toThrow('unknown binary data:');
    // WebSocket-Node reads data.byteLength, so null and undefined throw a TypeError.
    expect(() => ws.send(undefined as never)).toThrow(TypeError);
    expect(() => ws.send(null as never)).toThrow(TypeError);
  });

  test("send before open throws 'cannot call send() while not connected'", async () => {
    const server = await startEchoServer(tracker, 'ours');
    const ws = open(server.url);
    expect(() => ws.send('too early')).toThrow(new Error('cannot call send() while not connected'));
    await opened(ws);
  });

  test('send after close() throws too', async () => {
    const { ws } = await openWithServer();
    ws.close();
    expect(ws.readyState).toBe(ws.CLOSING);
    expect(() => ws.send('too late')).toThrow('cannot call send() while not connected');
    await nextEvent(ws, 'close');
    expect(() => ws.send('way too late')).toThrow('cannot call send() while not connected');
  });
});

describe('W3CWebSocket messages', () => {
  test('binary data is a fresh ArrayBuffer of exactly the message size', async () => {
    const { url } = await startOurServer(tracker, (request) => {
      const connection = request.accept(null, request.origin);
      connection.sendBytes(Buffer.from([1, 2, 3]));
      connection.sendBytes(Buffer.from([4, 5, 6, 7]));
      connection.sendBytes(Buffer.alloc(0));
    });
    const ws = open(url);
    const messages = new AsyncQueue<unknown>();
    ws.onmessage = (event) => messages.push(event['data']);
    const first = (await messages.next()) as ArrayBuffer;
    const second = (await messages.next()) as ArrayBuffer;
    const empty = (await messages.next()) as ArrayBuffer;
    expect(first).toBeInstanceOf(ArrayBuffer);
    expect(first.byteLength).toBe(3);
    expect([...new Uint8Array(first)]).toEqual([1, 2, 3]);
    expect(second.byteLength).toBe(4);
    expect([...new Uint8Array(second)]).toEqual([4, 5, 6, 7]);
    expect(empty).toBeInstanceOf(ArrayBuffer);
    expect(empty.byteLength).toBe(0);
    // Writing into one message's data must not touch another's.
    new Uint8Array(first).fill(0xee);
    expect([...new Uint8Array(second)]).toEqual([4, 5, 6, 7]);
    expect(first).not.toBe(second);
  });

  test('empty text messages are not dispatched (WebSocket-Node tests the text for truthiness)', async () => {
    const { url } = await startOurServer(tracker, (request) => {
      const connection = request.accept(null, request.origin);
      connection.sendUTF('');
      connection.sendUTF('after empty');
    });
    const ws = open(url);
    const messages = new AsyncQueue<unknown>();
    ws.onmessage = (event) => messages.push(event['data']);
    expect(await messages.next()).toBe('after empty');
    await delay(20);
    expect(messages.length).toBe(0);
  });
});

describe('W3CWebSocket close', () => {
  test('close(code, reason) reaches the server; the client gets a clean close with them', async () => {
    const server = await scriptedServer();
    const ws = open(server.url);
    const { connection } = await server.connections.next();
    const serverClose = new Promise<[number, string]>((resolve) => connection.on('close', (code: number, reason: string) => resolve([code, reason])));
    await opened(ws);
    ws.close(4321, 'client reason ✓');
    expect(ws.readyState).toBe(ws.CLOSING);
    const event = await nextEvent(ws, 'close');
    expect(await withTimeout(serverClose, 'the server close')).toEqual([4321, 'client reason ✓']);
    expect(ws.readyState).toBe(ws.CLOSED);
    expect(event['code']).toBe(4321);
    expect(event['reason']).toBe('client reason ✓');
    expect(event['wasClean']).toBe(false);
  });

  test('close() without a code sends 1000', async () => {
    const server = await scriptedServer();
    const ws = open(server.url);
    const { connection } = await server.connections.next();
    const serverClose = new Promise<number>((resolve) => connection.on('close', (code: number) => resolve(code)));
    await opened(ws);
    ws.close();
    const event = await nextEvent(ws, 'close');
    expect(await withTimeout(serverClose, 'the server close')).toBe(1000);
    expect(event['code']).toBe(1000);
    expect(event['wasClean']).toBe(true);
  });

  test('a reason longer than 123 bytes is not refused; the connection cuts it to 123 bytes on the wire', async () => {
    const server = await scriptedServer();
    const ws = open(server.url);
    const { connection } = await server.connections.next();
    const serverClose = new Promise<[number, string]>((resolve) => connection.on('close', (code: number, reason: string) => resolve([code, reason])));
    await opened(ws);
    // 70 two-byte characters: 140 bytes; cut on a character boundary.
    const clientClose = nextEvent(ws, 'close');
    ws.close(4000, 'é'.repeat(70));
    expect(ws.readyState).toBe(ws.CLOSING);
    expect(await withTimeout(serverClose, 'the server close')).toEqual([4000, 'é'.repeat(61)]);
    expect((await clientClose)['code']).toBe(4000);
  });

  test('close codes follow the connection: 1001 and 4000 are accepted, 1005 throws', async () => {
    const server = await startEchoServer(tracker, 'ours');
    const ws = open(server.url);
    await opened(ws);
    expect(() => ws.close(1005)).toThrow('Close code 1005 is not valid.');
    expect(ws.readyState).toBe(ws.CLOSING);
    const other = open(server.url);
    await opened(other);
    other.close(1001, 'going away');
    expect((await nextEvent(other, 'close'))['code']).toBe(1001);
  });

  test('close() while CLOSING or CLOSED does nothing', async () => {
    const server = await startEchoServer(tracker, 'ours');
    const ws = open(server.url);
    await opened(ws);
    const closes = jest.fn();
    ws.addEventListener('close', closes);
    ws.close(4000);
    ws.close(4001);
    await nextEvent(ws, 'close');
    ws.close(4002);
    await delay(30);
    expect(closes).toHaveBeenCalledTimes(1);
    expect(closes.mock.calls[0][0].code).toBe(4000);
  });

  test('a dropped connection is an unclean 1006 close', async () => {
    const server = await scriptedServer();
    const ws = open(server.url);
    const { connection } = await server.connections.next();
    await opened(ws);
    connection.socket.destroy();
    const event = await nextEvent(ws, 'close');
    expect(event['code']).toBe(1006);
    expect(event['wasClean']).toBe(false);
    expect(ws.readyState).toBe(ws.CLOSED);
  });

  test('connection failure dispatches error, then close 1006 "connection failed"', async () => {
    const { port } = await rawUpgradeServer(tracker, (c) => c.socket.end('HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n'));
    const ws = open(`ws://127.0.0.1:${port}/`);
    const log: string[] = [];
    const done = deferred<Event>();
    let errorEvent: Event | undefined;
    ws.onerror = (event) => {
      errorEvent = event;
      log.push(`error:${event.type}:${ws.readyState}`);
    };
    ws.onclose = (event) => {
      log.push('close');
      done.resolve(event);
    };
    ws.onopen = () => log.push('open');
    const event = await withTimeout(done.promise, 'close');
    expect(log).toEqual(['error:error:3', 'close']);
    expect(errorEvent).toBeDefined();
    // The error event carries nothing beyond the yaeti fields, as in WebSocket-Node.
    expect(Object.keys(errorEvent ?? {}).sort()).toEqual(['_yaeti', 'cancelable', 'isTrusted', 'stopImmediatePropagation', 'target', 'type']);
    expect(event['code']).toBe(1006);
    expect(event['reason']).toBe('connection failed');
    expect(event['wasClean']).toBe(false);
  });

  test('connection refused dispatches error then close 1006', async () => {
    const { port, server } = await rawUpgradeServer(tracker);
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const ws = open(`ws://127.0.0.1:${port}/`);
    const types: string[] = [];
    ws.addEventListener('error', (event: Event) => types.push(event.type));
    const event = await nextEvent(ws, 'close');
    expect(types).toEqual(['error']);
    expect(event['code']).toBe(1006);
    expect(event['reason']).toBe('connection failed');
  });

  test('close() while CONNECTING aborts the request: error then close 1006, the server sees the socket go', async () => {
    const { port, upgrades } = await rawUpgradeServer(tracker);
    const ws = open(`ws://127.0.0.1:${port}/`);
    const captured = await upgrades.next();
    // The server's socket allows half-open connections, so the client's FIN shows up as 'end'.
    const socketEnded = new Promise<void>((resolve) => captured.socket.once('end', () => resolve()));
    captured.socket.resume();
    const log: string[] = [];
    ws.onerror = () => log.push('error');
    ws.onclose = (event) => log.push(`close:${String(event['code'])}:${String(event['reason'])}:${String(event['wasClean'])}`);
    ws.onopen = () => log.push('open');
    expect(ws.readyState).toBe(ws.CONNECTING);
    ws.close();
    expect(ws.readyState).toBe(ws.CLOSED);
    expect(log).toEqual(['error', 'close:1006:connection failed:false']);
    await withTimeout(socketEnded, 'the client to hang up the aborted request');
    await delay(30);
    expect(log).toHaveLength(2);
  });

  test('close() while CONNECTING, before the server even saw the request, never opens', async () => {
    const server = await scriptedServer();
    const ws = open(server.url);
    const opens = jest.fn();
    ws.onopen = opens;
    const closed = nextEvent(ws, 'close');
    ws.close();
    expect((await closed)['code']).toBe(1006);
    await delay(100);
    expect(opens).not.toHaveBeenCalled();
    expect(server.connections.length).toBe(0);
  });

  test('wasClean is true only for 1000, as WebSocket-Node reports it', async () => {
    const results: Array<[number, boolean]> = [];
    for (const code of [1000, 1001, 1011, 3000, 4999]) {
      const { url } = await startOurServer(tracker, (request) => request.accept(null, request.origin).close(code));
      const event = await nextEvent(open(url), 'close');
      results.push([event['code'] as number, event['wasClean'] as boolean]);
    }
    expect(results).toEqual([
      [1000, true],
      [1001, false],
      [1011, false],
      [3000, false],
      [4999, false],
    ]);
  });
});

describe('W3CWebSocket with clientConfig.whatwg', () => {
  const whatwg = { whatwg: true };

  test('wasClean is true for every completed closing handshake, false for a dropped connection', async () => {
    const results: Array<[number, boolean]> = [];
    for (const code of [1000, 1001, 4000]) {
      const { url } = await startOurServer(tracker, (request) => request.accept(null, request.origin).close(code));
      const event = await nextEvent(open(url, null, null, null, null, whatwg), 'close');
      results.push([event['code'] as number, event['wasClean'] as boolean]);
    }
    const server = await scriptedServer();
    const ws = open(server.url, null, null, null, null, whatwg);
    const { connection } = await server.connections.next();
    await opened(ws);
    connection.socket.destroy();
    const dropped = await nextEvent(ws, 'close');
    results.push([dropped['code'] as number, dropped['wasClean'] as boolean]);
    expect(results).toEqual([
      [1000, true],
      [1001, true],
      [4000, true],
      [1006, false],
    ]);
  });

  test("protocol is '' when none was chosen", async () => {
    const server = await startEchoServer(tracker, 'ours');
    const plain = open(server.url, null, null, null, null, whatwg);
    expect(plain.protocol).toBe('');
    await opened(plain);
    expect(plain.protocol).toBe('');
    const withProtocol = open(server.url, ['chat'], null, null, null, whatwg);
    await opened(withProtocol);
    expect(withProtocol.protocol).toBe('chat');
  });

  test('empty text messages are dispatched', async () => {
    const { url } = await startOurServer(tracker, (request) => {
      const connection = request.accept(null, request.origin);
      connection.sendUTF('');
      connection.sendUTF('after empty');
    });
    const ws = open(url, null, null, null, null, whatwg);
    const messages = new AsyncQueue<unknown>();
    ws.onmessage = (event) => messages.push(event['data']);
    expect(await messages.next()).toBe('');
    expect(await messages.next()).toBe('after empty');
  });

  test("bufferedAmount counts bytes not yet written (the connection's bytesWaitingToFlush) and drains to 0", async () => {
    const { ws, serverConnection } = await openWithStalledServer(whatwg);
    expect(ws.bufferedAmount).toBe(0);
    for (let i = 0; i < 8; i++) ws.send(Buffer.alloc(1 << 20, i));
    const waiting = ws.bufferedAmount;
    expect(waiting).toBeGreaterThan(0);
    expect(waiting).toBeLessThanOrEqual(8 * ((1 << 20) + 64 * 14));
    expect(waiting).toBe((ws._connection as Connection).bytesWaitingToFlush);
    serverConnection.resume();
    const deadline = Date.now() + 4000;
    while (ws.bufferedAmount > 0 && Date.now() < deadline) await delay(10);
    expect(ws.bufferedAmount).toBe(0);
  });

  test('close() refuses a code other than 1000 or 3000-4999 (InvalidAccessError) and a reason over 123 bytes (SyntaxError)', async () => {
    const server = await startEchoServer(tracker, 'ours');
    const ws = open(server.url, null, null, null, null, whatwg);
    await opened(ws);
    const thrown = (fn: () => void): unknown => {
      try {
        fn();
      } catch (error) {
        return error;
      }
      return undefined;
    };
    for (const code of [1001, 1005, 2999, 5000]) {
      const error = thrown(() => ws.close(code));
      expect(error).toBeInstanceOf(DOMException);
      expect((error as DOMException).name).toBe('InvalidAccessError');
    }
    // 62 two-byte characters: 124 bytes though only 62 characters.
    const tooLong = thrown(() => ws.close(4000, 'é'.repeat(62)));
    expect(tooLong).toBeInstanceOf(DOMException);
    expect((tooLong as DOMException).name).toBe('SyntaxError');
    expect(ws.readyState).toBe(ws.OPEN);
    ws.close(4000, 'y'.repeat(123));
    expect((await nextEvent(ws, 'close'))['reason']).toBe('y'.repeat(123));
  });

  test('the rest stays as WebSocket-Node: send() while CLOSING throws, the error event carries nothing', async () => {
    const server = await startEchoServer(tracker, 'ours');
    const ws = open(server.url, null, null, null, null, whatwg);
    await opened(ws);
    ws.close();
    expect(() => ws.send('late')).toThrow('cannot call send() while not connected');
    await nextEvent(ws, 'close');
  });

  test("the option reaches the client's config like any other key, and assembleFragments is still forced", async () => {
    const server = await startEchoServer(tracker, 'ours');
    const config = { whatwg: true, assembleFragments: false };
    const ws = open(server.url, null, null, null, null, config);
    expect(config.assembleFragments).toBe(true);
    expect(ws._client.config['whatwg']).toBe(true);
    await opened(ws);
  });
});
