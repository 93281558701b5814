/**
 * WebSocketConnection's event handling: the socket's events, the protocol core's, keepalive and
 * the close deadline, each under its WebSocket-Node name. Each handler decides only what upstream's
 * API promises (state strings, close codes, which event fires); the core decides what the bytes
 * mean, and the transport owns the socket's flow, output policy and timers.
 */
import type { WebSocketError } from '../codec/errors';
import type { ReceivedClose } from '../protocol/events';
import type { WriteCallback } from '../protocol/output-sink';
import { BACKPRESSURE, CONSUMER, INFLATING } from '../transport/socket-input';
import { CLOSE_REASONS, descriptionOf } from '../close-reasons';
import type { IStringified, Message } from '../public-types';
import { ConnectionFields } from './connection-fields';

/** Error shape of socket errors (`syscall`, `code`). */
interface SystemError extends Error {
  syscall?: string;
  code?: string;
}

/** WebSocketConnection's handlers; see the module comment. */
export abstract class ConnectionEvents extends ConnectionFields {
  // ---- keepalive (WebSocket-Node's names) ----

  /** (Re)starts the idle timer; any received data calls this. */
  setKeepaliveTimer(): void {
    this._debug('setKeepaliveTimer');
    const config = this.config;
    if (config.keepalive !== true || config.useNativeKeepalive === true) return;
    this._timers.armKeepalive(config.keepaliveInterval as number);
  }

  clearKeepaliveTimer(): void {
    this._timers.clearKeepalive();
  }

  handleKeepaliveTimer(): void {
    this._debug('handleKeepaliveTimer');
    this.ping();
    if (this.config.dropConnectionOnKeepaliveTimeout === true) {
      this.setGracePeriodTimer();
    } else {
      this.setKeepaliveTimer();
    }
  }

  setGracePeriodTimer(): void {
    this._timers.armGrace(this.config.keepaliveGracePeriod as number);
  }

  clearGracePeriodTimer(): void {
    this._timers.clearGrace();
  }

  handleGracePeriodTimer(): void {
    this._debug('handleGracePeriodTimer');
    this._timers.fired('grace');
    if (this._input.has(BACKPRESSURE | CONSUMER)) {
      // We stopped reading ourselves (the peer is not reading our output, or a messages() consumer
      // is behind): its answer may be waiting unread, so silence proves nothing. Keep pinging;
      // reading resumes on 'drain' or when the consumer catches up.
      this.setKeepaliveTimer();
      return;
    }
    this.drop(CLOSE_REASONS.CLOSE_REASON_ABNORMAL, 'Peer not responding.', true);
  }

  // ---- receiving ----

  /** Takes bytes from the socket; they are parsed on the next tick, as in WebSocket-Node. */
  handleSocketData(data: Buffer): void {
    this._debug('handleSocketData');
    // Any received data proves the peer is alive (WebSocket-Node restarts keepalive on every chunk).
    this.setKeepaliveTimer();
    // After a Close either way, or a failure, nothing more is parsed: the bytes are dropped unstored,
    // so a peer that streams data after its Close cannot grow our memory.
    if (!this.connected) return;
    this._input.push(data);
  }

  /**
   * The bytes that came with the handshake response (client side). Parsed one macrotask later than
   * other input (setImmediate, not nextTick), and everything received meanwhile waits behind them:
   * code that awaits `client.connect()` resumes in a microtask, and so gets to attach its
   * `'message'` listener or `messages()` iterator before these first messages are emitted.
   */
  _receiveHandshakeHead(data: Buffer): void {
    this.setKeepaliveTimer();
    if (this.connected) this._input.pushDeferred(data);
  }

  /** Parses what has been received; replies made meanwhile leave in one write when the batch ends. */
  processReceivedData(): void {
    const received = this._input.take();
    if (received === null || !this.connected) return;
    const output = this._output;
    output.hold();
    try {
      // While parsing is stopped (paused, inflating) the parser keeps the chunks, in order.
      for (let i = 0; i < received.length; i++) this._protocol.receive(received[i]!);
    } finally {
      output.release();
    }
  }

