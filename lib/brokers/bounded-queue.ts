/**
 * A first-in first-out queue that never holds more than `limit` items: a push beyond it drops the
 * oldest, and the drops are counted. What a broker publishes while its bus is unreachable waits
 * here, so an outage costs bounded memory instead of all of it.
 */
export class BoundedQueue<T> {
  private items: Array<T | undefined> = [];
  private head = 0;
  /** Items dropped to stay within the limit, ever. */
  dropped = 0;

  constructor(readonly limit: number) {}

  /** Items waiting. */
  get length(): number {
    return this.items.length - this.head;
  }

  /** Appends `item`; the oldest is dropped if the queue is full (a limit of 0 keeps nothing). */
  push(item: T): void {
    if (this.limit <= 0) {
      this.dropped++;
      return;
    }
    if (this.length >= this.limit) {
      this.items[this.head++] = undefined;
      this.dropped++;
    }
    this.items.push(item);
    // Compact now and then, so the array does not keep growing at its front.
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }

  /** Removes and returns every item, oldest first. */
  drain(): T[] {
    const out = this.items.slice(this.head) as T[];
    this.items = [];
    this.head = 0;
    return out;
  }
}
