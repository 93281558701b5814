/**
 * Plumbing for the permessage-deflate integration tests (test/integration/deflate-*): a TCP tap
 * that records both directions of a connection so tests can check RSV1 and compressed payloads on
 * the wire, echo servers and clients of both implementations (ours and `ws`) behind one small
 * interface, and raw-DEFLATE helpers written on zlib directly (independent of lib/extensions).
 */
import * as crypto from 'node:crypto';
import type * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import * as zlib from 'node:zlib';
import WebSocket, { WebSocketServer as WsServer } from 'ws';
import ours = require('../../lib/websocket');
import { parseFrames, type ParsedFrame } from './frames';
import { onCleanup, startServer, type ServerConfig, type TestServer, type WebSocketConnection } from './server';

export type PerMessageDeflateOptions = {
  serverNoContextTakeover?: boolean;
  clientNoContextTakeover?: boolean;
  serverMaxWindowBits?: number;
  clientMaxWindowBits?: number;
  level?: number;
  memLevel?: number;
  threshold?: number;
  concurrencyLimit?: number;
};

// ---------------------------------------------------------------------------------------------
// Small async queue

/** Items pushed by event handlers, awaited one by one by the test. */
export class Inbox<T> {
  readonly items: T[] = [];
  private readonly waiters: Array<(item: T) => void> = [];
  private taken = 0;

  push(item: T): void {
    this.items.push(item);
    const waiter = this.waiters.shift();
    if (waiter !== undefined) {
      this.taken++;
      waiter(item);
    }
  }

