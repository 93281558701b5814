/**
 * The stream adapters over real sockets on 127.0.0.1 (lib/streams, required directly):
 * createWebSocketStream()'s Node Duplex, client and server side, against our server and a `ws`
 * client; and the WHATWG WebSocketStream client against our server and a `ws` server.
 *
 * Every test runs under the hardening guard, which fails it on an unhandled rejection, an uncaught
 * exception, a process warning or a timer left running: the abort and failed-connection tests
 * leave `opened` / `closed` unobserved on purpose to prove they never reject into the void.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough, Transform, Writable, type Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStreamDefaultReader, ReadableStreamReadResult } from 'node:stream/web';
import WebSocket, { WebSocketServer as WsServer } from 'ws';
import websocket = require('../../lib/websocket');
import { createWebSocketStream, ConnectionClosedError } from '../../lib/streams/create-websocket-stream';
import { WebSocketError, WebSocketStream, type WebSocketStreamChunk } from '../../lib/streams/websocket-stream';
import {
  delay,
  guardProcess,
  isError,
  KiB,
  MiB,
  onCleanup,
  startHardenedServer,
  until,
  type Hardened,
  type WebSocketConnection,
} from '../hardening/helpers';
import { wsClient, wsMessage } from '../helpers/server';

const guard = guardProcess();

type Connection = InstanceType<typeof websocket.connection>;

/** Our client connected to `url`; dropped at teardown if still open. */
async function connect(url: string): Promise<Connection> {
  const client = new websocket.client();
  const connection = await new Promise<Connection>((resolve, reject) => {
    client.once('connect', resolve);
    client.once('connectFailed', reject);
    client.connect(url);
  });
  onCleanup(() => {
    if (connection.state !== 'closed') connection.drop(1006, 'test teardown', true);
  });
  return connection;
}

/** A Duplex over `connection`; at teardown it is destroyed quietly before the connection is dropped. */
function wrap(connection: Connection | WebSocketConnection, options?: Parameters<typeof createWebSocketStream>[1]): Duplex {
  const duplex = createWebSocketStream(connection, options);
  onCleanup(() => {
    duplex.on('error', () => undefined);
    duplex.destroy();
  });
  return duplex;
}

/**
 * A TCP server that reads upgrade requests and never answers them: it counts the requests and
 * sees when the client gives up (the socket closes).
 */
