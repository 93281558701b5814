/**
 * The closing handshake (RFC 6455 §5.5.1, §7) as a pure state machine: it decides which Close frame
 * is due and when, and tells its caller when a close deadline must start and when the TCP
 * connection must be closed. It sends nothing and schedules nothing: the protocol core sends, the
 * transport keeps the deadline.
 */

/**
 * Where the handshake stands: `open`; `closing-local` once we sent our Close first;
 * `closing-remote` once the peer's Close arrived first and we answered; `closed` once both Close
 * frames are exchanged, the connection failed, or the TCP connection is gone.
 */
export type CloseState = 'open' | 'closing-local' | 'closing-remote' | 'closed';

/** RFC 6455 §7.4.1 codes the handshake itself chooses. */
const NORMAL = 1000;
const PROTOCOL_ERROR = 1002;

/** One connection's closing handshake; see the module comment. */
export class ClosingHandshake {
  state: CloseState = 'open';
  /** Whether our Close frame was requested (sent or waiting behind a compression). */
  closeSent = false;
  /** Whether the peer's Close frame arrived. */
  closeReceived = false;

  /**
   * We start the close (RFC 6455 §7.1.2). Returns false when a Close was already sent: an endpoint
   * sends at most one (§5.5.1), so nothing is to be done.
   */
  startLocal(): boolean {
    if (this.closeSent) return false;
    this.closeSent = true;
    if (this.state === 'open') this.state = 'closing-local';
    return true;
  }

  /**
   * The connection is failed (RFC 6455 §7.1.7): returns whether a Close frame may still be sent
   * (only if none was). The handshake is over either way.
   */
  fail(): boolean {
    const maySend = !this.closeSent;
    this.closeSent = true;
    this.state = 'closed';
    return maySend;
  }

  /**
   * The peer's Close arrived. Returns the code of the Close we must answer with, or 0 when none is
   * due (we already sent ours). RFC 6455 §5.5.1: "If an endpoint receives a Close frame and did not
   * previously send a Close frame, the endpoint MUST send a Close frame in response"; a malformed
   * Close (1-byte body, or a code that may not be sent, §7.4.1) is answered with 1002.
   */
  receive(isValid: boolean): number {
    this.closeReceived = true;
    if (this.closeSent) {
      if (this.state !== 'closed') this.state = 'closed';
      return 0;
    }
    // The reply is sent through startLocal(), which then marks our Close as sent.
    this.state = 'closing-remote';
    return isValid ? NORMAL : PROTOCOL_ERROR;
  }

  /** Whether no more frames may be sent: our Close is out (RFC 6455 §5.5.1). */
  get refusesFrames(): boolean {
    return this.closeSent;
  }

  /**
   * Whether a close deadline must run: our Close is out, so the peer has a limited time to finish
   * the handshake and close TCP before we close it ourselves (RFC 6455 §7.1.1: after sending and
   * receiving a Close "the server MUST close the underlying TCP connection immediately"; a client
   * waits for the server to do so, but not forever).
   */
  get needsDeadline(): boolean {
    return this.closeSent;
  }

  /**
   * Whether both Close frames have been exchanged, so the TCP connection must now be closed
   * (RFC 6455 §7.1.1), at once by a server, by the deadline at the latest for a client.
   */
  get mustCloseTcp(): boolean {
    return this.closeSent && this.closeReceived;
  }

  /** The TCP connection is gone: nothing more can happen. */
  socketClosed(): void {
    this.state = 'closed';
  }
}
