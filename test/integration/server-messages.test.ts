/**
 * Data flow through a server connection: echo with `ws` and with the raw client (exact bytes both
 * ways), reassembly of fragmented messages, bytes sent together with the upgrade request (a
 * deliberate difference: upstream dropped them), byte-by-byte input and assembleFragments:false.
 */
import {
  cleanup,
  delay,
  record,
  startServer,
  until,
  wsClient,
  wsMessage,
  type ServerConfig,
  type WebSocketConnection,
  type WebSocketRequest,
} from '../helpers/server';
import { buildHandshake, openRawConnection, RawClient } from '../helpers/raw-client';
import * as f from '../helpers/frames';

afterEach(cleanup);

type Message = { type: 'utf8'; utf8Data: string } | { type: 'binary'; binaryData: Buffer };

/** A server that echoes every message back as it came. */
async function echoServer(config: Partial<ServerConfig> = {}) {
  const server = await startServer({ autoAcceptConnections: true, ...config });
  server.ws.on('connect', (connection: WebSocketConnection) => {
    connection.on('message', (message: Message) => {
      if (message.type === 'utf8') connection.sendUTF(message.utf8Data);
      else connection.sendBytes(message.binaryData);
    });
  });
  return server;
}

describe('echo with ws', () => {
  test('text, binary, empty text, empty binary, non-ASCII', async () => {
    const server = await echoServer();
    const client = await wsClient(server.url);
    const cases: Array<[string | Buffer, boolean]> = [
      ['hello', false],
      [Buffer.from([0, 1, 2, 255]), true],
      ['', false],
      [Buffer.alloc(0), true],
      ['héllo wörld €𝄞', false],
    ];
    for (const [data, binary] of cases) {
      const reply = wsMessage(client);
      client.send(data, { binary });
      const { data: got, isBinary } = await reply;
      expect(isBinary).toBe(binary);
      expect(got).toEqual(Buffer.isBuffer(data) ? data : Buffer.from(data, 'utf8'));
    }
  });

  test('a 300 kB message both ways (ws sends one frame; the server fragments at 16 KiB)', async () => {
    const server = await echoServer({ maxReceivedFrameSize: 0x100000 });
    const client = await wsClient(server.url);
    const data = Buffer.alloc(300 * 1024);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
    const reply = wsMessage(client);
    client.send(data);
    const { data: got, isBinary } = await reply;
    expect(isBinary).toBe(true);
    expect(got.equals(data)).toBe(true);
  });

  test('many messages keep their order', async () => {
    const server = await echoServer();
    const client = await wsClient(server.url);
    const got: string[] = [];
    client.on('message', (data: Buffer) => got.push(data.toString()));
    for (let i = 0; i < 200; i++) client.send(`m${i}`);
    await until(() => got.length === 200, '200 echoes');
    expect(got).toEqual(Array.from({ length: 200 }, (_, i) => `m${i}`));
  });
});

