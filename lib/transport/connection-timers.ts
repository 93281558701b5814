/**
 * A connection's timers: keepalive (ping when idle), its grace period (drop when the ping goes
 * unanswered), and the one close deadline (destroy the socket when the peer does not finish the
 * closing handshake in time). Keepalive waits in a list shared by every connection with the same
 * interval (keepalive-list.ts: one Node timer for all); the others are re-armed in place, never
 * re-created while their duration stays the same, and every callback is a shared function.
 */
import { keepaliveList, type KeepaliveEntry, type KeepaliveList } from './keepalive-list';

/** What the timers call back into: WebSocket-Node's handler names on the connection. */
export interface TimerHost {
  handleKeepaliveTimer(): void;
  handleGracePeriodTimer(): void;
  handleCloseTimer(): void;
}

/** One connection's timers; see the module comment. */
export class ConnectionTimers implements KeepaliveEntry {
  grace: NodeJS.Timeout | null = null;
  deadline: NodeJS.Timeout | null = null;
  private deadlineMs = 0;
  /** @internal KeepaliveEntry: this connection's place in its keepalive list. */
  kaDue = 0;
  kaPrev: KeepaliveEntry | null = null;
  kaNext: KeepaliveEntry | null = null;
  kaList: KeepaliveList | null = null;

  constructor(private readonly host: TimerHost) {}

  /** Whether keepalive is armed. */
  get keepaliveArmed(): boolean {
    return this.kaList !== null;
  }

  /** (Re)starts the idle timer; runs on every received chunk, so re-arming allocates nothing. */
  armKeepalive(ms: number): void {
    this.clearGrace();
    const list = this.kaList;
    (list !== null && list.ms === ms ? list : keepaliveList(ms)).arm(this);
  }

  clearKeepalive(): void {
    this.kaList?.remove(this);
  }

  /** @internal KeepaliveEntry: the keepalive is due (it has left its list). */
  keepaliveDue(): void {
    this.host.handleKeepaliveTimer();
  }

  /** Starts the wait for any sign of life after a keepalive ping. */
  armGrace(ms: number): void {
    this.clearGrace();
    this.grace = setTimeout(onGrace, ms, this.host);
  }

  clearGrace(): void {
    if (this.grace !== null) {
      clearTimeout(this.grace);
      this.grace = null;
    }
  }

  /**
   * Starts (or restarts) the close deadline. `keepAlive` false lets the process exit without
   * waiting for it (after a drop, nothing is left to finish).
   */
  armDeadline(ms: number, keepAlive: boolean): void {
    let timer = this.deadline;
    if (timer !== null && this.deadlineMs === ms) {
      timer.refresh();
    } else {
      this.clearDeadline();
      this.deadlineMs = ms;
      timer = this.deadline = setTimeout(onDeadline, ms, this.host);
    }
    if (keepAlive) timer.ref();
    else timer.unref();
  }

  clearDeadline(): void {
    if (this.deadline !== null) {
      clearTimeout(this.deadline);
      this.deadline = null;
    }
  }

  /** Timer fired: forget its handle before the host acts (the host may re-arm it). */
  fired(which: 'grace' | 'deadline'): void {
    this[which] = null;
  }

  /** The socket is gone: nothing is left to time. */
  clearAll(): void {
    this.clearKeepalive();
    this.clearGrace();
    this.clearDeadline();
  }
}

function onGrace(host: TimerHost): void {
  host.handleGracePeriodTimer();
}

function onDeadline(host: TimerHost): void {
  host.handleCloseTimer();
}
