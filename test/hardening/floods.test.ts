/**
 * Floods and slow peers: fragment floods end with 1009 long before the flood ends; pings from a peer
 * that never reads; a peer that never reads while the server sends (maxBufferedBytes, the exact
 * meaning of bytesWaitingToFlush, outputBufferFull and 'drain'); a broadcast where some peers stall.
 * Memory bounds are stated in the test names and measured from the outside (process.memoryUsage()
 * after a forced full collection) or from the server's own queue figures, never by timing.
 */
import { openRawConnection, type RawClient } from '../helpers/raw-client';
import * as f from '../helpers/frames';
import { wsClient } from '../helpers/server';
import {
  KiB,
  MiB,
  expectServing,
  expectSettled,
  growth,
  guardProcess,
  memory,
  onlyClose,
  serverHasRead,
  startHardenedServer,
  until,
  FrameWalker,
  type Hardened,
  type WebSocketConnection,
} from './helpers';

guardProcess();

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Bytes a server message of `length` takes on the wire with the default 16 KiB fragmentation. */
function wireSize(length: number, threshold = 16 * KiB): number {
  const header = (n: number): number => (n < 126 ? 2 : n < 0x10000 ? 4 : 10);
  let total = 0;
  for (let offset = 0; offset < length || offset === 0; offset += threshold) {
    const n = Math.min(threshold, length - offset);
    total += header(n) + n;
    if (length === 0) break;
  }
  return total;
}

/**
 * Writes `count` copies of `unit` in batches, each batch only once the server has read and handled
 * the previous one, and stops as soon as the connection is closed. Returns how many were sent.
 */
async function flood(
  client: RawClient,
  connection: WebSocketConnection,
  unit: Buffer,
  count: number,
  perBatch: number,
  afterBatch?: () => void,
): Promise<number> {
  const batch = Buffer.concat(Array<Buffer>(perBatch).fill(unit));
  let sent = 0;
  let written = connection.socket.bytesRead;
  while (sent < count && connection.state !== 'closed' && !client.closed) {
    const n = Math.min(perBatch, count - sent);
    const bytes = n === perBatch ? batch : batch.subarray(0, n * unit.length);
    client.write(bytes);
    sent += n;
    written += bytes.length;
    await serverHasRead(connection, written, 'the server to read the flood');
    afterBatch?.();
  }
  return sent;
}

/**
 * A server and a raw client that does not read (its socket paused); whatever it receives once it
 * resumes is counted by `walker`.
 */
async function stalledPeer(config: Parameters<typeof startHardenedServer>[0]): Promise<{
  h: Hardened;
  client: RawClient;
  connection: WebSocketConnection;
  walker: FrameWalker;
}> {
  const h = await startHardenedServer(config, { errorListener: true });
  const { client, connection } = await openRawConnection(h);
  client.socket.pause();
  client.discard = true;
  const walker = new FrameWalker();
  walker.push(client.takeUnread());
  client.socket.on('data', (chunk: Buffer) => walker.push(chunk));
  return { h, client, connection, walker };
}

