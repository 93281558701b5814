/**
 * The sans-I/O WebSocket core: bytes in through `receive()`, events out through a ProtocolHandler,
 * frames out through an OutputSink. No sockets, no timers; the transport layer drives it.
 */
import { Opcode, isControlOpcode } from '../codec/constants';
import { WebSocketError, invalidUtf8Error, protocolError } from '../codec/errors';
import { isValidCloseCode, parseClosePayload, encodeClosePayload } from '../codec/close-payload';
import { FrameParser, type FrameHandler, type MaskPolicy, type ParsedFrameHeader } from '../codec/frame-parser';
import { encodeFrame, encodeTextFrame, type FrameHeaderFields } from '../codec/frame-writer';
import { randomMaskKeys, type MaskKeySource } from '../codec/mask';
import { isValidUtf8 } from '../codec/utf8';
import type { PerMessageDeflate } from '../extensions/permessage-deflate';
import { MessageAssembler } from './message-assembler';
import type { ProtocolHandler } from './events';
import type { OutputSink, WriteCallback } from './output-sink';

/** Which end of the connection this core plays (RFC 6455 §5.1 masking follows from it). */
export type Role = 'server' | 'client';

/** Limits and behaviour of one connection. */
export interface ProtocolOptions {
  readonly role: Role;
  /** Largest frame payload accepted (1009 above it). */
  readonly maxFrameSize: number;
  /** Largest fragmented message accepted (1009 above it). */
  readonly maxMessageSize: number;
  /** False: report every frame through `onFrame` and assemble nothing (WebSocket-Node's option). */
  readonly assembleFragments: boolean;
  /** Split outgoing messages longer than `fragmentationThreshold` into several frames. */
  readonly fragmentOutgoing: boolean;
  readonly fragmentationThreshold: number;
  /** Overrides the masking rule implied by the role (for peers that do not mask). */
  readonly maskPolicy?: MaskPolicy;
  /** Mask key source for a client; defaults to crypto randomness. */
  readonly maskKeys?: MaskKeySource;
  /** The negotiated permessage-deflate codec (RFC 7692), if any. */
  readonly deflate?: PerMessageDeflate | null;
}

/** Per-send choices. */
export interface SendOptions {
  /** False sends this message uncompressed even when permessage-deflate was agreed. */
  readonly compress?: boolean;
}

/** A send waiting behind a compression in progress (RFC 7692 leaves order to us: we keep it). */
interface QueuedSend {
  readonly run: () => void;
  readonly callback: WriteCallback | undefined;
}

const EMPTY = Buffer.alloc(0);

/** One WebSocket connection's protocol state; see the module comment. */
export class WebSocketProtocol implements FrameHandler {
  private readonly handler: ProtocolHandler;
  private readonly out: OutputSink;
  private readonly parser: FrameParser;
  private readonly assembler: MessageAssembler;
  private readonly maskKeys: MaskKeySource | null;
  private readonly assemble: boolean;
  fragmentOutgoing: boolean;
  fragmentationThreshold: number;

  /** Set once a close frame has been received or the connection failed: later input is discarded. */
  private discarding = false;
  /** Whether we have sent our close frame (only one is ever sent, RFC 6455 §5.5.1). */
  closeSent = false;

  /**
   * Payload of the control frame being read (at most 125 bytes). This and `pieces` are made only
   * when a frame has payload to keep: an idle connection holds no arrays.
   */
  private control: Buffer[] | null = null;
  /**
   * Payload pieces kept whole: of the frame being read when frames are reported (`assembleFragments:
   * false`), or of the compressed message being read (never both at once).
   */
  private pieces: Buffer[] | null = null;
  /** Whether the data frame being read belongs to an assembled message. */
  private inMessageFrame = false;
  private frameExpectedTotal = 0;

  private readonly deflate: PerMessageDeflate | null;
  /** Whether the message being received is compressed (RSV1 on its first frame, RFC 7692 §6.1). */
  private compressed = false;
  /** True while a received message is being inflated: parsing waits so order is kept. */
  private inflating = false;
  /** Paused by the application (`connection.pause()`), independently of inflation. */
  private paused = false;
  /** Non-null while a message is being compressed: every later send waits here, in order. */
  private sendQueue: QueuedSend[] | null = null;
  private disposed = false;

