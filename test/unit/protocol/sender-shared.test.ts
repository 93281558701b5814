/**
 * Sender.sendShared (topics' fan-out): a server sender without compression, or with compression but
 * no context takeover on our side, writes the shared message's bytes as they are (one Buffer for
 * every sender with equal settings); a sender with context takeover, or a masking (client) sender,
 * frames the message itself; refusal after our Close and order behind a compression hold as for
 * any other send.
 */
import * as zlib from 'node:zlib';
import { Opcode } from '../../../lib/codec/constants';
import { PerMessageDeflate } from '../../../lib/extensions/permessage-deflate';
import { type DeflateParams } from '../../../lib/extensions/deflate-negotiation';
import { ClosingHandshake } from '../../../lib/protocol/closing-handshake';
import { Sender, type SendSettings } from '../../../lib/protocol/sender';
import { FanOutMessage } from '../../../lib/topics/shared-message';
import { RecordingSink, fixedMaskKeys, parseChunks } from '../../helpers/codec-fixtures';

const codecs: PerMessageDeflate[] = [];
afterEach(() => {
  for (const c of codecs.splice(0)) c.close();
});

function deflate(serverNoContextTakeover: boolean, threshold = 0, level?: number): PerMessageDeflate {
  const params: DeflateParams = { serverNoContextTakeover, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 };
  const codec = new PerMessageDeflate(params, true, level === undefined ? { threshold } : { threshold, level });
  codecs.push(codec);
  return codec;
}

function sender(options: { deflate?: PerMessageDeflate | null; settings?: SendSettings; masked?: boolean } = {}) {
  const sink = new RecordingSink();
  const closing = new ClosingHandshake();
  const s = new Sender(sink, options.settings ?? {}, options.masked === true ? fixedMaskKeys([1, 2, 3, 4]) : null, options.deflate ?? null, closing);
  return { sink, closing, sender: s };
}

const inflate = (payload: Buffer): string =>
  zlib.inflateRawSync(Buffer.concat([payload, Buffer.from([0, 0, 0xff, 0xff])]), { finishFlush: zlib.constants.Z_SYNC_FLUSH }).toString();

