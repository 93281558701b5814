/**
 * What a server connection does with each malformed or limit-breaking input from a raw client
 * (reference §4.7's table): the 'close' event's exact arguments, the exact close frame sent back,
 * and that nothing after the offending frame is read.
 *
 * Deliberate differences from WebSocket-Node 1.0.35: an empty close frame is reported as 1005 (not
 * 1006); an unmasked client frame fails with 1002; codes that are invalid on the wire (including 1015
 * and 1016-2999) are answered with 1002; the 16-byte per-fragment overhead counts toward
 * maxReceivedMessageSize; text is UTF-8-validated per fragment (fail fast).
 */
import { cleanup, delay, record, startServer, until, type ServerConfig, type WebSocketConnection } from '../helpers/server';
import { openRawConnection, type RawClient } from '../helpers/raw-client';
import * as f from '../helpers/frames';

afterEach(cleanup);

interface Outcome {
  client: RawClient;
  connection: WebSocketConnection;
  closes: unknown[][];
  serverCloses: unknown[][];
  messages: unknown[][];
  errors: unknown[][];
  reply: f.ParsedFrame;
  connectionsLeft: number;
}

/**
 * Sends `bytes` followed, in the same write, by a valid text frame that must never be delivered, and
 * waits for the server's close frame, its FIN, and the 'close' event.
 */
async function sendOffending(bytes: Buffer, config: Partial<ServerConfig> = {}): Promise<Outcome> {
  const server = await startServer({ autoAcceptConnections: true, ...config });
  const { client, connection } = await openRawConnection(server);
  const closes = record(connection, 'close');
  const messages = record(connection, 'message');
  const errors = record(connection, 'error');
  const serverCloses = record(server.ws, 'close');
  client.write(Buffer.concat([bytes, f.text('after the violation')]));
  const reply = await client.readFrame();
  await client.waitForEnd();
  await until(() => closes.length > 0, "the connection's close event");
  // Give a second 'close' or a late 'message' the chance to show up.
  await delay(30);
  expect(serverCloses).toHaveLength(1);
  expect(serverCloses[0]![0]).toBe(connection);
  return { client, connection, closes, serverCloses, messages, errors, reply, connectionsLeft: server.ws.connections.length };
}

function expectFailure(outcome: Outcome, code: number, description: string): void {
  expect(outcome.closes).toEqual([[code, description]]);
  expect(f.hex(outcome.reply.raw)).toBe(f.hex(f.serverClose(code, description)));
  expect(outcome.messages).toEqual([]);
  expect(outcome.errors).toEqual([]);
  expect(outcome.connectionsLeft).toBe(0);
  expect(outcome.client.unread.length).toBe(0);
  expect(outcome.connection.state).toBe('closed');
  expect(outcome.connection.connected).toBe(false);
}

