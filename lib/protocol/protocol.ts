/**
 * The sans-I/O WebSocket core: bytes in through `receive()`, events out through a ProtocolHandler,
 * frames out through an OutputSink. No sockets, no timers; the transport layer drives it.
 */
import { Opcode, isControlOpcode } from '../codec/constants';
import { WebSocketError, invalidUtf8Error, protocolError } from '../codec/errors';
import { isValidCloseCode, parseClosePayload, encodeClosePayload } from '../codec/close-payload';
import { FrameParser, type FrameHandler, type MaskPolicy, type ParsedFrameHeader } from '../codec/frame-parser';
import { encodeFrame, type FrameHeaderFields } from '../codec/frame-writer';
import { randomMaskKeys, type MaskKeySource } from '../codec/mask';
import { isValidUtf8 } from '../codec/utf8';
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

  /** Payload of the control frame being read (at most 125 bytes). */
  private control: Buffer[] = [];
  /** Payload pieces of the frame being read, when frames are reported whole. */
  private framePieces: Buffer[] = [];
  /** Whether the data frame being read belongs to an assembled message. */
  private inMessageFrame = false;
  private frameExpectedTotal = 0;

  constructor(handler: ProtocolHandler, out: OutputSink, options: ProtocolOptions) {
    this.handler = handler;
    this.out = out;
    this.assemble = options.assembleFragments;
    this.fragmentOutgoing = options.fragmentOutgoing;
    this.fragmentationThreshold = options.fragmentationThreshold;
    this.maskKeys = options.role === 'client' ? (options.maskKeys ?? randomMaskKeys) : null;
    this.parser = new FrameParser(this, {
      maxFrameSize: options.maxFrameSize,
      maskPolicy: options.maskPolicy ?? (options.role === 'server' ? 'require' : 'forbid'),
      allowRsv1: false,
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
    this.parser.stop();
  }

  /** Parses the bytes kept back since `pause()`. */
  resume(): void {
    if (this.discarding) return;
    try {
      this.parser.resume();
    } catch (error) {
      this.fail(error);
    }
  }

  /** Stops all further parsing and drops partial state (the connection is going away). */
  discard(): void {
    this.discarding = true;
    this.parser.reset();
    this.assembler.clear();
    this.control = [];
    this.framePieces = [];
  }

  private fail(error: unknown): void {
    this.discard();
    const failure =
      error instanceof WebSocketError
        ? error
        : new WebSocketError('WS_ERR_INTERNAL', 1011, error instanceof Error ? error.message : String(error));
    this.handler.onError(failure);
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
      this.control = [];
      return;
    }
    if (opcode > Opcode.BINARY) throw protocolError(`Unrecognized Opcode: 0x${opcode.toString(16)}`);
    if (!this.assemble) {
      this.framePieces = [];
      this.inMessageFrame = false;
      return;
    }
    const assembler = this.assembler;
    if (opcode === Opcode.CONTINUATION) {
      // RFC 6455 §5.4: a continuation frame only continues a message that was started.
      if (!assembler.active) throw protocolError('Unexpected Continuation Frame');
    } else {
      // RFC 6455 §5.4: the fragments of one message "MUST NOT be interleaved" with another message.
      if (assembler.active) {
        throw protocolError(`Illegal frame opcode 0x${opcode.toString(16)} received in middle of fragmented message.`);
      }
      assembler.begin(opcode);
    }
    // compat: a single-frame message is limited only by maxReceivedFrameSize, as in WebSocket-Node.
    assembler.addFrame(h.length, !(h.fin && opcode !== Opcode.CONTINUATION));
    this.inMessageFrame = true;
    this.frameExpectedTotal = assembler.size + h.length;
  }

  /** @internal */
  onFramePayload(piece: Buffer, h: ParsedFrameHeader): void {
    if (isControlOpcode(h.opcode)) {
      if (piece.length > 0) this.control.push(piece);
      return;
    }
    if (this.inMessageFrame) {
      const whole = h.fin && h.opcode !== Opcode.CONTINUATION && piece.length === h.length;
      this.assembler.addPiece(piece, whole, this.frameExpectedTotal);
    } else if (piece.length > 0) {
      this.framePieces.push(piece);
    }
  }

  /** @internal */
  onFrameEnd(h: ParsedFrameHeader): void {
    if (isControlOpcode(h.opcode)) {
      const payload = joinPieces(this.control);
      this.control = [];
      if (!this.assemble) this.reportFrame(h, payload);
      this.handleControl(h.opcode, payload);
      return;
    }
    if (!this.inMessageFrame) {
      this.reportFrame(h, joinPieces(this.framePieces));
      this.framePieces = [];
      return;
    }
    this.inMessageFrame = false;
    if (h.fin) this.handler.onMessage(this.assembler.finish());
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
        reason = close.reason.toString('utf8');
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
  sendMessage(opcode: typeof Opcode.TEXT | typeof Opcode.BINARY, payload: Buffer, callback?: WriteCallback): void {
    const threshold = this.fragmentationThreshold;
    const length = payload.length;
    // compat fix: a threshold of 0 (or less) made WebSocket-Node loop forever; treat it as "do not fragment".
    if (!this.fragmentOutgoing || threshold <= 0 || length <= threshold) {
      encodeFrame(this.out, { fin: true, rsv1: false, opcode }, payload, this.maskKeys);
    } else {
      for (let offset = 0; offset < length; offset += threshold) {
        const end = Math.min(offset + threshold, length);
        encodeFrame(
          this.out,
          { fin: end === length, rsv1: false, opcode: offset === 0 ? opcode : Opcode.CONTINUATION },
          payload.subarray(offset, end),
          this.maskKeys,
        );
      }
    }
    if (callback !== undefined) this.out.pushCallback(callback);
  }

  /** Sends one frame as given (WebSocket-Node's `sendFrame`), masked when this is a client. */
  sendFrame(fields: FrameHeaderFields, payload: Buffer, callback?: WriteCallback): void {
    encodeFrame(this.out, fields, payload, this.maskKeys);
    if (callback !== undefined) this.out.pushCallback(callback);
  }

  /** Sends a ping or pong; the payload must already fit 125 bytes. */
  sendControl(opcode: typeof Opcode.PING | typeof Opcode.PONG, payload: Buffer, callback?: WriteCallback): void {
    encodeFrame(this.out, { fin: true, rsv1: false, opcode }, payload, this.maskKeys);
    if (callback !== undefined) this.out.pushCallback(callback);
  }

  /**
   * Sends our close frame, once. A code of 1005 sends an empty body (RFC 6455 §7.1.5 "no status
   * code"); the reason is cut to fit the frame.
   */
  sendClose(code: number, reason?: string, callback?: WriteCallback): void {
    if (this.closeSent) return;
    this.closeSent = true;
    const body = code === 1005 ? EMPTY : encodeClosePayload(code, reason);
    encodeFrame(this.out, { fin: true, rsv1: false, opcode: Opcode.CLOSE }, body, this.maskKeys);
    if (callback !== undefined) this.out.pushCallback(callback);
  }
}

function joinPieces(pieces: Buffer[]): Buffer {
  if (pieces.length === 0) return EMPTY;
  if (pieces.length === 1) return Buffer.from(pieces[0]!);
  return Buffer.concat(pieces);
}
