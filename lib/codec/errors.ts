/** Typed errors: every protocol violation carries the close code the connection must fail with. */

/** Stable error codes, one per rule, for programs that inspect failures. */
export type WebSocketErrorCode =
  | 'WS_ERR_PROTOCOL'
  | 'WS_ERR_INVALID_UTF8'
  | 'WS_ERR_MESSAGE_TOO_BIG'
  | 'WS_ERR_INTERNAL';

/** An RFC 6455 violation or limit breach; `closeCode` is what the peer is told (RFC 6455 §7.4.1). */
export class WebSocketError extends Error {
  /** A stable identifier of the rule that was broken. */
  readonly code: WebSocketErrorCode;
  /** The close status the connection is failed with. */
  readonly closeCode: number;

  constructor(code: WebSocketErrorCode, closeCode: number, message: string) {
    super(message);
    this.name = 'WebSocketError';
    this.code = code;
    this.closeCode = closeCode;
  }
}

/** A 1002 failure (RFC 6455 §7.4.1: "protocol error"). */
export function protocolError(message: string): WebSocketError {
  return new WebSocketError('WS_ERR_PROTOCOL', 1002, message);
}

/** A 1007 failure (RFC 6455 §8.1: text that is not valid UTF-8). */
export function invalidUtf8Error(message = 'Invalid UTF-8 Data Received'): WebSocketError {
  return new WebSocketError('WS_ERR_INVALID_UTF8', 1007, message);
}

/** A 1009 failure: a frame or message over the configured limit. */
export function tooBigError(message: string): WebSocketError {
  return new WebSocketError('WS_ERR_MESSAGE_TOO_BIG', 1009, message);
}
