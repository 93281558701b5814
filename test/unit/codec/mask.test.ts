import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { applyMask, copyMasked, randomMaskKeys } from '../../../lib/codec/mask';
import { simdMasker } from '../../../lib/codec/mask-simd';
import { prng, randomBytesFrom, referenceMask } from '../../helpers/codec-fixtures';

const rand = prng(0x5eed);
const KEYS = [
  Buffer.from([0x37, 0xfa, 0x21, 0x3d]),
  Buffer.from([0, 0, 0, 0]),
  Buffer.from([0xff, 0xff, 0xff, 0xff]),
  Buffer.from([0x01, 0x80, 0x7f, 0xfe]),
];

/**
 * Masks `data[start..end)` of a view that sits `shift` bytes into a larger buffer, and checks the
 * range against the byte-wise reference and every other byte of the backing buffer for damage.
 */
function checkRange(length: number, shift: number, start: number, end: number, key: Buffer, keyOffset: number): void {
  const backing = randomBytesFrom(rand, shift + length + 9);
  const original = Buffer.from(backing);
  const view = new Uint8Array(backing.buffer, backing.byteOffset + shift, length);
  const next = applyMask(view, key, start, end, keyOffset);
  expect(next).toBe((keyOffset + (end - start)) & 3);
  const expected = Buffer.from(original);
  referenceMask(original.subarray(shift + start, shift + end), key, keyOffset).copy(expected, shift + start);
  if (!backing.equals(expected)) {
    throw new Error(`mismatch: length ${length} shift ${shift} range ${start}..${end} keyOffset ${keyOffset}`);
  }
}

describe('applyMask against a byte-by-byte reference', () => {
  test('every length 0..300, every key offset, unaligned views', () => {
    for (let length = 0; length <= 300; length++) {
      for (let keyOffset = 0; keyOffset < 4; keyOffset++) {
        const shift = (length * 7 + keyOffset) % 8;
        checkRange(length, shift, 0, length, KEYS[(length + keyOffset) % KEYS.length]!, keyOffset);
      }
    }
  });

  test('every byteOffset alignment 0..7 for word-sized lengths', () => {
    for (const length of [31, 32, 33, 35, 36, 64, 100, 257]) {
      for (let shift = 0; shift < 8; shift++) {
        for (let keyOffset = 0; keyOffset < 4; keyOffset++) checkRange(length, shift, 0, length, KEYS[0]!, keyOffset);
      }
    }
  });

  test('sub-ranges [start, end) of a view leave the bytes around them alone', () => {
    for (let i = 0; i < 400; i++) {
      const length = Math.floor(rand() * 200);
      const start = Math.floor(rand() * (length + 1));
      const end = start + Math.floor(rand() * (length - start + 1));
      checkRange(length, Math.floor(rand() * 8), start, end, randomBytesFrom(rand, 4), Math.floor(rand() * 4));
    }
  });

  test('large payloads', () => {
    for (const length of [4096, 4097, 65535, 65536, 65539, 1 << 20]) {
      checkRange(length, length % 5, 0, length, KEYS[0]!, length % 4);
    }
  });

  test('plain Uint8Array and pooled small Buffers (odd byteOffset) work too', () => {
    const plain = new Uint8Array(100).map((_, i) => i);
    const ref = referenceMask(plain, KEYS[3]!);
    applyMask(plain, KEYS[3]!, 0, plain.length);
    expect(Buffer.from(plain).equals(ref)).toBe(true);
    const pooled = Buffer.from('x'.repeat(77));
    const pooledRef = referenceMask(pooled, KEYS[0]!, 2);
    applyMask(pooled, KEYS[0]!, 0, pooled.length, 2);
    expect(pooled.equals(pooledRef)).toBe(true);
  });

  test('masking twice restores the data', () => {
    const data = randomBytesFrom(rand, 1000);
    const copy = Buffer.from(data);
    applyMask(data, KEYS[0]!, 0, data.length);
    expect(data.equals(copy)).toBe(false);
    applyMask(data, KEYS[0]!, 0, data.length);
    expect(data.equals(copy)).toBe(true);
  });

  test('the key may be a view into a larger buffer (as in a frame header)', () => {
    const frame = Buffer.concat([Buffer.from([0x82, 0x88]), KEYS[0]!, Buffer.from('abcdefgh')]);
    applyMask(frame, frame.subarray(2, 6), 6, frame.length);
    expect(frame.subarray(6).equals(referenceMask(Buffer.from('abcdefgh'), KEYS[0]!))).toBe(true);
    expect(frame.subarray(2, 6).equals(KEYS[0]!)).toBe(true);
  });
});

