/**
 * The send side of the core (lib/protocol/sender.ts): live fragmentation settings, refusal of every
 * frame after our Close, one Close only, one hold()/release() bracket per send (also when encoding
 * throws), and the permessage-deflate send queue with a real PerMessageDeflate: order kept behind a
 * compression, sendFailClose ahead of the queue, dispose failing what waits.
 */
import { Opcode } from '../../../lib/codec/constants';
import type { MaskKeySource } from '../../../lib/codec/mask';
import { PerMessageDeflate } from '../../../lib/extensions/permessage-deflate';
import { type DeflateParams } from '../../../lib/extensions/deflate-negotiation';
import { ClosingHandshake } from '../../../lib/protocol/closing-handshake';
import { Sender, type SendSettings } from '../../../lib/protocol/sender';
import type { WriteCallback } from '../../../lib/protocol/output-sink';
import { RecordingSink, fixedMaskKeys, hex, parseChunks, prng, randomBytesFrom, type RecordedFrame } from '../../helpers/codec-fixtures';

/** A RecordingSink that also notes the bracket depth at every push. */
class BracketSink extends RecordingSink {
  readonly pushDepths: number[] = [];
  override push(chunk: Buffer): void {
    this.pushDepths.push(this.depth);
    super.push(chunk);
  }
  override pushCallback(callback: WriteCallback): void {
    this.pushDepths.push(this.depth);
    super.pushCallback(callback);
  }
  /** The frames pushed so far, parsed (RSV1 allowed: permessage-deflate). */
  get frames(): RecordedFrame[] {
    const result = parseChunks(this.bytes, [], { allowRsv1: true });
    if (result.error !== null || result.midFrame) throw new Error(`sink holds broken frames: ${String(result.error)}`);
    return result.frames;
  }
  /** Each entry as 'frame <opcode>[ rsv1]' or the callback's name. */
  layout(names: Map<WriteCallback, string>): string[] {
    const out: string[] = [];
    let bytes: Buffer[] = [];
    const flushFrames = (): void => {
      if (bytes.length === 0) return;
      for (const f of parseChunks(Buffer.concat(bytes), [], { allowRsv1: true }).frames) {
        out.push(`frame ${f.opcode}${f.rsv1 ? ' rsv1' : ''}`);
      }
      bytes = [];
    };
    for (const entry of this.entries) {
      if (entry.type === 'chunk') {
        bytes.push(entry.chunk);
      } else {
        flushFrames();
        out.push(names.get(entry.callback) ?? 'unnamed callback');
      }
    }
    flushFrames();
    return out;
  }
}

interface MutableSettings {
  fragmentOutgoingMessages?: boolean | undefined;
  fragmentationThreshold?: number | undefined;
}

const PARAMS: DeflateParams = {
  serverNoContextTakeover: false,
  clientNoContextTakeover: false,
  serverMaxWindowBits: 15,
  clientMaxWindowBits: 15,
};

const codecs: PerMessageDeflate[] = [];
function codec(isServer: boolean, threshold = 16): PerMessageDeflate {
  const c = new PerMessageDeflate(PARAMS, isServer, { threshold });
  codecs.push(c);
  return c;
}
afterEach(() => {
  for (const c of codecs.splice(0)) c.close();
});

/**
 * Wraps `deflate.compress` so a test can wait for every compression started so far to have called
 * back (the Sender's own callback included).
 */
function trackCompressions(deflate: PerMessageDeflate): { settled: () => Promise<void>; started: () => number } {
  const original = deflate.compress.bind(deflate);
  const pending: Promise<void>[] = [];
  deflate.compress = (data, done) => {
    let resolve!: () => void;
    pending.push(new Promise<void>((r) => (resolve = r)));
    original(data, (error, out) => {
      try {
        done(error, out);
      } finally {
        resolve();
      }
    });
  };
  return {
    settled: async () => {
      // A compression may start from inside another one's callback: wait until none is left.
      for (let seen = -1; seen !== pending.length; ) {
        seen = pending.length;
        await Promise.all(pending);
      }
    },
    started: () => pending.length,
  };
}

