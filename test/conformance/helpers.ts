/**
 * Harness of the RFC 6455 conformance suite. Every behaviour is exercised from both ends:
 *
 * - side 'server': our WebSocketServer, talked to by a raw TCP client on 127.0.0.1 that writes the
 *   upgrade request by hand and sends masked frames;
 * - side 'client': our WebSocketClient, talking to a raw TCP server on 127.0.0.1 that answers the
 *   upgrade by hand and sends unmasked frames.
 *
 * The raw end sees exactly the bytes our end writes, so replies are checked byte for byte (a client
 * frame is rebuilt with the mask key it carried and compared whole). Our end's events are logged in
 * order. Everything a test opens is torn down by `cleanup()` (call it from afterEach).
 *
 * Transports (`useTransport()`, read when a pair is opened): 'http1' (the default) is the above.
 * 'h2' runs the same tests with each WebSocket on an HTTP/2 stream (RFC 8441): our server mounted on
 * an `http2.createServer()` (h2c) and a raw `http2.connect()` session sending the extended CONNECT
 * by hand, or our client with `http2: true` and a raw `http2.createServer()` answering it with
 * `:status 200` by hand; the raw end then reads and writes the stream's DATA. END_STREAM plays the
 * part of TCP's FIN and RST_STREAM that of a reset (RFC 8441 §5). test/conformance/h2/ loads the
 * suite files that way (`describeOverH2`).
 *
 * WS_TARGET=upstream runs the suite against websocket@1.0.35 to see where upstream differs (HTTP/1.1
 * only: upstream has no HTTP/2, so the h2 files are skipped).
 */
import * as http from 'node:http';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import ours = require('../../lib/websocket');
import { cleanup, closeOnCleanup, onCleanup, trackOpen } from '../helpers/server';

const TARGET_IS_UPSTREAM = process.env['WS_TARGET'] === 'upstream';

export const websocket: typeof ours = TARGET_IS_UPSTREAM ? require('websocket-upstream') : ours;

export type Connection = InstanceType<typeof ours.connection>;
export type ServerRequest = InstanceType<typeof ours.request>;
export type Side = 'server' | 'client';
export const SIDES: readonly Side[] = ['server', 'client'];

export const OP = { CONT: 0x0, TEXT: 0x1, BINARY: 0x2, CLOSE: 0x8, PING: 0x9, PONG: 0xa } as const;

/** How long a test waits for something that should happen at once on loopback. */
export const WAIT_MS = 2000;

export const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------- transport

/** What carries a pair's WebSocket: a TCP connection after an HTTP/1.1 upgrade, or an HTTP/2 stream (RFC 8441). */
export type Transport = 'http1' | 'h2';

let transport: Transport = 'http1';

/**
 * Selects the transport of every pair, server and client opened from now on in this test file (each
 * test file has its own module registry, so its own setting). Set it before declaring the tests:
 * their names say which transport they run on.
 */
export function useTransport(next: Transport): void {
  if (next === 'h2' && TARGET_IS_UPSTREAM) throw new Error('websocket@1.0.35 (WS_TARGET=upstream) has no HTTP/2: the h2 runs are for ours only');
  transport = next;
}

/**
 * Declares a suite file's tests again over HTTP/2: selects the 'h2' transport and runs `load`
 * (which `require()`s the suite file, and may declare h2-only tests) inside a describe block named
 * "[h2]". Under WS_TARGET=upstream the block is declared skipped.
 */
export function describeOverH2(load: () => void): void {
  if (TARGET_IS_UPSTREAM) {
    describe.skip('[h2] (skipped: websocket@1.0.35 has no HTTP/2)', load);
    return;
  }
  useTransport('h2');
  describe('[h2]', load);
}

/** Test names say what the transport calls the TCP events they mention (RFC 8441 §5). */
function forTransport(name: string): string {
  if (transport === 'http1') return name;
  return name
    .replace(/\bTCP FIN\b/g, 'END_STREAM')
    .replace(/\bTCP close\b/g, 'stream reset (RST_STREAM)')
    .replace(/\bTCP (writes|chunks)\b/g, 'DATA frames')
    .replace(/\bTCP (write|chunk)\b/g, 'DATA frame');
}

// ---------------------------------------------------------------- teardown

// One teardown registry for all the suites: the integration helpers' (last opened, first closed).
export { cleanup, onCleanup };

function trackSockets(server: net.Server): Set<net.Socket> {
  const sockets = trackOpen<net.Socket>(server, 'connection');
  closeOnCleanup(server, sockets);
  return sockets;
}

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

// ---------------------------------------------------------------- frames

export type Bytes = Buffer | string | number[];

export function bytes(data: Bytes | undefined): Buffer {
  if (data === undefined) return Buffer.alloc(0);
  if (Buffer.isBuffer(data)) return data;
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  return Buffer.from(data);
}

export const hex = (h: string): Buffer => Buffer.from(h.replace(/\s+/g, ''), 'hex');

