/**
 * `createWebSocketStream(connection, options)`: a Node `stream.Duplex` over one open
 * WebSocketConnection (client or server side), for code that pipes: `pipeline()`, `.pipe()`,
 * `stream/promises`, parsers that take a stream.
 *
 * Writing: each `write(chunk)` is one message. A string written in UTF-8 (the default) is a text
 * message; a Buffer, Uint8Array, any other ArrayBufferView or ArrayBuffer is a binary message, and
 * so is a string written with another encoding (`write('cafe', 'hex')` means bytes). The write's
 * callback is the send's callback, which runs once the frame is handed to the kernel, so a peer
 * that stops reading stops the writes once the Duplex's own buffer (`writableHighWaterMark`) is full.
 *
 * Reading: each message is pushed as it arrives. In byte mode (the default) text is pushed as its
 * UTF-8 bytes and binary as is, so reads give Buffers (or strings, when `encoding` is set, decoded
 * by Node as usual) and message boundaries are not kept. With `readableObjectMode` each read is one
 * message: a string for text, a Buffer for binary.
 *
 * Back-pressure on reading: when `push()` says the readable buffer is full, the connection is
 * paused (`connection.pause()`: no socket reads, so TCP slows the peer); `_read()` resumes it, and
 * only if this stream paused it.
 *
 * Ending: `end()` (after every pending write) closes the connection with 1000 and finishes once
 * its 'close' event fires. A WebSocket cannot be half-closed, and the connection ignores whatever
 * the peer sends after our Close, so end only once you have read what you expect. The readable side
 * ends when the connection closes with 1000, 1001 or 1005; any other code destroys the stream with a
 * `ConnectionClosedError` carrying `code` and `description` (the error, and the rule, of
 * `connection.messages()`). A connection 'error' destroys the stream with that error. `destroy()`
 * drops the connection with 1001 (going away), `destroy(error)` with 1011 (internal error): a
 * close frame goes out and the socket is gone, without waiting.
 */
import { Duplex, type DuplexOptions } from 'node:stream';
import { types } from 'node:util';
import type { Message } from '../public-types';
import { ConnectionClosedError, isNormalClose } from '../promises/message-iterator';

/** The send callback: called once the message has been handed to the kernel, or with why it was not. */
type SendCallback = (error?: Error) => void;

/**
 * What the Duplex needs of a connection: WebSocketConnection's public API (client or server side).
 * Return values are `unknown` because they differ between 1.x (undefined) and the v2 additions.
 */
export interface StreamableConnection {
  /** True while the connection may send. */
  readonly connected: boolean;
  /** 'open', 'peer_requested_close', 'ending' or 'closed'. */
  readonly state: string;
  /** True once 'close' has been emitted. */
  readonly closeEventEmitted: boolean;
  /** The code 'close' reported (-1 while open). */
  readonly closeReasonCode: number;
  /** The description 'close' reported. */
  readonly closeDescription: string | null | undefined;
  sendUTF(data: string, cb: SendCallback): unknown;
  sendBytes(data: Buffer, cb: SendCallback): unknown;
  pause(): unknown;
  resume(): unknown;
  close(reasonCode?: number, description?: string): unknown;
  drop(reasonCode?: number, description?: string, skipCloseFrame?: boolean): unknown;
  on(event: 'message', listener: (message: Message) => void): unknown;
  on(event: 'close', listener: (code: number, description: string) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  removeListener(event: 'message', listener: (message: Message) => void): unknown;
  removeListener(event: 'close', listener: (code: number, description: string) => void): unknown;
  removeListener(event: 'error', listener: (error: Error) => void): unknown;
}

/** Options of `createWebSocketStream()`: Duplex options; the implementation hooks are the adapter's. */
export type CreateWebSocketStreamOptions = Omit<DuplexOptions, 'read' | 'write' | 'writev' | 'final' | 'destroy' | 'construct'>;

/** The close code `destroy()` sends: the application goes away. */
const GOING_AWAY = 1001;
/** The close code `destroy(error)` sends: an unexpected condition on our side. */
const INTERNAL_ERROR = 1011;

/** A Node Duplex over a WebSocketConnection; see the module comment. */
class WebSocketDuplex extends Duplex {
  private readonly connection: StreamableConnection;
  /** Whether this stream paused the connection (so `_read()` resumes only its own pause). */
  private pausedByUs = false;
  /** Set by `_read()`: Node asked for data while a push was under way, so that push must not pause. */
  private readRequested = false;
  /** `_final()`'s callback while it waits for the closing handshake. */
  private finalCallback: ((error?: Error | null) => void) | null = null;
  private listening = true;

  private readonly onMessage = (message: Message): void => {
    if (this.destroyed) return;
    this.readRequested = false;
    const more = message.type === 'utf8' ? this.push(message.utf8Data, 'utf8') : this.push(message.binaryData);
    // If Node called _read() during that push it wants more, and would not call it again until the
    // next push: pausing now could never be undone.
    if (!more && !this.readRequested && !this.pausedByUs) {
      this.pausedByUs = true;
      this.connection.pause();
    }
  };

  private readonly onClose = (code: number, description: string | null | undefined): void => {
    this.unlisten();
    const final = this.finalCallback;
    this.finalCallback = null;
    if (!this.destroyed) {
      if (isNormalClose(code)) this.push(null);
      else this.destroy(new ConnectionClosedError(code, description));
    }
    if (final !== null) final();
  };

  private readonly onError = (error: Error): void => {
    // 'close' (1006) follows; the stream ends with the error that explains it.
    if (!this.destroyed) this.destroy(error);
  };

