/**
 * The sending API and flow control of server connections (send*, fragmentation, backpressure,
 * pause/resume), and the WebSocketServer's own API (connections, broadcast*, closeAllConnections,
 * shutDown, unmount, several http servers), over real sockets.
 *
 * Deliberate differences from WebSocket-Node 1.0.35 exercised here: fragmentationThreshold 0 sends
 * one frame instead of looping forever; closeAllConnections() does not throw when a pending request
 * is resolved before its scheduled 503.
 */
import {
  cleanup,
  delay,
  nextEvent,
  record,
  startHttpServer,
  startServer,
  until,
  websocket,
  wsClient,
  wsMessage,
  type ServerConfig,
  type WebSocketConnection,
  type WebSocketRequest,
} from '../helpers/server';
import { buildHandshake, openRawConnection, RawClient } from '../helpers/raw-client';
import * as f from '../helpers/frames';

afterEach(cleanup);

type Message = { type: 'utf8'; utf8Data: string } | { type: 'binary'; binaryData: Buffer };

async function rawConnection(config: Partial<ServerConfig> = {}) {
  const server = await startServer({ autoAcceptConnections: true, ...config });
  const opened = await openRawConnection(server);
  return { server, ...opened };
}

/** Reads `count` frames. */
async function frames(client: RawClient, count: number): Promise<f.ParsedFrame[]> {
  const out: f.ParsedFrame[] = [];
  for (let i = 0; i < count; i++) out.push(await client.readFrame());
  return out;
}

describe('send API', () => {
  test('sendUTF/send of a number sends its text (issue #195)', async () => {
    const { client, connection } = await rawConnection();
    expect(() => connection.sendUTF(12345 as unknown as string)).not.toThrow();
    expect(() => connection.send(678 as unknown as string)).not.toThrow();
    expect(f.hex((await client.readFrame()).raw)).toBe('81 05 31 32 33 34 35');
    expect(f.hex((await client.readFrame()).raw)).toBe('81 03 36 37 38');
  });

  test('send() dispatches: Buffer → binary, string → text', async () => {
    const { client, connection } = await rawConnection();
    connection.send(Buffer.from([7]));
    connection.send('s');
    expect(f.hex((await client.readFrame()).raw)).toBe('82 01 07');
    expect(f.hex((await client.readFrame()).raw)).toBe('81 01 73');
  });

  test('send(Object.create(null)) throws the upstream message', async () => {
    const { connection } = await rawConnection();
    expect(() => connection.send(Object.create(null))).toThrow(new Error('Data provided must either be a Node Buffer or implement toString()'));
  });

  test("sendBytes('x') throws the upstream message", async () => {
    const { connection } = await rawConnection();
    expect(() => connection.sendBytes('x' as unknown as Buffer)).toThrow(
      new Error('You must pass a Node Buffer object to WebSocketConnection.prototype.sendBytes()'),
    );
  });

  test('the callback runs once, without an error, after the data is written', async () => {
    const { client, connection } = await rawConnection();
    const calls: unknown[][] = [];
    connection.sendUTF('cb', (...args: unknown[]) => calls.push(args));
    await until(() => calls.length > 0, 'callback');
    await delay(20);
    expect(calls).toHaveLength(1);
    expect(calls[0]![0]).toBeFalsy();
    expect(f.hex((await client.readFrame()).raw)).toBe('81 02 63 62');
  });
});

