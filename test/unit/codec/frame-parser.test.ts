import { FrameParser, type FrameHandler, type FrameParserOptions, type ParsedFrameHeader } from '../../../lib/codec/frame-parser';
import { WebSocketError } from '../../../lib/codec/errors';
import {
  DEFAULT_PARSER_OPTIONS,
  RecordingFrameHandler,
  buildFrame,
  byteCuts,
  fromHex,
  hex,
  parseChunks,
  prng,
  randomBytesFrom,
} from '../../helpers/codec-fixtures';

interface ExpectedFrame {
  fin: boolean;
  opcode: number;
  masked: boolean;
  maskKey?: string;
  payload: Buffer;
  rsv1?: boolean;
}

/**
 * Checks each event as it arrives instead of recording copies, so the 64 KiB vector can be split at
 * every one of its offsets quickly. A piece that is a view of the expected bytes' own memory is
 * accepted without comparing them (the parser hands out zero-copy views of unmasked chunks).
 */
class VerifyingHandler implements FrameHandler {
  failure: string | null = null;
  private index = 0;
  private offset = 0;
  private inFrame = false;

  constructor(private readonly expected: readonly ExpectedFrame[]) {}

  private fail(message: string): void {
    if (this.failure === null) this.failure = message;
  }

  onFrameHeader(h: ParsedFrameHeader): void {
    const e = this.expected[this.index];
    if (e === undefined) return this.fail(`unexpected frame #${this.index}`);
    if (this.inFrame) this.fail('header inside a frame');
    this.inFrame = true;
    this.offset = 0;
    if (h.fin !== e.fin || h.opcode !== e.opcode || h.masked !== e.masked || h.length !== e.payload.length) {
      this.fail(`frame #${this.index}: header ${JSON.stringify({ fin: h.fin, opcode: h.opcode, masked: h.masked, length: h.length })}`);
    }
    if (h.rsv1 !== (e.rsv1 ?? false) || h.rsv2 || h.rsv3) this.fail(`frame #${this.index}: rsv bits`);
    if (e.masked && hex(h.maskKey) !== e.maskKey) this.fail(`frame #${this.index}: mask key ${hex(h.maskKey)}`);
  }

  onFramePayload(piece: Buffer): void {
    const e = this.expected[this.index];
    if (e === undefined || !this.inFrame) return this.fail('payload outside a frame');
    const end = this.offset + piece.length;
    if (end > e.payload.length) return this.fail(`frame #${this.index}: too much payload`);
    const sameMemory =
      piece.buffer === e.payload.buffer && piece.byteOffset === e.payload.byteOffset + this.offset;
    if (!sameMemory && !piece.equals(e.payload.subarray(this.offset, end))) {
      this.fail(`frame #${this.index}: payload differs at ${this.offset}`);
    }
    this.offset = end;
  }

  onFrameEnd(): void {
    const e = this.expected[this.index];
    if (e === undefined || !this.inFrame) return this.fail('end outside a frame');
    if (this.offset !== e.payload.length) this.fail(`frame #${this.index}: ended after ${this.offset} bytes`);
    this.inFrame = false;
    this.index++;
  }

  /** Null when every expected frame arrived complete, in order; otherwise the first problem. */
  verdict(): string | null {
    if (this.failure !== null) return this.failure;
    if (this.inFrame) return 'stream ended inside a frame';
    if (this.index !== this.expected.length) return `got ${this.index} of ${this.expected.length} frames`;
    return null;
  }
}

/**
 * Feeds `wire` whole, then split into two chunks at every offset, then byte by byte, and expects the
 * same frames each time. Masked input is copied per run because the parser unmasks in place.
 */
function expectSameFramesUnderEverySplit(wire: Buffer, expected: ExpectedFrame[], copyInput: boolean): void {
  const run = (cuts: number[]): string | null => {
    const handler = new VerifyingHandler(expected);
    const parser = new FrameParser(handler, DEFAULT_PARSER_OPTIONS);
    const input = copyInput ? Buffer.from(wire) : wire;
    let start = 0;
    for (const cut of [...cuts, input.length]) {
      parser.push(input.subarray(start, cut));
      start = cut;
    }
    return handler.verdict();
  };
  expect(run([])).toBeNull();
  for (let cut = 0; cut <= wire.length; cut++) {
    const verdict = run([cut]);
    if (verdict !== null) throw new Error(`split at ${cut}: ${verdict}`);
  }
  expect(run(byteCuts(wire.length))).toBeNull();
}

const HELLO = Buffer.from('Hello');

