/**
 * messageIterator() against a stand-in connection (an EventEmitter with the fields it reads) and a
 * real SocketInput over a stand-in socket: ordering, the end/failure rule, the exact back-pressure
 * thresholds (stop above the mark, release at half), several iterators sharing the CONSUMER bit,
 * and that nothing rejects unless the caller asked for a result.
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import {
  ConnectionClosedError,
  DEFAULT_HIGH_WATER_MARK,
  DEFAULT_HIGH_WATER_MARK_BYTES,
  isNormalClose,
  messageIterator,
  type IterableConnection,
  type MessageIteratorOptions,
} from '../../../lib/promises/message-iterator';
import { BACKPRESSURE, CONSUMER, SocketInput } from '../../../lib/transport/socket-input';
import type { Message } from '../../../lib/public-types';

/** A socket as far as SocketInput's flow switching sees it, counting pause/resume calls. */
class FakeSocket {
  readableFlowing: boolean | null = true;
  pauses = 0;
  resumes = 0;
  pause(): void {
    this.pauses++;
    this.readableFlowing = false;
  }
  resume(): void {
    this.resumes++;
    this.readableFlowing = true;
  }
}

/** The connection fields the iterator reads, and a way to emit messages and close it. */
class FakeConnection extends EventEmitter implements IterableConnection {
  connected = true;
  closeReasonCode = -1;
  closeDescription: string | null | undefined = null;
  closeEventEmitted = false;
  readonly socket = new FakeSocket();
  readonly _input = new SocketInput(this.socket as unknown as Socket, { processReceivedData: () => undefined });

  text(data: string): Message {
    const message: Message = { type: 'utf8', utf8Data: data };
    this.emit('message', message);
    return message;
  }

  bytes(length: number): Message {
    const message: Message = { type: 'binary', binaryData: Buffer.alloc(length, 1) };
    this.emit('message', message);
    return message;
  }

  close(code: number, description: string | undefined): void {
    this.connected = false;
    this.closeReasonCode = code;
    this.closeDescription = description;
    this.closeEventEmitted = true;
    this.emit('close', code, description);
  }

