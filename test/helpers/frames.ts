/**
 * Hand-built WebSocket frames for raw-socket tests. Written independently of lib/codec so that a
 * bug in our encoder cannot hide the same bug in the decoder under test.
 */

export const OP = {
  CONT: 0x0,
  TEXT: 0x1,
  BINARY: 0x2,
  CLOSE: 0x8,
  PING: 0x9,
  PONG: 0xa,
} as const;

export interface FrameSpec {
  opcode: number;
  payload?: Buffer | string | undefined;
  fin?: boolean | undefined;
  rsv1?: boolean | undefined;
  rsv2?: boolean | undefined;
  rsv3?: boolean | undefined;
  /** true (default): a fixed non-zero key; false: no mask; a Buffer: that 4-byte key. */
  mask?: boolean | Buffer | undefined;
  /** Announce this length instead of the payload's (for malformed or truncated frames). */
  lengthOverride?: number | undefined;
  /** Force the 64-bit length form and write this as its high 32 bits. */
  highWord?: number | undefined;
}

// A fixed non-zero key: masked bytes differ from the plain ones, and failures are reproducible.
const DEFAULT_KEY = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);

function toBuffer(payload: Buffer | string | undefined): Buffer {
  if (payload === undefined) return Buffer.alloc(0);
  return typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
}

/** Encodes one frame; client frames are masked unless `mask: false`. */
export function frame(spec: FrameSpec): Buffer {
  const payload = toBuffer(spec.payload);
  const length = spec.lengthOverride ?? payload.length;
  const key = spec.mask === false ? null : Buffer.isBuffer(spec.mask) ? spec.mask : DEFAULT_KEY;
  let first = spec.opcode & 0x0f;
  if (spec.fin !== false) first |= 0x80;
  if (spec.rsv1 === true) first |= 0x40;
  if (spec.rsv2 === true) first |= 0x20;
  if (spec.rsv3 === true) first |= 0x10;
  const maskBit = key === null ? 0 : 0x80;
  let header: Buffer;
  if (spec.highWord !== undefined || length > 0xffff) {
    header = Buffer.alloc(10);
    header[1] = maskBit | 127;
    header.writeUInt32BE(spec.highWord ?? Math.floor(length / 0x100000000), 2);
    header.writeUInt32BE(length >>> 0, 6);
  } else if (length > 125) {
    header = Buffer.alloc(4);
    header[1] = maskBit | 126;
    header.writeUInt16BE(length, 2);
  } else {
    header = Buffer.alloc(2);
    header[1] = maskBit | length;
  }
  header[0] = first;
  if (key === null) return Buffer.concat([header, payload]);
  const masked = Buffer.alloc(payload.length);
  for (let i = 0; i < payload.length; i++) masked[i] = payload[i]! ^ key[i % 4]!;
  return Buffer.concat([header, key, masked]);
}

/** A close frame body: 2-byte code plus UTF-8 reason. */
export function closeBody(code: number, reason = ''): Buffer {
  const body = Buffer.alloc(2);
  body.writeUInt16BE(code, 0);
  return Buffer.concat([body, Buffer.from(reason, 'utf8')]);
}

export const text = (payload: string | Buffer, extra: Partial<FrameSpec> = {}): Buffer =>
  frame({ ...extra, opcode: OP.TEXT, payload });
export const binary = (payload: Buffer, extra: Partial<FrameSpec> = {}): Buffer =>
  frame({ ...extra, opcode: OP.BINARY, payload });
export const cont = (payload: string | Buffer, extra: Partial<FrameSpec> = {}): Buffer =>
  frame({ ...extra, opcode: OP.CONT, payload });
export const ping = (payload: string | Buffer = '', extra: Partial<FrameSpec> = {}): Buffer =>
  frame({ ...extra, opcode: OP.PING, payload });
export const pong = (payload: string | Buffer = '', extra: Partial<FrameSpec> = {}): Buffer =>
  frame({ ...extra, opcode: OP.PONG, payload });
/** A close frame; `code` undefined gives an empty body. */
export const close = (code?: number, reason = '', extra: Partial<FrameSpec> = {}): Buffer =>
  frame({ ...extra, opcode: OP.CLOSE, payload: code === undefined ? Buffer.alloc(0) : closeBody(code, reason) });

/** The exact bytes a server (unmasked) close frame with this code and reason has on the wire. */
export function serverClose(code: number, reason = ''): Buffer {
  return frame({ opcode: OP.CLOSE, payload: closeBody(code, reason), mask: false });
}

export interface ParsedFrame {
  fin: boolean;
  rsv1: boolean;
  rsv2: boolean;
  rsv3: boolean;
  opcode: number;
  masked: boolean;
  payload: Buffer;
  /** The frame's bytes exactly as received. */
  raw: Buffer;
}

/** Parses one frame at `offset`; null when the buffer does not hold a whole frame yet. */
export function parseFrame(buf: Buffer, offset = 0): { frame: ParsedFrame; end: number } | null {
  if (buf.length - offset < 2) return null;
  const b0 = buf[offset]!;
  const b1 = buf[offset + 1]!;
  let length = b1 & 0x7f;
  let pos = offset + 2;
  if (length === 126) {
    if (buf.length < pos + 2) return null;
    length = buf.readUInt16BE(pos);
    pos += 2;
  } else if (length === 127) {
    if (buf.length < pos + 8) return null;
    length = buf.readUInt32BE(pos) * 0x100000000 + buf.readUInt32BE(pos + 4);
    pos += 8;
  }
  const masked = (b1 & 0x80) !== 0;
  let key: Buffer | null = null;
  if (masked) {
    if (buf.length < pos + 4) return null;
    key = buf.subarray(pos, pos + 4);
    pos += 4;
  }
  if (buf.length < pos + length) return null;
  let payload = Buffer.from(buf.subarray(pos, pos + length));
  if (key !== null) {
    const k = key;
    payload = Buffer.from(payload.map((b, i) => b ^ k[i % 4]!));
  }
  const end = pos + length;
  return {
    frame: {
      fin: (b0 & 0x80) !== 0,
      rsv1: (b0 & 0x40) !== 0,
      rsv2: (b0 & 0x20) !== 0,
      rsv3: (b0 & 0x10) !== 0,
      opcode: b0 & 0x0f,
      masked,
      payload,
      raw: Buffer.from(buf.subarray(offset, end)),
    },
    end,
  };
}

/** Parses every whole frame in `buf`; `rest` is what is left of an incomplete last frame. */
export function parseFrames(buf: Buffer): { frames: ParsedFrame[]; rest: Buffer } {
  const frames: ParsedFrame[] = [];
  let offset = 0;
  for (;;) {
    const parsed = parseFrame(buf, offset);
    if (parsed === null) break;
    frames.push(parsed.frame);
    offset = parsed.end;
  }
  return { frames, rest: buf.subarray(offset) };
}

/** Hex with spaces, for readable byte assertions: `88 02 03 e8`. */
export function hex(buf: Buffer): string {
  return [...buf].map((b) => b.toString(16).padStart(2, '0')).join(' ');
}
