/**
 * permessage-deflate on our server driven by a raw TCP client, byte for byte: RSV1 rules (RFC 7692
 * §6.1), fragmented compressed messages split at every byte offset, invalid data, a decompression
 * bomb against maxReceivedMessageSize, ordering of compressed, plain and control frames both ways,
 * the per-send `compress: false` opt-out, and closing while a compression is in flight.
 */
import * as crypto from 'node:crypto';
import * as zlib from 'node:zlib';
import { cleanup, delay, startServer, type ServerConfig, type WebSocketConnection } from '../helpers/server';
import { openRawConnection, type RawClient } from '../helpers/raw-client';
import * as f from '../helpers/frames';
import { Inbox, deflateMessage, expectSameBytes, inflateWithWindow, periodicText, wireMessages, wsClientPeer, zeroBomb } from '../helpers/deflate-wire';

afterEach(cleanup);

type Message = { type: 'utf8'; utf8Data: string } | { type: 'binary'; binaryData: Buffer };

const OFFER: Array<[string, string]> = [['Sec-WebSocket-Extensions', 'permessage-deflate; client_max_window_bits']];

/** Our server with permessage-deflate; every connection's messages are collected (and echoed when asked). */
async function deflateServer(config: Partial<ServerConfig> = {}, options: { echo?: boolean } = {}) {
  const server = await startServer({ autoAcceptConnections: true, perMessageDeflate: true, ...config });
  const messages = new Inbox<Message>();
  const events: string[] = [];
  server.ws.on('connect', (connection: WebSocketConnection) => {
    connection.on('error', () => undefined);
    connection.on('message', (m: Message) => {
      messages.push(m);
      events.push(m.type === 'utf8' ? `text:${m.utf8Data.length}` : `binary:${m.binaryData.length}`);
      if (options.echo === true) {
        if (m.type === 'utf8') connection.sendUTF(m.utf8Data);
        else connection.sendBytes(m.binaryData);
      }
    });
    connection.on('ping', () => events.push('ping'));
  });
  return { server, messages, events };
}

/** Opens a raw connection offering permessage-deflate (or the given header lines). */
async function open(server: Awaited<ReturnType<typeof deflateServer>>['server'], headers: Array<[string, string]> = OFFER) {
  return openRawConnection(server, { headers });
}

/** Reads frames until a close frame; returns its code and the data frames seen before it. */
async function readUntilClose(client: RawClient): Promise<{ code: number; reason: string; before: f.ParsedFrame[] }> {
  const before: f.ParsedFrame[] = [];
  for (;;) {
    const frame = await client.readFrame();
    if (frame.opcode === f.OP.CLOSE) {
      return { code: frame.payload.readUInt16BE(0), reason: frame.payload.subarray(2).toString('utf8'), before };
    }
    before.push(frame);
  }
}

describe('handshake', () => {
  test('the agreed extension is in the 101 response and in connection.extensions', async () => {
    const { server } = await deflateServer({ perMessageDeflate: { serverNoContextTakeover: true, serverMaxWindowBits: 10 } });
    const { response, connection } = await open(server, [
      ['Sec-WebSocket-Extensions', 'permessage-deflate; server_max_window_bits=12; client_max_window_bits, permessage-deflate'],
    ]);
    expect(response).toMatch(/\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; server_max_window_bits=10\r\n/i);
    expect(connection.extensions).toEqual([{ name: 'permessage-deflate', value: 'server_no_context_takeover; server_max_window_bits=10' }]);
  });

  test('an invalid offer is declined and the handshake still succeeds without the extension', async () => {
    const { server } = await deflateServer();
    const { response, connection } = await open(server, [['Sec-WebSocket-Extensions', 'permessage-deflate; server_max_window_bits=16']]);
    expect(response).toMatch(/^HTTP\/1\.1 101 /);
    expect(response).not.toMatch(/sec-websocket-extensions/i);
    expect(connection.extensions).toEqual([]);
  });

  test('the extensions header may come in several header lines', async () => {
    const { server } = await deflateServer();
    const { response, connection } = await open(server, [
      ['Sec-WebSocket-Extensions', 'x-foo'],
      ['Sec-WebSocket-Extensions', 'permessage-deflate; client_no_context_takeover'],
    ]);
    expect(response).toMatch(/\r\nSec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover\r\n/i);
    expect(connection.extensions).toEqual([{ name: 'permessage-deflate', value: 'client_no_context_takeover' }]);
  });
});