describe('outgoing fragmentation', () => {
  const TEXT = 'abcdefghijklmnopqrstuvwxy'; // 25 bytes

  test('threshold 10: 25 bytes of text → 3 frames (text, continuation, final continuation), one callback', async () => {
    const { client, connection } = await rawConnection({ fragmentationThreshold: 10 });
    const calls: unknown[][] = [];
    connection.sendUTF(TEXT, (...args: unknown[]) => calls.push(args));
    const got = await frames(client, 3);
    expect(got.map((fr) => f.hex(fr.raw.subarray(0, 2)))).toEqual(['01 0a', '00 0a', '80 05']);
    expect(Buffer.concat(got.map((fr) => fr.payload)).toString()).toBe(TEXT);
    await until(() => calls.length > 0, 'callback');
    await delay(20);
    expect(calls).toHaveLength(1);
    expect(calls[0]![0]).toBeFalsy();
    expect(client.unread.length).toBe(0);
  });

  test('threshold 10: binary of 20 bytes → 2 frames; exactly 10 bytes → 1 frame', async () => {
    const { client, connection } = await rawConnection({ fragmentationThreshold: 10 });
    connection.sendBytes(Buffer.alloc(20, 1));
    connection.sendBytes(Buffer.alloc(10, 2));
    const got = await frames(client, 3);
    expect(got.map((fr) => f.hex(fr.raw.subarray(0, 2)))).toEqual(['02 0a', '80 0a', '82 0a']);
  });

  test('fragmentOutgoingMessages false → one frame', async () => {
    const { client, connection } = await rawConnection({ fragmentationThreshold: 10, fragmentOutgoingMessages: false });
    connection.sendUTF(TEXT);
    const [frame] = await frames(client, 1);
    expect(f.hex(frame!.raw.subarray(0, 2))).toBe('81 19');
    await delay(20);
    expect(client.unread.length).toBe(0);
  });

  test('fragmentationThreshold 0 does not loop: one frame', async () => {
    const { client, connection } = await rawConnection({ fragmentationThreshold: 0 });
    connection.sendUTF(TEXT);
    const [frame] = await frames(client, 1);
    expect(f.hex(frame!.raw.subarray(0, 2))).toBe('81 19');
  });

  test('default threshold 16 KiB: 40000 bytes → 16384 + 16384 + 7232', async () => {
    const { client, connection } = await rawConnection();
    connection.sendBytes(Buffer.alloc(40000, 9));
    const got = await frames(client, 3);
    expect(got.map((fr) => [fr.opcode, fr.fin, fr.payload.length])).toEqual([
      [2, false, 16384],
      [0, false, 16384],
      [0, true, 7232],
    ]);
  });
});

describe('flow control', () => {
  test("outputBufferFull and 'drain' when the peer does not read", async () => {
    const { client, connection, response } = await rawConnection({ fragmentOutgoingMessages: false });
    const headLength = response.length;
    client.discard = true;
    client.socket.pause();
    const drains = record(connection, 'drain');
    const chunk = Buffer.alloc(1024 * 1024, 0x5a);
    expect(connection.outputBufferFull).toBe(false);
    connection.sendBytes(chunk);
    expect(connection.outputBufferFull).toBe(true);
    // Far more than loopback socket buffers hold, so the writes cannot complete while nobody reads.
    const total = 24;
    for (let i = 1; i < total; i++) connection.sendBytes(chunk);
    await delay(200);
    expect(drains).toEqual([]);
    expect(connection.outputBufferFull).toBe(true);
    client.socket.resume();
    await until(() => drains.length > 0, "'drain'", 5000);
    expect(drains[0]).toEqual([]);
    expect(connection.outputBufferFull).toBe(false);
    // Every frame arrives: 64-bit length header (10 bytes) + payload each.
    await until(() => client.bytesReceived - headLength === total * (10 + chunk.length), 'all the data', 5000);
  });

  test('pause(): no message events while paused; resume() delivers them in order', async () => {
    const { client, connection } = await rawConnection();
    const messages = record<[{ utf8Data: string }]>(connection, 'message');
    const pauses = record(connection, 'pause');
    const resumes = record(connection, 'resume');
    connection.pause();
    expect(pauses).toHaveLength(1);
    client.write(Buffer.concat([f.text('one'), f.text('two')]));
    await delay(30);
    client.write(f.text('three'));
    await delay(70);
    expect(messages).toEqual([]);
    connection.resume();
    await until(() => messages.length === 3, 'three messages');
    expect(messages.map(([m]) => m.utf8Data)).toEqual(['one', 'two', 'three']);
    await until(() => resumes.length > 0, "'resume'");
  });

  test('pause() inside a message handler holds the rest of the same chunk', async () => {
    const { client, connection } = await rawConnection();
    const got: string[] = [];
    connection.on('message', (message: Message) => {
      const text = message.type === 'utf8' ? message.utf8Data : '';
      got.push(text);
      if (text === 'a') connection.pause();
    });
    client.write(Buffer.concat([f.text('a'), f.text('b'), f.ping('c'), f.text('d')]));
    await delay(80);
    expect(got).toEqual(['a']);
    connection.resume();
    await until(() => got.length === 3, 'the held messages');
    expect(got).toEqual(['a', 'b', 'd']);
    expect(f.hex((await client.readFrame()).raw)).toBe('8a 01 63');
  });
});