/** Everything about a frame to put on the wire, including ways to break the rules. */
export interface FrameSpec {
  opcode: number;
  payload?: Bytes;
  /** Default true. */
  fin?: boolean;
  rsv1?: boolean;
  rsv2?: boolean;
  rsv3?: boolean;
  /** A 4-byte key, or null for an unmasked frame. */
  mask?: Buffer | null;
  /** Forces the length form (7, 16 or 64 bits) instead of the shortest. */
  lengthForm?: 7 | 16 | 64;
  /** Announces this length instead of the payload's (for header-only tests). */
  length?: number;
}

/** Encodes a frame; the payload is masked with `spec.mask` when one is given. */
export function encodeFrame(spec: FrameSpec): Buffer {
  const payload = bytes(spec.payload);
  const length = spec.length ?? payload.length;
  const form = spec.lengthForm ?? (length < 126 ? 7 : length < 0x10000 ? 16 : 64);
  const mask = spec.mask ?? null;
  const header: number[] = [
    (spec.fin === false ? 0 : 0x80) |
      (spec.rsv1 === true ? 0x40 : 0) |
      (spec.rsv2 === true ? 0x20 : 0) |
      (spec.rsv3 === true ? 0x10 : 0) |
      (spec.opcode & 0x0f),
  ];
  const maskBit = mask === null ? 0 : 0x80;
  if (form === 7) {
    header.push(maskBit | length);
  } else if (form === 16) {
    header.push(maskBit | 126, (length >>> 8) & 0xff, length & 0xff);
  } else {
    const high = Math.floor(length / 0x100000000);
    const low = length >>> 0;
    header.push(maskBit | 127, high >>> 24, (high >>> 16) & 0xff, (high >>> 8) & 0xff, high & 0xff);
    header.push(low >>> 24, (low >>> 16) & 0xff, (low >>> 8) & 0xff, low & 0xff);
  }
  if (mask === null) return Buffer.concat([Buffer.from(header), payload]);
  const masked = Buffer.alloc(payload.length);
  for (let i = 0; i < payload.length; i++) masked[i] = payload[i]! ^ mask[i & 3]!;
  return Buffer.concat([Buffer.from(header), mask, masked]);
}

/** A close frame body: 2-byte code then the reason (raw bytes allowed, to test invalid UTF-8). */
export function closeBody(code: number, reason: Bytes = ''): Buffer {
  const head = Buffer.alloc(2);
  head.writeUInt16BE(code, 0);
  return Buffer.concat([head, bytes(reason)]);
}

/** A frame as read off the wire, payload already unmasked. */
export interface WireFrame {
  fin: boolean;
  rsv1: boolean;
  rsv2: boolean;
  rsv3: boolean;
  opcode: number;
  masked: boolean;
  maskKey: Buffer | null;
  payload: Buffer;
  /** The frame's bytes exactly as received. */
  raw: Buffer;
}

/** Parses one frame from the front of `data`; null when incomplete. */
export function decodeFrame(data: Buffer): WireFrame | null {
  if (data.length < 2) return null;
  const b0 = data[0]!;
  const b1 = data[1]!;
  let length = b1 & 0x7f;
  let offset = 2;
  if (length === 126) {
    if (data.length < 4) return null;
    length = data.readUInt16BE(2);
    offset = 4;
  } else if (length === 127) {
    if (data.length < 10) return null;
    length = data.readUInt32BE(2) * 0x100000000 + data.readUInt32BE(6);
    offset = 10;
  }
  const masked = (b1 & 0x80) !== 0;
  let maskKey: Buffer | null = null;
  if (masked) {
    if (data.length < offset + 4) return null;
    maskKey = Buffer.from(data.subarray(offset, offset + 4));
    offset += 4;
  }
  if (data.length < offset + length) return null;
  const payload = Buffer.from(data.subarray(offset, offset + length));
  if (maskKey !== null) for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ maskKey[i & 3]!;
  return {
    fin: (b0 & 0x80) !== 0,
    rsv1: (b0 & 0x40) !== 0,
    rsv2: (b0 & 0x20) !== 0,
    rsv3: (b0 & 0x10) !== 0,
    opcode: b0 & 0x0f,
    masked,
    maskKey,
    payload,
    raw: Buffer.from(data.subarray(0, offset + length)),
  };
}

/** A frame's fields in readable form: close bodies as code and reason, valid text as a string. */
export function summarize(frame: WireFrame): Record<string, unknown> {
  const { fin, rsv1, rsv2, rsv3, opcode, payload } = frame;
  let body: unknown;
  if (opcode === OP.CLOSE && payload.length >= 2) {
    body = { code: payload.readUInt16BE(0), reason: payload.subarray(2).toString('utf8') };
  } else if (payload.length <= 200 && Buffer.from(payload.toString('utf8'), 'utf8').equals(payload)) {
    body = payload.toString('utf8');
  } else {
    body = `${payload.length} bytes, sha1 ${createHash('sha1').update(payload).digest('hex')}`;
  }
  return { fin, rsv1, rsv2, rsv3, opcode, payload: body };
}

export function acceptFor(key: string): string {
  return createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
}

// ---------------------------------------------------------------- the raw end

/** The stream, when a RawPeer's transport is an HTTP/2 stream rather than a TCP socket. */
function asHttp2Stream(socket: Duplex): http2.Http2Stream | null {
  return 'rstCode' in socket && 'session' in socket ? (socket as http2.Http2Stream) : null;
}

