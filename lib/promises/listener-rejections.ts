/**
 * Keeps the promise API from crashing 1.x code written with async listeners. An async arrow that
 * returns a send, `connection.on('message', async (m) => connection.sendUTF(reply))`, hands our
 * awaitable to the async function's own promise, which nobody holds: if the send fails (the peer
 * went away meanwhile) that promise rejects unhandled, and Node's default policy ends the process,
 * where websocket@1.0.35 (whose sends return undefined) carried on.
 *
 * The emitters of this package therefore capture their listeners' rejections (EventEmitter's
 * `captureRejections`). A rejection that is one of our send failures is dropped, as 1.x dropped the
 * failed write; any other is raised again as an unhandled rejection, so an application's own
 * errors meet the process's policy exactly as before.
 */

/** Errors our send results rejected with: a listener that let one escape is not at fault. */
const sendFailures = new WeakSet<object>();

/** Marks `error` as a send failure and returns it. */
export function markSendFailure(error: Error): Error {
  sendFailures.add(error);
  return error;
}

/** EventEmitter's `captureRejections` hook for our classes: see the module comment. */
export function handleListenerRejection(error: unknown): void {
  if (typeof error === 'object' && error !== null && sendFailures.has(error)) return;
  void Promise.reject(error);
}

/** The options our emitters are constructed with. */
export const CAPTURE_REJECTIONS = { captureRejections: true } as const;

/** The symbol EventEmitter calls with a captured rejection. */
export const kRejection: unique symbol = Symbol.for('nodejs.rejection') as never;