describe('fragment floods', () => {
  test('100,000 empty continuation fragments → 1009 after ~65,536 (16-byte charge each, 1 MiB limit), before the flood ends; arrayBuffers growth < 8 MiB', async () => {
    const h = await startHardenedServer({}, { errorListener: true });
    const { client, connection } = await openRawConnection(h);
    const before = memory();
    client.write(f.text('', { fin: false }));
    const sent = await flood(client, connection, f.cont('', { fin: false }), 100_000, 5_000);
    expect(onlyClose(h, connection)).toEqual([1009, 'Maximum message size exceeded.']);
    // 65,536 fragments (the opening one included) are charged exactly 1 MiB; the next one is over.
    expect(sent).toBeGreaterThanOrEqual(65_536);
    expect(sent).toBeLessThan(100_000);
    const reply = await client.readFrame();
    expect(f.hex(reply.raw)).toBe(f.hex(f.serverClose(1009, 'Maximum message size exceeded.')));
    await client.waitForClose();
    expect(h.messages.get(connection)).toBe(0);
    const after = memory();
    expect(after.arrayBuffers - before.arrayBuffers).toBeLessThan(8 * MiB);
    await expectSettled(h);
    await expectServing(h);
  });

  test('a message in 2,000 one-byte fragments is delivered intact', async () => {
    const h = await startHardenedServer({}, { errorListener: true });
    const { client, connection } = await openRawConnection(h);
    const text = Array.from({ length: 2000 }, (_, i) => String.fromCharCode(97 + (i % 26))).join('');
    const frames = [...text].map((ch, i) => (i === 0 ? f.text(ch, { fin: false }) : f.cont(ch, { fin: i === text.length - 1 })));
    client.write(Buffer.concat(frames));
    const echo = await client.readFrame();
    expect(echo.opcode).toBe(f.OP.TEXT);
    expect(echo.payload.toString()).toBe(text);
    expect(h.messages.get(connection)).toBe(1);
    client.write(f.close(1000));
    await client.waitForClose();
    await expectSettled(h);
  });

  test('100,000 one-byte fragments → 1009 after ~61,680 (17 bytes charged each); arrayBuffers growth < 8 MiB', async () => {
    const h = await startHardenedServer({}, { errorListener: true });
    const { client, connection } = await openRawConnection(h);
    const before = memory();
    client.write(f.binary(Buffer.from([1]), { fin: false }));
    const sent = await flood(client, connection, f.cont(Buffer.from([2]), { fin: false }), 100_000, 5_000);
    expect(onlyClose(h, connection)).toEqual([1009, 'Maximum message size exceeded.']);
    expect(sent).toBeGreaterThanOrEqual(Math.floor(MiB / 17) - 1);
    expect(sent).toBeLessThan(100_000);
    const reply = await client.readFrame();
    expect(reply.payload.readUInt16BE(0)).toBe(1009);
    expect(memory().arrayBuffers - before.arrayBuffers).toBeLessThan(8 * MiB);
    await expectSettled(h);
    await expectServing(h);
  });
});

describe('pings from a peer that never reads', () => {
  const PING = f.ping(Buffer.alloc(125, 0x70)); // 131 bytes in, a 127-byte pong out
  /** The documented limit (docs/security.md): pings accepted while the output is blocked. */
  const LIMIT = 100;

  /**
   * Pings until the server's output to the paused client is blocked: the socket reported its buffer
   * full and still holds bytes the kernel would not take. Large batches while the kernel absorbs the
   * pongs, then batches of 10, so at most 10 pings count against the limit on the way.
   */
  async function pingUntilBlocked(client: RawClient, connection: WebSocketConnection): Promise<number> {
    let sent = 0;
    while (!(connection.outputBufferFull && connection.socket.writableLength > 0)) {
      if (!connection.connected || sent >= 1_000_000) throw new Error(`the output never blocked (${sent} pings sent)`);
      const perBatch = connection.socket.writableLength > 0 ? 10 : 500;
      sent += await flood(client, connection, PING, perBatch, perBatch);
    }
    return sent;
  }

  test('12 MiB of pings into a peer that never reads: dropped with 1008 once 100 pings arrive while the output is blocked; queue < 1 MiB meanwhile, arrayBuffers growth < 8 MiB', async () => {
    const h = await startHardenedServer({}, { errorListener: true });
    const { client, connection } = await openRawConnection(h);
    client.socket.pause();
    client.discard = true;
    let peak = 0;
    const before = memory();
    const count = Math.floor((12 * MiB) / PING.length);
    const sent = await flood(client, connection, PING, count, 50, () => {
      peak = Math.max(peak, connection.bytesWaitingToFlush);
    });
    expect(onlyClose(h, connection)).toEqual([1008, 'Too many pings while not reading.']);
    // The flood stopped long before its end: the socket buffers filled with pongs, then 100 more pings.
    expect(sent).toBeLessThan(count / 2);
    // RFC 6455 §5.5.3: only the most recent ping is answered while blocked, so the queue stays small.
    expect(peak).toBeLessThan(MiB);
    expect(memory().arrayBuffers - before.arrayBuffers).toBeLessThan(8 * MiB);
    client.socket.resume();
    await client.waitForClose(3000);
    await expectSettled(h);
    await expectServing(h);
  });

  test('fewer than 100 pings while blocked: the connection stays, and once the peer reads it gets every queued pong and then one for the latest ping', async () => {
    const { h, client, connection, walker } = await stalledPeer({});
    const toBlock = await pingUntilBlocked(client, connection);
    // The batch that blocked the output may already count up to 10 pings against the limit.
    await flood(client, connection, PING, LIMIT - 20, LIMIT - 20);
    expect(connection.connected).toBe(true);
    expect(connection.outputBufferFull).toBe(true);
    client.socket.resume();
    // Whatever was queued arrives, then the one pong owed for the latest ping once the output drained.
    await until(() => connection.bytesWaitingToFlush === 0 && walker.frames > 0, 'the queued pongs', 5000);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect([...walker.opcodes.keys()]).toEqual([f.OP.PONG]);
    expect(walker.frames).toBeGreaterThan(0);
    expect(walker.frames).toBeLessThanOrEqual(toBlock + 1);
    expect(connection.connected).toBe(true);
    client.socket.removeAllListeners('data');
    client.discard = false;
    client.write(f.close(1000));
    await client.waitForClose();
    await expectSettled(h);
    await expectServing(h);
  });

  test('the count starts again after each drain: 3 rounds of 80 pings while blocked, the peer reading in between, never dropped', async () => {
    const h = await startHardenedServer({}, { errorListener: true });
    const { client, connection } = await openRawConnection(h);
    client.discard = true;
    for (let round = 0; round < 3; round++) {
      client.socket.pause();
      await pingUntilBlocked(client, connection);
      await flood(client, connection, PING, 80, 80);
      expect(connection.connected).toBe(true);
      client.socket.resume();
      await until(() => connection.bytesWaitingToFlush === 0 && !connection.outputBufferFull, 'the output to drain', 5000);
    }
    expect(connection.connected).toBe(true);
    client.discard = false;
    client.write(f.close(1000));
    await client.waitForClose();
    await expectSettled(h);
  });
});