/**
 * The hand-written end of a connection: a transport plus everything our end has written to it.
 * `side` is the role of OUR end, so a RawPeer of side 'server' is a client (it masks what it sends
 * and expects unmasked frames back).
 *
 * The transport is any Duplex: a TCP socket (HTTP/1.1), or an HTTP/2 stream after the extended
 * CONNECT (then `session` is its session). On a stream, 'end' is the peer's END_STREAM (TCP's FIN)
 * and a RST_STREAM received (TCP's reset) is recorded in `resetCode`.
 */
export class RawPeer {
  /** Bytes received and not consumed yet. */
  private unread: Buffer = Buffer.alloc(0);
  /** Our end hung up its half: TCP FIN, or END_STREAM on an HTTP/2 stream (also set by a RST_STREAM with NO_ERROR). */
  ended = false;
  closed = false;
  /** HTTP/2 only: the code of the RST_STREAM that closed the stream while this end could still send; null if none. */
  resetCode: number | null = null;
  /** HTTP/2 only: the stream (the same object as `socket`). */
  readonly stream: http2.Http2Stream | null;
  private readonly watchers = new Set<() => void>();

  constructor(
    readonly side: Side,
    readonly socket: Duplex,
    readonly session: http2.Http2Session | null = null,
  ) {
    // Nagle is a TCP socket's (an HTTP/2 harness sets it on the session's socket).
    if (socket instanceof net.Socket) socket.setNoDelay(true);
    const stream = session === null ? null : asHttp2Stream(socket);
    if (session !== null && stream === null) throw new Error('RawPeer: with a session, the transport must be one of its streams');
    this.stream = stream;
    socket.on('data', (chunk: Buffer) => {
      this.unread = Buffer.concat([this.unread, chunk]);
      this.notify();
    });
    socket.on('end', () => {
      this.ended = true;
      this.notify();
    });
    socket.on('close', () => {
      this.closed = true;
      this.notify();
    });
    if (stream !== null) {
      // Node emits 'aborted' when a stream closes while its writable side is still open: a
      // RST_STREAM (a normal closure needs our END_STREAM too). Node reports a reset with NO_ERROR
      // as 'end' then 'close', so 'end' alone cannot tell END_STREAM from a reset.
      stream.on('aborted', () => {
        this.resetCode = stream.rstCode ?? -1;
        this.notify();
      });
    }
    // The tests provoke resets (writes after our end hung up); they are not failures of the raw end.
    socket.on('error', () => undefined);
    onCleanup(() => {
      socket.destroy();
    });
  }

  private notify(): void {
    for (const watcher of [...this.watchers]) watcher();
  }

  /** Resolves when `check` returns a value other than undefined; rejects after `ms` with `what`. */
  waitFor<T>(check: () => T | undefined, what: string, ms = WAIT_MS): Promise<T> {
    return new Promise((resolve, reject) => {
      const run = (): boolean => {
        const value = check();
        if (value === undefined) return false;
        clearTimeout(timer);
        this.watchers.delete(watcher);
        resolve(value);
        return true;
      };
      const watcher = (): void => {
        run();
      };
      const timer = setTimeout(() => {
        this.watchers.delete(watcher);
        reject(new Error(`timed out after ${ms} ms waiting for ${what}; unread: ${this.unread.toString('hex') || '(none)'}, ${this.state()}`));
      }, ms);
      this.watchers.add(watcher);
      run();
    });
  }

  /** For failure messages: what the transport did so far. */
  private state(): string {
    let text = `ended: ${this.ended}, closed: ${this.closed}`;
    if (this.stream !== null) text += `, RST_STREAM: ${this.resetCode ?? 'none'}`;
    return text;
  }

  /** Bytes our end sent that no read consumed yet. */
  get pending(): Buffer {
    return this.unread;
  }

  /** Takes the HTTP head (up to the blank line) off the front of the stream. */
  async readHead(ms = WAIT_MS): Promise<string> {
    return this.waitFor(
      () => {
        const end = this.unread.indexOf('\r\n\r\n');
        if (end === -1) return this.ended ? '' : undefined;
        const head = this.unread.subarray(0, end + 4).toString('latin1');
        this.unread = this.unread.subarray(end + 4);
        return head;
      },
      'an HTTP head',
      ms,
    );
  }

  /** Reads everything until our end closes the connection (for refused handshakes). */
  async readAll(ms = WAIT_MS): Promise<string> {
    await this.waitFor(() => (this.ended || this.closed ? true : undefined), 'the end of the response', ms);
    const text = this.unread.toString('latin1');
    this.unread = Buffer.alloc(0);
    return text;
  }

  // ---- sending

  /** A frame as this raw end must send it: masked (random key) towards a server, unmasked towards a client. */
  frame(spec: FrameSpec): Buffer {
    const mask = spec.mask !== undefined ? spec.mask : this.side === 'server' ? randomBytes(4) : null;
    return encodeFrame({ ...spec, mask });
  }

  /** Writes bytes in one write (one DATA frame over HTTP/2, up to its maximum frame size). */
  write(data: Buffer): void {
    if (!this.socket.destroyed && !this.socket.writableEnded) this.socket.write(data);
  }

