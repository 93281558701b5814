/**
 * The per-connection codec (PerMessageDeflate): RFC 7692 §7.2.3's byte examples, round trips for
 * every window size with and without context takeover, and bounded inflation of a bomb.
 */
import * as crypto from 'node:crypto';
import * as zlib from 'node:zlib';
import { WebSocketError } from '../../../lib/codec/errors';
import { PerMessageDeflate } from '../../../lib/extensions/permessage-deflate';
import { type DeflateOptions, type DeflateParams } from '../../../lib/extensions/deflate-negotiation';

const DEFAULT_PARAMS: DeflateParams = {
  serverNoContextTakeover: false,
  clientNoContextTakeover: false,
  serverMaxWindowBits: 15,
  clientMaxWindowBits: 15,
};
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);
const hexBytes = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');

/** Byte equality without jest's element-by-element diff, which is very slow on large buffers. */
function expectBytes(actual: Buffer, expected: Buffer): void {
  if (actual.equals(expected)) return;
  let at = 0;
  while (at < actual.length && at < expected.length && actual[at] === expected[at]) at++;
  throw new Error(`bytes differ: lengths ${actual.length} vs ${expected.length}, first difference at ${at}`);
}

const codecs: PerMessageDeflate[] = [];
/** A codec closed after the test. */
function codec(params: Partial<DeflateParams> = {}, isServer = true, options: DeflateOptions = {}): PerMessageDeflate {
  const c = new PerMessageDeflate({ ...DEFAULT_PARAMS, ...params }, isServer, options);
  codecs.push(c);
  return c;
}
afterEach(() => {
  for (const c of codecs.splice(0)) c.close();
});

function compress(c: PerMessageDeflate, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => c.compress(data, (error, out) => (error ? reject(error) : resolve(out!))));
}

function decompress(c: PerMessageDeflate, pieces: Buffer[], maxSize = 64 * 1024 * 1024): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    c.decompress(pieces, maxSize, (error, chunks) => (error ? reject(error) : resolve(Buffer.concat(chunks!)))),
  );
}

/** A message that compresses well only with a window of at least `distance` bytes: a random block repeated. */
function repeating(distance: number, copies: number): Buffer {
  const block = crypto.randomBytes(distance);
  return Buffer.concat(Array.from({ length: copies }, () => block));
}

/**
 * Inflates compressed messages (tails stripped) with a window of `bits` in 64-byte output steps,
 * so that any back-reference further than the window fails ("invalid distance too far back").
 * `shared`: the messages use one LZ77 context, as with context takeover.
 */
function inflateWithWindow(messages: Buffer[], bits: number, shared: boolean): Buffer {
  const opts = { windowBits: bits, chunkSize: 64, finishFlush: zlib.constants.Z_SYNC_FLUSH };
  if (shared) return zlib.inflateRawSync(Buffer.concat(messages.flatMap((m) => [m, TAIL])), opts);
  return Buffer.concat(messages.map((m) => zlib.inflateRawSync(Buffer.concat([m, TAIL]), opts)));
}

describe('RFC 7692 §7.2.3 examples through decompress', () => {
  test('§7.2.3.1 "Hello" compressed', async () => {
    const c = codec();
    expect((await decompress(c, [hexBytes('f2 48 cd c9 c9 07 00')])).toString()).toBe('Hello');
  });

  test('§7.2.3.2 two messages sharing the LZ77 window (context takeover)', async () => {
    const c = codec();
    expect((await decompress(c, [hexBytes('f2 48 cd c9 c9 07 00')])).toString()).toBe('Hello');
    // The second message is a back-reference into the first.
    expect((await decompress(c, [hexBytes('f2 00 11 00 00')])).toString()).toBe('Hello');
  });

  test('§7.2.3.2 the first form again, without sharing', async () => {
    const c = codec();
    for (let i = 0; i < 3; i++) expect((await decompress(c, [hexBytes('f2 48 cd c9 c9 07 00')])).toString()).toBe('Hello');
  });

  test('§7.2.3.3 a DEFLATE block with no compression', async () => {
    const c = codec();
    expect((await decompress(c, [hexBytes('00 05 00 fa ff 48 65 6c 6c 6f 00')])).toString()).toBe('Hello');
  });

  test('§7.2.3.5 two DEFLATE blocks in one message', async () => {
    const c = codec();
    expect((await decompress(c, [hexBytes('f2 48 05 00 00 00 ff ff ca c9 c9 07 00')])).toString()).toBe('Hello');
  });

  test('§7.2.3.6 an empty message ("0x00")', async () => {
    const c = codec();
    expect(await decompress(c, [hexBytes('00')])).toEqual(Buffer.alloc(0));
    expect((await decompress(c, [hexBytes('f2 48 cd c9 c9 07 00')])).toString()).toBe('Hello');
  });

  test('the pieces of a message may be split anywhere (one per frame or TCP chunk)', async () => {
    const c = codec();
    const bytes = hexBytes('f2 48 05 00 00 00 ff ff ca c9 c9 07 00');
    const pieces = [...bytes].map((b) => Buffer.from([b]));
    expect((await decompress(c, pieces)).toString()).toBe('Hello');
    expect((await decompress(c, [bytes.subarray(0, 5), bytes.subarray(5)])).toString()).toBe('Hello');
  });

  test('the peer\'s no-context-takeover lets us reset our inflater after each message', async () => {
    // A server codec: the peer (client) compresses each message on its own.
    const c = codec({ clientNoContextTakeover: true });
    for (let i = 0; i < 3; i++) expect((await decompress(c, [hexBytes('f2 48 cd c9 c9 07 00')])).toString()).toBe('Hello');
  });
});

