/**
 * permessage-deflate (RFC 7692) against `ws` and against ourselves over real sockets on 127.0.0.1,
 * for the parameter combinations both ways. A TCP tap between the ends records the wire, so each
 * test also checks what was actually sent: RSV1 only on the first frame of compressed messages and
 * never below the threshold, the agreed LZ77 window kept by each compressor, and context takeover
 * (or its absence) visible in the compressed bytes.
 */
import * as crypto from 'node:crypto';
import { cleanup } from '../helpers/server';
import type { ParsedFrame } from '../helpers/frames';
import {
  expectSameBytes,
  inflateWithWindow,
  ourClient,
  ourEchoServer,
  periodicBytes,
  periodicText,
  startTap,
  wireMessages,
  wsClientPeer,
  wsEchoServer,
  type Msg,
  type PerMessageDeflateOptions,
  type Peer,
  type TapConnection,
} from '../helpers/deflate-wire';

afterEach(cleanup);

/** What both ends should have agreed on. */
interface Agreed {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverMaxWindowBits: number;
  clientMaxWindowBits: number;
}

/** Reads a parameter list (a response header element or a `connection.extensions` value). */
function agreedFrom(paramList: string): Agreed {
  const agreed: Agreed = { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 };
  for (const raw of paramList.split(';')) {
    const [key = '', value] = raw.split('=').map((x) => x.trim().replace(/^"|"$/g, ''));
    if (key === '' || key === 'permessage-deflate') continue;
    if (key === 'server_no_context_takeover') agreed.serverNoContextTakeover = true;
    else if (key === 'client_no_context_takeover') agreed.clientNoContextTakeover = true;
    else if (key === 'server_max_window_bits') agreed.serverMaxWindowBits = Number(value);
    else if (key === 'client_max_window_bits') agreed.clientMaxWindowBits = Number(value);
    else throw new Error(`unexpected parameter ${raw} in ${paramList}`);
  }
  return agreed;
}

function responseExtensions(tap: TapConnection): string | null {
  const match = /^sec-websocket-extensions: *(.*?) *$/im.exec(tap.responseHead);
  return match ? match[1]! : null;
}

/**
 * The messages every exchange sends, in one burst from the client (each echoed by the server):
 * small ones under the 1024-byte default threshold, big ones repeated (context takeover shows in
 * the second copy), and an incompressible one larger than our 16 KiB fragmentation threshold.
 */
function exchangeMessages(): Msg[] {
  const text = Buffer.from(periodicText(700, 6));
  const bytes = periodicBytes(700, 6);
  return [
    { binary: false, data: Buffer.from('small text '.repeat(9)) },
    { binary: false, data: text },
    { binary: false, data: text },
    { binary: true, data: bytes },
    { binary: true, data: bytes },
    { binary: true, data: crypto.randomBytes(300) },
    { binary: true, data: crypto.randomBytes(40 * 1024) },
    { binary: false, data: Buffer.from('small again') },
  ];
}
/** Indexes of the repeated pairs in exchangeMessages(). */
const REPEATS: Array<[number, number]> = [
  [1, 2],
  [3, 4],
];
const THRESHOLD = 1024;

/** Sends the burst from `client`, checks what each end received, then checks the wire each way. */
/** Which messages a sender compresses: ours by size; ws applies its threshold only without context takeover. */
type Sender = 'ours' | 'ws';
function compresses(sender: Sender, noContextTakeover: boolean, length: number): boolean {
  if (sender === 'ws' && !noContextTakeover) return true;
  return length >= THRESHOLD;
}

async function exchange(
  client: Peer,
  server: Peer,
  tap: TapConnection,
  agreed: Agreed,
  senders: { client: Sender; server: Sender },
): Promise<void> {
  const messages = exchangeMessages();
  for (const m of messages) client.send(m);
  for (const [i, m] of messages.entries()) {
    const atServer = await server.received.next(`message ${i} at the server`);
    expect(atServer.binary).toBe(m.binary);
    expectSameBytes(atServer.data, m.data, `message ${i} at the server`);
  }
  for (const [i, m] of messages.entries()) {
    const echo = await client.received.next(`echo ${i} at the client`);
    expect(echo.binary).toBe(m.binary);
    expectSameBytes(echo.data, m.data, `echo ${i} at the client`);
  }
  checkWire('client → server', tap.upFrames, messages, agreed.clientMaxWindowBits, agreed.clientNoContextTakeover, senders.client);
  checkWire('server → client', tap.downFrames, messages, agreed.serverMaxWindowBits, agreed.serverNoContextTakeover, senders.server);
}

