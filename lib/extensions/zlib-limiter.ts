/**
 * A process-wide limit on zlib jobs in flight. zlib runs on libuv's small thread pool; without a
 * limit, many connections compressing at once queue unbounded work and memory there.
 */

type Job = (done: () => void) => void;

/** Runs jobs with at most `limit` in flight, in arrival order. */
export class Limiter {
  private running = 0;
  private readonly queue: Job[] = [];

  constructor(public limit: number) {}

  /** Queues `job`; it must call `done` exactly once when it finishes. */
  add(job: Job): void {
    this.queue.push(job);
    this.next();
  }

  private next(): void {
    while (this.running < this.limit && this.queue.length > 0) {
      const job = this.queue.shift()!;
      this.running++;
      let finished = false;
      job(() => {
        if (finished) return;
        finished = true;
        this.running--;
        this.next();
      });
    }
  }
}

let shared: Limiter | null = null;

/** The limiter every connection shares; `limit` (when given) updates its size. */
export function sharedLimiter(limit?: number): Limiter {
  if (shared === null) shared = new Limiter(limit ?? 10);
  else if (limit !== undefined && limit > 0) shared.limit = limit;
  return shared;
}