describe('FrameParser: RFC 6455 §5.7 examples, whole / split at every offset / byte by byte', () => {
  test('single-frame unmasked text "Hello"', () => {
    expectSameFramesUnderEverySplit(fromHex('81 05 48 65 6c 6c 6f'), [{ fin: true, opcode: 1, masked: false, payload: HELLO }], true);
  });

  test('single-frame masked text "Hello"', () => {
    expectSameFramesUnderEverySplit(
      fromHex('81 85 37 fa 21 3d 7f 9f 4d 51 58'),
      [{ fin: true, opcode: 1, masked: true, maskKey: '37fa213d', payload: HELLO }],
      true,
    );
  });

  test('fragmented unmasked text "Hel" + "lo"', () => {
    expectSameFramesUnderEverySplit(
      fromHex('01 03 48 65 6c 80 02 6c 6f'),
      [
        { fin: false, opcode: 1, masked: false, payload: Buffer.from('Hel') },
        { fin: true, opcode: 0, masked: false, payload: Buffer.from('lo') },
      ],
      true,
    );
  });

  test('unmasked ping with body "Hello"', () => {
    expectSameFramesUnderEverySplit(fromHex('89 05 48 65 6c 6c 6f'), [{ fin: true, opcode: 9, masked: false, payload: HELLO }], true);
  });

  test('masked pong with body "Hello"', () => {
    expectSameFramesUnderEverySplit(
      fromHex('8a 85 37 fa 21 3d 7f 9f 4d 51 58'),
      [{ fin: true, opcode: 0xa, masked: true, maskKey: '37fa213d', payload: HELLO }],
      true,
    );
  });

  test('256 bytes binary in a single unmasked frame (16-bit length)', () => {
    const payload = randomBytesFrom(prng(256), 256);
    const wire = Buffer.concat([fromHex('82 7E 01 00'), payload]);
    expectSameFramesUnderEverySplit(wire, [{ fin: true, opcode: 2, masked: false, payload }], true);
  });

  test('64KiB binary in a single unmasked frame (64-bit length)', () => {
    const wire = Buffer.concat([fromHex('82 7F 00 00 00 00 00 01 00 00'), randomBytesFrom(prng(65536), 65536)]);
    // Unmasked input is never written to, so the payload can be a view of the wire bytes.
    const payload = wire.subarray(10);
    const before = Buffer.from(wire);
    expectSameFramesUnderEverySplit(wire, [{ fin: true, opcode: 2, masked: false, payload }], false);
    expect(wire.equals(before)).toBe(true);
  });

  test('a masked 300-byte frame followed by a masked ping (mask key offset carried across chunks)', () => {
    const payload = randomBytesFrom(prng(300), 300);
    const wire = Buffer.concat([
      buildFrame({ opcode: 2, payload, mask: [1, 0x80, 0xfe, 0x33] }),
      buildFrame({ opcode: 9, payload: HELLO, mask: [9, 8, 7, 6] }),
    ]);
    expectSameFramesUnderEverySplit(
      wire,
      [
        { fin: true, opcode: 2, masked: true, maskKey: '0180fe33', payload },
        { fin: true, opcode: 9, masked: true, maskKey: '09080706', payload: HELLO },
      ],
      true,
    );
  });

  test('all example frames back to back in one stream', () => {
    const wire = fromHex(
      '81 05 48 65 6c 6c 6f 81 85 37 fa 21 3d 7f 9f 4d 51 58 01 03 48 65 6c 89 05 48 65 6c 6c 6f 80 02 6c 6f 8a 85 37 fa 21 3d 7f 9f 4d 51 58',
    );
    expectSameFramesUnderEverySplit(
      wire,
      [
        { fin: true, opcode: 1, masked: false, payload: HELLO },
        { fin: true, opcode: 1, masked: true, maskKey: '37fa213d', payload: HELLO },
        { fin: false, opcode: 1, masked: false, payload: Buffer.from('Hel') },
        { fin: true, opcode: 9, masked: false, payload: HELLO },
        { fin: true, opcode: 0, masked: false, payload: Buffer.from('lo') },
        { fin: true, opcode: 0xa, masked: true, maskKey: '37fa213d', payload: HELLO },
      ],
      true,
    );
  });

  test('the handler sees header → payload → end, and the header is filled in when onFrameHeader runs', () => {
    const calls: string[] = [];
    const parser = new FrameParser(
      {
        onFrameHeader: (h) => calls.push(`header ${h.opcode} ${h.length} ${h.masked}`),
        onFramePayload: (piece) => calls.push(`payload ${piece.toString()}`),
        onFrameEnd: (h) => calls.push(`end ${h.opcode}`),
      },
      DEFAULT_PARSER_OPTIONS,
    );
    parser.push(fromHex('81 85 37 fa 21 3d 7f 9f 4d 51 58 89 00'));
    expect(calls).toEqual(['header 1 5 true', 'payload Hello', 'end 1', 'header 9 0 false', 'payload ', 'end 9']);
  });
});

describe('FrameParser: every length form boundary', () => {
  const LENGTHS = [0, 1, 125, 126, 127, 65535, 65536];
  const rand = prng(7);

  for (const length of LENGTHS) {
    for (const mask of [null, [0xa1, 0xb2, 0xc3, 0xd4]] as const) {
      test(`length ${length} ${mask ? 'masked' : 'unmasked'}: header form, whole and in pieces`, () => {
        const payload = randomBytesFrom(rand, length);
        const wire = buildFrame({ opcode: 2, payload, mask });
        const expectedHeader = length < 126 ? 2 : length < 65536 ? 4 : 10;
        expect(wire.length).toBe(expectedHeader + (mask ? 4 : 0) + length);
        const cutsList: number[][] = [[], byteCuts(Math.min(wire.length, expectedHeader + 6)), [1], [expectedHeader - 1]];
        if (length > 0) cutsList.push([wire.length - 1], [Math.floor(wire.length / 2)]);
        for (const cuts of cutsList) {
          const result = parseChunks(wire, cuts);
          expect(result.error).toBeNull();
          expect(result.orderErrors).toEqual([]);
          expect(result.frames).toHaveLength(1);
          const frame = result.frames[0]!;
          expect(frame.length).toBe(length);
          expect(frame.masked).toBe(mask !== null);
          expect(frame.payload.equals(payload)).toBe(true);
        }
      });
    }
  }

  test('the largest 7-bit, smallest 16-bit and largest 16-bit lengths decode from their exact header bytes', () => {
    expect(parseChunks(Buffer.concat([fromHex('82 7d'), Buffer.alloc(125)]), []).frames[0]!.length).toBe(125);
    expect(parseChunks(Buffer.concat([fromHex('82 7e 00 7e'), Buffer.alloc(126)]), []).frames[0]!.length).toBe(126);
    expect(parseChunks(Buffer.concat([fromHex('82 7e ff ff'), Buffer.alloc(65535)]), []).frames[0]!.length).toBe(65535);
    expect(parseChunks(Buffer.concat([fromHex('82 7f 00 00 00 00 00 01 00 00'), Buffer.alloc(65536)]), []).frames[0]!.length).toBe(65536);
  });

  test('a header announcing 2^53-1 bytes is accepted (the payload just has not arrived)', () => {
    const handler = new RecordingFrameHandler();
    const parser = new FrameParser(handler, DEFAULT_PARSER_OPTIONS);
    parser.push(fromHex('82 7f 00 1f ff ff ff ff ff ff 01 02 03'));
    expect(handler.midFrame).toBe(true);
  });
});

