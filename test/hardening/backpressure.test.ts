/**
 * A peer that sends and never reads cannot grow the server's memory at default settings: once a
 * connection's unsent output passes the back-pressure threshold, the server stops reading from it
 * until the socket drains, so TCP flow control stops the sender. Legitimate large sends still
 * complete, and keepalive does not mistake our own pause for a dead peer.
 *
 * The flood runs against the docs' echo sample (examples/echo-server, default config) in a child
 * process, whose RSS is read from /proc: nothing else in that process allocates.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openRawConnection, RawClient } from '../helpers/raw-client';
import * as f from '../helpers/frames';
import { FrameWalker, KiB, MiB, guardProcess, onCleanup, onlyClose, startHardenedServer, until, delay } from './helpers';

guardProcess();

const ECHO_SAMPLE = path.resolve(__dirname, '../../examples/echo-server/server.js');

/** Resident memory of a process, from /proc (Linux). */
function rssOf(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  if (match === null) throw new Error(`no VmRSS for ${pid}`);
  return Number(match[1]) * 1024;
}

/**
 * Starts the echo sample on a free port; resolves with the child and its port. Its output goes to
 * a file, never a pipe: the sample logs every message, and a pipe the test process is too busy to
 * drain would block the sample on console.log and stop it reading for reasons of its own.
 */
async function startEchoSample(): Promise<{ child: ChildProcess; port: number }> {
  const logPath = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'echo-sample-')), 'out.log');
  const log = fs.openSync(logPath, 'w');
  const child = spawn(process.execPath, [ECHO_SAMPLE], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1' },
    stdio: ['ignore', log, 'inherit'],
  });
  fs.closeSync(log);
  onCleanup(() => {
    child.kill('SIGKILL');
    fs.rmSync(path.dirname(logPath), { recursive: true, force: true });
  });
  let port = 0;
  await until(() => {
    const match = /listening on port (\d+)/.exec(fs.readFileSync(logPath, 'utf8'));
    if (match !== null) port = Number(match[1]);
    return port !== 0 || child.exitCode !== null;
  }, 'the echo sample to listen', 10_000);
  if (port === 0) throw new Error(`the echo sample exited: ${fs.readFileSync(logPath, 'utf8')}`);
  return { child, port };
}

/** Writes `frame` until the socket has refused to drain for `stallMs` (the peer stopped reading) or `maxMs` passed. */
async function floodUntilStalled(client: RawClient, frame: Buffer, stallMs: number, maxMs: number, sample?: () => void): Promise<{ sent: number; stalled: boolean }> {
  const socket = client.socket;
  const started = Date.now();
  let sent = 0;
  while (Date.now() - started < maxMs) {
    sample?.();
    if (socket.write(frame)) {
      sent++;
      if (sent % 16 === 0) await new Promise((resolve) => setImmediate(resolve));
      continue;
    }
    sent++;
    const drained = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        socket.removeListener('drain', onDrain);
        resolve(false);
      }, stallMs);
      const onDrain = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      socket.once('drain', onDrain);
    });
    if (!drained) return { sent, stalled: true };
  }
  return { sent, stalled: false };
}

/** Bytes of one server echo of `length` payload bytes with the default 16 KiB fragmentation. */
function echoWireSize(length: number): number {
  let total = 0;
  for (let offset = 0; offset < length; offset += 16 * KiB) {
    const n = Math.min(16 * KiB, length - offset);
    total += (n < 126 ? 2 : n < 0x10000 ? 4 : 10) + n;
  }
  return total;
}

