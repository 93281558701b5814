/**
 * Core-level permessage-deflate and flow control (issue 16, item 3): a real PerMessageDeflate on
 * both ends, compressed frames made by the client-side codec, and pause()/resume() called from
 * inside the core's own events -- during an inflation callback, inside onFrame, onPing, onClose.
 * Parsing must never be re-entered and no second inflation may start while one runs: every
 * message arrives, once, in order, and nothing fails.
 */
import { Opcode } from '../../../lib/codec/constants';
import { PerMessageDeflate } from '../../../lib/extensions/permessage-deflate';
import { type DeflateParams } from '../../../lib/extensions/deflate-negotiation';
import { WebSocketProtocol, type ProtocolOptions } from '../../../lib/protocol/protocol';
import { RecordingProtocolHandler, RecordingSink, buildFrame } from '../../helpers/codec-fixtures';

const PARAMS: DeflateParams = {
  serverNoContextTakeover: false,
  clientNoContextTakeover: false,
  serverMaxWindowBits: 15,
  clientMaxWindowBits: 15,
};
const KEY = [0x0f, 0x1e, 0x2d, 0x3c];
const RSV1 = 4;

const codecs: PerMessageDeflate[] = [];
const protocols: WebSocketProtocol[] = [];
afterEach(() => {
  for (const p of protocols.splice(0)) p.dispose();
  for (const c of codecs.splice(0)) c.close();
});

/** The peer (a client): compresses messages in order with its own context, and frames them masked. */
class Peer {
  private readonly codec = new PerMessageDeflate(PARAMS, false, {});
  constructor() {
    codecs.push(this.codec);
  }

  /** A compressed text message; `fragments` > 1 splits the compressed payload over several frames. */
  async compressed(text: string, fragments = 1): Promise<Buffer> {
    return Buffer.concat(await this.compressedFrames(text, fragments));
  }

  /** The frames of a compressed text message, the compressed payload split over `fragments` of them. */
  async compressedFrames(text: string, fragments: number): Promise<Buffer[]> {
    const payload = await new Promise<Buffer>((resolve, reject) =>
      this.codec.compress(Buffer.from(text), (error, out) => (error ? reject(error) : resolve(out!))),
    );
    if (fragments === 1) return [buildFrame({ opcode: Opcode.TEXT, rsv: RSV1, payload, mask: KEY })];
    const size = Math.ceil(payload.length / fragments);
    const frames: Buffer[] = [];
    for (let i = 0, at = 0; at < payload.length; i++, at += size) {
      const last = at + size >= payload.length;
      frames.push(
        buildFrame({
          opcode: i === 0 ? Opcode.TEXT : Opcode.CONTINUATION,
          fin: last,
          rsv: i === 0 ? RSV1 : 0,
          payload: payload.subarray(at, at + size),
          mask: KEY,
        }),
      );
    }
    return frames;
  }

  plain(text: string): Buffer {
    return buildFrame({ opcode: Opcode.TEXT, payload: Buffer.from(text), mask: KEY });
  }

  control(opcode: number, payload: Buffer | string = ''): Buffer {
    return buildFrame({ opcode, payload: Buffer.from(payload), mask: KEY });
  }
}