describe('echo with the raw client', () => {
  test.each([
    ['text', f.text('hi'), { type: 'utf8', utf8Data: 'hi' }, '81 02 68 69'],
    ['binary', f.binary(Buffer.from([1, 2, 3])), { type: 'binary', binaryData: Buffer.from([1, 2, 3]) }, '82 03 01 02 03'],
    ['empty text', f.text(''), { type: 'utf8', utf8Data: '' }, '81 00'],
    ['empty binary', f.binary(Buffer.alloc(0)), { type: 'binary', binaryData: Buffer.alloc(0) }, '82 00'],
  ])('%s: exact message event and exact unmasked reply', async (_label, sent, message, replyHex) => {
    const server = await echoServer();
    const { client, connection } = await openRawConnection(server);
    const messages = record(connection, 'message');
    client.write(sent);
    const reply = await client.readFrame();
    expect(messages).toEqual([[message]]);
    expect(f.hex(reply.raw)).toBe(replyHex);
  });

  test('length encodings of server frames: 7-bit, 16-bit, 64-bit', async () => {
    const server = await startServer({ autoAcceptConnections: true, fragmentOutgoingMessages: false });
    const { client, connection } = await openRawConnection(server);
    connection.sendBytes(Buffer.alloc(125, 1));
    connection.sendBytes(Buffer.alloc(200, 2));
    connection.sendBytes(Buffer.alloc(70000, 3));
    const a = await client.readFrame();
    const b = await client.readFrame();
    const c = await client.readFrame();
    expect(f.hex(a.raw.subarray(0, 2))).toBe('82 7d');
    expect(f.hex(b.raw.subarray(0, 4))).toBe('82 7e 00 c8');
    expect(f.hex(c.raw.subarray(0, 10))).toBe('82 7f 00 00 00 00 00 01 11 70');
    expect([a.masked, b.masked, c.masked]).toEqual([false, false, false]);
    expect(c.payload.equals(Buffer.alloc(70000, 3))).toBe(true);
  });

  test('long non-ASCII text echoed as received: the same bytes go back, whole or fragmented, and a look-alike text is its own', async () => {
    const server = await echoServer();
    const { client, connection } = await openRawConnection(server);
    const readMessage = async (): Promise<Buffer> => {
      const pieces: Buffer[] = [];
      for (;;) {
        const frame = await client.readFrame();
        pieces.push(frame.payload);
        if (frame.fin) return Buffer.concat(pieces);
      }
    };
    // 3,000 B (copied next to its header), 12,000 B (header and payload apart), 40,000 B (fragmented at 16 KiB).
    const texts = [3000, 12000, 40000].map((bytes) => 'ĀāĂă漢字😀 '.repeat(Math.ceil(bytes / 21)).slice(0, bytes / 3));
    for (const text of texts) {
      client.write(f.text(Buffer.from(text)));
      expect((await readMessage()).equals(Buffer.from(text))).toBe(true);
    }
    // A text of the same length as the last one received, but not equal to it, is encoded for itself.
    const lookalike = 'x' + texts[2]!.slice(1);
    connection.sendUTF(lookalike);
    expect((await readMessage()).equals(Buffer.from(lookalike))).toBe(true);
  });

  test('a client frame with a 16-bit and a 64-bit length is read', async () => {
    const server = await startServer({ autoAcceptConnections: true, maxReceivedFrameSize: 0x100000 });
    const { client, connection } = await openRawConnection(server);
    const messages = record<[Message]>(connection, 'message');
    client.write(Buffer.concat([f.binary(Buffer.alloc(300, 4)), f.binary(Buffer.alloc(70000, 5))]));
    await until(() => messages.length === 2, 'two messages');
    expect(messages[0]![0]).toEqual({ type: 'binary', binaryData: Buffer.alloc(300, 4) });
    const big = messages[1]![0] as { type: string; binaryData: Buffer };
    expect(big.type).toBe('binary');
    // Buffer.equals: jest's deep equality walks 70000 elements one by one.
    expect(big.binaryData.equals(Buffer.alloc(70000, 5))).toBe(true);
  });

  test('frames written one byte at a time', async () => {
    const server = await startServer({ autoAcceptConnections: true });
    const { client, connection } = await openRawConnection(server);
    const messages = record(connection, 'message');
    await client.writeBytewise(Buffer.concat([f.text('byte by byte'), f.binary(Buffer.from([9, 8, 7]))]), 0);
    await until(() => messages.length === 2, 'two messages');
    expect(messages).toEqual([[{ type: 'utf8', utf8Data: 'byte by byte' }], [{ type: 'binary', binaryData: Buffer.from([9, 8, 7]) }]]);
  });

  test('many frames in one write are all delivered, in order', async () => {
    const server = await startServer({ autoAcceptConnections: true });
    const { client, connection } = await openRawConnection(server);
    const messages = record<[{ utf8Data: string }]>(connection, 'message');
    client.write(Buffer.concat(Array.from({ length: 100 }, (_, i) => f.text(`n${i}`))));
    await until(() => messages.length === 100, '100 messages');
    expect(messages.map(([m]) => m.utf8Data)).toEqual(Array.from({ length: 100 }, (_, i) => `n${i}`));
  });

  test('message events are not emitted synchronously from the socket data event', async () => {
    const server = await startServer({ autoAcceptConnections: true });
    const { client, connection } = await openRawConnection(server);
    const messages = record(connection, 'message');
    let seenInDataHandler = -1;
    connection.socket.on('data', () => {
      seenInDataHandler = messages.length;
    });
    client.write(f.text('x'));
    await until(() => messages.length === 1, 'message');
    expect(seenInDataHandler).toBe(0);
  });
});

