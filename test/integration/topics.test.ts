/**
 * Topics in one process, over real sockets: subscribe/unsubscribe/publish, the bytes each subscriber
 * receives (one encoding shared by all, fragmented per the config, compressed once where
 * permessage-deflate allows it), `except`, leaving on close, ids and sendTo, and broadcast*
 * keeping their 1.x behaviour on the same path.
 */
import { spawn } from 'node:child_process';
import * as zlib from 'node:zlib';
import { cleanup, delay, nextEvent, startServer, until, wsClient, type TestServer, type WebSocketConnection } from '../helpers/server';
import { openRawConnection, type RawClient } from '../helpers/raw-client';
import { OP, type ParsedFrame } from '../helpers/frames';

afterEach(cleanup);

async function connect(server: TestServer, extensions?: string): Promise<{ client: RawClient; connection: WebSocketConnection }> {
  const headers: Array<[string, string]> = extensions === undefined ? [] : [['Sec-WebSocket-Extensions', extensions]];
  const { client, connection } = await openRawConnection(server, { headers });
  return { client, connection };
}

/** Inflates a permessage-deflate payload (RFC 7692 §7.2.2: append 00 00 ff ff) with a fresh window. */
function inflate(payload: Buffer): Buffer {
  return zlib.inflateRawSync(Buffer.concat([payload, Buffer.from([0, 0, 0xff, 0xff])]), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
}

/** Reads frames until a FIN frame ends a message; returns its frames. */
async function readMessage(client: RawClient): Promise<ParsedFrame[]> {
  const frames: ParsedFrame[] = [];
  for (;;) {
    const frame = await client.readFrame();
    frames.push(frame);
    if (frame.fin) return frames;
  }
}

describe('topics in one process', () => {
  test('publish reaches exactly the subscribers of the topic, text for strings and binary for Buffers', async () => {
    const server = await startServer({ autoAcceptConnections: true });
    const a = await connect(server);
    const b = await connect(server);
    const c = await connect(server);
    expect(a.connection.subscribe('news')).toBe(true);
    expect(a.connection.subscribe('news')).toBe(false);
    expect(b.connection.subscribe('news')).toBe(true);
    expect(c.connection.subscribe('sport')).toBe(true);
    expect(server.ws.subscriberCount('news')).toBe(2);
    expect(server.ws.subscriberCount('sport')).toBe(1);
    expect(server.ws.subscriberCount('none')).toBe(0);
    expect(a.connection.isSubscribed('news')).toBe(true);
    expect(a.connection.isSubscribed('sport')).toBe(false);
    expect(a.connection.topics).toEqual(['news']);

    expect(server.ws.publish('news', 'héllo')).toBe(2);
    expect(server.ws.publish('sport', Buffer.from([1, 2, 3]))).toBe(1);
    expect(server.ws.publish('nobody', 'x')).toBe(0);

    for (const client of [a.client, b.client]) {
      const frame = await client.readFrame();
      expect(frame.raw.toString('hex')).toBe('8106' + Buffer.from('héllo').toString('hex'));
    }
    const binary = await c.client.readFrame();
    expect(binary.raw.toString('hex')).toBe('8203010203');
    await delay(30);
    expect(a.client.unread.length + b.client.unread.length + c.client.unread.length).toBe(0);
  });

  test('every subscriber is written the very same Buffer (encoded once)', async () => {
    const server = await startServer({ autoAcceptConnections: true });
    const members = [await connect(server), await connect(server), await connect(server)];
    const written: Buffer[] = [];
    for (const { connection } of members) {
      connection.subscribe('t');
      const socket = connection.socket;
      const write = socket.write.bind(socket) as (chunk: Buffer, cb?: () => void) => boolean;
      socket.write = ((chunk: Buffer, cb?: () => void) => {
        written.push(chunk);
        return write(chunk, cb);
      }) as typeof socket.write;
    }
    server.ws.publish('t', 'same bytes for all');
    await delay(5);
    expect(written).toHaveLength(3);
    expect(written[1]).toBe(written[0]);
    expect(written[2]).toBe(written[0]);
    for (const { client } of members) expect((await client.readFrame()).payload.toString()).toBe('same bytes for all');
  });

  test('a burst of publishes in one tick is one write per connection, in order; a send after them keeps its place', async () => {
    const server = await startServer({ autoAcceptConnections: true });
    const members = [await connect(server), await connect(server)];
    const writes: number[] = [0, 0];
    members.forEach(({ connection }, i) => {
      connection.subscribe('burst');
      const socket = connection.socket;
      const write = socket.write.bind(socket) as (chunk: Buffer, cb?: () => void) => boolean;
      socket.write = ((chunk: Buffer, cb?: () => void) => {
        writes[i]!++;
        return write(chunk, cb);
      }) as typeof socket.write;
    });
    for (let i = 0; i < 50; i++) server.ws.publish('burst', `p${i}`);
    // Deferred to the end of the tick: nothing written yet...
    expect(writes).toEqual([0, 0]);
    // ...until a send on that connection, which writes what waited first, in one write.
    members[1]!.connection.sendUTF('direct');
    expect(writes).toEqual([0, 1]);
    await delay(10);
    expect(writes).toEqual([1, 1]);
    const expected = Array.from({ length: 50 }, (_, i) => `p${i}`);
    for (const [i, { client }] of members.entries()) {
      const got: string[] = [];
      for (let n = 0; n < (i === 1 ? 51 : 50); n++) got.push((await client.readFrame()).payload.toString());
      expect(got).toEqual(i === 1 ? [...expected, 'direct'] : expected);
    }
  });

  test('publishes made by several callbacks of one event-loop turn share one write per connection', async () => {
    const server = await startServer({ autoAcceptConnections: true });
    const { client, connection } = await connect(server);
    connection.subscribe('turn');
    let writes = 0;
    const socket = connection.socket;
    const write = socket.write.bind(socket) as (chunk: Buffer, cb?: () => void) => boolean;
    socket.write = ((chunk: Buffer, cb?: () => void) => {
      writes++;
      return write(chunk, cb);
    }) as typeof socket.write;
    // Two timers due at once run in the same timers phase (process.nextTick runs between them).
    await new Promise<void>((resolve) => {
      setTimeout(() => server.ws.publish('turn', 'first'), 5);
      setTimeout(() => {
        server.ws.publish('turn', 'second');
        setImmediate(() => setImmediate(resolve));
      }, 5);
    });
    expect(writes).toBe(1);
    expect((await client.readFrame()).payload.toString()).toBe('first');
    expect((await client.readFrame()).payload.toString()).toBe('second');
  });

  test('a process that exits right after publishing still delivers', async () => {
    const script = `
      const http = require('node:http');
      const { server: WebSocketServer } = require(${JSON.stringify(require.resolve('../../index.js'))});
      const httpServer = http.createServer();
      const ws = new WebSocketServer({ httpServer, autoAcceptConnections: true });
      ws.on('connect', (connection) => {
        connection.subscribe('t');
        // From a timer, outside any batch of input: the publishes are deferred to the end of the tick.
        connection.on('message', () => setTimeout(() => {
          for (let i = 0; i < 5; i++) ws.publish('t', 'bye ' + i);
          process.exit(0);
        }, 1));
      });
      httpServer.listen(0, '127.0.0.1', () => console.log(httpServer.address().port));
    `;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const port = await new Promise<number>((resolve) => child.stdout!.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim()))));
    const ws = await wsClient(`ws://127.0.0.1:${port}/`);
    const got: string[] = [];
    ws.on('message', (data: Buffer) => got.push(data.toString()));
    ws.send('go');
    await until(() => got.length === 5, 'the five publishes', 5000);
    expect(got).toEqual(['bye 0', 'bye 1', 'bye 2', 'bye 3', 'bye 4']);
  });

  test('except skips one connection (given as the connection or as its id)', async () => {
    const server = await startServer({ autoAcceptConnections: true });
    const a = await connect(server);
    const b = await connect(server);
    a.connection.subscribe('room');
    b.connection.subscribe('room');
    expect(server.ws.publish('room', 'one', { except: a.connection })).toBe(1);
    expect(server.ws.publish('room', 'two', { except: b.connection.clusterId })).toBe(1);
    expect((await b.client.readFrame()).payload.toString()).toBe('one');
    expect((await a.client.readFrame()).payload.toString()).toBe('two');
    await delay(30);
    expect(a.client.unread.length + b.client.unread.length).toBe(0);
  });

  test('large messages are fragmented per fragmentationThreshold, as sendUTF fragments them', async () => {
    const server = await startServer({ autoAcceptConnections: true, fragmentationThreshold: 1000 });
    const a = await connect(server);
    a.connection.subscribe('big');
    const payload = Buffer.alloc(2500, 0x61);
    server.ws.publish('big', payload.toString());
    a.connection.sendUTF(payload.toString());
    const published = await readMessage(a.client);
    const sent = await readMessage(a.client);
    expect(published.map((f) => [f.opcode, f.fin, f.payload.length])).toEqual([
      [OP.TEXT, false, 1000],
      [OP.CONT, false, 1000],
      [OP.CONT, true, 500],
    ]);
    expect(Buffer.concat(published.map((f) => f.raw))).toEqual(Buffer.concat(sent.map((f) => f.raw)));
  });

  test('unsubscribe and close leave topics; a closed connection cannot subscribe', async () => {
    const server = await startServer({ autoAcceptConnections: true });
    const a = await connect(server);
    const b = await connect(server);
    a.connection.subscribe('x');
    a.connection.subscribe('y');
    b.connection.subscribe('x');
    expect(a.connection.unsubscribe('y')).toBe(true);
    expect(a.connection.unsubscribe('y')).toBe(false);
    expect(server.ws.subscriberCount('y')).toBe(0);
    const closed = nextEvent(server.ws, 'close');
    b.client.destroy();
    await closed;
    expect(server.ws.subscriberCount('x')).toBe(1);
    expect(b.connection.topics).toEqual([]);
    expect(b.connection.subscribe('x')).toBe(false);
    expect(server.ws.subscriberCount('x')).toBe(1);
    expect(server.ws.publish('x', 'still here')).toBe(1);
    expect((await a.client.readFrame()).payload.toString()).toBe('still here');
  });

  test('a connection closing (our Close sent) is not written to', async () => {
    const server = await startServer({ autoAcceptConnections: true });
    const a = await connect(server);
    a.connection.subscribe('t');
    a.connection.close(1000);
    const close = await a.client.readFrame();
    expect(close.opcode).toBe(OP.CLOSE);
    expect(server.ws.publish('t', 'after close')).toBe(0);
    await delay(30);
    expect(a.client.unread.length).toBe(0);
  });

  test('connection ids are unique, stable, and reach their connection through sendTo', async () => {
    const server = await startServer({ autoAcceptConnections: true });
    const a = await connect(server);
    const b = await connect(server);
    const id = a.connection.clusterId;
    expect(id).toMatch(/^[A-Za-z0-9_-]+:[0-9a-z]+$/);
    expect(a.connection.clusterId).toBe(id);
    expect(b.connection.clusterId).not.toBe(id);
    expect(id.startsWith(server.ws.nodeId + ':')).toBe(true);
    expect(server.ws.sendTo(id, 'to a')).toBe(true);
    expect(server.ws.sendTo(b.connection.clusterId, Buffer.from('to b'))).toBe(true);
    const toA = await a.client.readFrame();
    const toB = await b.client.readFrame();
    expect([toA.opcode, toA.payload.toString()]).toEqual([OP.TEXT, 'to a']);
    expect([toB.opcode, toB.payload.toString()]).toEqual([OP.BINARY, 'to b']);
    // Without a broker, an id of another node (or none at all) reaches nobody.
    expect(server.ws.sendTo('othernode:1', 'x')).toBe(false);
    expect(server.ws.sendTo('garbage', 'x')).toBe(false);
    const closed = nextEvent(server.ws, 'close');
    a.client.destroy();
    await closed;
    expect(server.ws.sendTo(id, 'gone')).toBe(false);
  });

  test('with a broker: publish goes to it unless { local: true }; sendTo another node goes through it, { compress } kept', async () => {
    const sent: Array<{ kind: string; target: string; compress: boolean; data: string }> = [];
    const broker = {
      nodeId: 'recorder',
      attach: () => undefined,
      detach: () => undefined,
      publish: (d: { kind: string; target: string; compress: boolean; data: Buffer }) => sent.push({ kind: d.kind, target: d.target, compress: d.compress, data: d.data.toString() }),
      subscribe: () => undefined,
      unsubscribe: () => undefined,
      countChanged: () => undefined,
      clusterSubscriberCount: async () => 0,
      clusterConnectionCount: async () => 0,
    };
    const server = await startServer({ autoAcceptConnections: true, broker });
    const a = await connect(server);
    a.connection.subscribe('t');
    expect(server.ws.publish('t', 'everywhere')).toBe(1);
    expect(server.ws.publish('t', 'here only', { local: true })).toBe(1);
    expect(server.ws.sendTo('othernode:7', 'direct', { compress: false })).toBe(true);
    expect(server.ws.sendTo('othernode:8', 'direct too')).toBe(true);
    expect(sent).toEqual([
      { kind: 'publish', target: 't', compress: true, data: 'everywhere' },
      { kind: 'direct', target: 'othernode:7', compress: false, data: 'direct' },
      { kind: 'direct', target: 'othernode:8', compress: true, data: 'direct too' },
    ]);
    // Both publishes reached the local subscriber.
    expect((await a.client.readFrame()).payload.toString()).toBe('everywhere');
    expect((await a.client.readFrame()).payload.toString()).toBe('here only');
  });

  test('sendTo with { compress: false } sends plain where deflate was agreed', async () => {
    const server = await startServer({ autoAcceptConnections: true, perMessageDeflate: { threshold: 0 } });
    const a = await connect(server, 'permessage-deflate; server_no_context_takeover');
    const text = 'compress me '.repeat(50);
    server.ws.sendTo(a.connection.clusterId, text);
    server.ws.sendTo(a.connection.clusterId, text, { compress: false });
    const packed = await a.client.readFrame();
    const plain = await a.client.readFrame();
    expect([packed.rsv1, inflate(packed.payload).toString()]).toEqual([true, text]);
    expect([plain.rsv1, plain.payload.toString()]).toEqual([false, text]);
  });

  test('1.x applications\' own fields keep working: connection.id, connection.topics, server.nodeId', async () => {
    const server = await startServer({ autoAcceptConnections: true });
    const a = await connect(server);
    a.connection.subscribe('t');
    const clusterId = a.connection.clusterId;
    const conn = a.connection as unknown as Record<string, unknown>;
    conn['id'] = 42;
    conn['topics'] = ['mine'];
    expect(conn['id']).toBe(42);
    expect(conn['topics']).toEqual(['mine']);
    // The subscriptions and the cluster id are unaffected.
    expect(a.connection.isSubscribed('t')).toBe(true);
    expect(a.connection.clusterId).toBe(clusterId);
    expect(server.ws.sendTo(clusterId, 'still reachable')).toBe(true);
    expect((await a.client.readFrame()).payload.toString()).toBe('still reachable');
    a.connection.clusterId = 'app-value';
    expect(a.connection.clusterId).toBe('app-value');
    (server.ws as unknown as Record<string, unknown>)['nodeId'] = 'my-node';
    expect(server.ws.nodeId).toBe('my-node');
  });

  test('cluster counts without a broker are this node\'s', async () => {
    const server = await startServer({ autoAcceptConnections: true });
    const a = await connect(server);
    await connect(server);
    a.connection.subscribe('t');
    await expect(server.ws.clusterSubscriberCount('t')).resolves.toBe(1);
    await expect(server.ws.clusterConnectionCount()).resolves.toBe(2);
  });

  test('bad arguments throw clear errors', async () => {
    const server = await startServer({ autoAcceptConnections: true });
    const a = await connect(server);
    expect(() => a.connection.subscribe(42 as unknown as string)).toThrow('A topic must be a string.');
    expect(() => server.ws.publish(undefined as unknown as string, 'x')).toThrow('A topic must be a string.');
    expect(() => server.ws.publish('t', null as unknown as string)).toThrow('Data provided must either be a Node Buffer or implement toString()');
    expect(() => new (require('../../lib/websocket').server)({ httpServer: server.http, broker: {} })).toThrow('config.broker must be a Broker');
  });
});