describe('RSV1 rules (RFC 7692 §6.1)', () => {
  test('a compressed text message and an uncompressed one are both accepted', async () => {
    const { server, messages } = await deflateServer();
    const { client } = await open(server);
    client.write(f.text(deflateMessage('Hello'), { rsv1: true }));
    client.write(f.text('plain'));
    client.write(f.binary(deflateMessage(Buffer.from([1, 2, 3])), { rsv1: true }));
    expect(await messages.next()).toEqual({ type: 'utf8', utf8Data: 'Hello' });
    expect(await messages.next()).toEqual({ type: 'utf8', utf8Data: 'plain' });
    expect(await messages.next()).toEqual({ type: 'binary', binaryData: Buffer.from([1, 2, 3]) });
  });

  test('RSV1 on a continuation frame → 1002', async () => {
    const { server } = await deflateServer();
    const { client } = await open(server);
    const payload = deflateMessage('Hello, fragmented world');
    client.write(Buffer.concat([f.text(payload.subarray(0, 5), { rsv1: true, fin: false }), f.cont(payload.subarray(5), { rsv1: true })]));
    expect((await readUntilClose(client)).code).toBe(1002);
  });

  test('RSV1 on a ping → 1002', async () => {
    const { server } = await deflateServer();
    const { client } = await open(server);
    client.write(f.ping('x', { rsv1: true }));
    expect((await readUntilClose(client)).code).toBe(1002);
  });

  test('RSV1 on a close frame → 1002', async () => {
    const { server } = await deflateServer();
    const { client } = await open(server);
    client.write(f.close(1000, '', { rsv1: true }));
    expect((await readUntilClose(client)).code).toBe(1002);
  });

  test('RSV1 without negotiation → 1002 (server has deflate, client did not offer it)', async () => {
    const { server, messages } = await deflateServer();
    const { client, connection } = await open(server, []);
    expect(connection.extensions).toEqual([]);
    client.write(f.text(deflateMessage('Hello'), { rsv1: true }));
    expect((await readUntilClose(client)).code).toBe(1002);
    expect(messages.items).toEqual([]);
  });

  test('RSV1 without negotiation → 1002 (client offered, server has deflate off)', async () => {
    const { server } = await deflateServer({ perMessageDeflate: false });
    const { client, response } = await open(server);
    expect(response).not.toMatch(/sec-websocket-extensions/i);
    client.write(f.text(deflateMessage('Hello'), { rsv1: true }));
    expect((await readUntilClose(client)).code).toBe(1002);
  });

  test('RSV2 and RSV3 stay forbidden with deflate agreed → 1002', async () => {
    for (const bit of ['rsv2', 'rsv3'] as const) {
      const { server } = await deflateServer();
      const { client } = await open(server);
      client.write(f.text(deflateMessage('Hello'), { rsv1: true, [bit]: true }));
      expect((await readUntilClose(client)).code).toBe(1002);
    }
  });

  test('invalid compressed data fails the connection with 1007', async () => {
    const { server, messages } = await deflateServer();
    const { client } = await open(server);
    // BTYPE 11 is reserved (RFC 1951 §3.2.3).
    client.write(f.text(Buffer.from([0xff, 0xff, 0xff, 0xff]), { rsv1: true }));
    expect((await readUntilClose(client)).code).toBe(1007);
    expect(messages.items).toEqual([]);
  });

  test('invalid compressed data in a binary message, after a valid one → 1007', async () => {
    const { server, messages } = await deflateServer();
    const { client } = await open(server);
    client.write(f.binary(deflateMessage(Buffer.alloc(10, 1)), { rsv1: true }));
    client.write(f.binary(Buffer.from([0x07, 0x00, 0x00]), { rsv1: true }));
    expect((await readUntilClose(client)).code).toBe(1007);
    expect(messages.items).toHaveLength(1);
  });

  test('compressed text that inflates to invalid UTF-8 → 1007', async () => {
    const { server } = await deflateServer();
    const { client } = await open(server);
    client.write(f.text(deflateMessage(Buffer.from([0x48, 0xc3, 0x28])), { rsv1: true }));
    expect((await readUntilClose(client)).code).toBe(1007);
  });
});