  /** @internal ProtocolHandler */
  onMessage(data: string | Buffer): void {
    if (!this.connected) return;
    const message: Message =
      typeof data === 'string' ? { type: 'utf8', utf8Data: data } : { type: 'binary', binaryData: data };
    this.emit('message', message);
  }

  /** @internal ProtocolHandler */
  onPing(payload: Buffer): void {
    if (!this.connected) return;
    if (this._pingListenerCount > 0) {
      let cancelled = false;
      const cancel = (): void => {
        cancelled = true;
      };
      this.emit('ping', cancel, payload);
      if (cancelled) return;
    }
    const outcome = this._output.onPing(payload);
    if (outcome === 'answer') {
      this.pong(payload);
    } else if (outcome === 'drop' && this.state !== 'closed') {
      // New: a peer that keeps pinging and never reads is dropped (docs/security.md), with no
      // close frame: it would not be read either.
      this.drop(CLOSE_REASONS.CLOSE_REASON_POLICY_VIOLATION, 'Too many pings while not reading.', true);
    }
  }

  /** @internal ProtocolHandler */
  onPong(payload: Buffer): void {
    if (!this.connected) return;
    this.emit('pong', payload);
  }

  /** @internal ProtocolHandler: the peer's close frame; the core chose the reply. */
  onClose(close: ReceivedClose): void {
    if (this.state !== 'open') return;
    this._debug('Received close frame');
    this.state = 'peer_requested_close';
    this.closeReasonCode = close.code;
    this.closeDescription = close.reason ?? descriptionOf(close.code);
    this._input.discard();
    if (close.reply !== 0) this.sendCloseFrame(close.reply);
    this.connected = false;
    // RFC 6455 §7.1.1: both Close frames are exchanged, so the TCP connection must close now. Our
    // side is half-closed; a peer that keeps its side open is cut when closeTimeout runs out.
    if (this._protocol.closing.needsDeadline) this._timers.armDeadline(this.closeTimeout, true);
  }

  /** @internal ProtocolHandler: stop reading while a received message is inflated. */
  onBusy(busy: boolean): void {
    if (busy) this._input.stop(INFLATING);
    else this._input.release(INFLATING);
  }

  /** @internal ProtocolHandler: a protocol violation or limit breach. */
  onError(error: WebSocketError): void {
    this._debug('Protocol error: %s', error.message);
    this.drop(error.closeCode, error.message);
  }

  // ---- socket events ----

  handleSocketError(error: Error): void {
    this._debug('handleSocketError: %j', error);
    if (this.state === 'closed') return;
    this.closeReasonCode = CLOSE_REASONS.CLOSE_REASON_ABNORMAL;
    const { syscall, code } = error as SystemError;
    this.closeDescription = `Socket Error: ${syscall} ${code}`;
    this.connected = false;
    this.state = 'closed';
    this._protocol.discard();
    this._input.discard();
    if (this.listenerCount('error') > 0) this.emit('error', error);
    this.socket.destroy();
    this._debug.printOutput();
  }

  handleSocketEnd(): void {
    this._debug('handleSocketEnd: received socket end. state = %s', this.state);
    this.receivedEnd = true;
    if (this.state === 'closed') return;
    if (this.state !== 'peer_requested_close' && this.state !== 'ending') {
      this._debug('Peer ended the connection without a close frame');
      this._output.flush();
      this.socket.end();
    }
  }

  handleSocketClose(hadError: boolean): void {
    this._debug('handleSocketClose: received socket close');
    this.socketHadError = hadError;
    this.connected = false;
    this.state = 'closed';
    this._protocol.dispose();
    this._input.discard();
    if (this.closeReasonCode === -1) {
      this.closeReasonCode = CLOSE_REASONS.CLOSE_REASON_ABNORMAL;
      this.closeDescription = 'Connection dropped by remote peer.';
    }
    this._timers.clearAll();
    if (!this.closeEventEmitted) {
      this.closeEventEmitted = true;
      this._debug('emit close');
      this.emit('close', this.closeReasonCode, this.closeDescription);
    }
  }

