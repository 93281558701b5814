/**
 * The send side of the core: frames messages (fragmented per the live settings), compresses them
 * when permessage-deflate was agreed, keeps sends in order behind a compression in progress, and
 * refuses every frame once our Close is out. Output goes to an OutputSink; nothing here writes to
 * a socket or schedules anything.
 */
import { Opcode } from '../codec/constants';
import { encodeClosePayload } from '../codec/close-payload';
import { encodeFrame, encodeTextFrame, type FrameHeaderFields } from '../codec/frame-writer';
import { knownUtf8Bytes } from '../codec/utf8';
import type { MaskKeySource } from '../codec/mask';
import type { PerMessageDeflate } from '../extensions/permessage-deflate';
import type { ClosingHandshake } from './closing-handshake';
import { closedError, type OutputSink, type WriteCallback } from './output-sink';

/**
 * The sending options, read at every send so that changing them on a live connection takes effect,
 * as WebSocket-Node reads them from `connection.config`. The connection's config object fits as is.
 */
export interface SendSettings {
  /** False: never fragment. */
  readonly fragmentOutgoingMessages?: boolean | undefined;
  /** Payload bytes per fragment (16 KiB when unset). */
  readonly fragmentationThreshold?: number | undefined;
}

/** Per-send choices. */
export interface SendOptions {
  /** False sends this message uncompressed even when permessage-deflate was agreed. */
  readonly compress?: boolean;
}

/**
 * A message encoded once for many connections (lib/topics' fan-out): a sender asks it for the
 * bytes that fit its own settings, so equal settings share one Buffer.
 */
export interface SharedMessage {
  readonly opcode: number;
  readonly payload: Buffer;
  /** False: sent uncompressed even where permessage-deflate was agreed. */
  readonly compress: boolean;
  /** The whole message, unmasked, in fragments of at most `threshold` bytes (0: one frame), compressed by `deflate` when given. */
  frames(threshold: number, deflate: PerMessageDeflate | null): Buffer;
}

/** A send waiting behind a compression in progress (RFC 7692 leaves order to us: we keep it). */
interface QueuedSend {
  readonly run: () => void;
  readonly callback: WriteCallback | undefined;
}

const EMPTY = Buffer.alloc(0);
const DEFAULT_THRESHOLD = 0x4000;
const NO_COMPRESSION: SendOptions = { compress: false };
const CLOSE_FIELDS: FrameHeaderFields = { fin: true, rsv1: false, opcode: Opcode.CLOSE };

/** One connection's send side; see the module comment. */
export class Sender {
  /** Non-null while a message is being compressed: every later send waits here, in order. */
  private queue: QueuedSend[] | null = null;
  /** Set by dispose(), or by sendFailClose(): a compression still running then produces nothing. */
  private disposed = false;

  constructor(
    private readonly out: OutputSink,
    private readonly settings: SendSettings,
    private readonly maskKeys: MaskKeySource | null,
    private readonly deflate: PerMessageDeflate | null,
    private readonly closing: ClosingHandshake,
  ) {}

  /**
   * Whether a send may wait behind a compression (permessage-deflate was agreed): its bytes then
   * reach the output later than the send call, so whoever awaits it needs its own callback.
   */
  get mayDefer(): boolean {
    return this.deflate !== null;
  }

  /** The payload size above which a message is split, or 0 for "never" (read live). */
  private threshold(): number {
    const settings = this.settings;
    if (settings.fragmentOutgoingMessages === false) return 0;
    const threshold = settings.fragmentationThreshold ?? DEFAULT_THRESHOLD;
    // compat fix: a threshold of 0 (or less) made WebSocket-Node loop forever; treat it as "do not fragment".
    return threshold > 0 ? threshold : 0;
  }

  /**
   * Whether a new frame must be refused: RFC 6455 §5.5.1, after sending a Close "the endpoint MUST
   * NOT send any more data frames". The callback learns why, as it would from a closed socket.
   */
  private refused(callback: WriteCallback | undefined): boolean {
    if (!this.closing.refusesFrames && !this.disposed) return false;
    if (callback !== undefined) this.out.fail(callback, closedError());
    return true;
  }

