/**
 * Writes a connection's frames to its socket. A send made by application code is handed to the
 * socket before the send returns, in one write, as WebSocket-Node does: a process that exits right
 * after sending still delivers, and code that watches `socket.write` sees it at once. While a batch
 * of received frames is dispatched (between `hold()` and `release()`), the replies its handlers
 * make are gathered and written together when the batch ends, before control returns to the event
 * loop; should the process exit inside the batch, an 'exit' hook writes them first.
 */
import type { Socket } from 'node:net';
import { closedError, type OutputSink, type WriteCallback } from '../protocol/output-sink';
import { WriteToken, type TokenWaiter } from './write-token';

/** Below this total, copying the frames into one buffer is cheaper than a writev of many. */
const CONCAT_LIMIT = 16384;
/** The socket's high-water mark when it does not say (a stand-in socket without stream fields). */
const DEFAULT_HIGH_WATER_MARK = 16384;

/** The socket side of a connection's output; see the module comment. */
export class SocketOutput implements OutputSink {
  // Made on the first push while held: an idle connection holds no arrays.
  private chunks: Buffer[] | null = null;
  private bytes = 0;
  private callbacks: WriteCallback[] | null = null;
  protected holds = 0;
  /** The completion token of the write being gathered, if an awaited send asked for one. */
  private token: WriteToken | null = null;
  /**
   * How many writes `flush()` has made. A send records it, so that when (and only if) someone
   * awaits the send, `whenWritten()` can tell whether its bytes are still gathered here or already
   * went to the socket: sends nobody awaits cost no callback at all.
   */
  flushes = 0;
  /**
   * WebSocket-Node's `outputBufferFull`: `!socket.write(...)` of the last write (so a stand-in
   * socket whose write returns nothing counts as full, as there).
   */
  full = false;
  /** The last write returned false: a stream's back-pressure signal, which a 'drain' will end. */
  blocked = false;
  /** What the last `socket.write()` returned, as is (WebSocket-Node's `sendFrame` returns it). */
  lastWriteResult: boolean = true;

  constructor(protected readonly socket: Socket) {}

  /** Bytes accepted but not yet handed to the kernel: ours plus the socket's own buffer. */
  get bufferedBytes(): number {
    return this.bytes + (this.socket.writableLength ?? 0);
  }

  /** @internal OutputSink */
  push(chunk: Buffer): void {
    (this.chunks ??= []).push(chunk);
    this.bytes += chunk.length;
  }

  /** @internal OutputSink */
  pushCallback(callback: WriteCallback): void {
    (this.callbacks ??= []).push(callback);
  }

  /**
   * The token of the write that will carry what is pushed next (made on first use, one per write):
   * call it only between hold() and release(), after pushing, so the write it names is still to come.
   */
  completionToken(): WriteToken {
    let token = this.token;
    if (token === null) {
      token = this.token = new WriteToken();
      this.pushCallback(token.callback);
    }
    return token;
  }

  /**
   * Calls `waiter` once the bytes of a send made when `flushes` was `gen` are handed to the kernel,
   * or with the Error that stopped them. Still gathered (a batch being dispatched): the write that
   * will carry them gets a completion token. Already written: the socket's own state tells; a
   * zero-length write queued behind the rest completes once everything before it has gone.
   */
  whenWritten(gen: number, waiter: TokenWaiter): void {
    if (gen === this.flushes) {
      this.completionToken().whenDone(waiter);
      if (this.holds === 0) this.flush();
      return;
    }
    const socket = this.socket;
    const errored = (socket as { errored?: Error | null }).errored ?? null;
    if (socket.destroyed === true && errored !== null) {
      waiter(errored);
    } else if (!((socket.writableLength ?? 0) > 0)) {
      waiter(undefined);
    } else if (socket.destroyed === true) {
      waiter(closedError());
    } else if (socket.writableEnded !== true) {
      socket.write(EMPTY, (error?: Error | null) => waiter(error ?? undefined));
    } else {
      // Ended with bytes still queued: 'finish' says they went out; 'close' first says they did not.
      const onFinish = (): void => {
        socket.removeListener('close', onClose);
        waiter(undefined);
      };
      const onClose = (): void => {
        socket.removeListener('finish', onFinish);
        waiter(closedError());
      };
      socket.once('finish', onFinish);
      socket.once('close', onClose);
    }
  }

  /** @internal OutputSink: a socket write callback never runs inside write(), nor does this. */
  fail(callback: WriteCallback, error: Error): void {
    process.nextTick(callback, error);
  }

