/**
 * RFC 6455 §5.6 (data frames), §5.2 opcodes and reserved bits, and §8.1 (UTF-8 in text messages,
 * including invalid sequences split across frames and across TCP chunks), from both ends.
 */
import { OP, bothSides, cleanup, expectFailure, hex, openPair, type Pair, type Side } from './helpers';

afterEach(cleanup);

const INVALID_UTF8 = 'Invalid UTF-8 Data Received';
const RSV_REASON = 'Unsupported usage of rsv bits without negotiated extension.';

describe('§5.6 data frames and opcodes', () => {
  bothSides("text and binary frames as 'utf8' and 'binary' messages, echoed with the same opcode", async (side) => {
    const { peer, log } = await openPair(side);
    const everyByte = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    peer.send({ opcode: OP.TEXT, payload: 'plain text' }, { opcode: OP.BINARY, payload: everyByte });
    await peer.expectFrame(OP.TEXT, 'plain text');
    await peer.expectFrame(OP.BINARY, everyByte);
    expect(log.messages).toEqual([
      { kind: 'utf8', data: 'plain text' },
      { kind: 'binary', data: everyByte },
    ]);
  });

  bothSides('empty text and empty binary messages', async (side) => {
    const { peer, log } = await openPair(side);
    peer.send({ opcode: OP.TEXT, payload: '' }, { opcode: OP.BINARY, payload: '' });
    await peer.expectFrame(OP.TEXT, '');
    await peer.expectFrame(OP.BINARY, '');
    expect(log.messages).toEqual([
      { kind: 'utf8', data: '' },
      { kind: 'binary', data: Buffer.alloc(0) },
    ]);
  });

  // RFC 6455 §5.2: 0x3-0x7 are reserved for further non-control frames, 0xB-0xF for control frames.
  for (const opcode of [0x3, 0x4, 0x5, 0x6, 0x7, 0xb, 0xc, 0xd, 0xe, 0xf]) {
    bothSides(`reserved opcode 0x${opcode.toString(16)} (1002)`, async (side) => {
      const pair = await openPair(side);
      pair.peer.send({ opcode, payload: 'reserved' }, { opcode: OP.TEXT, payload: 'not processed' });
      await expectFailure(pair, 1002, `Unrecognized Opcode: 0x${opcode.toString(16)}`);
    });
  }

  bothSides('a reserved opcode header and fails before its payload arrives', async (side) => {
    const pair = await openPair(side);
    pair.peer.write(pair.peer.frame({ opcode: 0x5, length: 100 }));
    await expectFailure(pair, 1002, 'Unrecognized Opcode: 0x5');
  });

  bothSides('reserved non-control opcode 0x3 in the middle of a fragmented message (1002)', async (side) => {
    const pair = await openPair(side);
    pair.peer.send({ opcode: OP.TEXT, payload: 'a', fin: false }, { opcode: 0x3, payload: 'b' });
    await expectFailure(pair, 1002, 'Illegal frame opcode 0x3 received in middle of fragmented message.');
  });

  bothSides('reserved control opcode 0xb in the middle of a fragmented message (1002)', async (side) => {
    const pair = await openPair(side);
    pair.peer.send({ opcode: OP.BINARY, payload: 'a', fin: false }, { opcode: 0xb, payload: 'b' });
    await expectFailure(pair, 1002, 'Unrecognized Opcode: 0xb');
  });
});

