/**
 * Hostile or stalled opening handshakes: requests the application never answers (handshakeTimeout
 * on and off), 1,000 junk upgrade requests (each answered with the right status, the server's
 * bookkeeping left empty and memory bounded), and upgrade requests whose bytes never finish (Node's
 * http server owns those; the server must keep serving everyone else meanwhile).
 */
import { RawClient, buildHandshake, type HandshakeOptions } from '../helpers/raw-client';
import * as f from '../helpers/frames';
import {
  KiB,
  delay,
  expectServing,
  expectSettled,
  growth,
  guardProcess,
  memory,
  startHardenedServer,
  until,
  type Hardened,
  type WebSocketRequest,
} from './helpers';

guardProcess();

/** The real setTimeout, for waiting while a test fakes timers. */
const realSetTimeout = setTimeout;

/** Sends `request` on a fresh socket; resolves with the status line and head once the server has closed the socket. */
async function exchange(port: number, request: string | Buffer): Promise<{ status: number; head: string; client: RawClient }> {
  const client = await RawClient.connect(port);
  client.write(request);
  const head = await client.readHead(3000);
  const match = /^HTTP\/1\.1 (\d{3}) /.exec(head);
  if (match === null) throw new Error(`not an HTTP response: ${JSON.stringify(head)}`);
  return { status: Number(match[1]), head, client };
}

describe('handshakeTimeout', () => {
  test('200 ms, request never answered: 408 with Connection: close, socket closed, pendingRequests empty, a late accept() throws', async () => {
    const held: WebSocketRequest[] = [];
    const h = await startHardenedServer({ handshakeTimeout: 200 }, { handler: (request) => held.push(request) });
    const { status, head, client } = await exchange(h.port, buildHandshake());
    expect(status).toBe(408);
    expect(head).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\nConnection: close\r\n/);
    await client.waitForClose();
    expect(held).toHaveLength(1);
    expect(h.ws.pendingRequests).toHaveLength(0);
    expect(() => held[0]!.accept()).toThrow('WebSocketRequest may only be accepted or rejected one time.');
    expect(h.accepted).toHaveLength(0);
    await expectSettled(h);
    await expectServing(h);
  });

  test('200 ms, peer half-closed (end()) while pending: still answered with 408 and cleaned up', async () => {
    const held: WebSocketRequest[] = [];
    const h = await startHardenedServer({ handshakeTimeout: 200 }, { handler: (request) => held.push(request) });
    const client = await RawClient.connect(h.port);
    client.write(buildHandshake());
    await until(() => held.length === 1, 'the request');
    client.socket.end();
    const head = await client.readHead(3000);
    expect(head).toMatch(/^HTTP\/1\.1 408 /);
    await client.waitForClose();
    await expectSettled(h);
    await expectServing(h);
  });

  test('200 ms, peer reset while pending: no late 408, no throw, pendingRequests empty at once', async () => {
    const held: WebSocketRequest[] = [];
    const h = await startHardenedServer({ handshakeTimeout: 200 }, { handler: (request) => held.push(request) });
    const client = await RawClient.connect(h.port);
    client.write(buildHandshake());
    await until(() => held.length === 1, 'the request');
    client.socket.resetAndDestroy();
    await until(() => h.ws.pendingRequests.length === 0, 'the request to leave pendingRequests');
    // Past the timeout: the timer was cleared with the request (a reject on the dead socket would throw).
    await delay(300);
    expect(held[0]!._resolved).toBe(false);
    await expectSettled(h);
    await expectServing(h);
  });

  test('200 ms, request accepted in time: no 408 afterwards, connection still open after 300 ms', async () => {
    const h = await startHardenedServer({ handshakeTimeout: 200 }, { handler: (_request, accept) => setTimeout(accept, 50) });
    const { status, client } = await exchange(h.port, buildHandshake());
    expect(status).toBe(101);
    await delay(300);
    expect(h.ws.connections).toHaveLength(1);
    client.write(f.text('after the timeout'));
    expect((await client.readFrame()).payload.toString()).toBe('after the timeout');
    client.write(f.close(1000));
    await client.waitForClose();
    await expectSettled(h);
  });

  test('not given: defaults to 30 s (timers faked): no answer at 29,999 ms, 408 at 30,000 ms', async () => {
    const held: WebSocketRequest[] = [];
    const h = await startHardenedServer({}, { handler: (request) => held.push(request) });
    const client = await RawClient.connect(h.port);
    // Only setTimeout is faked, from before the request arrives: sockets and ticks stay real.
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'clearImmediate', 'setInterval', 'clearInterval', 'queueMicrotask', 'Date', 'hrtime', 'performance'] });
    // Real waits while setTimeout is faked.
    const realDelay = (ms: number): Promise<void> => new Promise((resolve) => realSetTimeout(resolve, ms));
    try {
      client.write(buildHandshake());
      for (let waited = 0; held.length === 0; waited += 5) {
        if (waited > 3000) throw new Error('the request never arrived');
        await realDelay(5);
      }
      jest.advanceTimersByTime(29_999);
      await realDelay(50);
      expect(client.received.length).toBe(0);
      expect(h.ws.pendingRequests).toHaveLength(1);
      jest.advanceTimersByTime(1);
    } finally {
      jest.useRealTimers();
    }
    const head = await client.readHead(3000);
    expect(head).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    await client.waitForClose();
    expect(h.ws.pendingRequests).toHaveLength(0);
    await expectSettled(h);
    await expectServing(h);
  });

  test('0 (off): an unanswered request is still pending after 300 ms; the test then accepts it and it works', async () => {
    const held: WebSocketRequest[] = [];
    const h = await startHardenedServer({ handshakeTimeout: 0 }, { handler: (request) => held.push(request) });
    const client = await RawClient.connect(h.port);
    client.write(buildHandshake());
    await until(() => held.length === 1, 'the request');
    await delay(300);
    expect(h.ws.pendingRequests).toEqual([held[0]]);
    expect(client.received.length).toBe(0);
    expect(client.closed).toBe(false);
    const connection = held[0]!.accept(null, held[0]!.origin);
    expect(h.ws.pendingRequests).toHaveLength(0);
    const head = await client.readHead();
    expect(head).toMatch(/^HTTP\/1\.1 101 /);
    client.write(f.text('late but fine'));
    expect((await client.readFrame()).payload.toString()).toBe('late but fine');
    client.write(f.close(1000));
    await client.waitForClose();
    await until(() => h.closes.get(connection)!.length > 0, "the connection's close event");
    expect(h.closes.get(connection)).toEqual([[1000, 'Normal connection closure']]);
    await expectSettled(h);
  });
});

