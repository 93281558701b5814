/**
 * Batches the frames a connection produces and writes them to the socket in as few writes as
 * possible: everything produced while handling one batch of input, or in one tick of user code,
 * goes out as one `write()` (small frames concatenated) or one corked `writev`.
 */
import type { Socket } from 'node:net';
import type { OutputSink, WriteCallback } from '../protocol/output-sink';

/** Below this total, copying the frames into one buffer is cheaper than a writev of many. */
const CONCAT_LIMIT = 16384;

/** Error handed to callbacks of data sent after the socket stopped accepting writes. */
function notWritableError(): Error {
  const error = new Error('The WebSocket connection is closed; data was not sent.') as Error & { code: string };
  error.code = 'ERR_STREAM_WRITE_AFTER_END';
  return error;
}

/** The socket side of a connection's output; see the module comment. */
export class SocketOutput implements OutputSink {
  // Made on the first push after a flush: an idle connection holds no arrays.
  private chunks: Buffer[] | null = null;
  private bytes = 0;
  private callbacks: WriteCallback[] | null = null;
  private holds = 0;
  private scheduled = false;
  /** The socket's answer to the last write: false means its buffer is above the high-water mark. */
  full = false;

  constructor(private readonly socket: Socket) {}

  /** Bytes accepted but not yet handed to the kernel: ours plus the socket's own buffer. */
  get bufferedBytes(): number {
    return this.bytes + this.socket.writableLength;
  }

  /** @internal OutputSink */
  push(chunk: Buffer): void {
    (this.chunks ??= []).push(chunk);
    this.bytes += chunk.length;
    this.schedule();
  }

  /** @internal OutputSink */
  pushCallback(callback: WriteCallback): void {
    (this.callbacks ??= []).push(callback);
    this.schedule();
  }

  /** Defers writing until `release()`: used while a batch of input is being handled. */
  hold(): void {
    this.holds++;
  }

  /** Ends a `hold()`; the last release writes what was gathered. */
  release(): void {
    if (--this.holds === 0) this.flush();
  }

  /** Whether the last write found the socket's buffer full (WebSocket-Node's `outputBufferFull`). */
  wouldBlock(): boolean {
    return this.full || this.bufferedBytes >= this.socket.writableHighWaterMark;
  }

  private schedule(): void {
    if (this.holds === 0 && !this.scheduled) {
      this.scheduled = true;
      process.nextTick(flushOnTick, this);
    }
  }

  /** Writes everything gathered so far, now. */
  flush(): void {
    this.scheduled = false;
    const chunks = this.chunks;
    const callbacks = this.callbacks;
    if (chunks === null && callbacks === null) return;
    const bytes = this.bytes;
    this.chunks = null;
    this.callbacks = null;
    this.bytes = 0;
    const socket = this.socket;
    const done = callbacks === null ? undefined : makeDone(callbacks);
    if (socket.destroyed || socket.writableEnded) {
      // compat fix: WebSocket-Node wrote anyway and turned the close into 1006 plus an 'error' event.
      if (done !== undefined) process.nextTick(done, notWritableError());
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
    } else if (bytes <= CONCAT_LIMIT) {
      ok = socket.write(Buffer.concat(chunks, bytes), done);
    } else {
      socket.cork();
      const last = chunks.length - 1;
      for (let i = 0; i < last; i++) socket.write(chunks[i]!);
      ok = socket.write(chunks[last]!, done);
      socket.uncork();
    }
    this.full = !ok;
  }
}

const EMPTY = Buffer.alloc(0);

function flushOnTick(output: SocketOutput): void {
  output.flush();
}

/** One socket write callback that runs every user callback of the batch, in order. */
function makeDone(callbacks: WriteCallback[]): (error?: Error | null) => void {
  return (error?: Error | null) => {
    for (const callback of callbacks) callback(error ?? undefined);
  };
}
