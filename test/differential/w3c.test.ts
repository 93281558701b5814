/**
 * Differential tests of W3CWebSocket: the same scenario runs with WebSocket-Node 1.0.35's
 * `w3cwebsocket` and with ours, against the same server (ours) on 127.0.0.1, and what the page sees
 * (events in order, their fields and own keys, readyState, protocol, extensions, bufferedAmount,
 * handler properties, what send() and close() throw) must be equal. The deliberate differences of
 * docs/compat.md (a DataView sent with its bytes, close() while CONNECTING aborting the request) are
 * pinned at the end, both sides.
 */
import websocket = require('../../lib/websocket');
import { AsyncQueue, Tracker, deferred, delay, rawUpgradeServer, withTimeout } from '../helpers/client-harness';
import { startOurServer } from '../helpers/client-servers';

type Side = 'upstream' | 'ours';
const SIDES: readonly Side[] = ['upstream', 'ours'];

/** What this program uses of either W3CWebSocket (upstream ships no types). */
type W3CEvent = Record<string, unknown> & { type: string };
interface AnyW3C {
  url: string;
  readyState: number;
  protocol: unknown;
  extensions: unknown;
  bufferedAmount: number;
  binaryType: string;
  onopen?: unknown;
  onmessage?: unknown;
  onerror?: unknown;
  onclose?: unknown;
  send(data: unknown): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: string, listener: (event: W3CEvent) => void): void;
}
type W3CClass = new (url: string, protocols?: unknown, origin?: unknown, headers?: unknown, requestOptions?: unknown, clientConfig?: unknown) => AnyW3C;

const upstream = require('websocket-upstream') as { w3cwebsocket: W3CClass };
const CLASSES: Record<Side, W3CClass> = {
  upstream: upstream.w3cwebsocket,
  ours: websocket.w3cwebsocket as unknown as W3CClass,
};

type Connection = InstanceType<typeof websocket.connection>;
type Recorded = Record<string, unknown>;

const tracker = new Tracker();
afterEach(() => tracker.cleanup());

/** `toEqual` treats an undefined property as absent; spell it out so undefined vs '' shows. */
function show(value: unknown): unknown {
  if (value === undefined) return '(undefined)';
  if (value === null) return '(null)';
  if (value instanceof ArrayBuffer) return { arrayBuffer: Buffer.from(value).toString('hex') };
  if (Array.isArray(value)) return value.map(show);
  return value;
}

function snapshot(ws: AnyW3C): Recorded {
  return {
    readyState: ws.readyState,
    protocol: show(ws.protocol),
    extensions: show(ws.extensions),
    bufferedAmount: ws.bufferedAmount,
    binaryType: ws.binaryType,
    handlers: [ws.onopen, ws.onmessage, ws.onerror, ws.onclose].map((h) => typeof h),
  };
}

function thrown(fn: () => void): unknown {
  try {
    fn();
  } catch (error) {
    const e = error as Error;
    return { name: e.name, message: e.message, isTypeError: e instanceof TypeError, isSyntaxError: e instanceof SyntaxError };
  }
  return 'no throw';
}

/**
 * Opens a W3CWebSocket of `side` and records every event until 'close'. `onOpen` runs in the
 * 'open' listener (after the record) and may record more.
 */
async function record(
  side: Side,
  url: string,
  options: { protocols?: unknown; onOpen?: (ws: AnyW3C, log: Recorded[]) => void; before?: (ws: AnyW3C, log: Recorded[]) => void } = {},
): Promise<Recorded[]> {
  const log: Recorded[] = [];
  const ws = new CLASSES[side](url, options.protocols);
  const closed = deferred<void>();
  log.push({ ev: 'constructed', url: ws.url, ...snapshot(ws) });
  ws.addEventListener('open', (event) => {
    log.push({ ev: 'open', keys: Object.keys(event).sort(), ...snapshot(ws) });
    options.onOpen?.(ws, log);
  });
  ws.addEventListener('message', (event) => log.push({ ev: 'message', data: show(event['data']), readyState: ws.readyState }));
  ws.addEventListener('error', (event) => log.push({ ev: 'error', keys: Object.keys(event).sort(), ...snapshot(ws) }));
  ws.addEventListener('close', (event) => {
    log.push({
      ev: 'close',
      code: show(event['code']),
      reason: show(event['reason']),
      wasClean: event['wasClean'],
      keys: Object.keys(event).sort(),
      ...snapshot(ws),
    });
    closed.resolve();
  });
  options.before?.(ws, log);
  await withTimeout(closed.promise, `${side}: the 'close' event`);
  // Anything dispatched after 'close' would be a difference too.
  await delay(20);
  return log;
}

async function both(run: (side: Side) => Promise<Recorded[]>): Promise<Record<Side, Recorded[]>> {
  const out = {} as Record<Side, Recorded[]>;
  for (const side of SIDES) out[side] = await run(side);
  return out;
}

