/**
 * messageIterator() (what `connection.messages()` returns) over real sockets on 127.0.0.1: server
 * side (a 'request' handler that `for await`s its connection and echoes) and client side (our
 * WebSocketClient); the normal end and the failures with their close codes; `break` leaving the
 * connection open; several iterators; `ws` and WebSocket-Node 1.0.35 peers; and the memory bound a
 * slow consumer keeps while a peer pushes far more than it takes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import {
  delay,
  guardProcess,
  growth,
  MiB,
  memory,
  onCleanup,
  startHardenedServer,
  until,
  type Hardened,
  type MemorySample,
  type WebSocketConnection,
} from '../hardening/helpers';
import { openRawConnection, type RawClient } from '../helpers/raw-client';
import { binary, close as closeFrame, cont, text } from '../helpers/frames';
import { nextEvent, websocket, wsClient, wsMessage } from '../helpers/server';
import { ConnectionClosedError, messageIterator, type MessageIteratorOptions } from '../../lib/promises/message-iterator';
import { CONSUMER } from '../../lib/transport/socket-input';
import type { Message } from '../../lib/public-types';

const upstream = require('websocket-upstream') as typeof websocket;

guardProcess();

/** How an iteration ended: normally, or with the error next() rejected with. */
type Outcome = { done: true } | { error: ConnectionClosedError };

interface Consumer {
  received: Message[];
  outcome: Promise<Outcome>;
}

/**
 * Iterates `connection` the way an application would, recording what it gets and how it ends.
 * `each` runs per message (awaited); returning 'break' leaves the loop.
 */
function consume(connection: WebSocketConnection, options: MessageIteratorOptions = {}, each?: (message: Message, index: number) => Promise<'break' | void> | 'break' | void): Consumer {
  const received: Message[] = [];
  const run = async (): Promise<Outcome> => {
    try {
      for await (const message of messageIterator(connection, options)) {
        received.push(message);
        if (each !== undefined && (await each(message, received.length - 1)) === 'break') break;
      }
      return { done: true };
    } catch (error) {
      if (error instanceof ConnectionClosedError) return { error };
      throw error;
    }
  };
  return { received, outcome: run() };
}

/** A server whose 'request' handler iterates each connection with `for await` and echoes with sendUTF/sendBytes. */
async function startIteratingEchoServer(options: MessageIteratorOptions = {}): Promise<{ h: Hardened; consumers: Consumer[] }> {
  const consumers: Consumer[] = [];
  const h = await startHardenedServer(
    { maxReceivedFrameSize: 1 * MiB },
    {
      echo: false,
      handler: (_request, accept) => {
        const connection = accept();
        consumers.push(
          consume(connection, options, (message) => {
            if (message.type === 'utf8') connection.sendUTF(message.utf8Data);
            else connection.sendBytes(message.binaryData);
          }),
        );
      },
    },
  );
  return { h, consumers };
}

/** A server that accepts and leaves each connection to the test (no echo). */
async function startQuietServer(): Promise<Hardened> {
  return startHardenedServer({}, { echo: false });
}

/** A raw client with its server-side connection. */
async function rawPair(h: Hardened): Promise<{ client: RawClient; connection: WebSocketConnection }> {
  const { client, connection } = await openRawConnection(h);
  return { client, connection };
}

const texts = (messages: Message[]): string[] => messages.map((m) => (m.type === 'utf8' ? m.utf8Data : `<${m.binaryData.length} bytes>`));

