/**
 * `connection.messages()`: the received messages as an async iterator (upstream's v2 API,
 * `for await (const message of connection.messages())`), with back-pressure towards the socket.
 *
 * The iterator listens to 'message' like any other listener, so the objects it yields are the very
 * ones 'message' listeners get, in the same order, and those listeners keep working. What the
 * consumer has not taken yet waits in the iterator's own queue; when that queue grows past a
 * high-water mark the connection stops reading from the socket (the CONSUMER flow reason: no
 * 'pause' event, `inputPaused` unchanged), so TCP slows the peer down instead of our memory growing,
 * and reading resumes once the consumer has caught up to half the mark. Messages are never dropped
 * or reordered by this: stopping only delays reading, and whatever was already read is still parsed
 * and queued (so the queue may overshoot the mark by one socket read's worth of messages).
 *
 * Ending follows Python websockets: 1000 (normal), 1001 (going away) and 1005 (the peer's close
 * frame carried no code) end the iteration normally, after every message queued before the close;
 * any other close (1006 on a dropped socket or socket error, 1002 on a protocol error, 1008, an
 * application's 4000...) makes `next()` reject with a `ConnectionClosedError` carrying the code and
 * description, again after the queued messages.
 *
 * `break` / `return()` / `throw()` stop listening, release the back-pressure, drop what is queued
 * and leave the connection open: as in Python websockets, leaving the loop is not closing the
 * connection; that stays the caller's decision (`connection.close()`), and the connection keeps
 * emitting 'message' to its other listeners.
 *
 * Several iterators on one connection each get every message (each is one more 'message'
 * listener), each with its own queue and marks; reading stays stopped while any of them is over
 * its mark (a per-input count, since the CONSUMER reason is one bit shared by all of them).
 *
 * No promise is made that the caller did not ask for: `next()` creates one when called, and a
 * close settles only promises already handed out. An iterator nobody consumes never rejects.
 */
import { CONSUMER } from '../transport/socket-input';
import type { Message } from '../public-types';

/** Options of `connection.messages()`. */
export interface MessageIteratorOptions {
  /** Stop reading while more than this many messages wait unconsumed (default 1024; `Infinity` = no limit). */
  highWaterMark?: number | undefined;
  /** Stop reading while more than this many bytes wait unconsumed (default 16 MiB; `Infinity` = no limit). */
  highWaterMarkBytes?: number | undefined;
}

/**
 * Default message mark. Bounds the per-message overhead of tiny messages (an object plus a string
 * or Buffer view each, a few hundred bytes: ~0.25 MiB at 1024) while being far above what a
 * consumer that keeps up ever holds, so a merely bursty peer is not throttled; TCP's own buffers
 * keep the peer busy during the short stop.
 */
export const DEFAULT_HIGH_WATER_MARK = 1024;

/**
 * Default byte mark. Above the largest message either side accepts by default (1 MiB server,
 * 8 MiB client `maxReceivedMessageSize`), so one maximal message alone never stops reading, and in
 * line with `backpressureThreshold` (4 MiB) for the other direction: a slow consumer costs at most
 * a few tens of MiB per connection, not whatever the peer can push.
 */
export const DEFAULT_HIGH_WATER_MARK_BYTES = 16 * 1024 * 1024;

/** The input flow control the iterator drives: the connection's `SocketInput`. */
export interface ConsumerFlow {
  stop(reason: number): void;
  release(reason: number): void;
}

/** What the iterator needs of a connection: WebSocketConnection fits, so does a test double. */
export interface IterableConnection {
  on(event: 'message', listener: (message: Message) => void): unknown;
  on(event: 'close', listener: (code: number, description: string) => void): unknown;
  removeListener(event: 'message', listener: (message: Message) => void): unknown;
  removeListener(event: 'close', listener: (code: number, description: string) => void): unknown;
  readonly connected: boolean;
  readonly closeReasonCode: number;
  // `string` in the public type, but undefined at run time for a 3000-4999 close without reason.
  readonly closeDescription: string | null | undefined;
  readonly closeEventEmitted: boolean;
  readonly _input: ConsumerFlow;
}

/** Close codes that end an iteration normally rather than with an error. */
const NORMAL_CLOSE_CODES: ReadonlySet<number> = new Set([1000, 1001, 1005]);