describe('fragmented compressed messages', () => {
  test('reassembled whatever the split: the wire cut at every byte offset, in two socket writes', async () => {
    const { server, messages } = await deflateServer();
    const { client } = await open(server);
    const text = `Fragmented ${crypto.randomBytes(24).toString('hex')} fragmented fragmented ${'é€😀'.repeat(3)}`;
    const payload = deflateMessage(text);
    const a = Math.floor(payload.length / 3);
    const b = Math.floor((2 * payload.length) / 3);
    // Only the first frame has RSV1; a ping between fragments is allowed (RFC 6455 §5.4).
    const wire = Buffer.concat([
      f.text(payload.subarray(0, a), { rsv1: true, fin: false }),
      f.cont(payload.subarray(a, b), { fin: false }),
      f.ping('mid'),
      f.cont(Buffer.alloc(0), { fin: false }),
      f.cont(payload.subarray(b)),
    ]);
    for (let offset = 1; offset < wire.length; offset++) {
      client.write(wire.subarray(0, offset));
      await delay(1);
      client.write(wire.subarray(offset));
      const message = await messages.next(`the message split at ${offset}`);
      expect({ offset, message }).toEqual({ offset, message: { type: 'utf8', utf8Data: text } });
      const pong = await client.readFrame();
      expect({ offset, opcode: pong.opcode, payload: pong.payload.toString() }).toEqual({ offset, opcode: f.OP.PONG, payload: 'mid' });
    }
  });

  test('a compressed message fragmented into one-byte frames', async () => {
    const { server, messages } = await deflateServer();
    const { client } = await open(server);
    const data = crypto.randomBytes(64);
    const payload = deflateMessage(data);
    const frames = [...payload].map((byte, i) =>
      i === 0 ? f.binary(Buffer.from([byte]), { rsv1: true, fin: payload.length === 1 }) : f.cont(Buffer.from([byte]), { fin: i === payload.length - 1 }),
    );
    client.write(Buffer.concat(frames));
    const message = await messages.next();
    expect(message.type).toBe('binary');
    expectSameBytes((message as { binaryData: Buffer }).binaryData, data);
  });
});

describe('back-to-back compressed messages', () => {
  test('many compressed messages in one write are all delivered, in order', async () => {
    const { server, messages } = await deflateServer();
    const { client } = await open(server);
    const texts = Array.from({ length: 30 }, (_, i) => `message ${i} ${'x'.repeat(i * 50)}`);
    client.write(Buffer.concat(texts.map((t) => f.text(deflateMessage(t), { rsv1: true }))));
    for (const [i, t] of texts.entries()) expect(await messages.next(`message ${i}`)).toEqual({ type: 'utf8', utf8Data: t });
  });

  test('compressed messages arriving one by one while earlier ones inflate are all delivered, in order', async () => {
    const { server, messages } = await deflateServer();
    const { client } = await open(server);
    const texts = Array.from({ length: 40 }, (_, i) => periodicText(300, 10 + (i % 7)));
    for (const t of texts) {
      client.write(f.text(deflateMessage(t), { rsv1: true }));
      await new Promise((resolve) => setImmediate(resolve));
    }
    for (const [i, t] of texts.entries()) {
      const m = await messages.next(`message ${i}`);
      expect({ i, same: m.type === 'utf8' && m.utf8Data === t }).toEqual({ i, same: true });
    }
  });

  test('the connection emits no pause/resume events of its own while inflating', async () => {
    const { server } = await deflateServer();
    const { client, connection } = await open(server);
    // Whatever the connection reports about the socket starting to flow has happened by now.
    await delay(20);
    const flow: string[] = [];
    connection.on('pause', () => flow.push('pause'));
    connection.on('resume', () => flow.push('resume'));
    const received = new Inbox<Message>();
    connection.on('message', (m: Message) => received.push(m));
    // One message at a time: each inflation pauses and resumes the socket internally.
    for (let i = 0; i < 3; i++) {
      client.write(f.text(deflateMessage(`m${i}`), { rsv1: true }));
      await received.next(`message ${i}`);
      await delay(10);
    }
    expect(flow).toEqual([]);
    expect(connection.inputPaused).toBe(false);
  });
});

