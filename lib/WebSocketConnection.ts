/**
 * WebSocketConnection: WebSocket-Node's connection API (names, events, state strings, close
 * semantics) as a thin façade over the protocol core and the socket output.
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { Opcode } from './codec/constants';
import type { WebSocketError } from './codec/errors';
import { isValidCloseCode } from './codec/close-payload';
import { WebSocketProtocol, type SendOptions } from './protocol/protocol';
import { PerMessageDeflate, deflateOptionsFrom, paramsFromExtension } from './extensions/permessage-deflate';
import type { ProtocolHandler, ReceivedClose, ReceivedFrame } from './protocol/events';
import type { WriteCallback } from './protocol/output-sink';
import { SocketOutput } from './transport/socket-output';
import { CLOSE_DESCRIPTIONS, CLOSE_REASONS } from './close-reasons';
import type { ConnectionConfig, IConfig } from './config';
import type { IExtension, IStringified, Message } from './public-types';
import { BufferingLogger } from './utils';
import WebSocketFrame = require('./WebSocketFrame');

/** The four states WebSocket-Node reports in `connection.state`. */
type ConnectionState = 'open' | 'peer_requested_close' | 'ending' | 'closed';


/** Error shape of socket errors (`syscall`, `code`). */
interface SystemError extends Error {
  syscall?: string;
  code?: string;
}

let connectionIds = 0;
/**
 * Pings a peer may send while our output to it is blocked (it is not reading) before it is dropped
 * with 1008. Only the latest is answered meanwhile, so this bounds work, not memory.
 */
const MAX_PINGS_WHILE_BLOCKED = 100;
const EMPTY = Buffer.alloc(0);

/** One open WebSocket connection; see the module comment. */
class WebSocketConnection extends EventEmitter implements ProtocolHandler {
  static readonly CLOSE_REASON_NORMAL = CLOSE_REASONS.CLOSE_REASON_NORMAL;
  static readonly CLOSE_REASON_GOING_AWAY = CLOSE_REASONS.CLOSE_REASON_GOING_AWAY;
  static readonly CLOSE_REASON_PROTOCOL_ERROR = CLOSE_REASONS.CLOSE_REASON_PROTOCOL_ERROR;
  static readonly CLOSE_REASON_UNPROCESSABLE_INPUT = CLOSE_REASONS.CLOSE_REASON_UNPROCESSABLE_INPUT;
  static readonly CLOSE_REASON_RESERVED = CLOSE_REASONS.CLOSE_REASON_RESERVED;
  static readonly CLOSE_REASON_NOT_PROVIDED = CLOSE_REASONS.CLOSE_REASON_NOT_PROVIDED;
  static readonly CLOSE_REASON_ABNORMAL = CLOSE_REASONS.CLOSE_REASON_ABNORMAL;
  static readonly CLOSE_REASON_INVALID_DATA = CLOSE_REASONS.CLOSE_REASON_INVALID_DATA;
  static readonly CLOSE_REASON_POLICY_VIOLATION = CLOSE_REASONS.CLOSE_REASON_POLICY_VIOLATION;
  static readonly CLOSE_REASON_MESSAGE_TOO_BIG = CLOSE_REASONS.CLOSE_REASON_MESSAGE_TOO_BIG;
  static readonly CLOSE_REASON_EXTENSION_REQUIRED = CLOSE_REASONS.CLOSE_REASON_EXTENSION_REQUIRED;
  static readonly CLOSE_REASON_INTERNAL_SERVER_ERROR = CLOSE_REASONS.CLOSE_REASON_INTERNAL_SERVER_ERROR;
  static readonly CLOSE_REASON_TLS_HANDSHAKE_FAILED = CLOSE_REASONS.CLOSE_REASON_TLS_HANDSHAKE_FAILED;
  static readonly CLOSE_DESCRIPTIONS: Record<number, string> = CLOSE_DESCRIPTIONS;