describe('server side: a request handler iterating its connection', () => {
  test('echoes every message, in order, and ends normally when the client closes with 1000', async () => {
    const { h, consumers } = await startIteratingEchoServer();
    const client = await wsClient(h.url);
    const echoes: string[] = [];
    const allEchoed = new Promise<void>((resolve) => {
      client.on('message', (data: Buffer) => {
        echoes.push(data.toString());
        if (echoes.length === 200) resolve();
      });
    });
    for (let i = 0; i < 200; i++) client.send(`message ${i}`);
    await allEchoed;
    expect(echoes).toEqual(Array.from({ length: 200 }, (_, i) => `message ${i}`));
    client.close(1000, 'done');
    expect(await consumers[0]!.outcome).toEqual({ done: true });
    expect(consumers[0]!.received).toHaveLength(200);
  });

  test('yields the very objects, in the order, that "message" listeners get (text, binary, fragmented, empty)', async () => {
    const h = await startQuietServer();
    const { client, connection } = await rawPair(h);
    const heard: Message[] = [];
    connection.on('message', (message: Message) => heard.push(message));
    const consumer = consume(connection);
    client.write(
      Buffer.concat([
        text('one'),
        binary(Buffer.from([1, 2, 3])),
        text('fragm', { fin: false }),
        cont('ented', { fin: true }),
        text(''),
        binary(Buffer.alloc(0)),
        text('last'),
        closeFrame(1000, 'bye'),
      ]),
    );
    expect(await consumer.outcome).toEqual({ done: true });
    expect(texts(consumer.received)).toEqual(['one', '<3 bytes>', 'fragmented', '', '<0 bytes>', 'last']);
    expect(consumer.received).toHaveLength(heard.length);
    consumer.received.forEach((message, i) => expect(message).toBe(heard[i]));
  });

  test.each([
    [1000, 'normal'],
    [1001, 'going away'],
  ])('ends normally when the peer closes with %i, after the messages sent before it', async (code, reason) => {
    const h = await startQuietServer();
    const connected = nextEvent<[WebSocketConnection]>(h.ws, 'connect');
    const client = await wsClient(h.url);
    const [connection] = await connected;
    const consumer = consume(connection);
    client.send('a');
    client.send(Buffer.from('b'));
    client.close(code, reason);
    expect(await consumer.outcome).toEqual({ done: true });
    expect(texts(consumer.received)).toEqual(['a', '<1 bytes>']);
  });

  test('an empty close frame (1005, no status) ends normally', async () => {
    const h = await startQuietServer();
    const { client, connection } = await rawPair(h);
    const consumer = consume(connection);
    client.write(Buffer.concat([text('x'), closeFrame()]));
    expect(await consumer.outcome).toEqual({ done: true });
    expect(connection.closeReasonCode).toBe(1005);
    expect(texts(consumer.received)).toEqual(['x']);
  });

  test('throws 1006 with its description when the socket is dropped', async () => {
    const h = await startQuietServer();
    const connected = nextEvent<[WebSocketConnection]>(h.ws, 'connect');
    const client = await wsClient(h.url);
    const [connection] = await connected;
    const consumer = consume(connection);
    client.send('before the drop');
    await until(() => consumer.received.length === 1, 'the message before the drop');
    client.terminate();
    const outcome = await consumer.outcome;
    expect(outcome).toEqual({ error: expect.any(ConnectionClosedError) });
    const error = (outcome as { error: ConnectionClosedError }).error;
    expect(error.code).toBe(1006);
    expect(error.description).toBe(connection.closeDescription);
    expect(error.description).toMatch(/^(Connection dropped by remote peer\.|Socket Error: .*)$/);
    expect(error.message).toContain('1006');
    expect(error.message).toContain(error.description!);
  });

  test('throws 1002 on a protocol error, after the messages that came before it', async () => {
    const h = await startQuietServer();
    const { client, connection } = await rawPair(h);
    const consumer = consume(connection);
    // RFC 6455 §5.1: an unmasked client frame fails the connection with 1002.
    client.write(Buffer.concat([text('a'), text('b'), text('unmasked', { mask: false })]));
    const outcome = await consumer.outcome;
    expect(texts(consumer.received)).toEqual(['a', 'b']);
    expect(outcome).toEqual({ error: expect.objectContaining({ code: 1002, description: connection.closeDescription }) });
  });

  test('throws 4000 with the peer\'s reason', async () => {
    const h = await startQuietServer();
    const connected = nextEvent<[WebSocketConnection]>(h.ws, 'connect');
    const client = await wsClient(h.url);
    const [connection] = await connected;
    const consumer = consume(connection);
    client.send('hi');
    client.close(4000, 'application says no');
    const outcome = await consumer.outcome;
    expect(texts(consumer.received)).toEqual(['hi']);
    expect(outcome).toEqual({ error: expect.objectContaining({ code: 4000, description: 'application says no' }) });
    expect((outcome as { error: Error }).error.message).toBe('WebSocket connection closed with code 4000: application says no');
  });

  test('throws 1008 when the server drops the connection for a policy violation', async () => {
    const h = await startQuietServer();
    const { connection } = await rawPair(h);
    const consumer = consume(connection);
    connection.drop(1008, 'Policy violation');
    expect(await consumer.outcome).toEqual({ error: expect.objectContaining({ code: 1008, description: 'Policy violation' }) });
  });

  test('an already closed connection ends at once (1000) or fails at once (1006)', async () => {
    const h = await startQuietServer();
    const normal = await rawPair(h);
    normal.client.write(closeFrame(1000));
    await nextEvent(normal.connection, 'close');
    expect(await messageIterator(normal.connection).next()).toEqual({ done: true, value: undefined });

    const dropped = await rawPair(h);
    dropped.client.destroy();
    await nextEvent(dropped.connection, 'close');
    await expect(messageIterator(dropped.connection).next()).rejects.toMatchObject({ code: 1006 });
  });
});

