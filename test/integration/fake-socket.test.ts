/**
 * WebSocketConnection used directly, as people embed it and as they test their apps (issue 11,
 * items 1 and 2): `new WebSocketConnection(socket, [], 'proto', maskOutgoingPackets, config)`
 * followed by `_addSocketEventListeners()`, on
 * - a fake socket: an EventEmitter with write/end/destroy/setNoDelay/setTimeout/setKeepAlive/
 *   cork/uncork and nothing else (no pause/resume/writableLength/destroyed...);
 * - a duplex-like object that is not a net.Socket (a stream.Duplex pair).
 * Every test runs the same steps on ours and on websocket@1.0.35 (`websocket-upstream`) and
 * compares what the socket saw and what the connection emitted.
 *
 * Deliberate differences, each pinned below by a test that names it:
 * - drop() with a close frame: upstream destroys the socket at once; we half-close and destroy
 *   when the peer hangs up or after closeTimeout (docs/compat.md, "Failing the connection").
 * - The number of socket.write calls per send (docs/compat.md, "Writes per send"). Upstream calls
 *   write once per frame. We call it once per send for everything up to 16 KiB in all (a
 *   fragmented message of small frames is one write, not one per fragment), and above that pass
 *   each unmasked frame's header and payload as separate writes inside one cork()/uncork() (one
 *   writev, no copy of the payload). The bytes, their order and "written before the send
 *   returns" are the same.
 * Socket doubles that lack what real sockets have (no cork(), a write() that returns nothing)
 * behave as with upstream: see "socket doubles" below.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Duplex } from 'node:stream';
import websocket = require('../../lib/websocket');

// ---------------------------------------------------------------------------------------------
// The two implementations, through the shape this test uses of them

type Side = 'upstream' | 'ours';
const SIDES: readonly Side[] = ['upstream', 'ours'];
type WriteCallback = (error?: Error) => void;

interface Frame {
  opcode: number;
  fin: boolean;
  mask: boolean;
  binaryPayload: Buffer | null | undefined;
}

interface Message {
  type: string;
  utf8Data?: string;
  binaryData?: Buffer;
}

interface Connection extends EventEmitter {
  config: Record<string, unknown>;
  maskBytes: Buffer;
  frameHeader: Buffer;
  state: string;
  connected: boolean;
  closeReasonCode: number;
  closeDescription: string | null;
  outputBufferFull: boolean;
  fragmentationSize: number;
  _addSocketEventListeners(): void;
  sendUTF(data: unknown, cb?: WriteCallback): void;
  sendBytes(data: Buffer, cb?: WriteCallback): void;
  send(data: unknown, cb?: WriteCallback): void;
  ping(data?: unknown): void;
  pong(data?: Buffer): void;
  sendFrame(frame: Frame, cb?: WriteCallback): unknown;
  fragmentAndSend(frame: Frame, cb?: WriteCallback): void;
  close(code?: number, description?: string): void;
  drop(code?: number, description?: string, skipCloseFrame?: boolean): void;
}

interface Lib {
  connection: new (socket: unknown, extensions: unknown[], protocol: string, mask: boolean, config: Record<string, unknown>) => Connection;
  frame: new (maskBytes: Buffer, frameHeader: Buffer, config: Record<string, unknown>) => Frame;
}

const LIBS: Record<Side, Lib> = {
  ours: websocket as unknown as Lib,
  upstream: require('websocket-upstream') as Lib,
};

/** What the server fills in (upstream's WebSocketServer defaults), keepalive off: no timers. */
function serverConfig(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    maxReceivedFrameSize: 0x10000,
    maxReceivedMessageSize: 0x100000,
    fragmentOutgoingMessages: true,
    fragmentationThreshold: 0x4000,
    keepalive: false,
    assembleFragments: true,
    disableNagleAlgorithm: true,
    closeTimeout: 5000,
    ...overrides,
  };
}

// ---------------------------------------------------------------------------------------------
// The fake socket

/** One call on the fake socket; writes keep a copy of their bytes. */
interface SocketCall {
  method: 'write' | 'end' | 'destroy' | 'cork' | 'uncork';
  data?: Buffer;
}

/** An EventEmitter with exactly the socket methods an app's test double has. */
class FakeSocket extends EventEmitter {
  readonly calls: SocketCall[] = [];
  /** What write() returns (false: "buffer full"). */
  writeResult = true;
  readonly write = jest.fn((data: Buffer | string, callback?: WriteCallback): boolean => {
    this.calls.push({ method: 'write', data: Buffer.from(data) });
    // A socket never runs its write callback inside write().
    if (typeof callback === 'function') process.nextTick(callback);
    return this.writeResult;
  });
  readonly end = jest.fn(() => {
    this.calls.push({ method: 'end' });
  });
  readonly destroy = jest.fn(() => {
    this.calls.push({ method: 'destroy' });
  });
  readonly setNoDelay = jest.fn();
  readonly setTimeout = jest.fn();
  readonly setKeepAlive = jest.fn();
  readonly cork = jest.fn(() => {
    this.calls.push({ method: 'cork' });
  });
  readonly uncork = jest.fn(() => {
    this.calls.push({ method: 'uncork' });
  });

  /** Everything written, in order, as one buffer. */
  written(from = 0): Buffer {
    return Buffer.concat(this.calls.slice(from).flatMap((c) => (c.data === undefined ? [] : [c.data])));
  }

  writeCount(from = 0): number {
    return this.calls.slice(from).filter((c) => c.method === 'write').length;
  }

