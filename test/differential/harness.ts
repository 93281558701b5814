/**
 * Differential harness: the same server program runs once on upstream websocket@1.0.35 and once on
 * ours; the same raw bytes are sent to both over plain TCP, and what each side does is recorded in a
 * comparable form (status line, header lines in order, every frame byte the server sends back, and
 * the server-side events). Server frames are unmasked, so their bytes are deterministic.
 */
import { createHash } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import * as http from 'node:http';
import * as net from 'node:net';
import websocket = require('../../lib/websocket');

// Upstream ships no types; the shapes below describe what this program uses of either side.
const upstream: unknown = require('websocket-upstream');

export type Side = 'upstream' | 'ours';
export const SIDES: readonly Side[] = ['upstream', 'ours'];

export interface WsMessage {
  type: string;
  utf8Data?: string;
  binaryData?: Buffer;
}

export interface WsConnection extends EventEmitter {
  socket: net.Socket;
  protocol: unknown;
  state: string;
  connected: boolean;
  sendUTF(data: string): void;
  sendBytes(data: Buffer): void;
  ping(data?: Buffer | string): void;
  pong(data?: Buffer): void;
  close(code?: number, description?: string): void;
  drop(code?: number, description?: string, skipCloseFrame?: boolean): void;
}

export interface WsRequest extends EventEmitter {
  resource: string;
  resourceURL: Record<string, unknown>;
  host: unknown;
  key: unknown;
  webSocketVersion: unknown;
  origin: unknown;
  requestedProtocols: string[] | null;
  protocolFullCaseMap: Record<string, string> | null;
  requestedExtensions: unknown;
  cookies: unknown;
  remoteAddress: unknown;
  remoteAddresses: unknown;
  accept(protocol?: string | null, origin?: unknown, cookies?: unknown[]): WsConnection;
  reject(status?: unknown, reason?: unknown, extraHeaders?: Record<string, unknown>): void;
}

export interface WsServer extends EventEmitter {
  connections: WsConnection[];
  pendingRequests: unknown[];
  unmount(): void;
}

export interface WsLib {
  server: new (config: Record<string, unknown>) => WsServer;
  version: string;
}

export function lib(side: Side): WsLib {
  return (side === 'ours' ? websocket : upstream) as WsLib;
}

// ---------------------------------------------------------------------------------------------
// Recording

/** One observation on the server side, in the order it happened. */
export interface Recorded {
  ev: string;
  [key: string]: unknown;
}

/** Payloads are kept readable in diffs; long ones are summarised by length and digest. */
export function describeBytes(data: Buffer): string {
  if (data.length <= 256) return data.toString('hex');
  return `${data.length} bytes sha1:${createHash('sha1').update(data).digest('hex')}`;
}

function describeMessage(message: WsMessage): Recorded {
  if (message.type === 'utf8') {
    const text = message.utf8Data ?? '';
    return { ev: 'message', type: 'utf8', data: text.length <= 256 ? text : describeBytes(Buffer.from(text)) };
  }
  return { ev: 'message', type: message.type, data: describeBytes(message.binaryData ?? Buffer.alloc(0)) };
}

/** Everything a request exposes after readHandshake(), in plain data (prototypes aside). */
export function requestProperties(request: WsRequest): Recorded {
  const url = request.resourceURL;
  return plain({
    ev: 'requestProperties',
    resource: request.resource,
    resourceURL: describeUrl(url),
    host: request.host,
    key: request.key,
    webSocketVersion: request.webSocketVersion,
    origin: request.origin,
    requestedProtocols: request.requestedProtocols,
    protocolFullCaseMap: { ...request.protocolFullCaseMap },
    requestedExtensions: request.requestedExtensions,
    cookies: request.cookies,
    remoteAddress: request.remoteAddress,
    remoteAddresses: request.remoteAddresses,
  }) as Recorded;
}