  /** Builds and writes frames, all in one write. */
  send(...specs: FrameSpec[]): Buffer {
    const data = Buffer.concat(specs.map((spec) => this.frame(spec)));
    this.write(data);
    return data;
  }

  /** Writes `data` cut at `offsets`, one write per piece, with a pause between so they arrive apart. */
  async writeSplit(data: Buffer, offsets: number[], gapMs = 3): Promise<void> {
    let start = 0;
    for (const offset of [...offsets, data.length]) {
      if (offset > start) this.write(data.subarray(start, offset));
      start = offset;
      if (offset < data.length) await delay(gapMs);
    }
  }

  // ---- reading what our end sent

  /** The next frame from our end; checks the masking direction rule (RFC 6455 §5.1). */
  async readFrame(ms = WAIT_MS): Promise<WireFrame> {
    const frame = await this.waitFor(
      () => {
        const parsed = decodeFrame(this.unread);
        if (parsed === null) return this.ended || this.closed ? (null as WireFrame | null) : undefined;
        this.unread = this.unread.subarray(parsed.raw.length);
        return parsed;
      },
      'a frame',
      ms,
    );
    if (frame === null) throw new Error(`connection ended instead of a frame; unread: ${this.unread.toString('hex') || '(none)'}`);
    // RFC 6455 §5.1: a server never masks, a client always does.
    if (frame.masked !== (this.side === 'client')) {
      throw new Error(`${this.side} sent a frame with mask bit ${frame.masked ? 1 : 0}: ${frame.raw.toString('hex')}`);
    }
    return frame;
  }

  /**
   * Reads the next frame and checks it byte for byte: a server's frame must equal the unmasked
   * encoding; a client's must equal the encoding masked with the key it carries.
   */
  async expectFrame(opcode: number, payload: Bytes, options: { fin?: boolean } = {}): Promise<WireFrame> {
    const frame = await this.readFrame();
    const expected = encodeFrame({ opcode, payload, fin: options.fin ?? true, mask: frame.maskKey });
    // Readable fields first (a failing diff then says which), then every byte.
    expect(summarize(frame)).toEqual(summarize(decodeFrame(expected)!));
    expect(frame.raw.toString('hex')).toBe(expected.toString('hex'));
    return frame;
  }

  /** Expects a close frame with exactly this code and reason. */
  expectClose(code: number, reason = ''): Promise<WireFrame> {
    return this.expectFrame(OP.CLOSE, closeBody(code, reason));
  }

  /**
   * Expects our end to hang up (TCP FIN or close) with nothing more sent. Over HTTP/2 the hang-up
   * must be END_STREAM (RFC 8441 §5's FIN: our end half-closes the stream as it does a socket with
   * end()), not a RST_STREAM (a reset), and must end the stream alone: the session stays open.
   */
  async expectEnd(ms = WAIT_MS): Promise<void> {
    await this.waitFor(() => (this.ended || this.closed ? true : undefined), 'our end to hang up', ms);
    expect(this.unread.toString('hex')).toBe('');
    if (this.session !== null) {
      const session = this.session;
      expect({ endStream: this.ended, resetCode: this.resetCode, sessionOpen: !session.closed && !session.destroyed }).toEqual({
        endStream: true,
        resetCode: null,
        sessionOpen: true,
      });
    }
  }

  /** Expects nothing to arrive for `ms`. */
  async expectSilence(ms = 50): Promise<void> {
    const before = this.unread.length;
    await delay(ms);
    expect(this.unread.subarray(before).toString('hex')).toBe('');
  }

  /** Ends our half of the connection: TCP FIN, or END_STREAM on an HTTP/2 stream. */
  end(): void {
    this.socket.end();
  }

  /**
   * Resets the connection: over HTTP/2 a RST_STREAM with `code` (CANCEL unless given: RFC 8441 §5's
   * TCP reset); over TCP a RST.
   */
  reset(code: number = http2.constants.NGHTTP2_CANCEL): void {
    if (this.stream !== null) this.stream.close(code);
    else if (this.socket instanceof net.Socket) this.socket.resetAndDestroy();
    else this.socket.destroy();
  }

  /**
   * Over HTTP/2, the raw server's answer to the extended CONNECT (RFC 8441 §5: a 2xx opens the
   * WebSocket), then `data` (if any) as the first DATA.
   */
  respond(headers: http2.OutgoingHttpHeaders, data?: Buffer): void {
    const stream = this.stream as http2.ServerHttp2Stream | null;
    if (stream === null || typeof stream.respond !== 'function') throw new Error('respond() is for the raw server end of an HTTP/2 stream');
    stream.respond(headers, { endStream: false });
    if (data !== undefined && data.length > 0) this.write(data);
  }
}

// ---------------------------------------------------------------- our end's events

export type LoggedEvent =
  | { type: 'message'; kind: 'utf8'; data: string }
  | { type: 'message'; kind: 'binary'; data: Buffer }
  | { type: 'ping'; data: Buffer }
  | { type: 'pong'; data: Buffer }
  | { type: 'close'; code: number; description: string }
  | { type: 'error'; error: Error };

/** What our connection emitted, in order. */
export class EventLog {
  readonly events: LoggedEvent[] = [];
  private readonly watchers = new Set<() => void>();