  handleSocketDrain(): void {
    const pendingPong = this._output.onDrain();
    // The peer reads again: so do we (back-pressure, docs/security.md).
    this._input.release(BACKPRESSURE);
    if (pendingPong !== null && this.connected) this.pong(pendingPong);
    this.emit('drain');
  }

  handleSocketPause(): void {
    if (!this._input.isUserPauseEvent()) return;
    this._input.userPaused = true;
    this._protocol.pause();
    this.emit('pause');
  }

  handleSocketResume(): void {
    if (!this._input.isUserResumeEvent()) return;
    this._input.userPaused = false;
    this.emit('resume');
    this._resumeParsing();
  }

  /** Stops reading: the socket is paused and no further frames are parsed until `resume()`. */
  pause(): void {
    this._debug('pause');
    this._protocol.pause();
    this._input.pauseByUser();
  }

  /** Resumes reading and parses anything received meanwhile. */
  resume(): void {
    this._debug('resume');
    this._input.resumeByUser();
    this._resumeParsing();
  }

  /**
   * Parses what waited while paused. From inside one of this connection's events (a listener
   * calling resume()), the core only notes it: parsing goes on once that event returns.
   */
  private _resumeParsing(): void {
    if (!this.connected || this._input.userPaused) return;
    const output = this._output;
    output.hold();
    try {
      this._protocol.resume();
    } finally {
      output.release();
    }
    this._input.schedule();
  }

  setCloseTimer(): void {
    this._debug('setCloseTimer');
    this.waitingForCloseResponse = true;
    this._timers.armDeadline(this.closeTimeout, true);
  }

  clearCloseTimer(): void {
    this._timers.clearDeadline();
  }

  /** The close deadline ran out: the peer did not finish the closing handshake, so the socket goes. */
  handleCloseTimer(): void {
    this._debug('handleCloseTimer');
    this._timers.fired('deadline');
    if (this.waitingForCloseResponse) {
      this.waitingForCloseResponse = false;
      this.state = 'closed';
    }
    // compat fix: WebSocket-Node only called socket.end() again, so a silent peer kept the
    // connection half-open forever and 'close' never fired. Destroying it ends that.
    this.socket.destroy();
  }
  /** Bytes accepted for sending but not yet handed to the kernel (ours plus the socket's buffer). */
  get bytesWaitingToFlush(): number {
    return this._output.bufferedBytes;
  }

  /** @internal OutputHost: a write left output waiting above the socket's high-water mark. */
  onOutputBlocked(): void {
    const output = this._output;
    // New: maxBufferedBytes drops a peer that does not read instead of buffering without bound.
    if (output.overLimit(this.config.maxBufferedBytes) && this.state !== 'closed') {
      this.drop(CLOSE_REASONS.CLOSE_REASON_POLICY_VIOLATION, 'Output buffer limit exceeded.', true);
      return;
    }
    // New: above the threshold we stop reading until 'drain', so TCP slows a peer that sends
    // requests and never reads the replies, instead of our memory growing with them.
    if (this.connected && output.shouldStopReading(this.config.backpressureThreshold)) this._input.stop(BACKPRESSURE);
  }

  // ---- the subclass's API, which these handlers use ----

  /** Sends a ping. */
  abstract ping(data?: Buffer | IStringified, cb?: WriteCallback): void;
  /** Sends a pong. */
  abstract pong(binaryPayload?: Buffer | IStringified, cb?: WriteCallback): void;
  /** Fails the connection at once. */
  abstract drop(reasonCode?: number, description?: string, skipCloseFrame?: boolean): void;
  /** Sends our Close frame and half-closes the socket. */
  abstract sendCloseFrame(reasonCode?: number, description?: string, cb?: WriteCallback): void;
}