describe('fragmented messages', () => {
  test('text in three fragments with a ping in the middle: pong first, then one message', async () => {
    const server = await startServer({ autoAcceptConnections: true });
    const { client, connection } = await openRawConnection(server);
    const messages = record(connection, 'message');
    client.write(Buffer.concat([f.text('Hel', { fin: false }), f.ping('p'), f.cont('lo', { fin: false }), f.cont('!')]));
    const pong = await client.readFrame();
    expect(f.hex(pong.raw)).toBe('8a 01 70');
    await until(() => messages.length === 1, 'message');
    await delay(20);
    expect(messages).toEqual([[{ type: 'utf8', utf8Data: 'Hello!' }]]);
  });

  test('binary fragments, sent in separate writes', async () => {
    const server = await startServer({ autoAcceptConnections: true });
    const { client, connection } = await openRawConnection(server);
    const messages = record(connection, 'message');
    client.write(f.binary(Buffer.from([1, 2]), { fin: false }));
    await delay(10);
    client.write(f.cont(Buffer.from([3]), { fin: false }));
    await delay(10);
    expect(messages).toEqual([]);
    client.write(f.cont(Buffer.from([4, 5])));
    await until(() => messages.length === 1, 'message');
    expect(messages).toEqual([[{ type: 'binary', binaryData: Buffer.from([1, 2, 3, 4, 5]) }]]);
  });

  test('fragments with empty payloads, then another message', async () => {
    const server = await startServer({ autoAcceptConnections: true });
    const { client, connection } = await openRawConnection(server);
    const messages = record(connection, 'message');
    client.write(Buffer.concat([f.text('', { fin: false }), f.cont('', { fin: false }), f.cont('a'), f.text('b')]));
    await until(() => messages.length === 2, 'two messages');
    expect(messages).toEqual([[{ type: 'utf8', utf8Data: 'a' }], [{ type: 'utf8', utf8Data: 'b' }]]);
  });

  test('ws receives a fragmented server message as one', async () => {
    const server = await startServer({ autoAcceptConnections: true, fragmentationThreshold: 4 });
    const connected = new Promise<WebSocketConnection>((resolve) => server.ws.once('connect', resolve));
    const client = await wsClient(server.url);
    const connection = await connected;
    const reply = wsMessage(client);
    connection.sendUTF('fragmented message');
    expect((await reply).data.toString()).toBe('fragmented message');
  });
});