function setup(options: { settings?: MutableSettings; maskKeys?: MaskKeySource | null; deflate?: PerMessageDeflate | null } = {}) {
  const sink = new BracketSink();
  const closing = new ClosingHandshake();
  const settings: MutableSettings = options.settings ?? {};
  const sender = new Sender(sink, settings as SendSettings, options.maskKeys ?? null, options.deflate ?? null, closing);
  return { sink, closing, settings, sender };
}

/** Inflates a compressed message payload as the peer would (a client-side codec of its own). */
function inflate(peer: PerMessageDeflate, payload: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    peer.decompress([payload], 1 << 24, (error, chunks) => (error ? reject(error) : resolve(Buffer.concat(chunks!)))),
  );
}

const TEXT_1K = 'compress me, '.repeat(80);

describe('Sender: live fragmentation settings (read at each send)', () => {
  test('fragmentationThreshold changed between sends applies to the next send', () => {
    const { sink, settings, sender } = setup({ settings: { fragmentOutgoingMessages: true, fragmentationThreshold: 4 } });
    sender.sendMessage(Opcode.BINARY, Buffer.from('0123456789'));
    expect(sink.frames.map((f) => [f.opcode, f.fin, f.payload.toString()])).toEqual([
      [2, false, '0123'],
      [0, false, '4567'],
      [0, true, '89'],
    ]);
    settings.fragmentationThreshold = 100;
    sender.sendMessage(Opcode.BINARY, Buffer.from('0123456789'));
    settings.fragmentationThreshold = 5;
    sender.sendMessage(Opcode.BINARY, Buffer.from('0123456789'));
    expect(sink.frames.slice(3).map((f) => [f.opcode, f.fin, f.payload.toString()])).toEqual([
      [2, true, '0123456789'],
      [2, false, '01234'],
      [0, true, '56789'],
    ]);
  });

  test('fragmentOutgoingMessages toggled between sends', () => {
    const { sink, settings, sender } = setup({ settings: { fragmentOutgoingMessages: true, fragmentationThreshold: 3 } });
    settings.fragmentOutgoingMessages = false;
    sender.sendMessage(Opcode.TEXT, Buffer.from('abcdefgh'));
    expect(sink.frames.map((f) => [f.opcode, f.fin, f.length])).toEqual([[1, true, 8]]);
    settings.fragmentOutgoingMessages = true;
    sender.sendMessage(Opcode.TEXT, Buffer.from('abcdefgh'));
    expect(sink.frames.slice(1).map((f) => [f.opcode, f.fin, f.payload.toString()])).toEqual([
      [1, false, 'abc'],
      [0, false, 'def'],
      [0, true, 'gh'],
    ]);
  });

  test('sendText (the string path) reads the live settings too', () => {
    const { sink, settings, sender } = setup({ settings: { fragmentationThreshold: 1000 } });
    sender.sendText('héllo wörld');
    expect(sink.frames).toHaveLength(1);
    settings.fragmentationThreshold = 5;
    sender.sendText('héllo wörld');
    const frames = sink.frames.slice(1);
    expect(frames.map((f) => [f.opcode, f.fin, f.length])).toEqual([
      [1, false, 5],
      [0, false, 5],
      [0, true, 3],
    ]);
    expect(Buffer.concat(frames.map((f) => f.payload)).toString()).toBe('héllo wörld');
    settings.fragmentOutgoingMessages = false;
    sender.sendText('héllo wörld');
    expect(sink.frames.slice(4).map((f) => [f.opcode, f.fin, f.payload.toString()])).toEqual([[1, true, 'héllo wörld']]);
  });

  test('an unset threshold means 16 KiB; 0 or negative means "never fragment"', () => {
    const { sink, settings, sender } = setup({ settings: { fragmentOutgoingMessages: true } });
    sender.sendMessage(Opcode.BINARY, Buffer.alloc(0x4000 + 10, 7));
    expect(sink.frames.map((f) => [f.opcode, f.fin, f.length])).toEqual([
      [2, false, 0x4000],
      [0, true, 10],
    ]);
    settings.fragmentationThreshold = 0;
    sender.sendMessage(Opcode.BINARY, Buffer.alloc(0x4000 + 10, 7));
    settings.fragmentationThreshold = -5;
    sender.sendMessage(Opcode.BINARY, Buffer.alloc(0x4000 + 10, 7));
    expect(sink.frames.slice(2).map((f) => [f.opcode, f.fin, f.length])).toEqual([
      [2, true, 0x4000 + 10],
      [2, true, 0x4000 + 10],
    ]);
  });

  test('a compressed message is fragmented per the live threshold, RSV1 on its first frame only (RFC 7692 §6)', async () => {
    const deflate = codec(true);
    const tracked = trackCompressions(deflate);
    const { sink, settings, sender } = setup({ settings: { fragmentationThreshold: 8 }, deflate });
    const text = randomBytesFrom(prng(11), 60).toString('hex');
    sender.sendMessage(Opcode.TEXT, Buffer.from(text));
    await tracked.settled();
    const frames = sink.frames;
    expect(frames.length).toBeGreaterThan(1);
    expect(frames.map((f) => [f.opcode, f.rsv1])).toEqual(frames.map((_, i) => (i === 0 ? [1, true] : [0, false])));
    expect(frames.slice(0, -1).every((f) => f.length === 8 && !f.fin)).toBe(true);
    expect(frames[frames.length - 1]!.fin).toBe(true);
    expect((await inflate(codec(false), Buffer.concat(frames.map((f) => f.payload)))).toString()).toBe(text);
    settings.fragmentOutgoingMessages = false;
    sender.sendMessage(Opcode.TEXT, Buffer.from(text));
    await tracked.settled();
    expect(sink.frames.slice(frames.length).map((f) => [f.opcode, f.rsv1, f.fin])).toEqual([[1, true, true]]);
  });
});