describe('pause() and resume() around an inflation', () => {
  test('pause() while a message inflates holds the messages after it until resume()', async () => {
    const { server, messages } = await deflateServer({ maxReceivedMessageSize: 64 * 1024 * 1024 });
    const { client, connection } = await open(server);
    // Big enough to take a while to inflate: 32 MiB of zeros.
    const slow = f.binary(deflateMessage(Buffer.alloc(32 * 1024 * 1024)), { rsv1: true });
    let pausedAt = -1;
    connection.socket.once('data', () => {
      // Parsing runs on the next tick and starts the inflation; pause right after that.
      setImmediate(() => {
        pausedAt = messages.items.length;
        connection.pause();
      });
    });
    client.write(Buffer.concat([slow, f.text('after')]));
    const first = await messages.next('the inflated message');
    expect(first.type === 'binary' && first.binaryData.length).toBe(32 * 1024 * 1024);
    expect(pausedAt).toBe(0);
    await delay(100);
    // Paused: the plain message behind it waits.
    expect(messages.items).toHaveLength(1);
    connection.resume();
    expect(await messages.next('the message after resume()')).toEqual({ type: 'utf8', utf8Data: 'after' });
  });
});

describe('decompression bomb (maxReceivedMessageSize limits the inflated size)', () => {
  async function bombTest(frames: Buffer[], config: Partial<ServerConfig>) {
    const { server, messages } = await deflateServer(config);
    const { client } = await open(server);
    const closes = new Inbox<[number, string]>();
    server.ws.on('close', (_c: WebSocketConnection, code: number, desc: string) => closes.push([code, desc]));
    const before = process.memoryUsage();
    let peakArrayBuffers = before.arrayBuffers;
    let peakRss = before.rss;
    const sampler = setInterval(() => {
      const now = process.memoryUsage();
      peakArrayBuffers = Math.max(peakArrayBuffers, now.arrayBuffers);
      peakRss = Math.max(peakRss, now.rss);
    }, 2);
    try {
      client.write(Buffer.concat(frames));
      const close = await readUntilClose(client);
      expect(close.code).toBe(1009);
      expect(close.reason).toBe('Maximum message size exceeded.');
      expect((await closes.next('the server close event'))[0]).toBe(1009);
      await delay(50);
    } finally {
      clearInterval(sampler);
    }
    expect(messages.items).toEqual([]);
    // Generous bounds: inflating the bomb would take at least 100 MB; the limit is 1 MiB.
    expect(peakArrayBuffers - before.arrayBuffers).toBeLessThan(64 * 1024 * 1024);
    expect(peakRss - before.rss).toBeLessThan(200 * 1024 * 1024);
  }

  test('a ~1 MB frame inflating to 1 GB closes with 1009 and memory stays bounded', async () => {
    const bomb = zeroBomb(1000);
    expect(bomb.length).toBeGreaterThan(900 * 1024);
    expect(bomb.length).toBeLessThan(1024 * 1024);
    await bombTest([f.text(bomb, { rsv1: true })], {
      maxReceivedFrameSize: 2 * 1024 * 1024,
      maxReceivedMessageSize: 1024 * 1024,
    });
  });

  test('a bomb split into fragments within the frame limit closes with 1009', async () => {
    const bomb = zeroBomb(100);
    const size = 16 * 1024;
    const frames: Buffer[] = [];
    for (let at = 0; at < bomb.length; at += size) {
      const piece = bomb.subarray(at, at + size);
      const last = at + size >= bomb.length;
      frames.push(at === 0 ? f.binary(piece, { rsv1: true, fin: last }) : f.cont(piece, { fin: last }));
    }
    await bombTest(frames, { maxReceivedMessageSize: 1024 * 1024 });
  });

  test('a message just under the limit is delivered', async () => {
    const { server, messages } = await deflateServer({ maxReceivedMessageSize: 64 * 1024 });
    const { client } = await open(server);
    client.write(f.binary(deflateMessage(Buffer.alloc(64 * 1024, 0x61)), { rsv1: true }));
    const m = await messages.next();
    expect(m.type === 'binary' && m.binaryData.length).toBe(64 * 1024);
  });
});

