import { encodeFrame, frameHeaderLength, writeFrameHeader, type FrameHeaderFields } from '../../../lib/codec/frame-writer';
import {
  RecordingSink,
  fixedMaskKeys,
  fromHex,
  hex,
  parseChunks,
  prng,
  randomBytesFrom,
  referenceMask,
} from '../../helpers/codec-fixtures';

const TEXT: FrameHeaderFields = { fin: true, rsv1: false, opcode: 1 };
const BINARY: FrameHeaderFields = { fin: true, rsv1: false, opcode: 2 };
const KEY = [0x37, 0xfa, 0x21, 0x3d];

function header(fields: FrameHeaderFields, length: number, maskKey: number[] | null): string {
  const target = Buffer.alloc(14, 0xaa);
  const end = writeFrameHeader(target, 0, fields, length, maskKey === null ? null : Buffer.from(maskKey));
  expect(end).toBe(frameHeaderLength(length, maskKey !== null));
  return hex(target.subarray(0, end));
}

describe('frameHeaderLength', () => {
  test.each([
    [0, 2],
    [125, 2],
    [126, 4],
    [65535, 4],
    [65536, 10],
    [2 ** 32, 10],
    [Number.MAX_SAFE_INTEGER, 10],
  ])('length %d → %d bytes (+4 masked)', (length, size) => {
    expect(frameHeaderLength(length, false)).toBe(size);
    expect(frameHeaderLength(length, true)).toBe(size + 4);
  });
});

describe('writeFrameHeader: byte-exact headers', () => {
  test.each([
    [0, '8100', '818037fa213d'],
    [5, '8105', '818537fa213d'],
    [125, '817d', '81fd37fa213d'],
    [126, '817e007e', '81fe007e37fa213d'],
    [127, '817e007f', '81fe007f37fa213d'],
    [256, '817e0100', '81fe010037fa213d'],
    [65535, '817effff', '81feffff37fa213d'],
    [65536, '817f0000000000010000', '81ff000000000001000037fa213d'],
    [2 ** 32 + 5, '817f0000000100000005', '81ff000000010000000537fa213d'],
    [Number.MAX_SAFE_INTEGER, '817f001fffffffffffff', '81ff001fffffffffffff37fa213d'],
  ])('text, length %d', (length, unmasked, masked) => {
    expect(header(TEXT, length, null)).toBe(unmasked);
    expect(header(TEXT, length, KEY)).toBe(masked);
  });

  test('first byte: FIN, RSV1-3 and opcode bits', () => {
    expect(header({ fin: false, rsv1: false, opcode: 1 }, 3, null)).toBe('0103');
    expect(header({ fin: true, rsv1: true, opcode: 1 }, 0, null)).toBe('c100');
    expect(header({ fin: true, rsv1: false, rsv2: true, opcode: 2 }, 0, null)).toBe('a200');
    expect(header({ fin: true, rsv1: false, rsv3: true, opcode: 2 }, 0, null)).toBe('9200');
    expect(header({ fin: false, rsv1: true, rsv2: true, rsv3: true, opcode: 0 }, 0, null)).toBe('7000');
    expect(header({ fin: true, rsv1: false, opcode: 0x8 }, 2, null)).toBe('8802');
    expect(header({ fin: true, rsv1: false, opcode: 0x9 }, 0, null)).toBe('8900');
    expect(header({ fin: true, rsv1: false, opcode: 0xa }, 0, null)).toBe('8a00');
    // Only the low 4 bits of the opcode reach the wire.
    expect(header({ fin: false, rsv1: false, opcode: 0x12 }, 0, null)).toBe('0200');
  });

  test('writes at an offset and returns the offset after the header', () => {
    const target = Buffer.alloc(20, 0xee);
    expect(writeFrameHeader(target, 3, BINARY, 300, Buffer.from(KEY))).toBe(3 + 8);
    expect(hex(target)).toBe('eeeeee' + '82fe012c37fa213d' + 'ee'.repeat(9));
  });
});