async function silentServer(): Promise<{ url: string; requests: () => number; open: () => number }> {
  const sockets = new Set<net.Socket>();
  let requests = 0;
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.once('data', () => requests++);
    socket.on('data', () => undefined);
    socket.on('error', () => undefined);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onCleanup(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return { url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`, requests: () => requests, open: () => sockets.size };
}

/** The server side of the `n`th accepted connection (1-based). */
async function accepted(h: Hardened, n = 1): Promise<WebSocketConnection> {
  await until(() => h.accepted.length >= n, `connection ${n} to be accepted`);
  return h.accepted[n - 1]!;
}

/** Resolves with the only 'close' event of a server-side connection. */
async function serverClose(h: Hardened, connection: WebSocketConnection): Promise<[number, string]> {
  await until(() => (h.closes.get(connection)?.length ?? 0) > 0, 'the server connection to close', 4000);
  return h.closes.get(connection)![0]!;
}

/** The error a stream emits, or null if it closes without one. */
function streamOutcome(stream: Duplex): Promise<Error | null> {
  return new Promise((resolve) => {
    let error: Error | null = null;
    stream.on('error', (e: Error) => {
      error = e;
    });
    stream.on('close', () => resolve(error));
  });
}

/** Sends binary messages of `size` bytes until `total` are out, waiting for 'drain' when the output is full. */
function pump(connection: WebSocketConnection, total: number, size: number): { sent: () => number; done: Promise<void> } {
  let sent = 0;
  const payload = Buffer.alloc(size, 0x5a);
  const done = new Promise<void>((resolve) => {
    const more = (): void => {
      while (sent < total && connection.connected) {
        connection.sendBytes(payload);
        sent += size;
        if (connection.outputBufferFull) {
          connection.once('drain', more);
          return;
        }
      }
      resolve();
    };
    more();
  });
  return { sent: () => sent, done };
}

/** A `ws` echo server (binary stays binary); a text message 'bye' makes it close with 4005. */
async function wsEchoServer(): Promise<string> {
  const httpServer = http.createServer();
  const wsServer = new WsServer({ server: httpServer });
  wsServer.on('connection', (socket: WebSocket) => {
    socket.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary && data.toString() === 'bye') socket.close(4005, 'ws says bye');
      else socket.send(data, { binary: isBinary });
    });
  });
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  onCleanup(
    () =>
      new Promise<void>((resolve) => {
        for (const client of wsServer.clients) client.terminate();
        wsServer.close();
        httpServer.close(() => resolve());
      }),
  );
  return `ws://127.0.0.1:${(httpServer.address() as AddressInfo).port}/`;
}

/** Records every message a server connection receives, in order. */
function recordMessages(connection: WebSocketConnection): Array<{ type: string; data: Buffer }> {
  const messages: Array<{ type: string; data: Buffer }> = [];
  connection.on('message', (message) => {
    messages.push(
      message.type === 'utf8'
        ? { type: 'utf8', data: Buffer.from(message.utf8Data, 'utf8') }
        : { type: 'binary', data: message.binaryData },
    );
  });
  return messages;
}

// ---------------------------------------------------------------------------------------------

describe('createWebSocketStream (Node Duplex)', () => {
  test('pipeline(): a file read in 16 KiB chunks goes to an echo server and back byte-exact, one message per chunk', async () => {
    const h = await startHardenedServer();
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ws-streams-')), 'payload.bin');
    onCleanup(() => fs.rmSync(path.dirname(file), { recursive: true, force: true }));
    const content = crypto.randomBytes(3 * MiB + 12345);
    fs.writeFileSync(file, content);

    const duplex = wrap(await connect(h.url));
    const received: Buffer[] = [];
    let receivedBytes = 0;
    let allEchoed!: () => void;
    const echoed = new Promise<void>((resolve) => (allEchoed = resolve));
    // end() closes the connection, which then ignores what the server still sends: the source
    // finishes only once every byte has come back.
    const holdEnd = new Transform({
      transform: (chunk: Buffer, _encoding, callback) => callback(null, chunk),
      flush: (callback) => {
        echoed.then(() => callback(), callback);
      },
    });
    const sink = new Writable({
      write: (chunk: Buffer, _encoding, callback) => {
        received.push(chunk);
        receivedBytes += chunk.length;
        if (receivedBytes === content.length) allEchoed();
        callback();
      },
    });
    await pipeline(fs.createReadStream(file, { highWaterMark: 16 * KiB }), holdEnd, duplex, sink);

    expect(Buffer.concat(received).equals(content)).toBe(true);
    const server = await accepted(h);
    expect(h.messages.get(server)).toBe(Math.ceil(content.length / (16 * KiB)));
    expect(await serverClose(h, server)).toEqual([1000, 'Normal connection closure']);
  });

  test('each write() is one message: text for UTF-8 strings, binary for bytes and other encodings', async () => {
    const h = await startHardenedServer({}, { echo: false });
    const duplex = wrap(await connect(h.url));
    const server = await accepted(h);
    const messages = recordMessages(server);
    const big = 'ü'.repeat(40 * KiB);
    const writes: Array<[unknown, BufferEncoding?]> = [
      ['hello'],
      [Buffer.from([1, 2, 3])],
      [''],
      [Buffer.alloc(0)],
      ['ünïcødé ✓'],
      ['cafe', 'hex'],
      [new Uint8Array([9, 8, 7])],
      [big],
    ];
    for (const [chunk, encoding] of writes) {
      if (encoding === undefined) duplex.write(chunk);
      else duplex.write(chunk, encoding);
    }
    // 'close' needs the readable side consumed too (ended by the close), as for any Duplex.
    duplex.resume();
    const outcome = streamOutcome(duplex);
    duplex.end();
    expect(await outcome).toBeNull();
    expect(await serverClose(h, server)).toEqual([1000, 'Normal connection closure']);
    expect(messages.map((m) => m.type)).toEqual(['utf8', 'binary', 'utf8', 'binary', 'utf8', 'binary', 'binary', 'utf8']);
    expect(messages.map((m) => m.data.toString('hex'))).toEqual([
      Buffer.from('hello').toString('hex'),
      '010203',
      '',
      '',
      Buffer.from('ünïcødé ✓').toString('hex'),
      'cafe',
      '090807',
      Buffer.from(big).toString('hex'),
    ]);
  });

  test('reads: Buffers of the UTF-8 bytes by default, strings with `encoding`, one message per read in readableObjectMode', async () => {
    const h = await startHardenedServer({}, { echo: false });
    const connections = [await connect(h.url), await connect(h.url), await connect(h.url)];
    const bytes = wrap(connections[0]!);
    const text = wrap(connections[1]!, { encoding: 'utf8' });
    const objects = wrap(connections[2]!, { readableObjectMode: true });
    for (let n = 1; n <= 3; n++) {
      const server = await accepted(h, n);
      server.sendUTF('héllo');
      server.sendBytes(Buffer.from([0xff, 0x00]));
      server.sendUTF('');
      server.close(1000);
    }
    const all = async (stream: Duplex): Promise<unknown[]> => {
      const chunks: unknown[] = [];
      for await (const chunk of stream) chunks.push(chunk);
      return chunks;
    };
    const asBytes = (await all(bytes)) as Buffer[];
    expect(asBytes.every((chunk) => Buffer.isBuffer(chunk))).toBe(true);
    expect(Buffer.concat(asBytes).equals(Buffer.concat([Buffer.from('héllo'), Buffer.from([0xff, 0x00])]))).toBe(true);
    expect(((await all(text)) as string[]).join('')).toBe('héllo' + Buffer.from([0xff, 0x00]).toString('utf8'));
    const messages = await all(objects);
    expect(messages).toHaveLength(3);
    expect(messages[0]).toBe('héllo');
    expect(Buffer.isBuffer(messages[1]) && (messages[1] as Buffer).equals(Buffer.from([0xff, 0x00]))).toBe(true);
    expect(messages[2]).toBe('');
  });

  test('back-pressure: a reader that stops pauses the connection, and the server can hand over only a bounded amount', async () => {
    const h = await startHardenedServer({}, { echo: false });
    const connection = await connect(h.url);
    const duplex = wrap(connection);
    const server = await accepted(h);
    const total = 48 * MiB;
    const size = 64 * KiB;
    const pumping = pump(server, total, size);

    await until(() => connection.inputPaused, 'the stream to pause the connection');
    // Let the kernel buffers on both sides fill up, then check that the server is stuck.
    await delay(400);
    const handedOver = pumping.sent() - server.bytesWaitingToFlush;
    expect(pumping.sent()).toBeLessThan(total);
    // The Duplex holds its high-water mark plus one message; the rest sits in loopback socket buffers.
    expect(duplex.readableLength).toBeLessThanOrEqual(duplex.readableHighWaterMark + size);
    expect(handedOver).toBeLessThan(24 * MiB);

    let readBytes = 0;
    for await (const chunk of duplex) {
      readBytes += (chunk as Buffer).length;
      if (readBytes === total) break;
    }
    await pumping.done;
    expect(readBytes).toBe(total);
  });

  test('write back-pressure follows the socket: a server that stops reading stops the writes', async () => {
    const h = await startHardenedServer({}, { echo: false });
    const duplex = wrap(await connect(h.url));
    const server = await accepted(h);
    const messages = recordMessages(server);
    server.pause();
    const chunk = Buffer.alloc(256 * KiB, 1);
    let written = 0;
    // Write until write() says stop, then wait for a 'drain' that does not come while the server is paused.
    for (;;) {
      written++;
      if (!duplex.write(chunk)) {
        const drained = await Promise.race([new Promise((resolve) => duplex.once('drain', () => resolve(true))), delay(300).then(() => false)]);
        if (!drained) break;
      }
      expect(written).toBeLessThan(200);
    }
    expect(duplex.writableLength).toBeGreaterThan(0);
    server.resume();
    await new Promise((resolve) => duplex.once('drain', resolve));
    await until(() => messages.length === written, 'every message to arrive', 4000);
    expect(messages.every((m) => m.type === 'binary' && m.data.length === chunk.length)).toBe(true);
    const outcome = streamOutcome(duplex);
    duplex.resume();
    duplex.end();
    expect(await outcome).toBeNull();
  });

  test('end() closes with 1000 after pending writes and finishes once the closing handshake is over', async () => {
    const h = await startHardenedServer({}, { echo: false });
    const connection = await connect(h.url);
    const duplex = wrap(connection);
    const server = await accepted(h);
    const messages = recordMessages(server);
    const events: string[] = [];
    duplex.on('finish', () => events.push(`finish ${connection.state}`));
    duplex.on('end', () => events.push('end'));
    const outcome = streamOutcome(duplex);
    duplex.resume();
    duplex.write('last words');
    duplex.end();
    expect(await outcome).toBeNull();
    expect(messages.map((m) => m.data.toString())).toEqual(['last words']);
    expect(await serverClose(h, server)).toEqual([1000, 'Normal connection closure']);
    // 'finish' waits for the closing handshake: by then the connection is closed.
    expect(events.sort()).toEqual(['end', 'finish closed']);
  });

  test('destroy() drops with 1001, destroy(error) with 1011; the error is the stream\'s', async () => {
    const h = await startHardenedServer({}, { echo: false });
    const first = wrap(await connect(h.url));
    const firstServer = await accepted(h, 1);
    const second = wrap(await connect(h.url));
    const secondServer = await accepted(h, 2);

    const plain = streamOutcome(first);
    first.destroy();
    expect(await plain).toBeNull();
    expect((await serverClose(h, firstServer))[0]).toBe(1001);

    const failing = streamOutcome(second);
    const boom = new Error('application failure');
    second.destroy(boom);
    expect(await failing).toBe(boom);
    // The peer learns the code, not our error's text.
    expect(await serverClose(h, secondServer)).toEqual([1011, 'Internal Server Error']);
  });

  test('the readable side ends on a normal close from the peer, and errors with code and description otherwise', async () => {
    const h = await startHardenedServer({}, { echo: false });
    const normal = wrap(await connect(h.url));
    const normalServer = await accepted(h, 1);
    const abnormal = wrap(await connect(h.url));
    const abnormalServer = await accepted(h, 2);
    normal.resume();
    abnormal.resume();
    const ended = new Promise<boolean>((resolve) => normal.once('end', () => resolve(true)));
    const normalOutcome = streamOutcome(normal);
    const abnormalOutcome = streamOutcome(abnormal);

    normalServer.close(1001);
    abnormalServer.close(4001, 'session expired');

    expect(await ended).toBe(true);
    expect(await normalOutcome).toBeNull();
    const error = await abnormalOutcome;
    expect(error).toBeInstanceOf(ConnectionClosedError);
    expect({ code: (error as ConnectionClosedError).code, description: (error as ConnectionClosedError).description }).toEqual({
      code: 4001,
      description: 'session expired',
    });
  });

  test('a socket error on the connection destroys the stream with that error', async () => {
    const h = await startHardenedServer({}, { echo: false });
    const connection = await connect(h.url);
    const duplex = wrap(connection);
    const outcome = streamOutcome(duplex);
    const failure = new Error('socket failure');
    connection.socket.destroy(failure);
    expect(await outcome).toBe(failure);
    expect(connection.state).toBe('closed');
  });

  test('object mode: a chunk that is neither text nor bytes fails the stream and drops the connection with 1011', async () => {
    const h = await startHardenedServer({}, { echo: false });
    const duplex = wrap(await connect(h.url), { objectMode: true });
    const server = await accepted(h);
    const messages = recordMessages(server);
    const outcome = streamOutcome(duplex);
    duplex.write('text');
    duplex.write(new Float32Array([1]).buffer);
    duplex.write({ not: 'sendable' });
    const error = await outcome;
    expect(isError(error) && error.name).toBe('TypeError');
    expect((await serverClose(h, server))[0]).toBe(1011);
    expect(messages.map((m) => m.type)).toEqual(['utf8', 'binary']);
  });

  test('server side: an accepted connection wrapped in object mode echoes to a ws client, text as text and binary as binary', async () => {
    const h = await startHardenedServer(
      {},
      {
        echo: false,
        handler: (_request, accept) => {
          const duplex = wrap(accept(), { objectMode: true });
          duplex.pipe(duplex);
        },
      },
    );
    const client = await wsClient(h.url);
    let reply = wsMessage(client);
    client.send('round trip');
    expect(await reply).toEqual({ data: Buffer.from('round trip'), isBinary: false });
    reply = wsMessage(client);
    client.send(Buffer.from([0, 1, 2, 255]));
    expect(await reply).toEqual({ data: Buffer.from([0, 1, 2, 255]), isBinary: true });
    const closed = new Promise<number>((resolve) => client.once('close', (code: number) => resolve(code)));
    client.close(1000);
    expect(await closed).toBe(1000);
    expect(await serverClose(h, await accepted(h))).toEqual([1000, 'Normal connection closure']);
  });

  test('client side against a ws server: text and binary keep their type, and a 4005 close from ws fails the stream with it', async () => {
    const duplex = wrap(await connect(await wsEchoServer()), { objectMode: true });
    const received: unknown[] = [];
    duplex.on('data', (message: unknown) => received.push(message));
    const outcome = streamOutcome(duplex);
    duplex.write('text ✓');
    duplex.write(Buffer.from([1, 2, 3]));
    await until(() => received.length === 2, 'both echoes');
    expect(received[0]).toBe('text ✓');
    expect(Buffer.isBuffer(received[1]) && (received[1] as Buffer).equals(Buffer.from([1, 2, 3]))).toBe(true);
    duplex.write('bye');
    const error = await outcome;
    expect(error).toBeInstanceOf(ConnectionClosedError);
    expect({ code: (error as ConnectionClosedError).code, description: (error as ConnectionClosedError).description }).toEqual({
      code: 4005,
      description: 'ws says bye',
    });
  });

  test('wrapping a connection that already closed ends (normal code) or fails (other code) at once', async () => {
    const h = await startHardenedServer({}, { echo: false });
    const normal = await connect(h.url);
    normal.drop(1000, '', true);
    const late = createWebSocketStream(normal);
    late.resume();
    expect(await streamOutcome(late)).toBeNull();

    const failed = await connect(h.url);
    failed.drop(1002, 'bad', true);
    const lateFailed = createWebSocketStream(failed);
    const error = await streamOutcome(lateFailed);
    expect(error).toBeInstanceOf(ConnectionClosedError);
    expect((error as ConnectionClosedError).code).toBe(1002);
  });

  test('options: undefined values keep the adapter\'s defaults, implementation hooks are ignored, the rest passes through', async () => {
    const h = await startHardenedServer();
    const connection = await connect(h.url);
    const hostile = { allowHalfOpen: undefined, decodeStrings: undefined, write: () => undefined, readableHighWaterMark: 1024 };
    const duplex = wrap(connection, hostile as never);
    expect(duplex.allowHalfOpen).toBe(false);
    expect(duplex.readableHighWaterMark).toBe(1024);
    const server = await accepted(h);
    const messages = recordMessages(server);
    const collected: Buffer[] = [];
    const out = new PassThrough();
    out.on('data', (chunk: Buffer) => collected.push(chunk));
    duplex.pipe(out);
    duplex.write('ping');
    await until(() => Buffer.concat(collected).toString() === 'ping', 'the echo');
    expect(messages.map((m) => m.type)).toEqual(['utf8']);
    const outcome = streamOutcome(duplex);
    duplex.end();
    expect(await outcome).toBeNull();
  });
});

// ---------------------------------------------------------------------------------------------

/** The next chunk of a reader, or a failure after `ms`. */
async function read(reader: ReadableStreamDefaultReader<WebSocketStreamChunk>, ms = 4000): Promise<ReadableStreamReadResult<WebSocketStreamChunk>> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      reader.read(),
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error('timed out waiting for a chunk')), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** The rejection of `promise` (fails the test if it resolves). */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

/** A port nothing listens on (listened on, then closed). */
async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A WebSocketStream closed at teardown if the test left it open. */
function open(url: string, options?: ConstructorParameters<typeof WebSocketStream>[1]): WebSocketStream {
  const wss = new WebSocketStream(url, options);
  onCleanup(async () => {
    wss.close();
    await wss.closed.catch(() => undefined);
  });
  return wss;
}

describe('WebSocketStream (WHATWG client)', () => {
  test('opens, echoes text as strings and binary as Uint8Arrays, and close({ closeCode, reason }) resolves closed with them', async () => {
    const h = await startHardenedServer({}, { acceptFirstProtocol: true });
    const wss = open(h.url, { protocols: ['chat.v2', 'chat.v1'] });
    expect(wss.url).toBe(h.url);
    const { readable, writable, protocol, extensions } = await wss.opened;
    expect(protocol).toBe('chat.v2');
    expect(extensions).toBe('');
    const reader = readable.getReader();
    const writer = writable.getWriter();

    await writer.write('hello ✓');
    expect(await read(reader)).toEqual({ done: false, value: 'hello ✓' });
    const sources: Array<ArrayBuffer | ArrayBufferView> = [
      new Uint8Array([1, 2, 3]),
      new Uint16Array([0x0102, 0x0304]).buffer,
      new DataView(new Uint8Array([7, 8, 9, 10]).buffer, 1, 2),
      Buffer.from('buffer bytes'),
      new Uint8Array(0),
    ];
    for (const source of sources) {
      const expected = ArrayBuffer.isView(source)
        ? Buffer.from(source.buffer, source.byteOffset, source.byteLength)
        : Buffer.from(source);
      await writer.write(source);
      const chunk = await read(reader);
      expect(chunk.done).toBe(false);
      const value = chunk.value as Uint8Array;
      expect(Object.prototype.toString.call(value)).toBe('[object Uint8Array]');
      expect(Buffer.isBuffer(value)).toBe(false);
      // Each chunk owns its ArrayBuffer: no pooled or shared bytes behind it.
      expect(value.byteOffset).toBe(0);
      expect(value.buffer.byteLength).toBe(value.byteLength);
      expect(Buffer.from(value).equals(expected)).toBe(true);
    }

    wss.close({ closeCode: 4000, reason: 'game over' });
    expect(await wss.closed).toEqual({ closeCode: 4000, reason: 'game over' });
    expect(await serverClose(h, await accepted(h))).toEqual([4000, 'game over']);
    expect(await read(reader)).toEqual({ done: true, value: undefined });
    const writeError = await rejection(writer.write('too late'));
    expect(writeError).toBeInstanceOf(DOMException);
    expect((writeError as DOMException).name).toBe('InvalidStateError');
  });

  test('Node-only options reach the client: headers, and a clientConfig whose permessage-deflate shows in extensions', async () => {
    const h = await startHardenedServer({ perMessageDeflate: true });
    const wss = open(h.url, { headers: { 'X-Token': 'secret' }, clientConfig: { perMessageDeflate: true } });
    const { readable, writable, extensions } = await wss.opened;
    expect(extensions).toMatch(/^permessage-deflate\b/);
    expect(h.requests[0]?.httpRequest.headers['x-token']).toBe('secret');
    const text = 'compressible '.repeat(1000);
    const writer = writable.getWriter();
    await writer.write(text);
    expect(await read(readable.getReader())).toEqual({ done: false, value: text });
    // A chunk that is neither text nor bytes errors the writable, not the connection.
    expect(((await rejection(writer.write(42 as never))) as Error).name).toBe('TypeError');
    wss.close({ closeCode: 4003 });
    expect(await wss.closed).toEqual({ closeCode: 4003, reason: '' });
  });

  test('close() without a code sends 1000 with no reason; the closed promise reports what we sent', async () => {
    const h = await startHardenedServer();
    const wss = open(h.url);
    await wss.opened;
    wss.close();
    expect(await wss.closed).toEqual({ closeCode: 1000, reason: '' });
    // The frame carries 1000 and no text; the server's 'close' fills in the code's description.
    expect(await serverClose(h, await accepted(h))).toEqual([1000, 'Normal connection closure']);
  });

  test('a close started by the server resolves closed with its code and reason and ends the readable', async () => {
    const h = await startHardenedServer({}, { echo: false });
    const wss = open(h.url);
    const { readable, writable } = await wss.opened;
    const server = await accepted(h);
    server.sendUTF('before the close');
    server.close(4001, 'kicked');
    const reader = readable.getReader();
    expect(await read(reader)).toEqual({ done: false, value: 'before the close' });
    expect(await read(reader)).toEqual({ done: true, value: undefined });
    expect(await wss.closed).toEqual({ closeCode: 4001, reason: 'kicked' });
    const error = await rejection(writable.getWriter().write('after'));
    expect((error as DOMException).name).toBe('InvalidStateError');
  });

  test('a server that goes away without closing rejects closed and errors the readable with a WebSocketError (1006)', async () => {
    const h = await startHardenedServer({}, { echo: false });
    const wss = open(h.url);
    const { readable } = await wss.opened;
    (await accepted(h)).drop(1006, 'gone', true);
    const error = await rejection(wss.closed);
    expect(error).toBeInstanceOf(WebSocketError);
    expect(error).toBeInstanceOf(DOMException);
    expect({ name: (error as WebSocketError).name, closeCode: (error as WebSocketError).closeCode }).toEqual({
      name: 'WebSocketError',
      closeCode: 1006,
    });
    expect(await rejection(readable.getReader().read())).toBe(error);
  });

  test('writable.close() closes cleanly and settles after the closing handshake; cancel() and abort(WebSocketError) close too', async () => {
    const h = await startHardenedServer();
    const viaClose = open(h.url);
    const viaCancel = open(h.url);
    const viaAbort = open(h.url);
    const [a, b, c] = await Promise.all([viaClose.opened, viaCancel.opened, viaAbort.opened]);
    let closedFirst = false;
    void viaClose.closed.then(() => (closedFirst = true));
    await a.writable.getWriter().close();
    expect(closedFirst).toBe(true);
    expect(await viaClose.closed).toEqual({ closeCode: 1000, reason: '' });

    await b.readable.cancel('not interested');
    expect(await viaCancel.closed).toEqual({ closeCode: 1000, reason: '' });

    await c.writable.abort(new WebSocketError('giving up', { closeCode: 4002, reason: 'aborted' }));
    expect(await viaAbort.closed).toEqual({ closeCode: 4002, reason: 'aborted' });
    const codes = await Promise.all(h.accepted.map((connection) => serverClose(h, connection)));
    expect(codes.map(([code]) => code).sort()).toEqual([1000, 1000, 4002]);
  });

  test('close() checks its arguments as the standard does; so does new WebSocketError()', async () => {
    const h = await startHardenedServer();
    const wss = open(h.url);
    await wss.opened;
    const nameOf = (fn: () => unknown): string => {
      try {
        fn();
      } catch (error) {
        return (error as Error).name;
      }
      return 'no error';
    };
    expect(nameOf(() => wss.close({ closeCode: 1001 }))).toBe('InvalidAccessError');
    expect(nameOf(() => wss.close({ closeCode: 5000 }))).toBe('InvalidAccessError');
    expect(nameOf(() => wss.close({ closeCode: 70000 }))).toBe('TypeError');
    expect(nameOf(() => wss.close({ reason: 'x'.repeat(124) }))).toBe('SyntaxError');
    expect(nameOf(() => wss.close(true as never))).toBe('TypeError');
    expect(nameOf(() => new WebSocketError('', { closeCode: 1006 }))).toBe('InvalidAccessError');
    expect(new WebSocketError('', { reason: 'why' }).closeCode).toBe(1000);
    expect(new WebSocketError().closeCode).toBeNull();
    // None of the refused calls started a close.
    wss.close({ reason: 'ok now' });
    expect(await wss.closed).toEqual({ closeCode: 1000, reason: 'ok now' });
  });

  test('the constructor refuses bad URLs and subprotocol lists with a SyntaxError, and maps http(s) to ws(s)', async () => {
    const nameOf = (fn: () => unknown): string => {
      try {
        fn();
      } catch (error) {
        return (error as Error).name;
      }
      return 'no error';
    };
    expect(nameOf(() => new WebSocketStream('not a url'))).toBe('SyntaxError');
    expect(nameOf(() => new WebSocketStream('ftp://127.0.0.1/'))).toBe('SyntaxError');
    expect(nameOf(() => new WebSocketStream('ws://127.0.0.1/#frag'))).toBe('SyntaxError');
    expect(nameOf(() => new WebSocketStream('ws://127.0.0.1/', { protocols: ['a', 'a'] }))).toBe('SyntaxError');
    expect(nameOf(() => new WebSocketStream('ws://127.0.0.1/', { protocols: ['a b'] }))).toBe('SyntaxError');
    const h = await startHardenedServer();
    const wss = open(`http://127.0.0.1:${h.port}/path?q=1`);
    expect(wss.url).toBe(`ws://127.0.0.1:${h.port}/path?q=1`);
    await wss.opened;
    expect(h.requests[0]?.resource).toBe('/path?q=1');
  });

  test('an AbortSignal aborted before the constructor rejects opened and closed with its AbortError and sends nothing', async () => {
    const h = await startHardenedServer();
    const controller = new AbortController();
    controller.abort();
    const observed = new WebSocketStream(h.url, { signal: controller.signal });
    const openedError = await rejection(observed.opened);
    expect((openedError as DOMException).name).toBe('AbortError');
    expect(await rejection(observed.closed)).toBe(openedError);
    // Nobody looks at these promises: they must not become unhandled rejections (the guard checks).
    new WebSocketStream(h.url, { signal: controller.signal });
    await delay(50);
    expect(h.requests).toHaveLength(0);
    expect(guard.rejections).toEqual([]);
  });

  test('aborting during the handshake rejects with the AbortError, closes the request, and nothing is unhandled', async () => {
    const silent = await silentServer();
    const controller = new AbortController();
    const wss = new WebSocketStream(silent.url, { signal: controller.signal });
    const unobserved = new AbortController();
    new WebSocketStream(silent.url, { signal: unobserved.signal });
    await until(() => silent.requests() === 2, 'both handshakes to reach the server');
    controller.abort();
    unobserved.abort();
    expect(((await rejection(wss.opened)) as DOMException).name).toBe('AbortError');
    expect(((await rejection(wss.closed)) as DOMException).name).toBe('AbortError');
    await until(() => silent.open() === 0, "the aborted requests' sockets to close");
    await delay(50);
    expect(guard.rejections).toEqual([]);

    const timedOut = new WebSocketStream(silent.url, { signal: AbortSignal.timeout(30) });
    expect(((await rejection(timedOut.opened)) as DOMException).name).toBe('TimeoutError');
    await until(() => silent.open() === 0, "the timed-out request's socket to close");
  });

  test('a failed connection (closed port) rejects opened and closed with a WebSocketError whose cause is the socket error', async () => {
    const port = await closedPort();
    const wss = new WebSocketStream(`ws://127.0.0.1:${port}/`);
    const error = await rejection(wss.opened);
    expect(error).toBeInstanceOf(WebSocketError);
    expect((error as WebSocketError).closeCode).toBe(1006);
    expect(((error as Error & { cause?: { code?: string } }).cause)?.code).toBe('ECONNREFUSED');
    expect(await rejection(wss.closed)).toBe(error);
    // Never observed: still no unhandled rejection.
    new WebSocketStream(`ws://127.0.0.1:${port}/`);
    await delay(200);
    expect(guard.rejections).toEqual([]);
  });

  test('close() during the handshake abandons it: opened and closed reject with a WebSocketError', async () => {
    const silent = await silentServer();
    const wss = new WebSocketStream(silent.url);
    await until(() => silent.requests() === 1, 'the handshake to reach the server');
    wss.close();
    const error = await rejection(wss.opened);
    expect(error).toBeInstanceOf(WebSocketError);
    expect(await rejection(wss.closed)).toBe(error);
    await until(() => silent.open() === 0, "the abandoned request's socket to close");
  });

  test('readable back-pressure: an unread readable pauses the connection, the server\'s output stays bounded, nothing is lost', async () => {
    const h = await startHardenedServer({}, { echo: false });
    const wss = open(h.url);
    const { readable } = await wss.opened;
    const server = await accepted(h);
    const total = 48 * MiB;
    const size = 64 * KiB;
    const pumping = pump(server, total, size);
    await until(() => server.outputBufferFull, 'the server output to back up');
    await delay(400);
    expect(pumping.sent()).toBeLessThan(total);
    expect(pumping.sent() - server.bytesWaitingToFlush).toBeLessThan(24 * MiB);

    const reader = readable.getReader();
    let bytes = 0;
    while (bytes < total) {
      const chunk = await read(reader);
      if (chunk.done) break;
      bytes += (chunk.value as Uint8Array).byteLength;
    }
    await pumping.done;
    expect(bytes).toBe(total);
  });

  test('writable back-pressure: write() resolves only when the frame reaches the kernel, so a server that stops reading stops the writer', async () => {
    const h = await startHardenedServer({}, { echo: false });
    const wss = open(h.url);
    const { writable } = await wss.opened;
    const server = await accepted(h);
    const messages = recordMessages(server);
    server.pause();
    const writer = writable.getWriter();
    const chunk = new Uint8Array(256 * KiB).fill(3);
    let resolved = 0;
    let stuck: Promise<void> | null = null;
    while (stuck === null) {
      const write = writer.write(chunk);
      const done = await Promise.race([write.then(() => true), delay(300).then(() => false)]);
      if (done) resolved++;
      else stuck = write;
      expect(resolved).toBeLessThan(200);
    }
    expect(writer.desiredSize).toBeLessThanOrEqual(0);
    server.resume();
    await stuck;
    await until(() => messages.length === resolved + 1, 'every message to arrive', 4000);
  });

  test('interop: against a ws server, text and binary round-trip and a close code from the server reaches closed', async () => {
    const wss = open(await wsEchoServer());
    const { readable, writable } = await wss.opened;
    const reader = readable.getReader();
    const writer = writable.getWriter();
    await writer.write('text ✓');
    expect(await read(reader)).toEqual({ done: false, value: 'text ✓' });
    await writer.write(new Uint8Array([1, 2, 3]));
    const binary = await read(reader);
    expect(Buffer.from(binary.value as Uint8Array).equals(Buffer.from([1, 2, 3]))).toBe(true);
    await writer.write('bye');
    expect(await read(reader)).toEqual({ done: true, value: undefined });
    expect(await wss.closed).toEqual({ closeCode: 4005, reason: 'ws says bye' });
  });
});
