/**
 * The sans-I/O WebSocket core: bytes in through `receive()`, events out through a ProtocolHandler,
 * frames out through an OutputSink. No sockets, no timers; the transport layer drives it.
 */
import { Opcode, isControlOpcode } from '../codec/constants';
import { WebSocketError, invalidUtf8Error, protocolError } from '../codec/errors';
import { isValidCloseCode, parseClosePayload } from '../codec/close-payload';
import { FrameParser, type FrameHandler, type MaskPolicy, type ParsedFrameHeader } from '../codec/frame-parser';
import type { FrameHeaderFields } from '../codec/frame-writer';
import { randomMaskKeys, type MaskKeySource } from '../codec/mask';
import { isValidUtf8 } from '../codec/utf8';
import type { PerMessageDeflate } from '../extensions/permessage-deflate';
import { ClosingHandshake } from './closing-handshake';
import { MessageAssembler } from './message-assembler';
import type { ProtocolHandler } from './events';
import type { OutputSink, WriteCallback } from './output-sink';
import { Sender, type SendOptions, type SendSettings } from './sender';

export type { SendOptions, SendSettings } from './sender';

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
  /**
   * Options read live, at each use, as WebSocket-Node reads them from `connection.config`: how to
   * fragment what is sent, and (when set) the frame size limit for what is received.
   */
  readonly settings?: LiveSettings;
  /** Overrides the masking rule implied by the role (for peers that do not mask). */
  readonly maskPolicy?: MaskPolicy;
  /** Mask key source for a client; defaults to crypto randomness. */
  readonly maskKeys?: MaskKeySource;
  /** The negotiated permessage-deflate codec (RFC 7692), if any. */
  readonly deflate?: PerMessageDeflate | null;
}

/** The live options: the sending ones, plus the frame size limit. */
export interface LiveSettings extends SendSettings {
  /** Largest frame payload accepted; overrides `maxFrameSize` while set. */
  readonly maxReceivedFrameSize?: number | undefined;
}

const NO_SETTINGS: LiveSettings = {};
const EMPTY = Buffer.alloc(0);

/** One WebSocket connection's protocol state; see the module comment. */
export class WebSocketProtocol implements FrameHandler {
  private readonly handler: ProtocolHandler;
  private readonly parser: FrameParser;
  /** Made with the first data frame: a connection that has received no message holds none. */
  private _assembler: MessageAssembler | null = null;
  private readonly maxMessageSize: number;
  private readonly assemble: boolean;
  private readonly settings: LiveSettings;
  /** The closing handshake's state (RFC 6455 §7). */
  readonly closing = new ClosingHandshake();
  /** The send side: framing, compression order, refusal after our Close. */
  readonly sender: Sender;

  /** Set once a close frame has been received or the connection failed: later input is discarded. */
  private discarding = false;

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
  private disposed = false;

  constructor(handler: ProtocolHandler, out: OutputSink, options: ProtocolOptions) {
    this.handler = handler;
    this.assemble = options.assembleFragments;
    this.settings = options.settings ?? NO_SETTINGS;
    const maskKeys: MaskKeySource | null = options.role === 'client' ? (options.maskKeys ?? randomMaskKeys) : null;
    this.deflate = options.deflate ?? null;
    this.parser = new FrameParser(this, {
      maxFrameSize: options.maxFrameSize,
      maskPolicy: options.maskPolicy ?? (options.role === 'server' ? 'require' : 'forbid'),
      // RFC 7692 §6: permessage-deflate gives RSV1 its meaning; without it RSV1 is a violation.
      allowRsv1: options.deflate != null,
    });
    this.maxMessageSize = options.maxMessageSize;
    this.sender = new Sender(out, this.settings, maskKeys, this.deflate, this.closing);
  }

  private assembler(): MessageAssembler {
    return (this._assembler ??= new MessageAssembler(this.maxMessageSize));
  }

  /** Payload bytes of the message being received so far (0 between messages). */
  get messageBytesReceived(): number {
    const assembler = this._assembler;
    return assembler !== null && assembler.active ? assembler.size : 0;
  }

  /** Feeds received bytes; events are delivered synchronously to the handler. */
  receive(chunk: Buffer): void {
    if (this.discarding) return;
    const limit = this.settings.maxReceivedFrameSize;
    if (limit !== undefined) this.parser.maxFrameSize = limit;
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

  /**
   * Parses the bytes kept back since `pause()`, once any inflation in progress has finished. Called
   * from inside one of this core's events it never parses there: the parsing already running
   * further up the stack goes on once the event returns.
   */
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
    this._assembler?.clear();
    this.control = null;
    this.pieces = null;
  }