/** Feeds `wire` whole and byte by byte and expects the same WebSocketError both times. */
function expectViolation(wire: Buffer, options: Partial<FrameParserOptions>, closeCode: number, message: string | RegExp): void {
  for (const cuts of [[], byteCuts(wire.length)]) {
    const result = parseChunks(wire, cuts, options);
    expect(result.error).toBeInstanceOf(WebSocketError);
    expect(result.error!.closeCode).toBe(closeCode);
    if (typeof message === 'string') expect(result.error!.message).toBe(message);
    else expect(result.error!.message).toMatch(message);
    expect(result.frames).toEqual([]);
  }
}

describe('FrameParser: violations', () => {
  test('control frames longer than 125 bytes → 1002', () => {
    const msg = 'Illegal control frame longer than 125 bytes.';
    for (const opcode of [0x8, 0x9, 0xa]) {
      expectViolation(Buffer.concat([Buffer.from([0x80 | opcode, 126, 0, 126]), Buffer.alloc(126)]), {}, 1002, msg);
      expectViolation(Buffer.from([0x80 | opcode, 127, 0, 0, 0, 0, 0, 0, 0, 200]), {}, 1002, msg);
      expectViolation(Buffer.from([0x80 | opcode, 0x80 | 126, 0, 126, 1, 2, 3, 4]), {}, 1002, msg);
    }
    // 125 is still fine.
    expect(parseChunks(Buffer.concat([fromHex('89 7d'), Buffer.alloc(125)]), []).error).toBeNull();
  });

  test('fragmented control frames → 1002', () => {
    for (const opcode of [0x8, 0x9, 0xa]) {
      expectViolation(Buffer.from([opcode, 0]), {}, 1002, 'Control frames must not be fragmented.');
      expectViolation(Buffer.from([opcode, 0x85, 1, 2, 3, 4, 5, 6, 7, 8, 9]), {}, 1002, 'Control frames must not be fragmented.');
    }
  });

  test('a fragmented control frame that is also too long reports the length, as WebSocket-Node does', () => {
    // WebSocketFrame.addData checks the 125-byte limit before the FIN bit.
    expectViolation(Buffer.from([0x09, 126, 0, 200]), {}, 1002, 'Illegal control frame longer than 125 bytes.');
  });

  test('RSV1/RSV2/RSV3 without a negotiated extension → 1002', () => {
    const msg = 'Unsupported usage of rsv bits without negotiated extension.';
    for (const rsv of [4, 2, 1, 7]) {
      expectViolation(buildFrame({ opcode: 1, rsv, payload: HELLO }), {}, 1002, msg);
    }
    // With RSV1 negotiated, only RSV2 and RSV3 stay illegal.
    expect(parseChunks(buildFrame({ opcode: 1, rsv: 4, payload: HELLO }), [], { allowRsv1: true }).frames[0]!.rsv1).toBe(true);
    expectViolation(buildFrame({ opcode: 1, rsv: 2, payload: HELLO }), { allowRsv1: true }, 1002, msg);
    expectViolation(buildFrame({ opcode: 1, rsv: 1, payload: HELLO }), { allowRsv1: true }, 1002, msg);
  });

  test("maskPolicy 'require' refuses unmasked frames (a server, RFC 6455 §5.1)", () => {
    expectViolation(fromHex('81 05 48 65 6c 6c 6f'), { maskPolicy: 'require' }, 1002, 'Received an unmasked frame from the client.');
    expectViolation(fromHex('89 00'), { maskPolicy: 'require' }, 1002, 'Received an unmasked frame from the client.');
    expect(parseChunks(fromHex('81 85 37 fa 21 3d 7f 9f 4d 51 58'), [], { maskPolicy: 'require' }).frames).toHaveLength(1);
  });

  test("maskPolicy 'forbid' refuses masked frames (a client, RFC 6455 §5.1)", () => {
    expectViolation(fromHex('81 85 37 fa 21 3d 7f 9f 4d 51 58'), { maskPolicy: 'forbid' }, 1002, 'Received a masked frame from the server.');
    expect(parseChunks(fromHex('81 05 48 65 6c 6c 6f'), [], { maskPolicy: 'forbid' }).frames).toHaveLength(1);
  });

  test("maskPolicy 'any' accepts both", () => {
    const wire = fromHex('81 05 48 65 6c 6c 6f 81 85 37 fa 21 3d 7f 9f 4d 51 58');
    expect(parseChunks(wire, [], { maskPolicy: 'any' }).frames.map((f) => f.masked)).toEqual([false, true]);
  });

  test('a 64-bit length with its most significant bit set → 1002', () => {
    expectViolation(fromHex('82 7f 80 00 00 00 00 00 00 05'), {}, 1002, 'Unsupported 64-bit length frame received');
    expectViolation(fromHex('82 ff ff ff ff ff ff ff ff ff 01 02 03 04'), {}, 1002, 'Unsupported 64-bit length frame received');
  });

  test('a frame above maxFrameSize → 1009, detected from the header alone', () => {
    const wire = buildFrame({ opcode: 2, payload: Buffer.alloc(1001) });
    expectViolation(wire.subarray(0, 4), { maxFrameSize: 1000 }, 1009, 'Frame size of 1001 bytes exceeds maximum accepted frame size');
    expectViolation(
      buildFrame({ opcode: 1, payload: Buffer.alloc(70000), mask: [1, 2, 3, 4] }).subarray(0, 14),
      { maxFrameSize: 65536 },
      1009,
      'Frame size of 70000 bytes exceeds maximum accepted frame size',
    );
    expect(parseChunks(buildFrame({ opcode: 2, payload: Buffer.alloc(1000) }), [], { maxFrameSize: 1000 }).frames).toHaveLength(1);
    expect(parseChunks(fromHex('82 00'), [], { maxFrameSize: 0 }).frames).toHaveLength(1);
    expectViolation(fromHex('82 01 00'), { maxFrameSize: 0 }, 1009, 'Frame size of 1 bytes exceeds maximum accepted frame size');
  });

  test('the error is a WebSocketError with a stable code', () => {
    const tooBig = parseChunks(fromHex('82 7e 01 00'), [], { maxFrameSize: 10 }).error!;
    expect(tooBig.code).toBe('WS_ERR_MESSAGE_TOO_BIG');
    expect(tooBig.name).toBe('WebSocketError');
    expect(parseChunks(fromHex('09 00'), []).error!.code).toBe('WS_ERR_PROTOCOL');
  });

  test('64-bit lengths above 2^53-1 → 1009', () => {
    expectViolation(fromHex('82 7f 00 20 00 00 00 00 00 00'), {}, 1009, 'Frame size of 9007199254740992 bytes exceeds maximum accepted frame size');
    expectViolation(fromHex('82 7f 7f ff ff ff ff ff ff ff'), {}, 1009, /^Frame size of \d+ bytes exceeds maximum accepted frame size$/);
    expectViolation(fromHex('82 7f 00 20 00 00 00 00 00 01'), {}, 1009, /^Frame size of \d+ bytes exceeds maximum accepted frame size$/);
  });

  test('frames before the bad one are delivered; nothing after it', () => {
    const wire = Buffer.concat([fromHex('81 05 48 65 6c 6c 6f'), fromHex('09 00'), fromHex('81 00')]);
    const result = parseChunks(wire, []);
    expect(result.frames).toHaveLength(1);
    expect(result.error!.message).toBe('Control frames must not be fragmented.');
  });
});

