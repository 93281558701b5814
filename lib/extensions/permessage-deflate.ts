/**
 * permessage-deflate (RFC 7692): the per-connection codec that compresses and inflates whole
 * messages with zlib, bounded in output size and in concurrency. Negotiation: deflate-negotiation.ts.
 */
import * as zlib from 'node:zlib';
import { tooBigError } from '../codec/errors';
import { deflateOptionsFrom, paramsFromExtension, type DeflateOptions, type DeflateParams } from './deflate-negotiation';
import { sharedLimiter } from './zlib-limiter';

/** RFC 7692 §7.2.1: the empty stored block every flushed message ends with; stripped on send, restored on receive. */
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/**
 * Sizes up to which a message is compressed or inflated synchronously (see compressNow and
 * inflateNow): 64 KiB of JSON takes about 1 ms at level 6 (4 ms at level 9), about what the
 * application's own JSON.parse of such a message takes; an inflation stops at 256 KiB of output
 * (0.6 ms at most) and goes on in the thread pool.
 */
const SYNC_COMPRESS_LIMIT = 64 * 1024;
const SYNC_INFLATE_INPUT = 64 * 1024;
const SYNC_INFLATE_OUTPUT = 256 * 1024;

/** Callback of a zlib job. */
type Done<T> = (error: Error | null, result?: T) => void;

/**
 * One connection's compressor and decompressor for the agreed parameters. Not re-entrant per
 * direction: two compressions (or two inflations) at once would share one zlib stream. The
 * protocol core never does that: later sends queue behind a compression, and parsing stops while a
 * message inflates.
 */
export class PerMessageDeflate {
  readonly threshold: number;
  private readonly level: number;
  private readonly memLevel: number;
  /** Our compressor's window and context rule, and the peer's context rule for our inflater. */
  private readonly ownWindowBits: number;
  private readonly ownNoContextTakeover: boolean;
  private readonly peerNoContextTakeover: boolean;
  private readonly limiter;
  private deflater: zlib.DeflateRaw | null = null;
  private inflater: zlib.InflateRaw | null = null;
  /** The finishers of the jobs in flight, so `close()` can end them and give their limiter slots back. */
  private readonly active = new Set<(error: Error | null) => void>();
  private closed = false;

  constructor(params: DeflateParams, isServer: boolean, options: DeflateOptions) {
    this.threshold = typeof options.threshold === 'number' ? options.threshold : 1024;
    this.level = typeof options.level === 'number' ? options.level : zlib.constants.Z_DEFAULT_COMPRESSION;
    this.memLevel = typeof options.memLevel === 'number' ? options.memLevel : 8;
    this.ownWindowBits = isServer ? params.serverMaxWindowBits : params.clientMaxWindowBits;
    this.ownNoContextTakeover = isServer ? params.serverNoContextTakeover : params.clientNoContextTakeover;
    this.peerNoContextTakeover = isServer ? params.clientNoContextTakeover : params.serverNoContextTakeover;
    this.limiter = sharedLimiter(options.concurrencyLimit);
  }

  /**
   * The key of the compressed bytes this connection can share with others, or null when it
   * cannot: with context takeover our compressor's window holds this connection's own history,
   * which the peer's inflater mirrors, so a message compressed elsewhere would desynchronise them.
   * Without it (RFC 7692 §7.1.1.1) each message starts from an empty window, so equal settings give
   * equal bytes.
   */
  get shareKey(): string | null {
    return this.ownNoContextTakeover ? `${this.level}/${this.memLevel}/${Math.max(this.ownWindowBits, 9)}` : null;
  }

  /**
   * Compresses a message from an empty window, at once (one call for a whole fan-out, so blocking
   * briefly beats an asynchronous round trip per connection); lacks the 4-byte tail as `compress`.
   */
  compressAlone(data: Buffer): Buffer {
    const out = zlib.deflateRawSync(data, {
      level: this.level,
      memLevel: this.memLevel,
      windowBits: Math.max(this.ownWindowBits, 9),
      finishFlush: zlib.constants.Z_SYNC_FLUSH,
    });
    return withoutTail(out);
  }

  /**
   * Compresses a message at once when that is allowed and cheap, else returns null (use
   * `compress`). Allowed: without context takeover (RFC 7692 §7.1.1.1) a message owes nothing to
   * the ones before it, so a one-shot zlib call gives what the stream would; cheap: small enough to
   * block the event loop less than the thread-pool round trips of `compress` cost (about 180 µs of
   * CPU per message, measured). Not counted against the concurrency limit: it is over on return.
   */
  compressNow(data: Buffer): Buffer | null {
    if (!this.ownNoContextTakeover || data.length > SYNC_COMPRESS_LIMIT) return null;
    return this.compressAlone(data);
  }

