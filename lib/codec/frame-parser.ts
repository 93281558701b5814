/**
 * Streaming frame parser (RFC 6455 §5.2). Chunks go in as they arrive; each frame comes out as a
 * header event, its unmasked payload in one or more pieces (zero-copy views of the chunks), and an
 * end event. Streaming the payload lets text fail fast on bad UTF-8 before a frame is complete, and a
 * frame contained in one chunk costs no copy at all.
 */
import { isControlOpcode, MAX_CONTROL_PAYLOAD, MAX_PAYLOAD_LENGTH } from './constants';
import { protocolError, tooBigError } from './errors';
import { applyMask, copyMasked, SIMD_THRESHOLD } from './mask';

/** The header of the frame being parsed. Reused between frames: read it inside the handler calls. */
export interface ParsedFrameHeader {
  fin: boolean;
  rsv1: boolean;
  rsv2: boolean;
  rsv3: boolean;
  opcode: number;
  masked: boolean;
  /** Payload length announced by the header. */
  length: number;
  /** The masking key (valid when `masked`). */
  readonly maskKey: Buffer;
}

/**
 * Receives the parts of each frame, in wire order. Any method may throw a WebSocketError; the
 * parser's position is then undefined, so its owner must halt() or reset() it (the protocol halts).
 */
export interface FrameHandler {
  /** A complete header (with mask key) has been read; payload pieces follow. */
  onFrameHeader(header: ParsedFrameHeader): void;
  /**
   * An unmasked piece of payload; a view valid only during the call unless the handler keeps it.
   * `placed` is true when the piece is the area `reservePayload` returned, already filled.
   */
  onFramePayload(piece: Buffer, header: ParsedFrameHeader, placed: boolean): void;
  /**
   * Optional: where the next `length` bytes of a masked payload should go. The parser then unmasks
   * them straight into that area (one pass instead of unmasking in place and copying), and the
   * received chunk is left as it was. Null keeps the in-place, zero-copy piece.
   */
  reservePayload?(length: number, header: ParsedFrameHeader): Buffer | null;
  /** The frame's payload is complete. */
  onFrameEnd(header: ParsedFrameHeader): void;
}

/** Which frames must carry a mask: a server requires it, a client forbids it (RFC 6455 §5.1). */
export type MaskPolicy = 'require' | 'forbid' | 'any';

/** Limits and negotiated state the parser enforces. */
export interface FrameParserOptions {
  /** Largest payload accepted for one frame; larger ones fail with 1009. */
  maxFrameSize: number;
  /** RFC 6455 §5.1 masking direction rule. */
  maskPolicy: MaskPolicy;
  /** Whether RSV1 may be set (an extension such as permessage-deflate gave it a meaning). */
  allowRsv1: boolean;
}

const EMPTY = Buffer.alloc(0);

/** Key bytes at 0..3, then room for a header that spans chunks (at most 14 bytes). */
const SCRATCH_SIZE = 18;
const HEADER_AT = 4;

/**
 * Parses frames out of a stream of chunks; see the module comment. The parser is itself the
 * `ParsedFrameHeader` it hands to the handler, and keeps its limits as plain fields: every
 * connection has one, so each object left out is memory saved per idle connection.
 */
export class FrameParser implements ParsedFrameHeader {
  fin = false;
  rsv1 = false;
  rsv2 = false;
  rsv3 = false;
  opcode = 0;
  masked = false;
  length = 0;

  private readonly handler: FrameHandler;
  /** Largest payload accepted for one frame; may be changed between chunks (a live config). */
  maxFrameSize: number;
  private readonly maskPolicy: MaskPolicy;
  private readonly allowRsv1: boolean;
  /** The mask key (bytes 0..3) and the bytes of a header that spans chunks (from HEADER_AT). */
  private scratch: Buffer | null = null;
  private headerFill = 0;
  /** True between a header and the end of its payload. */
  private inPayload = false;
  private remaining = 0;
  private keyOffset = 0;
  /** Set by `stop()`: parsing waits, and bytes pushed meanwhile are queued until `resume()`. */
  private stopped = false;
  /**
   * Chunks waiting to be parsed (the first from `queueOffset`), kept as a list and never joined:
   * bytes that arrive while parsing is stopped cost no copy, however many chunks there are.
   */
  private queue: Buffer[] | null = null;
  private queueOffset = 0;
  /** True while `drain()` is on the stack: a push or resume from a handler only queues or unstops. */
  private draining = false;
  /** Set by `halt()`: nothing more is parsed or kept, not even the rest of the current chunk. */
  private halted = false;

