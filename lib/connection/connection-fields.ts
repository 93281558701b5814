/**
 * The state behind WebSocketConnection: the fields WebSocket-Node exposes, set up as it sets them
 * up, and the parts that hold the real state: the protocol core (lib/protocol) and the transport
 * (lib/transport: socket input, output with its policy, timers). Upstream fields whose state now
 * lives there are accessors. The event handlers are ConnectionEvents', the API WebSocketConnection's.
 */
import { EventEmitter } from 'node:events';
import { CAPTURE_REJECTIONS, handleListenerRejection, kRejection } from '../promises/listener-rejections';
import type { Socket } from 'node:net';
import type { WebSocketError } from '../codec/errors';
import { deflateFromExtensions } from '../extensions/permessage-deflate';
import { WebSocketProtocol } from '../protocol/protocol';
import type { ProtocolHandler, ReceivedClose, ReceivedFrame } from '../protocol/events';
import type { WriteCallback } from '../protocol/output-sink';
import { ConnectionOutput, type OutputHost } from '../transport/output-policy';
import { installExitFlush } from '../transport/socket-output';
import { BACKPRESSURE, INFLATING, SocketInput, type InputHost } from '../transport/socket-input';
import { bindErrorListener, bindSocketListeners, type SocketHost } from '../transport/socket-binding';
import { ConnectionTimers, type TimerHost } from '../transport/connection-timers';
import { CLOSE_REASONS, descriptionOf } from '../close-reasons';
import type { ConnectionConfig, IConfig } from '../config';
import type { IExtension, IStringified, Message } from '../public-types';
import { BufferingLogger } from '../utils';
import type { ServerTopics } from '../topics/server-topics';

/** The server that accepted a connection, as the connection sees it. */
export interface ConnectionServer {
  handleConnectionClose(connection: ConnectionFields, closeReason: number, description: string): void;
  /** @internal the server's topics and connection ids (made on first use). */
  _serverTopics(): ServerTopics;
}

/** The four states WebSocket-Node reports in `connection.state`. */
export type ConnectionState = 'open' | 'peer_requested_close' | 'ending' | 'closed';

let connectionIds = 0;

/** What `_keepaliveTimeoutID` holds while keepalive is armed. */
export type KeepaliveToken = { readonly keepalive: 'armed' };
const KEEPALIVE_ARMED: KeepaliveToken = Object.freeze({ keepalive: 'armed' });

