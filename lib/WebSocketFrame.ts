/**
 * WebSocketFrame, WebSocket-Node's public frame object: fields, a resumable `addData()` parser over
 * a buffer list, and `toBuffer()`. Connections do not use it on their hot path (they use codec/);
 * it serves `'frame'` events, `sendFrame()` and code written against the original class.
 */
import { applyMask, copyMasked, randomMaskKeys } from './codec/mask';

/** The buffer-list shape `addData()` reads from (WebSocket-Node's BufferList, or a test double). */
interface FrameBufferList {
  readonly length: number;
  joinInto(target: Buffer, targetStart: number, sourceStart: number, sourceEnd: number): Buffer;
  advance(bytes: number): unknown;
  take(bytes: number): Buffer;
}

/** Config keys a frame reads. */
interface FrameConfig {
  maxReceivedFrameSize?: number | undefined;
}

// compat: WebSocket-Node's parse states, kept as the numbers it exposes through `parseState`.
const DECODE_HEADER = 1;
const WAITING_FOR_16_BIT_LENGTH = 2;
const WAITING_FOR_64_BIT_LENGTH = 3;
const WAITING_FOR_MASK_KEY = 4;
const WAITING_FOR_PAYLOAD = 5;
const COMPLETE = 6;

const EMPTY = Buffer.alloc(0);

/** One WebSocket frame, as WebSocket-Node models it. */
class WebSocketFrame {
  /** Scratch for the mask key; shared with the owning connection in WebSocket-Node. */
  maskBytes: Buffer;
  /** Scratch for the header bytes. */
  frameHeader: Buffer;
  config: FrameConfig;
  /** Undefined when the config has none (then no size limit applies). */
  maxReceivedFrameSize: number;
  protocolError = false;
  frameTooLarge = false;
  invalidCloseFrameLength = false;
  parseState = DECODE_HEADER;
  /** The close status of a close frame; -1 when unset. */
  closeStatus = -1;
  fin = false;
  rsv1 = false;
  rsv2 = false;
  rsv3 = false;
  mask = false;
  opcode = 0;
  length = 0;
  /** The payload; undefined until the frame is parsed or filled in (typed as `@types` has it). */
  binaryPayload!: Buffer;
  dropReason!: string;

  constructor(maskBytes?: Buffer, frameHeader?: Buffer, config?: FrameConfig) {
    this.maskBytes = maskBytes ?? Buffer.alloc(4);
    this.frameHeader = frameHeader ?? Buffer.alloc(10);
    // compat fix: WebSocket-Node threw a TypeError without a config; an empty one is assumed.
    this.config = config ?? {};
    this.maxReceivedFrameSize = this.config.maxReceivedFrameSize as number;
  }

  /** Reads from `bufferList`; returns true when the frame is complete or an error was flagged. */
  addData(bufferList: FrameBufferList): boolean {
    if (this.parseState === DECODE_HEADER && bufferList.length >= 2) {
      bufferList.joinInto(this.frameHeader, 0, 0, 2);
      bufferList.advance(2);
      const first = this.frameHeader[0]!;
      const second = this.frameHeader[1]!;
      this.fin = (first & 0x80) !== 0;
      this.rsv1 = (first & 0x40) !== 0;
      this.rsv2 = (first & 0x20) !== 0;
      this.rsv3 = (first & 0x10) !== 0;
      this.mask = (second & 0x80) !== 0;
      this.opcode = first & 0x0f;
      this.length = second & 0x7f;
      if (this.opcode >= 0x08) {
        if (this.length > 125) return this.flagProtocolError('Illegal control frame longer than 125 bytes.');
        if (!this.fin) return this.flagProtocolError('Control frames must not be fragmented.');
      }
      this.parseState =
        this.length === 126 ? WAITING_FOR_16_BIT_LENGTH : this.length === 127 ? WAITING_FOR_64_BIT_LENGTH : WAITING_FOR_MASK_KEY;
    }
    if (this.parseState === WAITING_FOR_16_BIT_LENGTH) {
      if (bufferList.length >= 2) {
        bufferList.joinInto(this.frameHeader, 2, 0, 2);
        bufferList.advance(2);
        this.length = this.frameHeader.readUInt16BE(2);
        this.parseState = WAITING_FOR_MASK_KEY;
      }
    } else if (this.parseState === WAITING_FOR_64_BIT_LENGTH) {
      if (bufferList.length >= 8) {
        bufferList.joinInto(this.frameHeader, 2, 0, 8);
        bufferList.advance(8);
        if (this.frameHeader.readUInt32BE(2) !== 0) {
          return this.flagProtocolError('Unsupported 64-bit length frame received');
        }
        this.length = this.frameHeader.readUInt32BE(6);
        this.parseState = WAITING_FOR_MASK_KEY;
      }
    }
    if (this.parseState === WAITING_FOR_MASK_KEY) {
      if (!this.mask) {
        this.parseState = WAITING_FOR_PAYLOAD;
      } else if (bufferList.length >= 4) {
        bufferList.joinInto(this.maskBytes, 0, 0, 4);
        bufferList.advance(4);
        this.parseState = WAITING_FOR_PAYLOAD;
      }
    }
    if (this.parseState === WAITING_FOR_PAYLOAD) {
      if (this.maxReceivedFrameSize !== undefined && this.length > this.maxReceivedFrameSize) {
        this.frameTooLarge = true;
        this.dropReason = `Frame size of ${this.length} bytes exceeds maximum accepted frame size`;
        return true;
      }
      if (this.length === 0) {
        this.binaryPayload = EMPTY;
        this.parseState = COMPLETE;
        return true;
      }
      if (bufferList.length >= this.length) {
        const payload = bufferList.take(this.length);
        bufferList.advance(this.length);
        if (this.mask) applyMask(payload, this.maskBytes, 0, payload.length);
        this.binaryPayload = payload;
        if (this.opcode === 0x08) {
          if (this.length === 1) {
            // RFC 6455 §5.5.1: a close body is empty or starts with a 2-byte code.
            this.binaryPayload = EMPTY;
            this.invalidCloseFrameLength = true;
          } else {
            this.closeStatus = payload.readUInt16BE(0);
            this.binaryPayload = payload.subarray(2);
          }
        }
        this.parseState = COMPLETE;
        return true;
      }
    }
    return false;
  }