  /**
   * Inflates a whole message at once when the peer compresses without context takeover and the
   * compressed bytes are few, else returns null (use `decompress`). Output past `maxSize` throws
   * the 1009 error; output past SYNC_INFLATE_OUTPUT (a message that inflates to much more) returns
   * null as well, so the work that blocks stays bounded whatever the limit. Data zlib rejects
   * throws zlib's error.
   */
  inflateNow(pieces: readonly Buffer[], maxSize: number): Buffer | null {
    if (!this.peerNoContextTakeover) return null;
    let length = 0;
    for (const piece of pieces) length += piece.length;
    if (length > SYNC_INFLATE_INPUT) return null;
    const cap = Math.min(maxSize, SYNC_INFLATE_OUTPUT);
    // RFC 7692 §7.2.2: append the 4 octets the sender removed before inflating.
    const input = Buffer.concat([...pieces, TAIL], length + 4);
    try {
      return zlib.inflateRawSync(input, { windowBits: 15, finishFlush: zlib.constants.Z_SYNC_FLUSH, maxOutputLength: cap + 1 });
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'ERR_BUFFER_TOO_LARGE') throw error;
      if (cap === maxSize) throw tooBigError('Maximum message size exceeded.');
      return null;
    }
  }

  /** Compresses one whole message; the result lacks the 4-byte tail (RFC 7692 §7.2.1). */
  compress(data: Buffer, done: Done<Buffer>): void {
    const chunks: Buffer[] = [];
    let length = 0;
    const collect = (chunk: Buffer): null => {
      chunks.push(chunk);
      length += chunk.length;
      return null;
    };
    this.run(true, [data], collect, (error) => {
      if (error !== null) {
        done(error);
        return;
      }
      const out = withoutTail(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, length));
      // RFC 7692 §7.1.1.1: without context takeover every message starts from an empty window.
      if (this.ownNoContextTakeover) this.deflater?.reset();
      done(null, out);
    });
  }

  /**
   * Inflates one whole message (its compressed frames' payloads), stopping as soon as the output
   * exceeds `maxSize`: the error is a 1009 and at most one zlib chunk past the limit was produced.
   */
  decompress(pieces: Buffer[], maxSize: number, done: Done<Buffer[]>): void {
    const chunks: Buffer[] = [];
    let length = 0;
    const collect = (chunk: Buffer): Error | null => {
      length += chunk.length;
      if (length > maxSize) return tooBigError('Maximum message size exceeded.');
      chunks.push(chunk);
      return null;
    };
    // RFC 7692 §7.2.2: append the 4 octets the sender removed before inflating.
    this.run(false, [...pieces, TAIL], collect, (error) => {
      if (error !== null) {
        done(error);
        return;
      }
      // RFC 7692 §7.1.1.2: the peer compresses each message from an empty window; so can we.
      if (this.peerNoContextTakeover) this.inflater?.reset();
      done(null, chunks);
    });
  }

  /**
   * One zlib job, run under the process-wide limit: writes `inputs`, flushes, passes each output
   * chunk to `onChunk` (which can stop the job with an error), then calls `end` exactly once.
   */
  private run(deflate: boolean, inputs: Buffer[], onChunk: (chunk: Buffer) => Error | null, end: (error: Error | null) => void): void {
    this.limiter.add((release) => {
      if (this.closed) {
        release();
        end(closedError());
        return;
      }
      const stream = deflate ? this.deflateStream() : this.inflateStream();
      let finished = false;
      const finish = (error: Error | null): void => {
        if (finished) return;
        finished = true;
        stream.removeListener('data', onData);
        stream.removeListener('error', finish);
        this.active.delete(finish);
        release();
        // After an error (or a job stopped mid-message) the stream's state is unknown: start afresh.
        if (error !== null) this.closeStream(stream);
        end(error);
      };
      const onData = (chunk: Buffer): void => {
        const stop = onChunk(chunk);
        if (stop !== null) finish(stop);
      };
      this.active.add(finish);
      stream.on('data', onData);
      stream.once('error', finish);
      for (const input of inputs) stream.write(input);
      stream.flush(zlib.constants.Z_SYNC_FLUSH, () => finish(null));
    });
  }

  private deflateStream(): zlib.DeflateRaw {
    // zlib refuses a raw window of 8; 9 is what every implementation uses in its place.
    return (this.deflater ??= guard(
      zlib.createDeflateRaw({ level: this.level, memLevel: this.memLevel, windowBits: Math.max(this.ownWindowBits, 9) }),
    ));
  }

  private inflateStream(): zlib.InflateRaw {
    // A 15-bit window inflates whatever window the peer compressed with.
    return (this.inflater ??= guard(zlib.createInflateRaw({ windowBits: 15 })));
  }

  /** Frees the zlib streams and ends the jobs in flight (the connection is closed). */
  close(): void {
    this.closed = true;
    for (const finish of [...this.active]) finish(closedError());
    if (this.deflater !== null) this.closeStream(this.deflater);
    if (this.inflater !== null) this.closeStream(this.inflater);
  }

  private closeStream(stream: zlib.DeflateRaw | zlib.InflateRaw): void {
    if (stream === this.deflater) this.deflater = null;
    if (stream === this.inflater) this.inflater = null;
    stream.close();
  }
}

/** The compressed bytes without the empty stored block a sync flush ends with (RFC 7692 §7.2.1). */
function withoutTail(out: Buffer): Buffer {
  return out.length >= 4 && out.subarray(out.length - 4).equals(TAIL) ? out.subarray(0, out.length - 4) : out;
}

function closedError(): Error {
  return new Error('The connection closed while a message was being compressed or inflated.');
}

/** A zlib stream that can report an error after its job gave up on it must not crash the process. */
function guard<T extends zlib.DeflateRaw | zlib.InflateRaw>(stream: T): T {
  stream.on('error', ignore);
  return stream;
}

function ignore(): void {
  // Errors are handled by the job in progress, if any; later ones concern a stream being discarded.
}

/**
 * The codec for a connection: made when its extensions list holds a permessage-deflate agreement
 * and the config (`perMessageDeflate`) enables it; null otherwise.
 */
export function deflateFromExtensions(
  extensions: ReadonlyArray<{ name: string; value?: string | undefined }>,
  isServer: boolean,
  option: unknown,
): PerMessageDeflate | null {
  const options = deflateOptionsFrom(option);
  if (options === null) return null;
  for (const extension of extensions) {
    const params = paramsFromExtension(extension);
    if (params !== null) return new PerMessageDeflate(params, isServer, options);
  }
  return null;
}