/** WebSocketConnection's fields and construction; see the module comment. */
export abstract class ConnectionFields
  extends EventEmitter
  implements ProtocolHandler, SocketHost, InputHost, OutputHost, TimerHost
{
  /** EventEmitter's hook for a rejected async listener (captureRejections): lib/promises/listener-rejections.ts. */
  [kRejection](error: unknown): void {
    handleListenerRejection(error);
  }

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
  _debug: BufferingLogger;
  private _scratch: { maskBytes: Buffer; frameHeader: Buffer } | null = null;

  /** @internal the protocol core */
  _protocol: WebSocketProtocol;
  /** @internal socket output with its back-pressure policy */
  _output: ConnectionOutput;
  /** @internal socket input: receive batching and flow */
  _input: SocketInput;
  /** @internal keepalive, grace period and close deadline */
  _timers: ConnectionTimers;
  private _socketListenersAdded = false;
  /** @internal the server that accepted this connection, told when it closes (null for a client's). */
  _server: ConnectionServer | null = null;
  /** @internal lib/topics: the topics this connection subscribes to; null until its first subscription. */
  _topics: Set<string> | null = null;
  /** @internal lib/topics: its cluster-unique id, made when first read. */
  _id: string | null = null;

  constructor(
    socket: Socket,
    extensions: IExtension[] | null | undefined,
    protocol: string | null | undefined,
    maskOutgoingPackets: boolean,
    config: IConfig,
  ) {
    // Async listeners' rejections: see lib/promises/listener-rejections.ts.
    super(CAPTURE_REJECTIONS);
    this._debug = BufferingLogger('websocket:connection', ++connectionIds);
    this._debug('constructor');
    this.socket = socket;
    this.protocol = protocol as string;
    this.extensions = extensions ?? [];
    // compat: the config object is kept as given, and read live where WebSocket-Node reads it.
    this.config = config as ConnectionConfig;
    this.maskOutgoingPackets = maskOutgoingPackets;
    this.remoteAddress = socket.remoteAddress as string;
    this.closeTimeout = config.closeTimeout ?? 5000;
    this.assembleFragments = config.assembleFragments !== false;
    this.maxReceivedMessageSize = config.maxReceivedMessageSize ?? 0x100000;

    this._output = new ConnectionOutput(socket, this);
    this._input = new SocketInput(socket, this);
    this._timers = new ConnectionTimers(this);
    this._protocol = new WebSocketProtocol(this, this._output, {
      deflate: deflateFromExtensions(this.extensions, !maskOutgoingPackets, config.perMessageDeflate),
      role: maskOutgoingPackets ? 'client' : 'server',
      maxFrameSize: config.maxReceivedFrameSize ?? 0x10000,
      maxMessageSize: this.maxReceivedMessageSize,
      assembleFragments: this.assembleFragments,
      settings: this.config,
    });
    installExitFlush();

    socket.setNoDelay(config.disableNagleAlgorithm);
    socket.setTimeout(0);

    if (config.keepalive === true && config.useNativeKeepalive !== true) {
      if (typeof config.keepaliveInterval !== 'number') {
        throw new Error('keepaliveInterval must be specified and numeric if keepalive is true.');
      }
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

    // compat: WebSocket-Node removes every 'error' listener here. compat fix: we guard at once.
    bindErrorListener(socket, this, true);
  }

  // ---- WebSocket-Node's fields, kept where the transport and core hold the real state ----

  /** True when the last write found the socket's buffer full; `'drain'` clears it. */
  get outputBufferFull(): boolean {
    return this._output.full;
  }

  set outputBufferFull(value: boolean) {
    this._output.full = value;
  }

  /** True while the application has paused reading. */
  get inputPaused(): boolean {
    return this._input.userPaused;
  }

  set inputPaused(value: boolean) {
    this._input.userPaused = value;
  }

  /** The close deadline's timer, while one runs. */
  get closeTimer(): NodeJS.Timeout | null {
    return this._timers.deadline;
  }

  /**
   * compat: truthy while keepalive is armed, as WebSocket-Node's Timeout was; keepalive timers are
   * shared now (transport/keepalive-list.ts), so this is a token: clearTimeout() on it does nothing
   * (`clearKeepaliveTimer()` stops keepalive).
   */
  get _keepaliveTimeoutID(): KeepaliveToken | null {
    return this._timers.keepaliveArmed ? KEEPALIVE_ARMED : null;
  }

  get _gracePeriodTimeoutID(): NodeJS.Timeout | null {
    return this._timers.grace;
  }

  /** Bytes of the fragmented message being received so far (WebSocket-Node's parser field). */
  get fragmentationSize(): number {
    return this._protocol.messageBytesReceived;
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
    bindSocketListeners(this.socket);
  }

  // ---- what ConnectionEvents and WebSocketConnection define ----

  abstract handleSocketData(data: Buffer): void;
  abstract handleSocketEnd(): void;
  abstract handleSocketClose(hadError: boolean): void;
  abstract handleSocketDrain(): void;
  abstract handleSocketPause(): void;
  abstract handleSocketResume(): void;
  abstract handleSocketError(error: Error): void;
  abstract processReceivedData(): void;
  abstract setKeepaliveTimer(): void;
  abstract handleKeepaliveTimer(): void;
  abstract handleGracePeriodTimer(): void;
  abstract handleCloseTimer(): void;
  abstract onOutputBlocked(): void;
  abstract onMessage(data: string | Buffer): void;
  abstract onFrame(received: ReceivedFrame): void;
  abstract onPing(payload: Buffer): void;
  abstract onPong(payload: Buffer): void;
  abstract onClose(close: ReceivedClose): void;
  abstract onBusy(busy: boolean): void;
  abstract onError(error: WebSocketError): void;
}