/** A server-side core with a real PerMessageDeflate whose inflations are watched. */
function setup(overrides: Partial<ProtocolOptions> = {}) {
  const handler = new RecordingProtocolHandler();
  const sink = new RecordingSink();
  const deflate = new PerMessageDeflate(PARAMS, true, {});
  const watch = { active: 0, maxActive: 0, started: 0 };
  const decompress = deflate.decompress.bind(deflate);
  deflate.decompress = (pieces, maxSize, done) => {
    watch.active++;
    watch.started++;
    watch.maxActive = Math.max(watch.maxActive, watch.active);
    decompress(pieces, maxSize, (error, chunks) => {
      watch.active--;
      done(error, chunks);
    });
  };
  const proto = new WebSocketProtocol(handler, sink, {
    role: 'server',
    maxFrameSize: 1 << 20,
    maxMessageSize: 1 << 22,
    assembleFragments: true,
    deflate,
    ...overrides,
  });
  protocols.push(proto);
  /** Extra behaviour run after an event is recorded (e.g. a resume() from inside it). */
  const hooks: Partial<Record<'onMessage' | 'onFrame' | 'onPing' | 'onPong' | 'onClose' | 'onBusy' | 'onError', (arg: never) => void>> = {};
  /** How deeply the core's events nest: more than 1 means it was re-entered from an event. */
  const nesting = { depth: 0, max: 0 };
  for (const name of ['onMessage', 'onFrame', 'onPing', 'onPong', 'onClose', 'onBusy', 'onError'] as const) {
    const original = (handler[name] as (arg: never) => void).bind(handler);
    (handler as unknown as Record<string, (arg: never) => void>)[name] = (arg: never) => {
      nesting.depth++;
      nesting.max = Math.max(nesting.max, nesting.depth);
      try {
        original(arg);
        hooks[name]?.(arg);
      } finally {
        nesting.depth--;
      }
    };
  }
  return { handler, proto, deflate, watch, nesting, hooks };
}

/** Resolves once `condition` holds (checked after each turn of the event loop). */
async function until(condition: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Lets zlib and the event loop run for a while (to show that nothing more arrives). */
async function settle(turns = 20): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setTimeout(resolve, 1));
}

const ONE = 'first message, compressed: '.repeat(40);
const TWO = 'second message, compressed too: '.repeat(40);
const THREE = 'third message, compressed as well: '.repeat(40);

function summary(handler: RecordingProtocolHandler): string[] {
  return handler.events
    .filter((e) => e.type !== 'busy')
    .map((e) => {
      switch (e.type) {
        case 'message':
          return `message ${typeof e.data === 'string' ? e.data.slice(0, 12) : 'binary'}`;
        case 'ping':
        case 'pong':
          return `${e.type} ${e.payload.toString()}`;
        case 'close':
          return `close ${e.close.code}`;
        case 'error':
          return `error ${e.error.message}`;
        case 'frame':
          return `frame ${e.frame.opcode}${e.frame.rsv1 ? ' rsv1' : ''} fin=${e.frame.fin}`;
      }
    });
}

