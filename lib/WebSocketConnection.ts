/**
 * WebSocketConnection: WebSocket-Node's connection API (names, arguments, return values, events,
 * state strings, close semantics) as a thin façade. Its fields and construction are
 * ConnectionFields', its event handlers ConnectionEvents' (lib/connection); the protocol core
 * (lib/protocol) frames, parses and runs the closing handshake, the transport (lib/transport)
 * writes: each send reaches the socket before it returns, as with WebSocket-Node.
 */
import { Opcode } from './codec/constants';
import { isValidCloseCode } from './codec/close-payload';
import type { SendOptions } from './protocol/protocol';
import type { ReceivedFrame } from './protocol/events';
import type { WriteCallback } from './protocol/output-sink';
import { ConnectionEvents } from './connection/connection-events';
import { CloseResult, SendResult } from './promises/results';
import { messageIterator, type MessageIteratorOptions } from './promises/message-iterator';
import { WriteToken } from './transport/write-token';
import { closedError } from './protocol/output-sink';
import { CLOSE_DESCRIPTIONS, CLOSE_REASONS, descriptionOf } from './close-reasons';
import type { IStringified, Message } from './public-types';
import type { ServerTopics } from './topics/server-topics';
import { localConnectionId } from './topics/node-id';
import WebSocketFrame = require('./WebSocketFrame');

const EMPTY = Buffer.alloc(0);

/** One open WebSocket connection; see the module comment. */
class WebSocketConnection extends ConnectionEvents {
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
  // ---- frames, when fragments are not assembled ----

  /** @internal ProtocolHandler: every frame becomes a WebSocketFrame on `'frame'`. */
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

  // ---- upstream v2: async iteration ----

  /**
   * `for await (const message of connection.messages())`: the messages `'message'` delivers, in
   * order; ends on a normal close (1000, 1001, 1005), throws on any other (lib/promises/message-iterator).
   */
  messages(options?: MessageIteratorOptions): AsyncIterableIterator<Message> {
    return messageIterator(this, options);
  }

  // ---- topics (lib/topics): a server's publish() reaches the connections subscribed to a topic ----

  /**
   * Subscribes this connection to `topic`, so `server.publish(topic, ...)` reaches it (on every
   * node, with a broker). False when it was subscribed already or is closed. Server side only.
   */
  subscribe(topic: string): boolean {
    return this._topicsOfServer().subscribe(this, topic);
  }

  /** Ends this connection's subscription to `topic`; false when it had none. A closing connection leaves all its topics. */
  unsubscribe(topic: string): boolean {
    return this._topics !== null && this._topicsOfServer().unsubscribe(this, topic);
  }

  /** Whether this connection subscribes to `topic`. */
  isSubscribed(topic: string): boolean {
    return this._topics?.has(topic) ?? false;
  }

  /**
   * The topics this connection subscribes to (a copy). compat: 1.x applications often keep their
   * own fields on connections; assigning `topics` makes it theirs (a plain property), as before.
   */
  get topics(): string[] {
    return this._topics === null ? [] : [...this._topics];
  }

  set topics(value: string[]) {
    shadow(this, 'topics', value);
  }

  /**
   * A cluster-unique id (`<node id>:<n>`, made on first read): `server.sendTo(clusterId, data)`
   * reaches this connection from any node. (Not `id`: 1.x applications commonly set `connection.id`.)
   */
  get clusterId(): string {
    return this._id ?? (this._server !== null ? this._server._serverTopics().idOf(this) : (this._id = localConnectionId()));
  }

  set clusterId(value: string) {
    shadow(this, 'clusterId', value);
  }

  private _topicsOfServer(): ServerTopics {
    if (this._server === null) throw new Error('Topics are for connections accepted by a WebSocketServer.');
    return this._server._serverTopics();
  }

  // ---- closing ----

  /**
   * Starts the closing handshake (RFC 6455 §7.1.2); `'close'` follows when the socket closes. As in
   * upstream's v2, returns an awaitable of `{ reasonCode, description }` that settles with `'close'`.
   */
  close(reasonCode?: number, description?: string): void & CloseResult {
    if (this.connected) this._startClose(reasonCode, description);
    return new CloseResult(this) as void & CloseResult;
  }