describe('encodeFrame', () => {
  test('RFC 6455 §5.7: unmasked and masked "Hello"', () => {
    const sink = new RecordingSink();
    encodeFrame(sink, TEXT, Buffer.from('Hello'), null);
    encodeFrame(sink, TEXT, Buffer.from('Hello'), fixedMaskKeys(KEY));
    expect(hex(sink.bytes)).toBe('810548656c6c6f' + '818537fa213d7f9f4d5158');
  });

  test('RFC 6455 §5.7: ping, masked pong, 256 and 65536 bytes binary', () => {
    const sink = new RecordingSink();
    encodeFrame(sink, { fin: true, rsv1: false, opcode: 9 }, Buffer.from('Hello'), null);
    encodeFrame(sink, { fin: true, rsv1: false, opcode: 10 }, Buffer.from('Hello'), fixedMaskKeys(KEY));
    expect(hex(sink.bytes)).toBe('890548656c6c6f' + '8a8537fa213d7f9f4d5158');
    const big = new RecordingSink();
    encodeFrame(big, BINARY, Buffer.alloc(256, 1), null);
    expect(hex(big.bytes.subarray(0, 4))).toBe('827e0100');
    const huge = new RecordingSink();
    encodeFrame(huge, BINARY, Buffer.alloc(65536, 1), null);
    expect(hex(huge.bytes.subarray(0, 10))).toBe('827f0000000000010000');
    expect(huge.bytes.length).toBe(65546);
  });

  test.each([0, 1, 125, 126, 4095, 4096, 4097, 65535, 65536, 100000])(
    'length %d: unmasked and masked frames are byte-exact',
    (length) => {
      const payload = randomBytesFrom(prng(length), length);
      const plain = new RecordingSink();
      encodeFrame(plain, BINARY, payload, null);
      const headerHex = header(BINARY, length, null);
      expect(hex(plain.bytes)).toBe(headerHex + hex(payload));

      const keys = fixedMaskKeys([0x01, 0x80, 0x7f, 0xfe]);
      const masked = new RecordingSink();
      encodeFrame(masked, BINARY, payload, keys);
      expect(keys.calls).toBe(1);
      const maskedHeader = header(BINARY, length, [0x01, 0x80, 0x7f, 0xfe]);
      expect(hex(masked.bytes)).toBe(maskedHeader + hex(referenceMask(payload, [0x01, 0x80, 0x7f, 0xfe])));
    },
  );

  test('masking never mutates the caller payload (Buffer, unaligned view, Uint8Array)', () => {
    for (const length of [0, 3, 64, 4096, 70000]) {
      const backing = randomBytesFrom(prng(length + 1), length + 3);
      const original = Buffer.from(backing);
      const payload = backing.subarray(3);
      const sink = new RecordingSink();
      encodeFrame(sink, BINARY, payload, fixedMaskKeys(KEY));
      expect(backing.equals(original)).toBe(true);
      const u8 = new Uint8Array(original.subarray(0, length));
      encodeFrame(sink, TEXT, u8, fixedMaskKeys(KEY));
      expect(Buffer.from(u8).equals(original.subarray(0, length))).toBe(true);
    }
  });

  test('small unmasked frames are one chunk; large ones are header + the payload itself (no copy)', () => {
    const small = new RecordingSink();
    encodeFrame(small, BINARY, Buffer.alloc(4096, 1), null);
    expect(small.pushed).toHaveLength(1);

    const payload = Buffer.alloc(5000, 2);
    const large = new RecordingSink();
    encodeFrame(large, BINARY, payload, null);
    expect(large.pushed).toHaveLength(2);
    expect(hex(large.pushed[0]!)).toBe('827e1388');
    expect(large.pushed[1]).toBe(payload);

    // A Uint8Array that is not a Buffer is passed on as a Buffer view of the same memory.
    const u8 = new Uint8Array(6000).fill(3);
    const sink = new RecordingSink();
    encodeFrame(sink, BINARY, u8.subarray(1000), null);
    const chunk = sink.pushed[1]!;
    expect(Buffer.isBuffer(chunk)).toBe(true);
    expect(chunk.length).toBe(5000);
    expect(chunk.buffer).toBe(u8.buffer);
    expect(chunk.byteOffset).toBe(1000);
  });

  test('a masked frame is one chunk that the writer does not touch afterwards', () => {
    const sink = new RecordingSink();
    encodeFrame(sink, BINARY, Buffer.alloc(10000, 9), fixedMaskKeys(KEY));
    encodeFrame(sink, BINARY, Buffer.alloc(10, 8), fixedMaskKeys([1, 2, 3, 4]));
    expect(sink.pushed).toHaveLength(2);
    sink.pushed.forEach((chunk, i) => {
      const entry = sink.entries[i]!;
      expect(entry.type === 'chunk' && entry.chunk.equals(chunk)).toBe(true);
    });
  });

  test('the mask key comes from the source for every frame', () => {
    let n = 0;
    const counting = {
      fill(target: Uint8Array, offset: number): void {
        n++;
        target.set([n, n, n, n], offset);
      },
    };
    const sink = new RecordingSink();
    encodeFrame(sink, TEXT, Buffer.from('a'), counting);
    encodeFrame(sink, TEXT, Buffer.from('a'), counting);
    expect(hex(sink.bytes)).toBe('818101010101' + '60' + '818102020202' + '63');
  });
});

