import { decodeUtf8, isValidUtf8, knownUtf8Bytes, utf8Bytes, Utf8StreamValidator } from '../../../lib/codec/utf8';
import { byteCuts, fromHex, prng } from '../../helpers/codec-fixtures';

const fatal = new TextDecoder('utf-8', { fatal: true });
/**
 * Reference validity: the WHATWG decoder in fatal mode. It decodes a copy: on some Node releases
 * (18.14 among them; nodejs/node#48995) the fatal decoder misjudges a view into Buffer's shared
 * pool, such as a small Buffer.from(array), and accepts invalid bytes.
 */
function referenceValid(data: Uint8Array): boolean {
  try {
    fatal.decode(new Uint8Array(data));
    return true;
  } catch {
    return false;
  }
}

/** Whether some continuation of `prefix` is valid UTF-8 (at most 3 more bytes can be owed). */
const CANDIDATES = [0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf];
const viableCache = new Map<string, boolean>();
function viablePrefix(prefix: Uint8Array): boolean {
  const id = Buffer.from(prefix).toString('hex');
  let known = viableCache.get(id);
  if (known === undefined) {
    known = completable(prefix);
    viableCache.set(id, known);
  }
  return known;
}
function completable(prefix: Uint8Array): boolean {
  if (referenceValid(prefix)) return true;
  let tails: number[][] = [[]];
  for (let k = 1; k <= 3; k++) {
    tails = tails.flatMap((t) => CANDIDATES.map((c) => [...t, c]));
    for (const tail of tails) {
      if (referenceValid(Buffer.concat([prefix, Buffer.from(tail)]))) return true;
    }
  }
  return false;
}

/** Pushes `data` cut at `cuts`; returns the index of the chunk that failed, or -1, and the final state. */
function stream(data: Buffer, cuts: readonly number[]): { failedChunk: number; complete: boolean } {
  const v = new Utf8StreamValidator();
  let start = 0;
  const ends = [...cuts, data.length];
  for (let i = 0; i < ends.length; i++) {
    const end = ends[i]!;
    if (!v.push(data, start, end)) return { failedChunk: i, complete: v.isComplete };
    start = end;
  }
  return { failedChunk: -1, complete: v.isComplete };
}

const VALID_TEXTS = [
  '',
  'Hello',
  'κόσμε',
  'Hello-µ@ßöäüàá-UTF-8!!',
  '€ 𝄞 😀 中文 日本語 한국어',
  '\u0080\u07ff\u0800\uffff\u{10000}\u{10ffff}',
  '\ud7ff\ue000\ufffd',
  'x'.repeat(40) + '😀'.repeat(20) + 'é'.repeat(20),
];

const INVALID: [string, string][] = [
  ['overlong NUL c0 80', 'c0 80'],
  ['overlong c1 bf', 'c1 bf'],
  ['overlong 3-byte e0 80 80', 'e0 80 80'],
  ['overlong 3-byte e0 9f bf', 'e0 9f bf'],
  ['overlong 4-byte f0 80 80 80', 'f0 80 80 80'],
  ['overlong 4-byte f0 8f bf bf', 'f0 8f bf bf'],
  ['surrogate ed a0 80 (U+D800)', 'ed a0 80'],
  ['surrogate ed bf bf (U+DFFF)', 'ed bf bf'],
  ['surrogate pair ed a0 80 ed b0 80', 'ed a0 80 ed b0 80'],
  ['above U+10FFFF f4 90 80 80', 'f4 90 80 80'],
  ['lead byte f5', 'f5 80 80 80'],
  ['lead byte ff', 'ff'],
  ['lead byte fe', 'fe'],
  ['lone continuation 80', '80'],
  ['lone continuation bf after ASCII', '41 bf'],
  ['2-byte lead followed by ASCII', 'c3 41'],
  ['3-byte lead cut by ASCII', 'e2 82 41'],
  ['4-byte lead cut by a new lead', 'f0 9f 98 f0 9f 98 80'],
  ['valid text then garbage', 'ce ba e1 bd b9 cf 83 ce bc ce b5 ed a0 80 65 64 69 74 65 64'],
];