  /** The calls as names, with the writes of a cork()..uncork() run shown as one `writev(n)`. */
  sequence(from = 0): string[] {
    const out: string[] = [];
    let corked: number | null = null;
    for (const call of this.calls.slice(from)) {
      if (call.method === 'cork') corked = 0;
      else if (call.method === 'uncork') {
        out.push(`writev(${corked ?? 0})`);
        corked = null;
      } else if (call.method === 'write' && corked !== null) corked++;
      else out.push(call.method);
    }
    return out;
  }
}

interface Harness {
  side: Side;
  lib: Lib;
  socket: FakeSocket;
  connection: Connection;
  /** The connection's events, in order. */
  events: unknown[][];
}

const open: Array<{ connection: Connection; socket: EventEmitter }> = [];
afterEach(() => {
  // Nothing may keep timers alive after a test: drop what a test left open, and let fake sockets
  // report their close (a dropped connection of ours waits for it, or for closeTimeout).
  for (const { connection, socket } of open.splice(0)) {
    if (connection.state !== 'closed') connection.drop(1000, 'test over', true);
    if (socket instanceof FakeSocket) socket.emit('close', false);
  }
});

/** A connection on a fake socket, listeners attached; `listen` records its events in `events`. */
function make(side: Side, role: 'server' | 'client', config = serverConfig(), listen = true): Harness {
  const lib = LIBS[side];
  const socket = new FakeSocket();
  const connection = new lib.connection(socket, [], 'proto', role === 'client', config);
  connection._addSocketEventListeners();
  open.push({ connection, socket });
  const events: unknown[][] = [];
  if (listen) {
    for (const name of ['message', 'close', 'error', 'pong', 'drain', 'frame']) {
      connection.on(name, (...args: unknown[]) => {
        events.push([name, ...args.map(plain)]);
      });
    }
  }
  return { side, lib, socket, connection, events };
}

/** Messages and buffers in a comparable form. */
function plain(value: unknown): unknown {
  if (Buffer.isBuffer(value)) return `<${value.toString('hex')}>`;
  if (value instanceof Error) return { error: value.message, code: (value as NodeJS.ErrnoException).code };
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) out[key] = plain(v);
    return out;
  }
  return value;
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await tick();
}
const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// Frames: what a client sends (masked, fixed key) and a parser for what the connection wrote

const KEY = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);

