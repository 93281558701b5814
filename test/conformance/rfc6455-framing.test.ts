/**
 * RFC 6455 §5.2 (base framing) and §5.3 (masking), from both ends: our server fed by a raw client,
 * our client fed by a raw server. Replies are checked byte for byte.
 */
import { randomBytes } from 'node:crypto';
import { OP, bothSides, cleanup, encodeFrame, expectFailure, hex, openPair } from './helpers';

afterEach(cleanup);

describe('§5.2 base framing', () => {
  bothSides('text frames at the 7-bit length boundaries (0, 1, 125) and echoes them byte for byte', async (side) => {
    const { peer, log } = await openPair(side);
    const texts = ['', 'a', 'x'.repeat(125)];
    for (const text of texts) {
      peer.send({ opcode: OP.TEXT, payload: text });
      await peer.expectFrame(OP.TEXT, text);
    }
    expect(log.texts).toEqual(texts);
  });

  bothSides('frames with 16-bit lengths (126, 127, 1000, 65535) and answers with the 16-bit form', async (side) => {
    const { peer, log } = await openPair(side, { config: { fragmentOutgoingMessages: false } });
    for (const length of [126, 127, 1000, 65535]) {
      const payload = randomBytes(length);
      peer.send({ opcode: OP.BINARY, payload });
      const echoed = await peer.expectFrame(OP.BINARY, payload);
      // The header of the reply uses 126 + a 16-bit length.
      expect(echoed.raw[1]! & 0x7f).toBe(126);
      expect(echoed.raw.readUInt16BE(2)).toBe(length);
    }
    expect(log.messages.map((m) => (m.data as Buffer).length)).toEqual([126, 127, 1000, 65535]);
  });

  bothSides('a frame with a 64-bit length (65536) and answers with the 64-bit form', async (side) => {
    const { peer, log } = await openPair(side, { config: { fragmentOutgoingMessages: false } });
    const payload = randomBytes(65536);
    peer.send({ opcode: OP.BINARY, payload });
    const echoed = await peer.expectFrame(OP.BINARY, payload);
    expect(echoed.raw.subarray(1, 10).toString('hex')).toBe((side === 'client' ? 'ff' : '7f') + '0000000000010000');
    expect((log.messages[0]!.data as Buffer).equals(payload)).toBe(true);
  });

  bothSides('lengths written in a longer form than needed (accepted, as WebSocket-Node does)', async (side) => {
    const { peer, log } = await openPair(side);
    peer.send({ opcode: OP.TEXT, payload: 'sixteen', lengthForm: 16 });
    await peer.expectFrame(OP.TEXT, 'sixteen');
    peer.send({ opcode: OP.TEXT, payload: 'sixty-four', lengthForm: 64 });
    await peer.expectFrame(OP.TEXT, 'sixty-four');
    expect(log.texts).toEqual(['sixteen', 'sixty-four']);
  });

  bothSides('a 64-bit length with the most significant bit set (1002)', async (side) => {
    const pair = await openPair(side);
    // RFC 6455 §5.2: "the most significant bit MUST be 0". Only the header is sent.
    const header = pair.peer.frame({ opcode: OP.BINARY, lengthForm: 64, length: 0 });
    header[2] = 0x80;
    pair.peer.write(header);
    await expectFailure(pair, 1002, 'Unsupported 64-bit length frame received');
  });

  bothSides('a 64-bit length above 2^32 - 1 is over the frame limit (1009; compat.md "Frame length above 2^53-1")', async (side) => {
    const pair = await openPair(side);
    pair.peer.write(pair.peer.frame({ opcode: OP.BINARY, lengthForm: 64, length: 0x100000000 }));
    await expectFailure(pair, 1009, 'Frame size of 4294967296 bytes exceeds maximum accepted frame size');
  });

  bothSides('several frames in one TCP write and handles them in order', async (side) => {
    const { peer, log } = await openPair(side);
    peer.send(
      { opcode: OP.TEXT, payload: 'one' },
      { opcode: OP.BINARY, payload: [1, 2, 3] },
      { opcode: OP.PING, payload: 'p' },
      { opcode: OP.TEXT, payload: 'two' },
    );
    await peer.expectFrame(OP.TEXT, 'one');
    await peer.expectFrame(OP.BINARY, [1, 2, 3]);
    await peer.expectFrame(OP.PONG, 'p');
    await peer.expectFrame(OP.TEXT, 'two');
    expect(log.messages).toEqual([
      { kind: 'utf8', data: 'one' },
      { kind: 'binary', data: Buffer.from([1, 2, 3]) },
      { kind: 'utf8', data: 'two' },
    ]);
  });

  bothSides('a short text frame split in two writes at every byte offset', async (side) => {
    const { peer, log } = await openPair(side);
    const text = 'Hi κ€😀!';
    const expected: string[] = [];
    const frameLength = peer.frame({ opcode: OP.TEXT, payload: text }).length;
    for (let offset = 1; offset < frameLength; offset++) {
      const frame = peer.frame({ opcode: OP.TEXT, payload: text });
      await peer.writeSplit(frame, [offset]);
      await peer.expectFrame(OP.TEXT, text);
      expected.push(text);
    }
    expect(log.texts).toEqual(expected);
  });

  bothSides('frames with 16- and 64-bit headers split in two writes at every header offset', async (side) => {
    const { peer, log } = await openPair(side, { config: { fragmentOutgoingMessages: false } });
    const payload = randomBytes(300);
    let count = 0;
    for (const lengthForm of [16, 64] as const) {
      const headerLength = (lengthForm === 16 ? 4 : 10) + (side === 'server' ? 4 : 0);
      for (let offset = 1; offset <= headerLength + 1; offset++) {
        await peer.writeSplit(peer.frame({ opcode: OP.BINARY, payload, lengthForm }), [offset]);
        await peer.expectFrame(OP.BINARY, payload);
        count++;
      }
    }
    expect(log.messages).toHaveLength(count);
    for (const message of log.messages) expect((message.data as Buffer).equals(payload)).toBe(true);
  });

  bothSides('a frame one byte per TCP write', async (side) => {
    const { peer, log } = await openPair(side);
    const frame = peer.frame({ opcode: OP.TEXT, payload: 'bytewise κ' });
    await peer.writeSplit(frame, Array.from({ length: frame.length - 1 }, (_, i) => i + 1), 1);
    await peer.expectFrame(OP.TEXT, 'bytewise κ');
    expect(log.texts).toEqual(['bytewise κ']);
  });
});