describe('writer → parser round trip', () => {
  test('random frames, masked and unmasked, parsed back in random chunks', () => {
    const rand = prng(31337);
    for (let round = 0; round < 40; round++) {
      const sink = new RecordingSink();
      const expected: { fields: Required<FrameHeaderFields>; payload: Buffer; masked: boolean }[] = [];
      const count = 1 + Math.floor(rand() * 8);
      for (let i = 0; i < count; i++) {
        const control = rand() < 0.25;
        const opcode = control ? [8, 9, 10][Math.floor(rand() * 3)]! : [0, 1, 2][Math.floor(rand() * 3)]!;
        const r = rand();
        const length = control ? Math.floor(rand() * 126) : r < 0.5 ? Math.floor(rand() * 130) : r < 0.9 ? 126 + Math.floor(rand() * 6000) : 65536 + Math.floor(rand() * 5000);
        const fields = { fin: control || rand() < 0.5, rsv1: !control && rand() < 0.3, rsv2: false, rsv3: false, opcode };
        const payload = randomBytesFrom(rand, length);
        const masked = rand() < 0.5;
        const key = [0, 1, 2, 3].map(() => Math.floor(rand() * 256));
        encodeFrame(sink, fields, payload, masked ? fixedMaskKeys(key) : null);
        expected.push({ fields, payload, masked });
      }
      const wire = sink.bytes;
      const cuts: number[] = [];
      for (let at = 0; ; ) {
        at += 1 + Math.floor(rand() * 3000);
        if (at >= wire.length) break;
        cuts.push(at);
      }
      const result = parseChunks(wire, cuts, { allowRsv1: true });
      expect(result.error).toBeNull();
      expect(result.frames).toHaveLength(expected.length);
      result.frames.forEach((frame, i) => {
        const e = expected[i]!;
        expect([frame.fin, frame.rsv1, frame.opcode, frame.masked, frame.length]).toEqual([
          e.fields.fin,
          e.fields.rsv1,
          e.fields.opcode,
          e.masked,
          e.payload.length,
        ]);
        expect(frame.payload.equals(e.payload)).toBe(true);
      });
    }
  });

  test('the largest header form decodes to the written length', () => {
    const target = Buffer.alloc(14);
    const end = writeFrameHeader(target, 0, BINARY, 2 ** 40 + 3, null);
    const result = parseChunks(target.subarray(0, end), []);
    expect(result.error).toBeNull();
    // The header parsed fine; the frame simply has not arrived yet.
    expect(result.midFrame).toBe(true);
    expect(hex(fromHex('827f0000010000000003'))).toBe(hex(target.subarray(0, end)));
  });
});