describe('order', () => {
  test('compressed big text, ping, plain small text: events and replies keep their order', async () => {
    const { server, events } = await deflateServer({}, { echo: true });
    const { client } = await open(server);
    const big = periodicText(500, 20);
    client.write(Buffer.concat([f.text(deflateMessage(big), { rsv1: true }), f.ping('p1'), f.text('small')]));
    // The echo of the big text is compressed asynchronously; the pong and the small echo wait for it.
    const first = await client.readFrame();
    const second = await client.readFrame();
    const third = await client.readFrame();
    expect(events).toEqual([`text:${big.length}`, 'ping', 'text:5']);
    expect([first.opcode, first.rsv1]).toEqual([f.OP.TEXT, true]);
    expect(inflateWithWindow([first.payload], 15, false)[0]!.toString()).toBe(big);
    expect([second.opcode, second.payload.toString()]).toEqual([f.OP.PONG, 'p1']);
    expect([third.opcode, third.rsv1, third.payload.toString()]).toEqual([f.OP.TEXT, false, 'small']);
  });

  test('sends, pings and compressed sends from the server leave in call order', async () => {
    const { server } = await deflateServer();
    const { client, connection } = await open(server);
    const big1 = periodicText(400, 10);
    const big2 = crypto.randomBytes(5000);
    connection.sendUTF(big1);
    connection.ping('a');
    connection.sendUTF('tiny');
    connection.sendBytes(big2);
    connection.sendUTF(periodicText(100, 30), undefined, { compress: false });
    connection.pong('b');
    const frames: f.ParsedFrame[] = [];
    for (let i = 0; i < 6; i++) frames.push(await client.readFrame());
    expect(frames.map((x) => [x.opcode, x.rsv1])).toEqual([
      [f.OP.TEXT, true],
      [f.OP.PING, false],
      [f.OP.TEXT, false],
      [f.OP.BINARY, true],
      [f.OP.TEXT, false],
      [f.OP.PONG, false],
    ]);
    const inflated = inflateWithWindow([frames[0]!.payload, frames[3]!.payload], 15, true);
    expect(inflated[0]!.toString()).toBe(big1);
    expectSameBytes(inflated[1]!, big2);
  });
});

describe('per-send opt-out { compress: false }', () => {
  test('sendUTF, sendBytes and send go out with RSV1 clear; the same data compresses by default', async () => {
    const { server } = await deflateServer();
    const { client, connection } = await open(server);
    const text = periodicText(100, 40);
    const bytes = Buffer.from(periodicText(100, 40));
    const callbacks: string[] = [];
    connection.sendUTF(text, (e?: Error) => callbacks.push(`utf:${e ? 'error' : 'ok'}`), { compress: false });
    connection.sendBytes(bytes, (e?: Error) => callbacks.push(`bytes:${e ? 'error' : 'ok'}`), { compress: false });
    connection.send(text, (e?: Error) => callbacks.push(`send:${e ? 'error' : 'ok'}`), { compress: false });
    connection.send(bytes, undefined, { compress: false });
    connection.sendUTF(text);
    connection.sendBytes(bytes, undefined, { compress: true });
    const frames: f.ParsedFrame[] = [];
    for (let i = 0; i < 6; i++) frames.push(await client.readFrame());
    expect(frames.map((x) => [x.opcode, x.rsv1])).toEqual([
      [f.OP.TEXT, false],
      [f.OP.BINARY, false],
      [f.OP.TEXT, false],
      [f.OP.BINARY, false],
      [f.OP.TEXT, true],
      [f.OP.BINARY, true],
    ]);
    expect(frames[0]!.payload.toString()).toBe(text);
    expectSameBytes(frames[1]!.payload, bytes);
    const inflated = inflateWithWindow([frames[4]!.payload, frames[5]!.payload], 15, true);
    expect(inflated[0]!.toString()).toBe(text);
    expectSameBytes(inflated[1]!, bytes);
    await delay(20);
    expect(callbacks).toEqual(['utf:ok', 'bytes:ok', 'send:ok']);
  });

  test('a fragmented compressed message has RSV1 on its first frame only', async () => {
    const { server } = await deflateServer({ fragmentationThreshold: 1000 });
    const { client, connection } = await open(server);
    const data = crypto.randomBytes(3500);
    connection.sendBytes(data);
    const frames: f.ParsedFrame[] = [];
    for (;;) {
      const frame = await client.readFrame();
      frames.push(frame);
      if (frame.fin) break;
    }
    expect(frames.length).toBeGreaterThan(3);
    expect(frames.map((x) => x.rsv1)).toEqual(frames.map((_, i) => i === 0));
    expect(frames.map((x) => x.opcode)).toEqual(frames.map((_, i) => (i === 0 ? f.OP.BINARY : f.OP.CONT)));
    expectSameBytes(inflateWithWindow([Buffer.concat(frames.map((x) => x.payload))], 15, false)[0]!, data);
  });
});

