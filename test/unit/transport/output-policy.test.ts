/**
 * ConnectionOutput (lib/transport/output-policy.ts): pong coalescing while the output is blocked,
 * the ping cap that drops a peer which pings but never reads, maxBufferedBytes, the threshold at
 * which reading stops, 'drain', and the host being told when a write leaves output blocked. A
 * scripted stand-in socket for the arithmetic, a real socket pair whose peer stops reading for
 * the whole cycle.
 */
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import {
  ConnectionOutput,
  DEFAULT_BACKPRESSURE_THRESHOLD,
  MAX_PINGS_WHILE_BLOCKED,
  type OutputHost,
} from '../../../lib/transport/output-policy';

/** A stand-in socket: writes return `accept`, and the buffered length is set by the test. */
interface FakeSocket {
  accept: boolean;
  writableLength: number;
  writableHighWaterMark: number;
  destroyed: boolean;
  writableEnded: boolean;
  written: Buffer[];
  write(chunk: Buffer, cb?: () => void): boolean;
  cork(): void;
  uncork(): void;
}

function fakeSocket(highWaterMark = 1000): FakeSocket {
  const socket: FakeSocket = {
    accept: true,
    writableLength: 0,
    writableHighWaterMark: highWaterMark,
    destroyed: false,
    writableEnded: false,
    written: [],
    write(chunk: Buffer) {
      socket.written.push(Buffer.from(chunk));
      return socket.accept;
    },
    cork() {},
    uncork() {},
  };
  return socket;
}

function setup(highWaterMark = 1000) {
  const socket = fakeSocket(highWaterMark);
  const host: OutputHost & { blocked: number } = {
    blocked: 0,
    onOutputBlocked() {
      host.blocked++;
    },
  };
  const out = new ConnectionOutput(socket as unknown as net.Socket, host);
  /** One send: a bracket around `bytes` bytes. */
  const send = (bytes: number): void => {
    out.hold();
    out.push(Buffer.alloc(bytes));
    out.release();
  };
  return { socket, host, out, send };
}

describe('ConnectionOutput: pings while the output is blocked', () => {
  test('not blocked: every ping is answered at once, nothing is kept', () => {
    const { out } = setup();
    for (let i = 0; i < 300; i++) expect(out.onPing(Buffer.from([i & 0xff]))).toBe('answer');
    expect(out.pendingPong).toBeNull();
    expect(out.onDrain()).toBeNull();
  });

  test('blocked by bytes alone (no full write reported yet): pongs are coalesced, never a drop', () => {
    const { socket, out } = setup(1000);
    socket.writableLength = 1000;
    expect(out.wouldBlock()).toBe(true);
    for (let i = 0; i < MAX_PINGS_WHILE_BLOCKED * 3; i++) expect(out.onPing(Buffer.from(`p${i}`))).toBe('held');
    // Only the latest is owed (RFC 6455 §5.5.3).
    expect(out.pendingPong?.toString()).toBe(`p${MAX_PINGS_WHILE_BLOCKED * 3 - 1}`);
  });

  test('after the socket reported a full buffer: 100 pings are held, the 101st drops the peer', () => {
    const { socket, out, send } = setup();
    socket.accept = false;
    send(10);
    expect(out.full).toBe(true);
    for (let i = 1; i <= MAX_PINGS_WHILE_BLOCKED; i++) expect(out.onPing(Buffer.from(`p${i}`))).toBe('held');
    expect(out.onPing(Buffer.from('one too many'))).toBe('drop');
    expect(MAX_PINGS_WHILE_BLOCKED).toBe(100);
  });

  test("'drain' returns the latest ping owed a pong, once, and resets the count", () => {
    const { socket, out, send } = setup();
    socket.accept = false;
    send(10);
    for (let i = 0; i < 60; i++) out.onPing(Buffer.from(`p${i}`));
    const pong = out.onDrain();
    expect(pong?.toString()).toBe('p59');
    expect(out.full).toBe(false);
    expect(out.pendingPong).toBeNull();
    expect(out.onDrain()).toBeNull();
    // Not blocked any more: answered at once.
    expect(out.onPing(Buffer.from('now'))).toBe('answer');
    // Blocked again: the count starts from zero, so 100 more are held before a drop.
    send(10);
    expect(out.full).toBe(true);
    for (let i = 0; i < MAX_PINGS_WHILE_BLOCKED; i++) expect(out.onPing(Buffer.from('again'))).toBe('held');
    expect(out.onPing(Buffer.from('again'))).toBe('drop');
  });

  test('a write the socket accepts clears `full` (the buffer went below the mark)', () => {
    const { socket, out, send } = setup();
    socket.accept = false;
    send(10);
    expect(out.full).toBe(true);
    socket.accept = true;
    send(10);
    expect(out.full).toBe(false);
    expect(out.onPing(Buffer.from('x'))).toBe('answer');
  });
});