  socket: Socket;
  /** The subprotocol; typed as `@types` has it, though it may be null or undefined when none was chosen. */
  protocol: string;
  extensions: IExtension[];
  config: ConnectionConfig;
  maskOutgoingPackets: boolean;
  remoteAddress: string;
  remoteAddresses: string[] | undefined;
  webSocketVersion!: number;
  closeReasonCode = -1;
  /** null until closed; typed as `@types` has it. */
  closeDescription: string = null as unknown as string;
  closeEventEmitted = false;
  connected = true;
  state: ConnectionState = 'open';
  waitingForCloseResponse = false;
  receivedEnd = false;
  socketHadError!: boolean;
  closeTimeout: number;
  assembleFragments: boolean;
  maxReceivedMessageSize: number;
  /** True when the last write found the socket's buffer full; `'drain'` clears it. */
  outputBufferFull = false;
  inputPaused = false;
  closeTimer: NodeJS.Timeout | null = null;
  _debug: BufferingLogger;
  _keepaliveTimeoutID: NodeJS.Timeout | null = null;
  _gracePeriodTimeoutID: NodeJS.Timeout | null = null;
  private _scratch: { maskBytes: Buffer; frameHeader: Buffer } | null = null;

  /** @internal the protocol core */
  _protocol: WebSocketProtocol;
  /** @internal batched socket output */
  _output: SocketOutput;
  /** Chunks received but not yet parsed (parsing runs on the next tick, as upstream); null when none. */
  private _received: Buffer[] | null = null;
  private _processScheduled = false;
  private _socketListenersAdded = false;
  private _errorListenerAdded = false;
  private _destroyTimer: NodeJS.Timeout | null = null;
  /**
   * 'pause'/'resume' events our own flow changes will cause (resume's arrives a tick later), so they
   * are not reported as the application's.
   */
  private _ownPauseEvents = 0;
  /** @internal the server that accepted this connection, told when it closes (null for a client's). */
  _server: { handleConnectionClose(connection: WebSocketConnection, closeReason: number, description: string): void } | null =
    null;
  /** The latest ping left unanswered while the output was blocked. */
  private _pendingPong: Buffer | null = null;
  /** Pings received since the output blocked (reset by `'drain'`). */
  private _pingsWhileBlocked = 0;
  private _ownResumeEvents = 0;

  constructor(
    socket: Socket,
    extensions: IExtension[] | null | undefined,
    protocol: string | null | undefined,
    maskOutgoingPackets: boolean,
    config: IConfig,
  ) {
    super();
    this._debug = BufferingLogger('websocket:connection', ++connectionIds);
    this._debug('constructor');
    this.socket = socket;
    this.protocol = protocol as string;
    this.extensions = extensions ?? [];
    // compat: the config object is kept as given; missing limits fall back to the server defaults.
    this.config = config as ConnectionConfig;
    this.maskOutgoingPackets = maskOutgoingPackets;
    this.remoteAddress = socket.remoteAddress as string;
    this.closeTimeout = config.closeTimeout ?? 5000;
    this.assembleFragments = config.assembleFragments !== false;
    this.maxReceivedMessageSize = config.maxReceivedMessageSize ?? 0x100000;

    this._output = new SocketOutput(socket);
    this._protocol = new WebSocketProtocol(this, this._output, {
      deflate: createDeflate(this.extensions, !maskOutgoingPackets, config.perMessageDeflate),
      role: maskOutgoingPackets ? 'client' : 'server',
      maxFrameSize: config.maxReceivedFrameSize ?? 0x10000,
      maxMessageSize: this.maxReceivedMessageSize,
      assembleFragments: this.assembleFragments,
      fragmentOutgoing: config.fragmentOutgoingMessages !== false,
      fragmentationThreshold: config.fragmentationThreshold ?? 0x4000,
    });

    socket.setNoDelay(config.disableNagleAlgorithm);
    socket.setTimeout(0);

    if (config.keepalive === true && config.useNativeKeepalive !== true) {
      if (typeof config.keepaliveInterval !== 'number') {
        throw new Error('keepaliveInterval must be specified and numeric if keepalive is true.');
      }
      this._keepaliveTimeoutID = null;
      this.setKeepaliveTimer();
      if (config.dropConnectionOnKeepaliveTimeout === true && typeof config.keepaliveGracePeriod !== 'number') {
        throw new Error('keepaliveGracePeriod  must be specified and numeric if dropConnectionOnKeepaliveTimeout is true.');
      }
    } else if (config.keepalive === true && config.useNativeKeepalive === true) {
      if (!('setKeepAlive' in socket)) {
        throw new Error('Unable to use native keepalive: unsupported by this version of Node.');
      }
      socket.setKeepAlive(true, config.keepaliveInterval);
    }

    // compat: WebSocket-Node removes every 'error' listener here. compat fix: it then left the socket
    // with none until the 101 was written, so an early reset crashed the process; we guard at once.
    // Ours is added before the others go, so the 'error' entry of the socket's listener table is
    // never deleted: a deleted entry turns that table into a slow, larger dictionary.
    const others = socket.listeners('error');
    this._addErrorListener();
    for (const listener of others) socket.removeListener('error', listener as (error: Error) => void);
  }