describe('Sender.sendShared', () => {
  test('plain senders with equal settings push the very same Buffer', () => {
    const message = new FanOutMessage(Buffer.from('hello'), false);
    const a = sender();
    const b = sender();
    expect(a.sender.sendShared(message)).toBe(true);
    expect(b.sender.sendShared(message)).toBe(true);
    expect(a.sink.pushed[0]!.toString('hex')).toBe('810568656c6c6f');
    expect(b.sink.pushed[0]).toBe(a.sink.pushed[0]);
    expect(a.sink.depth).toBe(0);
  });

  test('a different fragmentation threshold gets its own encoding, still shared among its kind', () => {
    const message = new FanOutMessage(Buffer.alloc(10, 0x61), true);
    const whole = sender({ settings: { fragmentOutgoingMessages: false } });
    const split = sender({ settings: { fragmentationThreshold: 4 } });
    const split2 = sender({ settings: { fragmentationThreshold: 4 } });
    whole.sender.sendShared(message);
    split.sender.sendShared(message);
    split2.sender.sendShared(message);
    expect(parseChunks(whole.sink.bytes, []).frames.map((f) => f.payload.length)).toEqual([10]);
    expect(parseChunks(split.sink.bytes, []).frames.map((f) => [f.opcode, f.fin, f.payload.length])).toEqual([
      [Opcode.BINARY, false, 4],
      [Opcode.CONTINUATION, false, 4],
      [Opcode.CONTINUATION, true, 2],
    ]);
    expect(split2.sink.pushed[0]).toBe(split.sink.pushed[0]);
  });

  test('no context takeover: compressed once, the same bytes for every such sender', () => {
    const text = 'shared compression '.repeat(40);
    const message = new FanOutMessage(Buffer.from(text), false);
    const a = sender({ deflate: deflate(true) });
    const b = sender({ deflate: deflate(true) });
    a.sender.sendShared(message);
    b.sender.sendShared(message);
    expect(b.sink.pushed[0]).toBe(a.sink.pushed[0]);
    const [frame] = parseChunks(a.sink.bytes, [], { allowRsv1: true }).frames;
    expect(frame!.rsv1).toBe(true);
    expect(inflate(frame!.payload)).toBe(text);
    // Another compression level is another parameter set: compressed again, for its own senders.
    const c = sender({ deflate: deflate(true, 0, 1) });
    c.sender.sendShared(message);
    expect(c.sink.pushed[0]).not.toBe(a.sink.pushed[0]);
    expect(inflate(parseChunks(c.sink.bytes, [], { allowRsv1: true }).frames[0]!.payload)).toBe(text);
  });

  test('below the threshold, or compress: false, the plain encoding is shared', () => {
    const small = new FanOutMessage(Buffer.from('tiny'), false);
    const a = sender({ deflate: deflate(true, 100) });
    const b = sender();
    a.sender.sendShared(small);
    b.sender.sendShared(small);
    expect(a.sink.pushed[0]).toBe(b.sink.pushed[0]);
    const uncompressed = new FanOutMessage(Buffer.alloc(500, 0x62), false, false);
    const c = sender({ deflate: deflate(false) });
    c.sender.sendShared(uncompressed);
    expect(parseChunks(c.sink.bytes, [], { allowRsv1: true }).frames[0]!.rsv1).toBe(false);
  });

  test('context takeover: the sender compresses for itself (asynchronously, in order)', async () => {
    const codec = deflate(false);
    const { sink, sender: s } = sender({ deflate: codec });
    const message = new FanOutMessage(Buffer.from('abc '.repeat(100)), false);
    const done: Array<Error | undefined> = [];
    s.sendShared(message, (error) => done.push(error));
    s.sendShared(message, (error) => done.push(error));
    expect(sink.pushed).toHaveLength(0);
    await new Promise<void>((resolve) => s.whenSent(resolve));
    await new Promise<void>((resolve) => setTimeout(resolve, 50));
    const frames = parseChunks(sink.bytes, [], { allowRsv1: true }).frames;
    expect(frames).toHaveLength(2);
    const inflater = zlib.createInflateRaw();
    const out: Buffer[] = [];
    inflater.on('data', (chunk: Buffer) => out.push(chunk));
    for (const frame of frames) {
      inflater.write(Buffer.concat([frame.payload, Buffer.from([0, 0, 0xff, 0xff])]));
      await new Promise<void>((resolve) => inflater.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve()));
    }
    expect(Buffer.concat(out).toString()).toBe('abc '.repeat(200));
    // The second message used the first as its window: smaller than the first.
    expect(frames[1]!.payload.length).toBeLessThan(frames[0]!.payload.length);
    inflater.close();
  });

  test('a masking (client) sender frames the message itself, masked', () => {
    const { sink, sender: s } = sender({ masked: true });
    s.sendShared(new FanOutMessage(Buffer.from('hi'), false));
    const [frame] = parseChunks(sink.bytes, []).frames;
    expect(frame!.masked).toBe(true);
    expect(frame!.payload.toString()).toBe('hi');
  });

  test('after our Close it is refused and its callback fails', () => {
    const { sink, sender: s } = sender();
    s.sendClose(1000, undefined, undefined, () => undefined);
    const before = sink.pushed.length;
    const callback = jest.fn();
    expect(s.sendShared(new FanOutMessage(Buffer.from('late'), false), callback)).toBe(false);
    expect(sink.pushed).toHaveLength(before);
    expect(sink.failed.map((f) => f.callback)).toEqual([callback]);
  });

  test('behind a compression in progress it waits its turn', async () => {
    // With context takeover a compression runs in zlib's thread pool (see compressNow).
    const { sink, sender: s } = sender({ deflate: deflate(false, 100) });
    s.sendMessage(Opcode.TEXT, Buffer.alloc(1000, 0x61));
    s.sendShared(new FanOutMessage(Buffer.from('after'), false));
    expect(sink.pushed).toHaveLength(0);
    await new Promise<void>((resolve) => s.whenSent(resolve));
    const frames = parseChunks(sink.bytes, [], { allowRsv1: true }).frames;
    expect(frames.map((f) => f.rsv1)).toEqual([true, false]);
    expect(frames[1]!.payload.toString()).toBe('after');
    expect(sink.depth).toBe(0);
  });
});