/** Our server running `script` on each accepted connection; `closes` gets what it saw of each close. */
async function scriptedServer(
  script: (connection: Connection) => void,
  protocol: string | null = null,
): Promise<{ url: string; closes: AsyncQueue<[number, string]> }> {
  const closes = new AsyncQueue<[number, string]>();
  const { url } = await startOurServer(tracker, (request) => {
    const connection = request.accept(protocol, request.origin);
    connection.on('error', () => undefined);
    connection.on('close', (code: number, reason: string) => closes.push([code, reason]));
    script(connection);
  });
  return { url, closes };
}

describe('server-initiated close (must match)', () => {
  test.each([1000, 1001, 1011, 3000, 4000])('messages (empty text included), then close %i: events, fields, wasClean', async (code) => {
    const { url } = await scriptedServer((connection) => {
      connection.sendUTF('hello');
      connection.sendUTF('');
      connection.sendBytes(Buffer.from([1, 2, 3]));
      connection.sendBytes(Buffer.alloc(0));
      connection.sendUTF('last');
      connection.close(code, `bye ${code}`);
    });
    const result = await both((side) => record(side, url));
    expect(result.ours).toEqual(result.upstream);
    // What the case is about: upstream's own values.
    expect(result.upstream.filter((r) => r['ev'] === 'message').map((r) => r['data'])).toEqual([
      'hello',
      { arrayBuffer: '010203' },
      { arrayBuffer: '' },
      'last',
    ]);
    expect(result.upstream.at(-1)).toMatchObject({ ev: 'close', code, reason: `bye ${code}`, wasClean: code === 1000 });
  });

  test("close without a reason: the reason is the code's description from the connection", async () => {
    const { url } = await scriptedServer((connection) => connection.close(1001));
    const result = await both((side) => record(side, url));
    expect(result.ours).toEqual(result.upstream);
    expect(result.upstream.at(-1)).toMatchObject({ code: 1001, reason: 'Remote peer is going away', wasClean: false });
  });

  test('a dropped connection: 1006, not clean', async () => {
    const { url } = await scriptedServer((connection) => setTimeout(() => connection.socket.destroy(), 10));
    const result = await both((side) => record(side, url));
    expect(result.ours).toEqual(result.upstream);
    expect(result.upstream.at(-1)).toMatchObject({ code: 1006, wasClean: false });
  });
});

describe('client-initiated close (must match)', () => {
  test.each<[string, number | undefined, string | undefined]>([
    ['close()', undefined, undefined],
    ['close(1000, reason)', 1000, 'done'],
    ['close(1001)', 1001, undefined],
    ['close(4001, reason)', 4001, 'client bye'],
  ])('%s: readyState, the close event, and what the server saw', async (_name, code, reason) => {
    const { url, closes } = await scriptedServer(() => undefined);
    const seen: Record<Side, [number, string]> = {} as Record<Side, [number, string]>;
    const result = await both(async (side) => {
      const log = await record(side, url, {
        onOpen: (ws, entries) => {
          ws.close(code, reason);
          entries.push({ ev: 'after close()', ...snapshot(ws), send: thrown(() => ws.send('late')) });
          entries.push({ ev: 'second close()', result: thrown(() => ws.close(4999)) });
        },
      });
      seen[side] = await closes.next(`${side}: the server's close`);
      return log;
    });
    expect(result.ours).toEqual(result.upstream);
    expect(seen.ours).toEqual(seen.upstream);
    expect(result.upstream.at(-1)).toMatchObject({ code: code ?? 1000, wasClean: (code ?? 1000) === 1000 });
  });

  test('close(4000, reason over 123 bytes) does not throw on either side', async () => {
    const { url } = await scriptedServer(() => undefined);
    const result = await both((side) =>
      record(side, url, {
        onOpen: (ws, entries) => entries.push({ ev: 'close()', result: thrown(() => ws.close(4000, 'x'.repeat(140))), readyState: ws.readyState }),
      }),
    );
    // The client's view must match; what reaches the server differs on purpose (ours cuts the
    // reason to 123 bytes, upstream sends an illegal control frame: docs/compat.md, frames).
    expect(result.ours).toEqual(result.upstream);
    expect(result.upstream[2]).toEqual({ ev: 'close()', result: 'no throw', readyState: 2 });
  });

  test('close() with an invalid code throws the same error', async () => {
    const { url } = await scriptedServer((connection) => setTimeout(() => connection.close(), 50));
    const result = await both((side) =>
      record(side, url, {
        onOpen: (ws, entries) => entries.push({ ev: 'close(1005)', result: thrown(() => ws.close(1005)), readyState: ws.readyState }),
      }),
    );
    expect(result.ours).toEqual(result.upstream);
  });
});