  add(event: LoggedEvent): void {
    this.events.push(event);
    for (const watcher of [...this.watchers]) watcher();
  }

  get messages(): Array<{ kind: 'utf8' | 'binary'; data: string | Buffer }> {
    return this.events.flatMap((e) => (e.type === 'message' ? [{ kind: e.kind, data: e.data }] : []));
  }

  get texts(): string[] {
    return this.events.flatMap((e) => (e.type === 'message' && e.kind === 'utf8' ? [e.data] : []));
  }

  get pings(): string[] {
    return this.events.flatMap((e) => (e.type === 'ping' ? [e.data.toString('hex')] : []));
  }

  get pongs(): string[] {
    return this.events.flatMap((e) => (e.type === 'pong' ? [e.data.toString('hex')] : []));
  }

  get closeEvent(): { code: number; description: string } | undefined {
    const found = this.events.find((e) => e.type === 'close');
    return found?.type === 'close' ? { code: found.code, description: found.description } : undefined;
  }

  waitFor<T>(check: () => T | undefined, what: string, ms = WAIT_MS): Promise<T> {
    return new Promise((resolve, reject) => {
      const watcher = (): void => {
        const value = check();
        if (value === undefined) return;
        clearTimeout(timer);
        this.watchers.delete(watcher);
        resolve(value);
      };
      const timer = setTimeout(() => {
        this.watchers.delete(watcher);
        reject(new Error(`timed out waiting for ${what}; events so far: ${JSON.stringify(this.events)}`));
      }, ms);
      this.watchers.add(watcher);
      watcher();
    });
  }

  /** The 'close' event (code, description) once emitted. */
  closed(ms = WAIT_MS): Promise<{ code: number; description: string }> {
    return this.waitFor(() => this.closeEvent, "the 'close' event", ms);
  }

  /** Waits until `count` messages have been emitted and returns them. */
  async messagesAfter(count: number, ms = WAIT_MS): Promise<Array<{ kind: 'utf8' | 'binary'; data: string | Buffer }>> {
    return this.waitFor(() => (this.messages.length >= count ? this.messages : undefined), `${count} message(s)`, ms);
  }
}

/** Options of our end for one pair. */
export interface PairOptions {
  /** Config of our server (merged with httpServer and keepalive: false) or of our client. */
  config?: Record<string, unknown>;
  /** Our application echoes every message back (default true). */
  echo?: boolean;
  /** Installs a 'ping' listener; 'cancel' also calls cancel() so no pong is sent. */
  pingListener?: 'observe' | 'cancel';
  /** Bytes the raw end sends in the same write as its handshake (upgrade request or 101; over h2, the first DATA right behind the CONNECT or the 200). */
  withHandshake?: Buffer;
}

/** One connection: our end (`conn`, its events in `log`) and the raw end (`peer`). */
export interface Pair {
  side: Side;
  transport: Transport;
  peer: RawPeer;
  conn: Connection;
  log: EventLog;
}

function instrument(conn: Connection, options: PairOptions): EventLog {
  const log = new EventLog();
  conn.on('message', (message) => {
    if (message.type === 'utf8') {
      log.add({ type: 'message', kind: 'utf8', data: message.utf8Data });
      if (options.echo !== false && conn.connected) conn.sendUTF(message.utf8Data);
    } else {
      log.add({ type: 'message', kind: 'binary', data: message.binaryData });
      if (options.echo !== false && conn.connected) conn.sendBytes(message.binaryData);
    }
  });
  if (options.pingListener !== undefined) {
    conn.on('ping', (cancel, data) => {
      log.add({ type: 'ping', data: Buffer.from(data) });
      if (options.pingListener === 'cancel') cancel();
    });
  }
  conn.on('pong', (data) => log.add({ type: 'pong', data: Buffer.from(data) }));
  conn.on('close', (code, description) => log.add({ type: 'close', code, description }));
  conn.on('error', (error) => log.add({ type: 'error', error }));
  onCleanup(() => {
    conn.socket.destroy();
  });
  return log;
}

// ---- side 'server': our WebSocketServer and a raw client

export interface OurServer {
  port: number;
  wsServer: InstanceType<typeof ours.server>;
  /** Connections accepted so far, in order. */
  accepted: Connection[];
  /** Handshake errors the server reported ('upgradeError'). */
  upgradeErrors: Error[];
}

/** An HTTP/1.1 server, or over 'h2' an h2c server (on which mounting turns SETTINGS_ENABLE_CONNECT_PROTOCOL on). */
function ourHttpServer(): http.Server | http2.Http2Server {
  if (transport === 'h2') {
    // As the HTTP/1.1 server: an application handler for everything that is not a WebSocket (it
    // brings Node's compatibility layer in, which the WebSocketServer has to live beside).
    const server = http2.createServer((_req, res) => {
      res.writeHead(400).end();
    });
    // As WebSocketServer does to an HTTP/1.1 connection (disableNagleAlgorithm); over HTTP/2 that
    // is the application's to do, on the session's socket (docs/http2.md).
    server.on('connection', (socket: net.Socket) => socket.setNoDelay(true));
    return server;
  }
  return http.createServer((_req, res) => {
    res.writeHead(400, { Connection: 'close' }).end();
  });
}