  /** compat: WebSocket-Node's scratch buffer for mask keys, made on first use. */
  get maskBytes(): Buffer {
    return this._scratchBuffers().maskBytes;
  }

  set maskBytes(value: Buffer) {
    this._scratchBuffers().maskBytes = value;
  }

  /** compat: WebSocket-Node's scratch buffer for frame headers, made on first use. */
  get frameHeader(): Buffer {
    return this._scratchBuffers().frameHeader;
  }

  set frameHeader(value: Buffer) {
    this._scratchBuffers().frameHeader = value;
  }

  private _scratchBuffers(): { maskBytes: Buffer; frameHeader: Buffer } {
    return (this._scratch ??= { maskBytes: Buffer.alloc(4), frameHeader: Buffer.alloc(10) });
  }

  /** How many `'ping'` listeners there are (WebSocket-Node counts them to decide on automatic pongs). */
  get _pingListenerCount(): number {
    return this.listenerCount('ping');
  }

  set _pingListenerCount(_ignored: number) {
    // Derived from the listeners; kept assignable for code that wrote it.
  }

  /** compat: WebSocket-Node's bound handlers, made on demand (the connection itself uses shared functions). */
  get receivedDataHandler(): (data: Buffer) => void {
    return this.handleSocketData.bind(this);
  }

  get _closeTimerHandler(): () => void {
    return this.handleCloseTimer.bind(this);
  }

  get _keepaliveTimerHandler(): () => void {
    return this.handleKeepaliveTimer.bind(this);
  }

  get _gracePeriodTimerHandler(): () => void {
    return this.handleGracePeriodTimer.bind(this);
  }

  /** Attaches the socket listeners (WebSocket-Node calls this once the handshake is written). */
  _addSocketEventListeners(): void {
    if (this._socketListenersAdded) return;
    this._socketListenersAdded = true;
    const socket = this.socket;
    this._addErrorListener();
    // Shared module-level listeners find the connection through the socket: no closures per connection.
    socket.on('end', socketOnEnd);
    socket.on('close', socketOnClose);
    socket.on('drain', socketOnDrain);
    socket.on('pause', socketOnPause);
    socket.on('resume', socketOnResume);
    socket.on('data', socketOnData);
  }

  private _addErrorListener(): void {
    if (this._errorListenerAdded) return;
    this._errorListenerAdded = true;
    (this.socket as OwnedSocket)[kConnection] = this;
    this.socket.on('error', socketOnError);
  }

  // ---- keepalive (WebSocket-Node's names) ----

  /** (Re)starts the idle timer; any received data calls this. */
  setKeepaliveTimer(): void {
    this._debug('setKeepaliveTimer');
    if (this.config.keepalive !== true || this.config.useNativeKeepalive === true) return;
    this.clearGracePeriodTimer();
    if (this._keepaliveTimeoutID !== null) {
      // Runs on every received chunk: re-arming the same timer allocates nothing.
      this._keepaliveTimeoutID.refresh();
    } else {
      this._keepaliveTimeoutID = setTimeout(onKeepaliveTimer, this.config.keepaliveInterval, this);
    }
  }