describe('closing while a compression is in flight', () => {
  test('close() sends the close frame after the messages being compressed', async () => {
    const { server } = await deflateServer();
    const { client, connection } = await open(server);
    const big1 = periodicText(300, 50);
    const big2 = crypto.randomBytes(20000);
    const sent: string[] = [];
    connection.sendUTF(big1, (e?: Error) => sent.push(e ? 'error' : 'ok'));
    connection.sendBytes(big2, (e?: Error) => sent.push(e ? 'error' : 'ok'));
    connection.close(1000, 'bye');
    const { code, reason, before } = await readUntilClose(client);
    expect([code, reason]).toEqual([1000, 'bye']);
    // The incompressible binary message is longer than the 16 KiB fragmentation threshold.
    const wire = wireMessages(before);
    expect(wire.map((m) => [m.opcode, m.rsv1, m.rsv1OnContinuation])).toEqual([
      [f.OP.TEXT, true, false],
      [f.OP.BINARY, true, false],
    ]);
    const inflated = inflateWithWindow(wire.map((m) => m.payload), 15, true);
    expect(inflated[0]!.toString()).toBe(big1);
    expectSameBytes(inflated[1]!, big2);
    expect(sent).toEqual(['ok', 'ok']);
    // Nothing follows the close frame.
    client.write(f.close(1000));
    await client.waitForClose();
    expect(client.unread.length).toBe(0);
  });

  test('a ws client receives the messages, then the close', async () => {
    const { server } = await deflateServer();
    const connected = new Promise<WebSocketConnection>((resolve) => server.ws.once('connect', resolve));
    const ws = await wsClientPeer(server.url, true);
    const connection = await connected;
    const big = periodicText(300, 50);
    connection.sendUTF(big);
    connection.sendUTF(big);
    connection.close(4000, 'done');
    expect((await ws.peer.received.next()).data.toString()).toBe(big);
    expect((await ws.peer.received.next()).data.toString()).toBe(big);
    expect(await ws.peer.closed).toBe(4000);
  });

  test('drop() while compressing sends only the close frame, and no data frame follows it', async () => {
    const { server } = await deflateServer();
    const { client, connection } = await open(server);
    connection.sendUTF(periodicText(300, 50));
    connection.sendUTF(periodicText(300, 50));
    connection.drop(1011, 'gone');
    const { code, before } = await readUntilClose(client);
    expect(code).toBe(1011);
    expect(before).toEqual([]);
    await delay(50);
    expect(f.parseFrames(client.takeUnread()).frames).toEqual([]);
  });

  test('a send whose compression is in flight when the socket closes still gets its callback', async () => {
    const { server } = await deflateServer();
    const { connection } = await open(server);
    const results: Array<Error | undefined | null> = [];
    connection.sendBytes(crypto.randomBytes(200000), (e?: Error) => results.push(e));
    connection.sendBytes(crypto.randomBytes(2000), (e?: Error) => results.push(e));
    connection.socket.destroy();
    await delay(200);
    expect(results).toHaveLength(2);
  });

  test('the socket closing while messages inflate and compress (no context takeover) does not throw', async () => {
    const uncaught: Error[] = [];
    const onUncaught = (e: Error): void => {
      uncaught.push(e);
    };
    // An exception thrown from a zlib callback would crash a real server; record any that escape.
    process.on('uncaughtException', onUncaught);
    try {
      const { server } = await deflateServer({ perMessageDeflate: { serverNoContextTakeover: true, clientNoContextTakeover: true } }, { echo: true });
      for (let round = 0; round < 5; round++) {
        const { client, connection } = await open(server, [['Sec-WebSocket-Extensions', 'permessage-deflate; client_no_context_takeover']]);
        const texts = Array.from({ length: 10 }, () => periodicText(1000, 100));
        client.write(Buffer.concat(texts.map((t) => f.text(deflateMessage(t), { rsv1: true }))));
        connection.sendUTF(periodicText(1000, 100));
        await delay(round);
        client.destroy();
        connection.socket.destroy();
      }
      await delay(200);
    } finally {
      process.removeListener('uncaughtException', onUncaught);
    }
    expect(uncaught.map((e) => e.message)).toEqual([]);
  });
});