  /** Skips this frame's payload in `bufferList` (WebSocket-Node's legacy helper). */
  throwAwayPayload(bufferList: FrameBufferList): boolean {
    if (bufferList.length >= this.length) {
      bufferList.advance(this.length);
      this.parseState = COMPLETE;
      return true;
    }
    return false;
  }

  /** Serialises the frame; `nullMask` uses an all-zero key for deterministic bytes (tests). */
  toBuffer(nullMask?: boolean): Buffer {
    // compat: follows WebSocket-Node's toBuffer() step by step (truthy flags, `opcode & 0x0f`, the
    // payload read duck-typed, `length` recorded on the frame, errors thrown at the same points),
    // because applications build these frames by hand and must get the same bytes or the same error.
    // Only the key's randomness source differs (docs/compat.md). The payload is read as unknown:
    // users assign null, strings or typed arrays to it whatever its declared type.
    const payload: unknown = this.binaryPayload;
    let data: unknown;
    if (this.opcode === 0x08) {
      this.length = 2;
      if (payload) this.length += lengthOf(payload);
      const body = Buffer.allocUnsafe(this.length);
      // compat: an unset closeStatus (-1) throws a RangeError here, as in WebSocket-Node.
      body.writeUInt16BE(this.closeStatus, 0);
      if (this.length > 2) copyLike(payload, 'this.binaryPayload', body, 2);
      data = body;
    } else if (payload) {
      data = payload;
      this.length = lengthOf(payload);
    } else {
      this.length = 0;
    }
    const length = this.length;

    let first = this.opcode & 0x0f;
    if (this.fin) first |= 0x80;
    if (this.rsv1) first |= 0x40;
    if (this.rsv2) first |= 0x20;
    if (this.rsv3) first |= 0x10;
    let second = this.mask ? 0x80 : 0;
    let headerLength = 2;
    // Every branch tests its whole range (no final else): a length that is not a number (from a
    // duck-typed payload) matches none, and the allocation below then throws as upstream's does.
    if (length <= 125) {
      second |= length & 0x7f;
    } else if (length > 125 && length <= 0xffff) {
      second |= 126;
      headerLength += 2;
    } else if (length > 0xffff) {
      second |= 127;
      headerLength += 8;
    }
    const output = Buffer.allocUnsafe(length + headerLength + (this.mask ? 4 : 0));
    output[0] = first;
    output[1] = second;
    let position = 2;
    if (length > 125 && length <= 0xffff) {
      output.writeUInt16BE(length, position);
      position += 2;
    } else if (length > 0xffff) {
      // compat: the high 32 bits are written as zero and lengths of 2^32 or more throw a RangeError.
      output.writeUInt32BE(0, position);
      output.writeUInt32BE(length, position + 4);
      position += 8;
    }

    if (this.mask) {
      // The key goes through maskBytes (which the caller may inspect afterwards); a maskBytes that
      // is missing, too short or not a Buffer throws here just as in WebSocket-Node.
      this.maskBytes.writeUInt32BE(nullMask ? 0 : randomKeyWord(), 0);
      this.maskBytes.copy(output, position);
      position += 4;
      if (data) {
        // compat fix: WebSocket-Node hands the payload to bufferutil's native mask(), which accepts
        // any typed array (reading `length` bytes of it) and aborts the process for anything else.
        if (!ArrayBuffer.isView(data)) {
          throw new TypeError('A masked frame\'s binaryPayload must be a Buffer or a typed array.');
        }
        copyMasked(new Uint8Array(data.buffer, data.byteOffset, length), output, position, this.maskBytes, 0);
      }
    } else if (data) {
      copyLike(data, 'data', output, position);
    }
    return output;
  }

  /** A one-line description, as WebSocket-Node prints it. */
  toString(): string {
    return `Opcode: ${this.opcode}, fin: ${this.fin}, length: ${this.length}, hasPayload: ${Boolean(this.binaryPayload)}, masked: ${this.mask}`;
  }

  private flagProtocolError(reason: string): boolean {
    this.protocolError = true;
    this.dropReason = reason;
    return true;
  }
}

/** `value.length`, whatever it holds; a payload without one yields undefined (then NaN), as upstream. */
function lengthOf(value: unknown): number {
  return (value as { length: number }).length;
}

/**
 * Calls `source.copy(target, offset)` as WebSocket-Node does, so a Buffer (or anything with a
 * Buffer-like `copy`) works, and anything else fails with the TypeError upstream's call gave.
 */
function copyLike(source: unknown, name: string, target: Buffer, offset: number): void {
  const copy = (source as { copy?: unknown }).copy;
  if (typeof copy !== 'function') throw new TypeError(`${name}.copy is not a function`);
  Reflect.apply(copy, source, [target, offset]);
}

const keyScratch = Buffer.alloc(4);

/** A fresh masking key as a 32-bit word, from the same crypto-backed pool the connections use. */
function randomKeyWord(): number {
  randomMaskKeys.fill(keyScratch, 0);
  return keyScratch.readUInt32BE(0);
}

export = WebSocketFrame;