describe('a peer that never reads while the server sends', () => {
  test('bytesWaitingToFlush: each send handed to the socket at once, non-increasing while the peer drains, 0 at the one \'drain\', every byte delivered', async () => {
    const h = await startHardenedServer({}, { errorListener: true });
    const { client, connection } = await openRawConnection(h);
    client.socket.pause();
    client.discard = true;
    const base = client.bytesReceived;
    const drains: number[] = [];
    connection.on('drain', () => drains.push(connection.bytesWaitingToFlush));

    // Each send is one socket write made before it returns (as WebSocket-Node's): nothing is held
    // back by the connection itself, whatever the kernel took of it so far.
    const payload = Buffer.alloc(1000, 0x61);
    const FRAME = 2 + 2 + payload.length;
    let total = 0;
    expect(connection.bytesWaitingToFlush).toBe(0);
    const socket = connection.socket;
    const write = socket.write;
    let writes = 0;
    socket.write = function (this: typeof socket, ...args: Parameters<typeof write>) {
      writes++;
      return write.apply(this, args);
    } as typeof write;
    for (let i = 0; i < 100; i++) {
      const before = connection.bytesWaitingToFlush;
      connection.sendBytes(payload);
      total += FRAME;
      expect(writes).toBe(i + 1);
      expect(connection.bytesWaitingToFlush).toBe(socket.writableLength);
      expect(connection.bytesWaitingToFlush - before).toBeLessThanOrEqual(FRAME);
    }
    socket.write = write;

    // Fill the kernel buffers, then 2 MiB more.
    const big = Buffer.alloc(64 * KiB, 0x62);
    const BIG_FRAME = wireSize(big.length);
    while (connection.bytesWaitingToFlush < 2 * MiB) {
      connection.sendBytes(big);
      total += BIG_FRAME;
      await tick();
    }
    expect(connection.outputBufferFull).toBe(true);
    // Each burst above the socket's high-water mark that the kernel then took had its own 'drain'.
    drains.length = 0;

    // Nothing sent and nothing read: the queue neither grows nor (once the kernel is full) shrinks much.
    const held = connection.bytesWaitingToFlush;
    for (let i = 0; i < 20; i++) {
      await tick();
      expect(connection.bytesWaitingToFlush).toBeLessThanOrEqual(held);
    }

    // The peer reads: the queue only shrinks and 'drain' fires once, with nothing left. (Bytes leave
    // the count when Node confirms the write, which can trail the kernel taking them by one write,
    // so the count is not compared with what the peer has received at each instant.)
    const seen: number[] = [];
    const onData = (): void => {
      seen.push(connection.bytesWaitingToFlush);
    };
    client.socket.on('data', onData);
    client.socket.resume();
    await until(() => client.bytesReceived - base === total, `all ${total} bytes to arrive`, 5000);
    await until(() => drains.length > 0, "'drain'");
    client.socket.removeListener('data', onData);
    expect(seen.length).toBeGreaterThan(1);
    for (let i = 1; i < seen.length; i++) expect(seen[i]!).toBeLessThanOrEqual(seen[i - 1]!);
    expect(drains).toEqual([0]);
    expect(connection.bytesWaitingToFlush).toBe(0);
    expect(connection.outputBufferFull).toBe(false);
    expect(client.bytesReceived - base).toBe(total);
    client.write(f.close(1000));
    await client.waitForClose();
    await expectSettled(h);
  });

  test('maxBufferedBytes 512 KiB: dropped with 1008 once the queue passes it, no close frame; queue ≤ limit + one frame; arrayBuffers growth after < 4 MiB', async () => {
    const limit = 512 * KiB;
    const { h, client, connection, walker } = await stalledPeer({ maxBufferedBytes: limit });
    const before = memory();
    const message = Buffer.alloc(64 * KiB, 0x63);
    const FRAME = wireSize(message.length);
    let peak = 0;
    let sends = 0;
    // 64 MiB is a cap that must never be reached: the kernel takes ~4 MB, the queue 512 KiB.
    while (connection.state !== 'closed' && sends < 1024) {
      connection.sendBytes(message);
      sends++;
      peak = Math.max(peak, connection.bytesWaitingToFlush);
      await tick();
    }
    expect(sends).toBeLessThan(1024);
    expect(onlyClose(h, connection)).toEqual([1008, 'Output buffer limit exceeded.']);
    expect(peak).toBeLessThanOrEqual(limit + FRAME);
    // Sending to the dropped connection neither throws nor queues.
    expect(() => connection.sendBytes(message)).not.toThrow();
    client.socket.resume();
    await client.waitForClose(3000);
    // Messages above 16 KiB go out as a binary frame and continuations (fragmentOutgoingMessages).
    expect(walker.kinds).toEqual([f.OP.CONT, f.OP.BINARY]);
    await expectSettled(h);
    expect(growth(before, memory()).arrayBuffers).toBeLessThan(4);
    await expectServing(h);
  });
});