function checkWire(
  direction: string,
  frames: ParsedFrame[],
  messages: Msg[],
  windowBits: number,
  noContextTakeover: boolean,
  sender: Sender,
): void {
  const wire = wireMessages(frames);
  expect(wire).toHaveLength(messages.length);
  const compressed: Buffer[] = [];
  for (const [i, m] of messages.entries()) {
    const w = wire[i]!;
    expect({ direction, i, opcode: w.opcode }).toEqual({ direction, i, opcode: m.binary ? 2 : 1 });
    // Below the threshold a message goes out plain; the big ones are compressed.
    expect({ direction, i, rsv1: w.rsv1 }).toEqual({ direction, i, rsv1: compresses(sender, noContextTakeover, m.data.length) });
    // RFC 7692 §6.1: RSV1 is set on the first frame only.
    expect({ direction, i, rsv1OnContinuation: w.rsv1OnContinuation }).toEqual({ direction, i, rsv1OnContinuation: false });
    if (w.rsv1) compressed.push(w.payload);
    else expectSameBytes(w.payload, m.data, `${direction} plain message ${i}`);
  }
  // The sender kept to the agreed window (zlib makes 9-bit windows for 8), and the stream decodes
  // with the agreed context rule.
  const inflated = inflateWithWindow(compressed, Math.max(windowBits, 9), !noContextTakeover);
  const expected = messages.filter((m) => compresses(sender, noContextTakeover, m.data.length));
  inflated.forEach((data, k) => expectSameBytes(data, expected[k]!.data, `${direction} compressed message ${k}`));
  // 700-byte repeats are out of reach of a 512-byte window and within a 1024-byte one.
  const firstBig = wire[1]!.payload.length;
  if (windowBits <= 9) expect({ direction, windowBits, firstBig: firstBig > 2500 }).toEqual({ direction, windowBits, firstBig: true });
  else expect({ direction, windowBits, firstBig: firstBig < 1500 }).toEqual({ direction, windowBits, firstBig: true });
  for (const [a, b] of REPEATS) {
    if (noContextTakeover) {
      // Every message starts from an empty window: identical messages compress identically.
      expectSameBytes(wire[b]!.payload, wire[a]!.payload, `${direction} repeat of message ${a}`);
    } else if (windowBits >= 13) {
      // The second copy is a back-reference to the first, 4200 bytes back.
      expect({ direction, b, small: wire[b]!.payload.length < wire[a]!.payload.length / 4 }).toEqual({ direction, b, small: true });
    }
  }
}

type Combo = [boolean, boolean, number | undefined, number | undefined];
/** serverNoContextTakeover × clientNoContextTakeover × serverMaxWindowBits × clientMaxWindowBits. */
const MATRIX: Combo[] = [];
for (const snct of [false, true])
  for (const cnct of [false, true])
    for (const sbits of [undefined, 9, 15])
      for (const cbits of [undefined, 10]) MATRIX.push([snct, cnct, sbits, cbits]);

function optionsOf([snct, cnct, sbits, cbits]: Combo): PerMessageDeflateOptions {
  const options: PerMessageDeflateOptions = {};
  if (snct) options.serverNoContextTakeover = true;
  if (cnct) options.clientNoContextTakeover = true;
  if (sbits !== undefined) options.serverMaxWindowBits = sbits;
  if (cbits !== undefined) options.clientMaxWindowBits = cbits;
  return options;
}

function agreedOf([snct, cnct, sbits, cbits]: Combo): Agreed {
  return { serverNoContextTakeover: snct, clientNoContextTakeover: cnct, serverMaxWindowBits: sbits ?? 15, clientMaxWindowBits: cbits ?? 15 };
}

const label = ([snct, cnct, sbits, cbits]: Combo): string =>
  `server_no_context_takeover=${snct} client_no_context_takeover=${cnct} server_max_window_bits=${sbits ?? '-'} client_max_window_bits=${cbits ?? '-'}`;