describe('ConnectionOutput: limits', () => {
  test('overLimit: unsent bytes (ours held + the socket\'s) above maxBufferedBytes; unset, 0 or not a number: never', () => {
    const { socket, out } = setup();
    out.hold();
    out.push(Buffer.alloc(150));
    socket.writableLength = 100;
    expect(out.bufferedBytes).toBe(250);
    expect(out.overLimit(249)).toBe(true);
    expect(out.overLimit(250)).toBe(false);
    expect(out.overLimit(undefined)).toBe(false);
    expect(out.overLimit(0)).toBe(false);
    expect(out.overLimit(-1)).toBe(false);
    expect(out.overLimit('10')).toBe(false);
    out.release();
    // Released: our part was written, only the socket's is left.
    expect(out.bufferedBytes).toBe(100);
    expect(out.overLimit(150)).toBe(false);
  });

  test('shouldStopReading: only once the socket reported a full buffer and the unsent bytes pass the threshold', () => {
    const { socket, out, send } = setup();
    socket.writableLength = 5000;
    // Many bytes, but the socket never said it was full: no 'drain' would come, so never stop.
    expect(out.shouldStopReading(1000)).toBe(false);
    socket.accept = false;
    send(1);
    expect(out.full).toBe(true);
    expect(out.shouldStopReading(1000)).toBe(true);
    expect(out.shouldStopReading(5000)).toBe(false);
    expect(out.shouldStopReading(0)).toBe(false);
    // Unset: the default threshold (4 MiB).
    expect(out.shouldStopReading(undefined)).toBe(false);
    socket.writableLength = DEFAULT_BACKPRESSURE_THRESHOLD + 1;
    expect(out.shouldStopReading(undefined)).toBe(true);
    out.onDrain();
    expect(out.shouldStopReading(undefined)).toBe(false);
  });
});

describe('ConnectionOutput: the host is told when a write leaves the output blocked', () => {
  test('only at the outermost release, and only when blocked', () => {
    const { socket, host, out, send } = setup(1000);
    send(10);
    expect(host.blocked).toBe(0);
    socket.accept = false;
    out.hold();
    out.hold();
    out.push(Buffer.alloc(10));
    out.release();
    // Inner release: nothing written yet, nothing to tell.
    expect(host.blocked).toBe(0);
    expect(socket.written).toHaveLength(1);
    out.release();
    expect(socket.written).toHaveLength(2);
    expect(host.blocked).toBe(1);
  });

  test('blocked by the socket\'s buffered bytes alone also counts', () => {
    const { socket, host, send } = setup(1000);
    socket.writableLength = 999;
    send(1);
    expect(host.blocked).toBe(0);
    socket.writableLength = 1000;
    send(1);
    expect(host.blocked).toBe(1);
  });
});

describe('ConnectionOutput on a real socket whose peer stops reading', () => {
  let server: net.Server;
  let local: net.Socket;
  let remote: net.Socket;

  beforeEach(async () => {
    server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
    local = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
    await new Promise<void>((resolve) => local.once('connect', resolve));
    remote = await accepted;
    remote.on('error', () => undefined);
    local.on('error', () => undefined);
  });

  afterEach(async () => {
    local.destroy();
    remote.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  test("full → pongs held and the host told; after 'drain' the latest ping is owed and pings are answered again", async () => {
    const host = { blocked: 0, onOutputBlocked: () => host.blocked++ };
    const out = new ConnectionOutput(local, host);
    remote.pause();
    const chunk = Buffer.alloc(256 * 1024, 0x61);
    let sent = 0;
    // Until the socket itself holds bytes back (the kernel buffers are full too).
    for (let i = 0; i < 400 && !(out.full && local.writableLength > 64 * 1024); i++) {
      out.hold();
      out.push(chunk);
      out.release();
      sent += chunk.length;
    }
    expect(out.full).toBe(true);
    expect(host.blocked).toBeGreaterThan(0);
    expect(out.bufferedBytes).toBe(local.writableLength);
    expect(out.overLimit(1024)).toBe(true);
    expect(out.shouldStopReading(1024)).toBe(true);
    expect(out.onPing(Buffer.from('first'))).toBe('held');
    expect(out.onPing(Buffer.from('latest'))).toBe('held');

    const drained = new Promise<void>((resolve) => local.once('drain', () => resolve()));
    let got = 0;
    remote.on('data', (data: Buffer) => (got += data.length));
    remote.resume();
    await drained;
    const pong = out.onDrain();
    expect(pong?.toString()).toBe('latest');
    expect(out.full).toBe(false);
    expect(out.onPing(Buffer.from('after'))).toBe('answer');
    // Everything written reaches the peer.
    while (got < sent) await new Promise((resolve) => setImmediate(resolve));
    expect(got).toBe(sent);
  });
});