describe('broadcast with stalled peers', () => {
  test('broadcastUTF to 50 connections, 10 never read, maxBufferedBytes 1 MiB: stalled ones dropped with 1008, the 40 readers get all 200 messages in order; server queues ≤ 10×(limit+msg) + 40×1 MiB, arrayBuffers growth after < 8 MiB', async () => {
    const limit = MiB;
    const h = await startHardenedServer({ maxBufferedBytes: limit }, { errorListener: true });
    const before = memory();
    const readers = await Promise.all(
      Array.from({ length: 40 }, async () => {
        const client = await wsClient(h.url);
        const received: number[] = [];
        client.on('message', (data: Buffer) => received.push(Number(data.subarray(0, 8).toString())));
        return { client, received };
      }),
    );
    const stalled: Array<{ client: RawClient; connection: WebSocketConnection }> = [];
    for (let i = 0; i < 10; i++) {
      const opened = await openRawConnection(h);
      opened.client.socket.pause();
      stalled.push(opened);
    }
    await until(() => h.ws.connections.length === 50, '50 connections');
    const readerConnections = h.accepted.filter((c) => !stalled.some((s) => s.connection === c));
    expect(readerConnections).toHaveLength(40);

    const COUNT = 200;
    const SIZE = 32 * KiB;
    const filler = 'b'.repeat(SIZE - 8);
    let peakQueued = 0;
    let peakReaderQueue = 0;
    for (let n = 0; n < COUNT; n++) {
      h.ws.broadcastUTF(String(n).padStart(8, '0') + filler);
      let queued = 0;
      for (const connection of h.ws.connections) queued += connection.bytesWaitingToFlush;
      for (const connection of readerConnections) peakReaderQueue = Math.max(peakReaderQueue, connection.bytesWaitingToFlush);
      peakQueued = Math.max(peakQueued, queued);
      await tick();
    }
    await until(() => readers.every((r) => r.received.length === COUNT), 'every reader to get every message', 10000);
    for (const reader of readers) expect(reader.received).toEqual(Array.from({ length: COUNT }, (_, i) => i));
    for (const { connection } of stalled) expect(onlyClose(h, connection)).toEqual([1008, 'Output buffer limit exceeded.']);
    for (const connection of readerConnections) expect(h.closes.get(connection)).toEqual([]);
    expect(h.ws.connections).toHaveLength(40);
    expect(peakQueued).toBeLessThanOrEqual(10 * (limit + SIZE + 10) + 40 * MiB);
    expect(peakReaderQueue).toBeLessThanOrEqual(limit);

    await Promise.all(
      readers.map(
        ({ client }) =>
          new Promise<void>((resolve) => {
            client.once('close', () => resolve());
            client.close(1000);
          }),
      ),
    );
    await expectSettled(h, 5000);
    expect(growth(before, memory()).arrayBuffers).toBeLessThan(8);
    await expectServing(h);
  });
});

/** Keeps the type import used when only some tests run. */
export type { Hardened };
