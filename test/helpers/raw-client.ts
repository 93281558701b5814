/**
 * A raw TCP client for server tests: writes the upgrade request by hand and then arbitrary bytes
 * (including malformed frames), and exposes exactly what the server put on the wire.
 */
import * as net from 'node:net';
import { parseFrame, type ParsedFrame } from './frames';
import { nextEvent, onCleanup, type TestServer, type WebSocketConnection } from './server';

/** RFC 6455 §1.3's sample key and its accept value. */
export const SAMPLE_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
export const SAMPLE_ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

export interface HandshakeOptions {
  path?: string;
  method?: string;
  httpVersion?: string;
  /** null leaves the header out. */
  host?: string | null;
  key?: string | null;
  version?: string | null;
  upgrade?: string | null;
  connection?: string | null;
  protocol?: string;
  origin?: string;
  /** Extra header lines, in order. */
  headers?: Array<[string, string]>;
}

/** The text of an opening handshake request. */
export function buildHandshake(opts: HandshakeOptions = {}): string {
  const lines = [`${opts.method ?? 'GET'} ${opts.path ?? '/'} HTTP/${opts.httpVersion ?? '1.1'}`];
  const add = (name: string, value: string | null | undefined, fallback?: string): void => {
    const v = value === undefined ? fallback : value;
    if (v !== null && v !== undefined) lines.push(`${name}: ${v}`);
  };
  add('Host', opts.host, 'localhost');
  add('Upgrade', opts.upgrade, 'websocket');
  add('Connection', opts.connection, 'Upgrade');
  add('Sec-WebSocket-Key', opts.key, SAMPLE_KEY);
  add('Sec-WebSocket-Version', opts.version, '13');
  add('Sec-WebSocket-Protocol', opts.protocol);
  add('Origin', opts.origin);
  for (const [name, value] of opts.headers ?? []) lines.push(`${name}: ${value}`);
  return lines.join('\r\n') + '\r\n\r\n';
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** See the module comment. */
export class RawClient {
  readonly socket: net.Socket;
  /** Every byte received so far. */
  received: Buffer = Buffer.alloc(0);
  /** Bytes received and not yet consumed by readHead/readFrame. */
  private pending: Buffer = Buffer.alloc(0);
  /** Count of every byte received, kept even when `discard` is set. */
  bytesReceived = 0;
  /** Set to only count incoming bytes (for bulk transfers that would be slow to keep). */
  discard = false;
  ended = false;
  closed = false;
  closedAt = 0;
  error: Error | null = null;
  private readonly watchers = new Set<() => void>();

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.bytesReceived += chunk.length;
      if (this.discard) {
        this.notify();
        return;
      }
      this.received = Buffer.concat([this.received, chunk]);
      this.pending = Buffer.concat([this.pending, chunk]);
      this.notify();
    });
    socket.on('end', () => {
      this.ended = true;
      this.notify();
    });
    socket.on('error', (error: Error) => {
      this.error = error;
      this.notify();
    });
    socket.on('close', () => {
      this.closed = true;
      this.closedAt = Date.now();
      this.notify();
    });
  }

  /**
   * Connects to 127.0.0.1:port. With `allowHalfOpen` the client does not answer the server's FIN,
   * which is how a silent or misbehaving peer looks to the server.
   */
  static connect(port: number, options: { allowHalfOpen?: boolean } = {}): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: options.allowHalfOpen === true });
      socket.setNoDelay(true);
      const client = new RawClient(socket);
      onCleanup(() => {
        socket.destroy();
      });
      socket.once('connect', () => resolve(client));
      socket.once('error', reject);
    });
  }

  /** Connects, sends the handshake (plus `head` bytes in the same write) and reads the response head. */
  static async open(port: number, opts: HandshakeOptions = {}, head?: Buffer, options: { allowHalfOpen?: boolean } = {}): Promise<{ client: RawClient; response: string }> {
    const client = await RawClient.connect(port, options);
    const request = Buffer.from(buildHandshake(opts), 'latin1');
    client.write(head === undefined ? request : Buffer.concat([request, head]));
    const response = await client.readHead();
    return { client, response };
  }

  write(data: Buffer | string): void {
    this.socket.write(data);
  }

  /** Writes one byte at a time with a pause between, so the server sees many small chunks. */
  async writeBytewise(data: Buffer, gapMs = 1): Promise<void> {
    for (let i = 0; i < data.length; i++) {
      this.socket.write(data.subarray(i, i + 1));
      await delay(gapMs);
    }
  }

  private notify(): void {
    for (const watcher of [...this.watchers]) watcher();
  }

  /** Resolves with `check()`'s value once it is not undefined; re-checked on every socket event. */
  waitFor<T>(check: () => T | undefined, what: string, timeoutMs = 2000): Promise<T> {
    return new Promise((resolve, reject) => {
      const run = (): void => {
        let value: T | undefined;
        try {
          value = check();
        } catch (error) {
          finish();
          reject(error as Error);
          return;
        }
        if (value !== undefined) {
          finish();
          resolve(value);
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`Timed out after ${timeoutMs} ms waiting for ${what}; received so far: ${JSON.stringify(this.received.toString('latin1'))}`));
      }, timeoutMs);
      const finish = (): void => {
        clearTimeout(timer);
        this.watchers.delete(run);
      };
      this.watchers.add(run);
      run();
    });
  }

  /** The HTTP response head (through the blank line), consumed from the pending bytes. */
  readHead(timeoutMs = 2000): Promise<string> {
    return this.waitFor(
      () => {
        const end = this.pending.indexOf('\r\n\r\n');
        if (end === -1) {
          if (this.closed) throw new Error(`Connection closed before a response head; got ${JSON.stringify(this.pending.toString('latin1'))}`);
          return undefined;
        }
        const head = this.pending.subarray(0, end + 4).toString('latin1');
        this.pending = this.pending.subarray(end + 4);
        return head;
      },
      'the HTTP response head',
      timeoutMs,
    );
  }

  /** The next whole frame from the server. */
  readFrame(timeoutMs = 2000): Promise<ParsedFrame> {
    return this.waitFor(
      () => {
        const parsed = parseFrame(this.pending);
        if (parsed === null) {
          if (this.closed) throw new Error(`Connection closed while waiting for a frame; pending ${this.pending.toString('hex')}`);
          return undefined;
        }
        this.pending = this.pending.subarray(parsed.end);
        return parsed.frame;
      },
      'a frame',
      timeoutMs,
    );
  }

  /** Bytes received but not yet consumed. */
  get unread(): Buffer {
    return this.pending;
  }

  /** Consumes and returns every pending byte. */
  takeUnread(): Buffer {
    const bytes = this.pending;
    this.pending = Buffer.alloc(0);
    return bytes;
  }

  /** Resolves when the server has half-closed (FIN received). */
  waitForEnd(timeoutMs = 2000): Promise<true> {
    return this.waitFor(() => (this.ended || this.closed ? true : undefined), 'the server to end the connection', timeoutMs);
  }

  /** Resolves when the socket is fully closed. */
  waitForClose(timeoutMs = 2000): Promise<true> {
    return this.waitFor(() => (this.closed ? true : undefined), 'the socket to close', timeoutMs);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/**
 * A raw client with an accepted connection on `server` (which must accept: autoAcceptConnections or
 * a 'request' listener that accepts). Returns the client, the server-side connection and the 101 head.
 */
export async function openRawConnection(
  server: TestServer,
  opts: HandshakeOptions = {},
  options: { allowHalfOpen?: boolean; head?: Buffer } = {},
): Promise<{ client: RawClient; connection: WebSocketConnection; response: string }> {
  const connected = nextEvent<[WebSocketConnection]>(server.ws, 'connect');
  const { client, response } = await RawClient.open(server.port, opts, options.head, options);
  if (!response.startsWith('HTTP/1.1 101 ')) throw new Error(`Handshake refused: ${response}`);
  const [connection] = await connected;
  return { client, connection, response };
}