  constructor(handler: ProtocolHandler, out: OutputSink, options: ProtocolOptions) {
    this.handler = handler;
    this.out = out;
    this.assemble = options.assembleFragments;
    this.fragmentOutgoing = options.fragmentOutgoing;
    this.fragmentationThreshold = options.fragmentationThreshold;
    this.maskKeys = options.role === 'client' ? (options.maskKeys ?? randomMaskKeys) : null;
    this.deflate = options.deflate ?? null;
    this.parser = new FrameParser(this, {
      maxFrameSize: options.maxFrameSize,
      maskPolicy: options.maskPolicy ?? (options.role === 'server' ? 'require' : 'forbid'),
      // RFC 7692 §6: permessage-deflate gives RSV1 its meaning; without it RSV1 is a violation.
      allowRsv1: options.deflate != null,
    });
    this.assembler = new MessageAssembler(options.maxMessageSize);
  }

  /** Whether incoming bytes are being thrown away (after a close frame or a failure). */
  get isDiscarding(): boolean {
    return this.discarding;
  }

  /** Whether parsing is paused with bytes kept back. */
  get isPaused(): boolean {
    return this.parser.isStopped;
  }

  /** Feeds received bytes; events are delivered synchronously to the handler. */
  receive(chunk: Buffer): void {
    if (this.discarding) return;
    try {
      this.parser.push(chunk);
    } catch (error) {
      this.fail(error);
    }
  }

  /** Stops parsing after the current frame; bytes that arrive meanwhile are kept. */
  pause(): void {
    this.paused = true;
    this.parser.stop();
  }

  /** Parses the bytes kept back since `pause()` (once any inflation in progress has finished). */
  resume(): void {
    this.paused = false;
    if (this.discarding || this.inflating) return;
    try {
      this.parser.resume();
    } catch (error) {
      this.fail(error);
    }
  }

  /** Stops all further parsing and drops partial state (the connection is going away). */
  discard(): void {
    this.discarding = true;
    this.parser.halt();
    this.assembler.clear();
    this.control = null;
    this.pieces = null;
  }

  /** Releases everything: zlib streams, and sends still waiting (their callbacks get an Error). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.discard();
    this.deflate?.close();
    this.failQueuedSends();
  }

  private failQueuedSends(): void {
    const queue = this.sendQueue;
    this.sendQueue = null;
    if (queue === null) return;
    const error = new Error('The WebSocket connection closed before the message was sent.');
    for (const item of queue) if (item.callback !== undefined) process.nextTick(item.callback, error);
  }

  /**
   * The one place a connection fails (RFC 6455 §7.1.7). A WebSocketError is the peer's fault and
   * carries its close code. Anything else was thrown by an event handler of the application: the
   * connection is failed with 1011 without telling the peer why, and the error is thrown on, so it
   * surfaces as it does with WebSocket-Node and ws instead of being swallowed.
   */
  private fail(error: unknown): void {
    this.discard();
    if (error instanceof WebSocketError) {
      this.handler.onError(error);
      return;
    }
    this.handler.onError(new WebSocketError('WS_ERR_INTERNAL', 1011, 'Internal Server Error'));
    throw error;
  }

  // ---- FrameHandler: called by the parser ----