describe('without context takeover: small messages inflated and compressed at once, big ones in the thread pool', () => {
  const NO_TAKEOVER_OFFER: Array<[string, string]> = [['Sec-WebSocket-Extensions', 'permessage-deflate; client_no_context_takeover; server_no_context_takeover']];
  const config: Partial<ServerConfig> = { perMessageDeflate: { serverNoContextTakeover: true, clientNoContextTakeover: true }, maxReceivedMessageSize: 4 * 1024 * 1024, fragmentOutgoingMessages: false };

  test('a mix of both, with a ping among them: delivered, echoed and answered in order, every echo compressed', async () => {
    const { server, messages, events } = await deflateServer(config, { echo: true });
    const { client } = await open(server, NO_TAKEOVER_OFFER);
    const small = (i: number): string => `{"n":${i},"name":"Zoë","pad":"${'ab'.repeat(600)}"}`;
    // Inflates to 300 KiB from a few hundred bytes: past what is inflated at once.
    const big = periodicText(1000, 300);
    // Compressed, 70 KiB of random text stays above the 64 KiB done at once in both directions.
    const random = crypto.randomBytes(35 * 1024).toString('hex');
    const sent = [small(0), big, small(1), random, small(2)];
    client.write(
      Buffer.concat([
        f.text(deflateMessage(sent[0]!), { rsv1: true }),
        f.text(deflateMessage(sent[1]!), { rsv1: true }),
        f.ping(Buffer.from('p')),
        f.text(deflateMessage(sent[2]!), { rsv1: true }),
        f.text(deflateMessage(sent[3]!), { rsv1: true }),
        f.text(deflateMessage(sent[4]!), { rsv1: true }),
      ]),
    );
    for (const [i, t] of sent.entries()) {
      const m = await messages.next(`message ${i}`);
      expect({ i, same: m.type === 'utf8' && m.utf8Data === t }).toEqual({ i, same: true });
    }
    expect(events).toEqual([`text:${sent[0]!.length}`, `text:${big.length}`, 'ping', `text:${sent[2]!.length}`, `text:${random.length}`, `text:${sent[4]!.length}`]);
    // The pong leaves in its place, between the echoes of the messages around the ping.
    const echoes: string[] = [];
    while (echoes.length < sent.length + 1) {
      const frame = await client.readFrame();
      if (frame.opcode === f.OP.PONG) {
        echoes.push('pong');
        continue;
      }
      expect({ rsv1: frame.rsv1, fin: frame.fin }).toEqual({ rsv1: true, fin: true });
      echoes.push(zlib.inflateRawSync(Buffer.concat([frame.payload, Buffer.from([0, 0, 0xff, 0xff])]), { finishFlush: zlib.constants.Z_SYNC_FLUSH }).toString());
    }
    expect(echoes).toEqual([sent[0], sent[1], 'pong', sent[2], sent[3], sent[4]]);
  });

  test('bad data and too much output fail the connection as in the thread pool: 1007 and 1009', async () => {
    const { server, messages } = await deflateServer({ ...config, maxReceivedMessageSize: 1000 });
    const bad = await open(server, NO_TAKEOVER_OFFER);
    bad.client.write(f.text(Buffer.from([0xff, 0xff, 0xff, 0xff]), { rsv1: true }));
    expect((await readUntilClose(bad.client)).code).toBe(1007);
    const bomb = await open(server, NO_TAKEOVER_OFFER);
    bomb.client.write(f.text(deflateMessage('x'.repeat(1001)), { rsv1: true }));
    expect((await readUntilClose(bomb.client)).code).toBe(1009);
    const utf8 = await open(server, NO_TAKEOVER_OFFER);
    utf8.client.write(f.text(deflateMessage(Buffer.from([0x48, 0xc3, 0x28])), { rsv1: true }));
    expect((await readUntilClose(utf8.client)).code).toBe(1007);
    expect(messages.items).toEqual([]);
  });
});