describe('a peer that sends and never reads, against the echo sample at default settings', () => {
  test('60 KB messages as fast as TCP takes them: the server stops reading, its RSS grows < 32 MiB, and the connection works once the peer reads', async () => {
    const { child, port } = await startEchoSample();
    const pid = child.pid!;
    const client = await RawClient.connect(port);
    client.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: echo-protocol\r\n\r\n`);
    const head = await client.readHead(5000);
    expect(head).toMatch(/^HTTP\/1\.1 101 /);
    client.socket.pause();
    client.discard = true;
    const base = rssOf(pid);
    let peak = base;
    const payload = Buffer.alloc(60_000, 0x42);
    const frame = f.binary(payload);
    const sample = (): void => {
      peak = Math.max(peak, rssOf(pid));
    };
    const { sent, stalled } = await floodUntilStalled(client, frame, 1000, 20_000, sample);
    // Let the server finish whatever it had read, then look again.
    for (let i = 0; i < 10; i++) {
      await delay(50);
      sample();
    }
    // TCP reached the sender: its writes stopped draining although it never stopped writing.
    expect(stalled).toBe(true);
    expect(peak - base).toBeLessThan(32 * MiB);

    // The peer reads again: every message it managed to send is echoed, then the connection is usable.
    const walker = new FrameWalker();
    client.socket.on('data', (chunk: Buffer) => walker.push(chunk));
    client.socket.resume();
    // Whatever was still in the client's own buffer is written as the server reads again.
    await until(() => client.socket.writableLength === 0, 'the client to write its backlog', 20_000);
    await until(() => walker.payloadBytes >= sent * payload.length, `${sent} echoes`, 20_000);
    expect(walker.payloadBytes).toBe(sent * payload.length);
    expect(client.bytesReceived - head.length).toBe(sent * echoWireSize(payload.length));
    client.write(f.text('still there?'));
    await until(() => (walker.opcodes.get(1) ?? 0) === 1, 'the text echo', 5000);
    expect(walker.payloadBytes).toBe(sent * payload.length + 'still there?'.length);
    client.write(f.close(1000));
    await client.waitForClose(5000);
  }, 90_000);
});

describe('back-pressure does not break legitimate applications', () => {
  test('a 100 MiB send to a slow but reading peer completes; a message the peer sent meanwhile is answered after it', async () => {
    const h = await startHardenedServer({ maxReceivedFrameSize: MiB }, { errorListener: true });
    const { client, connection } = await openRawConnection(h);
    client.discard = true;
    const walker = new FrameWalker();
    client.socket.on('data', (chunk: Buffer) => walker.push(chunk));
    const big = Buffer.alloc(100 * MiB, 0x33);
    let sendError: unknown = 'not called';
    connection.sendBytes(big, (error) => {
      sendError = error;
    });
    // Read in bursts: a slow reader, but a reader.
    let reading = true;
    const pacer = setInterval(() => {
      reading = !reading;
      if (reading) client.socket.resume();
      else client.socket.pause();
    }, 5);
    onCleanup(() => clearInterval(pacer));
    client.write(f.text('question'));
    await until(() => sendError !== 'not called', 'the 100 MiB send to complete', 60_000);
    clearInterval(pacer);
    client.socket.resume();
    expect(sendError).toBeUndefined();
    await until(() => (walker.opcodes.get(1) ?? 0) === 1, 'the answer to the question', 10_000);
    expect(walker.payloadBytes).toBe(100 * MiB + 'question'.length);
    expect(h.closes.get(connection)).toEqual([]);
    expect(connection.connected).toBe(true);
  }, 90_000);

  test('keepalive does not drop a connection whose reading we paused; the peer reads again and all is well', async () => {
    const h = await startHardenedServer(
      { keepalive: true, keepaliveInterval: 100, dropConnectionOnKeepaliveTimeout: true, keepaliveGracePeriod: 100 },
      { errorListener: true },
    );
    const { client, connection } = await openRawConnection(h);
    client.socket.pause();
    client.discard = true;
    const payload = Buffer.alloc(60_000, 0x44);
    const { sent, stalled } = await floodUntilStalled(client, f.binary(payload), 500, 20_000);
    expect(stalled).toBe(true);
    // Several keepalive rounds (ping, then the grace period) while we do not read the peer.
    await delay(800);
    expect(h.closes.get(connection)).toEqual([]);
    expect(connection.connected).toBe(true);

    const walker = new FrameWalker();
    client.socket.on('data', (chunk: Buffer) => walker.push(chunk));
    client.socket.resume();
    await until(() => walker.payloadBytes >= sent * payload.length, `${sent} echoes`, 20_000);
    client.write(f.text('alive'));
    await until(() => (walker.opcodes.get(1) ?? 0) === 1, 'the text echo', 5000);
    // The pings we sent meanwhile were delivered too; the connection was never dropped.
    expect(walker.opcodes.get(9) ?? 0).toBeGreaterThan(0);
    expect(h.closes.get(connection)).toEqual([]);
    client.write(f.close(1000));
    await until(() => (h.closes.get(connection)?.length ?? 0) === 1, "'close'");
    expect(onlyClose(h, connection)[0]).toBe(1000);
  }, 60_000);

  test('backpressureThreshold: 0 turns the pause off (the server keeps reading and queues the replies)', async () => {
    const h = await startHardenedServer({ backpressureThreshold: 0 }, { errorListener: true });
    const { client, connection } = await openRawConnection(h);
    client.socket.pause();
    client.discard = true;
    const frame = f.binary(Buffer.alloc(60_000, 0x45));
    // 16 MiB of requests: with the pause off, the server reads them all and queues every reply.
    for (let i = 0; i < 280; i++) client.write(frame);
    await until(() => connection.bytesWaitingToFlush > 8 * MiB, 'the replies to pile up', 10_000);
    client.destroy();
  }, 30_000);
});