describe('§5.2 reserved bits', () => {
  const cases: Array<[string, { rsv1?: boolean; rsv2?: boolean; rsv3?: boolean }]> = [
    ['RSV1', { rsv1: true }],
    ['RSV2', { rsv2: true }],
    ['RSV3', { rsv3: true }],
    ['all three RSV bits', { rsv1: true, rsv2: true, rsv3: true }],
  ];
  for (const [name, bits] of cases) {
    bothSides(`a text frame with ${name} set and no extension negotiated (1002)`, async (side) => {
      const pair = await openPair(side);
      pair.peer.send({ opcode: OP.TEXT, payload: 'rsv', ...bits });
      await expectFailure(pair, 1002, RSV_REASON);
    });
  }

  bothSides('a ping with RSV2 set (1002, no pong)', async (side) => {
    const pair = await openPair(side);
    pair.peer.send({ opcode: OP.PING, payload: 'p', rsv2: true });
    await expectFailure(pair, 1002, RSV_REASON);
  });

  bothSides('a close with RSV1 set (1002, not a clean close)', async (side) => {
    const pair = await openPair(side);
    pair.peer.send({ opcode: OP.CLOSE, payload: [0x03, 0xe8], rsv1: true });
    await expectFailure(pair, 1002, RSV_REASON);
  });

  bothSides('a continuation with RSV3 set in the middle of a message (1002)', async (side) => {
    const pair = await openPair(side);
    pair.peer.send({ opcode: OP.BINARY, payload: 'a', fin: false }, { opcode: OP.CONT, payload: 'b', rsv3: true });
    await expectFailure(pair, 1002, RSV_REASON);
  });

  bothSides('a header with RSV1 set and fails before its payload arrives', async (side) => {
    const pair = await openPair(side);
    pair.peer.write(pair.peer.frame({ opcode: OP.BINARY, rsv1: true, length: 50 }));
    await expectFailure(pair, 1002, RSV_REASON);
  });
});

describe('failing the connection (§7.1.7): nothing after the violation is processed', () => {
  bothSides('frames after a violation, in the same write and in later writes, and processes none of them', async (side) => {
    const pair = await openPair(side, { pingListener: 'observe' });
    const { peer, log } = pair;
    peer.send(
      { opcode: OP.TEXT, payload: 'before' },
      { opcode: 0x4, payload: 'bad' },
      { opcode: OP.TEXT, payload: 'after' },
      { opcode: OP.PING, payload: 'after' },
      { opcode: OP.CLOSE, payload: [0x03, 0xe8] },
    );
    await peer.expectFrame(OP.TEXT, 'before');
    await peer.expectClose(1002, 'Unrecognized Opcode: 0x4');
    await peer.expectEnd();
    peer.send({ opcode: OP.PING, payload: 'later' }, { opcode: OP.TEXT, payload: 'later' });
    await peer.expectSilence(50);
    expect(log.events.map((e) => e.type)).toEqual(['message', 'close']);
    expect(log.closeEvent).toEqual({ code: 1002, description: 'Unrecognized Opcode: 0x4' });
  });
});

/** Sends a text frame with `payload`, expecting 1007 and no message. */
async function expectInvalidText(pair: Pair, payload: Buffer): Promise<void> {
  pair.peer.send({ opcode: OP.TEXT, payload }, { opcode: OP.TEXT, payload: 'not processed' });
  await expectFailure(pair, 1007, INVALID_UTF8);
}