  constructor(handler: FrameHandler, options: FrameParserOptions) {
    this.handler = handler;
    this.maxFrameSize = options.maxFrameSize;
    this.maskPolicy = options.maskPolicy;
    this.allowRsv1 = options.allowRsv1;
  }

  /**
   * The mask key and spanning-header bytes, made with the first frame that needs them (from Node's
   * shared pool): a connection that has received nothing yet holds none.
   */
  private scratchBytes(): Buffer {
    return (this.scratch ??= Buffer.allocUnsafe(SCRATCH_SIZE));
  }

  /** The masking key of the current frame (valid when `masked`); a new view on each read. */
  get maskKey(): Buffer {
    return this.scratchBytes().subarray(0, 4);
  }

  /** Whether parsing is stopped (see `stop`). */
  get isStopped(): boolean {
    return this.stopped;
  }

  /** Stops after the current frame event; later bytes are kept until `resume()`. */
  stop(): void {
    this.stopped = true;
  }

  /**
   * Continues with the bytes kept back by `stop()`. Called from inside a handler event (the
   * parser is already running further up the stack), it only clears the stop: the running loop
   * goes on once the handler returns, so the parser is never re-entered.
   */
  resume(): void {
    if (this.halted) return;
    this.stopped = false;
    if (!this.draining && this.queue !== null) this.drain();
  }

  /** Stops for good: nothing more is parsed or kept (the connection failed or was closed). */
  halt(): void {
    this.halted = true;
    this.stopped = true;
    this.reset();
  }

  /** Drops any kept-back bytes and partial frame. */
  reset(): void {
    this.queue = null;
    this.queueOffset = 0;
    this.headerFill = 0;
    this.inPayload = false;
    this.remaining = 0;
  }

  /** Parses as much of `chunk` as possible, calling the handler for each frame part. */
  push(chunk: Buffer): void {
    if (this.halted || chunk.length === 0) return;
    if (this.queue !== null) {
      this.queue.push(chunk);
    } else {
      this.queue = [chunk];
      this.queueOffset = 0;
    }
    if (!this.stopped && !this.draining) this.drain();
  }

  /** The one parsing loop: runs until the queue is empty, parsing is stopped, or a handler throws. */
  private drain(): void {
    this.draining = true;
    try {
      let queue = this.queue;
      while (queue !== null && !this.stopped) {
        const chunk = queue[0]!;
        const end = chunk.length;
        let pos = this.queueOffset;
        while (pos < end && !this.stopped) {
          pos = this.inPayload ? this.readPayload(chunk, pos, end) : this.readHeader(chunk, pos, end);
        }
        // A handler may have halted or reset the parser, dropping the queue.
        if (this.queue !== queue) {
          queue = this.queue;
          continue;
        }
        if (pos < end) {
          this.queueOffset = pos;
          break;
        }
        this.queueOffset = 0;
        if (queue.length === 1) {
          this.queue = queue = null;
        } else {
          queue.shift();
        }
      }
    } finally {
      this.draining = false;
    }
  }

  private readHeader(chunk: Buffer, pos: number, end: number): number {
    if (this.headerFill === 0 && end - pos >= 2) {
      const size = headerSize(chunk[pos + 1]!);
      if (end - pos >= size) {
        // Fast path: the whole header is in this chunk.
        this.decodeHeader(chunk, pos);
        this.beginPayload();
        return pos + size;
      }
    }
    // Slow path: gather a header that spans chunks into the scratch buffer.
    const bytes = this.scratchBytes();
    let size = this.headerFill >= 2 ? headerSize(bytes[HEADER_AT + 1]!) : 2;
    while (pos < end) {
      const take = Math.min(size - this.headerFill, end - pos);
      chunk.copy(bytes, HEADER_AT + this.headerFill, pos, pos + take);
      this.headerFill += take;
      pos += take;
      if (this.headerFill < size) break;
      if (size === 2) {
        size = headerSize(bytes[HEADER_AT + 1]!);
        if (size > 2) continue;
      }
      this.headerFill = 0;
      this.decodeHeader(bytes, HEADER_AT);
      this.beginPayload();
      break;
    }
    return pos;
  }