  get reading(): boolean {
    return this.socket.readableFlowing !== false;
  }
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function value(iterator: AsyncIterator<Message>): Promise<Message> {
  const result = await iterator.next();
  if (result.done === true) throw new Error('iterator ended early');
  return result.value;
}

function open(connection: FakeConnection, options?: MessageIteratorOptions): AsyncIterableIterator<Message> {
  return messageIterator(connection, options);
}

/** Collects rejections nobody handled while `fn` runs (and a few turns of the loop after). */
async function unhandledDuring(fn: () => Promise<void> | void): Promise<unknown[]> {
  const seen: unknown[] = [];
  const onRejection = (reason: unknown): void => {
    seen.push(reason);
  };
  process.on('unhandledRejection', onRejection);
  try {
    await fn();
    for (let i = 0; i < 3; i++) await flush();
  } finally {
    process.removeListener('unhandledRejection', onRejection);
  }
  return seen;
}

describe('messageIterator: messages', () => {
  test('yields every later message, in order, as the very objects other listeners get', async () => {
    const connection = new FakeConnection();
    connection.text('before'); // emitted before the iterator exists: not yielded
    const heard: Message[] = [];
    connection.on('message', (message: Message) => heard.push(message));
    const iterator = open(connection);
    const sent = [connection.text('a'), connection.bytes(3), connection.text(''), connection.bytes(0)];
    for (const expected of sent) expect(await value(iterator)).toBe(expected);
    expect(heard).toEqual(sent);
    heard.forEach((message, i) => expect(message).toBe(sent[i]));
  });

  test('a waiting next() gets the next message directly; concurrent next() calls resolve in order', async () => {
    const connection = new FakeConnection();
    const iterator = open(connection);
    const first = iterator.next();
    const second = iterator.next();
    const a = connection.text('a');
    const b = connection.text('b');
    expect(await first).toEqual({ done: false, value: a });
    expect((await second).value).toBe(b);
  });

  test('it is its own async iterator, and for await works', async () => {
    const connection = new FakeConnection();
    const iterator = open(connection);
    expect(iterator[Symbol.asyncIterator]()).toBe(iterator);
    connection.text('x');
    connection.text('y');
    connection.close(1000, 'Normal connection closure');
    const got: string[] = [];
    for await (const message of iterator) got.push(message.type === 'utf8' ? message.utf8Data : '?');
    expect(got).toEqual(['x', 'y']);
  });

  test('order survives long queues (the consumed head is compacted)', async () => {
    const connection = new FakeConnection();
    const iterator = open(connection, { highWaterMark: Infinity });
    for (let i = 0; i < 5000; i++) connection.text(String(i));
    for (let i = 0; i < 2500; i++) expect(await value(iterator)).toEqual({ type: 'utf8', utf8Data: String(i) });
    for (let i = 5000; i < 6000; i++) connection.text(String(i));
    for (let i = 2500; i < 6000; i++) expect(await value(iterator)).toEqual({ type: 'utf8', utf8Data: String(i) });
  });
});

describe('messageIterator: ending', () => {
  test.each([1000, 1001, 1005])('close %i ends normally after the queued messages', async (code) => {
    const connection = new FakeConnection();
    const iterator = open(connection);
    const a = connection.text('a');
    const b = connection.bytes(2);
    connection.close(code, 'bye');
    expect(await value(iterator)).toBe(a);
    expect(await value(iterator)).toBe(b);
    expect(await iterator.next()).toEqual({ done: true, value: undefined });
    expect(await iterator.next()).toEqual({ done: true, value: undefined });
  });

  test.each([
    [1006, 'Connection dropped by remote peer.'],
    [1002, 'Protocol error'],
    [1008, 'Policy violation'],
    [4000, 'app says no'],
  ])('close %i fails after the queued messages, with code and description', async (code, description) => {
    const connection = new FakeConnection();
    const iterator = open(connection);
    const a = connection.text('a');
    connection.close(code, description);
    expect(await value(iterator)).toBe(a);
    const error = await iterator.next().then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConnectionClosedError);
    expect(error).toMatchObject({ code, description, name: 'ConnectionClosedError' });
    expect((error as Error).message).toBe(`WebSocket connection closed with code ${code}: ${description}`);
    // Failed once; afterwards it is simply over.
    expect(await iterator.next()).toEqual({ done: true, value: undefined });
  });

  test('a waiting next() is settled by the close', async () => {
    const connection = new FakeConnection();
    const iterator = open(connection);
    const pending = iterator.next();
    const other = iterator.next();
    connection.close(1011, 'Internal Server Error');
    await expect(pending).rejects.toMatchObject({ code: 1011, description: 'Internal Server Error' });
    expect(await other).toEqual({ done: true, value: undefined });

    const normal = new FakeConnection();
    const iterator2 = open(normal);
    const waiting = iterator2.next();
    normal.close(1000, 'Normal connection closure');
    expect(await waiting).toEqual({ done: true, value: undefined });
  });

  test('a 4000 close without a reason: description undefined, message without one', async () => {
    const connection = new FakeConnection();
    const iterator = open(connection);
    connection.close(4000, undefined);
    const error = (await iterator.next().catch((e: unknown) => e)) as ConnectionClosedError;
    expect(error.code).toBe(4000);
    expect(error.description).toBeUndefined();
    expect(error.message).toBe('WebSocket connection closed with code 4000');
  });

  test('an already closed connection ends (1000) or fails (1002) at once', async () => {
    const normal = new FakeConnection();
    normal.close(1000, 'Normal connection closure');
    expect(await open(normal).next()).toEqual({ done: true, value: undefined });
    expect(normal.listenerCount('message')).toBe(0);

    const failed = new FakeConnection();
    failed.close(1002, 'Protocol error');
    const iterator = open(failed);
    await expect(iterator.next()).rejects.toMatchObject({ code: 1002, description: 'Protocol error' });
    expect(await iterator.next()).toEqual({ done: true, value: undefined });
    expect(failed.listenerCount('close')).toBe(0);
  });

  test('the close listeners are removed once the connection closed', () => {
    const connection = new FakeConnection();
    open(connection);
    expect([connection.listenerCount('message'), connection.listenerCount('close')]).toEqual([1, 1]);
    connection.close(1000, '');
    expect([connection.listenerCount('message'), connection.listenerCount('close')]).toEqual([0, 0]);
  });

  test('isNormalClose', () => {
    expect([1000, 1001, 1005].map(isNormalClose)).toEqual([true, true, true]);
    expect([1002, 1006, 1011, 3000, 4000, -1].map(isNormalClose)).toEqual([false, false, false, false, false, false]);
  });
});

describe('messageIterator: no unhandled rejections', () => {
  test('an iterator nobody consumes never rejects, whatever the close', async () => {
    const seen = await unhandledDuring(() => {
      const connection = new FakeConnection();
      open(connection);
      connection.text('ignored');
      connection.close(1006, 'Connection dropped by remote peer.');
      const closed = new FakeConnection();
      closed.close(1002, 'Protocol error');
      open(closed); // already closed, never asked
    });
    expect(seen).toEqual([]);
  });

  test('a failure reaches exactly the next() that was asked for, and only once', async () => {
    const seen = await unhandledDuring(async () => {
      const connection = new FakeConnection();
      const iterator = open(connection);
      connection.close(1006, 'x');
      await expect(iterator.next()).rejects.toBeInstanceOf(ConnectionClosedError);
      await iterator.next();
      await iterator.return!();
    });
    expect(seen).toEqual([]);
  });
});

