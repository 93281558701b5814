/**
 * RFC 6455 §5.3 masking with WebAssembly SIMD: XORs 16 bytes per instruction, about five times the
 * speed of the best JavaScript word loop on large payloads, without a native add-on. WebAssembly
 * cannot address a Node Buffer, so the bytes pass through the module's own memory in windows; two
 * memory copies still cost far less than the XOR they replace. Where WebAssembly or its SIMD
 * proposal is unavailable (`--jitless`, old engines), `simdMasker()` returns null and callers keep
 * the JavaScript loop.
 *
 * The module, in WebAssembly text format (assembled with wabt's wat2wasm, `--enable-simd`):
 *
 *   (module
 *     (memory (export "memory") 2)
 *     ;; XOR bytes [p, p+n) with the 4-byte key k (little-endian: lowest byte first).
 *     (func (export "mask") (param $p i32) (param $n i32) (param $k i32)
 *       (local $end i32) (local $end64 i32) (local $kv v128)
 *       (local.set $end (i32.add (local.get $p) (local.get $n)))
 *       (local.set $end64 (i32.add (local.get $p) (i32.and (local.get $n) (i32.const -64))))
 *       (local.set $kv (i32x4.splat (local.get $k)))
 *       (block $done64 (loop $l64       ;; 64 bytes per turn, four 16-byte lanes
 *         (br_if $done64 (i32.ge_u (local.get $p) (local.get $end64)))
 *         (v128.store offset=0 (local.get $p) (v128.xor (v128.load offset=0 (local.get $p)) (local.get $kv)))
 *         (v128.store offset=16 (local.get $p) (v128.xor (v128.load offset=16 (local.get $p)) (local.get $kv)))
 *         (v128.store offset=32 (local.get $p) (v128.xor (v128.load offset=32 (local.get $p)) (local.get $kv)))
 *         (v128.store offset=48 (local.get $p) (v128.xor (v128.load offset=48 (local.get $p)) (local.get $kv)))
 *         (local.set $p (i32.add (local.get $p) (i32.const 64)))
 *         (br $l64)))
 *       (block $done16 (loop $l16       ;; then 16 bytes per turn
 *         (br_if $done16 (i32.gt_u (i32.add (local.get $p) (i32.const 16)) (local.get $end)))
 *         (v128.store (local.get $p) (v128.xor (v128.load (local.get $p)) (local.get $kv)))
 *         (local.set $p (i32.add (local.get $p) (i32.const 16)))
 *         (br $l16)))
 *       (block $done1 (loop $l1         ;; then byte by byte, rotating the key
 *         (br_if $done1 (i32.ge_u (local.get $p) (local.get $end)))
 *         (i32.store8 (local.get $p) (i32.xor (i32.load8_u (local.get $p)) (local.get $k)))
 *         (local.set $k (i32.rotr (local.get $k) (i32.const 8)))
 *         (local.set $p (i32.add (local.get $p) (i32.const 1)))
 *         (br $l1)))))
 */

const MODULE_BASE64 =
  'AGFzbQEAAAABBwFgA39/fwADAgEABQMBAAIHEQIGbWVtb3J5AgAEbWFzawAACsoBAccBAgJ/AXsgACABaiEDIAAgAUFAcWohBCAC/REhBQJAA0AgACAETw0BIAAgAP0ABAAgBf1R/QsEACAAIAD9AAQQIAX9Uf0LBBAgACAA/QAEICAF/VH9CwQgIAAgAP0ABDAgBf1R/QsEMCAAQcAAaiEADAALCwJAA0AgAEEQaiADSw0BIAAgAP0ABAAgBf1R/QsEACAAQRBqIQAMAAsLAkADQCAAIANPDQEgACAALQAAIAJzOgAAIAJBCHghAiAAQQFqIQAMAAsLCw==';

/**
 * The part of the WebAssembly JS API used here. Node has had it since v8, but the project's `lib`
 * setting (ES2022 without the DOM) does not declare it.
 */
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
};

interface MaskModuleExports {
  memory: { buffer: ArrayBuffer };
  mask: (p: number, n: number, k: number) => void;
}

/** Bytes masked per pass through the module's memory (its two pages hold 128 KiB). */
const WINDOW = 65536;

/**
 * XORs `source[start..end)` with the key word `key` (key byte for `source[start]` lowest) into
 * `target` from `targetOffset`; the target may be the source itself, at the same offset.
 */
export type SimdMasker = (source: Uint8Array, start: number, end: number, key: number, target: Uint8Array, targetOffset: number) => void;

let masker: SimdMasker | null | undefined;

/** The WebAssembly masker, compiled on first use; null where this engine cannot run it. */
export function simdMasker(): SimdMasker | null {
  if (masker === undefined) masker = instantiate();
  return masker;
}

function instantiate(): SimdMasker | null {
  try {
    const module = new WebAssembly.Module(Buffer.from(MODULE_BASE64, 'base64'));
    const instance = new WebAssembly.Instance(module, {});
    const exports = instance.exports as MaskModuleExports;
    // The memory never grows, so this view of it stays valid.
    const memory = new Uint8Array(exports.memory.buffer);
    const mask = exports.mask;
    return (source, start, end, key, target, targetOffset) => {
      for (let i = start; i < end; i += WINDOW) {
        const n = Math.min(WINDOW, end - i);
        memory.set(source.subarray(i, i + n), 0);
        // The window is a multiple of 4 bytes, so every window starts at the same key phase.
        mask(0, n, key);
        target.set(memory.subarray(0, n), targetOffset + (i - start));
      }
    };
  } catch {
    return null;
  }
}
