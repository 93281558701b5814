import { WebSocketProtocol, type ProtocolOptions, type Role } from '../../../lib/protocol/protocol';
import { FRAGMENT_OVERHEAD } from '../../../lib/protocol/message-assembler';
import { WebSocketError } from '../../../lib/codec/errors';
import {
  RecordingProtocolHandler,
  RecordingSink,
  buildFrame,
  fixedMaskKeys,
  fromHex,
  hex,
  parseChunks,
  prng,
  randomBytesFrom,
  referenceMask,
} from '../../helpers/codec-fixtures';

const BASE = {
  maxFrameSize: 0x100000,
  maxMessageSize: 0x800000,
  assembleFragments: true,
};

/** The live send settings, as a connection's config holds them; tests may change them mid-way. */
interface Settings {
  fragmentOutgoingMessages?: boolean;
  fragmentationThreshold?: number;
  maxReceivedFrameSize?: number;
}

type SetupOptions = Partial<ProtocolOptions> & { fragmentOutgoing?: boolean; fragmentationThreshold?: number };

function setup(role: Role, overrides: SetupOptions = {}) {
  const handler = new RecordingProtocolHandler();
  const sink = new RecordingSink();
  const { fragmentOutgoing, fragmentationThreshold, ...options } = overrides;
  const settings: Settings = { fragmentOutgoingMessages: fragmentOutgoing ?? true, fragmentationThreshold: fragmentationThreshold ?? 0x4000 };
  const proto = new WebSocketProtocol(handler, sink, { ...BASE, role, settings, ...options });
  return { handler, sink, proto, settings };
}

const PEER_KEY = [0x11, 0x82, 0x7f, 0xe4];

/** A frame as the peer of `role` would send it: a client masks, a server does not (RFC 6455 §5.1). */
function peer(role: Role, opts: { opcode: number; fin?: boolean; rsv?: number; payload?: Uint8Array | string }): Buffer {
  const payload = typeof opts.payload === 'string' ? Buffer.from(opts.payload) : opts.payload;
  return buildFrame({
    opcode: opts.opcode,
    ...(opts.fin === undefined ? {} : { fin: opts.fin }),
    ...(opts.rsv === undefined ? {} : { rsv: opts.rsv }),
    ...(payload === undefined ? {} : { payload }),
    mask: role === 'server' ? PEER_KEY : null,
  });
}

/** Feeds `wire` in fresh chunks (the parser unmasks in place) cut at `cuts`. */
function feed(proto: WebSocketProtocol, wire: Buffer, cuts: readonly number[] = []): void {
  let start = 0;
  for (const cut of [...cuts, wire.length]) {
    proto.receive(Buffer.from(wire.subarray(start, cut)));
    start = cut;
  }
}

function everyByte(length: number): number[] {
  return Array.from({ length: Math.max(0, length - 1) }, (_, i) => i + 1);
}

function onlyError(handler: RecordingProtocolHandler): WebSocketError {
  const errors = handler.errors;
  expect(errors).toHaveLength(1);
  expect(errors[0]).toBeInstanceOf(WebSocketError);
  return errors[0]!;
}

const ROLES: Role[] = ['server', 'client'];