describe('back-pressure and break', () => {
  test('reading stops while the consumer lags and resumes when it catches up; nothing is lost', async () => {
    const h = await startQuietServer();
    const connected = nextEvent<[WebSocketConnection]>(h.ws, 'connect');
    const client = await wsClient(h.url);
    const [connection] = await connected;
    let sawStopped = false;
    const consumer = consume(connection, { highWaterMark: 16 }, async () => {
      if (connection._input.has(CONSUMER)) sawStopped = true;
      await delay(1);
    });
    const payload = 'x'.repeat(512);
    for (let i = 0; i < 400; i++) client.send(`${i} ${payload}`);
    await until(() => consumer.received.length === 400, 'every message', 10_000);
    expect(sawStopped).toBe(true);
    expect(connection._input.has(CONSUMER)).toBe(false);
    expect(consumer.received.map((m) => (m.type === 'utf8' ? Number(m.utf8Data.split(' ')[0]) : -1))).toEqual(Array.from({ length: 400 }, (_, i) => i));
    // Nothing paused in the application's eyes.
    expect(connection.inputPaused).toBe(false);
    client.close(1000);
    expect(await consumer.outcome).toEqual({ done: true });
  });

  test('break leaves the connection open, and reading resumes for the other listeners', async () => {
    const h = await startQuietServer();
    const connected = nextEvent<[WebSocketConnection]>(h.ws, 'connect');
    const client = await wsClient(h.url);
    const [connection] = await connected;
    const consumer = consume(connection, { highWaterMark: 8 }, async (_message, index) => {
      // Lag until the iterator has stopped reading, then leave.
      await until(() => connection._input.has(CONSUMER), 'reading to stop');
      return index === 0 ? 'break' : undefined;
    });
    for (let i = 0; i < 500; i++) client.send(`m${i}`);
    expect(await consumer.outcome).toEqual({ done: true });
    expect(consumer.received).toHaveLength(1);
    expect(connection.connected).toBe(true);
    expect(connection.state).toBe('open');
    expect(connection.listenerCount('message')).toBe(1); // the hardened server's counter only
    // Reading resumed: the counting listener sees all 500.
    await until(() => h.messages.get(connection) === 500, 'every message to reach the other listener', 5000);
    expect(connection._input.has(CONSUMER)).toBe(false);
    // And both directions still work.
    const reply = wsMessage(client);
    connection.sendUTF('still open');
    expect((await reply).data.toString()).toBe('still open');
    const again = consume(connection);
    client.send('after break');
    await until(() => again.received.length === 1, 'a new iterator to get a message');
    client.close(1000);
    expect(await again.outcome).toEqual({ done: true });
  });

  test('two iterators each get every message, each with its own pace and mark', async () => {
    const h = await startQuietServer();
    const connected = nextEvent<[WebSocketConnection]>(h.ws, 'connect');
    const client = await wsClient(h.url);
    const [connection] = await connected;
    let stoppedSeen = false;
    const fast = consume(connection, { highWaterMark: 4 });
    const slow = consume(connection, { highWaterMark: 32 }, async () => {
      await delay(1);
    });
    const watch = setInterval(() => {
      // The fast one keeps up; if reading is stopped it is the slow one's hold.
      if (connection._input.has(CONSUMER)) stoppedSeen = true;
    }, 1);
    onCleanup(() => clearInterval(watch));
    for (let i = 0; i < 300; i++) client.send(`n${i}`);
    await until(() => slow.received.length === 300, 'the slow iterator to get everything', 10_000);
    clearInterval(watch);
    const expected = Array.from({ length: 300 }, (_, i) => `n${i}`);
    expect(texts(fast.received)).toEqual(expected);
    expect(texts(slow.received)).toEqual(expected);
    fast.received.forEach((message, i) => expect(message).toBe(slow.received[i]));
    expect(stoppedSeen).toBe(true);
    expect(connection._input.has(CONSUMER)).toBe(false);
    client.close(1001);
    expect(await fast.outcome).toEqual({ done: true });
    expect(await slow.outcome).toEqual({ done: true });
  });

  test('a local close() while reading is stopped completes while the consumer still lags (the next pull releases reading)', async () => {
    const h = await startQuietServer();
    const connected = nextEvent<[WebSocketConnection]>(h.ws, 'connect');
    const client = await wsClient(h.url);
    const [connection] = await connected;
    let closeCalledAt = 0;
    let closedAfter = -1;
    const consumer = consume(connection, { highWaterMark: 4 }, async (_message, index) => {
      if (index === 0) {
        await until(() => connection._input.has(CONSUMER), 'reading to stop');
        closeCalledAt = Date.now();
        connection.close(1000, 'server done');
      } else if (index === 1) {
        // Still far above half the mark: only the release on "no longer connected" lets the
        // peer's close reply be read; without it 'close' waits for closeTimeout (5 s).
        await until(() => connection.closeEventEmitted, "'close'", 8000);
        closedAfter = Date.now() - closeCalledAt;
      }
    });
    for (let i = 0; i < 100; i++) client.send(`c${i}`);
    expect(await consumer.outcome).toEqual({ done: true });
    expect(connection.closeReasonCode).toBe(1000);
    expect(closedAfter).toBeGreaterThanOrEqual(0);
    expect(closedAfter).toBeLessThan(2000);
  });
});