  /** @internal */
  onFrameHeader(h: ParsedFrameHeader): void {
    const opcode = h.opcode;
    if (isControlOpcode(opcode)) {
      if (opcode !== Opcode.CLOSE && opcode !== Opcode.PING && opcode !== Opcode.PONG) {
        throw protocolError(`Unrecognized Opcode: 0x${opcode.toString(16)}`);
      }
      // RFC 7692 §6.1: RSV1 marks a compressed *message*; control frames never carry it.
      if (h.rsv1) throw protocolError('Unsupported usage of rsv bits without negotiated extension.');
      this.control = null;
      return;
    }
    if (opcode > Opcode.BINARY) {
      // compat: inside a fragmented message WebSocket-Node names the interleaving, not the opcode.
      if (this.assemble && this.assembler.active) {
        throw protocolError(`Illegal frame opcode 0x${opcode.toString(16)} received in middle of fragmented message.`);
      }
      throw protocolError(`Unrecognized Opcode: 0x${opcode.toString(16)}`);
    }
    if (!this.assemble) {
      this.pieces = null;
      this.inMessageFrame = false;
      return;
    }
    const assembler = this.assembler;
    if (opcode === Opcode.CONTINUATION) {
      // RFC 6455 §5.4: a continuation frame only continues a message that was started.
      if (!assembler.active) throw protocolError('Unexpected Continuation Frame');
      // RFC 7692 §6.1: RSV1 is set on the first frame of a compressed message only.
      if (h.rsv1) throw protocolError('Unsupported usage of rsv bits without negotiated extension.');
    } else {
      // RFC 6455 §5.4: the fragments of one message "MUST NOT be interleaved" with another message.
      if (assembler.active) {
        throw protocolError(`Illegal frame opcode 0x${opcode.toString(16)} received in middle of fragmented message.`);
      }
      assembler.begin(opcode);
      this.compressed = h.rsv1;
      this.pieces = null;
    }
    // compat: a single-frame message is limited only by maxReceivedFrameSize, as in WebSocket-Node.
    assembler.addFrame(h.length, !(h.fin && opcode !== Opcode.CONTINUATION));
    this.inMessageFrame = true;
    // Size the buffer exactly only for a single-frame message; fragments grow it by doubling, so a
    // message in many fragments costs linear, not quadratic, copying.
    this.frameExpectedTotal = h.fin && opcode !== Opcode.CONTINUATION ? h.length : 0;
  }

  /** @internal */
  reservePayload(length: number, h: ParsedFrameHeader): Buffer | null {
    // Only pieces that the assembler would copy anyway: not control frames, compressed messages,
    // reported frames, or the piece that is a whole single-frame message (kept without a copy).
    if (!this.inMessageFrame || this.compressed || isControlOpcode(h.opcode)) return null;
    if (this.assembler.size === 0 && isWholeMessage(h, length)) return null;
    return this.assembler.reserve(length, this.frameExpectedTotal);
  }

  /** @internal */
  onFramePayload(piece: Buffer, h: ParsedFrameHeader, placed: boolean): void {
    if (placed) {
      this.assembler.commitReserved(piece);
      return;
    }
    if (isControlOpcode(h.opcode)) {
      if (piece.length > 0) (this.control ??= []).push(piece);
      return;
    }
    if (this.inMessageFrame) {
      if (this.compressed) {
        if (piece.length > 0) (this.pieces ??= []).push(piece);
        return;
      }
      this.assembler.addPiece(piece, isWholeMessage(h, piece.length), this.frameExpectedTotal);
    } else if (piece.length > 0) {
      (this.pieces ??= []).push(piece);
    }
  }

  /** @internal */
  onFrameEnd(h: ParsedFrameHeader): void {
    if (isControlOpcode(h.opcode)) {
      const payload = joinPieces(this.control);
      this.control = null;
      if (!this.assemble) this.reportFrame(h, payload);
      this.handleControl(h.opcode, payload);
      return;
    }
    if (!this.inMessageFrame) {
      this.reportFrame(h, joinPieces(this.pieces));
      this.pieces = null;
      return;
    }
    this.inMessageFrame = false;
    if (!h.fin) return;
    if (this.compressed) {
      this.inflateMessage();
      return;
    }
    this.handler.onMessage(this.assembler.finish());
  }

  /** Whether a received message is being inflated (parsing waits for it). */
  get isInflating(): boolean {
    return this.inflating;
  }