  private _startClose(reasonCode: number | undefined, description: string | undefined): void {
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
    this._input.discard();
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
    this._input.discard();
    const sendFrame = skipCloseFrame !== true && (this.state === 'open' || this.state === 'peer_requested_close');
    if (sendFrame) {
      // RFC 6455 §7.1.7: failing the connection does not wait behind messages being compressed.
      this._protocol.sender.sendFailClose(code, text);
      // Inside a batch of input the output is held: what it gathered goes out before the FIN.
      this._output.flush();
      this.socket.end();
    }
    this.connected = false;
    this.state = 'closed';
    this._timers.clearAll();
    if (!this.closeEventEmitted) {
      this.closeEventEmitted = true;
      this.closeReasonCode = code;
      this.closeDescription = text;
      this._debug('Emitting WebSocketConnection close event');
      this.emit('close', code, text);
    }
    if (sendFrame && this.socket.destroyed !== true) {
      // compat fix: WebSocket-Node destroyed the socket right after writing, which can reset the
      // connection before the peer reads our close frame. Half-close instead, and destroy once the
      // peer has had closeTimeout to hang up.
      this._timers.armDeadline(this.closeTimeout, false);
    } else {
      this._debug('Destroying socket');
      this.socket.destroy();
    }
  }

  /** Sends our close frame and half-closes the socket (only while open or answering the peer). */
  sendCloseFrame(reasonCode?: number, description?: string, cb?: WriteCallback): void {
    if (this.state !== 'open' && this.state !== 'peer_requested_close') return;
    const code = typeof reasonCode === 'number' ? reasonCode : CLOSE_REASONS.CLOSE_REASON_NORMAL;
    this._debug('sendCloseFrame state: %s, reasonCode: %d, description: %s', this.state, code, description);
    // The socket is half-closed once the Close is out (after any message still being compressed).
    this._protocol.sendClose(code, description, cb, () => {
      this._output.flush();
      this.socket.end();
    });
  }

  // ---- sending: each send reaches the socket before it returns (lib/transport/socket-output) ----

  /** Sends a Buffer as binary, anything else with a `toString()` as text (awaitable without a callback). */
  send(data: Buffer | IStringified, cb: WriteCallback, options?: SendOptions): void;
  send(data: Buffer | IStringified, cb?: undefined, options?: SendOptions): void & SendResult;
  send(data: Buffer | IStringified, cb?: WriteCallback, options?: SendOptions): void;
  send(data: Buffer | IStringified, cb?: WriteCallback, options?: SendOptions): SendResult | void {
    if (Buffer.isBuffer(data)) {
      return this.sendBytes(data, cb, options);
    } else if (typeof data.toString === 'function') {
      return this.sendUTF(data, cb, options);
    } else {
      throw new Error('Data provided must either be a Node Buffer or implement toString()');
    }
  }

  /**
   * Sends a text message (`data.toString()` as UTF-8). Without a callback it returns an awaitable
   * that settles once the bytes are handed to the kernel (upstream's v2); with one, nothing. The
   * awaitable is typed `void & SendResult`: code written against @types (which says void) still
   * compiles, `.then()` is typed, and `await` works.
   */
  sendUTF(data: IStringified, cb: WriteCallback, options?: SendOptions): void;
  sendUTF(data: IStringified, cb?: undefined, options?: SendOptions): void & SendResult;
  sendUTF(data: IStringified, cb?: WriteCallback, options?: SendOptions): void;
  sendUTF(data: IStringified, cb?: WriteCallback, options?: SendOptions): SendResult | void {
    this._debug('sendUTF');
    const text = data.toString();
    if (cb !== undefined) {
      this._protocol.sender.sendText(text, cb, options);
      return;
    }
    return this._sendAwaitable(text, options);
  }

