/**
 * How WebSocketClient judges the server's answer (reference §6.3, §6.4): every connectFailed path
 * with its exact message, answered by a hand-written server, plus the successful variants (a
 * Connection token list, bytes that arrive together with the 101).
 */
import * as http from 'node:http';
import * as net from 'node:net';
import websocket = require('../../lib/websocket');
import {
  Tracker,
  acceptKeyFor,
  deferred,
  delay,
  frameReader,
  isError,
  rawUpgradeServer,
  serverFrame,
  switchingProtocols,
  waitEvent,
  withTimeout,
  type CapturedUpgrade,
} from '../helpers/client-harness';

const WebSocketClient = websocket.client;
type ClientInstance = InstanceType<typeof WebSocketClient>;
type Connection = InstanceType<typeof websocket.connection>;

const tracker = new Tracker();
afterEach(() => tracker.cleanup());

/** What a connected client's connection did; listened to from inside 'connect', before any frame is parsed. */
interface Observed {
  messages: unknown[];
  closed: Promise<[number, string]>;
}
const observed = new WeakMap<object, Observed>();

/** A client that connects at once to a raw server answering with `answer(captured)`. */
async function handshakeWith(
  answer: (captured: CapturedUpgrade) => void,
  protocols?: string[],
): Promise<{ client: ClientInstance; outcome: Promise<['connect', Connection] | ['connectFailed', Error]>; captured: Promise<CapturedUpgrade> }> {
  const { port, upgrades } = await rawUpgradeServer(tracker, answer);
  const client = new WebSocketClient();
  const outcome = new Promise<['connect', Connection] | ['connectFailed', Error]>((resolve) => {
    client.on('connect', (connection: Connection) => {
      const messages: unknown[] = [];
      connection.on('message', (message: unknown) => messages.push(message));
      const closed = new Promise<[number, string]>((done) => connection.on('close', (code: number, reason: string) => done([code, reason])));
      observed.set(connection, { messages, closed });
      tracker.defer(() => connection.drop());
      resolve(['connect', connection]);
    });
    client.on('connectFailed', (error: Error) => resolve(['connectFailed', error]));
  });
  client.connect(`ws://127.0.0.1:${port}/`, protocols);
  return { client, outcome, captured: upgrades.next() };
}

function keyOf(captured: CapturedUpgrade): string {
  return captured.headers['sec-websocket-key'] as string;
}

async function expectFailure(
  answer: (captured: CapturedUpgrade) => void,
  message: string | ((key: string) => string),
  protocols?: string[],
): Promise<CapturedUpgrade> {
  const { outcome, captured } = await handshakeWith(answer, protocols);
  const [kind, value] = await outcome;
  const request = await captured;
  expect(kind).toBe('connectFailed');
  expect(isError(value)).toBe(true);
  expect((value as Error).message).toBe(typeof message === 'string' ? message : message(keyOf(request)));
  return request;
}