describe('client side: our WebSocketClient', () => {
  /** A server that sends `count` messages and then closes with `code`. */
  async function startSender(count: number, code: number, reason: string): Promise<Hardened> {
    return startHardenedServer(
      {},
      {
        echo: false,
        handler: (_request, accept) => {
          const connection = accept();
          for (let i = 0; i < count; i++) {
            if (i % 2 === 0) connection.sendUTF(`s${i}`);
            else connection.sendBytes(Buffer.from([i & 0xff]));
          }
          connection.close(code, reason);
        },
      },
    );
  }

  async function clientConsume(url: string): Promise<Consumer> {
    const client = new websocket.client();
    return new Promise<Consumer>((resolve, reject) => {
      client.on('connect', (connection: WebSocketConnection) => {
        onCleanup(() => connection.drop());
        // Inside the 'connect' listener: messages that came with the handshake response are
        // emitted on the next tick, before an `await` on a promise of the connection resumes.
        resolve(consume(connection));
      });
      client.on('connectFailed', reject);
      client.connect(url);
    });
  }

  test('for await gets every message and ends on the server\'s 1000', async () => {
    const h = await startSender(101, 1000, 'all sent');
    const consumer = await clientConsume(h.url);
    expect(await consumer.outcome).toEqual({ done: true });
    expect(consumer.received).toHaveLength(101);
    expect(consumer.received[0]).toEqual({ type: 'utf8', utf8Data: 's0' });
    expect(consumer.received[1]).toEqual({ type: 'binary', binaryData: Buffer.from([1]) });
    expect(consumer.received[100]).toEqual({ type: 'utf8', utf8Data: 's100' });
  });

  test('throws the server\'s 4000 and its reason, after the messages', async () => {
    const h = await startSender(3, 4000, 'quota');
    const consumer = await clientConsume(h.url);
    expect(await consumer.outcome).toEqual({ error: expect.objectContaining({ code: 4000, description: 'quota' }) });
    expect(consumer.received).toHaveLength(3);
  });
});

describe('interop: peers sending to our server iterated with for await', () => {
  const big = 'é'.repeat(50_000); // 100 KB of UTF-8: fragmented by WebSocket-Node's client

  test('a ws client', async () => {
    const { h, consumers } = await startIteratingEchoServer();
    const client = await wsClient(h.url);
    const replies: Array<{ data: Buffer; isBinary: boolean }> = [];
    client.on('message', (data: Buffer, isBinary: boolean) => replies.push({ data, isBinary }));
    client.send('hello');
    client.send(Buffer.from([0, 1, 2, 255]));
    client.send(big);
    await until(() => replies.length === 3, 'three echoes');
    expect(replies.map((r) => r.isBinary)).toEqual([false, true, false]);
    expect(replies[0]!.data.toString()).toBe('hello');
    expect(replies[1]!.data).toEqual(Buffer.from([0, 1, 2, 255]));
    expect(replies[2]!.data.toString()).toBe(big);
    client.close(1000);
    expect(await consumers[0]!.outcome).toEqual({ done: true });
  });

  test('a WebSocket-Node 1.0.35 client', async () => {
    const { h, consumers } = await startIteratingEchoServer();
    const client = new upstream.client();
    const connection = await new Promise<WebSocketConnection>((resolve, reject) => {
      client.on('connect', resolve);
      client.on('connectFailed', reject);
      client.connect(h.url);
    });
    onCleanup(() => connection.drop());
    const replies: Message[] = [];
    connection.on('message', (message: Message) => replies.push(message));
    connection.sendUTF('hello');
    connection.sendBytes(Buffer.from([9, 8, 7]));
    connection.sendUTF(big);
    await until(() => replies.length === 3, 'three echoes');
    expect(replies[0]).toEqual({ type: 'utf8', utf8Data: 'hello' });
    expect(replies[1]).toEqual({ type: 'binary', binaryData: Buffer.from([9, 8, 7]) });
    expect(replies[2]).toEqual({ type: 'utf8', utf8Data: big });
    const closed = nextEvent<[number]>(connection, 'close');
    connection.close(1001, 'bye');
    await closed;
    expect(await consumers[0]!.outcome).toEqual({ done: true });
    expect(texts(consumers[0]!.received)).toEqual(['hello', '<3 bytes>', big]);
  });
});

