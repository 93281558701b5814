/**
 * A connection's timers: keepalive (ping when idle), its grace period (drop when the ping goes
 * unanswered), and the one close deadline (destroy the socket when the peer does not finish the
 * closing handshake in time). Each is re-armed in place, never re-created while its duration stays
 * the same, and every callback is a shared function: no closure per connection.
 */

/** What the timers call back into: WebSocket-Node's handler names on the connection. */
export interface TimerHost {
  handleKeepaliveTimer(): void;
  handleGracePeriodTimer(): void;
  handleCloseTimer(): void;
}

/** One connection's timers; see the module comment. */
export class ConnectionTimers {
  keepalive: NodeJS.Timeout | null = null;
  grace: NodeJS.Timeout | null = null;
  deadline: NodeJS.Timeout | null = null;
  /** The duration `keepalive` was made with: `refresh()` reuses it, so another one needs a new timer. */
  private keepaliveMs = 0;
  private deadlineMs = 0;

  constructor(private readonly host: TimerHost) {}

  /** (Re)starts the idle timer; runs on every received chunk, so re-arming allocates nothing. */
  armKeepalive(ms: number): void {
    this.clearGrace();
    if (this.keepalive !== null && this.keepaliveMs === ms) {
      this.keepalive.refresh();
      return;
    }
    this.clearKeepalive();
    this.keepaliveMs = ms;
    this.keepalive = setTimeout(onKeepalive, ms, this.host);
  }

  clearKeepalive(): void {
    if (this.keepalive !== null) {
      clearTimeout(this.keepalive);
      this.keepalive = null;
    }
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
  fired(which: 'keepalive' | 'grace' | 'deadline'): void {
    this[which] = null;
  }

  /** The socket is gone: nothing is left to time. */
  clearAll(): void {
    this.clearKeepalive();
    this.clearGrace();
    this.clearDeadline();
  }
}

function onKeepalive(host: TimerHost): void {
  host.handleKeepaliveTimer();
}

function onGrace(host: TimerHost): void {
  host.handleGracePeriodTimer();
}

function onDeadline(host: TimerHost): void {
  host.handleCloseTimer();
}
