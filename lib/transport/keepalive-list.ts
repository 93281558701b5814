/**
 * Keepalive timers shared by every connection with the same interval: one Node timer per interval,
 * not one per connection. The connections waiting on an interval form a list ordered by deadline:
 * all wait the same time, so a connection re-armed by incoming data simply moves to the end, and
 * the one timer runs to the deadline at the head. Re-arming (on every received chunk) allocates
 * nothing; an idle connection carries three fields instead of a Timeout.
 */
import { timerDelay } from './timer-delay';

/** A connection's place in a keepalive list (fields kept on the connection's timers). */
export interface KeepaliveEntry {
  /** When its keepalive is due (a performance.now() time). */
  kaDue: number;
  kaPrev: KeepaliveEntry | null;
  kaNext: KeepaliveEntry | null;
  /** The list it waits in; null when its keepalive is not armed. */
  kaList: KeepaliveList | null;
  /** Called when its keepalive is due (the entry has left the list). */
  keepaliveDue(): void;
}

/** The connections waiting on one keepalive interval, oldest deadline first. */
export class KeepaliveList {
  private head: KeepaliveEntry | null = null;
  private tail: KeepaliveEntry | null = null;
  private size = 0;
  private timer: NodeJS.Timeout | null = null;
  /** What the timer was set for. */
  private firesAt = 0;

  constructor(readonly ms: number) {}

  /** Arms (or re-arms) `entry`'s keepalive: due `ms` from now, at the end of the list. */
  arm(entry: KeepaliveEntry): void {
    const now = performance.now();
    entry.kaDue = now + this.ms;
    if (entry.kaList === this) {
      if (this.tail === entry) return;
      this.unlink(entry);
    } else if (entry.kaList !== null) {
      entry.kaList.remove(entry);
    }
    entry.kaList = this;
    entry.kaPrev = this.tail;
    entry.kaNext = null;
    if (this.tail === null) this.head = entry;
    else this.tail.kaNext = entry;
    this.tail = entry;
    this.size++;
    // The head's deadline can only be earlier than one just appended: a running timer stays right.
    // The delay is `ms` itself: `kaDue - now` can round up past it in floating point (a timer
    // one millisecond late once ceil() is applied).
    if (this.timer === null) this.schedule(entry.kaDue, this.ms);
  }

  /** Disarms `entry`'s keepalive. */
  remove(entry: KeepaliveEntry): void {
    if (entry.kaList !== this) return;
    this.unlink(entry);
    entry.kaList = null;
    if (this.size === 0 && this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  /** The timer fired: every connection whose keepalive is due is told, then the timer waits for the next. */
  fire(): void {
    this.timer = null;
    // The timer ran for the time it was set for, whatever the clock says (a timer may run a
    // fraction of a millisecond early, or be driven by faked timers).
    const now = Math.max(performance.now(), this.firesAt);
    // Those re-armed while this runs go to the end, due later; the count bounds the loop even so.
    let budget = this.size;
    let entry = this.head;
    try {
      while (entry !== null && entry.kaDue <= now && budget-- > 0) {
        this.unlink(entry);
        entry.kaList = null;
        entry.keepaliveDue();
        entry = this.head;
      }
    } finally {
      // Even when a handler threw: the others still get their keepalive.
      if (this.head !== null && this.timer === null) this.schedule(this.head.kaDue, this.head.kaDue - now);
    }
  }

  private unlink(entry: KeepaliveEntry): void {
    const prev = entry.kaPrev;
    const next = entry.kaNext;
    if (prev === null) this.head = next;
    else prev.kaNext = next;
    if (next === null) this.tail = prev;
    else next.kaPrev = prev;
    entry.kaPrev = null;
    entry.kaNext = null;
    this.size--;
  }

  /** Sets the timer for the deadline `at`, `delay` milliseconds from now. */
  private schedule(at: number, delay: number): void {
    this.firesAt = at;
    // Ref'd, as each connection's own keepalive timer was in WebSocket-Node: an armed keepalive
    // keeps the process alive.
    this.timer = setTimeout(onListTimer, timerDelay(delay), this);
  }
}

function onListTimer(list: KeepaliveList): void {
  list.fire();
}

const lists = new Map<number, KeepaliveList>();

/** Node's largest timer delay; setTimeout() takes anything outside 1..this as 1 ms. */
const TIMEOUT_MAX = 2 ** 31 - 1;

/** The shared list for an interval (made on first use; an empty one holds no timer). */
export function keepaliveList(interval: number): KeepaliveList {
  // The delay setTimeout() would have used for this interval (WebSocket-Node passed it as is).
  const ms = interval >= 1 && interval <= TIMEOUT_MAX ? interval : 1;
  let list = lists.get(ms);
  if (list === undefined) {
    list = new KeepaliveList(ms);
    lists.set(ms, list);
  }
  return list;
}