  /** The next item not yet taken, in push order. */
  next(what = 'an item', timeoutMs = 2500): Promise<T> {
    if (this.taken < this.items.length) return Promise.resolve(this.items[this.taken++]!);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(waiter);
        if (i !== -1) this.waiters.splice(i, 1);
        reject(new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const waiter = (item: T): void => {
        clearTimeout(timer);
        resolve(item);
      };
      this.waiters.push(waiter);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// The tap

/** One proxied connection: every byte each way, as it passed. */
export class TapConnection {
  private readonly upChunks: Buffer[] = [];
  private readonly downChunks: Buffer[] = [];

  /** @internal */
  recordUp(chunk: Buffer): void {
    this.upChunks.push(chunk);
  }

  /** @internal */
  recordDown(chunk: Buffer): void {
    this.downChunks.push(chunk);
  }

  /** Client → server bytes. */
  get up(): Buffer {
    return Buffer.concat(this.upChunks);
  }

  /** Server → client bytes. */
  get down(): Buffer {
    return Buffer.concat(this.downChunks);
  }

  /** The HTTP head each way (request and response). */
  get requestHead(): string {
    return headOf(this.up);
  }

  get responseHead(): string {
    return headOf(this.down);
  }

  /** Whole frames after the HTTP head, client → server (unmasked). */
  get upFrames(): ParsedFrame[] {
    return framesAfterHead(this.up);
  }

  /** Whole frames after the HTTP head, server → client. */
  get downFrames(): ParsedFrame[] {
    return framesAfterHead(this.down);
  }
}

function headOf(bytes: Buffer): string {
  const end = bytes.indexOf('\r\n\r\n');
  return end === -1 ? '' : bytes.subarray(0, end + 4).toString('latin1');
}

function framesAfterHead(bytes: Buffer): ParsedFrame[] {
  const end = bytes.indexOf('\r\n\r\n');
  if (end === -1) return [];
  return parseFrames(bytes.subarray(end + 4)).frames;
}

export interface Tap {
  port: number;
  /** ws://127.0.0.1:<tap port>/ */
  url: string;
  connections: Inbox<TapConnection>;
}

/** A TCP proxy on 127.0.0.1 to `targetPort` recording every connection; torn down by cleanup(). */
export async function startTap(targetPort: number): Promise<Tap> {
  const connections = new Inbox<TapConnection>();
  const sockets = new Set<net.Socket>();
  const track = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
  };
  const server = net.createServer((client) => {
    const record = new TapConnection();
    const upstream = net.connect({ host: '127.0.0.1', port: targetPort });
    track(client);
    track(upstream);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    client.on('data', (chunk: Buffer) => {
      record.recordUp(chunk);
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      record.recordDown(chunk);
      client.write(chunk);
    });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    connections.push(record);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onCleanup(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  const port = (server.address() as AddressInfo).port;
  return { port, url: `ws://127.0.0.1:${port}/`, connections };
}

/** A data message as framed on the wire. */
export interface WireMessage {
  opcode: number;
  /** RSV1 of the first frame (RFC 7692 §6: the message is compressed). */
  rsv1: boolean;
  /** Whether any continuation frame had RSV1 set (never allowed). */
  rsv1OnContinuation: boolean;
  /** The frames' payloads joined (still compressed when rsv1). */
  payload: Buffer;
  frames: number;
}

/** Groups data frames into messages; control frames are left out. */
export function wireMessages(frames: ParsedFrame[]): WireMessage[] {
  const messages: WireMessage[] = [];
  let current: { opcode: number; rsv1: boolean; cont: boolean; pieces: Buffer[]; frames: number } | null = null;
  for (const frame of frames) {
    if (frame.opcode >= 0x8) continue;
    if (frame.opcode !== 0x0) current = { opcode: frame.opcode, rsv1: frame.rsv1, cont: false, pieces: [], frames: 0 };
    if (current === null) throw new Error('continuation frame without a message on the wire');
    if (frame.opcode === 0x0 && frame.rsv1) current.cont = true;
    current.pieces.push(frame.payload);
    current.frames++;
    if (frame.fin) {
      messages.push({
        opcode: current.opcode,
        rsv1: current.rsv1,
        rsv1OnContinuation: current.cont,
        payload: Buffer.concat(current.pieces),
        frames: current.frames,
      });
      current = null;
    }
  }
  return messages;
}

// ---------------------------------------------------------------------------------------------
// Raw DEFLATE (RFC 7692 §7.2), on zlib directly

export const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** A message compressed on its own, as a sender without context takeover makes it (tail removed). */
export function deflateMessage(data: Buffer | string, windowBits = 15): Buffer {
  const input = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const out = zlib.deflateRawSync(input, { windowBits, finishFlush: zlib.constants.Z_SYNC_FLUSH });
  if (!out.subarray(out.length - 4).equals(TAIL)) throw new Error('sync flush did not end with the empty stored block');
  return out.subarray(0, out.length - 4);
}

/**
 * Inflates compressed message payloads with a window of `bits`, in 64-byte output steps, so any
 * back-reference further than that window fails ("invalid distance too far back"): success proves
 * the sender kept to the window. `shared`: the messages form one LZ77 stream (context takeover).
 */
export function inflateWithWindow(payloads: Buffer[], bits: number, shared: boolean): Buffer[] {
  const opts = { windowBits: bits, chunkSize: 64, finishFlush: zlib.constants.Z_SYNC_FLUSH };
  if (!shared) return payloads.map((p) => zlib.inflateRawSync(Buffer.concat([p, TAIL]), opts));
  // One stream: inflate each growing prefix and keep what the newest message added.
  const out: Buffer[] = [];
  let previous = 0;
  let stream = Buffer.alloc(0);
  for (const p of payloads) {
    stream = Buffer.concat([stream, p, TAIL]);
    const all = zlib.inflateRawSync(stream, opts);
    out.push(all.subarray(previous));
    previous = all.length;
  }
  return out;
}

/**
 * A compressed payload (tail removed) that inflates to `megabytes` MiB of zeros: one sync-flushed
 * MiB repeated, since a run of complete non-final DEFLATE blocks is itself a valid stream.
 */
export function zeroBomb(megabytes: number): Buffer {
  const unit = zlib.deflateRawSync(Buffer.alloc(1024 * 1024), { level: 9, finishFlush: zlib.constants.Z_SYNC_FLUSH });
  const all = Buffer.concat(Array.from({ length: megabytes }, () => unit));
  return all.subarray(0, all.length - 4);
}

/** `copies` of one random block: compresses well only with a window larger than `period`. */
export function periodicBytes(period: number, copies: number): Buffer {
  const block = crypto.randomBytes(period);
  return Buffer.concat(Array.from({ length: copies }, () => block));
}

/** The same as text: `copies` of one random ASCII block of `period` characters. */
export function periodicText(period: number, copies: number): string {
  const block = crypto.randomBytes(period).toString('base64').slice(0, period);
  return block.repeat(copies);
}

/** Byte equality without jest's element-by-element diff, which is very slow on large buffers. */
export function expectSameBytes(actual: Buffer, expected: Buffer, what = 'bytes'): void {
  if (actual.equals(expected)) return;
  let at = 0;
  while (at < actual.length && at < expected.length && actual[at] === expected[at]) at++;
  throw new Error(`${what} differ: lengths ${actual.length} vs ${expected.length}, first difference at ${at}`);
}

// ---------------------------------------------------------------------------------------------
// Endpoints behind one interface

/** A message as either implementation delivers it. */
export interface Msg {
  binary: boolean;
  data: Buffer;
}

/** One end of an open connection. */
export interface Peer {
  send(message: Msg): void;
  received: Inbox<Msg>;
  /** Resolves with the close code the peer saw. */
  closed: Promise<number>;
}

type OurMessage = { type: 'utf8'; utf8Data: string } | { type: 'binary'; binaryData: Buffer };

function ourPeer(connection: WebSocketConnection): Peer {
  const received = new Inbox<Msg>();
  connection.on('message', (m: OurMessage) => {
    received.push(m.type === 'utf8' ? { binary: false, data: Buffer.from(m.utf8Data, 'utf8') } : { binary: true, data: m.binaryData });
  });
  connection.on('error', () => undefined);
  return {
    send: (m) => (m.binary ? connection.sendBytes(m.data) : connection.sendUTF(m.data.toString('utf8'))),
    received,
    closed: new Promise((resolve) => connection.on('close', (code: number) => resolve(code))),
  };
}

function wsPeer(socket: WebSocket): Peer {
  const received = new Inbox<Msg>();
  socket.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
    received.push({ binary: isBinary, data: Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[]) });
  });
  socket.on('error', () => undefined);
  return {
    send: (m) => socket.send(m.binary ? m.data : m.data.toString('utf8'), { binary: m.binary }),
    received,
    closed: new Promise((resolve) => socket.on('close', (code: number) => resolve(code))),
  };
}

/** A server whose connections echo every message back; `peers` gets each connection's server end. */
export interface EchoServer {
  port: number;
  peers: Inbox<Peer>;
}

/** Our server, echoing, with permessage-deflate configured as given (limits raised for big messages). */
export async function ourEchoServer(config: Partial<ServerConfig> = {}): Promise<EchoServer & { server: TestServer; connections: Inbox<WebSocketConnection> }> {
  const server = await startServer({
    autoAcceptConnections: true,
    maxReceivedFrameSize: 0x400000,
    maxReceivedMessageSize: 0x400000,
    ...config,
  });
  const peers = new Inbox<Peer>();
  const connections = new Inbox<WebSocketConnection>();
  server.ws.on('connect', (connection: WebSocketConnection) => {
    const peer = ourPeer(connection);
    connection.on('message', (m: OurMessage) => {
      if (m.type === 'utf8') connection.sendUTF(m.utf8Data);
      else connection.sendBytes(m.binaryData);
    });
    connections.push(connection);
    peers.push(peer);
  });
  return { port: server.port, peers, server, connections };
}

/** A `ws` server, echoing, with the given perMessageDeflate option. */
export async function wsEchoServer(perMessageDeflate: boolean | PerMessageDeflateOptions): Promise<EchoServer & { requests: Inbox<http.IncomingMessage> }> {
  const wss = new WsServer({ host: '127.0.0.1', port: 0, perMessageDeflate, maxPayload: 0x400000 });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  onCleanup(
    () =>
      new Promise<void>((resolve) => {
        for (const client of wss.clients) client.terminate();
        wss.close(() => resolve());
      }),
  );
  const peers = new Inbox<Peer>();
  const requests = new Inbox<http.IncomingMessage>();
  wss.on('connection', (socket: WebSocket, request: http.IncomingMessage) => {
    const peer = wsPeer(socket);
    socket.on('message', (data: WebSocket.RawData, isBinary: boolean) => socket.send(data, { binary: isBinary }));
    requests.push(request);
    peers.push(peer);
  });
  return { port: (wss.address() as AddressInfo).port, peers, requests };
}

/** Our client connected to `url`; resolves once open. */
export async function ourClient(
  url: string,
  config: Record<string, unknown> = {},
): Promise<{ peer: Peer; connection: WebSocketConnection; client: InstanceType<typeof ours.client> }> {
  const client = new ours.client({ maxReceivedFrameSize: 0x400000, maxReceivedMessageSize: 0x400000, ...config });
  const connection = await new Promise<WebSocketConnection>((resolve, reject) => {
    client.once('connect', (c: WebSocketConnection) => resolve(c));
    client.once('connectFailed', reject);
    client.connect(url);
  });
  onCleanup(() => {
    connection.drop(1006, 'test teardown', true);
  });
  return { peer: ourPeer(connection), connection, client };
}

/** A `ws` client connected to `url` with the given perMessageDeflate option; resolves once open. */
export async function wsClientPeer(
  url: string,
  perMessageDeflate: boolean | PerMessageDeflateOptions,
): Promise<{ peer: Peer; socket: WebSocket; response: http.IncomingMessage }> {
  const socket = new WebSocket(url, { perMessageDeflate, maxPayload: 0x400000 });
  onCleanup(() => {
    socket.terminate();
  });
  let response: http.IncomingMessage | undefined;
  socket.once('upgrade', (res: http.IncomingMessage) => {
    response = res;
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  return { peer: wsPeer(socket), socket, response: response! };
}
