/**
 * The completion of one socket write, shared by every send that went into it. A send that may be
 * awaited takes the token of the write its bytes leave in; the token settles when that write's
 * callback runs. Sends gathered into one batch share one token (and one callback), so promise
 * support costs one small object per write, not per message.
 */

/** Settles a waiter: no error, or the Error that stopped the write. */
export type TokenWaiter = (error: Error | undefined) => void;

/** One pending or finished socket write; see the module comment. */
export class WriteToken {
  /** 0 pending, 1 written, 2 failed. */
  private state = 0;
  private error: Error | undefined = undefined;
  private waiters: TokenWaiter[] | null = null;
  /** The write callback: settles the token. */
  readonly callback = (error?: Error | null): void => {
    if (this.state !== 0) return;
    this.state = error ? 2 : 1;
    this.error = error ?? undefined;
    const waiters = this.waiters;
    this.waiters = null;
    if (waiters !== null) for (const waiter of waiters) waiter(this.error);
  };

  /** Calls `waiter` once the write is done (at once, synchronously, if it already is). */
  whenDone(waiter: TokenWaiter): void {
    if (this.state !== 0) waiter(this.error);
    else (this.waiters ??= []).push(waiter);
  }
}