describe.each(ROLES)('%s receives', (role) => {
  const f = (opts: Parameters<typeof peer>[1]): Buffer => peer(role, opts);

  describe('messages', () => {
    test(`${role} receives a single-frame text message`, () => {
      const { handler, proto } = setup(role);
      feed(proto, f({ opcode: 1, payload: 'Hello' }));
      expect(handler.events).toEqual([{ type: 'message', data: 'Hello' }]);
    });

    test(`${role} receives a single-frame binary message`, () => {
      const { handler, proto } = setup(role);
      feed(proto, f({ opcode: 2, payload: Buffer.from([0, 1, 0xff]) }));
      expect(handler.messages).toHaveLength(1);
      const data = handler.messages[0]!;
      expect(Buffer.isBuffer(data) && hex(data)).toBe('0001ff');
    });

    test(`${role} receives empty text and binary messages`, () => {
      const { handler, proto } = setup(role);
      feed(proto, Buffer.concat([f({ opcode: 1 }), f({ opcode: 2 }), f({ opcode: 1, fin: false }), f({ opcode: 0 })]));
      expect(handler.messages.map((m) => (typeof m === 'string' ? `text:${m}` : `binary:${m.length}`))).toEqual([
        'text:',
        'binary:0',
        'text:',
      ]);
    });

    test(`${role} receives a fragmented text message with control frames interleaved, whole and byte by byte`, () => {
      const wire = Buffer.concat([
        f({ opcode: 1, fin: false, payload: 'Hel' }),
        f({ opcode: 9, payload: 'p1' }),
        f({ opcode: 0, fin: false, payload: 'lo, ' }),
        f({ opcode: 0xa, payload: 'p2' }),
        f({ opcode: 0, fin: false, payload: '' }),
        f({ opcode: 0, fin: true, payload: 'wörld' }),
      ]);
      for (const cuts of [[], everyByte(wire.length)]) {
        const { handler, proto } = setup(role);
        feed(proto, wire, cuts);
        expect(handler.events).toEqual([
          { type: 'ping', payload: Buffer.from('p1') },
          { type: 'pong', payload: Buffer.from('p2') },
          { type: 'message', data: 'Hello, wörld' },
        ]);
      }
    });

    test(`${role} receives a fragmented binary message and then another message`, () => {
      const a = randomBytesFrom(prng(1), 300);
      const b = randomBytesFrom(prng(2), 70000);
      const { handler, proto } = setup(role);
      feed(
        proto,
        Buffer.concat([f({ opcode: 2, fin: false, payload: a }), f({ opcode: 0, payload: b }), f({ opcode: 1, payload: 'next' })]),
        [5, 400, 401, 50000],
      );
      expect(handler.messages).toHaveLength(2);
      expect((handler.messages[0] as Buffer).equals(Buffer.concat([a, b]))).toBe(true);
      expect(handler.messages[1]).toBe('next');
    });

    test(`${role} receives a UTF-8 character split across fragments`, () => {
      const euro = Buffer.from('€');
      const { handler, proto } = setup(role);
      feed(proto, Buffer.concat([f({ opcode: 1, fin: false, payload: euro.subarray(0, 1) }), f({ opcode: 0, payload: euro.subarray(1) })]));
      expect(handler.messages).toEqual(['€']);
    });

    test(`${role} receives pings and pongs with their payloads`, () => {
      const { handler, proto } = setup(role);
      feed(proto, Buffer.concat([f({ opcode: 9, payload: 'abc' }), f({ opcode: 0xa }), f({ opcode: 9, payload: Buffer.alloc(125, 7) })]));
      expect(handler.events).toEqual([
        { type: 'ping', payload: Buffer.from('abc') },
        { type: 'pong', payload: Buffer.alloc(0) },
        { type: 'ping', payload: Buffer.alloc(125, 7) },
      ]);
    });

    test(`${role} receives a single-frame message limited only by maxFrameSize, whole and byte by byte`, () => {
      const payload = Buffer.alloc(1000, 0x61);
      for (const cuts of [[], everyByte(payload.length + 14)]) {
        const { handler, proto } = setup(role, { maxMessageSize: 10, maxFrameSize: 1000 });
        feed(proto, f({ opcode: 1, payload }), cuts);
        expect(handler.errors).toEqual([]);
        expect(handler.messages).toEqual(['a'.repeat(1000)]);
      }
    });
  });

  describe('violations', () => {
    test(`${role} receives a continuation frame with no message started → 1002`, () => {
      const { handler, proto } = setup(role);
      feed(proto, f({ opcode: 0, payload: 'x' }));
      const error = onlyError(handler);
      expect([error.closeCode, error.message]).toEqual([1002, 'Unexpected Continuation Frame']);
    });

    test(`${role} receives a new data frame in the middle of a fragmented message → 1002`, () => {
      for (const opcode of [1, 2]) {
        const { handler, proto } = setup(role);
        feed(proto, Buffer.concat([f({ opcode: 2, fin: false, payload: 'a' }), f({ opcode, payload: 'b' })]));
        const error = onlyError(handler);
        expect([error.closeCode, error.message]).toEqual([
          1002,
          `Illegal frame opcode 0x${opcode} received in middle of fragmented message.`,
        ]);
        expect(handler.messages).toEqual([]);
      }
    });

    test(`${role} receives reserved opcodes → 1002 'Unrecognized Opcode'`, () => {
      for (const opcode of [3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf]) {
        const { handler, proto } = setup(role);
        feed(proto, f({ opcode, payload: 'x' }));
        const error = onlyError(handler);
        expect([error.closeCode, error.message]).toEqual([1002, `Unrecognized Opcode: 0x${opcode.toString(16)}`]);
      }
    });

    test(`${role} receives a reserved opcode inside a fragmented message → names the interleaving, as WebSocket-Node`, () => {
      const { handler, proto } = setup(role);
      feed(proto, Buffer.concat([f({ opcode: 1, fin: false, payload: 'a' }), f({ opcode: 3 })]));
      expect(onlyError(handler).message).toBe('Illegal frame opcode 0x3 received in middle of fragmented message.');
    });

    test(`${role} receives a single-frame text message with invalid UTF-8 → 1007`, () => {
      for (const cuts of [[], [3, 7]]) {
        const { handler, proto } = setup(role);
        feed(proto, f({ opcode: 1, payload: fromHex('ce ba e1 bd b9 cf 83 ce bc ce b5 ed a0 80 65 64') }), cuts);
        const error = onlyError(handler);
        expect([error.closeCode, error.message]).toEqual([1007, 'Invalid UTF-8 Data Received']);
        expect(handler.messages).toEqual([]);
      }
    });

    test(`${role} receives invalid UTF-8 in the second of three fragments → 1007 on that fragment`, () => {
      const { handler, proto } = setup(role);
      feed(proto, f({ opcode: 1, fin: false, payload: 'κόσμε' }));
      expect(handler.events).toEqual([]);
      feed(proto, f({ opcode: 0, fin: false, payload: fromHex('61 c0 80 62') }));
      const error = onlyError(handler);
      expect(error.closeCode).toBe(1007);
      feed(proto, f({ opcode: 0, payload: 'end' }));
      expect(handler.events).toHaveLength(1);
    });

    test(`${role} receives invalid UTF-8 fails before the rest of its frame arrives`, () => {
      const { handler, proto } = setup(role);
      const first = f({ opcode: 1, fin: false, payload: 'ok' });
      // The impossible sequence f4 90 is in the first 4 payload bytes; 100 bytes of payload follow.
      const second = f({ opcode: 0, payload: Buffer.concat([fromHex('41 42 f4 90'), Buffer.alloc(100, 0x41)]) });
      const headerLength = role === 'server' ? 8 : 4;
      feed(proto, Buffer.concat([first, second.subarray(0, headerLength + 4)]));
      expect(onlyError(handler).closeCode).toBe(1007);
    });

    test(`${role} receives a text message ending inside a character → 1007 on the final fragment`, () => {
      const { handler, proto } = setup(role);
      feed(proto, f({ opcode: 1, fin: false, payload: fromHex('61 e2 82') }));
      expect(handler.events).toEqual([]);
      feed(proto, f({ opcode: 0, payload: '' }));
      expect(onlyError(handler).closeCode).toBe(1007);
    });

    test(`${role} receives a fragmented message over maxMessageSize → 1009, counting ${FRAGMENT_OVERHEAD} bytes per fragment`, () => {
      const wire = Buffer.concat([f({ opcode: 2, fin: false, payload: Buffer.alloc(50) }), f({ opcode: 0, payload: Buffer.alloc(50) })]);
      const ok = setup(role, { maxMessageSize: 100 + 2 * FRAGMENT_OVERHEAD });
      feed(ok.proto, wire);
      expect(ok.handler.errors).toEqual([]);
      expect(ok.handler.messages).toHaveLength(1);

      const over = setup(role, { maxMessageSize: 100 + 2 * FRAGMENT_OVERHEAD - 1 });
      // Only the second fragment's header: the limit is enforced before its payload arrives.
      const headerEnd = 2 + (role === 'server' ? 4 : 0) + 50 + 2 + (role === 'server' ? 4 : 0);
      feed(over.proto, wire.subarray(0, headerEnd));
      const error = onlyError(over.handler);
      expect([error.closeCode, error.message]).toEqual([1009, 'Maximum message size exceeded.']);
    });

    test(`${role} receives a flood of empty fragments → 1009`, () => {
      const { handler, proto } = setup(role, { maxMessageSize: 6 * FRAGMENT_OVERHEAD });
      const parts = [f({ opcode: 2, fin: false })];
      for (let i = 0; i < 10; i++) parts.push(f({ opcode: 0, fin: false }));
      feed(proto, Buffer.concat(parts));
      expect(onlyError(handler).message).toBe('Maximum message size exceeded.');
    });

    test(`${role} receives a frame over maxFrameSize → 1009`, () => {
      const { handler, proto } = setup(role, { maxFrameSize: 1000 });
      feed(proto, f({ opcode: 2, payload: Buffer.alloc(1001) }));
      const error = onlyError(handler);
      expect([error.closeCode, error.message]).toEqual([1009, 'Frame size of 1001 bytes exceeds maximum accepted frame size']);
    });

    test(`${role} receives RSV1 without a negotiated extension → 1002`, () => {
      const { handler, proto } = setup(role);
      feed(proto, f({ opcode: 1, rsv: 4, payload: 'x' }));
      const error = onlyError(handler);
      expect([error.closeCode, error.message]).toEqual([1002, 'Unsupported usage of rsv bits without negotiated extension.']);
    });

    test(`${role} receives a control frame over 125 bytes / fragmented → 1002`, () => {
      const long = setup(role);
      feed(long.proto, f({ opcode: 9, payload: Buffer.alloc(126) }));
      expect(onlyError(long.handler).message).toBe('Illegal control frame longer than 125 bytes.');
      const frag = setup(role);
      feed(frag.proto, f({ opcode: 9, fin: false }));
      expect(onlyError(frag.handler).message).toBe('Control frames must not be fragmented.');
    });

    test(`${role} reports one error and then ignores all input`, () => {
      const { handler, proto } = setup(role);
      feed(proto, Buffer.concat([f({ opcode: 0, payload: 'x' }), f({ opcode: 1, payload: 'later' })]));
      feed(proto, f({ opcode: 1, payload: 'even later' }));
      expect(handler.types).toEqual(['error']);
    });
  });

  describe('close frames', () => {
    const closeOf = (payload: Buffer) => {
      const { handler, proto } = setup(role);
      feed(proto, f({ opcode: 8, payload }));
      return handler;
    };

    test(`${role} receives an empty close frame → code 1005, valid`, () => {
      expect(closeOf(Buffer.alloc(0)).events).toEqual([
        { type: 'close', close: { code: 1005, reason: undefined, isValid: true, reply: 1000 } },
      ]);
    });

    test(`${role} receives a 1-byte close frame → invalid`, () => {
      const events = closeOf(fromHex('03')).events;
      expect(events).toHaveLength(1);
      const e = events[0]!;
      expect(e.type === 'close' && e.close.isValid).toBe(false);
      expect(e.type === 'close' && e.close.reply).toBe(1002);
    });

    test(`${role} receives a close frame with code and reason`, () => {
      expect(closeOf(Buffer.concat([fromHex('03 e8'), Buffer.from('bye €')])).events).toEqual([
        { type: 'close', close: { code: 1000, reason: 'bye €', isValid: true, reply: 1000 } },
      ]);
      expect(closeOf(fromHex('0b b8')).events).toEqual([
        { type: 'close', close: { code: 3000, reason: undefined, isValid: true, reply: 1000 } },
      ]);
    });

    test.each([0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535])(
      `${role} receives a close frame with the unsendable code %d → isValid false`,
      (code) => {
        const body = Buffer.alloc(2);
        body.writeUInt16BE(code, 0);
        expect(closeOf(body).events).toEqual([{ type: 'close', close: { code, reason: undefined, isValid: false, reply: 1002 } }]);
      },
    );

    test(`${role} receives a close reason that is not UTF-8 → 1007, no close event`, () => {
      const handler = closeOf(fromHex('03 e8 c0 80'));
      expect(handler.types).toEqual(['error']);
      expect(handler.errors[0]!.closeCode).toBe(1007);
    });

    test(`${role} discards everything after a close frame, even in the same chunk`, () => {
      const { handler, proto } = setup(role);
      feed(proto, Buffer.concat([f({ opcode: 1, payload: 'before' }), f({ opcode: 8, payload: fromHex('03 e8') }), f({ opcode: 1, payload: 'after' }), f({ opcode: 9 })]));
      feed(proto, f({ opcode: 1, payload: 'later' }));
      expect(handler.types).toEqual(['message', 'close']);
    });

    test(`${role} receives a close frame in the middle of a fragmented message: close, no message`, () => {
      const { handler, proto } = setup(role);
      feed(proto, Buffer.concat([f({ opcode: 1, fin: false, payload: 'a' }), f({ opcode: 8 }), f({ opcode: 0, payload: 'b' })]));
      expect(handler.types).toEqual(['close']);
    });
  });

  describe('assembleFragments: false', () => {
    test(`${role} receives every frame through onFrame`, () => {
      const { handler, proto } = setup(role, { assembleFragments: false });
      feed(
        proto,
        Buffer.concat([f({ opcode: 1, fin: false, payload: 'He' }), f({ opcode: 9, payload: 'p' }), f({ opcode: 0, payload: 'llo' })]),
        [3, 9],
      );
      const frames = handler.events.flatMap((e) => (e.type === 'frame' ? [e.frame] : []));
      expect(frames.map((fr) => [fr.opcode, fr.fin, fr.masked, fr.payload.toString()])).toEqual([
        [1, false, role === 'server', 'He'],
        [9, true, role === 'server', 'p'],
        [0, true, role === 'server', 'llo'],
      ]);
      if (role === 'server') expect(hex(frames[0]!.maskKey)).toBe(Buffer.from(PEER_KEY).toString('hex'));
      expect(handler.messages).toEqual([]);
      // The ping is still reported as a ping, after its frame.
      expect(handler.types).toEqual(['frame', 'frame', 'ping', 'frame']);
    });
  });

  describe('pause and resume', () => {
    test(`${role} pauses inside onMessage; later frames wait for resume()`, () => {
      const { handler, proto } = setup(role);
      const original = handler.onMessage.bind(handler);
      handler.onMessage = (data) => {
        original(data);
        proto.pause();
      };
      feed(proto, Buffer.concat([f({ opcode: 1, payload: 'one' }), f({ opcode: 1, payload: 'two' }), f({ opcode: 1, payload: 'three' })]));
      expect(handler.messages).toEqual(['one']);
      feed(proto, f({ opcode: 1, payload: 'four' }));
      expect(handler.messages).toEqual(['one']);
      proto.resume();
      proto.resume();
      proto.resume();
      expect(handler.messages).toEqual(['one', 'two', 'three', 'four']);
    });
  });
});