describe('WebSocketClient handshake failures', () => {
  test('connection refused gives the original ECONNREFUSED error', async () => {
    const probe = net.createServer();
    const port = await tracker.listen(probe);
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const client = new WebSocketClient();
    client.connect(`ws://127.0.0.1:${port}/`);
    const [error] = await waitEvent<[NodeJS.ErrnoException]>(client, 'connectFailed');
    expect(isError(error)).toBe(true);
    expect(error.code).toBe('ECONNREFUSED');
    expect(client._req).toBeNull();
  });

  test('a non-101 answer fails with the status and the lower-cased headers', async () => {
    await expectFailure(
      (c) => c.socket.end('HTTP/1.1 404 Not Found\r\nX-Reason: Nothing-Here\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'),
      'Server responded with a non-101 status: 404 Not Found\nResponse Headers Follow:\n' +
        'x-reason: Nothing-Here\ncontent-length: 0\nconnection: close\n',
    );
  });

  test('a non-101 answer from our own server (request.reject) fails the same way', async () => {
    const httpServer = http.createServer();
    const wsServer = new websocket.server({ httpServer });
    tracker.defer(() => wsServer.shutDown());
    wsServer.on('request', (request) => request.reject(403, 'Forbidden origin', { 'X-Extra': 'yes' }));
    const port = await tracker.listen(httpServer);
    const client = new WebSocketClient();
    client.connect(`ws://127.0.0.1:${port}/`);
    const [error] = await waitEvent<[Error]>(client, 'connectFailed');
    expect(error.message).toMatch(/^Server responded with a non-101 status: 403 Forbidden\nResponse Headers Follow:\n/);
    expect(error.message).toContain('\nx-websocket-reject-reason: Forbidden origin\n');
    expect(error.message).toContain('\nx-extra: yes\n');
  });

  test("an 'httpResponse' listener gets (response, client) and connectFailed is not emitted", async () => {
    const { port } = await rawUpgradeServer(tracker, (c) =>
      c.socket.end('HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n'),
    );
    const client = new WebSocketClient();
    const failed = jest.fn();
    client.on('connectFailed', failed);
    client.connect(`ws://127.0.0.1:${port}/`);
    const [response, emitter] = await waitEvent<[http.IncomingMessage, ClientInstance]>(client, 'httpResponse');
    expect(response.statusCode).toBe(302);
    expect(response.headers.location).toBe('/elsewhere');
    expect(emitter).toBe(client);
    await delay(100);
    expect(failed).not.toHaveBeenCalled();
  });

  test('protocols requested but none returned', async () => {
    await expectFailure((c) => c.socket.write(switchingProtocols(keyOf(c))), 'Expected a Sec-WebSocket-Protocol header.', ['chat']);
  });

  test('a protocol that was not requested', async () => {
    await expectFailure(
      (c) => c.socket.write(switchingProtocols(keyOf(c), { 'Sec-WebSocket-Protocol': 'other' })),
      'Server did not respond with a requested protocol.',
      ['chat', 'superchat'],
    );
  });

  test('the protocol match is case-sensitive', async () => {
    await expectFailure(
      (c) => c.socket.write(switchingProtocols(keyOf(c), { 'Sec-WebSocket-Protocol': 'Chat' })),
      'Server did not respond with a requested protocol.',
      ['chat'],
    );
  });

  // Node's HTTP parser reports an upgrade only when Connection names "upgrade"; otherwise the 101
  // arrives as an ordinary response, which fails as a non-101 status (as with WebSocket-Node).
  test('a Connection header without "upgrade" fails as a non-upgrade response', async () => {
    await expectFailure(
      (c) => c.socket.write(switchingProtocols(keyOf(c), { Connection: 'keep-alive', 'Sec-WebSocket-Accept': 'x' })),
      'Server responded with a non-101 status: 101 Switching Protocols\nResponse Headers Follow:\n' +
        'upgrade: websocket\nconnection: keep-alive\nsec-websocket-accept: x\n',
    );
  });

  test('no Connection header fails as a non-upgrade response', async () => {
    await expectFailure(
      (c) => c.socket.write(switchingProtocols(keyOf(c), { Connection: null, 'Sec-WebSocket-Accept': 'x' })),
      'Server responded with a non-101 status: 101 Switching Protocols\nResponse Headers Follow:\n' +
        'upgrade: websocket\nsec-websocket-accept: x\n',
    );
  });

  test('an Upgrade header other than websocket', async () => {
    await expectFailure(
      (c) => c.socket.write(switchingProtocols(keyOf(c), { Upgrade: 'h2c' })),
      'Expected an Upgrade: websocket header from the server',
    );
  });

  test('no Sec-WebSocket-Accept header', async () => {
    await expectFailure(
      (c) => c.socket.write(switchingProtocols(keyOf(c), { 'Sec-WebSocket-Accept': null })),
      'Expected Sec-WebSocket-Accept header from server',
    );
  });

  test('a wrong Sec-WebSocket-Accept names the expected value', async () => {
    await expectFailure(
      (c) => c.socket.write(switchingProtocols(keyOf(c), { 'Sec-WebSocket-Accept': acceptKeyFor('not the key') })),
      (key) => `Sec-WebSocket-Accept header from server didn't match expected value of ${acceptKeyFor(key)}`,
    );
  });

  test('checks run in order: protocol, then Upgrade, then accept', async () => {
    await expectFailure(
      (c) => c.socket.write(switchingProtocols(keyOf(c), { Upgrade: 'h2c', 'Sec-WebSocket-Accept': null })),
      'Expected a Sec-WebSocket-Protocol header.',
      ['chat'],
    );
    await expectFailure(
      (c) => c.socket.write(switchingProtocols(keyOf(c), { 'Sec-WebSocket-Protocol': 'nope', Upgrade: 'h2c' })),
      'Server did not respond with a requested protocol.',
      ['chat'],
    );
    await expectFailure(
      (c) => c.socket.write(switchingProtocols(keyOf(c), { Upgrade: 'h2c', 'Sec-WebSocket-Accept': null })),
      'Expected an Upgrade: websocket header from the server',
    );
  });

  test('a failed handshake ends the socket', async () => {
    const { outcome, captured } = await handshakeWith((c) => c.socket.write(switchingProtocols(keyOf(c), { Upgrade: 'h2c' })));
    const server = await captured;
    const ended = waitEvent(server.socket, 'end');
    const [kind] = await outcome;
    expect(kind).toBe('connectFailed');
    await ended;
  });

  test('abort() while the request is pending gives connectFailed', async () => {
    const { port, upgrades } = await rawUpgradeServer(tracker);
    const client = new WebSocketClient();
    client.connect(`ws://127.0.0.1:${port}/`);
    await upgrades.next();
    const failed = waitEvent<[Error]>(client, 'connectFailed');
    client.abort();
    const [error] = await failed;
    expect(isError(error)).toBe(true);
  });

  test('abort() after the handshake completed does nothing', async () => {
    const { client, outcome } = await handshakeWith((c) => c.socket.write(switchingProtocols(keyOf(c))));
    const [kind, connection] = await outcome;
    expect(kind).toBe('connect');
    expect(client._req).toBeNull();
    client.abort();
    await delay(50);
    expect((connection as Connection).connected).toBe(true);
  });
});

