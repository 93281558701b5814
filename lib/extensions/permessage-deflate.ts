/**
 * permessage-deflate (RFC 7692): parameter negotiation for both ends, and the per-connection codec
 * that compresses and inflates whole messages with zlib, bounded in output size and in concurrency.
 */
import * as zlib from 'node:zlib';
import { tooBigError } from '../codec/errors';
import { formatExtension, parseExtensionHeader, type ExtensionElement } from './extension-header';
import { sharedLimiter } from './zlib-limiter';

/** The extension's registered name. */
export const EXTENSION_NAME = 'permessage-deflate';

/** User options (the `perMessageDeflate` config key as an object). */
export interface DeflateOptions {
  /** Server resets its compression context after each message (RFC 7692 §7.1.1.1). */
  serverNoContextTakeover?: boolean | undefined;
  /** Client resets its compression context after each message (RFC 7692 §7.1.1.2). */
  clientNoContextTakeover?: boolean | undefined;
  /** LZ77 window of the server's compressor, 8-15 (RFC 7692 §7.1.2.1). */
  serverMaxWindowBits?: number | undefined;
  /** LZ77 window of the client's compressor, 8-15 (RFC 7692 §7.1.2.2). */
  clientMaxWindowBits?: number | undefined;
  /** zlib compression level, 0-9. */
  level?: number | undefined;
  /** zlib memory level, 1-9. */
  memLevel?: number | undefined;
  /** Messages shorter than this many bytes are sent uncompressed (default 1024). */
  threshold?: number | undefined;
  /** zlib jobs in flight at once, process-wide (default 10). */
  concurrencyLimit?: number | undefined;
}

/** What both ends agreed on (RFC 7692 §7.1). */
export interface DeflateParams {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  /** Window of the server's compressor (8-15). */
  serverMaxWindowBits: number;
  /** Window of the client's compressor (8-15). */
  clientMaxWindowBits: number;
}

/** Normalises the config value: true or an object enables the extension; anything else disables it. */
export function deflateOptionsFrom(value: unknown): DeflateOptions | null {
  if (value === true) return {};
  if (value !== null && typeof value === 'object') return value as DeflateOptions;
  return null;
}

function isWindowBits(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 8 && value <= 15;
}

function parseWindowBits(value: string | true): number | null {
  // RFC 7692 §7.1.2.1: "a decimal integer value without leading zeros between 8 to 15, inclusive".
  if (value === true || !/^(?:[89]|1[0-5])$/.test(value)) return null;
  const bits = Number(value);
  return isWindowBits(bits) ? bits : null;
}

/**
 * Server side (RFC 7692 §5, §7.1): the parameters to answer one client offer with, or null when the
 * offer is not acceptable (unknown or repeated parameters, values out of range), so the next offer
 * can be tried and the handshake still succeeds without the extension.
 */
export function acceptOffer(offer: ExtensionElement, options: DeflateOptions): DeflateParams | null {
  const seen = new Set<string>();
  let serverNoContextTakeover = false;
  let clientNoContextTakeover = false;
  let serverMaxWindowBits: number | null = null;
  let clientMaxWindowBits: number | true | null = null;
  for (const [key, value] of offer.params) {
    // RFC 7692 §7: a repeated parameter makes the offer invalid.
    if (seen.has(key)) return null;
    seen.add(key);
    switch (key) {
      case 'server_no_context_takeover':
        if (value !== true) return null;
        serverNoContextTakeover = true;
        break;
      case 'client_no_context_takeover':
        if (value !== true) return null;
        clientNoContextTakeover = true;
        break;
      case 'server_max_window_bits': {
        const bits = parseWindowBits(value);
        if (bits === null) return null;
        serverMaxWindowBits = bits;
        break;
      }
      case 'client_max_window_bits': {
        if (value === true) {
          clientMaxWindowBits = true;
        } else {
          const bits = parseWindowBits(value);
          if (bits === null) return null;
          clientMaxWindowBits = bits;
        }
        break;
      }
      default:
        // RFC 7692 §7: an unknown parameter makes the offer unacceptable.
        return null;
    }
  }
  const ownServerBits = isWindowBits(options.serverMaxWindowBits) ? options.serverMaxWindowBits : 15;
  const ownClientBits = isWindowBits(options.clientMaxWindowBits) ? options.clientMaxWindowBits : 15;
  // A client that did not offer client_max_window_bits cannot take a limit on its window (§7.1.2.2).
  if (clientMaxWindowBits === null && ownClientBits < 15) return null;
  return {
    serverNoContextTakeover: serverNoContextTakeover || options.serverNoContextTakeover === true,
    clientNoContextTakeover: clientNoContextTakeover || options.clientNoContextTakeover === true,
    serverMaxWindowBits: Math.min(serverMaxWindowBits ?? 15, ownServerBits),
    clientMaxWindowBits: Math.min(typeof clientMaxWindowBits === 'number' ? clientMaxWindowBits : 15, ownClientBits),
  };
}