  private decodeHeader(bytes: Buffer, at: number): void {
    const h = this as FrameParser;
    const first = bytes[at]!;
    const second = bytes[at + 1]!;
    h.fin = (first & 0x80) !== 0;
    h.rsv1 = (first & 0x40) !== 0;
    h.rsv2 = (first & 0x20) !== 0;
    h.rsv3 = (first & 0x10) !== 0;
    h.opcode = first & 0x0f;
    h.masked = (second & 0x80) !== 0;
    let length = second & 0x7f;
    let offset = at + 2;
    // compat: the control-frame checks come first, with WebSocket-Node's drop reasons.
    if (isControlOpcode(h.opcode)) {
      // RFC 6455 §5.5: control frames "MUST have a payload length of 125 bytes or less".
      if (length > MAX_CONTROL_PAYLOAD) throw protocolError('Illegal control frame longer than 125 bytes.');
      // RFC 6455 §5.5: "Control frames themselves MUST NOT be fragmented."
      if (!h.fin) throw protocolError('Control frames must not be fragmented.');
    }
    if (length === 126) {
      length = bytes.readUInt16BE(offset);
      offset += 2;
    } else if (length === 127) {
      const high = bytes.readUInt32BE(offset);
      // RFC 6455 §5.2: "the most significant bit MUST be 0".
      if (high >= 0x80000000) throw protocolError('Unsupported 64-bit length frame received');
      length = high * 0x100000000 + bytes.readUInt32BE(offset + 4);
      offset += 8;
      if (length > MAX_PAYLOAD_LENGTH) {
        throw tooBigError(`Frame size of ${length} bytes exceeds maximum accepted frame size`);
      }
    }
    h.length = length;
    // The key goes to scratch[0..3]; a spanning header sits at HEADER_AT, so the ranges never overlap.
    if (h.masked) bytes.copy(this.scratchBytes(), 0, offset, offset + 4);
    // RFC 6455 §5.2: a nonzero RSV bit without a negotiated meaning "MUST _Fail the WebSocket Connection_".
    if (h.rsv2 || h.rsv3 || (h.rsv1 && !this.allowRsv1)) {
      throw protocolError('Unsupported usage of rsv bits without negotiated extension.');
    }
    const policy = this.maskPolicy;
    // RFC 6455 §5.1: "The server MUST close the connection upon receiving a frame that is not masked."
    if (policy === 'require' && !h.masked) throw protocolError('Received an unmasked frame from the client.');
    // RFC 6455 §5.1: "A client MUST close a connection if it detects a masked frame."
    if (policy === 'forbid' && h.masked) throw protocolError('Received a masked frame from the server.');
    if (length > this.maxFrameSize) {
      throw tooBigError(`Frame size of ${length} bytes exceeds maximum accepted frame size`);
    }
  }

  private beginPayload(): void {
    const h: ParsedFrameHeader = this;
    this.handler.onFrameHeader(h);
    // A handler may halt the parser from any event: nothing of this frame follows then.
    if (this.halted) return;
    if (h.length === 0) {
      this.handler.onFramePayload(EMPTY, h, false);
      if (!this.halted) this.handler.onFrameEnd(h);
      return;
    }
    this.inPayload = true;
    this.remaining = h.length;
    this.keyOffset = 0;
  }

  private readPayload(chunk: Buffer, pos: number, end: number): number {
    const h: ParsedFrameHeader = this;
    const take = Math.min(this.remaining, end - pos);
    let piece = take === end - pos && pos === 0 ? chunk : chunk.subarray(pos, pos + take);
    let placed = false;
    if (h.masked) {
      // Fusing only pays where the SIMD masker runs; below that the word loop in place is as cheap.
      const target = take >= SIMD_THRESHOLD && this.handler.reservePayload !== undefined ? this.handler.reservePayload(take, h) : null;
      if (target !== null) {
        this.keyOffset = copyMasked(piece, target, 0, this.scratch as Buffer, this.keyOffset);
        piece = target;
        placed = true;
      } else {
        this.keyOffset = applyMask(piece, this.scratch as Buffer, 0, take, this.keyOffset);
      }
    }
    this.remaining -= take;
    const complete = this.remaining === 0;
    if (complete) this.inPayload = false;
    this.handler.onFramePayload(piece, h, placed);
    if (complete && !this.halted) this.handler.onFrameEnd(h);
    return pos + take;
  }
}

/** Full header size from its second byte: 2, plus the extended length, plus the mask key. */
function headerSize(second: number): number {
  const len = second & 0x7f;
  return 2 + (len === 126 ? 2 : len === 127 ? 8 : 0) + ((second & 0x80) !== 0 ? 4 : 0);
}