describe('inflation + resume() from inside onMessage (three messages in one chunk)', () => {
  test.each([
    ['compressed, compressed, plain', ['c', 'c', 'p']],
    ['compressed, plain, compressed', ['c', 'p', 'c']],
    ['plain, compressed, compressed', ['p', 'c', 'c']],
  ])('%s: resume() in onMessage -> all three arrive, in order, one inflation at a time', async (_name, kinds) => {
    const peer = new Peer();
    const texts = [ONE, TWO, THREE];
    const parts: Buffer[] = [];
    for (let i = 0; i < 3; i++) parts.push(kinds[i] === 'c' ? await peer.compressed(texts[i]!) : peer.plain(texts[i]!));
    const { handler, proto, watch, nesting, hooks } = setup();
    hooks.onMessage = () => proto.resume();
    proto.receive(Buffer.concat(parts));
    await until(() => handler.messages.length >= 3 || handler.errors.length > 0, 'three messages');
    await settle();
    expect(handler.errors).toEqual([]);
    expect(handler.messages).toEqual(texts);
    expect(watch.started).toBe(2);
    expect(watch.maxActive).toBe(1);
    expect(nesting.max).toBe(1);
    // onBusy brackets each inflation: true, false, true, false.
    expect(handler.events.flatMap((e) => (e.type === 'busy' ? [e.busy] : []))).toEqual([true, false, true, false]);
  });

  test('pause() + resume() inside onMessage', async () => {
    const peer = new Peer();
    const wire = Buffer.concat([await peer.compressed(ONE), await peer.compressed(TWO), peer.plain(THREE)]);
    const { handler, proto, watch, nesting, hooks } = setup();
    hooks.onMessage = () => {
      proto.pause();
      proto.resume();
    };
    proto.receive(wire);
    await until(() => handler.messages.length >= 3 || handler.errors.length > 0, 'three messages');
    await settle();
    expect(summary(handler)).toEqual(['message first messag', 'message second messa', 'message third messag']);
    expect(watch.maxActive).toBe(1);
    expect(nesting.max).toBe(1);
  });

  test('resume() called twice in onMessage, plus a receive() of more frames from inside it', async () => {
    const peer = new Peer();
    const first = Buffer.concat([await peer.compressed(ONE), peer.plain('plain-2')]);
    const later = Buffer.concat([await peer.compressed(THREE), peer.plain('plain-4')]);
    const { handler, proto, watch, nesting, hooks } = setup();
    let fed = false;
    hooks.onMessage = () => {
      proto.resume();
      if (!fed) {
        fed = true;
        proto.receive(Buffer.from(later));
      }
      proto.resume();
    };
    proto.receive(first);
    await until(() => handler.messages.length >= 4 || handler.errors.length > 0, 'four messages');
    await settle();
    expect(handler.messages).toEqual([ONE, 'plain-2', THREE, 'plain-4']);
    expect(watch.maxActive).toBe(1);
    expect(nesting.max).toBe(1);
  });

  test('pause() inside onMessage (during the inflation callback) holds the rest until resume() from outside', async () => {
    const peer = new Peer();
    const wire = Buffer.concat([await peer.compressed(ONE), peer.plain('plain'), await peer.compressed(TWO)]);
    const { handler, proto, watch, hooks } = setup();
    hooks.onMessage = () => proto.pause();
    proto.receive(wire);
    await until(() => handler.messages.length >= 1, 'the first message');
    await settle();
    expect(handler.messages).toEqual([ONE]);
    expect(watch.started).toBe(1);
    proto.resume();
    // The plain message is parsed at once; then parsing pauses again inside its onMessage.
    expect(handler.messages).toEqual([ONE, 'plain']);
    await settle();
    expect(watch.started).toBe(1);
    proto.resume();
    await until(() => handler.messages.length >= 3 || handler.errors.length > 0, 'the third message');
    expect(handler.messages).toEqual([ONE, 'plain', TWO]);
    expect(handler.errors).toEqual([]);
  });

  test('pause() and resume() from outside while a message inflates: the rest waits for the inflation', async () => {
    const peer = new Peer();
    const wire = Buffer.concat([await peer.compressed(ONE), peer.plain('plain'), await peer.compressed(TWO)]);
    const { handler, proto, watch } = setup();
    proto.receive(wire);
    expect(proto.isInflating).toBe(true);
    proto.pause();
    proto.resume();
    // resume() while inflating parses nothing: the plain message must wait behind the first.
    expect(handler.messages).toEqual([]);
    await until(() => handler.messages.length >= 3 || handler.errors.length > 0, 'three messages');
    expect(handler.messages).toEqual([ONE, 'plain', TWO]);
    expect(watch.maxActive).toBe(1);
  });

  test('pause() from outside while inflating: the inflated message is delivered, the rest waits for resume()', async () => {
    const peer = new Peer();
    const wire = Buffer.concat([await peer.compressed(ONE), peer.plain('plain')]);
    const { handler, proto } = setup();
    proto.receive(wire);
    proto.pause();
    await until(() => handler.messages.length >= 1, 'the first message');
    await settle();
    expect(handler.messages).toEqual([ONE]);
    proto.resume();
    expect(handler.messages).toEqual([ONE, 'plain']);
  });

  test('a fragmented compressed message with control frames between its fragments, then more: order kept', async () => {
    const peer = new Peer();
    const [f0, f1, f2] = await peer.compressedFrames(ONE, 3);
    expect(f2).toBeDefined();
    const wire = Buffer.concat([
      f0!,
      peer.control(Opcode.PING, 'mid-1'),
      f1!,
      peer.control(Opcode.PONG, 'mid-2'),
      f2!,
      peer.control(Opcode.PING, 'after'),
      peer.plain('plain'),
      await peer.compressed(TWO, 2),
    ]);
    const { handler, proto, watch, nesting, hooks } = setup();
    hooks.onMessage = () => proto.resume();
    hooks.onPing = () => proto.resume();
    hooks.onPong = () => {
      proto.pause();
      proto.resume();
    };
    proto.receive(wire);
    await until(() => handler.messages.length >= 3 || handler.errors.length > 0, 'three messages');
    expect(summary(handler)).toEqual(['ping mid-1', 'pong mid-2', 'message first messag', 'ping after', 'message plain', 'message second messa']);
    expect(watch.maxActive).toBe(1);
    expect(nesting.max).toBe(1);
  });
});