describe('FrameParser: stop() and resume()', () => {
  const three = (): Buffer =>
    Buffer.concat([
      buildFrame({ opcode: 1, payload: Buffer.from('one'), mask: [1, 2, 3, 4] }),
      buildFrame({ opcode: 2, payload: randomBytesFrom(prng(3), 300), mask: [5, 6, 7, 8] }),
      buildFrame({ opcode: 1, payload: Buffer.from('three'), mask: [9, 10, 11, 12] }),
    ]);
  const expectedPayloads = (): string[] => ['one', randomBytesFrom(prng(3), 300).toString('hex'), 'three'];
  const decode = (h: RecordingFrameHandler): string[] =>
    h.frames.map((f) => (f.opcode === 1 ? f.payload.toString() : f.payload.toString('hex')));

  test('stop() in onFrameEnd keeps the rest of the chunk; resume() continues with it', () => {
    const handler = new RecordingFrameHandler();
    const parser = new FrameParser(handler, DEFAULT_PARSER_OPTIONS);
    handler.onEndHook = () => parser.stop();
    parser.push(three());
    expect(handler.frames).toHaveLength(1);
    expect(parser.isStopped).toBe(true);
    parser.resume();
    expect(handler.frames).toHaveLength(2);
    parser.resume();
    expect(handler.frames).toHaveLength(3);
    handler.onEndHook = null;
    parser.resume();
    expect(parser.isStopped).toBe(false);
    expect(decode(handler)).toEqual(expectedPayloads());
  });

  test('chunks pushed while stopped are queued behind the leftover, in order', () => {
    const wire = three();
    for (let cut = 1; cut < wire.length; cut += 7) {
      const handler = new RecordingFrameHandler();
      const parser = new FrameParser(handler, DEFAULT_PARSER_OPTIONS);
      handler.onEndHook = () => parser.stop();
      const copy = Buffer.from(wire);
      parser.push(copy.subarray(0, cut));
      parser.push(copy.subarray(cut));
      // Resume until everything is out; each resume releases at most one more frame.
      for (let i = 0; i < 5 && handler.frames.length < 3; i++) parser.resume();
      expect(handler.orderErrors).toEqual([]);
      expect(decode(handler)).toEqual(expectedPayloads());
    }
  });

  test('stop() in onFrameHeader holds back the payload; resume() delivers it unmasked correctly', () => {
    const handler = new RecordingFrameHandler();
    const parser = new FrameParser(handler, DEFAULT_PARSER_OPTIONS);
    handler.onHeaderHook = () => parser.stop();
    parser.push(three());
    expect(handler.midFrame).toBe(true);
    expect(handler.frames).toHaveLength(0);
    handler.onHeaderHook = null;
    parser.resume();
    expect(decode(handler)).toEqual(expectedPayloads());
  });

  test('stop() in onFramePayload mid-frame, with the frame spread over chunks', () => {
    const wire = three();
    const handler = new RecordingFrameHandler();
    const parser = new FrameParser(
      {
        onFrameHeader: (h) => handler.onFrameHeader(h),
        onFramePayload: (piece, h) => {
          handler.onFramePayload(piece, h);
          parser.stop();
        },
        onFrameEnd: (h) => handler.onFrameEnd(h),
      },
      DEFAULT_PARSER_OPTIONS,
    );
    const copy = Buffer.from(wire);
    for (let at = 0; at < copy.length; at += 50) parser.push(copy.subarray(at, Math.min(at + 50, copy.length)));
    for (let i = 0; i < 100 && handler.frames.length < 3; i++) parser.resume();
    expect(handler.midFrame).toBe(false);
    expect(handler.orderErrors).toEqual([]);
    expect(decode(handler)).toEqual(expectedPayloads());
  });

  test('stop() with nothing left in the chunk keeps no leftover; a later chunk waits for resume()', () => {
    const handler = new RecordingFrameHandler();
    const parser = new FrameParser(handler, DEFAULT_PARSER_OPTIONS);
    handler.onEndHook = () => parser.stop();
    parser.push(fromHex('81 02 68 69'));
    expect(parser.isStopped).toBe(true);
    parser.push(fromHex('81 02 79 6f'));
    expect(handler.frames).toHaveLength(1);
    handler.onEndHook = null;
    parser.resume();
    expect(handler.frames.map((f) => f.payload.toString())).toEqual(['hi', 'yo']);
  });

  test('a header split across a stop keeps its partial bytes', () => {
    const handler = new RecordingFrameHandler();
    const parser = new FrameParser(handler, DEFAULT_PARSER_OPTIONS);
    // The second frame's 16-bit length header is cut after 3 bytes, then the transport pauses.
    const second = buildFrame({ opcode: 2, payload: Buffer.alloc(200, 7), mask: [1, 1, 1, 1] });
    parser.push(Buffer.concat([fromHex('81 00'), second.subarray(0, 3)]));
    parser.stop();
    parser.push(second.subarray(3));
    expect(handler.frames).toHaveLength(1);
    expect(handler.midFrame).toBe(false);
    parser.resume();
    expect(handler.frames).toHaveLength(2);
    expect(handler.frames[1]!.payload.equals(Buffer.alloc(200, 7))).toBe(true);
  });

  test('an error found while resuming is thrown from resume()', () => {
    const handler = new RecordingFrameHandler();
    const parser = new FrameParser(handler, DEFAULT_PARSER_OPTIONS);
    handler.onEndHook = () => parser.stop();
    parser.push(fromHex('81 00 09 00'));
    expect(() => parser.resume()).toThrow('Control frames must not be fragmented.');
  });

  test('reset() drops the leftover and any partial frame', () => {
    const handler = new RecordingFrameHandler();
    const parser = new FrameParser(handler, DEFAULT_PARSER_OPTIONS);
    parser.push(fromHex('81 05 48 65'));
    parser.reset();
    parser.push(fromHex('81 02 68 69'));
    expect(handler.frames.map((f) => f.payload.toString())).toEqual(['hi']);
    handler.onEndHook = () => parser.stop();
    parser.push(fromHex('81 00 81 00'));
    expect(handler.frames).toHaveLength(2);
    parser.reset();
    handler.onEndHook = null;
    parser.resume();
    // The second empty frame was dropped with the rest of the queue.
    expect(handler.frames).toHaveLength(2);
    parser.push(fromHex('81 01 7a'));
    expect(handler.frames.map((f) => f.payload.toString())).toEqual(['hi', '', 'z']);
  });
});

