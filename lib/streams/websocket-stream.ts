/**
 * `WebSocketStream`: the WHATWG streams-based WebSocket client that Chromium ships (and the
 * WebSockets Standard is adding), over our WebSocketClient.
 *
 *     const wss = new WebSocketStream(url, { protocols, signal });
 *     const { readable, writable, protocol, extensions } = await wss.opened;
 *     const { closeCode, reason } = await wss.closed;
 *     wss.close({ closeCode, reason });
 *
 * Each message is one chunk of `readable`: a string for text, a Uint8Array for binary (as in
 * Chromium and the standard; each owns its ArrayBuffer). Each chunk written to `writable` is one
 * message: a string is text, an ArrayBuffer or ArrayBufferView binary (copied, as the standard
 * says), anything else a TypeError. A write resolves once the frame is handed to the kernel.
 *
 * Back-pressure: `readable` queues up to READABLE_HIGH_WATER_MARK bytes; past that the connection
 * is paused (no socket reads, so TCP slows the server), and `pull()` resumes it. `writable` holds
 * one message in flight at a time (its write resolves on the send callback).
 *
 * Closing: `closed` resolves with `{ closeCode, reason }` on a clean close and rejects with a
 * WebSocketError otherwise (1006: the socket went away without a closing handshake, or failed).
 * Nothing is rejected into the void: `opened` and `closed` are marked handled when made, so a
 * program that never looks at them gets no unhandledRejection, while its own `then`/`catch`/`await`
 * still sees the rejection.
 *
 * What differs from Chromium, all from WebSocketConnection's semantics (docs/streams.md): once we
 * have sent our Close, the connection reads nothing more, so `closed` reports the code and reason we
 * sent, not those of the server's reply; `close()` with no code sends 1000 with an empty reason (the
 * connection always sends a code), where Chromium sends an empty Close and reports 1005; a close
 * reason the server did not give is WebSocket-Node's description of the code.
 */
import type * as http from 'node:http';
import { types } from 'node:util';
import { ReadableStream, WritableStream, type ReadableStreamDefaultController, type WritableStreamDefaultController } from 'node:stream/web';
import type { IClientConfig } from '../config';
import type { IExtension, Message } from '../public-types';
import WebSocketClient = require('../WebSocketClient');
import type WebSocketConnection = require('../WebSocketConnection');
import { createWebSocketError, WebSocketError } from './stream-errors';
import { checkCloseInfo, isAbortSignal, parseProtocols, parseTarget, type WebSocketCloseInfo } from './websocket-stream-arguments';

/** What `write()` accepts: WHATWG's BufferSource, without the DOM lib. */
export type BufferSource = ArrayBuffer | ArrayBufferView;

/** What `readable` yields: a string for a text message, a Uint8Array for a binary one. */
export type WebSocketStreamChunk = string | Uint8Array;

/** The options of `new WebSocketStream()`: WHATWG's, plus three Node-only ones. */
export interface WebSocketStreamOptions {
  /** Subprotocols to offer, in order of preference (a single string is one subprotocol). */
  protocols?: string | readonly string[] | undefined;
  /** Aborts the opening handshake; does nothing once `opened` has resolved. */
  signal?: AbortSignal | null | undefined;
  /** Node only: extra request headers (Authorization, Cookie, Origin, ...). */
  headers?: http.OutgoingHttpHeaders | undefined;
  /** Node only: the WebSocketClient configuration (tlsOptions, maxReceivedMessageSize, perMessageDeflate, ...). */
  clientConfig?: IClientConfig | undefined;
  /** Node only: extra options for `http.request()` (agent, localAddress, ...). */
  requestOptions?: http.RequestOptions | undefined;
}

/** What `opened` resolves with. */
export interface WebSocketOpenInfo {
  readable: ReadableStream<WebSocketStreamChunk>;
  writable: WritableStream<string | BufferSource>;
  /** The subprotocol the server chose, '' when none. */
  protocol: string;
  /** The extensions in use, as a Sec-WebSocket-Extensions value ('' when none). */
  extensions: string;
}

/** What `closed` resolves with. */
export interface WebSocketCloseResult {
  closeCode: number;
  reason: string;
}

/**
 * Bytes (UTF-16 code units for text; each message counts at least 1) that `readable` queues before
 * the connection is paused: enough to keep a steady reader busy, small enough that a reader that
 * stops costs little more than the kernel's socket buffers.
 */