describe('resume() from inside onPing and onClose', () => {
  test('onPing calls resume() (and pause()+resume()): control frames stay in order behind inflations', async () => {
    const peer = new Peer();
    const wire = Buffer.concat([
      peer.control(Opcode.PING, 'p1'),
      await peer.compressed(ONE),
      peer.control(Opcode.PING, 'p2'),
      peer.plain('plain'),
      peer.control(Opcode.PONG, 'q'),
      await peer.compressed(TWO),
      peer.control(Opcode.PING, 'p3'),
    ]);
    const { handler, proto, watch, nesting, hooks } = setup();
    let n = 0;
    hooks.onPing = () => {
      if (n++ % 2 === 0) {
        proto.resume();
      } else {
        proto.pause();
        proto.resume();
      }
    };
    hooks.onMessage = () => proto.resume();
    proto.receive(wire);
    await until(() => handler.events.some((e) => e.type === 'ping' && e.payload.toString() === 'p3') || handler.errors.length > 0, 'the last ping');
    expect(summary(handler)).toEqual([
      'ping p1',
      'message first messag',
      'ping p2',
      'message plain',
      'pong q',
      'message second messa',
      'ping p3',
    ]);
    expect(watch.maxActive).toBe(1);
    expect(nesting.max).toBe(1);
  });

  test('onClose calls resume(): nothing after the Close is parsed, no error, no throw', async () => {
    const peer = new Peer();
    const wire = Buffer.concat([
      await peer.compressed(ONE),
      peer.plain('before close'),
      peer.control(Opcode.CLOSE, Buffer.from([0x03, 0xe8])),
      peer.plain('after close'),
      await peer.compressed(TWO),
    ]);
    const { handler, proto, watch, hooks } = setup();
    hooks.onMessage = () => proto.resume();
    hooks.onClose = () => {
      proto.resume();
      proto.pause();
      proto.resume();
    };
    proto.receive(wire);
    await until(() => handler.events.some((e) => e.type === 'close') || handler.errors.length > 0, 'the close');
    await settle();
    proto.resume();
    proto.receive(peer.plain('even later'));
    await settle();
    expect(summary(handler)).toEqual(['message first messag', 'message before close', 'close 1000']);
    expect(watch.started).toBe(1);
  });
});