describe('topics with permessage-deflate', () => {
  const OFFER_NO_TAKEOVER = 'permessage-deflate; server_no_context_takeover';
  const OFFER_TAKEOVER = 'permessage-deflate';

  test('without server context takeover the compressed frame is made once and shared', async () => {
    const server = await startServer({ autoAcceptConnections: true, perMessageDeflate: { threshold: 0 } });
    const a = await connect(server, OFFER_NO_TAKEOVER);
    const b = await connect(server, OFFER_NO_TAKEOVER);
    const plain = await connect(server);
    const text = 'compress me '.repeat(50);
    for (const member of [a, b, plain]) member.connection.subscribe('z');
    expect(server.ws.publish('z', text)).toBe(3);
    const fa = await a.client.readFrame();
    const fb = await b.client.readFrame();
    const fp = await plain.client.readFrame();
    expect(fa.rsv1).toBe(true);
    expect(fa.raw).toEqual(fb.raw);
    expect(fa.payload.length).toBeLessThan(text.length / 4);
    expect(inflate(fa.payload).toString()).toBe(text);
    expect([fp.rsv1, fp.payload.toString()]).toEqual([false, text]);
    // compress: false sends it plain even where deflate was agreed.
    server.ws.publish('z', text, { compress: false });
    const raw = await a.client.readFrame();
    expect([raw.rsv1, raw.payload.toString()]).toEqual([false, text]);
  });

  test('with context takeover each connection compresses for itself and its stream stays valid', async () => {
    const server = await startServer({ autoAcceptConnections: true, perMessageDeflate: { threshold: 0 } });
    const a = await connect(server, OFFER_TAKEOVER);
    a.connection.subscribe('z');
    const inflater = zlib.createInflateRaw();
    const chunks: Buffer[] = [];
    inflater.on('data', (chunk: Buffer) => chunks.push(chunk));
    const readText = async (): Promise<string> => {
      const frame = await a.client.readFrame();
      expect(frame.rsv1).toBe(true);
      chunks.length = 0;
      inflater.write(Buffer.concat([frame.payload, Buffer.from([0, 0, 0xff, 0xff])]));
      await new Promise<void>((resolve) => inflater.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve()));
      return Buffer.concat(chunks).toString();
    };
    const text = 'the same words again and again '.repeat(20);
    a.connection.sendUTF(text);
    server.ws.publish('z', text);
    a.connection.sendUTF(text);
    server.ws.publish('z', text + '!');
    expect(await readText()).toBe(text);
    expect(await readText()).toBe(text);
    expect(await readText()).toBe(text);
    expect(await readText()).toBe(text + '!');
  });

  test('a publish right after a send that is still compressing keeps its place', async () => {
    const server = await startServer({ autoAcceptConnections: true, perMessageDeflate: { threshold: 100 } });
    const a = await connect(server, OFFER_NO_TAKEOVER);
    a.connection.subscribe('z');
    a.connection.sendUTF('x'.repeat(500)); // compressed asynchronously
    server.ws.publish('z', 'small, plain'); // below the threshold, framed at once
    const first = await a.client.readFrame();
    const second = await a.client.readFrame();
    expect(inflate(first.payload).toString()).toBe('x'.repeat(500));
    expect([second.rsv1, second.payload.toString()]).toEqual([false, 'small, plain']);
  });
});