describe('FrameParser: random streams', () => {
  test('random frames in random chunkings parse identically', () => {
    const rand = prng(2024);
    for (let round = 0; round < 60; round++) {
      const expected: { opcode: number; fin: boolean; payload: Buffer; mask: number[] | null }[] = [];
      const parts: Buffer[] = [];
      const count = 1 + Math.floor(rand() * 6);
      for (let i = 0; i < count; i++) {
        const control = rand() < 0.3;
        const opcode = control ? [8, 9, 10][Math.floor(rand() * 3)]! : [0, 1, 2][Math.floor(rand() * 3)]!;
        const fin = control ? true : rand() < 0.5;
        const sizeClass = rand();
        const length = control
          ? Math.floor(rand() * 126)
          : sizeClass < 0.6
            ? Math.floor(rand() * 130)
            : sizeClass < 0.95
              ? Math.floor(rand() * 3000)
              : 65536 + Math.floor(rand() * 100);
        const payload = randomBytesFrom(rand, length);
        const mask = rand() < 0.5 ? [0, 1, 2, 3].map(() => Math.floor(rand() * 256)) : null;
        expected.push({ opcode, fin, payload, mask });
        parts.push(buildFrame({ opcode, fin, payload, mask }));
      }
      const wire = Buffer.concat(parts);
      const cuts: number[] = [];
      for (let at = 0; ; ) {
        at += 1 + Math.floor(rand() * (rand() < 0.5 ? 8 : 2000));
        if (at >= wire.length) break;
        cuts.push(at);
      }
      const result = parseChunks(wire, cuts);
      expect(result.error).toBeNull();
      expect(result.orderErrors).toEqual([]);
      expect(result.frames).toHaveLength(expected.length);
      result.frames.forEach((frame, i) => {
        const e = expected[i]!;
        expect([frame.opcode, frame.fin, frame.masked, frame.maskKey]).toEqual([
          e.opcode,
          e.fin,
          e.mask !== null,
          e.mask === null ? null : Buffer.from(e.mask).toString('hex'),
        ]);
        expect(frame.payload.equals(e.payload)).toBe(true);
      });
    }
  });

  test('zero-length frames report one empty payload piece', () => {
    const result = parseChunks(fromHex('82 00 82 80 01 02 03 04 8a 00'), []);
    expect(result.frames.map((f) => [f.opcode, f.length, f.pieces])).toEqual([
      [2, 0, 1],
      [2, 0, 1],
      [10, 0, 1],
    ]);
  });
});

