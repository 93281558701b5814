/**
 * The public WebSocketFrame class. Shared expectations run against ours and against upstream
 * WebSocket-Node 1.0.35 (installed as websocket-upstream), so they encode upstream's behaviour.
 */
import OurFrame = require('../../lib/WebSocketFrame');
import { fromHex, hex, referenceMask } from '../helpers/codec-fixtures';

const UpstreamFrame = require('websocket-upstream/lib/WebSocketFrame') as typeof OurFrame;
const FastBufferList = require('websocket-upstream/vendor/FastBufferList') as new () => BufferListLike & { write(b: Buffer): void };

interface BufferListLike {
  readonly length: number;
  joinInto(target: Buffer, targetStart: number, sourceStart: number, sourceEnd: number): Buffer;
  advance(bytes: number): unknown;
  take(bytes: number): Buffer;
}

/** The mock shape upstream's own tests use: a flat buffer with a read position. */
class MockBufferList implements BufferListLike {
  private data: Buffer;
  constructor(data: Buffer = Buffer.alloc(0)) {
    this.data = data;
  }
  get length(): number {
    return this.data.length;
  }
  write(more: Buffer): void {
    this.data = Buffer.concat([this.data, more]);
  }
  joinInto(target: Buffer, targetStart: number, sourceStart: number, sourceEnd: number): Buffer {
    this.data.copy(target, targetStart, sourceStart, sourceEnd);
    return target;
  }
  advance(bytes: number): void {
    this.data = this.data.subarray(bytes);
  }
  take(bytes: number): Buffer {
    return Buffer.from(this.data.subarray(0, bytes));
  }
}

type ListKind = 'mock' | 'FastBufferList';
function makeList(kind: ListKind, data?: Buffer): BufferListLike & { write(b: Buffer): void } {
  const list = kind === 'mock' ? new MockBufferList() : new FastBufferList();
  if (data !== undefined && data.length > 0) list.write(Buffer.from(data));
  return list;
}

const IMPLEMENTATIONS: [string, typeof OurFrame][] = [
  ['ours', OurFrame],
  ['upstream', UpstreamFrame],
];