describe('WebSocketServer API', () => {
  test('mount() without httpServer throws', () => {
    expect(() => new websocket.server({} as ServerConfig)).toThrow('You must specify an httpServer on which to mount the WebSocket server.');
  });

  test('config defaults are upstream values, unknown keys kept, httpServer normalised to an array', async () => {
    const { http } = await startHttpServer();
    const server = new websocket.server({ httpServer: http, custom: 1 } as ServerConfig);
    try {
      expect(server.config).toMatchObject({
        httpServer: [http],
        maxReceivedFrameSize: 0x10000,
        maxReceivedMessageSize: 0x100000,
        fragmentOutgoingMessages: true,
        fragmentationThreshold: 0x4000,
        keepalive: true,
        keepaliveInterval: 20000,
        dropConnectionOnKeepaliveTimeout: true,
        keepaliveGracePeriod: 10000,
        useNativeKeepalive: false,
        assembleFragments: true,
        autoAcceptConnections: false,
        ignoreXForwardedFor: false,
        parseCookies: true,
        parseExtensions: true,
        disableNagleAlgorithm: true,
        closeTimeout: 5000,
        custom: 1,
      });
    } finally {
      server.unmount();
    }
  });

  test('connections list and server close events', async () => {
    const server = await startServer({ autoAcceptConnections: true });
    const connects = record<[WebSocketConnection]>(server.ws, 'connect');
    const closes = record(server.ws, 'close');
    const a = await wsClient(server.url);
    await wsClient(server.url);
    await until(() => connects.length === 2, 'two connects');
    const [connA, connB] = connects.map(([c]) => c);
    expect(server.ws.connections).toEqual([connA, connB]);
    a.close(1000, 'bye');
    await until(() => closes.length === 1, 'server close');
    expect(closes).toEqual([[connA, 1000, 'bye']]);
    expect(server.ws.connections).toEqual([connB]);
  });

  test('pendingRequests and connections lose a middle entry in place, keeping the order of the rest', async () => {
    const server = await startServer({ autoAcceptConnections: false });
    const requests = record<[WebSocketRequest]>(server.ws, 'request');
    const pending = server.ws.pendingRequests;
    const connectionList = server.ws.connections;
    const clients = [];
    for (let i = 0; i < 3; i++) {
      clients.push(await RawClient.connect(server.port));
      clients[i]!.write(buildHandshake({ path: `/${i}` }));
      await until(() => requests.length === i + 1, `request ${i}`);
    }
    const [r0, r1, r2] = requests.map(([r]) => r) as [WebSocketRequest, WebSocketRequest, WebSocketRequest];
    expect(pending).toEqual([r0, r1, r2]);
    r1.reject(403);
    expect(server.ws.pendingRequests).toBe(pending);
    expect(pending.map((r) => r.resource)).toEqual(['/0', '/2']);
    const c0 = r0.accept(null, null);
    const c2 = r2.accept(null, null);
    expect(pending).toEqual([]);
    await until(() => connectionList.length === 2, 'two connections');
    expect(connectionList).toEqual([c0, c2]);
    const third = await RawClient.connect(server.port);
    third.write(buildHandshake({ path: '/3' }));
    await until(() => requests.length === 4, 'request 3');
    const c3 = requests[3]![0].accept(null, null);
    await until(() => connectionList.length === 3, 'three connections');
    c2.drop(1000, 'middle goes', true);
    await until(() => connectionList.length === 2, 'the middle connection to go');
    expect(server.ws.connections).toBe(connectionList);
    expect(connectionList).toEqual([c0, c3]);
  });

  test('broadcastUTF, broadcastBytes and broadcast reach every connection', async () => {
    const server = await startServer({ autoAcceptConnections: true });
    const connects = record(server.ws, 'connect');
    const clients = [await wsClient(server.url), await wsClient(server.url)];
    await until(() => connects.length === 2, 'two connects');
    const expectAll = async (send: () => void, data: Buffer, isBinary: boolean): Promise<void> => {
      const replies = clients.map((c) => wsMessage(c));
      send();
      for (const reply of await Promise.all(replies)) expect(reply).toEqual({ data, isBinary });
    };
    await expectAll(() => server.ws.broadcastUTF('hi'), Buffer.from('hi'), false);
    await expectAll(() => server.ws.broadcastBytes(Buffer.from([1, 2])), Buffer.from([1, 2]), true);
    await expectAll(() => server.ws.broadcast(Buffer.from([3])), Buffer.from([3]), true);
    await expectAll(() => server.ws.broadcast('text'), Buffer.from('text'), false);
  });

  test('closeAllConnections: every connection closes with 1000, pending requests get 503', async () => {
    const server = await startServer();
    const pending: WebSocketRequest[] = [];
    server.ws.on('request', (request: WebSocketRequest) => {
      if (request.resource === '/accept') request.accept();
      else pending.push(request);
    });
    const serverCloses = record(server.ws, 'close');
    const clients = [await wsClient(server.url + 'accept'), await wsClient(server.url + 'accept')];
    const clientCloses = clients.map(
      (c) => new Promise<[number, string]>((resolve) => c.once('close', (code: number, reason: Buffer) => resolve([code, reason.toString()]))),
    );
    const raw = await RawClient.connect(server.port);
    raw.write(buildHandshake({ path: '/wait' }));
    await until(() => pending.length === 1, 'the pending request');
    server.ws.closeAllConnections();
    expect(await Promise.all(clientCloses)).toEqual([
      [1000, 'Normal connection closure'],
      [1000, 'Normal connection closure'],
    ]);
    await raw.waitForEnd();
    expect(raw.received.toString('latin1')).toBe('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n');
    await until(() => serverCloses.length === 2, 'two server close events');
    expect(serverCloses.map(([, code, desc]) => [code, desc])).toEqual([
      [1000, 'Normal connection closure'],
      [1000, 'Normal connection closure'],
    ]);
    expect(server.ws.connections).toEqual([]);
    expect(server.ws.pendingRequests).toEqual([]);
  });

  test('closeAllConnections then accepting the pending request at once does not throw later', async () => {
    const server = await startServer();
    const pending: WebSocketRequest[] = [];
    server.ws.on('request', (request: WebSocketRequest) => pending.push(request));
    const raw = await RawClient.connect(server.port);
    raw.write(buildHandshake());
    await until(() => pending.length === 1, 'the pending request');
    server.ws.closeAllConnections();
    pending[0]!.accept();
    expect(await raw.readHead()).toMatch(/^HTTP\/1\.1 101 /);
    await delay(20);
    expect(server.ws.connections).toHaveLength(1);
  });

  test('shutDown: closes the connections and stops handling upgrades', async () => {
    const server = await startServer({ autoAcceptConnections: true });
    const client = await wsClient(server.url);
    const closed = new Promise<number>((resolve) => client.once('close', resolve));
    server.ws.shutDown();
    expect(await closed).toBe(1000);
    expect(server.http.listenerCount('upgrade')).toBe(0);
    const { response } = await RawClient.open(server.port);
    expect(response).not.toMatch(/^HTTP\/1\.1 101 /);
  });

  test('unmount: existing connections keep working, new upgrades are not handled', async () => {
    const server = await startServer({ autoAcceptConnections: true });
    const { client, connection } = await openRawConnection(server);
    server.ws.unmount();
    const message = nextEvent(connection, 'message');
    client.write(f.text('still'));
    expect(await message).toEqual([{ type: 'utf8', utf8Data: 'still' }]);
    const { response } = await RawClient.open(server.port);
    expect(response).not.toMatch(/^HTTP\/1\.1 101 /);
  });

  test('mounted on two http servers: both accept, one connections list, unmount detaches both', async () => {
    const one = await startHttpServer();
    const two = await startHttpServer();
    const server = new websocket.server({ httpServer: [one.http, two.http], autoAcceptConnections: true, keepalive: false });
    const connects = record<[WebSocketConnection]>(server, 'connect');
    try {
      await wsClient(`ws://127.0.0.1:${one.port}/`);
      await wsClient(`ws://127.0.0.1:${two.port}/`);
      await until(() => connects.length === 2, 'two connects');
      expect(server.connections).toHaveLength(2);
      expect(server.config!.httpServer).toEqual([one.http, two.http]);
    } finally {
      server.unmount();
      for (const connection of [...server.connections]) connection.drop(1006, 'teardown', true);
    }
    expect(one.http.listenerCount('upgrade')).toBe(0);
    expect(two.http.listenerCount('upgrade')).toBe(0);
  });

  test('a ws client and a raw client on one server, each gets its own echo', async () => {
    const server = await startServer({ autoAcceptConnections: true });
    server.ws.on('connect', (connection: WebSocketConnection) => {
      connection.on('message', (m: Message) => connection.sendUTF(`echo:${m.type === 'utf8' ? m.utf8Data : ''}`));
    });
    const ws = await wsClient(server.url);
    const { client } = await openRawConnection(server);
    const reply = wsMessage(ws);
    ws.send('from ws');
    client.write(f.text('from raw'));
    expect((await reply).data.toString()).toBe('echo:from ws');
    expect((await client.readFrame()).payload.toString()).toBe('echo:from raw');
  });
});