  clearKeepaliveTimer(): void {
    if (this._keepaliveTimeoutID !== null) {
      clearTimeout(this._keepaliveTimeoutID);
      this._keepaliveTimeoutID = null;
    }
  }

  handleKeepaliveTimer(): void {
    this._debug('handleKeepaliveTimer');
    this._keepaliveTimeoutID = null;
    this.ping();
    if (this.config.dropConnectionOnKeepaliveTimeout === true) {
      this.setGracePeriodTimer();
    } else {
      this.setKeepaliveTimer();
    }
  }

  setGracePeriodTimer(): void {
    this.clearGracePeriodTimer();
    this._gracePeriodTimeoutID = setTimeout(onGracePeriodTimer, this.config.keepaliveGracePeriod, this);
  }

  clearGracePeriodTimer(): void {
    if (this._gracePeriodTimeoutID !== null) {
      clearTimeout(this._gracePeriodTimeoutID);
      this._gracePeriodTimeoutID = null;
    }
  }

  handleGracePeriodTimer(): void {
    this._debug('handleGracePeriodTimer');
    this._gracePeriodTimeoutID = null;
    this.drop(CLOSE_REASONS.CLOSE_REASON_ABNORMAL, 'Peer not responding.', true);
  }

  // ---- receiving ----

  /** Takes bytes from the socket; they are parsed on the next tick, as in WebSocket-Node. */
  handleSocketData(data: Buffer): void {
    this._debug('handleSocketData');
    // Any received data proves the peer is alive (WebSocket-Node restarts keepalive on every chunk).
    this.setKeepaliveTimer();
    (this._received ??= []).push(data);
    if (!this._processScheduled) {
      this._processScheduled = true;
      process.nextTick(processOnTick, this);
    }
  }