describe('Sender: after our Close, every frame is refused (RFC 6455 §5.5.1)', () => {
  test('sendMessage / sendText / sendFrame push nothing; each callback gets the error through sink.fail, not synchronously', () => {
    const { sink, sender } = setup();
    sender.sendClose(1000, 'bye', undefined, () => undefined);
    const before = sink.entries.length;
    const callbacks = [jest.fn(), jest.fn(), jest.fn(), jest.fn()];
    sender.sendMessage(Opcode.BINARY, Buffer.from('x'), callbacks[0]);
    sender.sendText('y', callbacks[1]);
    sender.sendFrame({ fin: true, rsv1: false, opcode: Opcode.PING }, Buffer.from('p'), callbacks[2]);
    sender.sendMessage(Opcode.TEXT, Buffer.from('no callback'));
    sender.sendText('no callback either');
    sender.sendFrame({ fin: true, rsv1: false, opcode: Opcode.PONG }, Buffer.alloc(0), callbacks[3]);
    expect(sink.entries.length).toBe(before);
    expect(sink.depth).toBe(0);
    for (const cb of callbacks) expect(cb).not.toHaveBeenCalled();
    expect(sink.failed.map((f) => f.callback)).toEqual(callbacks);
    for (const { error } of sink.failed) {
      expect(error).toBeInstanceOf(Error);
      expect((error as Error & { code?: string }).code).toBe('ERR_STREAM_WRITE_AFTER_END');
    }
  });

  test('also after sendFailClose', () => {
    const { sink, sender } = setup();
    expect(sender.sendFailClose(1002, 'bad')).toBe(true);
    const cb = jest.fn();
    sender.sendMessage(Opcode.TEXT, Buffer.from('late'), cb);
    expect(sink.frames.map((f) => f.opcode)).toEqual([Opcode.CLOSE]);
    expect(sink.failed.map((f) => f.callback)).toEqual([cb]);
    expect(cb).not.toHaveBeenCalled();
  });

  test('the peer\'s Close alone does not refuse our frames (we may still send until we answer)', () => {
    const { sink, closing, sender } = setup();
    expect(closing.receive(true)).toBe(1000);
    sender.sendMessage(Opcode.TEXT, Buffer.from('still allowed'));
    expect(sink.frames.map((f) => f.payload.toString())).toEqual(['still allowed']);
    expect(sink.failed).toEqual([]);
  });
});