describe('role-specific masking rules', () => {
  test('server receives an unmasked frame → 1002', () => {
    const { handler, proto } = setup('server');
    feed(proto, fromHex('81 05 48 65 6c 6c 6f'));
    const error = onlyError(handler);
    expect([error.closeCode, error.message]).toEqual([1002, 'Received an unmasked frame from the client.']);
  });

  test('client receives a masked frame → 1002', () => {
    const { handler, proto } = setup('client');
    feed(proto, fromHex('81 85 37 fa 21 3d 7f 9f 4d 51 58'));
    const error = onlyError(handler);
    expect([error.closeCode, error.message]).toEqual([1002, 'Received a masked frame from the server.']);
  });

  test("maskPolicy 'any' overrides the role", () => {
    const { handler, proto } = setup('server', { maskPolicy: 'any' });
    feed(proto, fromHex('81 05 48 65 6c 6c 6f 81 85 37 fa 21 3d 7f 9f 4d 51 58'));
    expect(handler.messages).toEqual(['Hello', 'Hello']);
  });
});

describe('sending', () => {
  test('server sends unmasked frames (RFC 6455 §5.7 "Hello")', () => {
    const { sink, proto } = setup('server');
    proto.sendMessage(1, Buffer.from('Hello'));
    expect(hex(sink.bytes)).toBe('810548656c6c6f');
  });

  test('client masks with the injected key source', () => {
    const keys = fixedMaskKeys([0x37, 0xfa, 0x21, 0x3d]);
    const { sink, proto } = setup('client', { maskKeys: keys });
    proto.sendMessage(1, Buffer.from('Hello'));
    expect(hex(sink.bytes)).toBe('818537fa213d7f9f4d5158');
    expect(keys.calls).toBe(1);
  });

  test('client sending never mutates the caller payload', () => {
    const { proto } = setup('client', { fragmentationThreshold: 7 });
    const payload = randomBytesFrom(prng(5), 100);
    const copy = Buffer.from(payload);
    proto.sendMessage(2, payload);
    proto.sendFrame({ fin: true, rsv1: false, opcode: 2 }, payload);
    expect(payload.equals(copy)).toBe(true);
  });

  test('fragmentation above the threshold: first frame carries the opcode, the rest are continuations', () => {
    const { sink, proto } = setup('server', { fragmentationThreshold: 4 });
    proto.sendMessage(2, Buffer.from('0123456789'));
    expect(sink.entries.map((e) => (e.type === 'chunk' ? hex(e.chunk) : 'callback'))).toEqual([
      '0204' + Buffer.from('0123').toString('hex'),
      '0004' + Buffer.from('4567').toString('hex'),
      '8002' + Buffer.from('89').toString('hex'),
    ]);
  });

  test('a message exactly at the threshold is one frame', () => {
    const { sink, proto } = setup('server', { fragmentationThreshold: 5 });
    proto.sendMessage(1, Buffer.from('Hello'));
    expect(hex(sink.bytes)).toBe('810548656c6c6f');
  });

  test('threshold 0 (or negative) and fragmentOutgoing false never fragment', () => {
    for (const overrides of [{ fragmentationThreshold: 0 }, { fragmentationThreshold: -1 }, { fragmentOutgoing: false, fragmentationThreshold: 4 }]) {
      const { sink, proto } = setup('server', overrides);
      proto.sendMessage(2, Buffer.alloc(100000, 1));
      const result = parseChunks(sink.bytes, []);
      expect(result.frames.map((fr) => [fr.opcode, fr.fin, fr.length])).toEqual([[2, true, 100000]]);
    }
  });

  test('the threshold can be changed on a live protocol', () => {
    const { sink, proto, settings } = setup('server', { fragmentationThreshold: 100 });
    settings.fragmentationThreshold = 3;
    proto.sendMessage(1, Buffer.from('abcdef'));
    expect(parseChunks(sink.bytes, []).frames).toHaveLength(2);
    settings.fragmentOutgoingMessages = false;
    proto.sendMessage(1, Buffer.from('abcdef'));
    expect(parseChunks(sink.bytes, []).frames).toHaveLength(3);
  });

  test('client fragments are each masked with a fresh key', () => {
    let n = 0;
    const keys = { fill: (target: Uint8Array, offset: number) => target.set([++n, n, n, n], offset) };
    const { sink, proto } = setup('client', { maskKeys: keys, fragmentationThreshold: 2 });
    proto.sendMessage(1, Buffer.from('abcde'));
    const frames = parseChunks(sink.bytes, []).frames;
    expect(frames.map((fr) => [fr.opcode, fr.fin, fr.maskKey, fr.payload.toString()])).toEqual([
      [1, false, '01010101', 'ab'],
      [0, false, '02020202', 'cd'],
      [0, true, '03030303', 'e'],
    ]);
  });

  test('the callback is pushed after the last fragment', () => {
    const { sink, proto } = setup('server', { fragmentationThreshold: 3 });
    const cb = jest.fn();
    proto.sendMessage(1, Buffer.from('abcdefgh'), cb);
    expect(sink.entries.map((e) => e.type)).toEqual(['chunk', 'chunk', 'chunk', 'callback']);
    const last = sink.entries[3]!;
    expect(last.type === 'callback' && last.callback).toBe(cb);
    // The protocol itself never calls it: the transport does once the bytes are written.
    expect(cb).not.toHaveBeenCalled();
    proto.sendMessage(1, Buffer.from('x'));
    expect(sink.entries.map((e) => e.type)).toEqual(['chunk', 'chunk', 'chunk', 'callback', 'chunk']);
  });

  test('sendFrame writes the fields as given', () => {
    const { sink, proto } = setup('server');
    const cb = jest.fn();
    proto.sendFrame({ fin: false, rsv1: true, rsv2: true, rsv3: true, opcode: 2 }, Buffer.from([1]), cb);
    expect(sink.entries.map((e) => (e.type === 'chunk' ? hex(e.chunk) : 'callback'))).toEqual(['720101', 'callback']);
  });

  test('sendControl: ping and pong', () => {
    const server = setup('server');
    server.proto.sendControl(9, Buffer.from('Hello'));
    server.proto.sendControl(0xa, Buffer.alloc(0));
    expect(hex(server.sink.bytes)).toBe('890548656c6c6f' + '8a00');
    const client = setup('client', { maskKeys: fixedMaskKeys([0x37, 0xfa, 0x21, 0x3d]) });
    client.proto.sendControl(0xa, Buffer.from('Hello'));
    expect(hex(client.sink.bytes)).toBe('8a8537fa213d7f9f4d5158');
  });

  test('sendClose: code and reason; once only', () => {
    const { sink, proto } = setup('server');
    const cb = jest.fn();
    expect(proto.closeSent).toBe(false);
    proto.sendClose(1000, 'bye', cb);
    expect(proto.closeSent).toBe(true);
    proto.sendClose(1001, 'again');
    expect(sink.entries.map((e) => (e.type === 'chunk' ? hex(e.chunk) : 'callback'))).toEqual([
      '8805' + '03e8' + Buffer.from('bye').toString('hex'),
      'callback',
    ]);
  });

  test('sendClose(1005) sends an empty body; long reasons are cut to fit 125 bytes', () => {
    const empty = setup('server');
    empty.proto.sendClose(1005);
    expect(hex(empty.sink.bytes)).toBe('8800');
    const long = setup('server');
    long.proto.sendClose(1000, '€'.repeat(100));
    const frame = parseChunks(long.sink.bytes, []).frames[0]!;
    expect(frame.length).toBe(125);
    expect(frame.payload.subarray(2).toString()).toBe('€'.repeat(41));
  });

  test('client close frames are masked', () => {
    const { sink, proto } = setup('client', { maskKeys: fixedMaskKeys([1, 2, 3, 4]) });
    proto.sendClose(1000);
    expect(hex(sink.bytes)).toBe('8882' + '01020304' + hex(referenceMask(fromHex('03e8'), [1, 2, 3, 4])));
  });
});