describe('broadcast* on the shared path keep their 1.x behaviour', () => {
  test('broadcastUTF / broadcastBytes / broadcast reach every connection, callbacks run per connection', async () => {
    const server = await startServer({ autoAcceptConnections: true });
    const a = await connect(server);
    const b = await connect(server);
    const done: Array<Error | undefined> = [];
    server.ws.broadcastUTF('hi all', (error) => done.push(error));
    server.ws.broadcastBytes(Buffer.from([9]), (error) => done.push(error));
    server.ws.broadcast('plain');
    for (const client of [a.client, b.client]) {
      expect((await client.readFrame()).raw.toString('hex')).toBe('8106' + Buffer.from('hi all').toString('hex'));
      expect((await client.readFrame()).raw.toString('hex')).toBe('820109');
      expect((await client.readFrame()).payload.toString()).toBe('plain');
    }
    await delay(20);
    expect(done).toEqual([undefined, undefined, undefined, undefined]);
  });

  test('a connection whose sendUTF was replaced is called as in 1.x; broadcastBytes with a non-Buffer throws as 1.x', async () => {
    const server = await startServer({ autoAcceptConnections: true });
    const a = await connect(server);
    const b = await connect(server);
    const calls: unknown[] = [];
    const original = a.connection.sendUTF.bind(a.connection);
    a.connection.sendUTF = ((data: string, cb?: (error?: Error) => void) => {
      calls.push(data);
      return original(`[wrapped] ${data}`, cb as (error?: Error) => void);
    }) as typeof a.connection.sendUTF;
    server.ws.broadcastUTF('msg');
    expect(calls).toEqual(['msg']);
    expect((await a.client.readFrame()).payload.toString()).toBe('[wrapped] msg');
    expect((await b.client.readFrame()).payload.toString()).toBe('msg');
    expect(() => server.ws.broadcastBytes('not a buffer' as unknown as Buffer)).toThrow(
      'You must pass a Node Buffer object to WebSocketConnection.prototype.sendBytes()',
    );
  });

  test('topics are for a server\'s connections: a client connection throws a clear error', async () => {
    const server = await startServer({ autoAcceptConnections: true });
    const websocket = require('../../lib/websocket');
    const client = new websocket.client();
    const connected = nextEvent<[WebSocketConnection]>(client, 'connect');
    client.connect(server.url);
    const [connection] = await connected;
    expect(() => connection.subscribe('t')).toThrow('Topics are for connections accepted by a WebSocketServer.');
    expect(connection.isSubscribed('t')).toBe(false);
    expect(connection.unsubscribe('t')).toBe(false);
    expect(connection.clusterId).toMatch(/^[A-Za-z0-9_-]+:[0-9a-z]+$/);
    connection.close();
  });
});
