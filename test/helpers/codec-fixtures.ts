/** Shared fixtures for the codec/protocol unit tests: hex helpers, a seeded PRNG and recording doubles. */
import type { FrameHandler, FrameParserOptions, ParsedFrameHeader } from '../../lib/codec/frame-parser';
import { FrameParser } from '../../lib/codec/frame-parser';
import type { WebSocketError } from '../../lib/codec/errors';
import type { MaskKeySource } from '../../lib/codec/mask';
import type { ProtocolHandler, ReceivedClose, ReceivedFrame } from '../../lib/protocol/events';
import type { OutputSink, WriteCallback } from '../../lib/protocol/output-sink';

/** Bytes from a hex string; spaces are ignored so vectors can be written as on paper. */
export function fromHex(text: string): Buffer {
  return Buffer.from(text.replace(/\s+/g, ''), 'hex');
}

export function hex(data: Uint8Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('hex');
}

/** Deterministic PRNG (mulberry32): failures must reproduce from the seed alone. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `length` deterministic bytes: one draw from `rand` seeds a local xorshift32, which is far cheaper per byte. */
export function randomBytesFrom(rand: () => number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let x = (Math.floor(rand() * 0xffffffff) | 1) >>> 0;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = (x >>> 24) & 0xff;
  }
  return out;
}

/** A key source that always hands out the same key, for byte-exact expectations. */
export function fixedMaskKeys(key: readonly number[]): MaskKeySource & { calls: number } {
  const source = {
    calls: 0,
    fill(target: Uint8Array, offset: number): void {
      source.calls++;
      for (let i = 0; i < 4; i++) target[offset + i] = key[i]!;
    },
  };
  return source;
}

/** XOR-masks a copy of `payload` with `key`, byte by byte (the reference the fast paths are held to). */
export function referenceMask(payload: Uint8Array, key: Uint8Array | readonly number[], keyOffset = 0): Buffer {
  const out = Buffer.from(payload);
  for (let i = 0; i < out.length; i++) out[i] = out[i]! ^ key[(i + keyOffset) & 3]!;
  return out;
}

/** Builds a frame by hand (independent of the writer under test). */
export function buildFrame(opts: {
  fin?: boolean;
  rsv?: number;
  opcode: number;
  payload?: Uint8Array;
  mask?: readonly number[] | null;
  /** Force a length form ('7', '16', '64') even when a shorter one would do. */
  lengthForm?: '7' | '16' | '64';
}): Buffer {
  const payload = Buffer.from(opts.payload ?? Buffer.alloc(0));
  const length = payload.length;
  const form = opts.lengthForm ?? (length < 126 ? '7' : length < 0x10000 ? '16' : '64');
  const parts: Buffer[] = [];
  const first = ((opts.fin ?? true) ? 0x80 : 0) | ((opts.rsv ?? 0) << 4) | opts.opcode;
  const maskBit = opts.mask ? 0x80 : 0;
  if (form === '7') {
    parts.push(Buffer.from([first, maskBit | length]));
  } else if (form === '16') {
    const b = Buffer.alloc(4);
    b[0] = first;
    b[1] = maskBit | 126;
    b.writeUInt16BE(length, 2);
    parts.push(b);
  } else {
    const b = Buffer.alloc(10);
    b[0] = first;
    b[1] = maskBit | 127;
    b.writeUInt32BE(Math.floor(length / 0x100000000), 2);
    b.writeUInt32BE(length >>> 0, 6);
    parts.push(b);
  }
  if (opts.mask) {
    parts.push(Buffer.from(opts.mask));
    parts.push(referenceMask(payload, opts.mask));
  } else {
    parts.push(payload);
  }
  return Buffer.concat(parts);
}

/** A snapshot of one parsed frame: its header as reported, and all its payload pieces joined. */
export interface RecordedFrame {
  fin: boolean;
  rsv1: boolean;
  rsv2: boolean;
  rsv3: boolean;
  opcode: number;
  masked: boolean;
  length: number;
  maskKey: string | null;
  payload: Buffer;
  pieces: number;
}

/** A FrameHandler that checks the header → payload* → end order and keeps copies of everything. */
export class RecordingFrameHandler implements FrameHandler {
  readonly frames: RecordedFrame[] = [];
  readonly orderErrors: string[] = [];
  private current: { frame: RecordedFrame; chunks: Buffer[] } | null = null;
  /** Optional hooks, e.g. to call stop() from inside an event. */
  onHeaderHook: ((h: ParsedFrameHeader) => void) | null = null;
  onEndHook: ((h: ParsedFrameHeader) => void) | null = null;

  onFrameHeader(h: ParsedFrameHeader): void {
    if (this.current !== null) this.orderErrors.push('header before previous frame ended');
    this.current = {
      frame: {
        fin: h.fin,
        rsv1: h.rsv1,
        rsv2: h.rsv2,
        rsv3: h.rsv3,
        opcode: h.opcode,
        masked: h.masked,
        length: h.length,
        maskKey: h.masked ? hex(h.maskKey) : null,
        payload: Buffer.alloc(0),
        pieces: 0,
      },
      chunks: [],
    };
    this.onHeaderHook?.(h);
  }

  onFramePayload(piece: Buffer, h: ParsedFrameHeader): void {
    if (this.current === null) {
      this.orderErrors.push('payload without header');
      return;
    }
    if (h.opcode !== this.current.frame.opcode || h.length !== this.current.frame.length) {
      this.orderErrors.push('payload header differs from the announced header');
    }
    this.current.chunks.push(Buffer.from(piece));
    this.current.frame.pieces++;
  }