describe('client ↔ server round trip', () => {
  test('random messages, random thresholds, random chunking, both directions', () => {
    const rand = prng(4242);
    for (let round = 0; round < 10; round++) {
      const threshold = [0, 1, 7, 125, 126, 1000, 70000][Math.floor(rand() * 7)]!;
      const client = setup('client', { fragmentationThreshold: threshold });
      const server = setup('server', { fragmentationThreshold: threshold });
      const sent: (string | Buffer)[] = [];
      for (let i = 0; i < 5; i++) {
        // Large messages only with thresholds that keep the fragment count modest (speed).
        const length = Math.floor(rand() * (rand() < 0.8 || threshold < 125 ? 300 : 80000));
        if (rand() < 0.5) {
          const text = 'aé€😀'.repeat(Math.ceil(length / 10)).slice(0, length);
          sent.push(text);
          client.proto.sendMessage(1, Buffer.from(text));
          server.proto.sendMessage(1, Buffer.from(text));
        } else {
          const data = randomBytesFrom(rand, length);
          sent.push(data);
          client.proto.sendMessage(2, data);
          server.proto.sendMessage(2, data);
        }
      }
      client.proto.sendClose(1000, 'done');
      server.proto.sendClose(1001, 'gone');
      const cutsFor = (length: number): number[] => {
        const cuts: number[] = [];
        for (let at = 0; ; ) {
          at += 1 + Math.floor(rand() * 500);
          if (at >= length) return cuts;
          cuts.push(at);
        }
      };
      const toServer = client.sink.bytes;
      const toClient = server.sink.bytes;
      feed(server.proto, toServer, cutsFor(toServer.length));
      feed(client.proto, toClient, cutsFor(toClient.length));
      for (const [receiver, code, reason] of [
        [server.handler, 1000, 'done'],
        [client.handler, 1001, 'gone'],
      ] as const) {
        expect(receiver.errors).toEqual([]);
        // Compared as strings: jest's deep equality walks Buffers element by element (slow).
        const show = (m: string | Buffer): string => (typeof m === 'string' ? `t:${m}` : `b:${m.toString('hex')}`);
        expect(receiver.messages.map(show)).toEqual(sent.map(show));
        const last = receiver.events[receiver.events.length - 1]!;
        // Both ends sent their Close first: no reply is due (RFC 6455 §5.5.1).
        expect(last).toEqual({ type: 'close', close: { code, reason, isValid: true, reply: 0 } });
      }
    }
  });
});

