/** What the protocol core reports to the layer above; plain method calls, no event objects on the hot path. */
import type { WebSocketError } from '../codec/errors';

/** A received frame, whole, as reported when messages are not assembled (`assembleFragments: false`). */
export interface ReceivedFrame {
  readonly fin: boolean;
  readonly rsv1: boolean;
  readonly rsv2: boolean;
  readonly rsv3: boolean;
  readonly opcode: number;
  readonly masked: boolean;
  readonly maskKey: Buffer;
  readonly payload: Buffer;
}

/** A close frame from the peer (RFC 6455 §5.5.1), already checked. */
export interface ReceivedClose {
  /** The status code; 1005 when the body was empty (RFC 6455 §7.1.5). */
  readonly code: number;
  /** The reason decoded as UTF-8, or undefined when there was none. */
  readonly reason: string | undefined;
  /** False for a 1-byte body or a code that may not be sent (RFC 6455 §7.4). */
  readonly isValid: boolean;
  /**
   * The code of the Close this end must answer with, chosen by the closing handshake (1000, or
   * 1002 for a malformed Close, RFC 6455 §5.5.1, §7.4.1); 0 when our Close was already sent.
   */
  readonly reply: number;
}

/** Receives the core's events. Called synchronously from `receive()`. */
export interface ProtocolHandler {
  /** A complete message: a string for text, a Buffer for binary. */
  onMessage(data: string | Buffer): void;
  /** Every frame, when messages are not assembled. */
  onFrame(frame: ReceivedFrame): void;
  /** A ping arrived; answering is the handler's choice (WebSocket-Node lets listeners cancel it). */
  onPing(payload: Buffer): void;
  /** A pong arrived. */
  onPong(payload: Buffer): void;
  /** The peer started or answered the closing handshake; nothing after it is parsed. */
  onClose(close: ReceivedClose): void;
  /** True while a received message is being inflated and parsing waits; false when it resumes. */
  onBusy(busy: boolean): void;
  /** The peer broke a rule; the connection must be failed with `error.closeCode` (RFC 6455 §7.1.7). */
  onError(error: WebSocketError): void;
}