  /** Releases everything: zlib streams, and sends still waiting (their callbacks get an Error). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.discard();
    this.closing.socketClosed();
    this.deflate?.close();
    this.sender.dispose();
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
      if (this.assemble && this._assembler !== null && this._assembler.active) {
        throw protocolError(`Illegal frame opcode 0x${opcode.toString(16)} received in middle of fragmented message.`);
      }
      throw protocolError(`Unrecognized Opcode: 0x${opcode.toString(16)}`);
    }
    if (!this.assemble) {
      this.pieces = null;
      this.inMessageFrame = false;
      return;
    }
    const assembler = this.assembler();
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
    assembler.addFrame(h.length, h.fin && opcode !== Opcode.CONTINUATION);
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
    if (this.assembler().size === 0 && isWholeMessage(h, length)) return null;
    return this.assembler().reserve(length, this.frameExpectedTotal);
  }

  /** @internal */
  onFramePayload(piece: Buffer, h: ParsedFrameHeader, placed: boolean): void {
    if (placed) {
      this.assembler().commitReserved(piece);
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
      this.assembler().addPiece(piece, isWholeMessage(h, piece.length), this.frameExpectedTotal);
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
    this.handler.onMessage(this.assembler().finish());
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
    let inflated: Buffer | null;
    try {
      inflated = deflate.inflateNow(pieces, this.maxMessageSize);
    } catch (caught) {
      throw inflateError(caught);
    }
    if (inflated !== null) {
      // Inflated at once: delivered like an uncompressed message, parsing never stopped.
      this.assembler().addProduced(inflated);
      this.handler.onMessage(this.assembler().finish());
      return;
    }
    this.inflating = true;
    this.parser.stop();
    this.handler.onBusy(true);
    deflate.decompress(pieces, this.maxMessageSize, (error, chunks) => {
      if (this.discarding) {
        this.inflating = false;
        return;
      }
      try {
        if (error !== null) {
          throw inflateError(error);
        }
        for (const chunk of chunks ?? []) this.assembler().addProduced(chunk);
        // Still "inflating" while the message is delivered: a resume() from its listener must not
        // start parsing the next frame from inside this callback (the next compressed message
        // would begin a second inflation under this one); parsing goes on below, once it returns.
        this.handler.onMessage(this.assembler().finish());
        this.inflating = false;
        if (this.discarding) return;
        this.handler.onBusy(false);
        // A resume() from inside onBusy may already have parsed on, even into the next inflation.
        if (this.discarding || this.inflating) return;
        if (!this.paused) this.parser.resume();
      } catch (caught) {
        this.inflating = false;
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
      const isValid = close !== null && (!close.hasCode || isValidCloseCode(close.code));
      const reply = this.closing.receive(isValid);
      // RFC 6455 §1.4: after a Close frame "the endpoint ... discards any further data received".
      this.discard();
      this.handler.onClose({ code: close === null ? 1005 : close.code, reason, isValid, reply });
    }
  }

  // ---- sending: the Sender's methods, under the names the transport and tests use ----

  /** Sends a text or binary message, fragmented per the live settings; false when refused. */
  sendMessage(opcode: number, payload: Buffer, callback?: WriteCallback, options?: SendOptions): boolean {
    return this.sender.sendMessage(opcode, payload, callback, options);
  }

  /** Sends a text message given as a string; false when refused. */
  sendText(text: string, callback?: WriteCallback, options?: SendOptions): boolean {
    return this.sender.sendText(text, callback, options);
  }

  /** Sends one frame as given, masked when this is a client; false when refused. */
  sendFrame(fields: FrameHeaderFields, payload: Buffer, callback?: WriteCallback): boolean {
    return this.sender.sendFrame(fields, payload, callback);
  }

  /** Sends a ping or pong; the payload must already fit 125 bytes (RFC 6455 §5.5). */
  sendControl(opcode: typeof Opcode.PING | typeof Opcode.PONG, payload: Buffer, callback?: WriteCallback): boolean {
    return this.sender.sendFrame({ fin: true, rsv1: false, opcode }, payload, callback);
  }

  /** Sends our Close once (see Sender.sendClose); `then` runs once it is in the output. */
  sendClose(code: number, reason?: string, callback?: WriteCallback, then: () => void = noop): boolean {
    return this.sender.sendClose(code, reason, callback, then);
  }

  /** Whether our Close frame was sent (only one ever is, RFC 6455 §5.5.1). */
  get closeSent(): boolean {
    return this.closing.closeSent;
  }
}

function noop(): void {}

/** Whether a piece of `length` bytes is the complete payload of a single-frame message. */
function isWholeMessage(h: ParsedFrameHeader, length: number): boolean {
  return h.fin && h.opcode !== Opcode.CONTINUATION && length === h.length;
}

function joinPieces(pieces: Buffer[] | null): Buffer {
  if (pieces === null || pieces.length === 0) return EMPTY;
  if (pieces.length === 1) return Buffer.from(pieces[0]!);
  return Buffer.concat(pieces);
}

/** A stream zlib cannot inflate is invalid data (RFC 7692 §8: fail the connection). */
function inflateError(caught: unknown): WebSocketError {
  return caught instanceof WebSocketError ? caught : invalidUtf8Error('Invalid compressed data received.');
}
