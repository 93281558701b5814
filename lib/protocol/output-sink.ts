/** Where the core's encoded frames go; the transport implements it and decides when to write. */
import type { ChunkSink } from '../codec/frame-writer';

/** Called once the bytes it was attached to are written, or with the error that stopped them. */
export type WriteCallback = (error?: Error) => void;

/** Ordered output with write-completion callbacks. */
export interface OutputSink extends ChunkSink {
  /** Calls `callback` once everything pushed so far has been written (or failed). */
  pushCallback(callback: WriteCallback): void;
}
