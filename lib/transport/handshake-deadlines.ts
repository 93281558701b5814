/**
 * handshakeTimeout for all of a server's pending requests with one timer: each request carries
 * its deadline, the timer runs to the earliest one. A request answered in time costs no timer and
 * no closure; requests usually share one timeout, so deadlines follow arrival order and a firing
 * looks only at the requests it refuses.
 */
import { timerDelay } from './timer-delay';

/** What the deadlines read on a pending request. */
export interface TimedRequest {
  /** When it is refused (a performance.now() time); 0: no deadline. */
  _deadline: number;
  _resolved: boolean;
}

/** The deadlines of one server's pending requests; see the module comment. */
export class HandshakeDeadlines<R extends TimedRequest> {
  private timer: NodeJS.Timeout | null = null;
  private firesAt = 0;
  private lastDeadline = 0;
  /** False once a deadline came before an earlier arrival's (the timeout was changed): scan all. */
  private ordered = true;

  /**
   * `pending` is the server's list of pending requests in arrival order (a request leaves it when
   * resolved); `expire` refuses one whose time is up.
   */
  constructor(
    private readonly pending: readonly R[],
    private readonly expire: (request: R) => void,
  ) {}

  /** Gives `request` (already in the pending list) `ms` milliseconds to be answered. */
  add(request: R, ms: number): void {
    const now = performance.now();
    const deadline = now + ms;
    request._deadline = deadline;
    if (deadline < this.lastDeadline) this.ordered = false;
    this.lastDeadline = deadline;
    // The delay is `ms` itself, not `deadline - now`: that difference can round up past `ms` in
    // floating point, and ceil() would then make the timer one millisecond late.
    if (this.timer === null || deadline < this.firesAt) this.arm(deadline, ms);
  }

  /** The timer fired: refuses every request whose time is up, then waits for the next deadline. */
  fire(): void {
    this.timer = null;
    // The timer ran for the time it was set for: that much has passed, whatever the clock says
    // (a timer may run early by a fraction of a millisecond, or be driven by faked timers).
    const now = Math.max(performance.now(), this.firesAt);
    const pending = this.pending;
    let next = Infinity;
    let i = 0;
    while (i < pending.length) {
      const request = pending[i] as R;
      const deadline = request._deadline;
      if (deadline !== 0 && !request._resolved) {
        if (deadline <= now) {
          this.expire(request);
          // Refusing it took it off the list; if something kept it there, go past it.
          if (pending[i] === request) i++;
          continue;
        }
        if (deadline < next) next = deadline;
        // In arrival order, the first request still in time is the earliest deadline left.
        if (this.ordered) break;
      }
      i++;
    }
    if (next === Infinity) {
      this.ordered = true;
      this.lastDeadline = 0;
    } else {
      this.arm(next, next - now);
    }
  }

  /** Stops the timer (the server is shut down); pending requests are the server's to refuse. */
  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Runs the timer to the deadline `at`, `delay` milliseconds from now. */
  private arm(at: number, delay: number): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.firesAt = at;
    // Never keeps the process alive: a timer is the only thing a pending request would leave.
    this.timer = setTimeout(onDeadline, timerDelay(delay), this);
    this.timer.unref();
  }
}

function onDeadline(deadlines: { fire(): void }): void {
  deadlines.fire();
}