  /** Sends a binary message; without a callback, returns an awaitable as `sendUTF` does. */
  sendBytes(data: Buffer, cb: WriteCallback, options?: SendOptions): void;
  sendBytes(data: Buffer, cb?: undefined, options?: SendOptions): void & SendResult;
  sendBytes(data: Buffer, cb?: WriteCallback, options?: SendOptions): void;
  sendBytes(data: Buffer, cb?: WriteCallback, options?: SendOptions): SendResult | void {
    this._debug('sendBytes');
    if (!Buffer.isBuffer(data)) {
      throw new Error('You must pass a Node Buffer object to WebSocketConnection.prototype.sendBytes()');
    }
    if (cb !== undefined) {
      this._protocol.sender.sendMessage(Opcode.BINARY, data, cb, options);
      return;
    }
    return this._sendAwaitable(data, options);
  }

  /**
   * A send nobody gave a callback: its result records where its bytes went and asks only if it is
   * awaited, so an ignored result costs one small object (behind a compression, a token of its own).
   */
  private _sendAwaitable(payload: string | Buffer, options: SendOptions | undefined): SendResult {
    const sender = this._protocol.sender;
    if (sender.mayDefer) {
      const token = new WriteToken();
      if (typeof payload === 'string') sender.sendText(payload, token.callback, options);
      else sender.sendMessage(Opcode.BINARY, payload, token.callback, options);
      return new SendResult(token);
    }
    const output = this._output;
    const gen = output.flushes;
    const sent = typeof payload === 'string' ? sender.sendText(payload, undefined, options) : sender.sendMessage(Opcode.BINARY, payload, undefined, options);
    return sent ? new SendResult(output, gen) : new SendResult(null, 0, closedError());
  }

  /** Sends a ping; a payload longer than 125 bytes is cut to 125 (RFC 6455 §5.5). */
  ping(data?: Buffer | IStringified, cb?: WriteCallback): void {
    this._debug('ping');
    this._protocol.sendControl(Opcode.PING, controlPayload(data), cb);
  }

  /** Sends a pong, normally in answer to a ping (RFC 6455 §5.5.3). */
  pong(binaryPayload?: Buffer | IStringified, cb?: WriteCallback): void {
    this._debug('pong');
    this._protocol.sendControl(Opcode.PONG, controlPayload(binaryPayload), cb);
  }

  /**
   * Writes a prepared frame (masked when this is a client); returns what the socket's write
   * returned (false: its buffer is full), as WebSocket-Node does. Typed `boolean | void`: @types says void, so subclasses written against it that
   * override this with a void method must still compile.
   */
  sendFrame(frame: WebSocketFrame, cb?: WriteCallback): boolean | void {
    this._debug('sendFrame');
    frame.mask = this.maskOutgoingPackets;
    const output = this._output;
    output.hold();
    try {
      output.push(frame.toBuffer());
      if (cb !== undefined) output.pushCallback(cb);
    } finally {
      output.release();
    }
    return output.lastWriteResult;
  }

  /** Sends a data frame's payload, fragmented per the config (@types' callback shape accepted too). */
  fragmentAndSend(frame: WebSocketFrame, cb?: WriteCallback | ((err: Error) => void)): void {
    this._debug('fragmentAndSend');
    if (frame.opcode > 0x07) throw new Error('You cannot fragment control frames.');
    const opcode = frame.opcode === Opcode.TEXT ? Opcode.TEXT : Opcode.BINARY;
    this._protocol.sender.sendMessage(opcode, frame.binaryPayload ?? EMPTY, cb as WriteCallback | undefined);
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
/** Gives `target` an own, plain `key` property (an application's own field), hiding the accessor. */
function shadow(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
}

/** A control frame payload: a Buffer or a string, cut to the 125 bytes RFC 6455 §5.5 allows. */
function controlPayload(data: Buffer | IStringified | undefined | null): Buffer {
  if (data === undefined || data === null) return EMPTY;
  const buffer = Buffer.isBuffer(data) ? data : Buffer.from(data.toString(), 'utf8');
  return buffer.length > 125 ? buffer.subarray(0, 125) : buffer;
}

export = WebSocketConnection;