describe('protocol, send() and failures (must match)', () => {
  test('protocol: none requested, then one chosen', async () => {
    const plain = await scriptedServer((connection) => connection.close());
    const chosen = await scriptedServer((connection) => connection.close(), 'chat');
    const result = await both(async (side) => [...(await record(side, plain.url)), ...(await record(side, chosen.url, { protocols: ['chat', 'other'] }))]);
    expect(result.ours).toEqual(result.upstream);
    expect(result.upstream.filter((r) => r['ev'] === 'open').map((r) => r['protocol'])).toEqual(['(undefined)', 'chat']);
  });

  test('send(): before open, with unsupported data, and bufferedAmount while the server does not read', async () => {
    const { url } = await startOurServer(
      tracker,
      (request) => {
        const connection = request.accept(null, request.origin);
        connection.on('error', () => undefined);
        connection.pause();
        setTimeout(() => {
          connection.resume();
          connection.close();
        }, 100);
      },
      { maxReceivedFrameSize: 1 << 21, maxReceivedMessageSize: 1 << 21 },
    );
    const result = await both((side) =>
      record(side, url, {
        before: (ws, entries) => entries.push({ ev: 'send before open', result: thrown(() => ws.send('early')) }),
        onOpen: (ws, entries) => {
          for (const data of [42, { some: 'object' }, undefined, null]) entries.push({ ev: 'send', data: show(data), result: thrown(() => ws.send(data)) });
          for (let i = 0; i < 8; i++) ws.send(Buffer.alloc(1 << 20, i));
          entries.push({ ev: 'after 8 MiB', bufferedAmount: ws.bufferedAmount });
        },
      }),
    );
    expect(result.ours).toEqual(result.upstream);
  });

  test('connection refused: error (no details), then close 1006 "connection failed"', async () => {
    const { port, server } = await rawUpgradeServer(tracker);
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const result = await both((side) => record(side, `ws://127.0.0.1:${port}/`));
    expect(result.ours).toEqual(result.upstream);
    expect(result.upstream.map((r) => r['ev'])).toEqual(['constructed', 'error', 'close']);
  });

  test('a non-101 answer: the same events', async () => {
    const { port } = await rawUpgradeServer(tracker, (c) => c.socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n'));
    const result = await both((side) => record(side, `ws://127.0.0.1:${port}/`));
    expect(result.ours).toEqual(result.upstream);
  });
});

describe('deliberate differences (docs/compat.md)', () => {
  test('compat "send(DataView)": ours sends the view\'s bytes (upstream sends an empty binary message)', async () => {
    const received = new AsyncQueue<string>();
    const { url } = await scriptedServer((connection) => {
      connection.on('message', (message: { type: string; utf8Data?: string; binaryData?: Buffer }) => {
        if (message.type === 'utf8') connection.close();
        else received.push((message.binaryData ?? Buffer.alloc(0)).toString('hex'));
      });
    });
    const sent: Record<Side, string[]> = { upstream: [], ours: [] };
    await both(async (side) => {
      const backing = new Uint8Array([1, 2, 3, 4, 5, 6]).buffer;
      const log = await record(side, url, {
        onOpen: (ws) => {
          ws.send(new DataView(backing, 1, 3));
          ws.send(new Uint16Array(backing, 2, 2));
          ws.send(backing);
          ws.send('done');
        },
      });
      for (let i = 0; i < 3; i++) sent[side].push(await received.next(`${side}: binary message ${i}`));
      return log;
    });
    expect(sent).toEqual({ upstream: ['', '03040506', '010203040506'], ours: ['020304', '03040506', '010203040506'] });
  });

  test('compat "close() while CONNECTING": the same events at once, but ours aborts the request (upstream completes the handshake and then closes)', async () => {
    const { url, closes } = await scriptedServer(() => undefined);
    const serverSaw: Record<Side, unknown> = { upstream: null, ours: null };
    const result = await both(async (side) => {
      const log = await record(side, url, {
        before: (ws, entries) => {
          ws.close(4000, 'never mind');
          entries.push({ ev: 'after close()', ...snapshot(ws) });
        },
      });
      if (side === 'upstream') {
        serverSaw.upstream = await closes.next("upstream: the server's close of the late connection");
      } else {
        await delay(150);
        serverSaw.ours = closes.length;
      }
      return log;
    });
    // What the page sees is the same, synchronously, on both sides.
    expect(result.ours).toEqual(result.upstream);
    expect(result.upstream.map((r) => r['ev'])).toEqual(['constructed', 'error', 'close', 'after close()']);
    // Upstream's request went on: the server accepted a connection that the client then closed
    // with the code given to close(); ours never reached the server's 'request'.
    expect(serverSaw).toEqual({ upstream: [4000, 'never mind'], ours: 0 });
  });
});