describe('bytes sent with the upgrade request (head)', () => {
  test('a frame in the same write as the handshake is delivered (autoAccept)', async () => {
    const server = await startServer({ autoAcceptConnections: true });
    const connects: WebSocketConnection[] = [];
    const messages: unknown[] = [];
    server.ws.on('connect', (connection: WebSocketConnection) => {
      connects.push(connection);
      connection.on('message', (m: unknown) => messages.push(m));
    });
    const { client, response } = await RawClient.open(server.port, {}, Buffer.concat([f.text('early'), f.ping('e')]));
    expect(response).toMatch(/^HTTP\/1\.1 101 /);
    expect(f.hex((await client.readFrame()).raw)).toBe('8a 01 65');
    await until(() => messages.length === 1, 'message');
    expect(messages).toEqual([{ type: 'utf8', utf8Data: 'early' }]);
  });

  test('head bytes wait for a delayed accept and are completed by later bytes', async () => {
    const server = await startServer();
    const requests: WebSocketRequest[] = [];
    server.ws.on('request', (request: WebSocketRequest) => requests.push(request));
    const partial = f.text('third');
    const head = Buffer.concat([f.text('first'), f.binary(Buffer.from([2])), partial.subarray(0, 4)]);
    const client = await RawClient.connect(server.port);
    client.write(Buffer.concat([Buffer.from(buildHandshake(), 'latin1'), head]));
    await until(() => requests.length === 1, 'request');
    await delay(30);
    const connection = requests[0]!.accept();
    const messages = record(connection, 'message');
    expect(await client.readHead()).toMatch(/^HTTP\/1\.1 101 /);
    await until(() => messages.length === 2, 'the two head messages');
    client.write(partial.subarray(4));
    await until(() => messages.length === 3, 'the third message');
    expect(messages).toEqual([
      [{ type: 'utf8', utf8Data: 'first' }],
      [{ type: 'binary', binaryData: Buffer.from([2]) }],
      [{ type: 'utf8', utf8Data: 'third' }],
    ]);
  });

  test('an offending frame in the head fails the connection like any other', async () => {
    const server = await startServer({ autoAcceptConnections: true });
    const closes: unknown[][] = [];
    server.ws.on('close', (_c: unknown, code: unknown, desc: unknown) => closes.push([code, desc]));
    const { client } = await RawClient.open(server.port, {}, f.cont('x'));
    expect(f.hex((await client.readFrame()).raw)).toBe(f.hex(f.serverClose(1002, 'Unexpected Continuation Frame')));
    await until(() => closes.length === 1, 'close');
    expect(closes).toEqual([[1002, 'Unexpected Continuation Frame']]);
  });
});

describe('assembleFragments: false', () => {
  test("every frame, control frames included, is a 'frame' event; no 'message'", async () => {
    const server = await startServer({ autoAcceptConnections: true, assembleFragments: false });
    const { client, connection } = await openRawConnection(server);
    const frames: Array<Record<string, unknown>> = [];
    connection.on('frame', (frame: { opcode: number; fin: boolean; mask: boolean; length: number; binaryPayload: Buffer; closeStatus: number }) =>
      frames.push({
        opcode: frame.opcode,
        fin: frame.fin,
        mask: frame.mask,
        length: frame.length,
        payload: Buffer.from(frame.binaryPayload).toString(),
        ...(frame.opcode === 8 ? { closeStatus: frame.closeStatus } : {}),
      }),
    );
    const messages = record(connection, 'message');
    const closes = record(connection, 'close');
    client.write(
      Buffer.concat([
        f.text('ab', { fin: false }),
        f.cont('cd'),
        f.binary(Buffer.from('whole')),
        f.ping('p'),
        f.pong('q'),
        f.close(1000, 'bye'),
      ]),
    );
    expect(f.hex((await client.readFrame()).raw)).toBe('8a 01 70');
    expect(f.hex((await client.readFrame()).raw)).toBe('88 02 03 e8');
    await until(() => closes.length === 1, 'close');
    expect(frames).toEqual([
      { opcode: 1, fin: false, mask: true, length: 2, payload: 'ab' },
      { opcode: 0, fin: true, mask: true, length: 2, payload: 'cd' },
      { opcode: 2, fin: true, mask: true, length: 5, payload: 'whole' },
      { opcode: 9, fin: true, mask: true, length: 1, payload: 'p' },
      { opcode: 10, fin: true, mask: true, length: 1, payload: 'q' },
      { opcode: 8, fin: true, mask: true, length: 5, payload: 'bye', closeStatus: 1000 },
    ]);
    expect(messages).toEqual([]);
    expect(closes).toEqual([[1000, 'bye']]);
  });

  test('no reassembly rules apply: a lone continuation and invalid UTF-8 are just frames', async () => {
    const server = await startServer({ autoAcceptConnections: true, assembleFragments: false });
    const { client, connection } = await openRawConnection(server);
    const frames = record<[{ opcode: number }]>(connection, 'frame');
    const closes = record(connection, 'close');
    client.write(Buffer.concat([f.cont('x'), f.text(Buffer.from([0xff]))]));
    await until(() => frames.length === 2, 'two frames');
    await delay(20);
    expect(frames.map(([fr]) => fr.opcode)).toEqual([0, 1]);
    expect(closes).toEqual([]);
  });
});