  /**
   * Inflates the compressed message just completed. Parsing stops until it is done, so frames that
   * follow (control frames included) are handled after this message, in order.
   */
  private inflateMessage(): void {
    const deflate = this.deflate as PerMessageDeflate;
    const pieces = this.pieces ?? [];
    this.pieces = null;
    this.inflating = true;
    this.parser.stop();
    this.handler.onBusy(true);
    deflate.decompress(pieces, this.assembler.maxMessageSize, (error, chunks) => {
      this.inflating = false;
      if (this.discarding) return;
      try {
        if (error !== null) {
          // A stream zlib cannot inflate is invalid data (RFC 7692 §8: fail the connection).
          throw error instanceof WebSocketError ? error : invalidUtf8Error('Invalid compressed data received.');
        }
        for (const chunk of chunks ?? []) this.assembler.addProduced(chunk);
        this.handler.onMessage(this.assembler.finish());
        if (this.discarding) return;
        this.handler.onBusy(false);
        if (!this.paused) this.parser.resume();
      } catch (caught) {
        this.fail(caught);
      }
    });
  }

  private reportFrame(h: ParsedFrameHeader, payload: Buffer): void {
    this.handler.onFrame({
      fin: h.fin,
      rsv1: h.rsv1,
      rsv2: h.rsv2,
      rsv3: h.rsv3,
      opcode: h.opcode,
      masked: h.masked,
      maskKey: Buffer.from(h.maskKey),
      payload,
    });
  }

  private handleControl(opcode: number, payload: Buffer): void {
    if (opcode === Opcode.PING) {
      this.handler.onPing(payload);
    } else if (opcode === Opcode.PONG) {
      this.handler.onPong(payload);
    } else {
      const close = parseClosePayload(payload);
      let reason: string | undefined;
      if (close !== null && close.reason.length > 0) {
        // RFC 6455 §5.5.1: the reason is UTF-8; invalid data fails the connection (§8.1).
        if (!isValidUtf8(close.reason)) throw invalidUtf8Error();
        // compat: WebSocket-Node reports a 1-byte reason as the code's table text.
        if (close.reason.length > 1) reason = close.reason.toString('utf8');
      }
      // RFC 6455 §1.4: after a Close frame "the endpoint ... discards any further data received".
      this.discard();
      this.handler.onClose({
        code: close === null ? 1005 : close.code,
        reason,
        isValid: close !== null && (!close.hasCode || isValidCloseCode(close.code)),
        hasCode: close !== null && close.hasCode,
      });
    }
  }

  // ---- sending ----

  /** Sends a text or binary message, fragmented per the options; `callback` runs after the last frame. */
  sendMessage(
    opcode: typeof Opcode.TEXT | typeof Opcode.BINARY,
    payload: Buffer,
    callback?: WriteCallback,
    options?: SendOptions,
  ): void {
    if (this.sendQueue !== null) {
      this.sendQueue.push({ run: () => this.sendMessage(opcode, payload, callback, options), callback });
      return;
    }
    const deflate = this.deflate;
    if (deflate !== null && options?.compress !== false && payload.length >= deflate.threshold) {
      // Everything sent from now on waits until this message is compressed and written.
      this.sendQueue = [];
      deflate.compress(payload, (error, compressed) => {
        if (this.disposed) {
          // The queue was failed by dispose(); this send was not in it.
          if (callback !== undefined) callback(error ?? new Error('The WebSocket connection closed before the message was sent.'));
          return;
        }
        if (error !== null || compressed === undefined) {
          if (callback !== undefined) callback(error ?? new Error('Compression failed.'));
        } else {
          this.writeMessage(opcode, compressed, true, callback);
        }
        this.drainSendQueue();
      });
      return;
    }
    this.writeMessage(opcode, payload, false, callback);
  }

  /** Sends a text message given as a string; a message that goes out as one plain frame skips a copy. */
  sendText(text: string, callback?: WriteCallback, options?: SendOptions): void {
    const length = Buffer.byteLength(text, 'utf8');
    const deflate = this.deflate;
    const compress = deflate !== null && options?.compress !== false && length >= deflate.threshold;
    const single = !this.fragmentOutgoing || this.fragmentationThreshold <= 0 || length <= this.fragmentationThreshold;
    if (this.sendQueue !== null || compress || !single) {
      this.sendMessage(Opcode.TEXT, Buffer.from(text, 'utf8'), callback, options);
      return;
    }
    encodeTextFrame(this.out, text, length, this.maskKeys);
    if (callback !== undefined) this.out.pushCallback(callback);
  }