  constructor(connection: StreamableConnection, options: CreateWebSocketStreamOptions) {
    super({
      // A WebSocket cannot be half-closed: once the peer has closed, nothing more can be sent.
      allowHalfOpen: false,
      // Strings must reach _write() as strings, or every text write would become a binary message.
      decodeStrings: false,
      ...withoutHooks(options),
    });
    this.connection = connection;
    connection.on('message', this.onMessage);
    connection.on('close', this.onClose);
    connection.on('error', this.onError);
    if (connection.closeEventEmitted) {
      // Wrapped after the fact: report the close the connection already had, once listeners can exist.
      process.nextTick(this.onClose, connection.closeReasonCode, connection.closeDescription);
    }
  }

  override _read(): void {
    this.readRequested = true;
    if (!this.pausedByUs) return;
    this.pausedByUs = false;
    this.connection.resume();
  }

  override _write(chunk: unknown, encoding: BufferEncoding | 'buffer', callback: (error?: Error | null) => void): void {
    this.sendOne(chunk, encoding, callback);
  }

  override _writev(chunks: Array<{ chunk: unknown; encoding: BufferEncoding | 'buffer' }>, callback: (error?: Error | null) => void): void {
    // Writes that queued while the previous one was in flight: each is still one message, sent in
    // order, and the batch completes when the last send's callback has run.
    let pending = chunks.length;
    let failure: Error | null = null;
    const done = (error?: Error | null): void => {
      if (error && failure === null) failure = error;
      if (--pending === 0) callback(failure);
    };
    for (const { chunk, encoding } of chunks) this.sendOne(chunk, encoding, done);
  }

  override _final(callback: (error?: Error | null) => void): void {
    const connection = this.connection;
    if (!connection.connected) {
      // The peer closed first (or the connection is already closing): nothing left to send.
      callback();
      return;
    }
    this.finalCallback = callback;
    connection.close();
    // The connection ignores input once our Close is out; a socket we paused would otherwise not
    // see the peer hang up, and the close would wait for closeTimeout.
    this.releasePause();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const connection = this.connection;
    this.unlisten();
    if (connection.state !== 'closed') {
      // Once the closing handshake is under way a second Close frame would break it: just cut.
      connection.drop(error === null ? GOING_AWAY : INTERNAL_ERROR, undefined, connection.state !== 'open');
    }
    this.releasePause();
    const final = this.finalCallback;
    this.finalCallback = null;
    if (final !== null) final();
    callback(error);
  }

  /** Sends one chunk as one message; errors (a bad chunk, a closed connection) go to `callback`. */
  private sendOne(chunk: unknown, encoding: BufferEncoding | 'buffer' | undefined, callback: SendCallback): void {
    let payload: string | Buffer;
    try {
      payload = toPayload(chunk, encoding);
    } catch (error) {
      // A write callback never runs inside write(); Node relies on that ordering.
      process.nextTick(callback, error as Error);
      return;
    }
    try {
      if (typeof payload === 'string') this.connection.sendUTF(payload, callback);
      else this.connection.sendBytes(payload, callback);
    } catch (error) {
      // A connection (or a stand-in) that throws instead of calling back still fails just this write.
      process.nextTick(callback, error as Error);
    }
  }

  private releasePause(): void {
    if (!this.pausedByUs) return;
    this.pausedByUs = false;
    this.connection.resume();
  }

  private unlisten(): void {
    if (!this.listening) return;
    this.listening = false;
    const connection = this.connection;
    connection.removeListener('message', this.onMessage);
    connection.removeListener('close', this.onClose);
    connection.removeListener('error', this.onError);
  }
}

/** The implementation hooks: passed in options, Duplex would install them over the adapter's own. */
const HOOKS: ReadonlySet<string> = new Set(['read', 'write', 'writev', 'final', 'destroy', 'construct']);

/**
 * The caller's options without the hooks, and without keys set to undefined: Duplex reads
 * `allowHalfOpen: undefined` as true and `decodeStrings: undefined` as true, which would silently
 * undo the adapter's defaults for a caller who spelled out "no preference".
 */
function withoutHooks(options: CreateWebSocketStreamOptions): DuplexOptions {
  const copy: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) {
    if (value !== undefined && !HOOKS.has(key)) copy[key] = value;
  }
  return copy as DuplexOptions;
}

/** Whether a string written with this encoding is text: UTF-8 (the default) is; any other names bytes. */
function isTextEncoding(encoding: string | undefined): boolean {
  if (encoding === undefined || encoding === 'buffer') return true;
  const name = encoding.toLowerCase();
  return name === 'utf8' || name === 'utf-8';
}

/** A written chunk as a message payload: a string for text, a Buffer (no copy) for binary. */
function toPayload(chunk: unknown, encoding: BufferEncoding | 'buffer' | undefined): string | Buffer {
  if (typeof chunk === 'string') {
    return isTextEncoding(encoding) ? chunk : Buffer.from(chunk, encoding as BufferEncoding);
  }
  if (Buffer.isBuffer(chunk)) return chunk;
  // isView / isAnyArrayBuffer, not instanceof: chunks may come from another realm (vm, workers).
  if (ArrayBuffer.isView(chunk)) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  if (types.isAnyArrayBuffer(chunk)) return Buffer.from(chunk);
  throw new TypeError(
    `A WebSocket stream sends strings (text) and Buffers, typed arrays or ArrayBuffers (binary); got ${describe(chunk)}.`,
  );
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return `an object (${Object.prototype.toString.call(value)})`;
  return `a ${typeof value}`;
}

/**
 * Wraps an open WebSocketConnection (client or server side) in a Node Duplex: each write one
 * message, each read a message's payload, back-pressure both ways (docs/streams.md).
 */
export function createWebSocketStream(connection: StreamableConnection, options: CreateWebSocketStreamOptions = {}): Duplex {
  return new WebSocketDuplex(connection, options);
}

export { ConnectionClosedError } from '../promises/message-iterator';
