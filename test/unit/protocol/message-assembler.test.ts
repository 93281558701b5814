import { FRAGMENT_OVERHEAD, MessageAssembler } from '../../../lib/protocol/message-assembler';
import { WebSocketError } from '../../../lib/codec/errors';
import { fromHex } from '../../helpers/codec-fixtures';

function thrown(fn: () => unknown): WebSocketError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(WebSocketError);
    return error as WebSocketError;
  }
  throw new Error('expected a WebSocketError');
}

/** Feeds one message as frames of the given payloads, each frame's payload in one piece. */
function assemble(a: MessageAssembler, opcode: number, frames: Buffer[]): Buffer | string {
  a.begin(opcode);
  const single = frames.length === 1;
  for (const payload of frames) {
    a.addFrame(payload.length, single);
    a.addPiece(payload, single, a.size + payload.length);
  }
  return a.finish();
}

describe('MessageAssembler', () => {
  test('FRAGMENT_OVERHEAD is 16 bytes', () => {
    expect(FRAGMENT_OVERHEAD).toBe(16);
  });

  test('a single-frame binary message is returned without a copy', () => {
    const a = new MessageAssembler(1000);
    const payload = Buffer.from([1, 2, 3]);
    a.begin(2);
    expect(a.active).toBe(true);
    a.addFrame(3, true);
    a.addPiece(payload, true, 3);
    const out = a.finish();
    expect(out).toBe(payload);
    expect(a.active).toBe(false);
  });

  test('a single-frame text message is decoded', () => {
    expect(assemble(new MessageAssembler(1000), 1, [Buffer.from('κόσμε')])).toBe('κόσμε');
  });

  test('fragmented binary and text messages are joined', () => {
    const a = new MessageAssembler(1000);
    const bin = assemble(a, 2, [Buffer.from([1]), Buffer.from([2, 3]), Buffer.alloc(0), Buffer.from([4])]);
    expect(Buffer.isBuffer(bin) && [...bin]).toEqual([1, 2, 3, 4]);
    // A character split across fragments is fine.
    const euro = Buffer.from('a€b');
    expect(assemble(a, 1, [euro.subarray(0, 2), euro.subarray(2, 3), euro.subarray(3)])).toBe('a€b');
  });

  test('empty messages', () => {
    const a = new MessageAssembler(1000);
    expect(assemble(a, 1, [Buffer.alloc(0)])).toBe('');
    const bin = assemble(a, 2, [Buffer.alloc(0), Buffer.alloc(0)]);
    expect(Buffer.isBuffer(bin) && bin.length).toBe(0);
  });

  test('a frame whose payload arrives in several pieces', () => {
    const a = new MessageAssembler(1000);
    a.begin(1);
    a.addFrame(6, true);
    const data = Buffer.from('héllo');
    a.addPiece(data.subarray(0, 2), false, 6);
    a.addPiece(data.subarray(2), false, 6);
    expect(a.finish()).toBe('héllo');
  });

  test('the joined message does not alias the pieces (they are views of reusable chunks)', () => {
    const a = new MessageAssembler(1000);
    const p1 = Buffer.from([1, 2]);
    const p2 = Buffer.from([3]);
    a.begin(2);
    a.addFrame(2, false);
    a.addPiece(p1, false, 2);
    a.addFrame(1, false);
    a.addPiece(p2, false, 3);
    p1.fill(0);
    p2.fill(0);
    const out = a.finish() as Buffer;
    expect([...out]).toEqual([1, 2, 3]);
  });

  test('invalid UTF-8 fails on the piece that contains it', () => {
    const a = new MessageAssembler(1000);
    a.begin(1);
    a.addFrame(3, false);
    a.addPiece(Buffer.from('abc'), false, 3);
    a.addFrame(3, false);
    const error = thrown(() => a.addPiece(fromHex('61 c0 80'), false, 6));
    expect(error.closeCode).toBe(1007);
    expect(error.message).toBe('Invalid UTF-8 Data Received');
  });

  test('an impossible partial character fails at once (f4 90)', () => {
    const a = new MessageAssembler(1000);
    a.begin(1);
    a.addFrame(2, false);
    expect(thrown(() => a.addPiece(fromHex('f4 90'), false, 2)).closeCode).toBe(1007);
  });

  test('a single-frame text message with invalid UTF-8 fails at finish()', () => {
    const a = new MessageAssembler(1000);
    a.begin(1);
    a.addFrame(2, true);
    a.addPiece(fromHex('c0 80'), true, 2);
    expect(thrown(() => a.finish()).closeCode).toBe(1007);
  });

  test('a text message that ends inside a character fails at finish()', () => {
    const a = new MessageAssembler(1000);
    a.begin(1);
    a.addFrame(2, false);
    a.addPiece(fromHex('61 e2'), false, 2);
    a.addFrame(1, false);
    a.addPiece(fromHex('82'), false, 3);
    const error = thrown(() => a.finish());
    expect(error.closeCode).toBe(1007);
  });

  test('binary messages are not UTF-8 checked', () => {
    const out = assemble(new MessageAssembler(1000), 2, [fromHex('c0'), fromHex('80 ff')]);
    expect(Buffer.isBuffer(out) && out.toString('hex')).toBe('c080ff');
  });

  describe('size limit with the per-fragment overhead', () => {
    test('exactly at the limit passes; one byte more fails with 1009', () => {
      // Two fragments of 50 bytes cost 100 + 2 × 16.
      const limit = 100 + 2 * FRAGMENT_OVERHEAD;
      const ok = new MessageAssembler(limit);
      const out = assemble(ok, 2, [Buffer.alloc(50), Buffer.alloc(50)]);
      expect((out as Buffer).length).toBe(100);

      const tight = new MessageAssembler(limit - 1);
      tight.begin(2);
      tight.addFrame(50, false);
      tight.addPiece(Buffer.alloc(50), false, 50);
      const error = thrown(() => tight.addFrame(50, false));
      expect(error.closeCode).toBe(1009);
      expect(error.message).toBe('Maximum message size exceeded.');
      expect(error.code).toBe('WS_ERR_MESSAGE_TOO_BIG');
    });

    test('the first fragment is charged too', () => {
      const a = new MessageAssembler(100);
      a.begin(2);
      expect(() => a.addFrame(100 - FRAGMENT_OVERHEAD, false)).not.toThrow();
      const b = new MessageAssembler(100);
      b.begin(2);
      expect(thrown(() => b.addFrame(100 - FRAGMENT_OVERHEAD + 1, false)).closeCode).toBe(1009);
    });

    test('a flood of empty fragments is bounded', () => {
      const a = new MessageAssembler(100);
      a.begin(2);
      for (let i = 1; i <= 6; i++) {
        a.addFrame(0, false);
        a.addPiece(Buffer.alloc(0), false, 0);
      }
      expect(thrown(() => a.addFrame(0, false)).message).toBe('Maximum message size exceeded.');
    });

    test('a single frame is not limited when singleFrameMessage is true', () => {
      const a = new MessageAssembler(10);
      a.begin(2);
      a.addFrame(1000, true);
      a.addPiece(Buffer.alloc(1000, 1), true, 1000);
      expect((a.finish() as Buffer).length).toBe(1000);
      // Also when its payload arrives in pieces.
      a.begin(1);
      a.addFrame(1000, true);
      a.addPiece(Buffer.alloc(400, 0x61), false, 1000);
      a.addPiece(Buffer.alloc(600, 0x62), false, 1000);
      expect(a.finish()).toBe('a'.repeat(400) + 'b'.repeat(600));
    });

    test('a single frame is limited when singleFrameMessage is false', () => {
      const a = new MessageAssembler(10);
      a.begin(2);
      expect(thrown(() => a.addFrame(11, false)).closeCode).toBe(1009);
    });

    test('the limit is exposed as maxMessageSize', () => {
      expect(new MessageAssembler(1234).maxMessageSize).toBe(1234);
    });

    test('addProduced (extension output) is checked against the limit without overhead', () => {
      const a = new MessageAssembler(10);
      a.begin(2);
      a.addProduced(Buffer.alloc(6, 1));
      a.addProduced(Buffer.alloc(4, 2));
      expect(thrown(() => a.addProduced(Buffer.alloc(1))).message).toBe('Maximum message size exceeded.');
      const b = new MessageAssembler(10);
      b.begin(1);
      b.addProduced(Buffer.from('ab'));
      b.addProduced(Buffer.from('c'));
      expect(b.finish()).toBe('abc');
    });
  });

  test('growing past the announced size keeps the bytes (many unannounced pieces)', () => {
    const a = new MessageAssembler(1 << 20);
    a.begin(2);
    const expected: number[] = [];
    for (let i = 0; i < 300; i++) {
      const piece = Buffer.alloc(1 + (i % 7), i & 0xff);
      expected.push(...piece);
      a.addProduced(piece);
    }
    expect([...(a.finish() as Buffer)]).toEqual(expected);
  });

  test('clear() drops a message in progress; begin() starts afresh', () => {
    const a = new MessageAssembler(100);
    a.begin(1);
    a.addFrame(3, false);
    a.addPiece(fromHex('61 62 e2'), false, 3);
    a.clear();
    expect(a.active).toBe(false);
    expect(a.size).toBe(0);
    // The half character of the dropped message must not leak into the next one.
    expect(assemble(a, 1, [Buffer.from('x'), Buffer.from('y')])).toBe('xy');
  });

  test('begin() resets the fragment count used for the overhead', () => {
    const a = new MessageAssembler(3 * FRAGMENT_OVERHEAD);
    for (let round = 0; round < 5; round++) {
      expect(assemble(a, 2, [Buffer.alloc(0), Buffer.alloc(0), Buffer.alloc(0)])).toHaveLength(0);
    }
  });
});