const TRUNCATED: [string, string][] = [
  ['2-byte lead at end', '41 ce'],
  ['3-byte lead + 1 at end', 'e2 82'],
  ['4-byte lead + 2 at end', 'f0 9f 98'],
  ['4-byte lead alone', 'f4'],
];

describe('isValidUtf8', () => {
  test.each(VALID_TEXTS.map((t) => [t]))('valid: %j', (text) => {
    expect(isValidUtf8(Buffer.from(text, 'utf8'))).toBe(true);
  });

  test.each(INVALID)('invalid: %s', (_name, bytes) => {
    expect(isValidUtf8(fromHex(bytes))).toBe(false);
  });

  test.each(TRUNCATED)('invalid (truncated): %s', (_name, bytes) => {
    expect(isValidUtf8(fromHex(bytes))).toBe(false);
  });

  test('empty input and views at odd offsets', () => {
    expect(isValidUtf8(Buffer.alloc(0))).toBe(true);
    expect(isValidUtf8(new Uint8Array(0))).toBe(true);
    const both = Buffer.concat([Buffer.from('ab€'), fromHex('ff'), Buffer.from('€')]);
    expect(isValidUtf8(both.subarray(1, 5))).toBe(true);
    expect(isValidUtf8(both.subarray(1, 6))).toBe(false);
    expect(isValidUtf8(both.subarray(6))).toBe(true);
  });

  test('agrees with the WHATWG decoder on random byte soup', () => {
    const rand = prng(8);
    const alphabet = [0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0, 0xe1, 0xed, 0xef, 0xf0, 0xf1, 0xf4, 0xf5, 0xff];
    const mismatches: string[] = [];
    for (let i = 0; i < 3000; i++) {
      const bytes = Buffer.from(Array.from({ length: Math.floor(rand() * 10) }, () => alphabet[Math.floor(rand() * alphabet.length)]!));
      if (isValidUtf8(bytes) !== referenceValid(bytes)) mismatches.push(bytes.toString('hex'));
    }
    expect(mismatches).toEqual([]);
  });
});