describe('compress', () => {
  test('the 4-byte tail is stripped (RFC 7692 §7.2.1) and an empty message becomes 0x00', async () => {
    const c = codec();
    const out = await compress(c, Buffer.from('Hello'));
    expect(out.subarray(out.length - 4).equals(TAIL)).toBe(false);
    expect(inflateWithWindow([out], 15, false).toString()).toBe('Hello');
    expect(await compress(codec(), Buffer.alloc(0))).toEqual(Buffer.from([0x00]));
  });

  test('messages compressed one after another form one stream (context takeover)', async () => {
    const c = codec();
    const messages = Array.from({ length: 20 }, (_, i) => Buffer.from(`message ${i} `.repeat(50 + i * 37)));
    const results: Buffer[] = [];
    for (const m of messages) results.push(await compress(c, m));
    expectBytes(inflateWithWindow(results, 15, true), Buffer.concat(messages));
  });
});

describe('compress → decompress round trips', () => {
  const bitsList = [8, 9, 10, 11, 12, 13, 14, 15];
  for (const noContextTakeover of [false, true]) {
    test.each(bitsList)(`window bits %i, ${noContextTakeover ? 'no ' : ''}context takeover`, async (bits) => {
      // Server side compresses, client side inflates; then the other way round.
      for (const serverSends of [true, false]) {
        const params: Partial<DeflateParams> = serverSends
          ? { serverMaxWindowBits: bits, serverNoContextTakeover: noContextTakeover }
          : { clientMaxWindowBits: bits, clientNoContextTakeover: noContextTakeover };
        const sender = codec(params, serverSends);
        const receiver = codec(params, !serverSends);
        const far = repeating(700, 6);
        const messages = [far, Buffer.from('Hello, Hello, Hello, Hello'), far, Buffer.alloc(0), crypto.randomBytes(3000), far, Buffer.from('x')];
        const sent: Buffer[] = [];
        for (const message of messages) {
          const compressed = await compress(sender, message);
          sent.push(compressed);
          expectBytes(await decompress(receiver, [compressed]), message);
        }
        // The compressor kept to the agreed window (zlib cannot make a raw window of 8: 9 is used).
        expectBytes(inflateWithWindow(sent, Math.max(bits, 9), !noContextTakeover), Buffer.concat(messages));
        // A window below the 700-byte distance cannot find the repeats; 15 bits finds them.
        if (bits <= 9) expect(sent[0]!.length).toBeGreaterThan(4000);
        if (bits >= 11) expect(sent[0]!.length).toBeLessThan(1000);
        if (noContextTakeover) {
          // Every message is compressed from an empty window: equal messages compress equally.
          expectBytes(sent[2]!, sent[0]!);
          expectBytes(sent[5]!, sent[0]!);
        } else if (bits >= 11) {
          // The repeat refers back to the earlier message (distance within the window).
          expect(sent[2]!.length).toBeLessThan(sent[0]!.length / 4);
        }
      }
    });
  }

  test('level and memLevel options are applied and still round-trip', async () => {
    const data = Buffer.from('abcdefgh'.repeat(2000) + crypto.randomBytes(500).toString('hex'));
    const stored = await compress(codec({}, true, { level: 0 }), data);
    const best = await compress(codec({}, true, { level: 9, memLevel: 9 }), data);
    expect(stored.length).toBeGreaterThan(data.length);
    expect(best.length).toBeLessThan(data.length / 4);
    expectBytes(await decompress(codec({}, false), [stored]), data);
    expectBytes(await decompress(codec({}, false), [best]), data);
  });

  test('threshold defaults to 1024 and follows the option', () => {
    expect(codec().threshold).toBe(1024);
    expect(codec({}, true, { threshold: 0 }).threshold).toBe(0);
    expect(codec({}, true, { threshold: 77 }).threshold).toBe(77);
  });
});