describe('FrameParser: reservePayload (unmasking straight into the handler’s buffer)', () => {
  /** Places every masked piece the parser offers into one buffer per frame; records what it saw. */
  class PlacingHandler implements FrameHandler {
    readonly frames: Buffer[] = [];
    readonly offered: number[] = [];
    placedPieces = 0;
    inPlacePieces = 0;
    private target: Buffer = Buffer.alloc(0);
    private filled = 0;
    constructor(private readonly accept: (length: number) => boolean) {}
    onFrameHeader(h: ParsedFrameHeader): void {
      this.target = Buffer.alloc(h.length, 0xee);
      this.filled = 0;
    }
    reservePayload(length: number): Buffer | null {
      this.offered.push(length);
      return this.accept(length) ? this.target.subarray(this.filled, this.filled + length) : null;
    }
    onFramePayload(piece: Buffer, _h: ParsedFrameHeader, placed: boolean): void {
      if (placed) {
        // The piece is exactly the reserved area, already filled.
        expect(piece.buffer).toBe(this.target.buffer);
        expect(piece.byteOffset).toBe(this.target.byteOffset + this.filled);
        this.placedPieces++;
      } else {
        piece.copy(this.target, this.filled);
        this.inPlacePieces++;
      }
      this.filled += piece.length;
    }
    onFrameEnd(): void {
      this.frames.push(this.target);
    }
  }

  const payload = randomBytesFrom(prng(77), 3000);
  const wire = Buffer.concat([
    buildFrame({ opcode: 2, payload, mask: [0x12, 0x34, 0x56, 0x78] }),
    buildFrame({ opcode: 2, payload: payload.subarray(0, 600), mask: [9, 8, 7, 6] }),
  ]);

  test('split at every offset: payload exact, the received chunks left masked, only pieces of 512+ bytes offered', () => {
    for (let cut = 0; cut <= wire.length; cut += 7) {
      const handler = new PlacingHandler(() => true);
      const parser = new FrameParser(handler, { maxFrameSize: 1 << 20, maskPolicy: 'require', allowRsv1: false });
      const chunks = [Buffer.from(wire.subarray(0, cut)), Buffer.from(wire.subarray(cut))];
      for (const chunk of chunks) parser.push(chunk);
      expect(handler.frames.map((frame) => frame.equals(payload.subarray(0, frame.length)))).toEqual([true, true]);
      expect(handler.frames.map((frame) => frame.length)).toEqual([3000, 600]);
      // Placed pieces were read, not unmasked in place: the wire bytes are still there, as received.
      if (handler.placedPieces > 0 && handler.inPlacePieces === 0) expect(Buffer.concat(chunks).equals(wire)).toBe(true);
      expect(handler.offered.every((length) => length >= 512)).toBe(true);
    }
  });

  test('a handler may decline (null): the piece is unmasked in place as before', () => {
    const handler = new PlacingHandler((length) => length > 1000);
    const parser = new FrameParser(handler, { maxFrameSize: 1 << 20, maskPolicy: 'require', allowRsv1: false });
    parser.push(Buffer.from(wire.subarray(0, 1500)));
    parser.push(Buffer.from(wire.subarray(1500)));
    expect(handler.frames[0]!.equals(payload)).toBe(true);
    expect(handler.frames[1]!.equals(payload.subarray(0, 600))).toBe(true);
    expect(handler.placedPieces).toBeGreaterThan(0);
    expect(handler.inPlacePieces).toBeGreaterThan(0);
  });

  test('unmasked frames are never offered (nothing to unmask)', () => {
    const handler = new PlacingHandler(() => true);
    const parser = new FrameParser(handler, { maxFrameSize: 1 << 20, maskPolicy: 'forbid', allowRsv1: false });
    const plain = buildFrame({ opcode: 2, payload });
    parser.push(plain.subarray(0, 1000));
    parser.push(plain.subarray(1000));
    expect(handler.offered).toEqual([]);
    expect(handler.frames[0]!.equals(payload)).toBe(true);
  });
});