/**
 * Starts our server on 127.0.0.1 (port 0), mounted on an http2 server over 'h2'. By default every
 * request is accepted with no subprotocol and the request's origin; `onRequest` replaces that.
 */
export async function startOurServer(
  config: Record<string, unknown> = {},
  onRequest?: (request: ServerRequest) => void,
): Promise<OurServer> {
  const httpServer = ourHttpServer();
  trackSockets(httpServer);
  const wsServer = new websocket.server({ httpServer: httpServer as http.Server, keepalive: false, ...config });
  onCleanup(() => {
    wsServer.unmount();
  });
  const accepted: Connection[] = [];
  const upgradeErrors: Error[] = [];
  (wsServer as unknown as NodeJS.EventEmitter).on('upgradeError', (error: Error) => upgradeErrors.push(error));
  wsServer.on('request', (request) => {
    if (onRequest !== undefined) {
      onRequest(request);
      return;
    }
    request.accept(null, request.origin);
  });
  wsServer.on('connect', (conn) => accepted.push(conn));
  const port = await listen(httpServer);
  return { port, wsServer, accepted, upgradeErrors };
}

/** A raw TCP connection to `port`, nothing written yet (HTTP/1.1 only: see openRawStream for 'h2'). */
export async function rawConnect(port: number): Promise<RawPeer> {
  if (transport === 'h2') throw new Error("rawConnect() is a TCP connection for an HTTP/1.1 upgrade; over 'h2' use openRawStream()");
  const socket = net.connect(port, '127.0.0.1');
  const peer = new RawPeer('server', socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  return peer;
}

/** The text of an upgrade request; header values of null are left out. */
export function upgradeRequest(
  options: {
    method?: string;
    path?: string;
    httpVersion?: string;
    headers?: Record<string, string | null>;
  } = {},
): string {
  const headers: Record<string, string | null> = {
    Host: '127.0.0.1',
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
    'Sec-WebSocket-Version': '13',
    ...options.headers,
  };
  let text = `${options.method ?? 'GET'} ${options.path ?? '/'} HTTP/${options.httpVersion ?? '1.1'}\r\n`;
  for (const [name, value] of Object.entries(headers)) if (value !== null) text += `${name}: ${value}\r\n`;
  return text + '\r\n';
}

/**
 * A raw HTTP/2 client session to our server on `port` (h2c, prior knowledge), once the server's
 * SETTINGS have come: RFC 8441 §3 lets a client send `:protocol` only after the server announced
 * SETTINGS_ENABLE_CONNECT_PROTOCOL = 1, which is checked here.
 */
export async function rawSession(port: number): Promise<http2.ClientHttp2Session> {
  const session = http2.connect(`http://127.0.0.1:${port}`, {
    createConnection: () => net.connect(port, '127.0.0.1').setNoDelay(true),
  });
  session.on('error', () => undefined);
  onCleanup(() => {
    session.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    session.once('remoteSettings', () => resolve());
    session.once('error', reject);
    session.once('close', () => reject(new Error('the session closed before the server sent its SETTINGS')));
  });
  expect(session.remoteSettings.enableConnectProtocol).toBe(true);
  return session;
}

/** The header block of the raw client's extended CONNECT (RFC 8441 §4-5), as the HTTP/1.1 upgradeRequest() but in HTTP/2 form. */
export function extendedConnect(port: number, extra: http2.OutgoingHttpHeaders = {}): http2.OutgoingHttpHeaders {
  return {
    ':method': 'CONNECT',
    ':protocol': 'websocket',
    ':scheme': 'http',
    ':path': '/',
    ':authority': `127.0.0.1:${port}`,
    'sec-websocket-version': '13',
    ...extra,
  };
}

/** The header fields of a received header block, without Node's symbol keys (and `date`, which changes). */
function headerFields(headers: http2.IncomingHttpHeaders): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (name !== 'date' && value !== undefined) fields[name] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  return fields;
}

/**
 * Over 'h2': opens a stream on `session` with `headers` (an extended CONNECT), writes `early` (if
 * any) right behind them, and resolves with the raw end on the stream and the response's fields.
 */
export async function openRawStream(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  early?: Buffer,
): Promise<{ peer: RawPeer; response: Record<string, string> }> {
  const stream = session.request(headers, { endStream: false });
  const peer = new RawPeer('server', stream, session);
  const response = new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
    stream.once('response', resolve);
    stream.once('close', () => reject(new Error(`the stream closed without a response (RST_STREAM ${stream.rstCode})`)));
  });
  if (early !== undefined) peer.write(early);
  return { peer, response: headerFields(await response) };
}

async function openServerSideOverH2(options: PairOptions): Promise<Pair> {
  let opened: { conn: Connection; log: EventLog } | undefined;
  const server = await startOurServer(options.config ?? {}, (request) => {
    const conn = request.accept(null, request.origin);
    opened = { conn, log: instrument(conn, options) };
  });
  const session = await rawSession(server.port);
  const { peer, response } = await openRawStream(session, extendedConnect(server.port), options.withHandshake);
  // RFC 8441 §5: a 2xx opens the WebSocket; there is no Sec-WebSocket-Accept (nor Upgrade or
  // Connection, which HTTP/2 forbids). No protocol or extension was asked for, so none is answered.
  expect(response).toEqual({ ':status': '200' });
  const { conn, log } = opened!;
  expect(asHttp2Stream(conn.socket)).not.toBeNull();
  return { side: 'server', transport: 'h2', peer, conn, log };
}