describe('decompress: invalid data and limits', () => {
  test('invalid compressed data is an error, and the codec works again afterwards', async () => {
    const c = codec();
    // BTYPE 11 is reserved (RFC 1951 §3.2.3).
    await expect(decompress(c, [hexBytes('ff ff ff ff')])).rejects.toThrow();
    expect((await decompress(c, [hexBytes('f2 48 cd c9 c9 07 00')])).toString()).toBe('Hello');
  });

  test('a message exactly at maxSize is delivered', async () => {
    const c = codec();
    const data = Buffer.alloc(50000, 7);
    const compressed = await compress(codec(), data);
    expectBytes(await decompress(c, [compressed], data.length), data);
    await expect(decompress(c, [await compress(codec(), data)], data.length - 1)).rejects.toMatchObject({ closeCode: 1009 });
  });

  test('a bomb stops with a 1009 after at most maxSize + one zlib chunk, without ballooning memory', async () => {
    // 100 MB of zeros: a sync-flushed chunk of 1 MiB of zeros repeated (non-final blocks chain up).
    const unit = zlib.deflateRawSync(Buffer.alloc(1024 * 1024), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    const bomb = Buffer.concat(Array.from({ length: 100 }, () => unit));
    const inflated = 100 * 1024 * 1024;
    expect(bomb.length).toBeLessThan(200 * 1024);

    const maxSize = 256 * 1024;
    const c = codec();
    // Count what zlib hands out before the codec gives up: give the codec an inflater we watch
    // (it creates one lazily, exactly like this, when it has none).
    const inflater = zlib.createInflateRaw({ windowBits: 15 });
    inflater.on('error', () => undefined);
    let produced = 0;
    let producedAtDone = -1;
    inflater.on('data', (chunk: Buffer) => {
      produced += chunk.length;
    });
    (c as unknown as { inflater: zlib.InflateRaw | null }).inflater = inflater;
    let peak = 0;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().arrayBuffers);
    }, 2);
    const before = process.memoryUsage().arrayBuffers;
    let calls = 0;
    const result = await new Promise<{ error: Error | null; chunks: Buffer[] | undefined }>((resolve) => {
      c.decompress([bomb], maxSize, (error, chunks) => {
        calls++;
        producedAtDone = produced;
        resolve({ error, chunks });
      });
    });
    // Let anything zlib still had queued surface before measuring.
    await new Promise((resolve) => setTimeout(resolve, 50));
    clearInterval(sampler);
    peak = Math.max(peak, process.memoryUsage().arrayBuffers);

    expect(calls).toBe(1);
    expect(result.error).toBeInstanceOf(WebSocketError);
    expect(result.error).toMatchObject({ closeCode: 1009, message: 'Maximum message size exceeded.' });
    expect(result.chunks).toBeUndefined();
    // The codec dropped the stream it gave up on.
    expect((c as unknown as { inflater: zlib.InflateRaw | null }).inflater).toBeNull();
    expect(producedAtDone).toBeGreaterThan(maxSize);
    expect(producedAtDone).toBeLessThanOrEqual(maxSize + 16 * 1024);
    // Nothing is inflated once the codec gave up.
    expect(produced).toBe(producedAtDone);
    // Generous: a codec that inflated the whole bomb would hold 100 MB here.
    expect(peak - before).toBeLessThan(inflated / 4);
  });

  test('after a 1009 the codec starts afresh for the next message', async () => {
    const c = codec();
    const big = await compress(codec(), Buffer.alloc(100000));
    await expect(decompress(c, [big], 1000)).rejects.toMatchObject({ closeCode: 1009 });
    expect((await decompress(c, [hexBytes('f2 48 cd c9 c9 07 00')])).toString()).toBe('Hello');
  });

  test('close() ends the jobs in flight and later ones: each callback runs once, with an error', async () => {
    const c = codec({ serverNoContextTakeover: true, clientNoContextTakeover: true });
    const calls: string[] = [];
    const record = (what: string) => (error: Error | null) => calls.push(`${what}:${error === null ? 'ok' : 'error'}`);
    c.compress(crypto.randomBytes(500000), record('compress'));
    c.decompress([zlib.deflateRawSync(Buffer.alloc(1000000), { finishFlush: zlib.constants.Z_SYNC_FLUSH })], 1e9, record('decompress'));
    c.close();
    c.compress(Buffer.from('late'), record('late compress'));
    c.decompress([hexBytes('f2 48 cd c9 c9 07 00')], 1e9, record('late decompress'));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(calls.sort()).toEqual(['compress:error', 'decompress:error', 'late compress:error', 'late decompress:error']);
  });
});