describe('Sender: one Close only', () => {
  test('sendClose twice: one Close frame, the second returns false and its `then` never runs', () => {
    const { sink, closing, sender } = setup();
    const then1 = jest.fn();
    const then2 = jest.fn();
    const cb = jest.fn();
    expect(sender.sendClose(1000, 'bye', cb, then1)).toBe(true);
    expect(then1).toHaveBeenCalledTimes(1);
    expect(sender.sendClose(1001, 'again', undefined, then2)).toBe(false);
    expect(then2).not.toHaveBeenCalled();
    expect(sink.frames.map((f) => [f.opcode, hex(f.payload)])).toEqual([[8, '03e8' + Buffer.from('bye').toString('hex')]]);
    expect(sink.entries.map((e) => e.type)).toEqual(['chunk', 'callback']);
    expect(closing.state).toBe('closing-local');
  });

  test('then runs once the Close is in the output', () => {
    const { sink, sender } = setup();
    let entriesAtThen = -1;
    sender.sendClose(1000, undefined, undefined, () => (entriesAtThen = sink.entries.length));
    expect(entriesAtThen).toBe(1);
  });

  test('sendFailClose after sendClose and sendClose after sendFailClose send nothing more', () => {
    const a = setup();
    a.sender.sendClose(1000, undefined, undefined, () => undefined);
    expect(a.sender.sendFailClose(1011, 'x')).toBe(false);
    expect(a.sink.frames.map((f) => hex(f.payload))).toEqual(['03e8']);
    const b = setup();
    expect(b.sender.sendFailClose(1011, 'x')).toBe(true);
    const then = jest.fn();
    expect(b.sender.sendClose(1000, undefined, undefined, then)).toBe(false);
    expect(then).not.toHaveBeenCalled();
    expect(b.sink.frames.map((f) => hex(f.payload))).toEqual(['03f3' + Buffer.from('x').toString('hex')]);
  });

  test('the reply to a peer\'s Close (closing-remote) is our one Close', () => {
    const { sink, closing, sender } = setup();
    const reply = closing.receive(false);
    expect(sender.sendClose(reply, undefined, undefined, () => undefined)).toBe(true);
    expect(sender.sendClose(1000, undefined, undefined, () => undefined)).toBe(false);
    expect(sink.frames.map((f) => hex(f.payload))).toEqual(['03ea']);
    expect(closing.mustCloseTcp).toBe(true);
  });

  test('code 1005 sends an empty body', () => {
    const { sink, sender } = setup();
    sender.sendFailClose(1005, 'ignored');
    expect(hex(sink.bytes)).toBe('8800');
  });
});