describe('messageIterator: back-pressure thresholds', () => {
  test('the defaults', () => {
    expect(DEFAULT_HIGH_WATER_MARK).toBe(1024);
    expect(DEFAULT_HIGH_WATER_MARK_BYTES).toBe(16 * 1024 * 1024);
  });

  test('default message mark: stops above 1024 queued, resumes at 512', async () => {
    const connection = new FakeConnection();
    const iterator = open(connection);
    for (let i = 0; i < 1024; i++) connection.text('m');
    expect(connection._input.has(CONSUMER)).toBe(false);
    connection.text('m');
    expect(connection._input.has(CONSUMER)).toBe(true);
    for (let i = 0; i < 1025 - 513; i++) await iterator.next();
    expect(connection._input.has(CONSUMER)).toBe(true);
    await iterator.next();
    expect(connection._input.has(CONSUMER)).toBe(false);
  });

  test('message mark: stops above the mark, releases at half, once each', async () => {
    const connection = new FakeConnection();
    const iterator = open(connection, { highWaterMark: 4 });
    for (let i = 0; i < 4; i++) connection.text(String(i));
    expect(connection.reading).toBe(true);
    connection.text('4'); // 5 queued > 4
    expect(connection.reading).toBe(false);
    expect(connection._input.has(CONSUMER)).toBe(true);
    connection.text('5'); // still stopped, not stopped twice
    expect(connection.socket.pauses).toBe(1);
    // 6 queued: down to 3 is not enough, 2 (half of 4) resumes.
    for (let i = 0; i < 3; i++) await iterator.next();
    expect(connection.reading).toBe(false);
    await iterator.next();
    expect(connection.reading).toBe(true);
    expect(connection._input.has(CONSUMER)).toBe(false);
    expect(connection.socket.resumes).toBe(1);
    // And it stops again the next time the queue goes over.
    for (let i = 0; i < 3; i++) connection.text('again');
    expect(connection.reading).toBe(false);
    expect(connection.socket.pauses).toBe(2);
  });

  test('byte mark: stops above the mark, releases at half', async () => {
    const connection = new FakeConnection();
    const iterator = open(connection, { highWaterMarkBytes: 100 });
    connection.bytes(60);
    connection.bytes(40); // exactly 100: not over
    expect(connection.reading).toBe(true);
    connection.text('x'); // 101 (text counts its length)
    expect(connection.reading).toBe(false);
    await iterator.next(); // 41 left <= 50
    expect(connection.reading).toBe(true);
  });

  test('release needs both counts at or below half their marks', async () => {
    const connection = new FakeConnection();
    const iterator = open(connection, { highWaterMark: 4, highWaterMarkBytes: 100 });
    connection.bytes(90);
    connection.bytes(1);
    connection.bytes(1);
    connection.bytes(1);
    connection.bytes(20); // 5 messages, 113 bytes: over both
    expect(connection.reading).toBe(false);
    await iterator.next(); // 4 messages (> 2), 23 bytes (<= 50): the count still holds it
    await iterator.next(); // 3 messages
    expect(connection.reading).toBe(false);
    await iterator.next(); // 2 messages, 21 bytes
    expect(connection.reading).toBe(true);
  });

  test('highWaterMark 0 stops as soon as anything waits; a waiting consumer never stops reading', async () => {
    const connection = new FakeConnection();
    const iterator = open(connection, { highWaterMark: 0 });
    const waiting = iterator.next();
    connection.text('straight through');
    expect(connection.reading).toBe(true);
    await waiting;
    connection.text('queued');
    expect(connection.reading).toBe(false);
    await iterator.next();
    expect(connection.reading).toBe(true);
  });

  test('Infinity turns a mark off', () => {
    const connection = new FakeConnection();
    open(connection, { highWaterMark: Infinity, highWaterMarkBytes: Infinity });
    for (let i = 0; i < 3000; i++) connection.bytes(10_000);
    expect(connection.reading).toBe(true);
  });

  test('invalid marks are refused', () => {
    const connection = new FakeConnection();
    expect(() => open(connection, { highWaterMark: -1 })).toThrow(RangeError);
    expect(() => open(connection, { highWaterMarkBytes: Number.NaN })).toThrow(/highWaterMarkBytes/);
    expect(() => open(connection, { highWaterMark: '5' as unknown as number })).toThrow(RangeError);
    expect(connection.listenerCount('message')).toBe(0);
  });

  test('the application pause and the output back-pressure are left alone', async () => {
    const connection = new FakeConnection();
    const iterator = open(connection, { highWaterMark: 1 });
    connection._input.stop(BACKPRESSURE);
    connection.text('a');
    connection.text('b');
    expect(connection._input.has(CONSUMER)).toBe(true);
    await iterator.next();
    await iterator.next();
    // CONSUMER is released, BACKPRESSURE still holds the socket.
    expect(connection._input.has(CONSUMER)).toBe(false);
    expect(connection.reading).toBe(false);
    connection._input.release(BACKPRESSURE);
    expect(connection.reading).toBe(true);
  });

  test('once the connection is no longer connected, the next pull releases reading (the close can complete)', async () => {
    const connection = new FakeConnection();
    const iterator = open(connection, { highWaterMark: 1 });
    connection.text('a');
    connection.text('b');
    connection.text('c');
    expect(connection.reading).toBe(false);
    connection.connected = false; // close() called: no message can follow
    await iterator.next();
    expect(connection.reading).toBe(true);
    expect((await value(iterator)).type).toBe('utf8'); // the queue is still delivered
  });

  test('a close releases reading and the hold', () => {
    const connection = new FakeConnection();
    open(connection, { highWaterMark: 1 });
    connection.text('a');
    connection.text('b');
    expect(connection._input.has(CONSUMER)).toBe(true);
    connection.close(1006, 'gone');
    expect(connection._input.has(CONSUMER)).toBe(false);
  });
});