describe('our server ↔ ws client', () => {
  async function run(serverOptions: PerMessageDeflateOptions | true, clientOptions: PerMessageDeflateOptions | true, agreed: Agreed) {
    const server = await ourEchoServer({ perMessageDeflate: serverOptions });
    const tap = await startTap(server.port);
    const client = await wsClientPeer(tap.url, clientOptions);
    const serverPeer = await server.peers.next('the server connection');
    const connection = await server.connections.next('the server connection');
    const wire = await tap.connections.next('the tapped connection');

    const header = responseExtensions(wire);
    expect(header).not.toBeNull();
    expect(agreedFrom(header!)).toEqual(agreed);
    // ws reports the names of the agreed extensions.
    expect(client.socket.extensions).toBe('permessage-deflate');
    expect(connection.extensions).toHaveLength(1);
    expect(connection.extensions[0]!.name).toBe('permessage-deflate');
    expect(agreedFrom(connection.extensions[0]!.value ?? '')).toEqual(agreed);

    await exchange(client.peer, serverPeer, wire, agreed, { client: 'ws', server: 'ours' });
  }

  test.each(MATRIX.map((c) => [label(c), c] as const))('server options %s', async (_label, combo) => {
    await run(optionsOf(combo), true, agreedOf(combo));
  });

  test.each(MATRIX.map((c) => [label(c), c] as const))('ws client offers %s', async (_label, combo) => {
    await run(true, optionsOf(combo), agreedOf(combo));
  });

  test('a ws client offering deflate to our server without perMessageDeflate gets no extension and works', async () => {
    for (const perMessageDeflate of [undefined, false]) {
      const server = await ourEchoServer(perMessageDeflate === undefined ? {} : { perMessageDeflate });
      const tap = await startTap(server.port);
      const client = await wsClientPeer(tap.url, { serverNoContextTakeover: true, clientMaxWindowBits: 10 });
      const serverPeer = await server.peers.next('the server connection');
      const connection = await server.connections.next('the server connection');
      const wire = await tap.connections.next('the tapped connection');
      expect(wire.requestHead).toMatch(/^sec-websocket-extensions: permessage-deflate/im);
      expect(client.response.headers['sec-websocket-extensions']).toBeUndefined();
      expect(responseExtensions(wire)).toBeNull();
      expect(client.socket.extensions).toBe('');
      expect(connection.extensions).toEqual([]);
      const big = { binary: false, data: Buffer.from(periodicText(100, 50)) };
      client.peer.send(big);
      expectSameBytes((await serverPeer.received.next()).data, big.data);
      expectSameBytes((await client.peer.received.next()).data, big.data);
      for (const frame of [...wire.upFrames, ...wire.downFrames]) expect(frame.rsv1).toBe(false);
    }
  });
});

describe('our client ↔ ws server', () => {
  async function run(serverOptions: PerMessageDeflateOptions | true, clientOptions: PerMessageDeflateOptions | true, agreed: Agreed) {
    const server = await wsEchoServer(serverOptions);
    const tap = await startTap(server.port);
    const client = await ourClient(tap.url, { perMessageDeflate: clientOptions });
    const serverPeer = await server.peers.next('the server connection');
    const wire = await tap.connections.next('the tapped connection');

    const header = responseExtensions(wire);
    expect(header).not.toBeNull();
    expect(agreedFrom(header!)).toEqual(agreed);
    expect(client.connection.extensions).toHaveLength(1);
    expect(client.connection.extensions[0]!.name).toBe('permessage-deflate');
    expect(agreedFrom(client.connection.extensions[0]!.value ?? '')).toEqual(agreed);
    expect(client.client.extensions).toEqual(client.connection.extensions);

    await exchange(client.peer, serverPeer, wire, agreed, { client: 'ours', server: 'ws' });
  }

  test.each(MATRIX.map((c) => [label(c), c] as const))('our client offers %s', async (_label, combo) => {
    await run(true, optionsOf(combo), agreedOf(combo));
  });

  // A reduced matrix of the ws server's own options (our client's default offer lets it choose).
  const WS_SERVER: Combo[] = [
    [true, false, undefined, undefined],
    [false, true, undefined, undefined],
    [false, false, 9, undefined],
    [false, false, undefined, 10],
    [true, true, 9, 10],
    [false, false, 12, 9],
  ];
  test.each(WS_SERVER.map((c) => [label(c), c] as const))('ws server options %s', async (_label, combo) => {
    await run(optionsOf(combo), true, agreedOf(combo));
  });

  test('a burst of compressed messages from the server reaches our client whole and in order', async () => {
    const server = await wsEchoServer(true);
    const client = await ourClient(`ws://127.0.0.1:${server.port}/`, { perMessageDeflate: true });
    const serverPeer = await server.peers.next('the server connection');
    const texts = Array.from({ length: 30 }, (_, i) => `burst ${i} ${periodicText(200, 3 + (i % 5))}`);
    for (const t of texts) serverPeer.send({ binary: false, data: Buffer.from(t) });
    for (const [i, t] of texts.entries()) {
      const m = await client.peer.received.next(`message ${i} at our client`);
      expect({ i, text: m.data.toString() }).toEqual({ i, text: t });
    }
  });

  test('our client offering deflate to a ws server without it works uncompressed', async () => {
    const server = await wsEchoServer(false);
    const tap = await startTap(server.port);
    const client = await ourClient(tap.url, { perMessageDeflate: { clientMaxWindowBits: 10, threshold: 0 } });
    const serverPeer = await server.peers.next('the server connection');
    const wire = await tap.connections.next('the tapped connection');
    expect(wire.requestHead).toMatch(/^sec-websocket-extensions: permessage-deflate; client_max_window_bits=10\r$/im);
    expect(responseExtensions(wire)).toBeNull();
    expect(client.connection.extensions).toEqual([]);
    const messages = exchangeMessages();
    for (const m of messages) client.peer.send(m);
    for (const m of messages) expectSameBytes((await serverPeer.received.next()).data, m.data);
    for (const m of messages) expectSameBytes((await client.peer.received.next()).data, m.data);
    for (const frame of [...wire.upFrames, ...wire.downFrames]) expect(frame.rsv1).toBe(false);
  });
});