export const READABLE_HIGH_WATER_MARK = 64 * 1024;

type State = 'connecting' | 'open' | 'closing' | 'closed';

/** A promise with its settle functions, made by hand: Promise.withResolvers needs Node 22. */
interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(reason: unknown): void;
}

/** A promise marked handled at once, so a rejection nobody asked about never reaches 'unhandledRejection'. */
function handledDeferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // The no-op handler is attached to the very promise the user gets: it marks that promise handled,
  // and the user's own then/catch/await still see the rejection.
  promise.catch(noop);
  return { promise, resolve, reject };
}

function noop(): void {
  // Marks a promise handled.
}

/** The WHATWG WebSocketStream client; see the module comment. */
export class WebSocketStream {
  readonly #url: string;
  readonly #opened = handledDeferred<WebSocketOpenInfo>();
  readonly #closed = handledDeferred<WebSocketCloseResult>();
  #state: State = 'connecting';
  #client: WebSocketClient | null = null;
  #connection: WebSocketConnection | null = null;
  #signal: AbortSignal | null = null;
  #readableController: ReadableStreamDefaultController<WebSocketStreamChunk> | null = null;
  #writableController: WritableStreamDefaultController | null = null;
  /** The readable is closed, errored or cancelled: nothing more may be enqueued. */
  #readableDone = false;
  /** `writable.close()` is waiting for the closing handshake (the writable must not be errored then). */
  #writableClosing = false;
  /** Whether this stream paused the connection (only its own pause is undone by `pull()`). */
  #pausedByUs = false;
  /** The connection reported a socket error: the close that follows is not clean. */
  #sawError = false;

  readonly #onAbort = (): void => {
    if (this.#state !== 'connecting') return;
    this.#state = 'closed';
    this.#client?.abort();
    const signal = this.#signal;
    this.#unlistenSignal();
    // As the standard says: both promises reject with the signal's reason (an "AbortError"
    // DOMException unless the caller chose one; a "TimeoutError" for AbortSignal.timeout()).
    const reason: unknown = signal?.reason ?? new DOMException('The WebSocket handshake was aborted.', 'AbortError');
    this.#opened.reject(reason);
    this.#closed.reject(reason);
  };

  readonly #onMessage = (message: Message): void => {
    const controller = this.#readableController;
    if (this.#readableDone || controller === null) return;
    controller.enqueue(message.type === 'utf8' ? message.utf8Data : ownBytes(message.binaryData));
    const desired = controller.desiredSize;
    if (desired !== null && desired <= 0 && !this.#pausedByUs) {
      this.#pausedByUs = true;
      this.#connection?.pause();
    }
  };