describe('messageIterator: return() and throw()', () => {
  test.each(['return', 'throw'] as const)('%s() stops listening, releases reading, drops the queue, leaves the connection open', async (method) => {
    const connection = new FakeConnection();
    const iterator = open(connection, { highWaterMark: 1 });
    connection.text('a');
    connection.text('b');
    expect(connection.reading).toBe(false);
    const result = method === 'return' ? await iterator.return!() : await iterator.throw!(new Error('consumer failed'));
    expect(result).toEqual({ done: true, value: undefined });
    expect(connection.reading).toBe(true);
    expect(connection.connected).toBe(true);
    expect([connection.listenerCount('message'), connection.listenerCount('close')]).toEqual([0, 0]);
    connection.text('c');
    expect(await iterator.next()).toEqual({ done: true, value: undefined });
  });

  test('break in for await is return()', async () => {
    const connection = new FakeConnection();
    const iterator = open(connection, { highWaterMark: 2 });
    for (let i = 0; i < 5; i++) connection.text(String(i));
    expect(connection.reading).toBe(false);
    for await (const message of iterator) {
      expect(message).toEqual({ type: 'utf8', utf8Data: '0' });
      break;
    }
    expect(connection.reading).toBe(true);
    expect(connection.listenerCount('message')).toBe(0);
  });

  test('return() settles waiting next() calls with done', async () => {
    const connection = new FakeConnection();
    const iterator = open(connection);
    const waiting = iterator.next();
    await iterator.return!();
    expect(await waiting).toEqual({ done: true, value: undefined });
  });
});

describe('messageIterator: several iterators', () => {
  test('each gets every message', async () => {
    const connection = new FakeConnection();
    const one = open(connection);
    const two = open(connection);
    const sent = [connection.text('a'), connection.bytes(1)];
    for (const expected of sent) {
      expect(await value(one)).toBe(expected);
      expect(await value(two)).toBe(expected);
    }
  });

  test('reading stays stopped while any of them is over its mark', async () => {
    const connection = new FakeConnection();
    const fast = open(connection, { highWaterMark: 2 });
    const slow = open(connection, { highWaterMark: 4 });
    for (let i = 0; i < 5; i++) connection.text(String(i)); // both over
    expect(connection.socket.pauses).toBe(1);
    // fast drains to 1 (its half) and lets go; slow (5 queued) still holds.
    for (let i = 0; i < 4; i++) await fast.next();
    expect(connection.reading).toBe(false);
    expect(connection._input.has(CONSUMER)).toBe(true);
    for (let i = 0; i < 3; i++) await slow.next(); // slow: 2 left = half of 4
    expect(connection.reading).toBe(true);
    expect(connection.socket.resumes).toBe(1);
  });

  test('one iterator breaking does not resume reading for another still over its mark', async () => {
    const connection = new FakeConnection();
    const leaving = open(connection, { highWaterMark: 1 });
    const staying = open(connection, { highWaterMark: 1 });
    for (let i = 0; i < 3; i++) connection.text(String(i));
    await leaving.return!();
    expect(connection.reading).toBe(false);
    await staying.return!();
    expect(connection.reading).toBe(true);
  });
});