  /** Parses what has been received, unless closed or paused. */
  processReceivedData(): void {
    this._processScheduled = false;
    if (!this.connected || this.inputPaused) return;
    const received = this._received;
    if (received === null) return;
    this._received = null;
    const output = this._output;
    // Everything the handlers send while this batch is processed leaves in one write.
    output.hold();
    try {
      for (let i = 0; i < received.length; i++) {
        this._protocol.receive(received[i]!);
        if (this.inputPaused && i + 1 < received.length) {
          // Keep the rest for resume(); the core keeps its own leftover of the current chunk.
          const rest = received.slice(i + 1);
          this._received = this._received === null ? rest : rest.concat(this._received);
          break;
        }
      }
    } finally {
      output.release();
      this.outputBufferFull = output.full;
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
  onFrame(received: ReceivedFrame): void {
    if (!this.connected) return;
    const frame = new WebSocketFrame(this.maskBytes, this.frameHeader, this.config);
    frame.fin = received.fin;
    frame.rsv1 = received.rsv1;
    frame.rsv2 = received.rsv2;
    frame.rsv3 = received.rsv3;
    frame.mask = received.masked;
    frame.opcode = received.opcode;
    frame.length = received.payload.length;
    if (received.opcode === Opcode.CLOSE && received.payload.length >= 2) {
      frame.closeStatus = received.payload.readUInt16BE(0);
      frame.binaryPayload = received.payload.subarray(2);
    } else {
      frame.binaryPayload = received.payload;
    }
    frame.parseState = 6;
    this.emit('frame', frame);
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
    // RFC 6455 §5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame in response"
    // -- but a peer that pings and never reads must not make pongs pile up: while our output is
    // blocked only the latest ping is answered, once it drains (§5.5.3 allows answering only the
    // most recent ping).
    if (this._output.wouldBlock()) {
      this._pendingPong = payload;
      // New: a peer that keeps pinging and never reads is dropped (docs/security.md), no close frame:
      // it would not be read either. Only pings after the socket itself reported a full buffer count,
      // not those of a burst that merely filled this batch's output.
      if (this._output.full && ++this._pingsWhileBlocked > MAX_PINGS_WHILE_BLOCKED && this.state !== 'closed') {
        this.drop(CLOSE_REASONS.CLOSE_REASON_POLICY_VIOLATION, 'Too many pings while not reading.', true);
      }
      return;
    }
    this.pong(payload);
  }

  /** @internal ProtocolHandler */
  onPong(payload: Buffer): void {
    if (!this.connected) return;
    this.emit('pong', payload);
  }

  /** @internal ProtocolHandler: the peer's close frame. */
  onClose(close: ReceivedClose): void {
    if (this.state !== 'open') return;
    this._debug('Received close frame');
    this.state = 'peer_requested_close';
    this.closeReasonCode = close.code;
    this.closeDescription = close.reason ?? descriptionOf(close.code);
    // RFC 6455 §5.5.1: answer with a Close; a malformed one is answered with 1002 (§7.4.1).
    const reply = close.isValid ? CLOSE_REASONS.CLOSE_REASON_NORMAL : CLOSE_REASONS.CLOSE_REASON_PROTOCOL_ERROR;
    this.sendCloseFrame(reply);
    this.connected = false;
  }

  /** @internal ProtocolHandler: pause reading while a received message is inflated. */
  onBusy(busy: boolean): void {
    if (busy) this._setSocketFlow(false);
    else if (!this.inputPaused) this._setSocketFlow(true);
  }

  private _setSocketFlow(flowing: boolean): void {
    const socket = this.socket;
    if (flowing) {
      // Readable.resume() emits 'resume' (on the next tick) only when the stream was not flowing.
      if (socket.readableFlowing !== true) this._ownResumeEvents++;
      socket.resume();
    } else {
      if (socket.readableFlowing !== false) this._ownPauseEvents++;
      socket.pause();
    }
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
    if (this.closeReasonCode === -1) {
      this.closeReasonCode = CLOSE_REASONS.CLOSE_REASON_ABNORMAL;
      this.closeDescription = 'Connection dropped by remote peer.';
    }
    this.clearCloseTimer();
    this.clearKeepaliveTimer();
    this.clearGracePeriodTimer();
    this._clearDestroyTimer();
    if (!this.closeEventEmitted) {
      this.closeEventEmitted = true;
      this._debug('emit close');
      this.emit('close', this.closeReasonCode, this.closeDescription);
    }
  }

  handleSocketDrain(): void {
    this.outputBufferFull = false;
    this._output.full = false;
    this._pingsWhileBlocked = 0;
    const pendingPong = this._pendingPong;
    if (pendingPong !== null && this.connected) {
      this._pendingPong = null;
      this.pong(pendingPong);
    }
    this.emit('drain');
  }

  handleSocketPause(): void {
    if (this._ownPauseEvents > 0) {
      this._ownPauseEvents--;
      return;
    }
    this.inputPaused = true;
    this.emit('pause');
  }

  handleSocketResume(): void {
    if (this._ownResumeEvents > 0) {
      this._ownResumeEvents--;
      return;
    }
    this.inputPaused = false;
    this.emit('resume');
    this._resumeParsing();
  }

  /** Stops reading: the socket is paused and no further frames are parsed until `resume()`. */
  pause(): void {
    this._debug('pause');
    this.inputPaused = true;
    this._protocol.pause();
    this.socket.pause();
  }

  /** Resumes reading and parses anything received meanwhile. */
  resume(): void {
    this._debug('resume');
    this.inputPaused = false;
    // While a message is inflating the socket stays paused; it resumes when the inflation ends.
    if (!this._protocol.isInflating) this.socket.resume();
    this._resumeParsing();
  }

  private _resumeParsing(): void {
    if (!this.connected || this.inputPaused) return;
    this._output.hold();
    try {
      this._protocol.resume();
    } finally {
      this._output.release();
    }
    if (this._received !== null && !this._processScheduled) {
      this._processScheduled = true;
      process.nextTick(processOnTick, this);
    }
  }

  // ---- closing ----

  /** Starts the closing handshake (RFC 6455 §7.1.2); `'close'` follows when the socket closes. */
  close(reasonCode?: number, description?: string): void {
    if (!this.connected) return;
    this._debug('close: reasonCode = %d', reasonCode);
    const code = typeof reasonCode === 'number' ? reasonCode : CLOSE_REASONS.CLOSE_REASON_NORMAL;
    // RFC 6455 §7.4.1: 1004-1006 and 1015 "MUST NOT be set as a status code in a Close control frame".
    if (!isValidCloseCode(code)) throw new Error(`Close code ${code} is not valid.`);
    const text = typeof description === 'string' ? description : descriptionOf(code);
    this.closeReasonCode = code;
    this.closeDescription = text;
    this.setCloseTimer();
    this.sendCloseFrame(code, text);
    this.state = 'ending';
    this.connected = false;
    // compat: once close() is called, nothing more is read; 'close' reports our own code.
    this._protocol.discard();
  }

  /**
   * Fails the connection at once: sends a close frame (unless `skipCloseFrame`), emits `'close'`
   * synchronously and gets rid of the socket.
   */
  drop(reasonCode?: number, description?: string, skipCloseFrame?: boolean): void {
    const code = typeof reasonCode === 'number' ? reasonCode : CLOSE_REASONS.CLOSE_REASON_PROTOCOL_ERROR;
    const text = typeof description === 'string' ? description : descriptionOf(code);
    this._debug('Forcefully dropping connection. skipCloseFrame: %s, code: %d, description: %s', skipCloseFrame, code, text);
    this._protocol.discard();
    const sendFrame = skipCloseFrame !== true && (this.state === 'open' || this.state === 'peer_requested_close');
    if (sendFrame) {
      // RFC 6455 §7.1.7: failing the connection does not wait behind messages being compressed.
      this._protocol.sendClose(code, text, undefined, true);
      this._output.flush();
      this.socket.end();
    }
    this.connected = false;
    this.state = 'closed';
    this.clearCloseTimer();
    this.clearKeepaliveTimer();
    this.clearGracePeriodTimer();
    if (!this.closeEventEmitted) {
      this.closeEventEmitted = true;
      this.closeReasonCode = code;
      this.closeDescription = text;
      this._debug('Emitting WebSocketConnection close event');
      this.emit('close', code, text);
    }
    if (sendFrame && !this.socket.destroyed) {
      // compat fix: WebSocket-Node destroyed the socket right after writing, which can reset the
      // connection before the peer reads our close frame. Half-close instead, and destroy once the
      // peer has had closeTimeout to hang up.
      this._scheduleDestroy();
    } else {
      this._debug('Destroying socket');
      this.socket.destroy();
    }
  }

  private _scheduleDestroy(): void {
    this._clearDestroyTimer();
    this._destroyTimer = setTimeout(destroySocket, this.closeTimeout, this.socket);
    this._destroyTimer.unref();
  }

  private _clearDestroyTimer(): void {
    if (this._destroyTimer !== null) {
      clearTimeout(this._destroyTimer);
      this._destroyTimer = null;
    }
  }

  setCloseTimer(): void {
    this._debug('setCloseTimer');
    this.clearCloseTimer();
    this.waitingForCloseResponse = true;
    this.closeTimer = setTimeout(onCloseTimer, this.closeTimeout, this);
  }

  clearCloseTimer(): void {
    if (this.closeTimer !== null) {
      clearTimeout(this.closeTimer);
      this.closeTimer = null;
    }
  }

  handleCloseTimer(): void {
    this._debug('handleCloseTimer');
    this.closeTimer = null;
    if (this.waitingForCloseResponse) {
      this.waitingForCloseResponse = false;
      this.state = 'closed';
      // compat fix: WebSocket-Node only called socket.end() again, so a silent peer kept the
      // connection half-open forever and 'close' never fired. Destroying it ends that.
      this.socket.destroy();
    }
  }

  /** Kept for code that calls it: frames are handled by the protocol core as they are parsed. */
  processFrame(frame: WebSocketFrame): void {
    this.onFrame({
      fin: frame.fin,
      rsv1: frame.rsv1,
      rsv2: frame.rsv2,
      rsv3: frame.rsv3,
      opcode: frame.opcode,
      masked: frame.mask,
      maskKey: frame.maskBytes,
      payload: frame.binaryPayload ?? EMPTY,
    });
  }

  // ---- sending ----

  /** Bytes accepted for sending but not yet handed to the kernel (ours plus the socket's buffer). */
  get bytesWaitingToFlush(): number {
    return this._output.bufferedBytes;
  }

  /** Sends a Buffer as binary, anything else with a `toString()` as text. */
  send(data: Buffer | IStringified, cb?: WriteCallback, options?: SendOptions): void {
    if (Buffer.isBuffer(data)) {
      this.sendBytes(data, cb, options);
    } else if (typeof data.toString === 'function') {
      this.sendUTF(data, cb, options);
    } else {
      throw new Error('Data provided must either be a Node Buffer or implement toString()');
    }
  }

  /** Sends a text message (`data.toString()` as UTF-8). */
  sendUTF(data: IStringified, cb?: WriteCallback, options?: SendOptions): void {
    this._debug('sendUTF');
    this._protocol.sendText(data.toString(), cb, options);
    this._afterSend();
  }

  /** Sends a binary message. */
  sendBytes(data: Buffer, cb?: WriteCallback, options?: SendOptions): void {
    this._debug('sendBytes');
    if (!Buffer.isBuffer(data)) {
      throw new Error('You must pass a Node Buffer object to WebSocketConnection.prototype.sendBytes()');
    }
    this._protocol.sendMessage(Opcode.BINARY, data, cb, options);
    this._afterSend();
  }

  /** Sends a ping; a payload longer than 125 bytes is cut to 125 (RFC 6455 §5.5). */
  ping(data?: Buffer | IStringified, cb?: WriteCallback): void {
    this._debug('ping');
    this._protocol.sendControl(Opcode.PING, controlPayload(data), cb);
    this._afterSend();
  }

  /** Sends a pong, normally in answer to a ping (RFC 6455 §5.5.3). */
  pong(binaryPayload?: Buffer | IStringified, cb?: WriteCallback): void {
    this._debug('pong');
    this._protocol.sendControl(Opcode.PONG, controlPayload(binaryPayload), cb);
    this._afterSend();
  }

  /** Writes a prepared frame (masked when this is a client); returns false when the socket's buffer is full. */
  sendFrame(frame: WebSocketFrame, cb?: WriteCallback): boolean {
    this._debug('sendFrame');
    frame.mask = this.maskOutgoingPackets;
    this._output.push(frame.toBuffer());
    if (cb !== undefined) this._output.pushCallback(cb);
    this._afterSend();
    return !this.outputBufferFull;
  }

  /** Sends a data frame's payload, fragmented per the config. */
  fragmentAndSend(frame: WebSocketFrame, cb?: WriteCallback): void {
    this._debug('fragmentAndSend');
    if (frame.opcode > 0x07) throw new Error('You cannot fragment control frames.');
    const opcode = frame.opcode === Opcode.TEXT ? Opcode.TEXT : Opcode.BINARY;
    this._protocol.sendMessage(opcode, frame.binaryPayload ?? EMPTY, cb);
    this._afterSend();
  }

  /** Sends our close frame and half-closes the socket (only while open or answering the peer). */
  sendCloseFrame(reasonCode?: number, description?: string, cb?: WriteCallback): void {
    if (this.state !== 'open' && this.state !== 'peer_requested_close') return;
    const code = typeof reasonCode === 'number' ? reasonCode : CLOSE_REASONS.CLOSE_REASON_NORMAL;
    this._debug('sendCloseFrame state: %s, reasonCode: %d, description: %s', this.state, code, description);
    this._protocol.sendClose(code, description, cb);
    this._protocol.whenSent(() => {
      this._output.flush();
      this.socket.end();
    });
  }

  private _afterSend(): void {
    if (this._output.wouldBlock()) {
      this.outputBufferFull = true;
      // New: maxBufferedBytes drops a peer that does not read instead of buffering without bound.
      const limit = this.config.maxBufferedBytes;
      if (typeof limit === 'number' && limit > 0 && this._output.bufferedBytes > limit && this.state !== 'closed') {
        this.drop(CLOSE_REASONS.CLOSE_REASON_POLICY_VIOLATION, 'Output buffer limit exceeded.', true);
      }
    }
  }
}

/** Typed event overloads, as `@types/websocket` declares them. */
interface WebSocketConnection {
  on(event: 'message', cb: (data: Message) => void): this;
  on(event: 'frame', cb: (frame: WebSocketFrame) => void): this;
  on(event: 'close', cb: (code: number, desc: string) => void): this;
  on(event: 'error', cb: (err: Error) => void): this;
  on(event: 'drain' | 'pause' | 'resume', cb: () => void): this;
  on(event: 'ping', cb: (cancel: () => void, binaryPayload: Buffer) => void): this;
  on(event: 'pong', cb: (binaryPayload: Buffer) => void): this;
  addListener(event: 'message', cb: (data: Message) => void): this;
  addListener(event: 'frame', cb: (frame: WebSocketFrame) => void): this;
  addListener(event: 'close', cb: (code: number, desc: string) => void): this;
  addListener(event: 'error', cb: (err: Error) => void): this;
  addListener(event: 'drain' | 'pause' | 'resume', cb: () => void): this;
  addListener(event: 'ping', cb: (cancel: () => void, binaryPayload: Buffer) => void): this;
  addListener(event: 'pong', cb: (binaryPayload: Buffer) => void): this;
}

/**
 * The table text for a code. compat: like WebSocket-Node, codes without an entry (3000-4999) give
 * undefined at run time; the type says string, as `@types` does.
 */
function descriptionOf(code: number): string {
  return CLOSE_DESCRIPTIONS[code] as string;
}

/** The permessage-deflate codec when the extensions list holds an agreement and the config enables it. */
function createDeflate(extensions: IExtension[], isServer: boolean, option: unknown): PerMessageDeflate | null {
  const options = deflateOptionsFrom(option);
  if (options === null) return null;
  for (const extension of extensions) {
    const params = paramsFromExtension(extension);
    if (params !== null) return new PerMessageDeflate(params, isServer, options);
  }
  return null;
}

/** The connection that owns a socket, for the shared socket listeners below. */
const kConnection = Symbol('websocket-connection');
type OwnedSocket = Socket & { [kConnection]?: WebSocketConnection };

function owner(socket: Socket): WebSocketConnection {
  return (socket as OwnedSocket)[kConnection] as WebSocketConnection;
}

function socketOnData(this: Socket, data: Buffer): void {
  owner(this).handleSocketData(data);
}

function socketOnEnd(this: Socket): void {
  owner(this).handleSocketEnd();
}

function socketOnClose(this: Socket, hadError: boolean): void {
  owner(this).handleSocketClose(hadError);
}

function socketOnDrain(this: Socket): void {
  owner(this).handleSocketDrain();
}

function socketOnPause(this: Socket): void {
  owner(this).handleSocketPause();
}

function socketOnResume(this: Socket): void {
  owner(this).handleSocketResume();
}

function socketOnError(this: Socket, error: Error): void {
  owner(this).handleSocketError(error);
}

function onKeepaliveTimer(connection: WebSocketConnection): void {
  connection.handleKeepaliveTimer();
}

function onGracePeriodTimer(connection: WebSocketConnection): void {
  connection.handleGracePeriodTimer();
}

function onCloseTimer(connection: WebSocketConnection): void {
  connection.handleCloseTimer();
}

function processOnTick(connection: WebSocketConnection): void {
  connection.processReceivedData();
}

function destroySocket(socket: Socket): void {
  socket.destroy();
}

/** A control frame payload: a Buffer or a string, cut to the 125 bytes RFC 6455 §5.5 allows. */
function controlPayload(data: Buffer | IStringified | undefined | null): Buffer {
  if (data === undefined || data === null) return EMPTY;
  const buffer = Buffer.isBuffer(data) ? data : Buffer.from(data.toString(), 'utf8');
  return buffer.length > 125 ? buffer.subarray(0, 125) : buffer;
}

export = WebSocketConnection;