  /**
   * Sends a text or binary message, as one write; `callback` runs after its last frame is written.
   * Returns false when the send was refused (our Close is out).
   */
  sendMessage(opcode: number, payload: Buffer, callback?: WriteCallback, options?: SendOptions): boolean {
    if (this.refused(callback)) return false;
    const out = this.out;
    out.hold();
    try {
      this.enqueueMessage(opcode, payload, callback, options);
    } finally {
      out.release();
    }
    return true;
  }

  /** Sends a text message given as a string, as one write; a single plain frame skips a copy. Returns false when refused. */
  sendText(text: string, callback?: WriteCallback, options?: SendOptions): boolean {
    if (this.refused(callback)) return false;
    const out = this.out;
    out.hold();
    try {
      this.encodeText(text, callback, options);
    } finally {
      out.release();
    }
    return true;
  }

  private encodeText(text: string, callback: WriteCallback | undefined, options: SendOptions | undefined): void {
    // A long text sent on as it was received: its bytes are at hand, equal to what encoding gives.
    const known = knownUtf8Bytes(text);
    if (known !== null) {
      this.enqueueMessage(Opcode.TEXT, known, callback, options);
      return;
    }
    const length = Buffer.byteLength(text, 'utf8');
    const deflate = this.deflate;
    const compress = deflate !== null && options?.compress !== false && length >= deflate.threshold;
    const threshold = this.threshold();
    if (this.queue !== null || compress || (threshold > 0 && length > threshold)) {
      this.enqueueMessage(Opcode.TEXT, Buffer.from(text, 'utf8'), callback, options);
      return;
    }
    encodeTextFrame(this.out, text, length, this.maskKeys);
    if (callback !== undefined) this.out.pushCallback(callback);
  }

  private enqueueMessage(opcode: number, payload: Buffer, callback: WriteCallback | undefined, options?: SendOptions): void {
    if (this.queue !== null) {
      this.queue.push({ run: () => this.enqueueMessage(opcode, payload, callback, options), callback });
      return;
    }
    const deflate = this.deflate;
    if (deflate !== null && options?.compress !== false && payload.length >= deflate.threshold) {
      const now = deflate.compressNow(payload);
      if (now !== null) {
        this.writeMessage(opcode, now, true, callback);
        return;
      }
      // Everything sent from now on waits until this message is compressed and written.
      this.queue = [];
      deflate.compress(payload, (error, compressed) => {
        if (this.disposed) {
          // The queue was failed by dispose(); this send was not in it.
          if (callback !== undefined) callback(error ?? closedError());
          return;
        }
        const out = this.out;
        out.hold();
        try {
          if (error !== null || compressed === undefined) {
            if (callback !== undefined) callback(error ?? new Error('Compression failed.'));
          } else {
            this.writeMessage(opcode, compressed, true, callback);
          }
          // What waited behind this compression leaves in the same write.
          this.runQueue();
        } finally {
          out.release();
        }
      });
      return;
    }
    this.writeMessage(opcode, payload, false, callback);
  }