describe('at once (compressNow / inflateNow): without context takeover, for small messages', () => {
  const json = Buffer.from(JSON.stringify(Array.from({ length: 300 }, (_, i) => ({ id: i, name: `Zoë ${i}`, tags: ['a', 'b'] }))));

  test('compressNow: only without our context takeover and up to 64 KiB; the bytes inflate back', () => {
    expect(codec({ serverNoContextTakeover: false }).compressNow(json)).toBeNull();
    // A client compresses under client_no_context_takeover.
    expect(codec({ serverNoContextTakeover: true }, false).compressNow(json)).toBeNull();
    const c = codec({ serverNoContextTakeover: true });
    const out = c.compressNow(json)!;
    expect(out.length).toBeLessThan(json.length / 3);
    // The tail is stripped, as compress() does (RFC 7692 §7.2.1).
    expect(out.subarray(out.length - 4).equals(TAIL)).toBe(false);
    expectBytes(zlib.inflateRawSync(Buffer.concat([out, TAIL]), { finishFlush: zlib.constants.Z_SYNC_FLUSH }), json);
    expect(c.compressNow(Buffer.alloc(64 * 1024, 0x61))).not.toBeNull();
    expect(c.compressNow(Buffer.alloc(64 * 1024 + 1, 0x61))).toBeNull();
  });

  test('compressNow gives what compress() gives without context takeover', async () => {
    const c = codec({ serverNoContextTakeover: true });
    const first = await compress(c, json);
    expectBytes(c.compressNow(json)!, first);
    expectBytes(await compress(c, json), first);
  });

  test('inflateNow: only when the peer has no context takeover; pieces are joined and the tail restored', () => {
    const compressed = zlib.deflateRawSync(json, { finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4);
    expect(codec({ clientNoContextTakeover: false }).inflateNow([compressed], 1e9)).toBeNull();
    const c = codec({ clientNoContextTakeover: true });
    const cut = Math.floor(compressed.length / 3);
    expectBytes(c.inflateNow([compressed.subarray(0, cut), compressed.subarray(cut)], 1e9)!, json);
    // RFC 7692 §7.2.3.1's example.
    expect(c.inflateNow([hexBytes('f2 48 cd c9 c9 07 00')], 1e9)!.toString()).toBe('Hello');
    expect(c.inflateNow([], 1e9)!.length).toBe(0);
  });

  test('inflateNow: past maxSize is a 1009; past 256 KiB of output under a larger limit it leaves the message to decompress()', async () => {
    const c = codec({ clientNoContextTakeover: true });
    const bomb = zlib.deflateRawSync(Buffer.alloc(1024 * 1024), { finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4);
    expect(bomb.length).toBeLessThan(2048);
    expect(() => c.inflateNow([bomb], 1000)).toThrow(WebSocketError);
    try {
      c.inflateNow([bomb], 256 * 1024);
      throw new Error('no error');
    } catch (error) {
      expect(error).toMatchObject({ closeCode: 1009 });
    }
    expect(c.inflateNow([bomb], 2 * 1024 * 1024)).toBeNull();
    expect((await decompress(c, [bomb], 2 * 1024 * 1024)).length).toBe(1024 * 1024);
  });

  test('inflateNow: more than 64 KiB of compressed input is left to decompress(); bad data throws zlib\'s error', () => {
    const c = codec({ clientNoContextTakeover: true });
    const random = crypto.randomBytes(70 * 1024);
    const compressed = zlib.deflateRawSync(random, { finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4);
    expect(c.inflateNow([compressed], 1e9)).toBeNull();
    expect(() => c.inflateNow([Buffer.from([0xff, 0xff, 0xff])], 1e9)).toThrow();
  });
});