/** The server's response element for agreed parameters; `offeredClientBits` says whether the client named client_max_window_bits. */
export function formatServerResponse(params: DeflateParams, offer: ExtensionElement): string {
  const out: Array<readonly [string, string | true]> = [];
  if (params.serverNoContextTakeover) out.push(['server_no_context_takeover', true]);
  if (params.clientNoContextTakeover) out.push(['client_no_context_takeover', true]);
  const offered = new Map(offer.params);
  if (params.serverMaxWindowBits < 15 || offered.has('server_max_window_bits')) {
    out.push(['server_max_window_bits', String(params.serverMaxWindowBits)]);
  }
  if (offered.has('client_max_window_bits') && params.clientMaxWindowBits < 15) {
    out.push(['client_max_window_bits', String(params.clientMaxWindowBits)]);
  }
  return formatExtension({ name: EXTENSION_NAME, params: out });
}

/** Client side: the offer to send (RFC 7692 §5.1). */
export function formatClientOffer(options: DeflateOptions): string {
  const params: Array<readonly [string, string | true]> = [];
  if (options.serverNoContextTakeover === true) params.push(['server_no_context_takeover', true]);
  if (options.clientNoContextTakeover === true) params.push(['client_no_context_takeover', true]);
  if (isWindowBits(options.serverMaxWindowBits)) params.push(['server_max_window_bits', String(options.serverMaxWindowBits)]);
  params.push(['client_max_window_bits', isWindowBits(options.clientMaxWindowBits) ? String(options.clientMaxWindowBits) : true]);
  return formatExtension({ name: EXTENSION_NAME, params });
}

/**
 * Client side: checks the server's response against what we offered (RFC 7692 §5.1: the client
 * "MUST _Fail the WebSocket Connection_" on a response it cannot accept). Returns the agreed
 * parameters or an error message.
 */
export function acceptResponse(element: ExtensionElement, options: DeflateOptions): DeflateParams | string {
  if (element.name !== EXTENSION_NAME) return `Server accepted an extension we did not offer: ${element.name}`;
  const seen = new Set<string>();
  const params: DeflateParams = {
    serverNoContextTakeover: false,
    clientNoContextTakeover: options.clientNoContextTakeover === true,
    serverMaxWindowBits: 15,
    clientMaxWindowBits: isWindowBits(options.clientMaxWindowBits) ? options.clientMaxWindowBits : 15,
  };
  for (const [key, value] of element.params) {
    if (seen.has(key)) return `Invalid permessage-deflate response: repeated parameter ${key}`;
    seen.add(key);
    if (key === 'server_no_context_takeover' && value === true) {
      params.serverNoContextTakeover = true;
    } else if (key === 'client_no_context_takeover' && value === true) {
      params.clientNoContextTakeover = true;
    } else if (key === 'server_max_window_bits') {
      const bits = parseWindowBits(value);
      if (bits === null) return 'Invalid permessage-deflate response: server_max_window_bits';
      if (isWindowBits(options.serverMaxWindowBits) && bits > options.serverMaxWindowBits) {
        return 'Invalid permessage-deflate response: server_max_window_bits above the offer';
      }
      params.serverMaxWindowBits = bits;
    } else if (key === 'client_max_window_bits') {
      const bits = parseWindowBits(value);
      if (bits === null) return 'Invalid permessage-deflate response: client_max_window_bits';
      if (bits > params.clientMaxWindowBits) return 'Invalid permessage-deflate response: client_max_window_bits above the offer';
      params.clientMaxWindowBits = bits;
    } else {
      return `Invalid permessage-deflate response: unexpected parameter ${key}`;
    }
  }
  if (options.serverNoContextTakeover === true && !params.serverNoContextTakeover) {
    return 'Invalid permessage-deflate response: server_no_context_takeover was required';
  }
  return params;
}

