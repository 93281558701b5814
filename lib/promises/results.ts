/**
 * The awaitable results of upstream v2's promise API (theturtle32/WebSocket-Node #478): what
 * `sendUTF`/`sendBytes`/`send` without a callback, `close()` and `client.connect()` return.
 *
 * Each is a thenable that makes its Promise only when someone calls `then` (or awaits it). 1.x code
 * ignores these return values by the million; a Promise made eagerly would reject unobserved when a
 * send fails after a close or a connect fails, and Node's default `--unhandled-rejections=throw`
 * would end those processes. A thenable nobody reads is just garbage.
 */
import { WriteToken, type TokenWaiter } from '../transport/write-token';
import { markSendFailure } from './listener-rejections';

/** The awaitable kinds of outcome share this: a Promise made on first use. */
abstract class LazyResult<T> implements PromiseLike<T> {
  private promise: Promise<T> | null = null;

  /** Starts the settling: called once, when the Promise is first needed. */
  protected abstract settle(resolve: (value: T) => void, reject: (reason: Error) => void): void;

  /** Promises/A+ `then`: the Promise is made here, on first use. */
  then<R1 = T, R2 = never>(
    onfulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this.toPromise().then(onfulfilled, onrejected);
  }

  /** As `Promise#catch`. */
  catch<R = never>(onrejected?: ((reason: unknown) => R | PromiseLike<R>) | null): Promise<T | R> {
    return this.toPromise().catch(onrejected);
  }

  /** As `Promise#finally`. */
  finally(onfinally?: (() => void) | null): Promise<T> {
    return this.toPromise().finally(onfinally);
  }

  private toPromise(): Promise<T> {
    return (this.promise ??= new Promise<T>((resolve, reject) => this.settle(resolve, reject)));
  }
}

/** Where a send's bytes went: the connection's output, asked only when someone awaits the send. */
export interface WriteSource {
  whenWritten(gen: number, waiter: TokenWaiter): void;
}

/**
 * What a send without a callback returns: settles once its bytes are handed to the kernel, or
 * fails with the Error a callback would have received (sending after close, a socket error). A
 * send nobody awaits costs this object and nothing else: the output is asked about the write only
 * when the result is awaited (a late await sees the socket as it is then).
 */
export class SendResult extends LazyResult<void> {
  /** The output and its write count when the send was made, or the send's own token, or null when it failed at once. */
  private readonly source: WriteSource | WriteToken | null;
  private readonly gen: number;
  private readonly error: Error | undefined;

  constructor(source: WriteSource | WriteToken | null, gen = 0, error?: Error) {
    super();
    this.source = source;
    this.gen = gen;
    this.error = error;
  }

  protected settle(resolve: (value: void) => void, reject: (reason: Error) => void): void {
    const source = this.source;
    if (source === null) {
      reject(markSendFailure(this.error ?? new Error('The message was not sent.')));
      return;
    }
    const done = (error: Error | undefined): void => (error === undefined ? resolve() : reject(markSendFailure(error)));
    if (source instanceof WriteToken) source.whenDone(done);
    else source.whenWritten(this.gen, done);
  }
}

/** What the close promise resolves with: the code and description `'close'` reports. */
export interface CloseOutcome {
  reasonCode: number;
  description: string;
}

/** The part of a connection a close result watches. */
export interface ClosingConnection {
  readonly closeEventEmitted: boolean;
  readonly closeReasonCode: number;
  readonly closeDescription: string;
  once(event: 'close', listener: (reasonCode: number, description: string) => void): unknown;
}

/**
 * What `close()` returns: resolves with `{ reasonCode, description }` when the connection's
 * `'close'` event fires (at once if it already has). It never rejects: a connection always closes.
 */
export class CloseResult extends LazyResult<CloseOutcome> {
  constructor(private readonly connection: ClosingConnection) {
    super();
  }

  protected settle(resolve: (value: CloseOutcome) => void): void {
    const connection = this.connection;
    if (connection.closeEventEmitted) {
      resolve({ reasonCode: connection.closeReasonCode, description: connection.closeDescription });
      return;
    }
    connection.once('close', (reasonCode, description) => resolve({ reasonCode, description }));
  }
}

/**
 * What `client.connect()` returns: resolves with the connection `'connect'` delivers, or rejects
 * with the Error `'connectFailed'` delivers (or one naming the status, when an `'httpResponse'`
 * listener took a non-101 response). The client records the outcome as it emits the event, so
 * awaiting it later still sees it; the Promise itself is made only when awaited.
 */
export class ConnectResult<C> extends LazyResult<C> {
  private outcome: { connection: C } | { error: Error } | null = null;
  private waiter: ((outcome: { connection: C } | { error: Error }) => void) | null = null;

  /** The handshake succeeded. */
  succeeded(connection: C): void {
    this.record({ connection });
  }

  /** The attempt failed. */
  failed(error: Error): void {
    this.record({ error });
  }

  private record(outcome: { connection: C } | { error: Error }): void {
    if (this.outcome !== null) return;
    this.outcome = outcome;
    const waiter = this.waiter;
    this.waiter = null;
    if (waiter !== null) waiter(outcome);
  }

  protected settle(resolve: (value: C) => void, reject: (reason: Error) => void): void {
    const finish = (outcome: { connection: C } | { error: Error }): void => {
      if ('error' in outcome) reject(outcome.error);
      else resolve(outcome.connection);
    };
    if (this.outcome !== null) finish(this.outcome);
    else this.waiter = finish;
  }
}