describe('our client ↔ our server', () => {
  const PAIRS: Array<[string, PerMessageDeflateOptions | true, PerMessageDeflateOptions | true, Agreed]> = [
    ['defaults', true, true, agreedOf([false, false, undefined, undefined])],
    ['server limits', { serverNoContextTakeover: true, serverMaxWindowBits: 9, clientMaxWindowBits: 10 }, true, agreedOf([true, false, 9, 10])],
    ['client asks', true, { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 10, clientMaxWindowBits: 9 }, agreedOf([true, true, 10, 9])],
    ['both', { serverMaxWindowBits: 11, clientNoContextTakeover: true }, { serverMaxWindowBits: 13, clientMaxWindowBits: 12 }, agreedOf([false, true, 11, 12])],
  ];

  test.each(PAIRS)('%s', async (_what, serverOptions, clientOptions, agreed) => {
    const server = await ourEchoServer({ perMessageDeflate: serverOptions });
    const tap = await startTap(server.port);
    const client = await ourClient(tap.url, { perMessageDeflate: clientOptions });
    const serverPeer = await server.peers.next('the server connection');
    const connection = await server.connections.next('the server connection');
    const wire = await tap.connections.next('the tapped connection');
    // Both ends describe the same agreement, and it is the one on the wire.
    expect(connection.extensions).toEqual(client.connection.extensions);
    expect(agreedFrom(connection.extensions[0]!.value ?? '')).toEqual(agreed);
    expect(agreedFrom(responseExtensions(wire)!)).toEqual(agreed);
    await exchange(client.peer, serverPeer, wire, agreed, { client: 'ours', server: 'ours' });
  });

  test('without perMessageDeflate on either side nothing is offered or agreed', async () => {
    for (const [serverOn, clientOn] of [
      [false, true],
      [true, false],
    ]) {
      const server = await ourEchoServer(serverOn ? { perMessageDeflate: true } : {});
      const tap = await startTap(server.port);
      const client = await ourClient(tap.url, clientOn ? { perMessageDeflate: { threshold: 0 } } : {});
      const connection = await server.connections.next('the server connection');
      const wire = await tap.connections.next('the tapped connection');
      if (!clientOn) expect(wire.requestHead).not.toMatch(/sec-websocket-extensions/i);
      expect(responseExtensions(wire)).toBeNull();
      expect(connection.extensions).toEqual([]);
      expect(client.connection.extensions).toEqual([]);
      client.peer.send({ binary: false, data: Buffer.from('x'.repeat(5000)) });
      expect((await client.peer.received.next()).data.toString()).toBe('x'.repeat(5000));
      for (const frame of [...wire.upFrames, ...wire.downFrames]) expect(frame.rsv1).toBe(false);
    }
  });

  test('threshold 0 compresses every message, the empty one included', async () => {
    const server = await ourEchoServer({ perMessageDeflate: { threshold: 0 } });
    const tap = await startTap(server.port);
    const client = await ourClient(tap.url, { perMessageDeflate: { threshold: 0 } });
    const wire = await tap.connections.next('the tapped connection');
    const sent = ['', 'a', 'Hello', 'Hello'];
    for (const text of sent) client.peer.send({ binary: false, data: Buffer.from(text) });
    for (const text of sent) expect((await client.peer.received.next()).data.toString()).toBe(text);
    const up = wireMessages(wire.upFrames);
    const down = wireMessages(wire.downFrames);
    expect(up.map((m) => m.rsv1)).toEqual([true, true, true, true]);
    expect(down.map((m) => m.rsv1)).toEqual([true, true, true, true]);
    expect(inflateWithWindow(up.map((m) => m.payload), 15, true).map((b) => b.toString())).toEqual(sent);
    expect(inflateWithWindow(down.map((m) => m.payload), 15, true).map((b) => b.toString())).toEqual(sent);
  });
});