describe('receiving cost', () => {
  /** Bytes requested from Buffer's allocators while `fn` runs. */
  function bytesAllocatedBy(fn: () => void): number {
    let total = 0;
    const spies = (['alloc', 'allocUnsafe', 'allocUnsafeSlow'] as const).map((name) => {
      const original = Buffer[name].bind(Buffer) as (size: number, ...rest: unknown[]) => Buffer;
      return jest.spyOn(Buffer, name).mockImplementation(((size: number, ...rest: unknown[]) => {
        total += size;
        return original(size, ...rest);
      }) as never);
    });
    try {
      fn();
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
    return total;
  }

  test.each(ROLES)('%s: a message in many small fragments is assembled in linear, not quadratic, memory', (role) => {
    const fragments = 1000;
    const size = 100;
    const parts: Buffer[] = [];
    for (let i = 0; i < fragments; i++) {
      parts.push(peer(role, { opcode: i === 0 ? 2 : 0, fin: i === fragments - 1, payload: Buffer.alloc(size, i & 0xff) }));
    }
    const wire = Buffer.concat(parts);
    const { handler, proto } = setup(role);
    const allocated = bytesAllocatedBy(() => proto.receive(wire));
    expect(handler.errors).toEqual([]);
    expect((handler.messages[0] as Buffer).length).toBe(fragments * size);
    // Geometric growth costs at most a few times the message; re-sizing to each fragment's
    // announced total would copy ~fragments²/2 × size bytes (50 MB here).
    expect(allocated).toBeLessThan(8 * fragments * size);
  });
});

describe('server: large masked pieces unmasked straight into the message buffer', () => {
  const text = 'é'.repeat(3000); // 6000 bytes of 2-byte characters
  const bytes = Buffer.from(text);

  test('a single-frame text message spanning chunks, and a fragmented one, split at many offsets: the text exact, the chunks untouched', () => {
    const wire = Buffer.concat([
      peer('server', { opcode: 1, payload: bytes }),
      peer('server', { opcode: 1, fin: false, payload: bytes.subarray(0, 2501) }),
      peer('server', { opcode: 0, payload: bytes.subarray(2501) }),
    ]);
    for (let cut = 1; cut < wire.length; cut += 97) {
      const { handler, proto } = setup('server');
      const chunks = [Buffer.from(wire.subarray(0, cut)), Buffer.from(wire.subarray(cut))];
      for (const chunk of chunks) proto.receive(chunk);
      expect(handler.errors).toEqual([]);
      expect(handler.events.map((e) => (e.type === 'message' ? e.data : e.type))).toEqual([text, text]);
    }
  });

  test('invalid UTF-8 inside a placed piece fails the connection with 1007 before the message ends', () => {
    const bad = Buffer.from(bytes);
    bad[1001] = 0xff;
    const wire = peer('server', { opcode: 1, fin: false, payload: bad });
    const { handler, proto } = setup('server');
    // Two pieces of 3,000+ bytes each: both are placed, the second holds no error.
    proto.receive(Buffer.from(wire.subarray(0, 3004)));
    expect(onlyError(handler).closeCode).toBe(1007);
  });
});