/** Every own key of the legacy `Url`, with `query` as a plain object and the class name. */
export function describeUrl(url: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { constructor: url.constructor?.name };
  for (const key of Object.keys(url).sort()) {
    const value = url[key];
    out[key] = key === 'query' && value !== null && typeof value === 'object' ? { ...value } : value;
  }
  return out;
}

/**
 * A JSON round trip: drops prototypes and keys whose value is undefined. Upstream writes
 * `{name, value: undefined}` for a bare extension parameter where ours leaves the key out; both
 * read the same, and this harness does not tell them apart.
 */
function plain(value: unknown): unknown {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

// ---------------------------------------------------------------------------------------------
// The server program (identical for both sides)

export interface Recorder {
  (entry: Recorded): void;
}

export interface ServerProgram {
  /** Extra WebSocketServer config, over the defaults below. */
  config?: Record<string, unknown>;
  /** Leave the server without a 'request' listener (upstream answers 404). */
  noRequestListener?: boolean;
  /** Record every property of the request when it arrives. */
  recordRequestProperties?: boolean;
  /** Replaces the default handler, which accepts the first requested protocol and the origin. */
  onRequest?: (request: WsRequest, record: Recorder) => WsConnection | undefined;
  /** Called for each message before the echo; return true to suppress the echo. */
  onMessage?: (connection: WsConnection, message: WsMessage, record: Recorder) => boolean;
  /** Called once per accepted connection, after the harness's own listeners. */
  onConnection?: (connection: WsConnection, record: Recorder) => void;
}

export const BASE_CONFIG: Readonly<Record<string, unknown>> = {
  keepalive: false,
  maxReceivedFrameSize: 1000,
  maxReceivedMessageSize: 1500,
};

export interface ServerHandle {
  side: Side;
  port: number;
  events: Recorded[];
  wsServer: WsServer;
  /** Connections accepted so far, and which of them emitted 'close'. */
  accepted: WsConnection[];
  closed: Set<WsConnection>;
  /** Resolves when every accepted connection has emitted 'close' (false on timeout). */
  allClosed(timeoutMs: number): Promise<boolean>;
  stop(): Promise<void>;
}

function describeError(error: unknown): Recorded {
  const e = error as { message?: unknown; httpCode?: unknown; headers?: unknown };
  return plain({ ev: 'error', message: e.message, httpCode: e.httpCode, headers: e.headers }) as Recorded;
}

export async function startServer(side: Side, program: ServerProgram = {}): Promise<ServerHandle> {
  const events: Recorded[] = [];
  const record: Recorder = (entry) => {
    events.push(entry);
  };
  const sockets = new Set<net.Socket>();
  // Node would answer a Host-less HTTP/1.1 request itself; let the library see it instead.
  const httpServer = http.createServer({ requireHostHeader: false });
  httpServer.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const WebSocketServer = lib(side).server;
  const wsServer = new WebSocketServer({ httpServer, ...BASE_CONFIG, ...program.config });
  const accepted: WsConnection[] = [];
  const closed = new Set<WsConnection>();
  const closeWaiters: Array<() => void> = [];

  wsServer.on('upgradeError', (error: unknown) => record({ ...describeError(error), ev: 'upgradeError' }));
  wsServer.on('connect', () => record({ ev: 'connect' }));
  wsServer.on('close', (_connection: unknown, code: unknown, description: unknown) => {
    record({ ev: 'serverClose', code, description });
  });

  const wire = (connection: WsConnection): void => {
    accepted.push(connection);
    connection.on('message', (message: WsMessage) => {
      record(describeMessage(message));
      if (program.onMessage?.(connection, message, record) === true) return;
      if (message.type === 'utf8') connection.sendUTF(message.utf8Data ?? '');
      else connection.sendBytes(message.binaryData ?? Buffer.alloc(0));
    });
    connection.on('error', (error: unknown) => record({ ...describeError(error), ev: 'connectionError' }));
    connection.on('close', (code: unknown, description: unknown) => {
      record({ ev: 'close', code, description });
      closed.add(connection);
      for (const wake of closeWaiters.splice(0)) wake();
    });
    program.onConnection?.(connection, record);
  };

  if (program.noRequestListener !== true) {
    wsServer.on('request', (request: WsRequest) => {
      record({ ev: 'request', resource: request.resource, requestedProtocols: request.requestedProtocols });
      if (program.recordRequestProperties === true) record(requestProperties(request));
      let connection: WsConnection | undefined;
      if (program.onRequest !== undefined) {
        connection = program.onRequest(request, record);
      } else {
        try {
          connection = request.accept(request.requestedProtocols?.[0] ?? null, request.origin);
        } catch (error) {
          record({ ...describeError(error), ev: 'acceptError' });
        }
      }
      if (connection !== undefined) wire(connection);
    });
  } else if (program.config?.['autoAcceptConnections'] === true) {
    wsServer.on('connect', (connection: WsConnection) => wire(connection));
  }

  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  const port = (httpServer.address() as net.AddressInfo).port;

  const allClosed = (timeoutMs: number): Promise<boolean> =>
    new Promise((resolve) => {
      const check = (): boolean => accepted.every((c) => closed.has(c));
      if (check()) {
        resolve(true);
        return;
      }
      const timer = setTimeout(() => resolve(check()), timeoutMs);
      const wake = (): void => {
        if (check()) {
          clearTimeout(timer);
          resolve(true);
        } else {
          closeWaiters.push(wake);
        }
      };
      closeWaiters.push(wake);
    });

  const stop = async (): Promise<void> => {
    wsServer.unmount();
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => httpServer.close(() => resolve()));
  };

  return { side, port, events, wsServer, accepted, closed, allClosed, stop };
}