interface Junk {
  name: string;
  request: string | Buffer;
  status: number;
  /** A header line the response must carry. */
  header?: RegExp;
  /** Whether our server (not Node's parser) refuses it, so an 'upgradeError' is recorded. */
  ours: boolean;
}

const HUGE = 60 * KiB;

/** Bad requests every server must refuse; statuses from our checks or from Node's http parser. */
function junkRequests(): Junk[] {
  const hs = (opts: HandshakeOptions): string => buildHandshake(opts);
  return [
    { name: 'missing Sec-WebSocket-Key', request: hs({ key: null }), status: 400, ours: true },
    { name: 'key not 16 bytes', request: hs({ key: 'c2hvcnQ=' }), status: 400, ours: true },
    { name: 'version 7', request: hs({ version: '7' }), status: 426, header: /\r\nSec-WebSocket-Version: 13\r\n/, ours: true },
    { name: 'no version', request: hs({ version: null }), status: 400, ours: true },
    { name: 'version garbage', request: hs({ version: 'thirteen' }), status: 400, ours: true },
    { name: 'POST', request: hs({ method: 'POST' }), status: 405, header: /\r\nAllow: GET\r\n/, ours: true },
    { name: 'PUT', request: hs({ method: 'PUT' }), status: 405, header: /\r\nAllow: GET\r\n/, ours: true },
    { name: 'HTTP/1.0', request: hs({ httpVersion: '1.0' }), status: 400, ours: true },
    { name: 'Upgrade: h2c', request: hs({ upgrade: 'h2c' }), status: 400, ours: true },
    { name: "protocol 'a b, c' (accepting the first throws)", request: hs({ protocol: 'a b, c' }), status: 500, ours: true },
    { name: "protocol 'a b, c\\u0000' (NUL)", request: hs({ protocol: 'a b, c\u0000' }), status: 400, ours: false },
    { name: 'protocol with \\u0001', request: hs({ protocol: 'x\u0001y' }), status: 400, ours: false },
    { name: '60 KB header value (default maxHeaderSize)', request: hs({ protocol: 'p'.repeat(HUGE) }), status: 431, ours: false },
    { name: 'not HTTP at all', request: Buffer.from('\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 garbage\r\n\r\n', 'latin1'), status: 400, ours: false },
  ];
}