describe('close frames from the peer', () => {
  test("close 1000 + 'bye' → close(1000, 'bye'), reply 88 02 03 e8", async () => {
    const outcome = await sendOffending(f.close(1000, 'bye'));
    expect(outcome.closes).toEqual([[1000, 'bye']]);
    expect(f.hex(outcome.reply.raw)).toBe('88 02 03 e8');
    expect(outcome.messages).toEqual([]);
    expect(outcome.connectionsLeft).toBe(0);
    expect(outcome.connection.closeReasonCode).toBe(1000);
    expect(outcome.connection.closeDescription).toBe('bye');
  });

  test("empty close → close(1005, 'Reason not provided'), reply 1000", async () => {
    const outcome = await sendOffending(f.close());
    expect(outcome.closes).toEqual([[1005, 'Reason not provided']]);
    expect(f.hex(outcome.reply.raw)).toBe('88 02 03 e8');
    expect(outcome.messages).toEqual([]);
  });

  test("1-byte close → close(1005, 'Reason not provided'), reply 1002", async () => {
    const outcome = await sendOffending(f.frame({ opcode: f.OP.CLOSE, payload: Buffer.from([0x03]) }));
    expect(outcome.closes).toEqual([[1005, 'Reason not provided']]);
    expect(f.hex(outcome.reply.raw)).toBe('88 02 03 ea');
    expect(outcome.messages).toEqual([]);
  });

  test('close 3000 without reason → close(3000, undefined), reply 1000', async () => {
    const outcome = await sendOffending(f.close(3000));
    expect(outcome.closes).toEqual([[3000, undefined]]);
    expect(f.hex(outcome.reply.raw)).toBe('88 02 03 e8');
  });

  test.each([1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4000, 4999])(
    'valid code %i is reported and answered with 1000',
    async (code) => {
      const outcome = await sendOffending(f.close(code, 'why'));
      expect(outcome.closes).toEqual([[code, 'why']]);
      expect(f.hex(outcome.reply.raw)).toBe('88 02 03 e8');
    },
  );

  test.each([0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535])(
    'code %i, invalid on the wire, is answered with 1002',
    async (code) => {
      const outcome = await sendOffending(f.close(code));
      expect(f.hex(outcome.reply.raw)).toBe('88 02 03 ea');
      // compat: the received code is still what 'close' reports (reference §4.7).
      expect(outcome.closes).toHaveLength(1);
      expect(outcome.closes[0]![0]).toBe(code);
      expect(outcome.messages).toEqual([]);
    },
  );

  test('a close reason that is not UTF-8 → 1007', async () => {
    const payload = Buffer.concat([f.closeBody(1000), Buffer.from([0xff, 0xfe])]);
    const outcome = await sendOffending(f.frame({ opcode: f.OP.CLOSE, payload }));
    expectFailure(outcome, 1007, 'Invalid UTF-8 Data Received');
  });

  test('a close in the middle of a fragmented message: no message, normal close', async () => {
    const outcome = await sendOffending(Buffer.concat([f.text('part', { fin: false }), f.close(1000, 'mid')]));
    expect(outcome.closes).toEqual([[1000, 'mid']]);
    expect(f.hex(outcome.reply.raw)).toBe('88 02 03 e8');
    expect(outcome.messages).toEqual([]);
  });

  test('a close with the longest legal reason (123 bytes)', async () => {
    const reason = 'r'.repeat(123);
    const outcome = await sendOffending(f.close(4000, reason));
    expect(outcome.closes).toEqual([[4000, reason]]);
    expect(f.hex(outcome.reply.raw)).toBe('88 02 03 e8');
  });

  test('a close arriving byte by byte is handled the same', async () => {
    const server = await startServer({ autoAcceptConnections: true });
    const { client, connection } = await openRawConnection(server);
    const closes = record(connection, 'close');
    await client.writeBytewise(f.close(4001, 'slow'));
    expect(f.hex((await client.readFrame()).raw)).toBe('88 02 03 e8');
    await until(() => closes.length > 0, 'close');
    expect(closes).toEqual([[4001, 'slow']]);
  });
});