describe('Sender: every public send is one hold()/release() bracket', () => {
  test('all pushes of a send happen inside one bracket, and the depth is back to 0 after each call', () => {
    const { sink, sender } = setup({ settings: { fragmentationThreshold: 2 } });
    const calls: Array<() => void> = [
      () => sender.sendMessage(Opcode.BINARY, Buffer.from('abcdef'), () => undefined),
      () => sender.sendText('ghijk', () => undefined),
      () => sender.sendText('z'),
      () => sender.sendFrame({ fin: true, rsv1: false, opcode: Opcode.PING }, Buffer.from('p'), () => undefined),
      () => sender.sendClose(1000, 'bye', () => undefined, () => undefined),
    ];
    for (const call of calls) {
      const pushesBefore = sink.pushDepths.length;
      call();
      expect(sink.depth).toBe(0);
      const depths = sink.pushDepths.slice(pushesBefore);
      expect(depths.length).toBeGreaterThan(0);
      expect(depths.every((d) => d === 1)).toBe(true);
    }
    // sendFailClose on another sender (the first has sent its Close).
    const other = setup();
    other.sender.sendFailClose(1002, 'x');
    expect(other.sink.depth).toBe(0);
    expect(other.sink.pushDepths).toEqual([1]);
  });

  test('refused sends open no bracket at all', () => {
    const { sink, sender } = setup();
    sender.sendFailClose(1000, undefined);
    let maxDepth = 0;
    const hold = sink.hold.bind(sink);
    sink.hold = () => {
      hold();
      maxDepth = Math.max(maxDepth, sink.depth);
    };
    sender.sendMessage(Opcode.TEXT, Buffer.from('x'), () => undefined);
    sender.sendText('x');
    sender.sendFrame({ fin: true, rsv1: false, opcode: Opcode.PING }, Buffer.alloc(0));
    expect(maxDepth).toBe(0);
    expect(sink.depth).toBe(0);
  });

  test('when encoding throws (the mask key source fails), the bracket is still closed', () => {
    const failing: MaskKeySource = {
      fill() {
        throw new Error('no entropy');
      },
    };
    const { sink, sender } = setup({ maskKeys: failing, settings: { fragmentationThreshold: 3 } });
    expect(() => sender.sendMessage(Opcode.BINARY, Buffer.from('abcdef'), () => undefined)).toThrow('no entropy');
    expect(sink.depth).toBe(0);
    expect(() => sender.sendText('hello', () => undefined)).toThrow('no entropy');
    expect(sink.depth).toBe(0);
    expect(() => sender.sendText('hi')).toThrow('no entropy');
    expect(sink.depth).toBe(0);
    expect(() => sender.sendFrame({ fin: true, rsv1: false, opcode: Opcode.PING }, Buffer.alloc(0))).toThrow('no entropy');
    expect(sink.depth).toBe(0);
    const then = jest.fn();
    expect(() => sender.sendClose(1000, 'bye', undefined, then)).toThrow('no entropy');
    expect(sink.depth).toBe(0);
    expect(then).not.toHaveBeenCalled();
    expect(sink.entries).toEqual([]);
  });

  test('sendFailClose closes its bracket when encoding throws', () => {
    const failing: MaskKeySource = {
      fill() {
        throw new Error('no entropy');
      },
    };
    const { sink, sender } = setup({ maskKeys: failing });
    expect(() => sender.sendFailClose(1011, 'x')).toThrow('no entropy');
    expect(sink.depth).toBe(0);
  });

  test('a client masks every frame it sends (fixed key → exact bytes)', () => {
    const { sink, sender } = setup({ maskKeys: fixedMaskKeys([0x37, 0xfa, 0x21, 0x3d]) });
    sender.sendText('Hello');
    expect(hex(sink.bytes)).toBe('818537fa213d7f9f4d5158');
  });
});