/** Whether a close with this code ends `messages()` normally (1000, 1001, 1005). */
export function isNormalClose(code: number): boolean {
  return NORMAL_CLOSE_CODES.has(code);
}

/** What `next()` rejects with when the connection closes abnormally. */
export class ConnectionClosedError extends Error {
  /** The close code, as 'close' reported it. */
  readonly code: number;
  /** The close description, as 'close' reported it (undefined for 3000-4999 sent without a reason). */
  readonly description: string | undefined;

  constructor(code: number, description: string | null | undefined) {
    const text = typeof description === 'string' && description !== '' ? `: ${description}` : '';
    super(`WebSocket connection closed with code ${code}${text}`);
    this.name = 'ConnectionClosedError';
    this.code = code;
    this.description = description ?? undefined;
  }
}

/**
 * How many holders currently want CONSUMER set, per input. The reason is one bit: with two
 * iterators over their marks, the first to catch up must not resume reading for the other.
 */
const consumerHolds = new WeakMap<ConsumerFlow, number>();

/** Takes one CONSUMER hold on `input`: reading stops on the first. For any consumer sharing the bit. */
export function holdConsumer(input: ConsumerFlow): void {
  const holds = consumerHolds.get(input) ?? 0;
  consumerHolds.set(input, holds + 1);
  if (holds === 0) input.stop(CONSUMER);
}

/** Gives one CONSUMER hold back: reading resumes (other reasons permitting) when none is left. */
export function releaseConsumer(input: ConsumerFlow): void {
  const holds = consumerHolds.get(input) ?? 0;
  if (holds <= 1) {
    consumerHolds.delete(input);
    if (holds === 1) input.release(CONSUMER);
    return;
  }
  consumerHolds.set(input, holds - 1);
}

/** A `next()` call still waiting for a message or the end. */
interface Waiter {
  resolve(result: IteratorResult<Message, undefined>): void;
  reject(error: Error): void;
}

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

/** Compact the queue's consumed head once it is this long and at least half the array. */
const COMPACT_AT = 1024;

function validMark(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  // A negative or NaN mark has no meaning; Infinity is accepted and turns that limit off.
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0) {
    throw new RangeError(`messages(): ${name} must be a non-negative number, got ${String(value)}`);
  }
  return value;
}

/** The memory a queued message stands for: O(1), so text counts one byte per UTF-16 code unit. */
function sizeOf(message: Message): number {
  return message.type === 'utf8' ? message.utf8Data.length : message.binaryData.length;
}

// One type argument for AsyncIterableIterator: the two-argument form needs TypeScript 5.6, and
// these types reach users' compilers through `connection.messages()`.
/** The iterator behind `connection.messages()`; see the module comment. */
class MessageIterator implements AsyncIterableIterator<Message> {
  private readonly connection: IterableConnection;
  private readonly input: ConsumerFlow;
  private readonly highWaterMark: number;
  private readonly highWaterMarkBytes: number;
  /** Unconsumed messages from `head` on; the consumed prefix is cut off now and then, not per message. */
  private queue: Message[] = [];
  private head = 0;
  private queuedBytes = 0;
  /** `next()` calls waiting; only non-empty while the queue is empty. */
  private readonly waiters: Waiter[] = [];
  /** Whether this iterator holds a CONSUMER stop. */
  private holding = false;
  /** Still listening to the connection. */
  private listening = false;
  /** Set when the connection closed: what follows the queued messages (null: a normal end). */
  private closed: { error: ConnectionClosedError | null } | null = null;
  /** Finished: every later `next()` is done. */
  private finished = false;

  private readonly onMessage = (message: Message): void => {
    const waiter = this.waiters.shift();
    if (waiter !== undefined) {
      // The consumer is already waiting: nothing is queued, so there is nothing to stop for.
      waiter.resolve({ done: false, value: message });
      return;
    }
    this.queue.push(message);
    this.queuedBytes += sizeOf(message);
    if (!this.holding && this.overMark()) {
      this.holding = true;
      holdConsumer(this.input);
    }
  };

  private readonly onClose = (code: number, description: string): void => {
    this.unlisten();
    this.closed = { error: isNormalClose(code) ? null : new ConnectionClosedError(code, description) };
    // Waiters exist only while the queue is empty, so the end is due for the first of them now.
    if (this.waiters.length > 0) this.settleEnd();
  };

