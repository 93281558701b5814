/**
 * The read side of a connection's socket: received chunks are gathered and parsed on the next tick
 * (as WebSocket-Node emits its events after the 'data' event), and the socket's flow is switched
 * for three independent reasons, each with its own owner: the application (`pause()`), a message
 * being inflated, and back-pressure (our unsent output is too large). The socket's own 'pause' /
 * 'resume' events caused by the last two are not the application's, so they are counted and kept
 * from being reported as such.
 */
import type { Socket } from 'node:net';

/** Why reading is stopped, besides the application: bit flags, so each reason is released alone. */
export const INFLATING = 1;
export const BACKPRESSURE = 2;
/** A consumer of `connection.messages()` has more buffered than it wants. */
export const CONSUMER = 4;

/** What the input calls back into: WebSocket-Node's `processReceivedData` on the connection. */
export interface InputHost {
  processReceivedData(): void;
}

/** One connection's socket input; see the module comment. */
export class SocketInput {
  /** Chunks received but not yet parsed; null when none. */
  private received: Buffer[] | null = null;
  private scheduled = false;
  /** INFLATING | BACKPRESSURE | CONSUMER: the reasons of ours that currently stop reading. */
  private reasons = 0;
  /** Paused by the application: reading and parsing wait for its `resume()`. */
  userPaused = false;
  /** 'pause' events our own flow changes caused (Readable emits them synchronously, one per change). */
  private ownPauseEvents = 0;
  /**
   * Whether the next 'resume' event is ours: Readable emits one a tick after resume(), however
   * many resume() calls that tick saw, so this is a flag, not a count.
   */
  private ownResumePending = false;

  constructor(
    private readonly socket: Socket,
    private readonly host: InputHost,
  ) {}

  /** Keeps a received chunk and makes sure a parse runs on the next tick. */
  push(chunk: Buffer): void {
    (this.received ??= []).push(chunk);
    this.schedule();
  }

  /** Keeps a chunk and parses it (with whatever follows it) on the next macrotask instead. */
  pushDeferred(chunk: Buffer): void {
    (this.received ??= []).push(chunk);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(processOnTick, this.host);
  }

  /** Takes every chunk kept so far. */
  take(): Buffer[] | null {
    this.scheduled = false;
    const received = this.received;
    this.received = null;
    return received;
  }

  /** Whether chunks are waiting to be parsed. */
  get hasReceived(): boolean {
    return this.received !== null;
  }

  /** Drops what waits: after a Close or a failure, received bytes are discarded unstored. */
  discard(): void {
    this.received = null;
  }

  /** Runs the host's parse on the next tick, unless one is already due. */
  schedule(): void {
    if (this.scheduled || this.received === null) return;
    this.scheduled = true;
    process.nextTick(processOnTick, this.host);
  }

  /** Whether reading is stopped by one of our reasons. */
  has(reason: number): boolean {
    return (this.reasons & reason) !== 0;
  }

  /** Stops reading for one of our reasons (the application's own pause is separate). */
  stop(reason: number): void {
    const before = this.reasons;
    this.reasons |= reason;
    if (before === 0) this.setFlow(false);
  }

  /** Releases one of our reasons; reading resumes once none is left and the application has not paused. */
  release(reason: number): void {
    if ((this.reasons & reason) === 0) return;
    this.reasons &= ~reason;
    if (this.reasons === 0 && !this.userPaused) this.setFlow(true);
  }

  /** The application's `pause()`: the socket's own event is reported as WebSocket-Node does. */
  pauseByUser(): void {
    this.userPaused = true;
    if (typeof this.socket.pause === 'function') this.socket.pause();
  }

  /** The application's `resume()`: the socket flows again unless one of our reasons still holds it. */
  resumeByUser(): void {
    this.userPaused = false;
    if (this.reasons === 0 && typeof this.socket.resume === 'function') this.socket.resume();
  }

  /** A 'pause' event from the socket: false when it was ours (not to be reported). */
  isUserPauseEvent(): boolean {
    if (this.ownPauseEvents > 0) {
      this.ownPauseEvents--;
      return false;
    }
    return true;
  }

  /** A 'resume' event from the socket: false when it was ours (not to be reported). */
  isUserResumeEvent(): boolean {
    if (this.ownResumePending) {
      this.ownResumePending = false;
      return false;
    }
    return true;
  }

  private setFlow(flowing: boolean): void {
    const socket = this.socket;
    // A stand-in socket (tests, embedders) may not be a stream at all: nothing to switch then.
    if (typeof socket.pause !== 'function' || typeof socket.resume !== 'function') return;
    if (flowing) {
      // Readable.resume() emits 'resume' (on the next tick) only when the stream was not flowing.
      if (socket.readableFlowing !== true) this.ownResumePending = true;
      socket.resume();
    } else {
      if (socket.readableFlowing !== false) this.ownPauseEvents++;
      socket.pause();
    }
  }
}

function processOnTick(host: InputHost): void {
  host.processReceivedData();
}
