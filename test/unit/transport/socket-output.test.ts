/**
 * SocketOutput (lib/transport/socket-output.ts) on real sockets over 127.0.0.1: an unheld flush
 * writes at once, hold()/release() brackets nest and only the outermost release writes, callbacks
 * run in order after the write, after end() they get ERR_STREAM_WRITE_AFTER_END on a later tick,
 * small batches are concatenated into one write and large ones go out corked (one writev), and the
 * process 'exit' hook delivers what is held when the process exits inside a batch.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { SocketOutput } from '../../../lib/transport/socket-output';

interface Pair {
  /** Our end: the SocketOutput writes here. */
  local: net.Socket;
  /** The peer's end. */
  remote: net.Socket;
  /** Everything the peer received so far. */
  received(): Buffer;
  /** Resolves once the peer has received at least `n` bytes. */
  receivedAtLeast(n: number, timeoutMs?: number): Promise<Buffer>;
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function socketPair(): Promise<Pair> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const local = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    local.once('connect', resolve);
    local.once('error', reject);
  });
  const remote = await accepted;
  local.on('error', () => undefined);
  remote.on('error', () => undefined);
  const chunks: Buffer[] = [];
  let total = 0;
  const waiters: Array<() => void> = [];
  remote.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    total += chunk.length;
    for (const w of waiters.splice(0)) w();
  });
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        local.destroy();
        remote.destroy();
        server.close(() => resolve());
      }),
  );
  const received = (): Buffer => Buffer.concat(chunks);
  return {
    local,
    remote,
    received,
    receivedAtLeast: (n, timeoutMs = 3000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`peer received ${total} of ${n} bytes`)), timeoutMs);
        const check = (): void => {
          if (total >= n) {
            clearTimeout(timer);
            resolve(received());
          } else {
            waiters.push(check);
          }
        };
        check();
      }),
  };
}