describe('Utf8StreamValidator', () => {
  test.each(VALID_TEXTS.map((t) => [t]))('valid text split at every offset (and byte by byte) passes: %j', (text) => {
    const data = Buffer.from(text, 'utf8');
    for (let cut = 0; cut <= data.length; cut++) {
      expect(stream(data, [cut])).toEqual({ failedChunk: -1, complete: true });
    }
    expect(stream(data, byteCuts(data.length))).toEqual({ failedChunk: -1, complete: true });
  });

  test('valid text split at every pair of offsets passes', () => {
    const data = Buffer.from('a€𝄞é😀', 'utf8');
    for (let a = 0; a <= data.length; a++) {
      for (let b = a; b <= data.length; b++) expect(stream(data, [a, b]).failedChunk).toBe(-1);
    }
  });

  test.each(INVALID)('invalid: %s fails whole, split anywhere, and byte by byte', (_name, bytes) => {
    const data = fromHex(bytes);
    expect(stream(data, []).failedChunk).toBe(0);
    for (let cut = 0; cut <= data.length; cut++) expect(stream(data, [cut]).failedChunk).not.toBe(-1);
    expect(stream(data, byteCuts(data.length)).failedChunk).not.toBe(-1);
  });

  test.each(TRUNCATED)('truncated at the end: %s is accepted so far but not complete', (_name, bytes) => {
    const data = fromHex(bytes);
    for (let cut = 0; cut <= data.length; cut++) expect(stream(data, [cut])).toEqual({ failedChunk: -1, complete: false });
  });

  test('fails fast: κόσμε + f4 is fine, the chunk with 90 fails (not a later one)', () => {
    const v = new Utf8StreamValidator();
    expect(v.push(fromHex('ce ba e1 bd b9 cf 83 ce bc ce b5 f4'))).toBe(true);
    expect(v.isComplete).toBe(false);
    expect(v.push(fromHex('90'))).toBe(false);
  });

  test('fails fast inside one chunk whose tail is impossible: ... f4 90', () => {
    const v = new Utf8StreamValidator();
    expect(v.push(fromHex('ce ba e1 bd b9 cf 83 ce bc ce b5 f4 90'))).toBe(false);
  });

  test.each([
    ['e0 80', 'overlong 3-byte start'],
    ['ed a0', 'surrogate start'],
    ['f0 80', 'overlong 4-byte start'],
    ['f4 90', 'above U+10FFFF start'],
    ['c0', 'overlong 2-byte lead'],
    ['c1', 'overlong 2-byte lead'],
    ['f5', 'impossible lead'],
  ])('an impossible incomplete tail %s (%s) fails on its own chunk', (bytes) => {
    for (const prefix of ['', '41 42 43', 'ce ba']) {
      const v = new Utf8StreamValidator();
      if (prefix !== '') expect(v.push(fromHex(prefix))).toBe(true);
      expect(v.push(fromHex(bytes))).toBe(false);
    }
    const v = new Utf8StreamValidator();
    expect(v.push(Buffer.concat([Buffer.from('x'.repeat(50)), fromHex(bytes)]))).toBe(false);
  });

  test('push(data, start, end) only looks at the range', () => {
    const data = Buffer.concat([fromHex('ff'), Buffer.from('ok€'), fromHex('ff')]);
    const v = new Utf8StreamValidator();
    expect(v.push(data, 1, data.length - 1)).toBe(true);
    expect(v.isComplete).toBe(true);
    const w = new Utf8StreamValidator();
    expect(w.push(data, 1, 5)).toBe(true); // 'ok' + the first two bytes of '€'
    expect(w.isComplete).toBe(false);
    expect(w.push(data, 5, 6)).toBe(true);
    expect(w.isComplete).toBe(true);
  });

  test('reset() forgets a half-finished character', () => {
    const v = new Utf8StreamValidator();
    expect(v.push(fromHex('e2 82'))).toBe(true);
    expect(v.isComplete).toBe(false);
    v.reset();
    expect(v.isComplete).toBe(true);
    expect(v.push(fromHex('41'))).toBe(true);
    // Without reset the continuation byte would have been owed; after it, a lone one is invalid.
    const w = new Utf8StreamValidator();
    w.push(fromHex('e2'));
    w.reset();
    expect(w.push(fromHex('82 ac'))).toBe(false);
  });

  test('empty pushes change nothing', () => {
    const v = new Utf8StreamValidator();
    expect(v.push(Buffer.alloc(0))).toBe(true);
    expect(v.push(fromHex('f0'))).toBe(true);
    expect(v.push(Buffer.alloc(0))).toBe(true);
    expect(v.push(fromHex('9f 98 80'))).toBe(true);
    expect(v.isComplete).toBe(true);
  });

  test('random byte soup in random chunks: fails exactly on the chunk where the prefix stops being completable', () => {
    const rand = prng(99);
    const alphabet = [0x41, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0, 0xe1, 0xed, 0xef, 0xf0, 0xf1, 0xf4, 0xf5];
    const mismatches: string[] = [];
    for (let i = 0; i < 300; i++) {
      const bytes = Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 10) }, () => alphabet[Math.floor(rand() * alphabet.length)]!));
      const cuts: number[] = [];
      for (let at = 0; ; ) {
        at += 1 + Math.floor(rand() * 4);
        if (at >= bytes.length) break;
        cuts.push(at);
      }
      // Expected: the chunk containing the first byte after which no completion is valid.
      let firstBad = -1;
      for (let n = 1; n <= bytes.length; n++) {
        if (!viablePrefix(bytes.subarray(0, n))) {
          firstBad = n - 1;
          break;
        }
      }
      const expectedChunk = firstBad === -1 ? -1 : cuts.filter((c) => c <= firstBad).length;
      const got = stream(bytes, cuts);
      const completeOk = got.failedChunk !== -1 || got.complete === referenceValid(bytes);
      if (got.failedChunk !== expectedChunk || !completeOk) {
        mismatches.push(`${bytes.toString('hex')} cut at ${cuts.join(',')}: failed chunk ${got.failedChunk}, expected ${expectedChunk}`);
      }
    }
    expect(mismatches).toEqual([]);
  });
});

