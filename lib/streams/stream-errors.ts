/**
 * `WebSocketError`: the WHATWG WebSocketStream's exception (a DOMException named "WebSocketError"
 * carrying `closeCode` and `reason`). The stream rejects with it; an application can construct one
 * and pass it to `writable.abort()` / `readable.cancel()` to choose the close code sent. (The Node
 * Duplex reports abnormal closes with the promise layer's ConnectionClosedError, as
 * `connection.messages()` does.)
 */
import { checkCloseInfo, type WebSocketCloseInfo } from './websocket-stream-arguments';

/** Set only while `createWebSocketError()` constructs: the values to take without checking them. */
let unchecked: { closeCode: number; reason: string } | null = null;

/** DOMException's shape as far as these declarations need it. */
interface DOMExceptionLike extends Error {
  readonly code: number;
}

/**
 * DOMException under a structural type: the emitted declarations then never name DOMException,
 * which a consumer's @types/node (before 20) or lib settings may not declare.
 */
const DOMExceptionBase: new (message?: string, name?: string) => DOMExceptionLike = DOMException;

/** The WHATWG WebSocketStream's exception: a DOMException named "WebSocketError" with `closeCode` and `reason`. */
export class WebSocketError extends DOMExceptionBase {
  readonly #closeCode: number | null;
  readonly #reason: string;

  constructor(message = '', init: WebSocketCloseInfo = {}) {
    super(message, 'WebSocketError');
    if (unchecked !== null) {
      // A close the connection reported (1006, 1002, ...): codes an application may not send.
      this.#closeCode = unchecked.closeCode;
      this.#reason = unchecked.reason;
      return;
    }
    const checked = checkCloseInfo(init);
    this.#closeCode = checked.closeCode;
    this.#reason = checked.reason;
  }

  /** The close code (null when none was given). */
  get closeCode(): number | null {
    return this.#closeCode;
  }

  /** The close reason ('' when none). */
  get reason(): string {
    return this.#reason;
  }
}

/**
 * A WebSocketError for a close that happened, with any code (1006 included, which the public
 * constructor refuses), and the underlying error, if any, as `cause`.
 */
export function createWebSocketError(message: string, closeCode: number, reason: string, cause?: unknown): WebSocketError {
  unchecked = { closeCode, reason };
  let error: WebSocketError;
  try {
    error = new WebSocketError(message);
  } finally {
    unchecked = null;
  }
  if (cause !== undefined) {
    // DOMException's constructor takes no `cause` before Node 20; define it as Error does.
    Object.defineProperty(error, 'cause', { value: cause, writable: true, configurable: true, enumerable: false });
  }
  return error;
}