// ---------------------------------------------------------------------------------------------
// What a raw client sends

export const SAMPLE_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
export const SAMPLE_ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

export interface HandshakeOptions {
  method?: string;
  path?: string;
  httpVersion?: string;
  /** null leaves the header out. */
  host?: string | null;
  key?: string | null;
  version?: string | null;
  upgrade?: string | null;
  connection?: string | null;
  protocol?: string;
  origin?: string;
  /** More header lines, written after the standard ones. */
  headers?: ReadonlyArray<readonly [string, string]>;
}

export function handshake(options: HandshakeOptions = {}): Buffer {
  const lines = [`${options.method ?? 'GET'} ${options.path ?? '/chat'} HTTP/${options.httpVersion ?? '1.1'}`];
  const add = (name: string, value: string | null | undefined, fallback: string | undefined): void => {
    const v = value === undefined ? fallback : value;
    if (v !== null && v !== undefined) lines.push(`${name}: ${v}`);
  };
  add('Host', options.host, '127.0.0.1');
  add('Upgrade', options.upgrade, 'websocket');
  add('Connection', options.connection, 'Upgrade');
  add('Sec-WebSocket-Key', options.key, SAMPLE_KEY);
  add('Sec-WebSocket-Version', options.version, '13');
  add('Sec-WebSocket-Protocol', options.protocol, undefined);
  add('Origin', options.origin, undefined);
  for (const [name, value] of options.headers ?? []) lines.push(`${name}: ${value}`);
  return Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1');
}

/** A fixed mask key keeps client frames reproducible. */
export const MASK_KEY = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);

export interface FrameOptions {
  opcode: number;
  payload?: Buffer | string;
  fin?: boolean;
  rsv1?: boolean;
  rsv2?: boolean;
  rsv3?: boolean;
  /** false sends the frame unmasked. */
  mask?: Buffer | false;
}