  readonly #onError = (): void => {
    // 'close' follows with 1006; the error only marks that close as unclean.
    this.#sawError = true;
  };

  readonly #onClose = (code: number, description: string | null | undefined): void => {
    this.#state = 'closed';
    this.#unlistenConnection();
    // 1005: the server's Close had no code, hence no reason either (the connection fills in a text).
    const reason = code === 1005 ? '' : (description ?? '');
    const readable = this.#readableController;
    const writable = this.#writableController;
    // As W3CWebSocket's WHATWG mode judges it: clean unless the socket just went away or failed.
    if (code !== 1006 && !this.#sawError) {
      if (!this.#readableDone) {
        this.#readableDone = true;
        readable?.close();
      }
      if (!this.#writableClosing) writable?.error(new DOMException('The WebSocket is closed; nothing more can be written.', 'InvalidStateError'));
      this.#closed.resolve({ closeCode: code, reason });
      return;
    }
    const error = createWebSocketError(`The WebSocket connection closed uncleanly (${code}${reason === '' ? '' : ` ${reason}`}).`, code, reason);
    if (!this.#readableDone) {
      this.#readableDone = true;
      readable?.error(error);
    }
    writable?.error(error);
    this.#closed.reject(error);
  };

  /** Opens a WebSocket to `url` (ws:, wss:, or http:/https: mapped to them); see the module comment. */
  constructor(url: string | URL, options?: WebSocketStreamOptions | null) {
    const target = parseTarget(url);
    const settings = options ?? {};
    if (typeof settings !== 'object') throw new TypeError('The WebSocketStream options must be an object.');
    const protocols = parseProtocols(settings.protocols);
    const signal = settings.signal ?? null;
    if (signal !== null && !isAbortSignal(signal)) throw new TypeError('options.signal must be an AbortSignal.');
    this.#url = target.href;

    if (signal !== null && signal.aborted) {
      // Aborted before it began: no request is made at all.
      this.#state = 'closed';
      const reason: unknown = signal.reason ?? new DOMException('The WebSocket handshake was aborted.', 'AbortError');
      this.#opened.reject(reason);
      this.#closed.reject(reason);
      return;
    }

    // A copy: WebSocketClient deletes tlsOptions from the object it is given (a WebSocket-Node trait).
    const config: IClientConfig = { ...settings.clientConfig, assembleFragments: true };
    const client = new WebSocketClient(config);
    this.#client = client;
    client.on('connect', (connection: WebSocketConnection) => this.#onConnect(connection));
    client.on('connectFailed', (error: Error) => this.#onConnectFailed(error));
    client.connect(target.href, protocols, null, settings.headers ?? null, settings.requestOptions ?? null);
    // Listened to only once connect() has not thrown, so a refused argument leaves no listener behind.
    if (signal !== null) {
      this.#signal = signal;
      signal.addEventListener('abort', this.#onAbort);
    }
  }

  /** The URL connected to, serialized (http: and https: already mapped to ws: and wss:). */
  get url(): string {
    return this.#url;
  }

  /** Resolves with the streams and the negotiated protocol and extensions once the connection is open. */
  get opened(): Promise<WebSocketOpenInfo> {
    return this.#opened.promise;
  }

  /** Resolves with `{ closeCode, reason }` on a clean close; rejects with a WebSocketError otherwise. */
  get closed(): Promise<WebSocketCloseResult> {
    return this.#closed.promise;
  }

  /**
   * Closes the WebSocket: `closeCode` 1000 or 3000-4999 (else an "InvalidAccessError"), `reason`
   * up to 123 bytes (else a "SyntaxError"). Before the connection is open, abandons the handshake.
   */
  close(closeInfo?: WebSocketCloseInfo | null): void {
    const { closeCode, reason } = checkCloseInfo(closeInfo);
    this.#closeWebSocket(closeCode, reason);
  }

  get [Symbol.toStringTag](): string {
    return 'WebSocketStream';
  }

  #onConnect(connection: WebSocketConnection): void {
    this.#unlistenSignal();
    if (this.#state !== 'connecting') {
      // Abandoned while the 101 was on its way: nobody will use this connection.
      connection.drop(1001, undefined, false);
      return;
    }
    this.#state = 'open';
    this.#connection = connection;
    connection.on('message', this.#onMessage);
    connection.on('close', this.#onClose);
    connection.on('error', this.#onError);
    const readable = new ReadableStream<WebSocketStreamChunk>(
      {
        start: (controller) => {
          this.#readableController = controller;
        },
        pull: () => {
          if (!this.#pausedByUs) return;
          this.#pausedByUs = false;
          this.#connection?.resume();
        },
        cancel: (reason: unknown) => {
          this.#readableDone = true;
          this.#closeUsingReason(reason);
        },
      },
      { highWaterMark: READABLE_HIGH_WATER_MARK, size: chunkSize },
    );
    const writable = new WritableStream<string | BufferSource>({
      start: (controller) => {
        this.#writableController = controller;
      },
      write: (chunk) => this.#write(chunk),
      close: () => {
        this.#writableClosing = true;
        this.#closeWebSocket(null, '');
        // The writer's close() settles with the closing handshake, as the standard's tests expect.
        return this.#closed.promise.then(noop);
      },
      abort: (reason: unknown) => {
        this.#closeUsingReason(reason);
      },
    });
    this.#opened.resolve({
      readable,
      writable,
      protocol: connection.protocol ?? '',
      extensions: formatExtensions(connection.extensions),
    });
  }

  #onConnectFailed(error: Error): void {
    if (this.#state !== 'connecting') return;
    this.#state = 'closed';
    this.#unlistenSignal();
    // One error for both promises, with the client's reason (ECONNREFUSED, a refused handshake) as cause.
    const failure = createWebSocketError(`The WebSocket connection could not be established: ${error.message}`, 1006, '', error);
    this.#opened.reject(failure);
    this.#closed.reject(failure);
  }

  /** One message per chunk; resolves when the send's callback reports the frame handed to the kernel. */
  #write(chunk: unknown): Promise<void> {
    let payload: string | Buffer;
    try {
      payload = toMessagePayload(chunk);
    } catch (error) {
      return Promise.reject(error);
    }
    const connection = this.#connection;
    if (this.#state !== 'open' || connection === null || !connection.connected) {
      return Promise.reject(new DOMException('The WebSocket is closing; nothing more can be written.', 'InvalidStateError'));
    }
    return new Promise<void>((resolve, reject) => {
      const callback = (error?: Error): void => {
        if (error) reject(error);
        else resolve();
      };
      if (typeof payload === 'string') connection.sendUTF(payload, callback);
      else connection.sendBytes(payload, callback);
    });
  }

  /** `readable.cancel(reason)` / `writable.abort(reason)`: a WebSocketError reason chooses the close code. */
  #closeUsingReason(reason: unknown): void {
    let code: number | null = null;
    let text = '';
    if (reason instanceof WebSocketError) {
      code = reason.closeCode;
      text = reason.reason;
    }
    this.#closeWebSocket(code, text);
  }

  #closeWebSocket(code: number | null, reason: string): void {
    if (this.#state === 'connecting') {
      this.#state = 'closed';
      this.#unlistenSignal();
      this.#client?.abort();
      const failure = createWebSocketError('The WebSocket was closed before the connection was established.', 1006, '');
      this.#opened.reject(failure);
      this.#closed.reject(failure);
      return;
    }
    const connection = this.#connection;
    if (this.#state !== 'open' || connection === null) return;
    this.#state = 'closing';
    // The connection always sends a code: "no code" goes out as 1000 without a reason.
    connection.close(code ?? 1000, reason);
    // The connection reads nothing after our Close; a socket we paused would not even see the
    // server hang up, and the close would wait for closeTimeout.
    if (this.#pausedByUs) {
      this.#pausedByUs = false;
      connection.resume();
    }
  }

  #unlistenSignal(): void {
    const signal = this.#signal;
    if (signal === null) return;
    this.#signal = null;
    signal.removeEventListener('abort', this.#onAbort);
  }

  #unlistenConnection(): void {
    const connection = this.#connection;
    if (connection === null) return;
    connection.removeListener('message', this.#onMessage);
    connection.removeListener('close', this.#onClose);
    connection.removeListener('error', this.#onError);
  }
}

/** A chunk written to `writable` as a message payload: text for strings, a copy of the bytes otherwise. */
function toMessagePayload(chunk: unknown): string | Buffer {
  if (typeof chunk === 'string') return chunk;
  // A copy, as the standard says: the caller may reuse its buffer as soon as write() returns.
  if (ArrayBuffer.isView(chunk)) return Buffer.from(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  if (types.isArrayBuffer(chunk)) return Buffer.from(new Uint8Array(chunk));
  throw new TypeError('A WebSocketStream writes strings (text) and ArrayBuffers or ArrayBufferViews (binary).');
}

/** A binary message as a Uint8Array that owns its whole ArrayBuffer (a view when it already does). */
function ownBytes(data: Buffer): Uint8Array {
  // A Buffer from a pool or a socket read shares its ArrayBuffer with unrelated bytes, which
  // `chunk.buffer` would expose: copy those, hand over the rest without copying.
  if (data.byteOffset === 0 && data.byteLength === data.buffer.byteLength) {
    return new Uint8Array(data.buffer, 0, data.byteLength);
  }
  const copy = new Uint8Array(data.byteLength);
  copy.set(data);
  return copy;
}

/** The readable's queuing size of a chunk: its length, at least 1 so empty messages count too. */
function chunkSize(chunk: WebSocketStreamChunk): number {
  return Math.max(1, typeof chunk === 'string' ? chunk.length : chunk.byteLength);
}

/** The negotiated extensions as a Sec-WebSocket-Extensions value. */
function formatExtensions(extensions: readonly IExtension[] | null | undefined): string {
  if (!Array.isArray(extensions)) return '';
  return extensions.map((extension) => (extension.value ? `${extension.name}; ${extension.value}` : extension.name)).join(', ');
}

export { WebSocketError } from './stream-errors';
export type { WebSocketCloseInfo } from './websocket-stream-arguments';