  onFrameEnd(h: ParsedFrameHeader): void {
    const current = this.current;
    if (current === null) {
      this.orderErrors.push('end without header');
      return;
    }
    current.frame.payload = Buffer.concat(current.chunks);
    if (current.frame.payload.length !== current.frame.length) this.orderErrors.push('payload length mismatch');
    this.frames.push(current.frame);
    this.current = null;
    this.onEndHook?.(h);
  }

  get midFrame(): boolean {
    return this.current !== null;
  }
}

/** What feeding some bytes produced: the frames and the first error thrown (parsing stops there). */
export interface ParseResult {
  frames: RecordedFrame[];
  error: WebSocketError | null;
  orderErrors: string[];
  midFrame: boolean;
}

export const DEFAULT_PARSER_OPTIONS: FrameParserOptions = {
  maxFrameSize: Number.MAX_SAFE_INTEGER,
  maskPolicy: 'any',
  allowRsv1: false,
};

/**
 * Feeds `bytes` split at `cuts` (sorted offsets). Each chunk is a fresh copy: the parser unmasks in
 * place, so the caller's vector must stay untouched between runs.
 */
export function parseChunks(bytes: Uint8Array, cuts: readonly number[], options: Partial<FrameParserOptions> = {}): ParseResult {
  const handler = new RecordingFrameHandler();
  const parser = new FrameParser(handler, { ...DEFAULT_PARSER_OPTIONS, ...options });
  let error: WebSocketError | null = null;
  let start = 0;
  try {
    for (const cut of [...cuts, bytes.length]) {
      parser.push(Buffer.from(bytes.subarray(start, cut)));
      start = cut;
    }
  } catch (e) {
    error = e as WebSocketError;
  }
  return { frames: handler.frames, error, orderErrors: handler.orderErrors, midFrame: handler.midFrame };
}

/** Every byte in its own chunk. */
export function byteCuts(length: number): number[] {
  const cuts: number[] = [];
  for (let i = 1; i < length; i++) cuts.push(i);
  return cuts;
}

// ---- protocol doubles ----

export type ProtocolEvent =
  | { type: 'message'; data: string | Buffer }
  | { type: 'frame'; frame: ReceivedFrame }
  | { type: 'ping'; payload: Buffer }
  | { type: 'pong'; payload: Buffer }
  | { type: 'close'; close: ReceivedClose }
  | { type: 'busy'; busy: boolean }
  | { type: 'error'; error: WebSocketError };

/** A ProtocolHandler that records every event in order (payloads copied). */
export class RecordingProtocolHandler implements ProtocolHandler {
  readonly events: ProtocolEvent[] = [];
  onMessage(data: string | Buffer): void {
    this.events.push({ type: 'message', data: typeof data === 'string' ? data : Buffer.from(data) });
  }
  onFrame(frame: ReceivedFrame): void {
    this.events.push({ type: 'frame', frame: { ...frame, payload: Buffer.from(frame.payload) } });
  }
  onPing(payload: Buffer): void {
    this.events.push({ type: 'ping', payload: Buffer.from(payload) });
  }
  onPong(payload: Buffer): void {
    this.events.push({ type: 'pong', payload: Buffer.from(payload) });
  }
  onClose(close: ReceivedClose): void {
    this.events.push({ type: 'close', close });
  }
  onBusy(busy: boolean): void {
    this.events.push({ type: 'busy', busy });
  }
  onError(error: WebSocketError): void {
    this.events.push({ type: 'error', error });
  }

  get errors(): WebSocketError[] {
    return this.events.flatMap((e) => (e.type === 'error' ? [e.error] : []));
  }
  get messages(): (string | Buffer)[] {
    return this.events.flatMap((e) => (e.type === 'message' ? [e.data] : []));
  }
  get types(): string[] {
    return this.events.map((e) => e.type);
  }
}

export type SinkEntry = { type: 'chunk'; chunk: Buffer } | { type: 'callback'; callback: WriteCallback };

/** An OutputSink that records chunks (copied at push time and also kept by reference) and callbacks. */
export class RecordingSink implements OutputSink {
  readonly entries: SinkEntry[] = [];
  /** The chunks exactly as pushed (not copies), to detect later mutation. */
  readonly pushed: Buffer[] = [];
  push(chunk: Buffer): void {
    this.pushed.push(chunk);
    this.entries.push({ type: 'chunk', chunk: Buffer.from(chunk) });
  }
  pushCallback(callback: WriteCallback): void {
    this.entries.push({ type: 'callback', callback });
  }
  /** Callbacks failed by the core, with their errors, in order (the transport would defer them). */
  readonly failed: { callback: WriteCallback; error: Error }[] = [];
  fail(callback: WriteCallback, error: Error): void {
    this.failed.push({ callback, error });
  }
  /** Open send brackets; every bracket must be closed when a send returns. */
  depth = 0;
  hold(): void {
    this.depth++;
  }
  release(): void {
    this.depth--;
  }
  /** One whole send: recorded as the bracket it stands for. */
  pushWhole(chunk: Buffer, callback: WriteCallback | undefined, _defer: boolean): void {
    this.hold();
    this.push(chunk);
    if (callback !== undefined) this.pushCallback(callback);
    this.release();
  }
  /** Everything written so far, as one buffer. */
  get bytes(): Buffer {
    return Buffer.concat(this.entries.flatMap((e) => (e.type === 'chunk' ? [e.chunk] : [])));
  }
}
