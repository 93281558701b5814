/**
 * What a connection does when its peer stops reading: pongs are coalesced (only the latest ping is
 * answered, on 'drain'), a peer that keeps pinging meanwhile is dropped, `maxBufferedBytes` drops a
 * connection whose unsent output passes it, and reading stops while the unsent output is above the
 * back-pressure threshold, so TCP's own flow control reaches a sender that floods us with requests
 * whose replies it never reads. The mechanics of writing are SocketOutput's; this adds the policy.
 */
import { SocketOutput } from './socket-output';

/**
 * Pings a peer may send while our output to it is blocked (it is not reading) before it is dropped
 * with 1008. Only the latest is answered meanwhile, so this bounds work, not memory.
 */
export const MAX_PINGS_WHILE_BLOCKED = 100;

/**
 * Unsent bytes above which reading from the peer stops until the socket drains (the default of
 * the `backpressureThreshold` option). Large enough for ordinary replies never to pause anything,
 * small enough that a peer which sends and never reads costs a few MiB, not all of memory.
 */
export const DEFAULT_BACKPRESSURE_THRESHOLD = 4 * 1024 * 1024;

/** The outcome of a received ping under this policy. */
export type PingOutcome = 'answer' | 'held' | 'drop';

/** Told when a write leaves output waiting above the socket's high-water mark. */
export interface OutputHost {
  onOutputBlocked(): void;
}

/** A connection's output with its back-pressure policy; see the module comment. */
export class ConnectionOutput extends SocketOutput {
  /** The latest ping left unanswered while the output was blocked. */
  pendingPong: Buffer | null = null;
  /** Pings received since the socket reported a full buffer (reset by 'drain'). */
  private pingsWhileBlocked = 0;

  constructor(
    socket: ConstructorParameters<typeof SocketOutput>[0],
    private readonly host: OutputHost,
  ) {
    super(socket);
  }

  /** Ends a bracket; after the write, the policy looks at what is left unsent. */
  override release(): void {
    super.release();
    if (this.holds === 0) this.afterWrite();
  }

  protected override afterWrite(): void {
    if (this.wouldBlock()) this.host.onOutputBlocked();
  }

  /**
   * RFC 6455 §5.5.2: a Ping MUST be answered with a Pong -- but a peer that pings and never reads
   * must not make pongs pile up: while the output is blocked only the latest ping is answered,
   * once it drains (§5.5.3 allows answering only the most recent one). Only pings after the socket
   * itself reported a full buffer count toward the drop, not those of a burst that merely filled
   * one batch's output.
   */
  onPing(payload: Buffer): PingOutcome {
    if (!this.wouldBlock()) return 'answer';
    this.pendingPong = payload;
    if (this.blocked && ++this.pingsWhileBlocked > MAX_PINGS_WHILE_BLOCKED) return 'drop';
    return 'held';
  }

  /** Whether the unsent output passed `maxBufferedBytes` (unset or 0: no limit). */
  overLimit(limit: unknown): boolean {
    return typeof limit === 'number' && limit > 0 && this.bufferedBytes > limit;
  }

  /**
   * Whether reading must stop: the socket said its buffer is full (so a 'drain' will come and end
   * the pause) and the unsent output is above `threshold` (unset: the default; 0: never).
   */
  shouldStopReading(threshold: unknown): boolean {
    const limit = typeof threshold === 'number' ? threshold : DEFAULT_BACKPRESSURE_THRESHOLD;
    return this.blocked && limit > 0 && this.bufferedBytes > limit;
  }

  /** The socket drained: returns the ping still owed a pong, if any. */
  onDrain(): Buffer | null {
    this.full = false;
    this.blocked = false;
    this.pingsWhileBlocked = 0;
    const pong = this.pendingPong;
    this.pendingPong = null;
    return pong;
  }
}