describe('limits', () => {
  test('1001-byte frame with maxReceivedFrameSize 1000 → 1009 with text', async () => {
    const outcome = await sendOffending(f.binary(Buffer.alloc(1001, 1)), { maxReceivedFrameSize: 1000 });
    expectFailure(outcome, 1009, 'Frame size of 1001 bytes exceeds maximum accepted frame size');
  });

  test('a 1000-byte frame with maxReceivedFrameSize 1000 is delivered', async () => {
    const server = await startServer({ autoAcceptConnections: true, maxReceivedFrameSize: 1000 });
    const { client, connection } = await openRawConnection(server);
    const messages = record<[{ binaryData: Buffer }]>(connection, 'message');
    client.write(f.binary(Buffer.alloc(1000, 2)));
    await until(() => messages.length > 0, 'message');
    expect(messages[0]![0].binaryData).toEqual(Buffer.alloc(1000, 2));
  });

  test('the frame size is checked from the header, before any payload arrives', async () => {
    const server = await startServer({ autoAcceptConnections: true, maxReceivedFrameSize: 1000 });
    const { client, connection } = await openRawConnection(server);
    const closes = record(connection, 'close');
    const header = f.binary(Buffer.alloc(5000)).subarray(0, 8); // 2 + 2 (length) + 4 (mask key)
    client.write(header);
    const reply = await client.readFrame();
    expect(f.hex(reply.raw)).toBe(f.hex(f.serverClose(1009, 'Frame size of 5000 bytes exceeds maximum accepted frame size')));
    expect(closes).toEqual([[1009, 'Frame size of 5000 bytes exceeds maximum accepted frame size']]);
  });

  test('a 64-bit length of 2^32 → 1009', async () => {
    const outcome = await sendOffending(f.frame({ opcode: f.OP.BINARY, payload: '', lengthOverride: 2 ** 32 }));
    expectFailure(outcome, 1009, 'Frame size of 4294967296 bytes exceeds maximum accepted frame size');
  });

  test('fragments totalling 1600 with maxReceivedMessageSize 1500 → 1009', async () => {
    const outcome = await sendOffending(
      Buffer.concat([f.binary(Buffer.alloc(800), { fin: false }), f.cont(Buffer.alloc(800))]),
      { maxReceivedMessageSize: 1500 },
    );
    expectFailure(outcome, 1009, 'Maximum message size exceeded.');
  });

  test('the 16-byte per-fragment overhead counts: 2 fragments totalling 1480 exceed 1500', async () => {
    const outcome = await sendOffending(
      Buffer.concat([f.binary(Buffer.alloc(740), { fin: false }), f.cont(Buffer.alloc(740))]),
      { maxReceivedMessageSize: 1500 },
    );
    expectFailure(outcome, 1009, 'Maximum message size exceeded.');
  });

  test('a flood of empty fragments is bounded by maxReceivedMessageSize', async () => {
    const fragments = [f.text('', { fin: false })];
    for (let i = 0; i < 200; i++) fragments.push(f.cont('', { fin: false }));
    const outcome = await sendOffending(Buffer.concat(fragments), { maxReceivedMessageSize: 1500 });
    expectFailure(outcome, 1009, 'Maximum message size exceeded.');
  });

  test('fragments within limit plus overhead are delivered (2 × 700 + 32 ≤ 1500)', async () => {
    const server = await startServer({ autoAcceptConnections: true, maxReceivedMessageSize: 1500 });
    const { client, connection } = await openRawConnection(server);
    const messages = record<[{ binaryData: Buffer }]>(connection, 'message');
    client.write(Buffer.concat([f.binary(Buffer.alloc(700, 1), { fin: false }), f.cont(Buffer.alloc(700, 2))]));
    await until(() => messages.length > 0, 'message');
    expect(messages[0]![0].binaryData).toEqual(Buffer.concat([Buffer.alloc(700, 1), Buffer.alloc(700, 2)]));
  });

  test('a single-frame message is limited by the frame size only (compat)', async () => {
    const server = await startServer({ autoAcceptConnections: true, maxReceivedMessageSize: 1500 });
    const { client, connection } = await openRawConnection(server);
    const messages = record<[{ binaryData: Buffer }]>(connection, 'message');
    client.write(f.binary(Buffer.alloc(1600, 3)));
    await until(() => messages.length > 0, 'message');
    expect(messages[0]![0].binaryData.length).toBe(1600);
  });
});

