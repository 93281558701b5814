;; RFC 6455 §5.3 masking with WebAssembly SIMD. The source of the module that mask-simd.ts embeds
;; (base64 in MODULE_BASE64); test/unit/codec/mask-simd-wat.test.ts checks that the embedded bytes are
;; exactly what this file assembles to. To rebuild after a change (wabt's wat2wasm enables SIMD by
;; default; no --debug-names, so no name section):
;;   npx wat2wasm lib/codec/mask-simd.wat -o /tmp/mask-simd.wasm && base64 -w0 /tmp/mask-simd.wasm
(module
  (memory (export "memory") 2)
  ;; XOR bytes [p, p+n) with the 4-byte key k (little-endian: lowest byte first).
  (func (export "mask") (param $p i32) (param $n i32) (param $k i32)
    (local $end i32) (local $end64 i32) (local $kv v128)
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (local.set $end64 (i32.add (local.get $p) (i32.and (local.get $n) (i32.const -64))))
    (local.set $kv (i32x4.splat (local.get $k)))
    (block $done64 (loop $l64       ;; 64 bytes per turn, four 16-byte lanes
      (br_if $done64 (i32.ge_u (local.get $p) (local.get $end64)))
      (v128.store offset=0 (local.get $p) (v128.xor (v128.load offset=0 (local.get $p)) (local.get $kv)))
      (v128.store offset=16 (local.get $p) (v128.xor (v128.load offset=16 (local.get $p)) (local.get $kv)))
      (v128.store offset=32 (local.get $p) (v128.xor (v128.load offset=32 (local.get $p)) (local.get $kv)))
      (v128.store offset=48 (local.get $p) (v128.xor (v128.load offset=48 (local.get $p)) (local.get $kv)))
      (local.set $p (i32.add (local.get $p) (i32.const 64)))
      (br $l64)))
    (block $done16 (loop $l16       ;; then 16 bytes per turn
      (br_if $done16 (i32.gt_u (i32.add (local.get $p) (i32.const 16)) (local.get $end)))
      (v128.store (local.get $p) (v128.xor (v128.load (local.get $p)) (local.get $kv)))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (br $l16)))
    (block $done1 (loop $l1         ;; then byte by byte, rotating the key
      (br_if $done1 (i32.ge_u (local.get $p) (local.get $end)))
      (i32.store8 (local.get $p) (i32.xor (i32.load8_u (local.get $p)) (local.get $k)))
      (local.set $k (i32.rotr (local.get $k) (i32.const 8)))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $l1)))))