describe('1,000 junk upgrade requests', () => {
  test('right status for each, sockets closed, no connection or pending request left, heapUsed and arrayBuffers growth < 16 MiB after', async () => {
    const h = await startHardenedServer({}, { acceptFirstProtocol: true, errorListener: true });
    const kinds = junkRequests();
    const before = memory();
    const TOTAL = 1000;
    const CONCURRENCY = 25;
    const results = new Map<string, number[]>();
    let next = 0;
    let ourRefusals = 0;
    const worker = async (): Promise<void> => {
      while (next < TOTAL) {
        const kind = kinds[next++ % kinds.length]!;
        const { status, head, client } = await exchange(h.port, kind.request);
        results.set(kind.name, [...(results.get(kind.name) ?? []), status]);
        if (kind.header !== undefined) expect(head).toMatch(kind.header);
        if (kind.ours) ourRefusals++;
        await client.waitForClose(3000);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    for (const kind of kinds) {
      const statuses = results.get(kind.name) ?? [];
      expect({ name: kind.name, statuses: [...new Set(statuses)] }).toEqual({ name: kind.name, statuses: [kind.status] });
    }
    expect(h.upgradeErrors).toHaveLength(ourRefusals);
    expect(h.accepted).toHaveLength(0);
    await expectSettled(h);
    await expectServing(h);
    const grown = growth(before, memory());
    expect(grown.heapUsed).toBeLessThan(16);
    expect(grown.arrayBuffers).toBeLessThan(16);
  });

  test('60 KB header values that reach the server (maxHeaderSize 128 KiB): key → 400; protocol list, cookies, extensions, X-Forwarded-For → 101; no crash', async () => {
    const h = await startHardenedServer(
      { perMessageDeflate: true },
      { acceptFirstProtocol: true, errorListener: true, httpOptions: { maxHeaderSize: 128 * KiB } },
    );
    const list = (item: (i: number) => string, separator: string): string => {
      const parts: string[] = [];
      let length = 0;
      for (let i = 0; length < HUGE; i++) {
        const part = item(i);
        parts.push(part);
        length += part.length + separator.length;
      }
      return parts.join(separator);
    };
    const cases: Array<{ name: string; opts: HandshakeOptions; status: number }> = [
      { name: 'key', opts: { key: 'A'.repeat(HUGE) }, status: 400 },
      { name: 'protocols', opts: { protocol: list((i) => `proto${i}`, ', ') }, status: 101 },
      { name: 'cookies', opts: { headers: [['Cookie', list((i) => `c${i}=v${i}`, '; ')]] }, status: 101 },
      {
        name: 'extensions',
        opts: { headers: [['Sec-WebSocket-Extensions', list((i) => `permessage-deflate; x${i}=1; client_max_window_bits`, ', ')]] },
        status: 101,
      },
      { name: 'x-forwarded-for', opts: { headers: [['X-Forwarded-For', list((i) => `10.0.${(i >> 8) & 255}.${i & 255}`, ', ')]] }, status: 101 },
      { name: 'origin', opts: { origin: `http://${'o'.repeat(HUGE)}.example` }, status: 101 },
    ];
    const before = memory();
    for (let round = 0; round < 10; round++) {
      for (const c of cases) {
        const { status, client } = await exchange(h.port, buildHandshake(c.opts));
        expect({ name: c.name, status }).toEqual({ name: c.name, status: c.status });
        if (status === 101) client.write(f.close(1000));
        await client.waitForClose(3000);
      }
    }
    await expectSettled(h);
    await expectServing(h);
    const grown = growth(before, memory());
    expect(grown.heapUsed).toBeLessThan(16);
    expect(grown.arrayBuffers).toBeLessThan(16);
  });
});

describe('upgrade requests whose bytes never finish', () => {
  test('50 stalled partial requests (headers never end): the server keeps serving others meanwhile', async () => {
    const h: Hardened = await startHardenedServer();
    const stalled: RawClient[] = [];
    const partial = buildHandshake().slice(0, 60);
    for (let i = 0; i < 50; i++) {
      const client = await RawClient.connect(h.port);
      client.write(partial);
      stalled.push(client);
    }
    // One byte at a time on one of them: still never a complete head.
    await stalled[0]!.writeBytewise(Buffer.from('X-Slow: 1'), 1);
    await expectServing(h);
    await expectServing(h);
    // Node's http server owns them (headersTimeout); nothing reached the WebSocket server.
    expect(h.requests.map((r) => r.resource)).toEqual(['/probe', '/probe']);
    expect(h.ws.pendingRequests).toHaveLength(0);
    for (const client of stalled) {
      expect(client.closed).toBe(false);
      expect(client.received.length).toBe(0);
    }
    for (const client of stalled) client.destroy();
    await expectSettled(h);
  });

  test('a request that stalls after its head (body bytes that never come) is still upgraded and echoes', async () => {
    // The upgrade happens once the head is complete: anything after it is WebSocket data.
    const h = await startHardenedServer();
    const { status, client } = await exchange(h.port, buildHandshake());
    expect(status).toBe(101);
    const frame = f.text('split');
    client.write(frame.subarray(0, 3));
    await delay(50);
    client.write(frame.subarray(3));
    expect((await client.readFrame()).payload.toString()).toBe('split');
    client.write(f.close(1000));
    await client.waitForClose();
    await expectSettled(h);
  });
});