describe('decodeUtf8: the same string as toString("utf8"), whichever way it decodes', () => {
  /** A deterministic generator (LCG), so a failure can be reproduced. */
  function* codePoints(seed: number): Generator<number> {
    let x = seed;
    for (;;) {
      x = (x * 1103515245 + 12345) >>> 0;
      const pick = x % 6;
      const r = (x >>> 8) % 0x10000;
      if (pick === 0) yield r % 0x80;
      else if (pick === 1) yield 0x80 + (r % 0x780);
      else if (pick === 2) yield 0x800 + (r % 0xd000); // up to U+D7FF
      else if (pick === 3) yield 0xe000 + (r % 0x2000); // U+E000..U+FFFF, noncharacters included
      else yield 0x10000 + ((x >>> 4) % 0x100000); // up to U+10FFFF
    }
  }
  function text(seed: number, length: number): string {
    const out: number[] = [];
    const points = codePoints(seed);
    while (out.length < length) out.push(points.next().value as number);
    return String.fromCodePoint(...out);
  }

  test.each([0, 1, 100, 1000, 1023, 2047, 2048, 2049, 5000, 70000])('random text of %i code points', (length) => {
    for (const seed of [1, 2, 3]) {
      const bytes = Buffer.from(text(seed * 7919 + length, length));
      expect(decodeUtf8(bytes) === bytes.toString('utf8')).toBe(true);
    }
  });

  test.each([
    ['a leading BOM', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('é'.repeat(3000))])],
    ['NULs among accents', Buffer.from('\u0000é\u0000'.repeat(1500))],
    ['the edges of every plane', Buffer.from('\u{7f}\u{80}\u{7ff}\u{800}\u{d7ff}\u{e000}\u{fffd}\u{fffe}\u{ffff}\u{10000}\u{10ffff}'.repeat(300))],
    ['long ASCII', Buffer.from('plain ascii '.repeat(1000))],
    ['ASCII with one accent at the end', Buffer.from('plain ascii '.repeat(1000) + 'ü')],
    ['a view into a larger buffer', Buffer.from('xx' + '漢字'.repeat(2000) + 'yy').subarray(2, 2 + 12000)],
  ])('%s', (_name, bytes) => {
    expect(decodeUtf8(bytes) === bytes.toString('utf8')).toBe(true);
  });
});

describe('knownUtf8Bytes: the bytes of the last long text decoded', () => {
  test('the same text gives its bytes back; another text, a short one or a very long one gives null', () => {
    const bytes = Buffer.from('é'.repeat(2000));
    const text = decodeUtf8(bytes);
    expect(knownUtf8Bytes(text)).toBe(bytes);
    // Equal content, another string object: still the same bytes.
    expect(knownUtf8Bytes('é'.repeat(2000))).toBe(bytes);
    expect(knownUtf8Bytes('è' + 'é'.repeat(1999))).toBeNull();
    const ascii = Buffer.from('a'.repeat(3000));
    expect(knownUtf8Bytes(decodeUtf8(ascii))).toBe(ascii);
    // Short texts are not remembered (and do not replace the last long one).
    decodeUtf8(Buffer.from('short é'));
    expect(knownUtf8Bytes('short é')).toBeNull();
    expect(knownUtf8Bytes('a'.repeat(3000))).toBe(ascii);
    // Past 64 KiB nothing is kept alive.
    const huge = Buffer.from('ü'.repeat(40000));
    expect(knownUtf8Bytes(decodeUtf8(huge))).toBeNull();
  });
});

test('utf8Bytes: the known bytes of a text just received, else a fresh encoding', () => {
  const bytes = Buffer.from('ñ'.repeat(1500));
  const text = decodeUtf8(bytes);
  expect(utf8Bytes(text)).toBe(bytes);
  const other = utf8Bytes('ñ'.repeat(1499) + 'n');
  expect(other).not.toBe(bytes);
  expect(other.equals(Buffer.from('ñ'.repeat(1499) + 'n'))).toBe(true);
});