describe('§5.3 masking', () => {
  bothSides('a frame masked the wrong way for its direction (1002)', async (side) => {
    const pair = await openPair(side);
    // RFC 6455 §5.1: clients mask, servers do not; the receiver fails the connection otherwise.
    const wrong = side === 'server' ? null : hex('37fa213d');
    pair.peer.send({ opcode: OP.TEXT, payload: 'Hello', mask: wrong }, { opcode: OP.TEXT, payload: 'not processed' });
    await expectFailure(
      pair,
      1002,
      side === 'server' ? 'Received an unmasked frame from the client.' : 'Received a masked frame from the server.',
    );
  });

  bothSides('a control frame masked the wrong way for its direction (1002, no pong)', async (side) => {
    const pair = await openPair(side);
    const wrong = side === 'server' ? null : hex('00000000');
    pair.peer.send({ opcode: OP.PING, payload: 'ping', mask: wrong });
    await expectFailure(
      pair,
      1002,
      side === 'server' ? 'Received an unmasked frame from the client.' : 'Received a masked frame from the server.',
    );
  });

  bothSides('a continuation masked the wrong way in the middle of a message (1002)', async (side) => {
    const pair = await openPair(side);
    const wrong = side === 'server' ? null : hex('01020304');
    pair.peer.send({ opcode: OP.TEXT, payload: 'frag', fin: false }, { opcode: OP.CONT, payload: 'ment', mask: wrong });
    await expectFailure(
      pair,
      1002,
      side === 'server' ? 'Received an unmasked frame from the client.' : 'Received a masked frame from the server.',
    );
  });

  bothSides('a long payload cut into TCP writes at offsets of every phase of the mask key', async (side) => {
    const { peer, log } = await openPair(side, { config: { fragmentOutgoingMessages: false } });
    const payload = randomBytes(2000);
    const frame = peer.frame({ opcode: OP.BINARY, payload });
    const start = frame.length - payload.length;
    // Pieces of 1, 2, 3, 5, 7 and 64+ bytes, so unmasking resumes at every key phase and alignment.
    const cuts = [1, 3, 6, 11, 18, 19, 83, 150, 151, 1000, 1997].map((n) => start + n);
    await peer.writeSplit(frame, cuts, 2);
    await peer.expectFrame(OP.BINARY, payload);
    expect((log.messages[0]!.data as Buffer).equals(payload)).toBe(true);
  });

  test('server receives the RFC 6455 §5.7 masked "Hello" sample and answers with the unmasked sample', async () => {
    const { peer, log } = await openPair('server');
    // §5.7: "A single-frame masked text message" and "A single-frame unmasked text message".
    peer.write(hex('818537fa213d7f9f4d5158'));
    const frame = await peer.readFrame();
    expect(frame.raw.toString('hex')).toBe('810548656c6c6f');
    expect(log.texts).toEqual(['Hello']);
  });

  test('client receives the RFC 6455 §5.7 unmasked "Hello" sample and answers with a masked "Hello"', async () => {
    const { peer, log } = await openPair('client');
    peer.write(hex('810548656c6c6f'));
    await peer.expectFrame(OP.TEXT, 'Hello');
    expect(log.texts).toEqual(['Hello']);
  });

  test('server receives frames under any mask key (zero, all ones, random) and never masks its replies', async () => {
    const { peer, log } = await openPair('server');
    const keys = [hex('00000000'), hex('ffffffff'), hex('80808080'), randomBytes(4), randomBytes(4)];
    for (const key of keys) {
      // 37 bytes: the unmasking has to carry the key phase past a word boundary.
      const payload = randomBytes(37);
      peer.send({ opcode: OP.BINARY, payload, mask: key });
      const reply = await peer.readFrame();
      expect(reply.masked).toBe(false);
      expect(reply.raw.toString('hex')).toBe(encodeFrame({ opcode: OP.BINARY, payload, mask: null }).toString('hex'));
    }
    expect(log.messages).toHaveLength(keys.length);
  });

  test('client receives unmasked frames and masks every frame it sends with a fresh key', async () => {
    const { peer, conn } = await openPair('client', { echo: false });
    const keys = new Set<string>();
    for (let i = 0; i < 8; i++) conn.sendUTF(`message ${i}`);
    conn.ping('p');
    conn.sendBytes(Buffer.alloc(40, 0x41));
    for (let i = 0; i < 8; i++) keys.add((await peer.expectFrame(OP.TEXT, `message ${i}`)).maskKey!.toString('hex'));
    keys.add((await peer.expectFrame(OP.PING, 'p')).maskKey!.toString('hex'));
    const binary = await peer.expectFrame(OP.BINARY, Buffer.alloc(40, 0x41));
    keys.add(binary.maskKey!.toString('hex'));
    // RFC 6455 §5.3: a new, unpredictable key per frame. Ten random keys repeat with probability ~1e-8.
    expect(keys.size).toBe(10);
    // The masked bytes on the wire must differ from the plain text (a zero key would leave them equal).
    expect(binary.raw.subarray(6).equals(Buffer.alloc(40, 0x41))).toBe(false);
  });
});