  /** Frames and writes a message; RSV1 marks the first frame of a compressed one (RFC 7692 §6). */
  private writeMessage(opcode: number, payload: Buffer, compressed: boolean, callback: WriteCallback | undefined): void {
    const threshold = this.threshold();
    const length = payload.length;
    if (threshold === 0 || length <= threshold) {
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

  /**
   * Sends a message encoded once for many connections: its shared bytes when they fit this sender
   * (unmasked, and compressed alike or not at all), else the message is framed here as any other.
   * `defer`: see OutputSink.pushWhole. Returns false when refused.
   */
  sendShared(message: SharedMessage, callback?: WriteCallback, defer = false): boolean {
    const deflate = this.deflate;
    const compress = deflate !== null && message.compress && message.payload.length >= deflate.threshold;
    if (this.maskKeys !== null || (compress && deflate.shareKey === null)) {
      return this.sendMessage(message.opcode, message.payload, callback, message.compress ? undefined : NO_COMPRESSION);
    }
    if (this.refused(callback)) return false;
    const frames = message.frames(this.threshold(), compress ? deflate : null);
    if (this.queue === null) {
      this.out.pushWhole(frames, callback, defer);
      return true;
    }
    const out = this.out;
    out.hold();
    try {
      this.enqueueEncoded(frames, callback);
    } finally {
      out.release();
    }
    return true;
  }

  private enqueueEncoded(frames: Buffer, callback: WriteCallback | undefined): void {
    if (this.queue !== null) {
      this.queue.push({ run: () => this.enqueueEncoded(frames, callback), callback });
      return;
    }
    this.out.push(frames);
    if (callback !== undefined) this.out.pushCallback(callback);
  }

  /** Runs the sends that waited for a compression, in order, until one starts another. */
  private runQueue(): void {
    const queue = this.queue ?? [];
    this.queue = null;
    for (let i = 0; i < queue.length; i++) {
      queue[i]!.run();
      if (this.queue !== null) {
        // A queued send started a new compression: the rest waits behind it.
        const pending: QueuedSend[] = this.queue;
        pending.push(...queue.slice(i + 1));
        return;
      }
    }
  }

  /** Runs `fn` once every send made so far has been written to the output (now, if none waits). */
  whenSent(fn: () => void): void {
    if (this.queue !== null) this.queue.push({ run: fn, callback: undefined });
    else fn();
  }

  /** Sends one frame as given (WebSocket-Node's `sendFrame`), masked when this is a client. Returns false when refused. */
  sendFrame(fields: FrameHeaderFields, payload: Buffer, callback?: WriteCallback): boolean {
    if (this.refused(callback)) return false;
    const out = this.out;
    out.hold();
    try {
      this.enqueueFrame(fields, payload, callback);
    } finally {
      out.release();
    }
    return true;
  }

  private enqueueFrame(fields: FrameHeaderFields, payload: Buffer, callback: WriteCallback | undefined): void {
    if (this.queue !== null) {
      this.queue.push({ run: () => this.enqueueFrame(fields, payload, callback), callback });
      return;
    }
    encodeFrame(this.out, fields, payload, this.maskKeys);
    if (callback !== undefined) this.out.pushCallback(callback);
  }

  /**
   * Sends our Close, once (RFC 6455 §5.5.1), after anything still being compressed; `then` runs
   * once it is in the output. A code of 1005 sends an empty body (§7.1.5 "no status code"); the
   * reason is cut to fit the frame. Returns false when a Close was already sent.
   */
  sendClose(code: number, reason: string | undefined, callback: WriteCallback | undefined, then: () => void): boolean {
    if (!this.closing.startLocal()) return false;
    const body = code === 1005 ? EMPTY : encodeClosePayload(code, reason);
    const out = this.out;
    out.hold();
    try {
      this.enqueueFrame(CLOSE_FIELDS, body, callback);
    } finally {
      out.release();
    }
    this.whenSent(then);
    return true;
  }

  /**
   * Fails the connection (RFC 6455 §7.1.7): our Close goes out at once, ahead of anything waiting
   * for a compression (those sends fail), unless a Close was sent already. Returns whether it was.
   */
  sendFailClose(code: number, reason: string | undefined): boolean {
    if (!this.closing.fail()) return false;
    // RFC 6455 §5.5.1: nothing may follow our Close, not even a message still being compressed.
    this.disposed = true;
    this.failQueue();
    const out = this.out;
    out.hold();
    try {
      encodeFrame(out, CLOSE_FIELDS, code === 1005 ? EMPTY : encodeClosePayload(code, reason), this.maskKeys);
    } finally {
      out.release();
    }
    return true;
  }

  /** Releases what waits: the callbacks of sends still queued get an Error. */
  dispose(): void {
    this.disposed = true;
    this.failQueue();
  }

  private failQueue(): void {
    const queue = this.queue;
    this.queue = null;
    if (queue === null) return;
    const error = new Error('The WebSocket connection closed before the message was sent.');
    for (const item of queue) if (item.callback !== undefined) this.out.fail(item.callback, error);
  }
}