/** The `connection.extensions` entry for agreed parameters (read back by `paramsFromExtension`). */
export function describeParams(params: DeflateParams): { name: string; value: string } {
  const parts: string[] = [];
  if (params.serverNoContextTakeover) parts.push('server_no_context_takeover');
  if (params.clientNoContextTakeover) parts.push('client_no_context_takeover');
  if (params.serverMaxWindowBits < 15) parts.push(`server_max_window_bits=${params.serverMaxWindowBits}`);
  if (params.clientMaxWindowBits < 15) parts.push(`client_max_window_bits=${params.clientMaxWindowBits}`);
  return { name: EXTENSION_NAME, value: parts.join('; ') };
}

/** RFC 7692 §7.2.1: the empty stored block every flushed message ends with; stripped on send, restored on receive. */
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

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
    return out.length >= 4 && out.subarray(out.length - 4).equals(TAIL) ? out.subarray(0, out.length - 4) : out;
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
      let out = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, length);
      if (out.length >= 4 && out.subarray(out.length - 4).equals(TAIL)) out = out.subarray(0, out.length - 4);
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
 * Agreed parameters from a `connection.extensions` entry (`{ name, value }`, value being the
 * negotiated parameter list), or null when the entry is not a valid permessage-deflate agreement.
 */
export function paramsFromExtension(extension: { name: string; value?: string | undefined }): DeflateParams | null {
  if (extension.name !== EXTENSION_NAME) return null;
  const params: DeflateParams = {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: 15,
    clientMaxWindowBits: 15,
  };
  const value = extension.value ?? '';
  for (const part of value.split(';')) {
    const [rawKey = '', rawBits] = part.split('=');
    const key = rawKey.trim();
    const bits = rawBits === undefined ? null : parseWindowBits(rawBits.trim());
    if (key === '') continue;
    if (key === 'server_no_context_takeover') params.serverNoContextTakeover = true;
    else if (key === 'client_no_context_takeover') params.clientNoContextTakeover = true;
    else if (key === 'server_max_window_bits' && bits !== null) params.serverMaxWindowBits = bits;
    else if (key === 'client_max_window_bits' && bits !== null) params.clientMaxWindowBits = bits;
    else return null;
  }
  return params;
}

/**
 * Server side: picks the first acceptable permessage-deflate offer of a request's header (RFC 7692
 * §5: offers are in preference order) and returns the response element with the agreed parameters,
 * or null when there is none (the handshake then goes on without the extension).
 */
export function negotiateOffers(header: string, options: DeflateOptions): { response: string; params: DeflateParams } | null {
  const elements = parseExtensionHeader(header);
  if (elements === null) return null;
  for (const element of elements) {
    if (element.name !== EXTENSION_NAME) continue;
    const params = acceptOffer(element, options);
    if (params !== null) return { response: formatServerResponse(params, element), params };
  }
  return null;
}

/**
 * Client side: the agreed parameters from the server's Sec-WebSocket-Extensions answer, or the
 * message to fail the handshake with (RFC 6455 §4.1: an extension the client did not offer fails it).
 */
export function acceptServerExtensions(header: string, options: DeflateOptions | null): DeflateParams | string {
  const elements = parseExtensionHeader(header);
  if (elements === null) return 'Invalid Sec-WebSocket-Extensions header from the server';
  if (options === null || elements.length !== 1) {
    return 'Server responded with an extension that was not offered';
  }
  return acceptResponse(elements[0]!, options);
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