  constructor(connection: IterableConnection, options: MessageIteratorOptions) {
    this.connection = connection;
    this.input = connection._input;
    this.highWaterMark = validMark(options.highWaterMark, DEFAULT_HIGH_WATER_MARK, 'highWaterMark');
    this.highWaterMarkBytes = validMark(options.highWaterMarkBytes, DEFAULT_HIGH_WATER_MARK_BYTES, 'highWaterMarkBytes');
    if (connection.closeEventEmitted) {
      // Already closed: end (or fail) at once, by the same rule as a close seen while iterating.
      const code = connection.closeReasonCode;
      this.closed = { error: isNormalClose(code) ? null : new ConnectionClosedError(code, connection.closeDescription) };
      return;
    }
    this.listening = true;
    connection.on('message', this.onMessage);
    connection.on('close', this.onClose);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<Message, undefined>> {
    if (this.finished) return Promise.resolve(DONE);
    if (this.head < this.queue.length) {
      const message = this.take();
      return Promise.resolve({ done: false, value: message });
    }
    // Nothing can arrive any more once the connection stops being connected: holding reading back
    // then only keeps the closing handshake (and 'close') from completing.
    if (this.holding && !this.connection.connected) this.unhold();
    if (this.closed !== null) {
      const error = this.closed.error;
      this.finish();
      return error === null ? Promise.resolve(DONE) : Promise.reject(error);
    }
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
    });
  }

  /** `break` lands here: stop listening, drop the queue, resume reading; the connection stays open. */
  return(): Promise<IteratorResult<Message, undefined>> {
    this.finish();
    return Promise.resolve(DONE);
  }

  /**
   * Ends the iteration exactly like `return()`. The error is not thrown back: nothing here could
   * handle it, and a rejection would be one more promise the caller must remember to catch.
   */
  throw(): Promise<IteratorResult<Message, undefined>> {
    return this.return();
  }

  /** Takes the oldest queued message, resuming reading once the queue is down to half the marks. */
  private take(): Message {
    const message = this.queue[this.head]!;
    // Not left reachable from the array while the consumer works on it and after.
    (this.queue as Array<Message | undefined>)[this.head] = undefined;
    this.head++;
    this.queuedBytes -= sizeOf(message);
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head >= COMPACT_AT && this.head * 2 >= this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    if (this.holding && (this.belowHalf() || !this.connection.connected)) this.unhold();
    return message;
  }

  private get queued(): number {
    return this.queue.length - this.head;
  }

  private overMark(): boolean {
    return this.queued > this.highWaterMark || this.queuedBytes > this.highWaterMarkBytes;
  }

  /** Both counts at or below half their marks: resuming earlier would stop again at once. */
  private belowHalf(): boolean {
    return this.queued <= this.highWaterMark / 2 && this.queuedBytes <= this.highWaterMarkBytes / 2;
  }

  private unhold(): void {
    if (!this.holding) return;
    this.holding = false;
    releaseConsumer(this.input);
  }

  private unlisten(): void {
    if (!this.listening) return;
    this.listening = false;
    this.connection.removeListener('message', this.onMessage);
    this.connection.removeListener('close', this.onClose);
    this.unhold();
  }

  /** Settles the first waiter with the close's outcome and every other one with done. */
  private settleEnd(): void {
    const error = this.closed?.error ?? null;
    const waiters = this.waiters.splice(0);
    this.finish();
    const first = waiters.shift();
    if (first !== undefined) {
      if (error === null) first.resolve(DONE);
      else first.reject(error);
    }
    for (const waiter of waiters) waiter.resolve(DONE);
  }

  /** No more messages: listeners off, reading released, queue dropped, waiters told it is over. */
  private finish(): void {
    this.finished = true;
    this.unlisten();
    this.queue = [];
    this.head = 0;
    this.queuedBytes = 0;
    for (const waiter of this.waiters.splice(0)) waiter.resolve(DONE);
  }
}

/** Iterates the messages `connection` emits from now on; backs `connection.messages(options)`. */
export function messageIterator(connection: IterableConnection, options: MessageIteratorOptions = {}): AsyncIterableIterator<Message> {
  return new MessageIterator(connection, options);
}