  /** Frames and writes a message; RSV1 marks the first frame of a compressed one (RFC 7692 §6). */
  private writeMessage(opcode: number, payload: Buffer, compressed: boolean, callback: WriteCallback | undefined): void {
    const threshold = this.fragmentationThreshold;
    const length = payload.length;
    // compat fix: a threshold of 0 (or less) made WebSocket-Node loop forever; treat it as "do not fragment".
    if (!this.fragmentOutgoing || threshold <= 0 || length <= threshold) {
      encodeFrame(this.out, { fin: true, rsv1: compressed, opcode }, payload, this.maskKeys);
    } else {
      for (let offset = 0; offset < length; offset += threshold) {
        const end = Math.min(offset + threshold, length);
        const first = offset === 0;
        encodeFrame(
          this.out,
          { fin: end === length, rsv1: compressed && first, opcode: first ? opcode : Opcode.CONTINUATION },
          payload.subarray(offset, end),
          this.maskKeys,
        );
      }
    }
    if (callback !== undefined) this.out.pushCallback(callback);
  }

  /** Runs the sends that waited for a compression, in order, until one starts another. */
  private drainSendQueue(): void {
    const queue = this.sendQueue ?? [];
    this.sendQueue = null;
    for (let i = 0; i < queue.length; i++) {
      queue[i]!.run();
      if (this.sendQueue !== null) {
        // A queued send started a new compression: the rest waits behind it.
        const pending: QueuedSend[] = this.sendQueue;
        pending.push(...queue.slice(i + 1));
        return;
      }
    }
  }

  /** Runs `fn` once every send made so far has been written to the output (now, if none waits). */
  whenSent(fn: () => void): void {
    if (this.sendQueue !== null) this.sendQueue.push({ run: fn, callback: undefined });
    else fn();
  }

  /** Sends one frame as given (WebSocket-Node's `sendFrame`), masked when this is a client. */
  sendFrame(fields: FrameHeaderFields, payload: Buffer, callback?: WriteCallback): void {
    if (this.sendQueue !== null) {
      this.sendQueue.push({ run: () => this.sendFrame(fields, payload, callback), callback });
      return;
    }
    encodeFrame(this.out, fields, payload, this.maskKeys);
    if (callback !== undefined) this.out.pushCallback(callback);
  }

  /** Sends a ping or pong; the payload must already fit 125 bytes. */
  sendControl(opcode: typeof Opcode.PING | typeof Opcode.PONG, payload: Buffer, callback?: WriteCallback): void {
    this.sendFrame({ fin: true, rsv1: false, opcode }, payload, callback);
  }

  /**
   * Sends our close frame, once, after anything still being compressed (or at once, dropping what
   * waits, when `immediately`: failing the connection skips the queue). A code of 1005 sends an
   * empty body (RFC 6455 §7.1.5 "no status code"); the reason is cut to fit the frame.
   */
  sendClose(code: number, reason?: string, callback?: WriteCallback, immediately = false): void {
    if (this.closeSent) return;
    this.closeSent = true;
    if (immediately) this.failQueuedSends();
    const body = code === 1005 ? EMPTY : encodeClosePayload(code, reason);
    this.sendFrame({ fin: true, rsv1: false, opcode: Opcode.CLOSE }, body, callback);
  }
}

/** Whether a piece of `length` bytes is the complete payload of a single-frame message. */
function isWholeMessage(h: ParsedFrameHeader, length: number): boolean {
  return h.fin && h.opcode !== Opcode.CONTINUATION && length === h.length;
}

function joinPieces(pieces: Buffer[] | null): Buffer {
  if (pieces === null || pieces.length === 0) return EMPTY;
  if (pieces.length === 1) return Buffer.from(pieces[0]!);
  return Buffer.concat(pieces);
}