  /**
   * @internal OutputSink: written now when nothing is gathered (no arrays, no bracket); gathered
   * while a bracket is open; with `defer`, gathered until this turn of the event loop has handled
   * its I/O (or until another send, which writes everything gathered first).
   */
  pushWhole(chunk: Buffer, callback: WriteCallback | undefined, defer: boolean): void {
    if (this.holds > 0 || defer || this.chunks !== null || this.callbacks !== null) {
      const first = this.chunks === null && this.callbacks === null;
      this.push(chunk);
      if (callback !== undefined) this.pushCallback(callback);
      if (this.holds > 0) return;
      if (!defer) this.flushGathered();
      else if (first) deferFlush(this);
      return;
    }
    this.flushes++;
    const socket = this.socket;
    if (socket.destroyed === true || socket.writableEnded === true) {
      if (callback !== undefined) process.nextTick(callback, closedError());
      return;
    }
    const ok = socket.write(chunk, callback === undefined ? undefined : makeDone([callback]));
    this.lastWriteResult = ok;
    this.full = !ok;
    this.blocked = ok === false;
    this.afterWrite();
  }

  /** Writes what was gathered outside a bracket (deferred sends), then lets the policy look. */
  flushGathered(): void {
    if (this.holds > 0) return;
    this.flush();
    this.afterWrite();
  }

  /** Called after a write made outside a bracket (the policy looks at what is left unsent). */
  protected afterWrite(): void {}

  /** Gathers output until the matching `release()`: one send, or a batch of input being handled. */
  hold(): void {
    if (this.holds++ === 0) held.push(this);
  }

  /** Ends a `hold()`; the last release writes what was gathered. */
  release(): void {
    if (--this.holds > 0) return;
    // Holds end in the reverse order they began (try/finally on one stack): this is the top one.
    if (held[held.length - 1] === this) held.pop();
    else removeHeld(this);
    this.flush();
  }

  /** Whether the last write found the socket's buffer full (WebSocket-Node's `outputBufferFull`). */
  wouldBlock(): boolean {
    return this.blocked || this.bufferedBytes >= (this.socket.writableHighWaterMark ?? DEFAULT_HIGH_WATER_MARK);
  }

  /** Writes everything gathered so far, now. */
  flush(): void {
    const chunks = this.chunks;
    const callbacks = this.callbacks;
    if (chunks === null && callbacks === null) return;
    const bytes = this.bytes;
    this.chunks = null;
    this.callbacks = null;
    this.token = null;
    this.bytes = 0;
    this.flushes++;
    const socket = this.socket;
    const done = callbacks === null ? undefined : makeDone(callbacks);
    if (socket.destroyed === true || socket.writableEnded === true) {
      // compat fix: WebSocket-Node wrote anyway and turned the close into 1006 plus an 'error' event.
      if (done !== undefined) process.nextTick(done, closedError());
      return;
    }
    if (chunks === null) {
      // Only callbacks: they follow whatever the socket still has queued.
      socket.write(EMPTY, done);
      return;
    }
    let ok: boolean;
    if (chunks.length === 1) {
      ok = socket.write(chunks[0]!, done);
    } else if (bytes <= CONCAT_LIMIT || typeof socket.cork !== 'function') {
      // (A stand-in socket without cork() gets one write too, as WebSocket-Node needs no cork.)
      ok = socket.write(Buffer.concat(chunks, bytes), done);
    } else {
      // Large payloads go out without a copy: a corked run of writes is one writev.
      socket.cork();
      const last = chunks.length - 1;
      for (let i = 0; i < last; i++) socket.write(chunks[i]!);
      ok = socket.write(chunks[last]!, done);
      socket.uncork();
    }
    this.lastWriteResult = ok;
    this.full = !ok;
    this.blocked = ok === false;
  }
}

const EMPTY = Buffer.alloc(0);

/**
 * Outputs holding back gathered frames right now (a stack: holds nest with the call stack). At
 * most a few entries, and empty whenever control is back in the event loop.
 */
const held: SocketOutput[] = [];
let exitHookInstalled = false;

function removeHeld(output: SocketOutput): void {
  const at = held.lastIndexOf(output);
  if (at >= 0) held.splice(at, 1);
}

/**
 * `process.exit()` called from a handler while a batch is dispatched would lose the replies the
 * batch gathered; 'exit' listeners run synchronously before the process ends, and a socket write
 * made there still reaches the kernel at once when it has room. Installed on first use, once.
 */
export function installExitFlush(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', flushHeldOutputs);
}

function flushHeldOutputs(): void {
  for (let i = held.length - 1; i >= 0; i--) held[i]!.flush();
  flushDeferred();
}

/**
 * Outputs with deferred sends, written together in the event loop's check phase (setImmediate):
 * every publish made while this turn's I/O events run (each inbound message of each connection)
 * shares one write per subscriber, instead of one write per publish.
 */
let deferred: SocketOutput[] = [];

function deferFlush(output: SocketOutput): void {
  if (deferred.length === 0) {
    setImmediate(flushDeferred);
    // A process that exits before then still sends them (the 'exit' hook writes them first).
    installExitFlush();
  }
  deferred.push(output);
}

function flushDeferred(): void {
  const outputs = deferred;
  deferred = [];
  for (const output of outputs) output.flushGathered();
}

/** One socket write callback that runs every user callback of the batch, in order. */
function makeDone(callbacks: WriteCallback[]): (error?: Error | null) => void {
  return (error?: Error | null) => {
    for (const callback of callbacks) callback(error ?? undefined);
  };
}