async function openServerSide(options: PairOptions): Promise<Pair> {
  if (transport === 'h2') return openServerSideOverH2(options);
  let opened: { conn: Connection; log: EventLog } | undefined;
  // Listeners go on in the 'request' handler, before anything sent with the request can be parsed.
  const server = await startOurServer(options.config ?? {}, (request) => {
    const conn = request.accept(null, request.origin);
    opened = { conn, log: instrument(conn, options) };
  });
  const peer = await rawConnect(server.port);
  const key = randomBytes(16).toString('base64');
  const request = Buffer.from(upgradeRequest({ headers: { 'Sec-WebSocket-Key': key } }), 'latin1');
  peer.write(options.withHandshake ? Buffer.concat([request, options.withHandshake]) : request);
  const head = await peer.readHead();
  expect(head).toBe(
    'HTTP/1.1 101 Switching Protocols\r\n' +
      'Upgrade: websocket\r\n' +
      'Connection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${acceptFor(key)}\r\n\r\n`,
  );
  const { conn, log } = opened!;
  return { side: 'server', transport: 'http1', peer, conn, log };
}

// ---- side 'client': our WebSocketClient and a raw server

/**
 * An upgrade request as the raw server read it. Over 'h2', the extended CONNECT's header block:
 * `headers` has the pseudo-header fields too (`:method`, `:protocol`, ...), `head` is the block as
 * text and `requestLine` is ":method :path :protocol".
 */
export interface ReceivedRequest {
  head: string;
  requestLine: string;
  /** Header names lower-cased; repeated headers joined with ", ". */
  headers: Record<string, string>;
  key: string;
}

export function parseRequestHead(head: string): ReceivedRequest {
  const lines = head.split('\r\n').filter((line) => line.length > 0);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return { head, requestLine: lines[0] ?? '', headers, key: headers['sec-websocket-key'] ?? '' };
}

/** The standard 101 for a key. */
export function switchingProtocols(key: string, extraHeaders = ''): string {
  return (
    'HTTP/1.1 101 Switching Protocols\r\n' +
    'Upgrade: websocket\r\n' +
    'Connection: Upgrade\r\n' +
    `Sec-WebSocket-Accept: ${acceptFor(key)}\r\n` +
    extraHeaders +
    '\r\n'
  );
}

/** The extended CONNECT as a ReceivedRequest (see there). */
function receivedExtendedConnect(headers: http2.IncomingHttpHeaders): ReceivedRequest {
  const fields: Record<string, string> = {};
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (value !== undefined) fields[name] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  let head = '';
  for (const [name, value] of Object.entries(fields)) head += `${name}: ${value}\r\n`;
  return {
    head: head + '\r\n',
    requestLine: `${fields[':method'] ?? '-'} ${fields[':path'] ?? '-'} ${fields[':protocol'] ?? '-'}`,
    headers: fields,
    key: fields['sec-websocket-key'] ?? '',
  };
}

/**
 * What is wrong with an extended CONNECT for a WebSocket (RFC 8441 §4-5; RFC 9113 §8.2.2), or null.
 * `authority` is the expected `:authority`.
 */
export function extendedConnectProblem(request: ReceivedRequest, authority: string): string | null {
  const h = request.headers;
  const expected: Record<string, string> = {
    ':method': 'CONNECT',
    ':protocol': 'websocket',
    ':scheme': 'http',
    ':path': '/',
    ':authority': authority,
    'sec-websocket-version': '13',
  };
  for (const [name, value] of Object.entries(expected)) if (h[name] !== value) return `${name} is ${h[name] ?? 'missing'}, not ${value}`;
  // RFC 8441 §5 drops Sec-WebSocket-Key; HTTP/2 forbids the connection-specific fields.
  for (const name of ['sec-websocket-key', 'upgrade', 'connection', 'host']) if (h[name] !== undefined) return `${name} must not be sent`;
  return null;
}

/**
 * Over 'h2': a raw h2c server announcing SETTINGS_ENABLE_CONNECT_PROTOCOL; each stream's header
 * block is passed to `respond`, which answers with `peer.respond()`.
 */
async function startRawServerOverH2(
  respond: (request: ReceivedRequest, peer: RawPeer) => void,
): Promise<{ port: number; peers: RawPeer[]; requests: ReceivedRequest[] }> {
  const peers: RawPeer[] = [];
  const requests: ReceivedRequest[] = [];
  const server = http2.createServer({ settings: { enableConnectProtocol: true } });
  server.on('connection', (socket: net.Socket) => socket.setNoDelay(true));
  server.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
    const session = stream.session;
    if (session === undefined) return;
    const peer = new RawPeer('client', stream, session);
    peers.push(peer);
    const request = receivedExtendedConnect(headers);
    requests.push(request);
    respond(request, peer);
  });
  trackSockets(server);
  const port = await listen(server);
  return { port, peers, requests };
}

