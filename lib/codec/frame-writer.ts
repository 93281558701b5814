/** Frame serialisation (RFC 6455 §5.2): headers for every length form, masked or not. */
import { applyMask, copyMasked, type MaskKeySource } from './mask';

/** Header size for a payload of `length` bytes (2, +2 or +8 for the extended length, +4 for a mask key). */
export function frameHeaderLength(length: number, masked: boolean): number {
  return (length < 126 ? 2 : length < 0x10000 ? 4 : 10) + (masked ? 4 : 0);
}

/** The fields of a frame header as written on the wire. */
export interface FrameHeaderFields {
  readonly fin: boolean;
  readonly rsv1: boolean;
  readonly rsv2?: boolean;
  readonly rsv3?: boolean;
  readonly opcode: number;
}

/**
 * Writes a header at `target[offset]`; with `maskKey` the 4 key bytes follow the length.
 * Returns the offset just after the header.
 */
export function writeFrameHeader(
  target: Uint8Array,
  offset: number,
  fields: FrameHeaderFields,
  length: number,
  maskKey: Uint8Array | null,
): number {
  let first = fields.opcode & 0x0f;
  if (fields.fin) first |= 0x80;
  if (fields.rsv1) first |= 0x40;
  if (fields.rsv2 === true) first |= 0x20;
  if (fields.rsv3 === true) first |= 0x10;
  target[offset++] = first;
  const maskBit = maskKey === null ? 0 : 0x80;
  if (length < 126) {
    target[offset++] = maskBit | length;
  } else if (length < 0x10000) {
    target[offset++] = maskBit | 126;
    target[offset++] = length >>> 8;
    target[offset++] = length & 0xff;
  } else {
    target[offset++] = maskBit | 127;
    // RFC 6455 §5.2: 64-bit length, most significant bit 0; lengths stay below 2^53.
    const high = Math.floor(length / 0x100000000);
    const low = length >>> 0;
    target[offset++] = (high >>> 24) & 0xff;
    target[offset++] = (high >>> 16) & 0xff;
    target[offset++] = (high >>> 8) & 0xff;
    target[offset++] = high & 0xff;
    target[offset++] = low >>> 24;
    target[offset++] = (low >>> 16) & 0xff;
    target[offset++] = (low >>> 8) & 0xff;
    target[offset++] = low & 0xff;
  }
  if (maskKey !== null) {
    target[offset++] = maskKey[0]!;
    target[offset++] = maskKey[1]!;
    target[offset++] = maskKey[2]!;
    target[offset++] = maskKey[3]!;
  }
  return offset;
}

/** Receives the encoded pieces of a frame, in order. */
export interface ChunkSink {
  /** Takes one chunk of output; it must not be modified afterwards. */
  push(chunk: Buffer): void;
}

/** Unmasked payloads up to this size are copied next to their header: one chunk is cheaper to write. */
const COPY_THRESHOLD = 4096;

/**
 * Encodes one frame into `sink`. Masked frames (client side, RFC 6455 §5.3) are copied and masked,
 * never touching the caller's payload; large unmasked payloads are passed on without a copy.
 */
export function encodeFrame(
  sink: ChunkSink,
  fields: FrameHeaderFields,
  payload: Uint8Array,
  maskKeys: MaskKeySource | null,
): void {
  const length = payload.length;
  if (maskKeys !== null) {
    const headerLength = frameHeaderLength(length, true);
    const frame = Buffer.allocUnsafe(headerLength + length);
    const keyOffset = headerLength - 4;
    maskKeys.fill(frame, keyOffset);
    const key = frame.subarray(keyOffset, headerLength);
    writeFrameHeader(frame, 0, fields, length, key);
    // Masked on the way into the frame: one pass over the payload, which stays as the caller gave it.
    copyMasked(payload, frame, headerLength, key, 0);
    sink.push(frame);
    return;
  }
  const headerLength = frameHeaderLength(length, false);
  if (length <= COPY_THRESHOLD) {
    const frame = Buffer.allocUnsafe(headerLength + length);
    writeFrameHeader(frame, 0, fields, length, null);
    frame.set(payload, headerLength);
    sink.push(frame);
    return;
  }
  const header = Buffer.allocUnsafe(headerLength);
  writeFrameHeader(header, 0, fields, length, null);
  sink.push(header);
  sink.push(Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength));
}

/**
 * Encodes a single-frame text message straight from a string: the UTF-8 bytes are written once,
 * into the frame itself, instead of into a temporary Buffer that is then copied.
 */
export function encodeTextFrame(sink: ChunkSink, text: string, byteLength: number, maskKeys: MaskKeySource | null): void {
  const masked = maskKeys !== null;
  const headerLength = frameHeaderLength(byteLength, masked);
  const frame = Buffer.allocUnsafe(headerLength + byteLength);
  let maskKey: Buffer | null = null;
  if (masked) {
    maskKeys.fill(frame, headerLength - 4);
    maskKey = frame.subarray(headerLength - 4, headerLength);
  }
  writeFrameHeader(frame, 0, TEXT_FIELDS, byteLength, maskKey);
  frame.write(text, headerLength, byteLength, 'utf8');
  if (maskKey !== null) applyMask(frame, maskKey, headerLength, frame.length);
  sink.push(frame);
}

const TEXT_FIELDS: FrameHeaderFields = { fin: true, rsv1: false, opcode: 0x1 };

/**
 * Encodes a whole unmasked message into one Buffer: a single frame, or fragments of at most
 * `threshold` payload bytes (0: never fragment), RSV1 on the first when `compressed` (RFC 7692 §6).
 * Made once and written as is to many connections (topics' fan-out); a server's frames are never
 * masked (RFC 6455 §5.1), so the same bytes suit every peer.
 */
export function encodeUnmaskedMessage(opcode: number, payload: Uint8Array, threshold: number, compressed: boolean): Buffer {
  const length = payload.length;
  const step = threshold > 0 && length > threshold ? threshold : length;
  // An empty message is still one frame.
  const fragments = length === 0 ? 1 : Math.ceil(length / step);
  const last = length - step * (fragments - 1);
  const total = (fragments - 1) * (frameHeaderLength(step, false) + step) + frameHeaderLength(last, false) + last;
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (let i = 0, offset = 0; i < fragments; i++, offset += step) {
    const end = i === fragments - 1 ? length : offset + step;
    const fields: FrameHeaderFields = { fin: end === length, rsv1: compressed && i === 0, opcode: i === 0 ? opcode : 0x0 };
    at = writeFrameHeader(out, at, fields, end - offset, null);
    out.set(payload.subarray(offset, end), at);
    at += end - offset;
  }
  return out;
}
