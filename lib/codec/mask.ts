/** RFC 6455 §5.3 masking: XOR with a 4-byte key, done in 32-bit words where the memory allows. */
import { randomFillSync } from 'node:crypto';
import { endianness } from 'node:os';
import { simdMasker } from './mask-simd';

const LITTLE_ENDIAN = endianness() === 'LE';
/** Below this many bytes a byte loop beats making a 32-bit view. */
const WORD_THRESHOLD = 32;
/** From this many bytes the WebAssembly SIMD masker wins despite its call and copy overhead. */
export const SIMD_THRESHOLD = 512;

/**
 * XORs `data[start..end)` in place with `key`, starting at key byte `keyOffset`.
 * Returns the key offset to continue with, so a payload can be unmasked piece by piece.
 */
export function applyMask(data: Uint8Array, key: Uint8Array, start: number, end: number, keyOffset = 0): number {
  const k0 = key[0]!;
  const k1 = key[1]!;
  const k2 = key[2]!;
  const k3 = key[3]!;
  let i = start;
  let k = keyOffset & 3;
  if (end - i >= SIMD_THRESHOLD) {
    const simd = simdMasker();
    if (simd !== null) {
      simd(data, i, end, keyWord(key, k), data, i);
      return (k + end - i) & 3;
    }
  }
  if (end - i >= WORD_THRESHOLD) {
    // Bytes until the absolute address is 4-aligned, so the Uint32Array view below is legal.
    while (((data.byteOffset + i) & 3) !== 0) {
      data[i] = data[i]! ^ keyByte(k, k0, k1, k2, k3);
      k = (k + 1) & 3;
      i++;
    }
    const words = (end - i) >>> 2;
    const b0 = keyByte(k, k0, k1, k2, k3);
    const b1 = keyByte((k + 1) & 3, k0, k1, k2, k3);
    const b2 = keyByte((k + 2) & 3, k0, k1, k2, k3);
    const b3 = keyByte((k + 3) & 3, k0, k1, k2, k3);
    const word = LITTLE_ENDIAN
      ? (b0 | (b1 << 8) | (b2 << 16) | (b3 << 24)) >>> 0
      : ((b0 << 24) | (b1 << 16) | (b2 << 8) | b3) >>> 0;
    const view = new Uint32Array(data.buffer, data.byteOffset + i, words);
    for (let w = 0; w < words; w++) view[w] = view[w]! ^ word;
    i += words << 2;
  }
  for (; i < end; i++) {
    data[i] = data[i]! ^ keyByte(k, k0, k1, k2, k3);
    k = (k + 1) & 3;
  }
  return k;
}

/**
 * Writes `source` XORed with `key` (from key byte `keyOffset`) into `target` at `targetOffset`,
 * leaving `source` as it was: unmasking fused with the copy into a message buffer. Returns the key
 * offset to continue with.
 */
export function copyMasked(source: Uint8Array, target: Uint8Array, targetOffset: number, key: Uint8Array, keyOffset: number): number {
  const length = source.length;
  const simd = length >= SIMD_THRESHOLD ? simdMasker() : null;
  if (simd !== null) {
    simd(source, 0, length, keyWord(key, keyOffset & 3), target, targetOffset);
    return (keyOffset + length) & 3;
  }
  target.set(source, targetOffset);
  return applyMask(target, key, targetOffset, targetOffset + length, keyOffset);
}

/** The key as a little-endian 32-bit word starting at key byte `k` (WebAssembly memory is little-endian on every host). */
function keyWord(key: Uint8Array, k: number): number {
  return key[k]! | (key[(k + 1) & 3]! << 8) | (key[(k + 2) & 3]! << 16) | (key[(k + 3) & 3]! << 24);
}

function keyByte(k: number, k0: number, k1: number, k2: number, k3: number): number {
  return k === 0 ? k0 : k === 1 ? k1 : k === 2 ? k2 : k3;
}

/** Where masking keys come from; tests inject a fixed one for byte-exact frames. */
export interface MaskKeySource {
  /** Writes 4 fresh key bytes into `target` at `offset`. */
  fill(target: Uint8Array, offset: number): void;
}

const POOL_SIZE = 8192;
let pool = Buffer.allocUnsafe(POOL_SIZE);
let poolOffset = POOL_SIZE;

/**
 * Keys from `crypto` randomness (RFC 6455 §5.3: "MUST be derived from a strong source of entropy"),
 * drawn from a pooled buffer so each frame does not pay for a system call.
 */
export const randomMaskKeys: MaskKeySource = {
  fill(target: Uint8Array, offset: number): void {
    if (poolOffset + 4 > POOL_SIZE) {
      pool = randomFillSync(Buffer.allocUnsafe(POOL_SIZE));
      poolOffset = 0;
    }
    target[offset] = pool[poolOffset]!;
    target[offset + 1] = pool[poolOffset + 1]!;
    target[offset + 2] = pool[poolOffset + 2]!;
    target[offset + 3] = pool[poolOffset + 3]!;
    poolOffset += 4;
  },
};