describe('§8.1 UTF-8', () => {
  bothSides('text with characters at every UTF-8 length boundary and echoes the same bytes', async (side) => {
    const { peer, log } = await openPair(side);
    const texts = ['\u007f', '\u0080', '\u07ff', '\u0800', '\ufffd', '\uffff', '\u{10000}', '\u{10ffff}', 'κόσμε', '€𝄞😀 mixed ascii'];
    for (const text of texts) {
      peer.send({ opcode: OP.TEXT, payload: text });
      await peer.expectFrame(OP.TEXT, text);
    }
    expect(log.texts).toEqual(texts);
  });

  const invalid: Array<[string, string]> = [
    ['a lone continuation byte', '80'],
    ['a lone 0xbf', 'bf'],
    ['an overlong 2-byte "/" (c0 af)', 'c0af'],
    ['an overlong 2-byte U+007F (c1 bf)', 'c1bf'],
    ['an overlong 3-byte NUL (e0 80 80)', 'e08080'],
    ['an overlong 3-byte U+07FF (e0 9f bf)', 'e09fbf'],
    ['an overlong 4-byte NUL (f0 80 80 80)', 'f0808080'],
    ['an overlong 4-byte U+FFFF (f0 8f bf bf)', 'f08fbfbf'],
    ['a high surrogate U+D800 (ed a0 80)', 'eda080'],
    ['a low surrogate U+DFFF (ed bf bf)', 'edbfbf'],
    ['a surrogate pair (ed a0 bd ed b2 a9)', 'eda0bdedb2a9'],
    ['a code point above U+10FFFF (f4 90 80 80)', 'f4908080'],
    ['a 0xf5 lead byte (f5 80 80 80)', 'f5808080'],
    ['0xfe', 'fe'],
    ['0xff', 'ff'],
    ['a 2-byte lead followed by ASCII (c3 41)', 'c341'],
    ['a 3-byte sequence cut by ASCII (e2 82 41)', 'e28241'],
    ['a message ending inside a 2-byte character (ce)', 'ce'],
    ['a message ending inside a 4-byte character (f0 9f 98)', 'f09f98'],
    ['valid text, then a surrogate, then valid text', Buffer.from('κόσμε').toString('hex') + 'eda080' + Buffer.from('edited').toString('hex')],
  ];
  for (const [name, sequence] of invalid) {
    bothSides(`a text frame with ${name} (1007)`, async (side) => {
      await expectInvalidText(await openPair(side), hex(sequence));
    });
  }

  bothSides('valid characters split between fragments', async (side) => {
    const { peer, log } = await openPair(side);
    // κ = ce ba; 😀 = f0 9f 98 80, cut after every byte, with an empty fragment in between.
    peer.send({ opcode: OP.TEXT, payload: hex('41ce'), fin: false }, { opcode: OP.CONT, payload: hex('ba42') });
    await peer.expectFrame(OP.TEXT, 'AκB');
    peer.send(
      { opcode: OP.TEXT, payload: hex('f0'), fin: false },
      { opcode: OP.CONT, payload: hex('9f'), fin: false },
      { opcode: OP.CONT, payload: '', fin: false },
      { opcode: OP.CONT, payload: hex('98'), fin: false },
      { opcode: OP.CONT, payload: hex('80') },
    );
    await peer.expectFrame(OP.TEXT, '😀');
    expect(log.texts).toEqual(['AκB', '😀']);
  });

  bothSides('an invalid sequence split between fragments (ce | ff) (1007)', async (side) => {
    const pair = await openPair(side);
    pair.peer.send({ opcode: OP.TEXT, payload: hex('41ce'), fin: false }, { opcode: OP.CONT, payload: hex('ff42') });
    await expectFailure(pair, 1007, INVALID_UTF8);
  });

  bothSides('a surrogate split between fragments (ed | a0 80) and fails before the message ends', async (side) => {
    const pair = await openPair(side);
    pair.peer.send({ opcode: OP.TEXT, payload: hex('41ed'), fin: false });
    await pair.peer.expectSilence(30);
    // The second fragment makes it invalid; the final fragment is never sent.
    pair.peer.send({ opcode: OP.CONT, payload: hex('a080'), fin: false });
    await expectFailure(pair, 1007, INVALID_UTF8);
  });

  bothSides('a first fragment that is already invalid (f4 90) and fails before the next fragment', async (side) => {
    const pair = await openPair(side);
    // f4 90 can never start a valid character (above U+10FFFF), though it is not complete.
    pair.peer.send({ opcode: OP.TEXT, payload: hex('414243f490'), fin: false });
    await expectFailure(pair, 1007, INVALID_UTF8);
  });

  bothSides('a fragmented message that ends inside a character (1007)', async (side) => {
    const pair = await openPair(side);
    pair.peer.send({ opcode: OP.TEXT, payload: hex('41e282'), fin: false }, { opcode: OP.CONT, payload: '' });
    await expectFailure(pair, 1007, INVALID_UTF8);
  });

  bothSides('binary messages with invalid UTF-8 (not checked) ', async (side) => {
    const { peer, log } = await openPair(side);
    peer.send({ opcode: OP.BINARY, payload: hex('eda080ff') });
    await peer.expectFrame(OP.BINARY, hex('eda080ff'));
    expect(log.messages).toEqual([{ kind: 'binary', data: hex('eda080ff') }]);
  });

  /**
   * One text frame whose payload is split across TCP writes: the first write carries the bytes that
   * make the text invalid; the close must arrive before the rest of the frame is sent.
   */
  async function failsMidFrame(side: Side, first: Buffer, rest: Buffer): Promise<void> {
    const pair = await openPair(side);
    const frame = pair.peer.frame({ opcode: OP.TEXT, payload: Buffer.concat([first, rest]) });
    const headerLength = frame.length - first.length - rest.length;
    pair.peer.write(frame.subarray(0, headerLength + first.length));
    await pair.peer.expectClose(1007, INVALID_UTF8);
    pair.peer.write(frame.subarray(headerLength + first.length));
    await pair.peer.expectEnd();
    expect(await pair.log.closed()).toEqual({ code: 1007, description: INVALID_UTF8 });
    expect(pair.log.messages).toEqual([]);
  }

  bothSides('a text frame whose first TCP chunk ends in a surrogate (ed a0) and fails mid-frame', async (side) => {
    await failsMidFrame(side, Buffer.concat([Buffer.from('Hello '), hex('eda0')]), Buffer.from('80 and the rest of a long frame'));
  });

  bothSides('a text frame whose first TCP chunk holds an invalid byte (ff) and fails mid-frame', async (side) => {
    await failsMidFrame(side, Buffer.concat([Buffer.from('x'.repeat(300)), hex('ff')]), Buffer.from('y'.repeat(300)));
  });

  bothSides('a text frame with a character completed wrongly in the second TCP chunk (f0 9f | 41)', async (side) => {
    const pair = await openPair(side);
    const frame = pair.peer.frame({ opcode: OP.TEXT, payload: Buffer.concat([hex('41f09f'), hex('41'), Buffer.from('tail')]) });
    const cut = frame.length - 'tail'.length - 1;
    pair.peer.write(frame.subarray(0, cut));
    await pair.peer.expectSilence(30);
    pair.peer.write(frame.subarray(cut, cut + 1));
    await pair.peer.expectClose(1007, INVALID_UTF8);
    pair.peer.write(frame.subarray(cut + 1));
    await pair.peer.expectEnd();
    expect(pair.log.messages).toEqual([]);
  });

  for (const [name, payload] of [
    ['a character cut by ASCII', Buffer.concat([Buffer.from('ab'), hex('f09f98'), Buffer.from('A')])],
    ['a frame ending inside a character', Buffer.concat([Buffer.from('ab'), hex('f09f98')])],
  ] as const) {
    bothSides(`an invalid text frame (${name}) split in two writes at every byte offset (1007 each time)`, async (side) => {
      let offsets = 0;
      for (let offset = 1; ; offset++) {
        const pair = await openPair(side);
        const frame = pair.peer.frame({ opcode: OP.TEXT, payload });
        if (offset >= frame.length) break;
        await pair.peer.writeSplit(frame, [offset]);
        await expectFailure(pair, 1007, INVALID_UTF8);
        offsets++;
        pair.peer.socket.destroy();
      }
      expect(offsets).toBeGreaterThan(5);
    });
  }

  bothSides('a valid multi-byte text frame split in two writes at every byte offset', async (side) => {
    const { peer, log } = await openPair(side);
    const text = '€😀κ';
    const length = peer.frame({ opcode: OP.TEXT, payload: text }).length;
    for (let offset = 1; offset < length; offset++) {
      await peer.writeSplit(peer.frame({ opcode: OP.TEXT, payload: text }), [offset]);
      await peer.expectFrame(OP.TEXT, text);
    }
    expect(log.texts).toEqual(Array(length - 1).fill(text));
  });
});