describe('Sender: permessage-deflate send queue (real PerMessageDeflate)', () => {
  test('uncompressed sends and a Close issued while a message compresses come out after it, in call order', async () => {
    const deflate = codec(true);
    const tracked = trackCompressions(deflate);
    const { sink, closing, sender } = setup({ deflate });
    const names = new Map<WriteCallback, string>();
    const cb = (name: string): WriteCallback => {
      const fn = jest.fn();
      names.set(fn, name);
      return fn;
    };
    const then = jest.fn(() => {
      // The Close is in the output when `then` runs.
      expect(sink.frames.map((f) => f.opcode).pop()).toBe(Opcode.CLOSE);
    });
    const callbackA = cb('A');
    sender.sendMessage(Opcode.TEXT, Buffer.from(TEXT_1K), callbackA);
    expect(sink.depth).toBe(0);
    sender.sendMessage(Opcode.BINARY, Buffer.from('plain binary'), cb('B'), { compress: false });
    expect(sink.depth).toBe(0);
    sender.sendText('tiny', cb('C'));
    sender.sendFrame({ fin: true, rsv1: false, opcode: Opcode.PING }, Buffer.from('ping'), cb('D'));
    sender.sendText('x'.repeat(40), cb('E'), { compress: false });
    expect(sender.sendClose(1000, 'done', cb('F'), then)).toBe(true);
    const refused = cb('G');
    sender.sendText('after close', refused);
    // Nothing has gone out yet: everything waits behind the compression, and our Close is spent.
    expect(sink.entries).toEqual([]);
    expect(then).not.toHaveBeenCalled();
    expect(closing.refusesFrames).toBe(true);
    expect(sink.failed.map((f) => names.get(f.callback))).toEqual(['G']);
    expect(sink.depth).toBe(0);

    await tracked.settled();
    expect(sink.depth).toBe(0);
    expect(sink.layout(names)).toEqual([
      'frame 1 rsv1',
      'A',
      'frame 2',
      'B',
      'frame 1',
      'C',
      'frame 9',
      'D',
      'frame 1',
      'E',
      'frame 8',
      'F',
    ]);
    expect(then).toHaveBeenCalledTimes(1);
    // Everything that went out was pushed inside a bracket.
    expect(sink.pushDepths.every((d) => d >= 1)).toBe(true);
    const frames = sink.frames;
    expect((await inflate(codec(false), frames[0]!.payload)).toString()).toBe(TEXT_1K);
    expect(frames.slice(1, -1).map((f) => f.payload.toString())).toEqual(['plain binary', 'tiny', 'ping', 'x'.repeat(40)]);
    expect(hex(frames[frames.length - 1]!.payload)).toBe('03e8' + Buffer.from('done').toString('hex'));
    expect(tracked.started()).toBe(1);
    // The Sender never calls the callbacks itself: the transport does once they are written.
    for (const fn of names.keys()) expect(fn).not.toHaveBeenCalled();
  });

  test('a compressed message queued behind another starts its compression in turn; later sends wait behind it', async () => {
    const deflate = codec(true);
    const tracked = trackCompressions(deflate);
    const { sink, sender } = setup({ deflate });
    const peer = codec(false);
    const second = 'second compressed message, '.repeat(30);
    sender.sendMessage(Opcode.TEXT, Buffer.from(TEXT_1K));
    sender.sendText('p1');
    sender.sendText(second);
    sender.sendMessage(Opcode.BINARY, Buffer.from('p2'));
    const then = jest.fn();
    sender.sendClose(1000, undefined, undefined, then);
    await tracked.settled();
    expect(tracked.started()).toBe(2);
    const frames = sink.frames;
    expect(frames.map((f) => `${f.opcode}${f.rsv1 ? 'z' : ''}`)).toEqual(['1z', '1', '1z', '2', '8']);
    // Context takeover: the peer inflates them in this order only.
    expect((await inflate(peer, frames[0]!.payload)).toString()).toBe(TEXT_1K);
    expect((await inflate(peer, frames[2]!.payload)).toString()).toBe(second);
    expect(frames[1]!.payload.toString()).toBe('p1');
    expect(frames[3]!.payload.toString()).toBe('p2');
    expect(then).toHaveBeenCalledTimes(1);
    expect(sink.depth).toBe(0);
  });

  test('whenSent runs after what is queued, or at once when nothing is', async () => {
    const deflate = codec(true);
    const tracked = trackCompressions(deflate);
    const { sink, sender } = setup({ deflate });
    const now = jest.fn();
    sender.whenSent(now);
    expect(now).toHaveBeenCalledTimes(1);
    sender.sendMessage(Opcode.TEXT, Buffer.from(TEXT_1K));
    let framesAtRun = -1;
    sender.whenSent(() => (framesAtRun = sink.frames.length));
    expect(framesAtRun).toBe(-1);
    await tracked.settled();
    expect(framesAtRun).toBe(1);
  });

  test('below the threshold or with compress: false nothing is compressed and nothing waits', () => {
    const deflate = codec(true, 100);
    const { sink, sender } = setup({ deflate });
    sender.sendMessage(Opcode.TEXT, Buffer.from('x'.repeat(99)));
    sender.sendMessage(Opcode.TEXT, Buffer.from('y'.repeat(500)), undefined, { compress: false });
    sender.sendText('z'.repeat(500), undefined, { compress: false });
    expect(sink.frames.map((f) => [f.opcode, f.rsv1, f.length])).toEqual([
      [1, false, 99],
      [1, false, 500],
      [1, false, 500],
    ]);
  });

  test('sendFailClose goes out at once, ahead of the queued sends, whose callbacks fail; the queued sends never go out', async () => {
    const deflate = codec(true);
    const tracked = trackCompressions(deflate);
    const { sink, closing, sender } = setup({ deflate });
    const queuedB = jest.fn();
    const queuedC = jest.fn();
    const then = jest.fn();
    sender.sendMessage(Opcode.TEXT, Buffer.from(TEXT_1K));
    sender.sendMessage(Opcode.BINARY, Buffer.from('queued'), queuedB, { compress: false });
    sender.sendFrame({ fin: true, rsv1: false, opcode: Opcode.PING }, Buffer.from('p'), queuedC);
    expect(sink.entries).toEqual([]);

    expect(sender.sendFailClose(1011, 'boom')).toBe(true);
    expect(closing.state).toBe('closed');
    expect(sink.frames.map((f) => [f.opcode, hex(f.payload)])).toEqual([[8, '03f3' + Buffer.from('boom').toString('hex')]]);
    expect(sink.failed.map((f) => f.callback)).toEqual([queuedB, queuedC]);
    for (const { error } of sink.failed) expect(error).toBeInstanceOf(Error);
    expect(queuedB).not.toHaveBeenCalled();
    expect(queuedC).not.toHaveBeenCalled();
    expect(sink.depth).toBe(0);
    // A Close was sent: a later sendClose is refused.
    expect(sender.sendClose(1000, undefined, undefined, then)).toBe(false);

    await tracked.settled();
    expect(sink.frames.some((f) => f.payload.toString() === 'queued' || f.opcode === Opcode.PING)).toBe(false);
    expect(then).not.toHaveBeenCalled();
    expect(sink.depth).toBe(0);
  });

  test('the message being compressed when sendFailClose runs does not follow our Close, and its callback gets an error', async () => {
    const deflate = codec(true);
    const tracked = trackCompressions(deflate);
    const { sink, sender } = setup({ deflate });
    const inFlight = jest.fn();
    sender.sendMessage(Opcode.TEXT, Buffer.from(TEXT_1K), inFlight);
    sender.sendFailClose(1011, 'boom');
    await tracked.settled();
    // RFC 6455 §5.5.1: after sending a Close "the endpoint MUST NOT send any more data frames".
    expect(sink.frames.map((f) => f.opcode)).toEqual([Opcode.CLOSE]);
    // Its callback learns that it was not sent (directly, or deferred through sink.fail).
    const error: unknown = inFlight.mock.calls[0]?.[0] ?? sink.failed.find((f) => f.callback === inFlight)?.error;
    expect(error).toBeInstanceOf(Error);
  });

  test('dispose() fails the queued callbacks (through sink.fail) and the one being compressed; nothing is pushed', async () => {
    const deflate = codec(true);
    const tracked = trackCompressions(deflate);
    const { sink, sender } = setup({ deflate });
    const inFlight = jest.fn();
    const queued = [jest.fn(), jest.fn(), jest.fn()];
    const then = jest.fn();
    sender.sendMessage(Opcode.TEXT, Buffer.from(TEXT_1K), inFlight);
    sender.sendText('b', queued[0]);
    sender.sendFrame({ fin: true, rsv1: false, opcode: Opcode.PONG }, Buffer.alloc(0), queued[1]);
    sender.sendClose(1000, undefined, queued[2], then);
    sender.dispose();
    expect(sink.failed.map((f) => f.callback)).toEqual(queued);
    for (const { error } of sink.failed) expect(error.message).toMatch(/closed before the message was sent/);
    for (const fn of queued) expect(fn).not.toHaveBeenCalled();
    await tracked.settled();
    expect(sink.entries).toEqual([]);
    expect(then).not.toHaveBeenCalled();
    expect(inFlight).toHaveBeenCalledTimes(1);
    expect(inFlight.mock.calls[0]![0]).toBeInstanceOf(Error);
    // A send after dispose() is refused as after a Close.
    const late = jest.fn();
    sender.sendMessage(Opcode.TEXT, Buffer.from('late'), late);
    expect(sink.failed.map((f) => f.callback)).toEqual([...queued, late]);
    expect(sink.entries).toEqual([]);
    // dispose() twice fails nothing twice.
    sender.dispose();
    expect(sink.failed).toHaveLength(4);
  });
});