describe('applyMask piece by piece', () => {
  function wholeVersusPieces(payload: Buffer, key: Buffer, cuts: number[]): boolean {
    const whole = Buffer.from(payload);
    applyMask(whole, key, 0, whole.length);
    const pieces = Buffer.from(payload);
    let keyOffset = 0;
    let start = 0;
    for (const cut of [...cuts, pieces.length]) {
      // Each piece as its own view, like the chunks the parser hands out.
      keyOffset = applyMask(pieces.subarray(start, cut), key, 0, cut - start, keyOffset);
      start = cut;
    }
    return whole.equals(pieces);
  }

  test('split at every offset into two pieces equals whole application', () => {
    for (const length of [0, 1, 3, 4, 5, 31, 32, 33, 63, 64, 65, 130, 300]) {
      const payload = randomBytesFrom(rand, length);
      for (let cut = 0; cut <= length; cut++) {
        if (!wholeVersusPieces(payload, KEYS[0]!, [cut])) throw new Error(`length ${length} cut ${cut}`);
      }
    }
  });

  test('split at every offset of a 4 KiB payload', () => {
    const payload = randomBytesFrom(rand, 4099);
    for (let cut = 0; cut <= payload.length; cut++) {
      if (!wholeVersusPieces(payload, KEYS[3]!, [cut])) throw new Error(`cut ${cut}`);
    }
  });

  test('many random pieces, and byte by byte', () => {
    for (let i = 0; i < 100; i++) {
      const payload = randomBytesFrom(rand, Math.floor(rand() * 2000));
      const cuts: number[] = [];
      for (let at = 0; ; ) {
        at += Math.floor(rand() * 90);
        if (at >= payload.length) break;
        cuts.push(at);
      }
      expect(wholeVersusPieces(payload, randomBytesFrom(rand, 4), cuts)).toBe(true);
    }
    const payload = randomBytesFrom(rand, 200);
    expect(wholeVersusPieces(payload, KEYS[3]!, Array.from({ length: 199 }, (_, i) => i + 1))).toBe(true);
  });
});

describe('the WebAssembly SIMD masker', () => {
  test('is available on this Node, so the large-payload tests above exercise it', () => {
    expect(simdMasker()).not.toBeNull();
  });

  test('lengths around the switch from the word loop (480..600), every shift and key offset', () => {
    for (let length = 480; length <= 600; length++) {
      for (let keyOffset = 0; keyOffset < 4; keyOffset++) {
        checkRange(length, (length + keyOffset) % 8, 0, length, KEYS[(length + keyOffset) % KEYS.length]!, keyOffset);
      }
    }
  });

  test('tails of 0..63 bytes after the 64-byte and 16-byte lanes', () => {
    for (let length = 1024; length < 1024 + 64; length++) checkRange(length, length % 3, 0, length, KEYS[3]!, length % 4);
  });

  test('payloads crossing its 64 KiB memory window, as sub-ranges of unaligned views', () => {
    for (const length of [65535, 65536, 65537, 131071, 131072, 131075, 200003]) {
      for (const keyOffset of [0, 1, 3]) {
        checkRange(length + 40, (length + keyOffset) % 8, 17, 17 + length, randomBytesFrom(rand, 4), keyOffset);
      }
    }
  });

  test('called directly with a key word: lowest byte applies to the first byte', () => {
    const masker = simdMasker()!;
    const data = Buffer.alloc(1000);
    masker(data, 3, 999, 0x04030201, data, 3);
    expect(data.subarray(0, 3).equals(Buffer.alloc(3))).toBe(true);
    expect([...data.subarray(3, 11)]).toEqual([1, 2, 3, 4, 1, 2, 3, 4]);
    expect([...data.subarray(995)]).toEqual([1, 2, 3, 4, 0]);
    // Into another buffer: the source stays as it was.
    const target = Buffer.alloc(200_000, 0xee);
    const source = Buffer.alloc(150_000);
    masker(source, 10, 140_010, 0x04030201, target, 7);
    expect(source.equals(Buffer.alloc(150_000))).toBe(true);
    expect(target.subarray(0, 7).equals(Buffer.alloc(7, 0xee))).toBe(true);
    expect([...target.subarray(7, 12)]).toEqual([1, 2, 3, 4, 1]);
    expect(target.subarray(140_007).equals(Buffer.alloc(200_000 - 140_007, 0xee))).toBe(true);
    expect(target.subarray(7, 140_007).equals(referenceMask(Buffer.alloc(140_000), Buffer.from([1, 2, 3, 4])))).toBe(true);
  });

  test('without WebAssembly (node --jitless) applyMask falls back to the JavaScript loop', () => {
    const script = `
      const { applyMask } = require(${JSON.stringify(path.resolve(__dirname, '../../../lib/codec/mask.js'))});
      const { simdMasker } = require(${JSON.stringify(path.resolve(__dirname, '../../../lib/codec/mask-simd.js'))});
      const data = Buffer.alloc(70000, 0x5a);
      const next = applyMask(data, Buffer.from([1, 2, 3, 4]), 1, 70000, 2);
      process.stdout.write(JSON.stringify({ simd: simdMasker() !== null, next, head: [...data.subarray(0, 6)], last: data[69999] }));
    `;
    const out = JSON.parse(execFileSync(process.execPath, ['--jitless', '-e', script], { encoding: 'utf8' })) as unknown;
    // Byte 1 gets key byte 3 (offset 2), then 4, 1, 2...; byte 69999 is 69998 bytes on, offset 0
    // (key byte 1), and the next offset is 1.
    expect(out).toEqual({ simd: false, next: 1, head: [0x5a, 0x5a ^ 3, 0x5a ^ 4, 0x5a ^ 1, 0x5a ^ 2, 0x5a ^ 3], last: 0x5a ^ 1 });
  });
});