describe('pause() inside onFrame (assembleFragments: false)', () => {
  test('each pause() holds the next frame until resume(); compressed frames are reported raw, with RSV1', async () => {
    const peer = new Peer();
    const wire = Buffer.concat([await peer.compressed(ONE, 2), peer.control(Opcode.PING, 'p'), peer.plain('plain')]);
    const { handler, proto, watch, nesting, hooks } = setup({ assembleFragments: false });
    hooks.onFrame = () => proto.pause();
    proto.receive(wire);
    expect(summary(handler)).toEqual(['frame 1 rsv1 fin=false']);
    proto.resume();
    expect(summary(handler)).toEqual(['frame 1 rsv1 fin=false', 'frame 0 fin=true']);
    proto.resume();
    // The ping's frame is reported, then its ping event (after the pause(): the same frame).
    expect(summary(handler).slice(2)).toEqual(['frame 9 fin=true', 'ping p']);
    proto.resume();
    expect(summary(handler).slice(4)).toEqual(['frame 1 fin=true']);
    expect(handler.errors).toEqual([]);
    // Frames are not assembled, so nothing is inflated.
    expect(watch.started).toBe(0);
    expect(nesting.max).toBe(1);
  });

  test('pause()+resume() inside onFrame: every frame, in order, no recursion', () => {
    const peer = new Peer();
    const wire = Buffer.concat(['a', 'b', 'c', 'd'].map((s) => peer.plain(s)));
    const { handler, proto, nesting, hooks } = setup({ assembleFragments: false });
    hooks.onFrame = () => {
      proto.pause();
      proto.resume();
    };
    proto.receive(wire);
    expect(handler.events.flatMap((e) => (e.type === 'frame' ? [e.frame.payload.toString()] : []))).toEqual(['a', 'b', 'c', 'd']);
    expect(nesting.max).toBe(1);
  });
});

describe('frames arriving in tiny chunks while inflating or paused', () => {
  test('while a message inflates, the next frames arrive byte by byte: delivered after it, in order', async () => {
    const peer = new Peer();
    const first = await peer.compressed(ONE);
    const rest = Buffer.concat([
      peer.plain('two'),
      peer.control(Opcode.PING, 'ping'),
      await peer.compressed(THREE, 3),
      peer.plain('four'),
    ]);
    const { handler, proto, watch, hooks } = setup();
    hooks.onMessage = () => proto.resume();
    proto.receive(first);
    expect(proto.isInflating).toBe(true);
    for (let i = 0; i < rest.length; i++) proto.receive(Buffer.from(rest.subarray(i, i + 1)));
    expect(handler.messages).toEqual([]);
    await until(() => handler.messages.length >= 4 || handler.errors.length > 0, 'four messages');
    expect(summary(handler)).toEqual(['message first messag', 'message two', 'ping ping', 'message third messag', 'message four']);
    expect(watch.maxActive).toBe(1);
  });

  test('while paused, everything arrives byte by byte; one resume() delivers it all, in order', async () => {
    const peer = new Peer();
    const wire = Buffer.concat([
      await peer.compressed(ONE),
      peer.plain('two'),
      await peer.compressed(THREE, 2),
      peer.control(Opcode.PING, 'x'),
      peer.plain('five'),
    ]);
    const { handler, proto, watch } = setup();
    proto.pause();
    for (let i = 0; i < wire.length; i++) proto.receive(Buffer.from(wire.subarray(i, i + 1)));
    await settle();
    expect(handler.events).toEqual([]);
    proto.resume();
    await until(() => handler.messages.length >= 4 || handler.errors.length > 0, 'four messages');
    await settle();
    expect(summary(handler)).toEqual(['message first messag', 'message two', 'message third messag', 'ping x', 'message five']);
    expect(watch.maxActive).toBe(1);
  });
});

describe('resume() from inside onBusy(false)', () => {
  test('the next inflation started by that resume() is not run beside another one', async () => {
    const peer = new Peer();
    const wire = Buffer.concat([
      await peer.compressed(ONE),
      await peer.compressed(TWO),
      await peer.compressed(THREE),
      peer.plain('four'),
    ]);
    const { handler, proto, watch, hooks } = setup();
    hooks.onBusy = (busy: boolean) => {
      if (!busy) proto.resume();
    };
    proto.receive(wire);
    await until(() => handler.messages.length >= 4 || handler.errors.length > 0, 'four messages');
    await settle();
    expect(handler.errors).toEqual([]);
    expect(handler.messages).toEqual([ONE, TWO, THREE, 'four']);
    expect(watch.maxActive).toBe(1);
  });
});
