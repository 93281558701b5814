/** Where the core's encoded frames go; the transport implements it and decides when to write. */
import type { ChunkSink } from '../codec/frame-writer';

/** Called once the bytes it was attached to are written, or with the error that stopped them. */
export type WriteCallback = (error?: Error) => void;

/** Ordered output with write-completion callbacks. */
export interface OutputSink extends ChunkSink {
  /** Calls `callback` once everything pushed so far has been written (or failed). */
  pushCallback(callback: WriteCallback): void;
  /**
   * Calls `callback` with `error`, later: never from inside the send that failed, as a socket
   * write's callback never runs inside `write()` (the core schedules nothing itself).
   */
  fail(callback: WriteCallback, error: Error): void;
  /**
   * Brackets one send: what is pushed until the matching `release()` leaves together, in one
   * write, when the outermost bracket closes. Brackets nest.
   */
  hold(): void;
  /** Closes a `hold()` bracket. */
  release(): void;
  /**
   * One whole send, already framed (a shared fan-out message): as `hold(); push(); pushCallback();
   * release()`, without the bookkeeping when nothing is held. With `defer` the write may wait until
   * the event loop's current turn has handled its I/O, together with the connection's other
   * deferred sends (the publishes of a whole turn become one write); any other send made meanwhile
   * writes them first, keeping order.
   */
  pushWhole(chunk: Buffer, callback: WriteCallback | undefined, defer: boolean): void;
}

/** The Error given to callbacks of data sent once the connection no longer accepts frames. */
export function closedError(): Error {
  const error = new Error('The WebSocket connection is closed; data was not sent.') as Error & { code: string };
  // The code a socket gives for a write after end(): code that checked it keeps working.
  error.code = 'ERR_STREAM_WRITE_AFTER_END';
  return error;
}