describe.each(IMPLEMENTATIONS)('WebSocketFrame (%s)', (_name, Frame) => {
  const make = (config: { maxReceivedFrameSize?: number } = {}): OurFrame => new Frame(Buffer.alloc(4), Buffer.alloc(10), config);

  describe('toBuffer', () => {
    test('an empty masked ping with nullMask is 898000000000', () => {
      const frame = make();
      frame.fin = true;
      frame.mask = true;
      frame.opcode = 0x09;
      expect(frame.toBuffer(true).toString('hex')).toBe('898000000000');
    });

    test('unmasked text "Hello" (RFC 6455 §5.7)', () => {
      const frame = make();
      frame.fin = true;
      frame.opcode = 0x01;
      frame.binaryPayload = Buffer.from('Hello');
      expect(hex(frame.toBuffer())).toBe('810548656c6c6f');
    });

    test('a 200-byte masked binary frame uses the 16-bit form with a zero key', () => {
      const frame = make();
      frame.fin = true;
      frame.mask = true;
      frame.opcode = 0x02;
      frame.binaryPayload = Buffer.alloc(200, 0xab);
      const out = frame.toBuffer(true);
      expect(hex(out.subarray(0, 8))).toBe('82fe00c800000000');
      expect(out.length).toBe(208);
      expect(out.subarray(8).equals(Buffer.alloc(200, 0xab))).toBe(true);
    });

    test('a 66000-byte masked binary frame uses the 64-bit form', () => {
      const frame = make();
      frame.fin = true;
      frame.mask = true;
      frame.opcode = 0x02;
      frame.binaryPayload = Buffer.alloc(66000, 1);
      const out = frame.toBuffer(true);
      expect(hex(out.subarray(0, 14))).toBe('82ff00000000000101d0' + '00000000');
      expect(out.length).toBe(14 + 66000);
    });

    test('length form boundaries 125 / 126 / 65535 / 65536, unmasked', () => {
      const headerOf = (length: number): string => {
        const frame = make();
        frame.fin = true;
        frame.opcode = 2;
        frame.binaryPayload = Buffer.alloc(length);
        const out = frame.toBuffer();
        return hex(out.subarray(0, out.length - length));
      };
      expect(headerOf(125)).toBe('827d');
      expect(headerOf(126)).toBe('827e007e');
      expect(headerOf(65535)).toBe('827effff');
      expect(headerOf(65536)).toBe('827f0000000000010000');
    });

    test('a masked frame with a random key writes the key into maskBytes and masks the payload', () => {
      const maskBytes = Buffer.alloc(4);
      const frame = new Frame(maskBytes, Buffer.alloc(10), {});
      frame.fin = true;
      frame.mask = true;
      frame.opcode = 1;
      frame.binaryPayload = Buffer.from('Hello, world');
      const out = frame.toBuffer();
      expect(hex(out.subarray(0, 2))).toBe('818c');
      expect(out.subarray(2, 6).equals(maskBytes)).toBe(true);
      expect(referenceMask(out.subarray(6), maskBytes).toString()).toBe('Hello, world');
      // The caller's payload is left as it was.
      expect(frame.binaryPayload.toString()).toBe('Hello, world');
    });

    test('header bits come from fin / rsv1-3 / opcode', () => {
      const frame = make();
      frame.fin = false;
      frame.rsv1 = true;
      frame.rsv2 = false;
      frame.rsv3 = true;
      frame.opcode = 0x0;
      expect(hex(frame.toBuffer())).toBe('5000');
    });

    test('a close frame carries closeStatus then the reason', () => {
      const frame = make();
      frame.fin = true;
      frame.opcode = 0x08;
      frame.closeStatus = 1000;
      frame.binaryPayload = Buffer.from('bye');
      expect(hex(frame.toBuffer())).toBe('880503e8627965');
      const bare = make();
      bare.fin = true;
      bare.opcode = 0x08;
      bare.closeStatus = 1001;
      expect(hex(bare.toBuffer())).toBe('880203e9');
      const masked = make();
      masked.fin = true;
      masked.mask = true;
      masked.opcode = 0x08;
      masked.closeStatus = 4000;
      expect(hex(masked.toBuffer(true))).toBe('8882' + '00000000' + '0fa0');
    });

    test('a close frame without closeStatus throws (writeUInt16BE of -1)', () => {
      const frame = make();
      frame.fin = true;
      frame.opcode = 0x08;
      // Node's own RangeError comes from another realm than jest's, so match by name and text.
      let caught: unknown;
      try {
        frame.toBuffer();
      } catch (error) {
        caught = error;
      }
      expect((caught as Error | undefined)?.name).toBe('RangeError');
      expect((caught as Error).message).toMatch(/out of range/);
    });

    test('toBuffer records the payload length on the frame (toString shows it)', () => {
      const frame = make();
      frame.fin = true;
      frame.opcode = 2;
      frame.binaryPayload = Buffer.alloc(200);
      frame.toBuffer();
      expect(frame.length).toBe(200);
      expect(frame.toString()).toContain('length: 200');
      const close = make();
      close.fin = true;
      close.opcode = 8;
      close.closeStatus = 1000;
      close.binaryPayload = Buffer.from('abc');
      close.toBuffer();
      expect(close.length).toBe(5);
    });
  });

  test('toString gives opcode, fin, length, hasPayload and masked', () => {
    const frame = make();
    frame.addData(new MockBufferList(fromHex('81 05 48 65 6c 6c 6f')));
    const text = frame.toString();
    for (const part of ['Opcode: 1', 'fin: true', 'length: 5', 'hasPayload: true', 'masked: false']) expect(text).toContain(part);
    expect(text).toBe('Opcode: 1, fin: true, length: 5, hasPayload: true, masked: false');
  });

  test('initial fields', () => {
    const frame = make({ maxReceivedFrameSize: 77 });
    expect([frame.protocolError, frame.frameTooLarge, frame.invalidCloseFrameLength, frame.parseState, frame.closeStatus]).toEqual([
      false,
      false,
      false,
      1,
      -1,
    ]);
    expect(frame.maxReceivedFrameSize).toBe(77);
  });

  describe.each<ListKind>(['mock', 'FastBufferList'])('addData over a %s buffer list', (kind) => {
    const parse = (bytes: Buffer, config: { maxReceivedFrameSize?: number } = {}) => {
      const frame = make(config);
      const list = makeList(kind, bytes);
      const done = frame.addData(list);
      return { frame, done, list };
    };

    test('unmasked text "Hello"', () => {
      const { frame, done, list } = parse(fromHex('81 05 48 65 6c 6c 6f'));
      expect(done).toBe(true);
      expect([frame.fin, frame.opcode, frame.length, frame.mask, frame.rsv1, frame.rsv2, frame.rsv3]).toEqual([
        true,
        1,
        5,
        false,
        false,
        false,
        false,
      ]);
      expect(frame.binaryPayload!.toString()).toBe('Hello');
      expect(frame.parseState).toBe(6);
      expect(list.length).toBe(0);
    });

    test('masked text "Hello" is unmasked; the key lands in maskBytes', () => {
      const maskBytes = Buffer.alloc(4);
      const frame = new Frame(maskBytes, Buffer.alloc(10), {});
      expect(frame.addData(makeList(kind, fromHex('81 85 37 fa 21 3d 7f 9f 4d 51 58')))).toBe(true);
      expect(frame.mask).toBe(true);
      expect(frame.binaryPayload!.toString()).toBe('Hello');
      expect(hex(maskBytes)).toBe('37fa213d');
    });

    test('16-bit and 64-bit lengths', () => {
      const p256 = Buffer.alloc(256).map((_, i) => i);
      const a = parse(Buffer.concat([fromHex('82 7e 01 00'), p256]));
      expect([a.done, a.frame.length, a.frame.binaryPayload!.equals(p256)]).toEqual([true, 256, true]);
      const p65536 = Buffer.alloc(65536, 9);
      const b = parse(Buffer.concat([fromHex('82 7f 00 00 00 00 00 01 00 00'), p65536]));
      expect([b.done, b.frame.length, b.frame.binaryPayload!.equals(p65536)]).toEqual([true, 65536, true]);
      const masked = parse(Buffer.concat([fromHex('82 fe 00 c8 01 02 03 04'), referenceMask(Buffer.alloc(200, 5), [1, 2, 3, 4])]));
      expect(masked.frame.binaryPayload!.equals(Buffer.alloc(200, 5))).toBe(true);
    });

    test('incomplete data returns false, then true once the rest arrives (byte by byte)', () => {
      for (const wire of [
        fromHex('81 85 37 fa 21 3d 7f 9f 4d 51 58'),
        Buffer.concat([fromHex('82 fe 00 c8 01 02 03 04'), referenceMask(Buffer.alloc(200, 5), [1, 2, 3, 4])]),
        Buffer.concat([fromHex('82 7f 00 00 00 00 00 01 00 00'), Buffer.alloc(65536, 3)]),
      ]) {
        const frame = make();
        const list = makeList(kind);
        const results: boolean[] = [];
        for (let i = 0; i < wire.length; i++) {
          list.write(wire.subarray(i, i + 1));
          results.push(frame.addData(list));
        }
        expect(results.slice(0, -1).every((r) => r === false)).toBe(true);
        expect(results[results.length - 1]).toBe(true);
        expect(frame.binaryPayload!.length).toBe(frame.length);
      }
    });

    test('only the frame is consumed; the next frame stays in the list', () => {
      const list = makeList(kind, fromHex('81 02 68 69 82 01 ff'));
      const first = make();
      expect(first.addData(list)).toBe(true);
      expect(list.length).toBe(3);
      const second = make();
      expect(second.addData(list)).toBe(true);
      expect([second.opcode, hex(second.binaryPayload!)]).toEqual([2, 'ff']);
    });

    test('a zero-length frame gets an empty payload', () => {
      const { frame, done } = parse(fromHex('82 00'));
      expect(done).toBe(true);
      expect(Buffer.isBuffer(frame.binaryPayload) && frame.binaryPayload.length).toBe(0);
    });

    test('RSV bits are reported, not refused (the connection decides)', () => {
      const { frame, done } = parse(fromHex('f1 00'));
      expect([done, frame.rsv1, frame.rsv2, frame.rsv3, frame.protocolError]).toEqual([true, true, true, true, false]);
    });

    test('a control frame over 125 bytes sets protocolError + dropReason right after the 2-byte header', () => {
      const { frame, done } = parse(fromHex('89 7e'));
      expect(done).toBe(true);
      expect(frame.protocolError).toBe(true);
      expect(frame.dropReason).toBe('Illegal control frame longer than 125 bytes.');
    });

    test('a fragmented control frame sets protocolError', () => {
      const { frame, done } = parse(fromHex('09 00'));
      expect([done, frame.protocolError, frame.dropReason]).toEqual([true, true, 'Control frames must not be fragmented.']);
    });

    test('a control frame both fragmented and too long reports the length first', () => {
      const { frame } = parse(fromHex('08 7f'));
      expect(frame.dropReason).toBe('Illegal control frame longer than 125 bytes.');
    });

    test('a 64-bit length with a nonzero high word sets protocolError', () => {
      const { frame, done } = parse(fromHex('82 7f 00 00 00 01 00 00 00 00'));
      expect([done, frame.protocolError, frame.dropReason]).toEqual([true, true, 'Unsupported 64-bit length frame received']);
    });

    test('frameTooLarge with maxReceivedFrameSize, from the header alone', () => {
      const { frame, done } = parse(fromHex('82 7e 00 65'), { maxReceivedFrameSize: 100 });
      expect([done, frame.frameTooLarge, frame.protocolError]).toEqual([true, true, false]);
      expect(frame.dropReason).toBe('Frame size of 101 bytes exceeds maximum accepted frame size');
      const ok = parse(Buffer.concat([fromHex('82 64'), Buffer.alloc(100)]), { maxReceivedFrameSize: 100 });
      expect([ok.done, ok.frame.frameTooLarge]).toEqual([true, false]);
    });

    test('a close frame with 1 byte sets invalidCloseFrameLength and empties the payload', () => {
      const { frame, done } = parse(fromHex('88 01 03'));
      expect([done, frame.invalidCloseFrameLength, frame.binaryPayload!.length, frame.closeStatus]).toEqual([true, true, 0, -1]);
    });

    test('a close frame with status and reason', () => {
      const { frame } = parse(Buffer.concat([fromHex('88 85 01 02 03 04'), referenceMask(fromHex('03 e8 62 79 65'), [1, 2, 3, 4])]));
      expect([frame.closeStatus, frame.binaryPayload!.toString(), frame.length]).toEqual([1000, 'bye', 5]);
      const empty = parse(fromHex('88 00'));
      expect([empty.frame.closeStatus, empty.frame.binaryPayload!.length, empty.frame.invalidCloseFrameLength]).toEqual([-1, 0, false]);
    });

    test('throwAwayPayload skips the payload once it is all there', () => {
      const list = makeList(kind, fromHex('82 05 01 02'));
      const frame = make({ maxReceivedFrameSize: 1 });
      expect(frame.addData(list)).toBe(true);
      expect(frame.frameTooLarge).toBe(true);
      expect(frame.throwAwayPayload(list)).toBe(false);
      list.write(fromHex('03 04 05 81 00'));
      expect(frame.throwAwayPayload(list)).toBe(true);
      expect(list.length).toBe(2);
    });
  });
});

describe('WebSocketFrame (ours only)', () => {
  test('can be constructed without arguments (upstream threw a TypeError)', () => {
    const frame = new OurFrame();
    frame.fin = true;
    frame.opcode = 9;
    frame.mask = true;
    expect(hex(frame.toBuffer(true))).toBe('898000000000');
  });

  test('is the frame class exported by the package', () => {
    expect(require('../../lib/websocket').frame).toBe(OurFrame);
  });
});