describe('UTF-8', () => {
  test('text FF FE → 1007', async () => {
    const outcome = await sendOffending(f.text(Buffer.from([0xff, 0xfe])));
    expectFailure(outcome, 1007, 'Invalid UTF-8 Data Received');
  });

  test('a bad first fragment fails at once, without waiting for the rest of the message', async () => {
    const outcome = await sendOffending(f.text(Buffer.from([0x61, 0xc0, 0xaf]), { fin: false }));
    expectFailure(outcome, 1007, 'Invalid UTF-8 Data Received');
  });

  test.each([
    ['overlong NUL', [0xc0, 0x80]],
    ['UTF-16 surrogate', [0xed, 0xa0, 0x80]],
    ['above U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
    ['5-byte form', [0xf8, 0x88, 0x80, 0x80, 0x80]],
    ['lone continuation byte', [0x80]],
  ])('%s in a text frame → 1007', async (_label, bytes) => {
    const outcome = await sendOffending(f.text(Buffer.from([0x61, ...bytes, 0x62])));
    expectFailure(outcome, 1007, 'Invalid UTF-8 Data Received');
  });

  test('a bad middle fragment fails before the final fragment arrives', async () => {
    const outcome = await sendOffending(Buffer.concat([f.text('ok', { fin: false }), f.cont(Buffer.from([0xff]), { fin: false })]));
    expectFailure(outcome, 1007, 'Invalid UTF-8 Data Received');
  });

  test('a message ending inside a character → 1007', async () => {
    const outcome = await sendOffending(Buffer.concat([f.text(Buffer.from([0xe2, 0x82]), { fin: false }), f.cont('')]));
    expectFailure(outcome, 1007, 'Invalid UTF-8 Data Received');
  });

  test('a character split across fragments is fine', async () => {
    const server = await startServer({ autoAcceptConnections: true });
    const { client, connection } = await openRawConnection(server);
    const messages = record(connection, 'message');
    const euro = Buffer.from('€', 'utf8');
    client.write(Buffer.concat([f.text(euro.subarray(0, 1), { fin: false }), f.cont(euro.subarray(1, 2), { fin: false }), f.cont(euro.subarray(2))]));
    await until(() => messages.length > 0, 'message');
    expect(messages).toEqual([[{ type: 'utf8', utf8Data: '€' }]]);
  });
});

describe('framing violations → 1002', () => {
  test.each([
    ['RSV1', { rsv1: true }],
    ['RSV2', { rsv2: true }],
    ['RSV3', { rsv3: true }],
  ])('%s set', async (_label, bits) => {
    const outcome = await sendOffending(f.text('x', bits));
    expectFailure(outcome, 1002, 'Unsupported usage of rsv bits without negotiated extension.');
  });

  test.each([3, 7, 0xb, 0xf])('opcode %i', async (opcode) => {
    const outcome = await sendOffending(f.frame({ opcode, payload: 'x' }));
    expectFailure(outcome, 1002, `Unrecognized Opcode: 0x${opcode.toString(16)}`);
  });

  test('unexpected continuation', async () => {
    const outcome = await sendOffending(f.cont('x'));
    expectFailure(outcome, 1002, 'Unexpected Continuation Frame');
  });

  test('text inside a fragmented message', async () => {
    const outcome = await sendOffending(Buffer.concat([f.text('a', { fin: false }), f.text('b')]));
    expectFailure(outcome, 1002, 'Illegal frame opcode 0x1 received in middle of fragmented message.');
  });

  test('binary inside a fragmented text message', async () => {
    const outcome = await sendOffending(Buffer.concat([f.text('a', { fin: false }), f.binary(Buffer.from('b'))]));
    expectFailure(outcome, 1002, 'Illegal frame opcode 0x2 received in middle of fragmented message.');
  });

  test('fragmented ping', async () => {
    const outcome = await sendOffending(f.ping('p', { fin: false }));
    expectFailure(outcome, 1002, 'Control frames must not be fragmented.');
  });

  test('control frame longer than 125 bytes', async () => {
    const outcome = await sendOffending(f.ping(Buffer.alloc(126)));
    expectFailure(outcome, 1002, 'Illegal control frame longer than 125 bytes.');
  });

  test('64-bit length with the most significant bit set', async () => {
    const outcome = await sendOffending(f.frame({ opcode: f.OP.BINARY, payload: '', highWord: 0x80000000, lengthOverride: 0 }));
    expectFailure(outcome, 1002, 'Unsupported 64-bit length frame received');
  });

  test('an unmasked client frame fails with 1002', async () => {
    const outcome = await sendOffending(f.text('plain', { mask: false }));
    expect(outcome.closes).toHaveLength(1);
    expect(outcome.closes[0]![0]).toBe(1002);
    const description = outcome.closes[0]![1] as string;
    expect(typeof description).toBe('string');
    expect(f.hex(outcome.reply.raw)).toBe(f.hex(f.serverClose(1002, description)));
    expect(outcome.messages).toEqual([]);
  });

  test('a violation arriving byte by byte after a good message', async () => {
    const server = await startServer({ autoAcceptConnections: true });
    const { client, connection } = await openRawConnection(server);
    const closes = record(connection, 'close');
    const messages = record(connection, 'message');
    await client.writeBytewise(Buffer.concat([f.text('ok'), f.frame({ opcode: 3, payload: 'x' })]));
    const reply = await client.readFrame();
    await until(() => closes.length > 0, 'close');
    expect(messages).toEqual([[{ type: 'utf8', utf8Data: 'ok' }]]);
    expect(closes).toEqual([[1002, 'Unrecognized Opcode: 0x3']]);
    expect(f.hex(reply.raw)).toBe(f.hex(f.serverClose(1002, 'Unrecognized Opcode: 0x3')));
  });

  test('after the violation nothing more is read, even data sent later', async () => {
    const server = await startServer({ autoAcceptConnections: true });
    const { client, connection } = await openRawConnection(server, {}, { allowHalfOpen: true });
    const messages = record(connection, 'message');
    const pongs = record(connection, 'pong');
    client.write(f.cont('x'));
    await client.readFrame();
    // The server has half-closed; our side is still writable.
    client.write(Buffer.concat([f.text('late'), f.pong('late'), f.ping('late')]));
    await delay(50);
    expect(messages).toEqual([]);
    expect(pongs).toEqual([]);
    expect(client.unread.length).toBe(0);
  });
});