describe('copyMasked (unmasking fused with a copy)', () => {
  test('equals copy-then-applyMask for lengths around the SIMD switch and across windows, every key offset; source untouched', () => {
    for (const length of [0, 1, 3, 31, 100, 511, 512, 513, 1000, 4099, 65535, 65536, 65537, 131075]) {
      for (let keyOffset = 0; keyOffset < 4; keyOffset++) {
        const backing = randomBytesFrom(rand, length + 11);
        const source = backing.subarray(length % 5, (length % 5) + length);
        const original = Buffer.from(source);
        const target = Buffer.alloc(length + 20, 0xee);
        const next = copyMasked(source, target, 9, KEYS[keyOffset]!, keyOffset);
        expect(next).toBe((keyOffset + length) & 3);
        expect(source.equals(original)).toBe(true);
        const expected = Buffer.alloc(length + 20, 0xee);
        referenceMask(original, KEYS[keyOffset]!, keyOffset).copy(expected, 9);
        if (!target.equals(expected)) throw new Error(`mismatch: length ${length} keyOffset ${keyOffset}`);
      }
    }
  });

  test('piece by piece into one buffer equals whole application', () => {
    const payload = randomBytesFrom(rand, 70_001);
    const whole = Buffer.from(payload);
    applyMask(whole, KEYS[0]!, 0, whole.length);
    const target = Buffer.alloc(payload.length);
    let keyOffset = 0;
    for (const [start, end] of [[0, 3], [3, 600], [600, 601], [601, 66_000], [66_000, 70_001]] as const) {
      keyOffset = copyMasked(payload.subarray(start, end), target, start, KEYS[0]!, keyOffset);
    }
    expect(target.equals(whole)).toBe(true);
  });
});

describe('randomMaskKeys', () => {
  test('writes exactly 4 bytes at the offset', () => {
    const target = Buffer.alloc(12, 0xee);
    randomMaskKeys.fill(target, 5);
    expect(target.subarray(0, 5).equals(Buffer.alloc(5, 0xee))).toBe(true);
    expect(target.subarray(9).equals(Buffer.alloc(3, 0xee))).toBe(true);
  });

  test('keys vary, also across refills of the internal pool', () => {
    const seen = new Set<string>();
    const target = Buffer.alloc(4);
    const byteCounts = new Array<number>(256).fill(0);
    const total = 6000;
    for (let i = 0; i < total; i++) {
      randomMaskKeys.fill(target, 0);
      seen.add(target.toString('hex'));
      for (const b of target) byteCounts[b]!++;
    }
    // 6000 draws from 2^32 keys: a handful of collisions at most.
    expect(seen.size).toBeGreaterThan(total - 5);
    // Every byte value shows up: the bytes are not stuck or restricted.
    expect(byteCounts.filter((c) => c === 0).length).toBeLessThan(3);
  });

  test('consecutive keys differ', () => {
    const a = Buffer.alloc(4);
    const b = Buffer.alloc(4);
    let equalPairs = 0;
    for (let i = 0; i < 1000; i++) {
      randomMaskKeys.fill(a, 0);
      randomMaskKeys.fill(b, 0);
      if (a.equals(b)) equalPairs++;
    }
    expect(equalPairs).toBe(0);
  });
});