describe('WebSocketClient successful handshakes', () => {
  test('Connection: Upgrade, keep-alive (a token list, any case) is accepted', async () => {
    const { outcome } = await handshakeWith((c) => c.socket.write(switchingProtocols(keyOf(c), { Connection: 'keep-alive, UPGRADE' })));
    const [kind] = await outcome;
    expect(kind).toBe('connect');
  });

  test('Upgrade: WebSocket is compared case-insensitively', async () => {
    const { outcome } = await handshakeWith((c) => c.socket.write(switchingProtocols(keyOf(c), { Upgrade: 'WebSocket' })));
    const [kind] = await outcome;
    expect(kind).toBe('connect');
  });

  test('the selected protocol is exposed on the client and the connection', async () => {
    const { client, outcome } = await handshakeWith(
      (c) => c.socket.write(switchingProtocols(keyOf(c), { 'Sec-WebSocket-Protocol': 'superchat' })),
      ['chat', 'superchat'],
    );
    const [kind, connection] = await outcome;
    expect(kind).toBe('connect');
    expect(client.protocol).toBe('superchat');
    expect((connection as Connection).protocol).toBe('superchat');
  });

  test('a protocol sent although none was requested is ignored', async () => {
    const { outcome } = await handshakeWith((c) => c.socket.write(switchingProtocols(keyOf(c), { 'Sec-WebSocket-Protocol': 'chat' })));
    const [kind, connection] = await outcome;
    expect(kind).toBe('connect');
    expect((connection as Connection).protocol).toBeUndefined();
  });

  test('the connection is a client connection with the client config and version', async () => {
    const { client, outcome } = await handshakeWith((c) => c.socket.write(switchingProtocols(keyOf(c))));
    const [, connection] = (await outcome) as ['connect', Connection];
    expect(connection).toBeInstanceOf(websocket.connection);
    expect(connection.maskOutgoingPackets).toBe(true);
    expect(connection.webSocketVersion).toBe(13);
    expect(connection.config).toBe(client.config);
    expect(client.socket).toBe(connection.socket);
    expect(client.response?.statusCode).toBe(101);
  });

  test('frames sent in the same write as the 101 are the first messages, seen by listeners added in connect', async () => {
    const { client, outcome } = await handshakeWith((c) =>
      c.socket.write(
        Buffer.concat([
          Buffer.from(switchingProtocols(keyOf(c))),
          serverFrame(0x1, 'hello with the handshake'),
          serverFrame(0x2, Buffer.from([1, 2, 3])),
        ]),
      ),
    );
    const messages: unknown[] = [];
    const two = new Promise<void>((resolve) => {
      client.on('connect', (connection: Connection) => {
        connection.on('message', (message: unknown) => {
          messages.push(message);
          if (messages.length === 2) resolve();
        });
      });
    });
    const [kind] = await outcome;
    expect(kind).toBe('connect');
    await two;
    expect(messages[0]).toEqual({ type: 'utf8', utf8Data: 'hello with the handshake' });
    expect(messages[1]).toEqual({ type: 'binary', binaryData: Buffer.from([1, 2, 3]) });
  });

  test('a masked frame from the server closes the connection with 1002', async () => {
    const { outcome, captured } = await handshakeWith((c) => {
      c.socket.write(switchingProtocols(keyOf(c)));
      c.socket.write(serverFrame(0x1, 'masked by the server', Buffer.from([1, 2, 3, 4])));
    });
    const server = await captured;
    const frames = frameReader(server.socket);
    const [kind, connection] = (await outcome) as ['connect', Connection];
    expect(kind).toBe('connect');
    const seen = observed.get(connection)!;
    const [code] = await seen.closed;
    expect(code).toBe(1002);
    expect(seen.messages).toEqual([]);
    // The client tells the server why (a masked close frame with 1002).
    const close = await frames.next('the client close frame');
    expect(close.opcode).toBe(0x8);
    expect(close.masked).toBe(true);
    expect(close.payload.readUInt16BE(0)).toBe(1002);
  });

  test('client frames are masked with varying keys', async () => {
    // Masks must be unpredictable (RFC 6455 §10.3), so they must not come from Math.random.
    const random = jest.spyOn(Math, 'random').mockReturnValue(0.25);
    tracker.defer(() => random.mockRestore());
    const { outcome, captured } = await handshakeWith((c) => c.socket.write(switchingProtocols(keyOf(c))));
    const server = await captured;
    const received: Buffer[] = [];
    server.socket.on('data', (chunk: Buffer) => received.push(chunk));
    const [, connection] = (await outcome) as ['connect', Connection];
    for (let i = 0; i < 16; i++) connection.sendUTF('abcd');
    await delay(100);
    const bytes = Buffer.concat(received);
    // Each frame: 2-byte header, 4-byte key, 4-byte payload.
    expect(bytes.length).toBe(16 * 10);
    const keys = new Set<string>();
    for (let i = 0; i < 16; i++) {
      const frame = bytes.subarray(i * 10, i * 10 + 10);
      expect(frame[0]).toBe(0x81);
      expect(frame[1]).toBe(0x80 | 4);
      const key = frame.subarray(2, 6);
      keys.add(key.toString('hex'));
      const payload = Buffer.from(frame.subarray(6)).map((b, j) => b ^ key[j & 3]!);
      expect(Buffer.from(payload).toString()).toBe('abcd');
    }
    expect(keys.size).toBeGreaterThan(12);
  });

  test('large messages are fragmented at fragmentationThreshold (16 KiB) unless disabled', async () => {
    for (const fragment of [true, false]) {
      const { port, upgrades } = await rawUpgradeServer(tracker, (c) => c.socket.write(switchingProtocols(keyOf(c))));
      const client = new WebSocketClient({ fragmentOutgoingMessages: fragment });
      client.connect(`ws://127.0.0.1:${port}/`);
      const server = await upgrades.next();
      const frames = frameReader(server.socket);
      const [connection] = await waitEvent<[Connection]>(client, 'connect');
      tracker.defer(() => connection.drop());
      const text = 'z'.repeat(40000);
      connection.sendUTF(text);
      const got = [await frames.next('frame 1')];
      while (!got[got.length - 1]!.fin) got.push(await frames.next(`frame ${got.length + 1}`));
      if (fragment) {
        expect(got.map((f) => [f.opcode, f.fin, f.payload.length])).toEqual([
          [0x1, false, 16384],
          [0x0, false, 16384],
          [0x0, true, 40000 - 32768],
        ]);
      } else {
        expect(got.map((f) => [f.opcode, f.fin, f.payload.length])).toEqual([[0x1, true, 40000]]);
      }
      expect(got.every((f) => f.masked)).toBe(true);
      expect(Buffer.concat(got.map((f) => f.payload)).toString()).toBe(text);
    }
  });

  test('the client config reaches the connection: a frame over maxReceivedFrameSize closes with 1009', async () => {
    const { port, upgrades } = await rawUpgradeServer(tracker, (c) =>
      c.socket.write(Buffer.concat([Buffer.from(switchingProtocols(keyOf(c))), serverFrame(0x2, Buffer.alloc(1001))])),
    );
    const client = new WebSocketClient({ maxReceivedFrameSize: 1000 });
    const closed = deferred<number>();
    client.on('connect', (connection: Connection) => {
      connection.on('close', (code: number) => closed.resolve(code));
      connection.on('message', () => closed.reject(new Error('the oversized frame was delivered')));
    });
    client.connect(`ws://127.0.0.1:${port}/`);
    const server = await upgrades.next();
    const frames = frameReader(server.socket);
    expect(await withTimeout(closed.promise, 'close')).toBe(1009);
    const close = await frames.next('the client close frame');
    expect(close.opcode).toBe(0x8);
    expect(close.payload.readUInt16BE(0)).toBe(1009);
  });

  test('keepalive options given to the client are honoured (pings are sent)', async () => {
    const { port, upgrades } = await rawUpgradeServer(tracker, (c) => c.socket.write(switchingProtocols(keyOf(c))));
    const client = new WebSocketClient({ keepalive: true, keepaliveInterval: 50, dropConnectionOnKeepaliveTimeout: false } as never);
    client.connect(`ws://127.0.0.1:${port}/`);
    const server = await upgrades.next();
    const frames = frameReader(server.socket);
    const [connection] = await waitEvent<[Connection]>(client, 'connect');
    tracker.defer(() => connection.drop());
    const ping = await frames.next('a keepalive ping', 2000);
    expect(ping.opcode).toBe(0x9);
    expect(ping.masked).toBe(true);
  });
});