describe('FrameParser: re-entrancy and the queue of stopped chunks', () => {
  /**
   * Counts how deep the handler's events nest: a parser that re-entered itself from inside an
   * event (a push() or resume() made there) would deliver the next event one level deeper.
   */
  class DepthHandler implements FrameHandler {
    depth = 0;
    maxDepth = 0;
    readonly frames: { opcode: number; payload: Buffer }[] = [];
    private pieces: Buffer[] = [];
    onHeader: ((h: ParsedFrameHeader) => void) | null = null;
    onPiece: ((piece: Buffer, h: ParsedFrameHeader) => void) | null = null;
    onEnd: ((h: ParsedFrameHeader, index: number) => void) | null = null;

    private enter<T>(fn: () => T): T {
      this.depth++;
      this.maxDepth = Math.max(this.maxDepth, this.depth);
      try {
        return fn();
      } finally {
        this.depth--;
      }
    }
    onFrameHeader(h: ParsedFrameHeader): void {
      this.enter(() => {
        this.pieces = [];
        this.onHeader?.(h);
      });
    }
    onFramePayload(piece: Buffer, h: ParsedFrameHeader): void {
      this.enter(() => {
        this.pieces.push(Buffer.from(piece));
        this.onPiece?.(piece, h);
      });
    }
    onFrameEnd(h: ParsedFrameHeader): void {
      this.enter(() => {
        this.frames.push({ opcode: h.opcode, payload: Buffer.concat(this.pieces) });
        this.onEnd?.(h, this.frames.length - 1);
      });
    }
    get texts(): string[] {
      return this.frames.map((f) => f.payload.toString());
    }
  }

  const text = (s: string): Buffer => buildFrame({ opcode: 1, payload: Buffer.from(s) });

  test('push() from inside onFrameEnd only queues: the pushed frame follows after the handler returns, depth stays 1', () => {
    const handler = new DepthHandler();
    const parser = new FrameParser(handler, DEFAULT_PARSER_OPTIONS);
    const next = ['two', 'three', 'four'];
    const seenRightAfterPush: number[] = [];
    handler.onEnd = () => {
      const s = next.shift();
      if (s === undefined) return;
      const before = handler.frames.length;
      parser.push(text(s));
      // Not parsed from inside push(): the running loop takes it once this event returns.
      seenRightAfterPush.push(handler.frames.length - before);
    };
    parser.push(text('one'));
    expect(handler.texts).toEqual(['one', 'two', 'three', 'four']);
    expect(seenRightAfterPush).toEqual([0, 0, 0]);
    expect(handler.maxDepth).toBe(1);
  });

  test('stop() then resume() inside the same onFrameEnd: parsing goes on after the event, without recursion', () => {
    const handler = new DepthHandler();
    const parser = new FrameParser(handler, DEFAULT_PARSER_OPTIONS);
    handler.onEnd = () => {
      parser.stop();
      const before = handler.frames.length;
      parser.resume();
      expect(handler.frames.length).toBe(before);
    };
    parser.push(Buffer.concat([text('a'), text('b'), text('c')]));
    expect(handler.texts).toEqual(['a', 'b', 'c']);
    expect(handler.maxDepth).toBe(1);
    expect(parser.isStopped).toBe(false);
  });

  test('resume() from inside an event, with chunks queued while stopped: all of them, in order, depth 1', () => {
    const handler = new DepthHandler();
    const parser = new FrameParser(handler, DEFAULT_PARSER_OPTIONS);
    handler.onEnd = (_h, index) => {
      if (index === 0) {
        // Stop, get more bytes while stopped, and resume, all from inside the event.
        parser.stop();
        parser.push(text('q1'));
        parser.push(text('q2'));
        parser.resume();
        parser.push(text('q3'));
      }
    };
    parser.push(Buffer.concat([text('first'), text('second')]));
    expect(handler.texts).toEqual(['first', 'second', 'q1', 'q2', 'q3']);
    expect(handler.maxDepth).toBe(1);
  });

  test('push() and resume() from inside onFramePayload of a frame split over chunks', () => {
    const handler = new DepthHandler();
    const parser = new FrameParser(handler, DEFAULT_PARSER_OPTIONS);
    const masked = buildFrame({ opcode: 2, payload: Buffer.from('0123456789abcdef'), mask: [1, 2, 3, 4] });
    const rest: Buffer[] = [masked.subarray(9, 14), masked.subarray(14), text('after')];
    handler.onPiece = () => {
      const chunk = rest.shift();
      if (chunk === undefined) return;
      parser.stop();
      parser.push(Buffer.from(chunk));
      parser.resume();
    };
    parser.push(Buffer.from(masked.subarray(0, 9)));
    expect(handler.frames.map((f) => f.payload.toString())).toEqual(['0123456789abcdef', 'after']);
    expect(handler.maxDepth).toBe(1);
  });

  test('resume() from inside onFrameHeader of a stopped parser continues with that frame\'s payload', () => {
    const handler = new DepthHandler();
    const parser = new FrameParser(handler, DEFAULT_PARSER_OPTIONS);
    handler.onHeader = () => {
      parser.stop();
      parser.resume();
    };
    parser.push(Buffer.concat([text('x'), text('yz')]));
    expect(handler.texts).toEqual(['x', 'yz']);
    expect(handler.maxDepth).toBe(1);
  });

  test('10,000 chunks pushed while stopped are all parsed after one resume(); payload pieces are views of the pushed chunks', () => {
    const rand = prng(10_000);
    const payloads: Buffer[] = [];
    const parts: Buffer[] = [];
    let total = 0;
    // Unmasked frames of 0-40 bytes, about 170 KiB in all, then cut into exactly 10,000 chunks.
    while (total < 170_000) {
      const payload = randomBytesFrom(rand, Math.floor(rand() * 41));
      payloads.push(payload);
      const frame = buildFrame({ opcode: 2, payload });
      parts.push(frame);
      total += frame.length;
    }
    const wire = Buffer.concat(parts);
    const cutSet = new Set<number>();
    while (cutSet.size < 9_999) cutSet.add(1 + Math.floor(rand() * (wire.length - 1)));
    const cuts = [...cutSet].sort((a, b) => a - b);
    const chunks: Buffer[] = [];
    let start = 0;
    for (const cut of [...cuts, wire.length]) {
      // Buffer.alloc never uses the shared pool: every chunk has its own ArrayBuffer.
      const chunk = Buffer.alloc(cut - start);
      wire.copy(chunk, 0, start, cut);
      chunks.push(chunk);
      start = cut;
    }
    expect(chunks).toHaveLength(10_000);
    const owner = new Map<ArrayBufferLike, Buffer>(chunks.map((c) => [c.buffer, c]));
    expect(owner.size).toBe(10_000);

    let foreignPieces = 0;
    let pieces = 0;
    const received: Buffer[] = [];
    let current: Buffer[] = [];
    const parser = new FrameParser(
      {
        onFrameHeader: () => {
          current = [];
        },
        onFramePayload: (piece) => {
          if (piece.length === 0) return;
          pieces++;
          const chunk = owner.get(piece.buffer);
          const inside =
            chunk !== undefined && piece.byteOffset >= chunk.byteOffset && piece.byteOffset + piece.length <= chunk.byteOffset + chunk.length;
          if (!inside) foreignPieces++;
          current.push(Buffer.from(piece));
        },
        onFrameEnd: () => {
          received.push(Buffer.concat(current));
        },
      },
      DEFAULT_PARSER_OPTIONS,
    );
    parser.stop();
    for (const chunk of chunks) parser.push(chunk);
    expect(received).toHaveLength(0);
    parser.resume();
    expect(received).toHaveLength(payloads.length);
    expect(received.every((p, i) => p.equals(payloads[i]!))).toBe(true);
    expect(pieces).toBeGreaterThan(1000);
    // No piece was a copy: nothing was concatenated while the parser was stopped.
    expect(foreignPieces).toBe(0);
  });

  test('a frame whose header and payload span many chunks queued while stopped arrives whole', () => {
    const payload = randomBytesFrom(prng(99), 70_000);
    const wire = buildFrame({ opcode: 2, payload, mask: [0xde, 0xad, 0xbe, 0xef] });
    const handler = new RecordingFrameHandler();
    const parser = new FrameParser(handler, DEFAULT_PARSER_OPTIONS);
    parser.stop();
    for (let at = 0; at < wire.length; at += 7) parser.push(Buffer.from(wire.subarray(at, at + 7)));
    expect(handler.frames).toHaveLength(0);
    parser.resume();
    expect(handler.orderErrors).toEqual([]);
    expect(handler.frames).toHaveLength(1);
    expect(handler.frames[0]!.payload.equals(payload)).toBe(true);
  });

  test('halt() from inside onFrameEnd drops the queue: nothing after it is parsed, later bytes are ignored', () => {
    const handler = new DepthHandler();
    const parser = new FrameParser(handler, DEFAULT_PARSER_OPTIONS);
    parser.stop();
    for (const s of ['a', 'b', 'c', 'd']) parser.push(text(s));
    handler.onEnd = (_h, index) => {
      if (index === 1) parser.halt();
    };
    parser.resume();
    expect(handler.texts).toEqual(['a', 'b']);
    parser.push(text('e'));
    parser.resume();
    expect(handler.texts).toEqual(['a', 'b']);
    expect(parser.isStopped).toBe(true);
  });

  test('halt() from inside onFrameEnd drops the rest of the same chunk too', () => {
    const handler = new DepthHandler();
    const parser = new FrameParser(handler, DEFAULT_PARSER_OPTIONS);
    handler.onEnd = () => parser.halt();
    parser.push(Buffer.concat([text('only'), text('dropped'), text('dropped too')]));
    expect(handler.texts).toEqual(['only']);
  });

  test('halt() from inside onFramePayload mid-frame: no end event follows for the unfinished frame', () => {
    const ends: number[] = [];
    const parser: FrameParser = new FrameParser(
      {
        onFrameHeader: () => undefined,
        onFramePayload: () => parser.halt(),
        onFrameEnd: (h) => ends.push(h.opcode),
      },
      DEFAULT_PARSER_OPTIONS,
    );
    const frame = buildFrame({ opcode: 2, payload: Buffer.alloc(100, 1) });
    parser.push(frame.subarray(0, 50));
    parser.push(frame.subarray(50));
    expect(ends).toEqual([]);
  });

  test('halt() from inside onFrameHeader: the halted frame reports nothing more', () => {
    const events: string[] = [];
    const parser: FrameParser = new FrameParser(
      {
        onFrameHeader: () => {
          events.push('header');
          parser.halt();
        },
        onFramePayload: () => events.push('payload'),
        onFrameEnd: () => events.push('end'),
      },
      DEFAULT_PARSER_OPTIONS,
    );
    parser.push(Buffer.concat([fromHex('82 00'), text('next')]));
    expect(events).toEqual(['header']);
  });
});