function encode(opcode: number, payload: Buffer | string, options: { fin?: boolean; mask?: boolean } = {}): Buffer {
  const body = Buffer.from(payload);
  const mask = options.mask !== false;
  const first = (options.fin === false ? 0 : 0x80) | opcode;
  let header: Buffer;
  if (body.length < 126) header = Buffer.from([first, body.length]);
  else if (body.length < 0x10000) {
    header = Buffer.from([first, 126, 0, 0]);
    header.writeUInt16BE(body.length, 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = first;
    header[1] = 127;
    header.writeUInt32BE(body.length, 6);
  }
  if (!mask) return Buffer.concat([header, body]);
  header[1] = header[1]! | 0x80;
  return Buffer.concat([header, KEY, Buffer.from(body.map((b, i) => b ^ KEY[i % 4]!))]);
}

const clientText = (s: string, fin = true): Buffer => encode(0x1, s, { fin });
const clientBinary = (b: Buffer): Buffer => encode(0x2, b);
const clientCont = (s: string, fin: boolean): Buffer => encode(0x0, s, { fin });
function closeBody(code: number, reason = ''): Buffer {
  const body = Buffer.alloc(2);
  body.writeUInt16BE(code, 0);
  return Buffer.concat([body, Buffer.from(reason)]);
}

interface Parsed {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  payload: string;
}

/** Every frame in `data`, unmasked; throws on trailing bytes. */
function parseFrames(data: Buffer): Parsed[] {
  const frames: Parsed[] = [];
  let at = 0;
  while (at < data.length) {
    const b0 = data[at]!;
    const b1 = data[at + 1]!;
    let length = b1 & 0x7f;
    let pos = at + 2;
    if (length === 126) {
      length = data.readUInt16BE(pos);
      pos += 2;
    } else if (length === 127) {
      length = data.readUInt32BE(pos) * 0x100000000 + data.readUInt32BE(pos + 4);
      pos += 8;
    }
    const masked = (b1 & 0x80) !== 0;
    const key = masked ? data.subarray(pos, pos + 4) : null;
    if (masked) pos += 4;
    if (pos + length > data.length) throw new Error(`truncated frame at ${at}`);
    const payload = Buffer.from(data.subarray(pos, pos + length));
    if (key !== null) for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ key[i % 4]!;
    frames.push({ fin: (b0 & 0x80) !== 0, rsv: (b0 >> 4) & 7, opcode: b0 & 0x0f, masked, payload: payload.toString('hex') });
    at = pos + length;
  }
  return frames;
}

// ---------------------------------------------------------------------------------------------
// 1. Every send method writes before it returns, the bytes upstream writes

interface SendCase {
  title: string;
  run(connection: Connection, lib: Lib, cb: WriteCallback): unknown;
  /** Whether the case passes `cb` (then it must run once, after the call returned, without an error). */
  usesCallback?: boolean;
  /** Config overrides. */
  config?: Record<string, unknown>;
  /**
   * The socket calls, with writes of a cork()..uncork() run as `writev(n)`. Omitted: ours must
   * equal upstream's. Given: each side's, where they differ deliberately (see the module comment).
   */
  sequence?: Partial<Record<'server' | 'client', Record<Side, string[]>>>;
}

function frameOf(connection: Connection, lib: Lib, opcode: number, payload: Buffer, fin = true): Frame {
  const frame = new lib.frame(connection.maskBytes, connection.frameHeader, connection.config);
  frame.opcode = opcode;
  frame.fin = fin;
  frame.binaryPayload = payload;
  return frame;
}

const BYTES = Buffer.from([0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff]);
const KIB16 = Buffer.alloc(16384, 0x62);
const KB40 = Buffer.alloc(40000, 0x63);

const SEND_CASES: SendCase[] = [
  { title: "sendUTF('hello')", run: (c) => c.sendUTF('hello') },
  { title: 'sendUTF with multi-byte UTF-8', run: (c) => c.sendUTF('héllo € 𝄞') },
  { title: 'sendUTF of 300 characters (16-bit length)', run: (c) => c.sendUTF('x'.repeat(300)) },
  { title: 'sendUTF of an empty string', run: (c) => c.sendUTF('') },
  { title: 'sendUTF with a callback', usesCallback: true, run: (c, _l, cb) => c.sendUTF('with callback', cb) },
  { title: 'sendBytes(small Buffer)', run: (c) => c.sendBytes(BYTES) },
  { title: 'sendBytes of 5000 bytes', run: (c) => c.sendBytes(Buffer.alloc(5000, 0x61)) },
  { title: 'sendBytes with a callback', usesCallback: true, run: (c, _l, cb) => c.sendBytes(BYTES, cb) },
  { title: "send('string')", run: (c) => c.send('via send') },
  { title: 'send(Buffer)', run: (c) => c.send(BYTES) },
  { title: 'send(42) (toString)', run: (c) => c.send(42) },
  { title: 'send with a callback', usesCallback: true, run: (c, _l, cb) => c.send('cb', cb) },
  { title: 'ping()', run: (c) => c.ping() },
  { title: "ping('abc')", run: (c) => c.ping('abc') },
  { title: 'ping(Buffer)', run: (c) => c.ping(BYTES) },
  { title: 'pong(Buffer)', run: (c) => c.pong(Buffer.from('echo')) },
  { title: 'pong()', run: (c) => c.pong() },
  {
    title: 'sendFrame(text frame) returns the write result',
    run: (c, lib) => c.sendFrame(frameOf(c, lib, 0x1, Buffer.from('raw frame'))),
  },
  {
    title: 'sendFrame(binary frame without FIN) with a callback',
    usesCallback: true,
    run: (c, lib, cb) => c.sendFrame(frameOf(c, lib, 0x2, BYTES, false), cb),
  },
  {
    title: 'fragmentAndSend(small text frame)',
    run: (c, lib) => c.fragmentAndSend(frameOf(c, lib, 0x1, Buffer.from('whole'), false)),
  },
  {
    title: 'fragmentAndSend(binary frame) with a callback',
    usesCallback: true,
    run: (c, lib, cb) => c.fragmentAndSend(frameOf(c, lib, 0x2, BYTES, false), cb),
  },
  { title: 'close()', run: (c) => c.close() },
  { title: "close(4000, 'bye')", run: (c) => c.close(4000, 'bye') },
  { title: "close(1001, '')", run: (c) => c.close(1001, '') },
  // drop(): the close frame and end() at once, and 'close' synchronously (see the drop tests for destroy()).
  {
    title: 'drop() (compat: "Failing the connection", destroy() comes later)',
    run: (c) => c.drop(),
    sequence: {
      server: { upstream: ['write', 'end', 'destroy'], ours: ['write', 'end'] },
      client: { upstream: ['write', 'end', 'destroy'], ours: ['write', 'end'] },
    },
  },
  {
    title: "drop(1008, 'policy') (compat: \"Failing the connection\")",
    run: (c) => c.drop(1008, 'policy'),
    sequence: {
      server: { upstream: ['write', 'end', 'destroy'], ours: ['write', 'end'] },
      client: { upstream: ['write', 'end', 'destroy'], ours: ['write', 'end'] },
    },
  },
  { title: "drop(1000, 'x', true) (no close frame)", run: (c) => c.drop(1000, 'x', true) },
  // ---- deliberate: write granularity of large and fragmented sends ----
  {
    title: 'sendBytes of exactly 16 KiB (write count: header and payload in one cork)',
    run: (c) => c.sendBytes(KIB16),
    sequence: {
      server: { upstream: ['write'], ours: ['writev(2)'] },
      client: { upstream: ['write'], ours: ['write'] },
    },
  },
  {
    title: 'sendBytes of 40000 bytes, 3 fragments (write count: one writev)',
    usesCallback: true,
    run: (c, _l, cb) => c.sendBytes(KB40, cb),
    sequence: {
      server: { upstream: ['write', 'write', 'write'], ours: ['writev(6)'] },
      client: { upstream: ['write', 'write', 'write'], ours: ['writev(3)'] },
    },
  },
  {
    title: 'sendUTF of 25 bytes at fragmentationThreshold 10, 3 fragments (write count: one write)',
    config: { fragmentationThreshold: 10 },
    usesCallback: true,
    run: (c, _l, cb) => c.sendUTF('a'.repeat(25), cb),
    sequence: {
      server: { upstream: ['write', 'write', 'write'], ours: ['write'] },
      client: { upstream: ['write', 'write', 'write'], ours: ['write'] },
    },
  },
  {
    title: 'fragmentAndSend of 40000 bytes (write count: one writev)',
    run: (c, lib) => c.fragmentAndSend(frameOf(c, lib, 0x2, KB40, false)),
    sequence: {
      server: { upstream: ['write', 'write', 'write'], ours: ['writev(6)'] },
      client: { upstream: ['write', 'write', 'write'], ours: ['writev(3)'] },
    },
  },
  {
    title: 'sendBytes of 70000 bytes with fragmentOutgoingMessages false (write count)',
    config: { fragmentOutgoingMessages: false },
    run: (c) => c.sendBytes(Buffer.alloc(70000, 0x64)),
    sequence: {
      server: { upstream: ['write'], ours: ['writev(2)'] },
      client: { upstream: ['write'], ours: ['write'] },
    },
  },
];

interface SendResult {
  returned: unknown;
  /** The socket calls made before the method returned. */
  syncCalls: number;
  syncWrites: number;
  written: Buffer;
  sequence: string[];
  callbackCalls: unknown[][];
  callbackCallsSync: number;
  events: unknown[][];
  eventsSync: number;
  state: string;
  connected: boolean;
}

async function runSend(side: Side, role: 'server' | 'client', c: SendCase): Promise<SendResult> {
  const h = make(side, role, serverConfig(c.config));
  const callbackCalls: unknown[][] = [];
  const cb: WriteCallback = (...args: unknown[]) => {
    callbackCalls.push(args.map(plain));
  };
  h.socket.calls.length = 0;
  const returned = c.run(h.connection, h.lib, cb);
  // Synchronously, before anything else runs:
  const syncCalls = h.socket.calls.length;
  const syncWrites = h.socket.writeCount();
  const callbackCallsSync = callbackCalls.length;
  const eventsSync = h.events.length;
  const written = h.socket.written();
  const sequence = h.socket.sequence();
  await settle();
  // Nothing more is written later (what a later write would add shows here).
  expect(h.socket.written().equals(written)).toBe(true);
  return {
    returned,
    syncCalls,
    syncWrites,
    written,
    sequence,
    callbackCalls,
    callbackCallsSync,
    events: h.events,
    eventsSync,
    state: h.connection.state,
    connected: h.connection.connected,
  };
}

describe.each(['server', 'client'] as const)('%s role: each send method calls socket.write before it returns', (role) => {
  test.each(SEND_CASES.map((c) => [c.title, c] as const))('%s', async (_title, c) => {
    const result = {} as Record<Side, SendResult>;
    for (const side of SIDES) result[side] = await runSend(side, role, c);
    const { upstream, ours } = result;

    // Written synchronously, by both (upstream shows what the app's test expects).
    const expectsWrite = !c.title.startsWith('drop(1000');
    if (expectsWrite) {
      expect(upstream.syncWrites).toBeGreaterThan(0);
      expect(ours.syncWrites).toBeGreaterThan(0);
      expect(upstream.written.length).toBeGreaterThan(0);
    } else {
      expect(upstream.syncWrites).toBe(0);
      expect(ours.syncWrites).toBe(0);
    }
    expect(ours.syncCalls).toBeGreaterThan(0);

    // The same bytes: exactly for a server, unmasked and structurally for a client (random keys).
    if (role === 'server') {
      expect(ours.written.toString('hex')).toBe(upstream.written.toString('hex'));
    } else {
      const oursFrames = parseFrames(ours.written);
      expect(oursFrames.every((f) => f.masked)).toBe(true);
      expect(oursFrames).toEqual(parseFrames(upstream.written));
    }

    // The same socket calls, or the deliberate difference this case pins.
    const pinned = c.sequence?.[role];
    if (pinned === undefined) {
      expect(ours.sequence).toEqual(upstream.sequence);
    } else {
      expect(upstream.sequence).toEqual(pinned.upstream);
      expect(ours.sequence).toEqual(pinned.ours);
    }

    // Return value, callback, events, state. A send or close without a callback returns upstream
    // v2's awaitable (docs/compat.md, "Promises"); 1.0.35 returns undefined there.
    const awaitable = ours.returned !== null && typeof ours.returned === 'object' && typeof (ours.returned as { then?: unknown }).then === 'function';
    if (awaitable) {
      expect(upstream.returned).toBeUndefined();
      expect(c.usesCallback === true && !/close/.test(c.title)).toBe(false);
    } else {
      expect(ours.returned).toEqual(upstream.returned);
    }
    if (c.usesCallback === true) {
      expect(upstream.callbackCallsSync).toBe(0);
      expect(ours.callbackCallsSync).toBe(0);
      expect(upstream.callbackCalls).toEqual([[]]);
      expect(ours.callbackCalls).toHaveLength(1);
      expect(ours.callbackCalls[0]!.filter((a) => a !== undefined && a !== null)).toEqual([]);
    }
    expect(ours.eventsSync).toBe(upstream.eventsSync);
    expect(ours.events).toEqual(upstream.events);
    expect(ours.state).toBe(upstream.state);
    expect(ours.connected).toBe(upstream.connected);
  });
});

describe('sendFrame and the write result (outputBufferFull, drain)', () => {
  test('write() returning false: sendFrame returns false, outputBufferFull is set, drain clears it', async () => {
    const seen: Record<Side, unknown[]> = { upstream: [], ours: [] };
    for (const side of SIDES) {
      const h = make(side, 'server');
      h.socket.writeResult = false;
      const returned = h.connection.sendFrame(frameOf(h.connection, h.lib, 0x1, Buffer.from('x')));
      seen[side].push(returned, h.connection.outputBufferFull, h.socket.writeCount());
      h.socket.writeResult = true;
      h.socket.emit('drain');
      seen[side].push(h.connection.outputBufferFull, h.events.map((e) => e[0]));
    }
    expect(seen.upstream).toEqual([false, true, 1, false, ['drain']]);
    expect(seen.ours).toEqual(seen.upstream);
  });
});

/** Upstream's connection over a socket double that has only the methods upstream calls. */
function minimalSocket(write: (data: Buffer) => unknown): EventEmitter {
  const socket = new EventEmitter();
  return Object.assign(socket, {
    write: (data: Buffer, callback?: WriteCallback): unknown => {
      if (typeof callback === 'function') process.nextTick(callback);
      return write(Buffer.from(data));
    },
    end: (): void => undefined,
    destroy: (): void => undefined,
    setNoDelay: (): void => undefined,
    setTimeout: (): void => undefined,
  });
}

/** Socket doubles that lack what real sockets have: upstream copes with them, and so must we. */
describe('socket doubles without the rest of a stream', () => {
  test('a socket without cork()/uncork(): a send of more than 16 KiB writes the same bytes as upstream', () => {
    const outcome: Record<Side, unknown> = { upstream: null, ours: null };
    for (const side of SIDES) {
      const chunks: Buffer[] = [];
      const socket = minimalSocket((data) => chunks.push(data) > 0);
      const connection = new LIBS[side].connection(socket, [], 'proto', false, serverConfig());
      connection._addSocketEventListeners();
      open.push({ connection, socket });
      try {
        connection.sendBytes(KB40);
        const all = Buffer.concat(chunks);
        outcome[side] = `${all.length} bytes sha1:${createHash('sha1').update(all).digest('hex')}`;
      } catch (error) {
        outcome[side] = `throws ${(error as Error).message}`;
      }
    }
    expect(typeof outcome.upstream === 'string' && !outcome.upstream.startsWith('throws')).toBe(true);
    expect(outcome.ours).toEqual(outcome.upstream);
  });

  test('write() returning undefined (a bare jest.fn()): sendFrame returns it and outputBufferFull is true, as upstream', () => {
    const outcome: Record<Side, unknown[]> = { upstream: [], ours: [] };
    for (const side of SIDES) {
      const socket = minimalSocket(() => undefined);
      Object.assign(socket, { cork: (): void => undefined, uncork: (): void => undefined });
      const lib = LIBS[side];
      const connection = new lib.connection(socket, [], 'proto', false, serverConfig());
      connection._addSocketEventListeners();
      open.push({ connection, socket });
      const returned = connection.sendFrame(frameOf(connection, lib, 0x1, Buffer.from('x')));
      outcome[side].push(returned, connection.outputBufferFull);
      connection.sendUTF('y');
      outcome[side].push(connection.outputBufferFull);
    }
    expect(outcome.upstream).toEqual([undefined, true, true]);
    expect(outcome.ours).toEqual(outcome.upstream);
  });
});

// ---------------------------------------------------------------------------------------------
// 2. Received data flows through the fake socket

interface ReceiveLog {
  /** Events and socket calls in one timeline, with markers placed by the script. */
  timeline: unknown[];
  written: string;
  state: string;
  closeReasonCode: number;
  closeDescription: string | null;
}

type Script = (h: Harness, mark: (label: string) => void) => Promise<void>;

async function runReceive(side: Side, role: 'server' | 'client', script: Script, config = serverConfig()): Promise<ReceiveLog> {
  const h = make(side, role, config, false);
  const timeline: unknown[] = [];
  // One timeline: the connection's events and the socket calls, in the order they happen.
  for (const name of ['message', 'close', 'error', 'pong', 'drain']) {
    h.connection.on(name, (...args: unknown[]) => {
      timeline.push([name, ...args.map(plain)]);
    });
  }
  const seen = { calls: 0 };
  const origPush = timeline.push.bind(timeline);
  const syncCalls = (): void => {
    for (; seen.calls < h.socket.calls.length; seen.calls++) {
      const call = h.socket.calls[seen.calls]!;
      origPush(call.method === 'write' ? `socket.write ${call.data!.toString('hex')}` : `socket.${call.method}`);
    }
  };
  timeline.push = (...items: unknown[]): number => {
    syncCalls();
    return origPush(...items);
  };
  await script(h, (label) => timeline.push(`-- ${label}`));
  syncCalls();
  return {
    timeline: [...timeline],
    written: h.socket.written().toString('hex'),
    state: h.connection.state,
    closeReasonCode: h.connection.closeReasonCode,
    closeDescription: h.connection.closeDescription,
  };
}

async function receiveBoth(role: 'server' | 'client', script: Script, config?: Record<string, unknown>): Promise<Record<Side, ReceiveLog>> {
  const out = {} as Record<Side, ReceiveLog>;
  for (const side of SIDES) out[side] = await runReceive(side, role, script, config === undefined ? serverConfig() : serverConfig(config));
  return out;
}

describe('received data through the fake socket (server role, masked client frames)', () => {
  test("'data' with frames: 'message' events fire after a tick, in order, as upstream", async () => {
    const result = await receiveBoth('server', async (h, mark) => {
      h.socket.emit('data', Buffer.concat([clientText('first'), clientBinary(BYTES), clientText('third')]));
      mark('emit returned');
      await settle();
    });
    expect(result.upstream.timeline).toEqual([
      '-- emit returned',
      ['message', { type: 'utf8', utf8Data: 'first' }],
      ['message', { type: 'binary', binaryData: `<${BYTES.toString('hex')}>` }],
      ['message', { type: 'utf8', utf8Data: 'third' }],
    ]);
    expect(result.ours).toEqual(result.upstream);
  });

  test('a frame split across two data events is delivered once complete', async () => {
    const bytes = clientText('split across chunks');
    const result = await receiveBoth('server', async (h, mark) => {
      h.socket.emit('data', bytes.subarray(0, 5));
      await settle();
      mark('first part');
      h.socket.emit('data', bytes.subarray(5));
      await settle();
    });
    expect(result.upstream.timeline).toEqual(['-- first part', ['message', { type: 'utf8', utf8Data: 'split across chunks' }]]);
    expect(result.ours).toEqual(result.upstream);
  });

  test('a ping is answered with a pong written to the fake socket (after a tick)', async () => {
    const result = await receiveBoth('server', async (h, mark) => {
      h.socket.emit('data', encode(0x9, 'are you there'));
      mark('emit returned');
      await settle();
    });
    expect(result.upstream.timeline).toEqual(['-- emit returned', `socket.write ${encode(0xa, 'are you there', { mask: false }).toString('hex')}`]);
    expect(result.ours).toEqual(result.upstream);
  });

  test("a message handler's reply is written before control returns to the event loop", async () => {
    const result = await receiveBoth('server', async (h, mark) => {
      h.connection.on('message', (m: Message) => h.connection.sendUTF(`echo ${m.utf8Data ?? ''}`));
      h.socket.emit('data', clientText('hi'));
      await tick();
      mark('one setImmediate later');
      await settle();
    });
    expect(result.upstream.timeline).toEqual([
      ['message', { type: 'utf8', utf8Data: 'hi' }],
      `socket.write ${encode(0x1, 'echo hi', { mask: false }).toString('hex')}`,
      '-- one setImmediate later',
    ]);
    expect(result.ours).toEqual(result.upstream);
  });

  test("the peer's close frame: the reply is written, end() called; socket 'close' gives 'close' with its code and reason", async () => {
    const result = await receiveBoth('server', async (h, mark) => {
      h.socket.emit('data', encode(0x8, closeBody(1000, 'bye')));
      await settle();
      mark(`state ${h.connection.state}`);
      h.socket.emit('close', false);
      mark(`state ${h.connection.state}`);
    });
    expect(result.upstream.timeline).toEqual([
      `socket.write ${encode(0x8, closeBody(1000), { mask: false }).toString('hex')}`,
      'socket.end',
      '-- state peer_requested_close',
      ['close', 1000, 'bye'],
      '-- state closed',
    ]);
    expect(result.ours).toEqual(result.upstream);
  });

  test("socket 'close' without a close frame: 'close' with 1006 'Connection dropped by remote peer.'", async () => {
    const result = await receiveBoth('server', async (h, mark) => {
      h.socket.emit('close', false);
      mark('emit returned');
      await settle();
    });
    expect(result.upstream.timeline).toEqual([['close', 1006, 'Connection dropped by remote peer.'], '-- emit returned']);
    expect(result.ours).toEqual(result.upstream);
  });

  test("socket 'end': end() is called back, 'close' follows the socket's 'close'", async () => {
    const result = await receiveBoth('server', async (h, mark) => {
      h.socket.emit('end');
      mark(`state ${h.connection.state}`);
      await settle();
      h.socket.emit('close', false);
    });
    expect(result.upstream.timeline).toEqual(['socket.end', '-- state open', ['close', 1006, 'Connection dropped by remote peer.']]);
    expect(result.ours).toEqual(result.upstream);
  });

  test("socket 'error': 'error' event, destroy(), then 'close' with the socket error", async () => {
    const result = await receiveBoth('server', async (h, mark) => {
      const error = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET', syscall: 'read' });
      h.socket.emit('error', error);
      mark(`state ${h.connection.state}`);
      h.socket.emit('close', true);
      await settle();
    });
    expect(result.upstream.timeline).toEqual([
      ['error', { error: 'read ECONNRESET', code: 'ECONNRESET' }],
      'socket.destroy',
      '-- state closed',
      ['close', 1006, 'Socket Error: read ECONNRESET'],
    ]);
    expect(result.ours).toEqual(result.upstream);
  });

  test('close(): the reply close frame from the peer is not read; socket close gives our own code', async () => {
    const result = await receiveBoth('server', async (h, mark) => {
      h.connection.close(4001, 'ours');
      mark('closed');
      h.socket.emit('data', encode(0x8, closeBody(1000, 'theirs')));
      await settle();
      h.socket.emit('close', false);
    });
    expect(result.upstream.timeline).toEqual([
      `socket.write ${encode(0x8, closeBody(4001, 'ours'), { mask: false }).toString('hex')}`,
      'socket.end',
      '-- closed',
      ['close', 4001, 'ours'],
    ]);
    expect(result.ours).toEqual(result.upstream);
  });
});

describe('received data through the fake socket (client role, unmasked server frames)', () => {
  test("messages, a ping's pong (masked) and the closing handshake", async () => {
    const pongs: Record<Side, Parsed[]> = { upstream: [], ours: [] };
    const result = await receiveBoth('client', async (h, mark) => {
      h.socket.emit('data', Buffer.concat([encode(0x1, 'from server', { mask: false }), encode(0x9, 'p', { mask: false })]));
      await settle();
      pongs[h.side] = parseFrames(h.socket.written());
      mark('close frame');
      h.socket.emit('data', encode(0x8, closeBody(1001, 'restart'), { mask: false }));
      await settle();
      h.socket.emit('close', false);
    });
    // Masked writes differ in their keys: compare the timelines without the written bytes.
    const strip = (log: ReceiveLog): unknown[] =>
      log.timeline.map((e) => (typeof e === 'string' && e.startsWith('socket.write') ? 'socket.write' : e));
    expect(strip(result.upstream)).toEqual([
      ['message', { type: 'utf8', utf8Data: 'from server' }],
      'socket.write',
      '-- close frame',
      'socket.write',
      'socket.end',
      ['close', 1001, 'restart'],
    ]);
    expect(strip(result.ours)).toEqual(strip(result.upstream));
    expect(pongs.upstream).toEqual([{ fin: true, rsv: 0, opcode: 0xa, masked: true, payload: Buffer.from('p').toString('hex') }]);
    expect(pongs.ours).toEqual(pongs.upstream);
    expect(result.ours.closeReasonCode).toBe(result.upstream.closeReasonCode);
    expect(result.ours.closeDescription).toBe(result.upstream.closeDescription);
  });
});

// ---------------------------------------------------------------------------------------------
// 3. drop() cleans up

describe('drop() on a fake socket', () => {
  test("drop(): 'close' emitted synchronously once, later data ignored; destroy() at once (upstream) or after closeTimeout (ours, compat: \"Failing the connection\")", async () => {
    const log: Record<Side, unknown[]> = { upstream: [], ours: [] };
    for (const side of SIDES) {
      const h = make(side, 'server', serverConfig({ closeTimeout: 50 }));
      h.connection.drop(1011, 'server bug');
      log[side].push('after drop', h.connection.state, h.connection.connected, h.socket.sequence(), [...h.events]);
      h.socket.emit('data', clientText('ignored'));
      await settle();
      log[side].push('after data', h.events.length);
      await delay(100);
      log[side].push('after closeTimeout', h.socket.sequence());
      h.socket.emit('close', false);
      log[side].push('after socket close', h.events.length);
    }
    const closeFrameHex = encode(0x8, closeBody(1011, 'server bug'), { mask: false }).toString('hex');
    expect(log.upstream).toEqual([
      'after drop', 'closed', false, ['write', 'end', 'destroy'], [['close', 1011, 'server bug']],
      'after data', 1,
      'after closeTimeout', ['write', 'end', 'destroy'],
      'after socket close', 1,
    ]);
    expect(log.ours).toEqual([
      'after drop', 'closed', false, ['write', 'end'], [['close', 1011, 'server bug']],
      'after data', 1,
      'after closeTimeout', ['write', 'end', 'destroy'],
      'after socket close', 1,
    ]);
    // The same close frame.
    const bytes: Record<Side, string> = { upstream: '', ours: '' };
    for (const side of SIDES) {
      const h = make(side, 'server');
      h.connection.drop(1011, 'server bug');
      bytes[side] = h.socket.written().toString('hex');
    }
    expect(bytes.upstream).toBe(closeFrameHex);
    expect(bytes.ours).toBe(bytes.upstream);
  });

  test('drop() once the peer hung up: destroy() at once for both, no second close event', async () => {
    const log: Record<Side, unknown[]> = { upstream: [], ours: [] };
    for (const side of SIDES) {
      const h = make(side, 'server');
      h.socket.emit('close', false);
      h.connection.drop();
      await settle();
      log[side].push(h.socket.sequence(), h.events);
    }
    expect(log.upstream).toEqual([['destroy'], [['close', 1006, 'Connection dropped by remote peer.']]]);
    expect(log.ours).toEqual(log.upstream);
  });

  test('drop() with keepalive on clears its timers (nothing fires afterwards)', async () => {
    const log: Record<Side, unknown[]> = { upstream: [], ours: [] };
    for (const side of SIDES) {
      const h = make(side, 'server', serverConfig({ keepalive: true, keepaliveInterval: 20, dropConnectionOnKeepaliveTimeout: true, keepaliveGracePeriod: 20 }));
      h.connection.drop(1000, 'bye', true);
      await delay(80);
      log[side].push(h.socket.sequence(), h.events);
    }
    expect(log.upstream).toEqual([['destroy'], [['close', 1000, 'bye']]]);
    expect(log.ours).toEqual(log.upstream);
  });
});

// ---------------------------------------------------------------------------------------------
// 4. fragmentationSize (compat field): bytes of the fragmented message so far, 0 between messages

describe('connection.fragmentationSize', () => {
  test('after each fragment of a 3-fragment text message, as upstream', async () => {
    const values: Record<Side, unknown[]> = { upstream: [], ours: [] };
    for (const side of SIDES) {
      const h = make(side, 'server');
      const v = values[side];
      v.push(['before', h.connection.fragmentationSize]);
      const fragments: Array<[string, Buffer]> = [
        ['first', clientText('abc', false)],
        ['second', clientCont('defg', false)],
        ['last', clientCont('hi', true)],
      ];
      for (const [name, bytes] of fragments) {
        h.socket.emit('data', bytes);
        v.push([`${name} (sync)`, h.connection.fragmentationSize]);
        await settle();
        v.push([name, h.connection.fragmentationSize, h.events.length]);
      }
      // A second message, unfragmented: stays 0.
      h.socket.emit('data', clientText('single'));
      await settle();
      v.push(['single', h.connection.fragmentationSize, h.events.map((e) => e[1])]);
    }
    expect(values.upstream).toEqual([
      ['before', 0],
      ['first (sync)', 0],
      ['first', 3, 0],
      ['second (sync)', 3],
      ['second', 7, 0],
      ['last (sync)', 7],
      ['last', 0, 1],
      ['single', 0, [{ type: 'utf8', utf8Data: 'abcdefghi' }, { type: 'utf8', utf8Data: 'single' }]],
    ]);
    expect(values.ours).toEqual(values.upstream);
  });

  test('binary fragments, then drop() in the middle of a message resets it to 0', async () => {
    const values: Record<Side, unknown[]> = { upstream: [], ours: [] };
    for (const side of SIDES) {
      const h = make(side, 'server');
      h.socket.emit('data', encode(0x2, Buffer.alloc(300, 1), { fin: false }));
      await settle();
      values[side].push(h.connection.fragmentationSize);
      h.socket.emit('data', encode(0x0, Buffer.alloc(1000, 2), { fin: false }));
      await settle();
      values[side].push(h.connection.fragmentationSize);
      h.connection.drop(1000, 'stop', true);
      values[side].push(h.connection.fragmentationSize);
    }
    expect(values.upstream).toEqual([300, 1300, 0]);
    expect(values.ours).toEqual(values.upstream);
  });
});

// ---------------------------------------------------------------------------------------------
// 5. A duplex-like object that is not a net.Socket: a stream.Duplex pair

/** One end of an in-memory pipe; what it writes the other end reads (asynchronously, in order). */
class PipeEnd extends Duplex {
  peer!: PipeEnd;
  private peerEnded = false;

  override _read(): void {
    // Data is pushed by the peer's writes.
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    setImmediate(() => {
      if (!this.peer.destroyed) this.peer.push(chunk);
      callback();
    });
  }

  override _final(callback: (error?: Error | null) => void): void {
    setImmediate(() => {
      this.endPeer();
      callback();
    });
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // Like a TCP reset: the peer's input ends.
    setImmediate(() => this.endPeer());
    callback(error);
  }

  private endPeer(): void {
    if (this.peerEnded) return;
    this.peerEnded = true;
    if (!this.peer.destroyed) this.peer.push(null);
  }

  // The socket methods the connection calls: no-ops here.
  setNoDelay(): this {
    return this;
  }

  setTimeout(): this {
    return this;
  }

  setKeepAlive(): this {
    return this;
  }
}

function pipePair(): [PipeEnd, PipeEnd] {
  const a = new PipeEnd();
  const b = new PipeEnd();
  a.peer = b;
  b.peer = a;
  return [a, b];
}

async function duplexConversation(serverSide: Side, clientSide: Side): Promise<{ server: unknown[]; client: unknown[] }> {
  const [serverEnd, clientEnd] = pipePair();
  const server = new LIBS[serverSide].connection(serverEnd, [], 'proto', false, serverConfig());
  const client = new LIBS[clientSide].connection(clientEnd, [], 'proto', true, serverConfig());
  server._addSocketEventListeners();
  client._addSocketEventListeners();
  open.push({ connection: server, socket: serverEnd }, { connection: client, socket: clientEnd });
  const log = { server: [] as unknown[], client: [] as unknown[] };
  const record = (who: 'server' | 'client', connection: Connection): Promise<void> =>
    new Promise((resolve) => {
      for (const name of ['message', 'pong', 'error']) {
        connection.on(name, (...args: unknown[]) => log[who].push([name, ...args.map(plain)]));
      }
      connection.on('close', (code: number, description: string) => {
        log[who].push(['close', code, description, connection.state]);
        resolve();
      });
    });
  const closed = Promise.all([record('server', server), record('client', client)]);

  server.on('message', (m: Message) => {
    if (m.type === 'utf8') server.sendUTF(`echo ${m.utf8Data ?? ''}`);
    else server.sendBytes(Buffer.from(m.binaryData!).reverse());
  });
  // The pong answers the last of the three sends: then the client starts the closing handshake.
  client.on('pong', () => client.close(1000, 'done'));
  client.sendUTF('hello');
  client.sendBytes(Buffer.from([1, 2, 3]));
  client.ping('p');

  let timer: NodeJS.Timeout | undefined;
  await Promise.race([closed, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${serverSide}/${clientSide}: no close within 3 s: ${JSON.stringify(log)}`)), 3000)))]);
  clearTimeout(timer);
  await settle();
  log.server.push(['socket destroyed', serverEnd.destroyed]);
  log.client.push(['socket destroyed', clientEnd.destroyed]);
  return log;
}

describe('on a stream.Duplex pair (not a net.Socket): a server and a client connection talk and close cleanly', () => {
  const EXPECTED = {
    server: [
      ['message', { type: 'utf8', utf8Data: 'hello' }],
      ['message', { type: 'binary', binaryData: '<010203>' }],
      ['close', 1000, 'done', 'closed'],
      ['socket destroyed', true],
    ],
    client: [
      ['message', { type: 'utf8', utf8Data: 'echo hello' }],
      ['message', { type: 'binary', binaryData: '<030201>' }],
      ['pong', '<70>'],
      ['close', 1000, 'done', 'closed'],
      ['socket destroyed', true],
    ],
  };

  test.each([
    ['upstream', 'upstream'],
    ['ours', 'ours'],
    ['ours', 'upstream'],
    ['upstream', 'ours'],
  ] as const)('server %s, client %s', async (serverSide, clientSide) => {
    const log = await duplexConversation(serverSide, clientSide);
    expect(log).toEqual(EXPECTED);
  });
});