export function frame(options: FrameOptions): Buffer {
  const payload = typeof options.payload === 'string' ? Buffer.from(options.payload, 'utf8') : (options.payload ?? Buffer.alloc(0));
  const mask = options.mask === undefined ? MASK_KEY : options.mask;
  let first = options.opcode & 0x0f;
  if (options.fin !== false) first |= 0x80;
  if (options.rsv1 === true) first |= 0x40;
  if (options.rsv2 === true) first |= 0x20;
  if (options.rsv3 === true) first |= 0x10;
  const maskBit = mask === false ? 0 : 0x80;
  let header: Buffer;
  if (payload.length < 126) {
    header = Buffer.from([first, maskBit | payload.length]);
  } else if (payload.length < 0x10000) {
    header = Buffer.alloc(4);
    header[0] = first;
    header[1] = maskBit | 126;
    header.writeUInt16BE(payload.length, 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = first;
    header[1] = maskBit | 127;
    header.writeUInt32BE(Math.floor(payload.length / 0x100000000), 2);
    header.writeUInt32BE(payload.length % 0x100000000, 6);
  }
  if (mask === false) return Buffer.concat([header, payload]);
  const masked = Buffer.alloc(payload.length);
  for (let i = 0; i < payload.length; i++) masked[i] = payload[i]! ^ mask[i % 4]!;
  return Buffer.concat([header, mask, masked]);
}

export const OP = { CONT: 0x0, TEXT: 0x1, BINARY: 0x2, CLOSE: 0x8, PING: 0x9, PONG: 0xa } as const;

export function text(payload: string | Buffer, options: Partial<FrameOptions> = {}): Buffer {
  return frame({ ...options, opcode: OP.TEXT, payload });
}

export function binary(payload: Buffer, options: Partial<FrameOptions> = {}): Buffer {
  return frame({ ...options, opcode: OP.BINARY, payload });
}

export function closeFrame(code?: number, reason = '', options: Partial<FrameOptions> = {}): Buffer {
  let payload = Buffer.alloc(0);
  if (code !== undefined) {
    payload = Buffer.alloc(2);
    payload.writeUInt16BE(code, 0);
    payload = Buffer.concat([payload, Buffer.from(reason, 'utf8')]);
  }
  return frame({ ...options, opcode: OP.CLOSE, payload });
}

// ---------------------------------------------------------------------------------------------
// The raw client and what it received

export interface ParsedFrame {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  length: number;
  /** Readable payload: the text of text frames, code and reason of close frames, hex otherwise. */
  text?: string;
  closeCode?: number;
  closeReason?: string;
  payload: string;
  /** The whole frame as sent, header included. */
  bytes: string;
}

export interface ParsedResponse {
  statusLine: string | null;
  /** Header lines exactly as sent, in order. */
  headers: string[];
  frames: ParsedFrame[];
  /** Bytes after the last complete frame (a partial frame), hex. */
  trailing: string;
}

/** Splits what the server sent into the HTTP head and the frames that follow it. */
export function parseResponse(data: Buffer): ParsedResponse {
  const headEnd = data.indexOf('\r\n\r\n');
  if (headEnd === -1) {
    return { statusLine: null, headers: [], frames: [], trailing: data.toString('hex') };
  }
  const lines = data.subarray(0, headEnd).toString('latin1').split('\r\n');
  const statusLine = lines.shift() ?? null;
  const frames: ParsedFrame[] = [];
  let pos = headEnd + 4;
  for (;;) {
    const parsed = parseFrame(data, pos);
    if (parsed === null) break;
    frames.push(parsed.frame);
    pos = parsed.next;
  }
  return { statusLine, headers: lines, frames, trailing: data.subarray(pos).toString('hex') };
}

function parseFrame(data: Buffer, at: number): { frame: ParsedFrame; next: number } | null {
  if (data.length - at < 2) return null;
  const first = data[at]!;
  const second = data[at + 1]!;
  let length = second & 0x7f;
  let pos = at + 2;
  if (length === 126) {
    if (data.length - pos < 2) return null;
    length = data.readUInt16BE(pos);
    pos += 2;
  } else if (length === 127) {
    if (data.length - pos < 8) return null;
    length = data.readUInt32BE(pos) * 0x100000000 + data.readUInt32BE(pos + 4);
    pos += 8;
  }
  const masked = (second & 0x80) !== 0;
  let key: Buffer | null = null;
  if (masked) {
    if (data.length - pos < 4) return null;
    key = data.subarray(pos, pos + 4);
    pos += 4;
  }
  if (data.length - pos < length) return null;
  const payload = Buffer.from(data.subarray(pos, pos + length));
  if (key !== null) for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ key[i % 4]!;
  const opcode = first & 0x0f;
  const result: ParsedFrame = {
    fin: (first & 0x80) !== 0,
    rsv: (first >> 4) & 0x07,
    opcode,
    masked,
    length,
    payload: describeBytes(payload),
    bytes: describeBytes(data.subarray(at, pos + length)),
  };
  if (opcode === OP.TEXT && length <= 256) result.text = payload.toString('utf8');
  if (opcode === OP.CLOSE && length >= 2) {
    result.closeCode = payload.readUInt16BE(0);
    result.closeReason = payload.subarray(2).toString('utf8');
  }
  return { frame: result, next: pos + length };
}

export interface ClientOptions {
  /** Keep our side open after the server's FIN (to watch what the server does next). */
  allowHalfOpen?: boolean;
}

/** A TCP client that writes raw bytes and keeps everything it receives. */
export class RawClient {
  readonly socket: net.Socket;
  private readonly chunks: Buffer[] = [];
  /** The server sent FIN. */
  ended = false;
  /** The TCP connection is gone. */
  closed = false;
  /** Socket errors and writes refused because our side was already shut (not compared). */
  readonly errors: string[] = [];
  private readonly waiters = new Set<() => void>();

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.wake();
    });
    socket.on('end', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      this.errors.push(error.code ?? error.message);
    });
  }

  static connect(port: number, options: ClientOptions = {}): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: options.allowHalfOpen === true });
      socket.setNoDelay(true);
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.removeListener('error', reject);
        resolve(new RawClient(socket));
      });
    });
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  get data(): Buffer {
    return Buffer.concat(this.chunks);
  }

  get response(): ParsedResponse {
    return parseResponse(this.data);
  }

  /** Writes bytes in one write, unless our side can no longer write. */
  send(...buffers: Buffer[]): void {
    if (this.socket.destroyed || this.socket.writableEnded || !this.socket.writable) {
      this.errors.push('write skipped: socket not writable');
      return;
    }
    this.socket.write(Buffer.concat(buffers));
  }

  /** Resolves true once `condition` holds, false after `timeoutMs` or once the socket closed without it. */
  waitUntil(condition: () => boolean, timeoutMs = 2000): Promise<boolean> {
    return new Promise((resolve) => {
      if (condition()) {
        resolve(true);
        return;
      }
      const finish = (value: boolean): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(value);
      };
      const check = (): void => {
        if (condition()) finish(true);
        else if (this.closed) finish(false);
      };
      const timer = setTimeout(() => finish(condition()), timeoutMs);
      this.waiters.add(check);
    });
  }

  waitForHead(timeoutMs = 2000): Promise<boolean> {
    return this.waitUntil(() => this.data.includes('\r\n\r\n'), timeoutMs);
  }

  waitForFrames(count: number, timeoutMs = 2000): Promise<boolean> {
    return this.waitUntil(() => this.response.frames.length >= count, timeoutMs);
  }

  waitForCloseFrame(timeoutMs = 2000): Promise<boolean> {
    return this.waitUntil(() => this.response.frames.some((f) => f.opcode === OP.CLOSE), timeoutMs);
  }

  waitForEnd(timeoutMs = 2000): Promise<boolean> {
    return this.waitUntil(() => this.ended || this.closed, timeoutMs);
  }

  waitForClosed(timeoutMs = 2000): Promise<boolean> {
    return this.waitUntil(() => this.closed, timeoutMs);
  }

  /** Nothing is expected: just let `ms` pass so a late answer would be seen. */
  quiet(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  end(): void {
    if (!this.socket.writableEnded) this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// Running one scenario on one or both sides

export interface Outcome {
  statusLine: string | null;
  headers: string[];
  frames: ParsedFrame[];
  trailing: string;
  /** Server-side events in order. */
  events: Recorded[];
  /** Whatever the scenario chose to note (not part of the default comparison unless it says so). */
  notes: Recorded[];
}

export interface ScenarioContext {
  client: RawClient;
  server: ServerHandle;
  side: Side;
  note(entry: Recorded): void;
}

export interface RunOptions extends ClientOptions {
  /** How long to wait, once the scenario is done, for the server to close the TCP connection. */
  settleMs?: number;
}

export type Scenario = (context: ScenarioContext) => Promise<void>;

export async function runScenario(side: Side, program: ServerProgram, scenario: Scenario, options: RunOptions = {}): Promise<Outcome> {
  const server = await startServer(side, program);
  const client = await RawClient.connect(server.port, options);
  const notes: Recorded[] = [];
  try {
    await scenario({ client, server, side, note: (entry) => notes.push(entry) });
    if (!(await client.waitForClosed(options.settleMs ?? 300))) {
      client.end();
      if (!(await client.waitForClosed(1000))) client.destroy();
    }
    await server.allClosed(1000);
    // Events that follow a close (e.g. the server's own 'close') land on the next ticks.
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    client.destroy();
    await server.stop();
  }
  const response = client.response;
  return {
    statusLine: response.statusLine,
    headers: response.headers,
    frames: response.frames,
    trailing: response.trailing,
    events: server.events,
    notes,
  };
}

export async function runBoth(
  program: ServerProgram,
  scenario: Scenario,
  options: RunOptions = {},
): Promise<Record<Side, Outcome>> {
  const upstreamOutcome = await runScenario('upstream', program, scenario, options);
  const oursOutcome = await runScenario('ours', program, scenario, options);
  return { upstream: upstreamOutcome, ours: oursOutcome };
}

/** The usual script: handshake, wait for the 101, send `frames`, then collect until the server closes. */
export function afterHandshake(
  frames: Buffer[],
  options: { expectFrames?: number; thenClose?: boolean; handshake?: HandshakeOptions } = {},
): Scenario {
  return async ({ client }) => {
    client.send(handshake(options.handshake));
    await client.waitForHead();
    for (const bytes of frames) client.send(bytes);
    if (options.expectFrames !== undefined) await client.waitForFrames(options.expectFrames);
    if (options.thenClose === true) {
      client.send(closeFrame(1000));
      await client.waitForCloseFrame();
    }
    await client.waitForEnd();
  };
}

/** A violation script: send the bad bytes, wait for the server's close frame, answer it. */
export function violation(frames: Buffer[], options: { handshake?: HandshakeOptions; waitMs?: number } = {}): Scenario {
  return async ({ client }) => {
    client.send(handshake(options.handshake));
    await client.waitForHead();
    for (const bytes of frames) client.send(bytes);
    // A close frame (the violation was caught), or any other frame (the input was accepted and echoed).
    await client.waitUntil(() => client.response.frames.length > 0, options.waitMs ?? 1000);
    await client.quiet(20);
    // If the server tolerated the input, this makes it close too; otherwise it is ignored.
    client.send(closeFrame(1000));
    await client.waitForEnd();
  };
}

/** Only the wire bytes and the server-side events. */
export function comparable(outcome: Outcome): Omit<Outcome, 'notes'> {
  const { notes: _notes, ...rest } = outcome;
  return rest;
}

/** The events of one kind. */
export function eventsOf(outcome: Outcome, ev: string): Recorded[] {
  return outcome.events.filter((e) => e.ev === ev);
}

/** The close frames the server sent (code and reason). */
export function closeFramesOf(outcome: Outcome): Array<{ code: number | undefined; reason: string | undefined }> {
  return outcome.frames
    .filter((f) => f.opcode === OP.CLOSE)
    .map((f) => ({ code: f.closeCode, reason: f.closeReason }));
}
