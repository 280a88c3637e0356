;; The exact tier's scan: the dot product of one query with each of `count` rows, with 128-bit
;; SIMD. Rows and query are float32, `stride` floats apart (a multiple of 4, zero-padded), so
;; each step multiplies four lanes at once. Compiled by `npm run generate:wasm` into
;; dot-products-wasm.ts; the service never needs a WebAssembly toolchain at run time.
(module
  (import "env" "memory" (memory 1))
  ;; scores[r] = sum over i of query[i] * rows[r * stride + i], for r in [0, count)
  (func (export "scores") (param $query i32) (param $rows i32) (param $count i32) (param $stride i32) (param $scores i32)
    (local $rowBytes i32) (local $row i32) (local $end i32) (local $offset i32) (local $sum v128)
    (local.set $rowBytes (i32.shl (local.get $stride) (i32.const 2)))
    (local.set $row (local.get $rows))
    (local.set $end (i32.add (local.get $scores) (i32.shl (local.get $count) (i32.const 2))))
    (block $done
      (loop $eachRow
        (br_if $done (i32.ge_u (local.get $scores) (local.get $end)))
        (local.set $sum (v128.const f32x4 0 0 0 0))
        (local.set $offset (i32.const 0))
        (block $rowDone
          (loop $eachLane
            (br_if $rowDone (i32.ge_u (local.get $offset) (local.get $rowBytes)))
            (local.set $sum
              (f32x4.add (local.get $sum)
                (f32x4.mul
                  (v128.load (i32.add (local.get $query) (local.get $offset)))
                  (v128.load (i32.add (local.get $row) (local.get $offset))))))
            (local.set $offset (i32.add (local.get $offset) (i32.const 16)))
            (br $eachLane)))
        (f32.store (local.get $scores)
          (f32.add
            (f32.add (f32x4.extract_lane 0 (local.get $sum)) (f32x4.extract_lane 1 (local.get $sum)))
            (f32.add (f32x4.extract_lane 2 (local.get $sum)) (f32x4.extract_lane 3 (local.get $sum)))))
        (local.set $row (i32.add (local.get $row) (local.get $rowBytes)))
        (local.set $scores (i32.add (local.get $scores) (i32.const 4)))
        (br $eachRow)))))