describe('memory bound: a fast sender and a consumer that awaits 1 ms per message', () => {
  const SENT = 100_000;
  const CONSUMED = 5_000;
  const SIZE = 1024;

  /** A `ws` client in its own process that queues every message at once: as fast as a sender can push. */
  function startFloodingSender(url: string): { child: ChildProcess; queued: Promise<number> } {
    const script = `
      const WebSocket = require('ws');
      const ws = new WebSocket(process.argv[1]);
      const payload = Buffer.alloc(${SIZE}, 7);
      ws.on('open', () => {
        for (let i = 0; i < ${SENT}; i++) ws.send(payload);
        process.stdout.write('queued ' + ws.bufferedAmount + '\\n');
      });
      ws.on('error', () => {});
      ws.on('close', () => process.exit(0));
    `;
    const child = spawn(process.execPath, ['-e', script, url], { cwd: path.resolve(__dirname, '../..'), stdio: ['ignore', 'pipe', 'inherit'] });
    onCleanup(() => {
      child.kill('SIGKILL');
    });
    const queued = new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const match = /queued (\d+)/.exec(out);
        if (match !== null) resolve(Number(match[1]));
      });
      child.once('exit', (code) => reject(new Error(`sender exited (${code}) before queueing: ${out}`)));
    });
    return { child, queued };
  }

  test(
    `${CONSUMED} of ${SENT} pushed 1 KiB messages consumed: memory growth under 32 MiB, reading stopped`,
    async () => {
      const h = await startQuietServer();
      const before = memory();
      const connected = nextEvent<[WebSocketConnection]>(h.ws, 'connect', 5000);
      const sender = startFloodingSender(h.url);
      const [connection] = await connected;
      const samples: MemorySample[] = [];
      let stoppedSeen = 0;
      const consumer = consume(connection, {}, async (message, index) => {
        if (message.type !== 'binary' || message.binaryData.length !== SIZE) throw new Error('unexpected message');
        if (connection._input.has(CONSUMER)) stoppedSeen++;
        if ((index + 1) % 500 === 0) samples.push(memory());
        if (index + 1 === CONSUMED) return 'break';
        await delay(1);
        return undefined;
      });
      const queuedBySender = await sender.queued;
      expect(await consumer.outcome).toEqual({ done: true });
      const bytesRead = connection.socket.bytesRead;
      connection.drop(1000, 'test over', true);

      const worst = samples.reduce((max, s) => (s.rss > max.rss ? s : max), before);
      const worstBuffers = samples.reduce((max, s) => (s.arrayBuffers > max.arrayBuffers ? s : max), before);
      const report = { rss: growth(before, worst), arrayBuffers: growth(before, worstBuffers), bytesRead, queuedBySender, stoppedSeen, collected: before.collected };
      // The sender had (nearly) everything queued at once: ~100 MiB was there to be read. Without
      // back-pressure the server reads all of it (bytesRead ~103 MB, memory +100 MiB).
      expect(queuedBySender).toBeGreaterThan(50 * MiB);
      expect(consumer.received).toHaveLength(CONSUMED);
      // Reading was stopped for most of the run (the consumer lags by design).
      expect(stoppedSeen).toBeGreaterThan(CONSUMED / 2);
      // What was read is what was consumed plus the iterator's mark (1024 messages), socket
      // buffers and one read's worth: nowhere near what the sender pushed.
      expect({ ...report, boundedRead: bytesRead < 16 * MiB }).toEqual({ ...report, boundedRead: true });
      expect({ ...report, rssOk: worst.rss - before.rss < 32 * MiB }).toEqual({ ...report, rssOk: true });
      expect({ ...report, buffersOk: worstBuffers.arrayBuffers - before.arrayBuffers < 32 * MiB }).toEqual({ ...report, buffersOk: true });
    },
    40_000,
  );
});