/**
 * A raw server: each connection's upgrade request is read and `respond` writes the answer (over
 * 'h2', each stream's extended CONNECT, answered with `peer.respond()`).
 */
export async function startRawServer(
  respond: (request: ReceivedRequest, peer: RawPeer) => void,
): Promise<{ port: number; peers: RawPeer[]; requests: ReceivedRequest[] }> {
  if (transport === 'h2') return startRawServerOverH2(respond);
  const peers: RawPeer[] = [];
  const requests: ReceivedRequest[] = [];
  const server = net.createServer((socket) => {
    const peer = new RawPeer('client', socket);
    peers.push(peer);
    peer
      .readHead()
      .then((head) => {
        const request = parseRequestHead(head);
        requests.push(request);
        respond(request, peer);
      })
      .catch(() => socket.destroy());
  });
  trackSockets(server);
  const port = await listen(server);
  return { port, peers, requests };
}

export type Client = InstanceType<typeof ours.client>;

/** Our client's config: over 'h2' with `http2: true` (an extended CONNECT on a pooled session). */
function ourClientConfig(config: Record<string, unknown>): Record<string, unknown> {
  return transport === 'h2' ? { http2: true, ...config } : config;
}

/** Our client connecting to `port`; resolves with the connection or the connectFailed error. */
export function connectOurClient(
  port: number,
  config: Record<string, unknown> = {},
  protocols?: string[],
): Promise<{ conn?: Connection; error?: Error; client: Client }> {
  const client = new websocket.client(ourClientConfig(config));
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ client, error: new Error('neither connect nor connectFailed') }), WAIT_MS);
    client.on('connect', (conn) => {
      clearTimeout(timer);
      onCleanup(() => {
        conn.socket.destroy();
      });
      resolve({ client, conn });
    });
    client.on('connectFailed', (error) => {
      clearTimeout(timer);
      resolve({ client, error });
    });
    client.connect(`ws://127.0.0.1:${port}/`, protocols);
    onCleanup(() => client.abort());
  });
}

async function openClientSide(options: PairOptions): Promise<Pair> {
  let port = 0;
  const server = await startRawServer((request, peer) => {
    if (transport === 'h2') {
      // Our client's extended CONNECT must be well-formed before the raw server opens it.
      const problem = extendedConnectProblem(request, `127.0.0.1:${port}`);
      if (problem === null) {
        peer.respond({ ':status': 200 }, options.withHandshake);
      } else {
        peer.respond({ ':status': 400, 'x-problem': problem });
        peer.end();
      }
      return;
    }
    const answer = Buffer.from(switchingProtocols(request.key), 'latin1');
    peer.write(options.withHandshake ? Buffer.concat([answer, options.withHandshake]) : answer);
  });
  port = server.port;
  // The log must exist before the connection can emit anything: bytes sent with the 101 are
  // delivered on the next tick after 'connect'.
  const client = new websocket.client(ourClientConfig(options.config ?? {}));
  const connected = new Promise<{ conn: Connection; log: EventLog }>((resolve, reject) => {
    client.on('connect', (conn) => resolve({ conn, log: instrument(conn, options) }));
    client.on('connectFailed', reject);
  });
  client.connect(`ws://127.0.0.1:${server.port}/`);
  onCleanup(() => client.abort());
  const { conn, log } = await connected;
  const peer = await server.peers[0]!.waitFor(() => server.peers[0], 'the raw server peer');
  if (transport === 'h2') {
    // One stream on one session: the WebSocket did not fall back to HTTP/1.1 or open twice.
    expect(server.requests.map((request) => request.requestLine)).toEqual(['CONNECT / websocket']);
    expect(asHttp2Stream(conn.socket)).not.toBeNull();
  }
  return { side: 'client', transport, peer, conn, log };
}

/** Opens a connection between our end on `side` and a raw end. */
export function openPair(side: Side, options: PairOptions = {}): Promise<Pair> {
  return side === 'server' ? openServerSide(options) : openClientSide(options);
}

/**
 * Declares the test twice, as "server receives <name>" and "client receives <name>", each body
 * given the side it runs for.
 */
export function bothSides(name: string, body: (side: Side) => Promise<void>, timeout?: number): void {
  for (const side of SIDES) test(`${side} receives ${forTransport(name)}`, () => body(side), timeout);
}

/** Like bothSides, for behaviours our end initiates: "server sends …" / "client sends …". */
export function bothSidesSend(name: string, body: (side: Side) => Promise<void>, timeout?: number): void {
  for (const side of SIDES) test(`${side} sends ${forTransport(name)}`, () => body(side), timeout);
}

/**
 * The standard failure check: our end sends exactly one close frame with `code` and `reason`, hangs
 * up, emits 'close' with the same code and reason, and emitted no message.
 */
export async function expectFailure(pair: Pair, code: number, reason: string): Promise<void> {
  await pair.peer.expectClose(code, reason);
  await pair.peer.expectEnd();
  expect(await pair.log.closed()).toEqual({ code, description: reason });
  expect(pair.log.messages).toEqual([]);
}

/** Cheap encodings for expectations. */
export const utf8 = (text: string): Buffer => Buffer.from(text, 'utf8');