const tick = (): Promise<void> => new Promise((resolve) => process.nextTick(resolve));
const immediate = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function bytes(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

describe('SocketOutput: when it writes', () => {
  test('an unheld push + flush writes at once, in one write', async () => {
    const pair = await socketPair();
    const out = new SocketOutput(pair.local);
    const write = jest.spyOn(pair.local, 'write');
    out.push(Buffer.from('hello '));
    out.push(Buffer.from('world'));
    expect(write).not.toHaveBeenCalled();
    expect(out.bufferedBytes).toBe(11);
    out.flush();
    expect(write).toHaveBeenCalledTimes(1);
    expect(Buffer.from(write.mock.calls[0]![0] as Uint8Array).toString()).toBe('hello world');
    expect((await pair.receivedAtLeast(11)).toString()).toBe('hello world');
    // Flushing with nothing gathered writes nothing.
    out.flush();
    expect(write).toHaveBeenCalledTimes(1);
  });

  test('a single hold()/release() around pushes writes on release()', async () => {
    const pair = await socketPair();
    const out = new SocketOutput(pair.local);
    const write = jest.spyOn(pair.local, 'write');
    out.hold();
    out.push(Buffer.from('abc'));
    expect(write).not.toHaveBeenCalled();
    out.release();
    expect(write).toHaveBeenCalledTimes(1);
    expect((await pair.receivedAtLeast(3)).toString()).toBe('abc');
  });

  test('inside nested holds nothing is written until the outermost release(), then one write', async () => {
    const pair = await socketPair();
    const out = new SocketOutput(pair.local);
    const write = jest.spyOn(pair.local, 'write');
    out.hold();
    out.push(Buffer.from('one,'));
    out.hold();
    out.push(Buffer.from('two,'));
    out.hold();
    out.push(Buffer.from('three,'));
    out.release();
    out.release();
    expect(write).not.toHaveBeenCalled();
    out.push(Buffer.from('four'));
    expect(write).not.toHaveBeenCalled();
    out.release();
    expect(write).toHaveBeenCalledTimes(1);
    expect(Buffer.from(write.mock.calls[0]![0] as Uint8Array).toString()).toBe('one,two,three,four');
    expect((await pair.receivedAtLeast(18)).toString()).toBe('one,two,three,four');
    // A second bracket after the first is independent.
    out.hold();
    out.push(Buffer.from('!'));
    expect(write).toHaveBeenCalledTimes(1);
    out.release();
    expect(write).toHaveBeenCalledTimes(2);
    expect((await pair.receivedAtLeast(19)).toString()).toBe('one,two,three,four!');
  });

  test('two outputs held at once (one inside the other) each write on their own outermost release', async () => {
    const a = await socketPair();
    const b = await socketPair();
    const outA = new SocketOutput(a.local);
    const outB = new SocketOutput(b.local);
    const writeA = jest.spyOn(a.local, 'write');
    const writeB = jest.spyOn(b.local, 'write');
    outA.hold();
    outA.push(Buffer.from('A'));
    outB.hold();
    outB.push(Buffer.from('B'));
    outA.release();
    expect(writeA).toHaveBeenCalledTimes(1);
    expect(writeB).not.toHaveBeenCalled();
    outB.release();
    expect(writeB).toHaveBeenCalledTimes(1);
    expect((await a.receivedAtLeast(1)).toString()).toBe('A');
    expect((await b.receivedAtLeast(1)).toString()).toBe('B');
  });
});

describe('SocketOutput: callbacks', () => {
  test('run after the write, never inside release(), in the order pushed', async () => {
    const pair = await socketPair();
    const out = new SocketOutput(pair.local);
    const order: string[] = [];
    out.hold();
    out.push(Buffer.from('first'));
    out.pushCallback((error) => order.push(`cb1 ${String(error)}`));
    out.push(Buffer.from('second'));
    out.pushCallback((error) => order.push(`cb2 ${String(error)}`));
    out.release();
    expect(order).toEqual([]);
    out.hold();
    out.pushCallback((error) => order.push(`cb3 ${String(error)}`));
    out.push(Buffer.from('third'));
    out.pushCallback((error) => order.push(`cb4 ${String(error)}`));
    out.release();
    expect(order).toEqual([]);
    await pair.receivedAtLeast('firstsecondthird'.length);
    for (let i = 0; i < 20 && order.length < 4; i++) await immediate();
    expect(order).toEqual(['cb1 undefined', 'cb2 undefined', 'cb3 undefined', 'cb4 undefined']);
  });

  test('a callback with no bytes of its own follows what the socket still has queued', async () => {
    const pair = await socketPair();
    const out = new SocketOutput(pair.local);
    const order: string[] = [];
    pair.local.write(Buffer.from('direct'), () => order.push('direct write'));
    out.pushCallback(() => order.push('callback only'));
    out.flush();
    expect(order).toEqual([]);
    for (let i = 0; i < 20 && order.length < 2; i++) await immediate();
    expect(order).toEqual(['direct write', 'callback only']);
  });

  test('after socket.end(): nothing is written; callbacks get ERR_STREAM_WRITE_AFTER_END on a later tick', async () => {
    const pair = await socketPair();
    const out = new SocketOutput(pair.local);
    pair.local.end();
    const write = jest.spyOn(pair.local, 'write');
    const calls: Array<Error | undefined> = [];
    out.hold();
    out.push(Buffer.from('too late'));
    out.pushCallback((error) => calls.push(error));
    out.pushCallback((error) => calls.push(error));
    out.release();
    // Never synchronously, as a socket write callback never runs inside write().
    expect(calls).toEqual([]);
    expect(write).not.toHaveBeenCalled();
    await tick();
    expect(calls).toHaveLength(2);
    for (const error of calls) {
      expect(error).toBeInstanceOf(Error);
      expect((error as Error & { code?: string }).code).toBe('ERR_STREAM_WRITE_AFTER_END');
    }
    await immediate();
    // The peer got only the FIN.
    expect(pair.received()).toHaveLength(0);
  });

  test('after socket.destroy() the same', async () => {
    const pair = await socketPair();
    const out = new SocketOutput(pair.local);
    pair.local.destroy();
    const cb = jest.fn();
    out.push(Buffer.from('x'));
    out.pushCallback(cb);
    out.flush();
    expect(cb).not.toHaveBeenCalled();
    await tick();
    expect(cb).toHaveBeenCalledTimes(1);
    expect((cb.mock.calls[0]![0] as Error & { code?: string }).code).toBe('ERR_STREAM_WRITE_AFTER_END');
  });

  test('fail() calls back later with the given error, never synchronously', async () => {
    const pair = await socketPair();
    const out = new SocketOutput(pair.local);
    const cb = jest.fn();
    const error = new Error('refused');
    out.fail(cb, error);
    expect(cb).not.toHaveBeenCalled();
    await tick();
    expect(cb).toHaveBeenCalledWith(error);
  });
});

describe('SocketOutput: one write per batch', () => {
  test('a small batch of many chunks is concatenated into one write (no cork)', async () => {
    const pair = await socketPair();
    const out = new SocketOutput(pair.local);
    const write = jest.spyOn(pair.local, 'write');
    const cork = jest.spyOn(pair.local, 'cork');
    const parts = [bytes(100, 1), bytes(5000, 2), bytes(7, 3), bytes(11_000, 4)];
    const expected = Buffer.concat(parts);
    out.hold();
    for (const p of parts) out.push(p);
    out.release();
    expect(cork).not.toHaveBeenCalled();
    expect(write).toHaveBeenCalledTimes(1);
    expect(Buffer.from(write.mock.calls[0]![0] as Uint8Array).equals(expected)).toBe(true);
    expect((await pair.receivedAtLeast(expected.length)).equals(expected)).toBe(true);
  });

  test('exactly 16 KiB in several chunks is still one concatenated write', async () => {
    const pair = await socketPair();
    const out = new SocketOutput(pair.local);
    const write = jest.spyOn(pair.local, 'write');
    const cork = jest.spyOn(pair.local, 'cork');
    out.hold();
    out.push(bytes(8192, 5));
    out.push(bytes(8192, 6));
    out.release();
    expect(cork).not.toHaveBeenCalled();
    expect(write).toHaveBeenCalledTimes(1);
    expect((await pair.receivedAtLeast(16384)).equals(Buffer.concat([bytes(8192, 5), bytes(8192, 6)]))).toBe(true);
  });

  test('a batch above 16 KiB goes out corked: each chunk written as is (no copy), then uncork', async () => {
    const pair = await socketPair();
    const out = new SocketOutput(pair.local);
    const calls: string[] = [];
    const write = jest.spyOn(pair.local, 'write');
    const cork = jest.spyOn(pair.local, 'cork').mockImplementation(function (this: net.Socket) {
      calls.push('cork');
      return net.Socket.prototype.cork.call(this);
    });
    const uncork = jest.spyOn(pair.local, 'uncork').mockImplementation(function (this: net.Socket) {
      calls.push(`uncork after ${write.mock.calls.length} writes`);
      return net.Socket.prototype.uncork.call(this);
    });
    const parts = [bytes(10, 7), bytes(16_380, 8), bytes(3, 9), bytes(40_000, 10)];
    const expected = Buffer.concat(parts);
    const cb = jest.fn();
    out.hold();
    for (const p of parts) out.push(p);
    out.pushCallback(cb);
    out.release();
    expect(cork).toHaveBeenCalledTimes(1);
    expect(uncork).toHaveBeenCalledTimes(1);
    expect(calls).toEqual(['cork', 'uncork after 4 writes']);
    expect(write).toHaveBeenCalledTimes(4);
    write.mock.calls.forEach((call, i) => expect(call[0]).toBe(parts[i]));
    // Only the last write carries the callback.
    expect(write.mock.calls.map((call) => typeof call[1])).toEqual(['undefined', 'undefined', 'undefined', 'function']);
    expect((await pair.receivedAtLeast(expected.length)).equals(expected)).toBe(true);
    for (let i = 0; i < 20 && cb.mock.calls.length === 0; i++) await immediate();
    expect(cb).toHaveBeenCalledTimes(1);
    expect(cb.mock.calls[0]![0]).toBeUndefined();
  });

  test('16 KiB + 1 byte in two chunks takes the cork path', async () => {
    const pair = await socketPair();
    const out = new SocketOutput(pair.local);
    const cork = jest.spyOn(pair.local, 'cork');
    const write = jest.spyOn(pair.local, 'write');
    out.hold();
    out.push(bytes(16_384, 1));
    out.push(bytes(1, 2));
    out.release();
    expect(cork).toHaveBeenCalledTimes(1);
    expect(write).toHaveBeenCalledTimes(2);
    await pair.receivedAtLeast(16_385);
  });

  test('a single large chunk is one write without cork', async () => {
    const pair = await socketPair();
    const out = new SocketOutput(pair.local);
    const cork = jest.spyOn(pair.local, 'cork');
    const write = jest.spyOn(pair.local, 'write');
    const big = bytes(100_000, 3);
    out.push(big);
    out.flush();
    expect(cork).not.toHaveBeenCalled();
    expect(write).toHaveBeenCalledTimes(1);
    expect(write.mock.calls[0]![0]).toBe(big);
    expect((await pair.receivedAtLeast(big.length)).equals(big)).toBe(true);
  });

  test('`full` follows the socket: false after a write it accepted, true once its buffer passes the high-water mark', async () => {
    const pair = await socketPair();
    pair.remote.pause();
    const out = new SocketOutput(pair.local);
    out.push(Buffer.from('small'));
    out.flush();
    expect(out.full).toBe(false);
    expect(out.wouldBlock()).toBe(false);
    // The peer does not read: the kernel buffers fill up and the socket starts buffering itself.
    // (Node 18's write() of more than the high-water mark returns false even when the kernel took
    // it all at once, leaving the socket's buffer empty; from Node 20 it returns true then. So write
    // until the socket really holds bytes.)
    for (let i = 0; i < 200 && !(out.full && pair.local.writableLength > 0); i++) {
      out.push(Buffer.alloc(256 * 1024));
      out.flush();
    }
    expect(out.full).toBe(true);
    expect(out.wouldBlock()).toBe(true);
    expect(out.bufferedBytes).toBeGreaterThanOrEqual(pair.local.writableLength);
    expect(out.bufferedBytes).toBeGreaterThan(0);
  });
});

describe("SocketOutput: the process 'exit' hook", () => {
  const built = path.resolve(__dirname, '../../../lib/transport/socket-output.js');

  /**
   * Runs a child process that connects to a server here, holds a SocketOutput on that socket,
   * pushes `size` bytes and calls process.exit(0) inside the hold. Returns what the server got.
   */
  async function exitInsideHold(size: number, installHook: boolean): Promise<{ received: Buffer; code: number | null; stderr: string }> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const port = (server.address() as AddressInfo).port;
    const received = new Promise<Buffer>((resolve) => {
      server.once('connection', (socket) => {
        const chunks: Buffer[] = [];
        socket.on('data', (chunk: Buffer) => chunks.push(chunk));
        socket.on('error', () => undefined);
        socket.on('close', () => resolve(Buffer.concat(chunks)));
      });
    });
    const script = `
      const net = require('node:net');
      const [port, modulePath, size, hook] = process.argv.slice(1);
      const { SocketOutput, installExitFlush } = require(modulePath);
      const socket = net.connect(Number(port), '127.0.0.1', () => {
        if (hook === 'hook') installExitFlush();
        const out = new SocketOutput(socket);
        out.hold();
        out.hold();
        const data = Buffer.alloc(Number(size));
        for (let i = 0; i < data.length; i++) data[i] = (i * 7 + 1) & 0xff;
        out.push(data.subarray(0, 5));
        out.push(data.subarray(5));
        process.exit(0);
      });
    `;
    const child = spawn(process.execPath, ['-e', script, String(port), built, String(size), installHook ? 'hook' : 'none'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    return { received: await received, code, stderr };
  }

  function expected(size: number): Buffer {
    const data = Buffer.alloc(size);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7 + 1) & 0xff;
    return data;
  }

  test('the built module exists (run `npm run build` first)', () => {
    expect(fs.existsSync(built)).toBe(true);
  });

  test('bytes held when the process exits inside the hold still reach the peer', async () => {
    const { received, code, stderr } = await exitInsideHold(3000, true);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(received.equals(expected(3000))).toBe(true);
  });

  test('the same for a batch above 16 KiB (the corked path)', async () => {
    const { received, code, stderr } = await exitInsideHold(20_000, true);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(received.equals(expected(20_000))).toBe(true);
  });

  test('without the hook those bytes are lost (what the hook is for)', async () => {
    const { received, code, stderr } = await exitInsideHold(3000, false);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(received).toHaveLength(0);
  });
});
