;; SIMD (f32x4) kernels for the LM head's log-softmax over the vocabulary (src/backend/lm_head.ts): row max, Σ exp(x − s)
;; and the softmax-gradient block x ← c · exp(x − l), over float32 rows in this module's own memory (where OpenBLAS
;; writes the logits block). n must be a multiple of 4; the caller does the remainder.
;; exp(v), v ≤ 0, as Cephes expf: v = max(v, −87), k = round(v·log2 e), r = v − k·C1 − k·C2 (C1 + C2 = ln 2),
;; exp(v) = 2^k · (1 + r + r²·P(r)), P of degree 5; 2^k built from its float bits ((k + 127) << 23). Rel. error ~1e-7.
(module
  (memory (export "memory") 1)

  (func $exp4 (param $v v128) (result v128)
    (local $k v128) (local $r v128) (local $p v128)
    (local.set $v (f32x4.max (local.get $v) (v128.const f32x4 -87 -87 -87 -87)))
    (local.set $k (f32x4.nearest (f32x4.mul (local.get $v)
      (v128.const f32x4 1.44269504088896341 1.44269504088896341 1.44269504088896341 1.44269504088896341))))
    (local.set $r (f32x4.sub
      (f32x4.sub (local.get $v) (f32x4.mul (local.get $k) (v128.const f32x4 0.693359375 0.693359375 0.693359375 0.693359375)))
      (f32x4.mul (local.get $k) (v128.const f32x4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4))))
    (local.set $p (v128.const f32x4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r))
      (v128.const f32x4 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r))
      (v128.const f32x4 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r))
      (v128.const f32x4 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r))
      (v128.const f32x4 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r))
      (v128.const f32x4 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1)))
    ;; 1 + r + r²·p
    (local.set $p (f32x4.add
      (f32x4.add (f32x4.mul (f32x4.mul (local.get $r) (local.get $r)) (local.get $p)) (local.get $r))
      (v128.const f32x4 1 1 1 1)))
    (f32x4.mul (local.get $p)
      (i32x4.shl (i32x4.add (i32x4.trunc_sat_f32x4_s (local.get $k)) (v128.const i32x4 127 127 127 127)) (i32.const 23))))

  ;; max of the n floats at byte offset p
  (func (export "rowMax") (param $p i32) (param $n i32) (result f32)
    (local $acc v128) (local $end i32) (local $m f32)
    (local.set $acc (v128.const f32x4 -inf -inf -inf -inf))
    (local.set $end (i32.add (local.get $p) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $acc (f32x4.max (local.get $acc) (v128.load align=4 (local.get $p))))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br $next)))
    (local.set $m (f32.max (f32x4.extract_lane 0 (local.get $acc)) (f32x4.extract_lane 1 (local.get $acc))))
    (local.set $m (f32.max (local.get $m) (f32x4.extract_lane 2 (local.get $acc))))
    (f32.max (local.get $m) (f32x4.extract_lane 3 (local.get $acc))))

  ;; Σ exp(x − s) over the n floats at byte offset p, accumulated in float64
  (func (export "sumExp") (param $p i32) (param $n i32) (param $s f32) (result f64)
    (local $shift v128) (local $e v128) (local $a0 v128) (local $a1 v128) (local $end i32)
    (local.set $shift (f32x4.splat (local.get $s)))
    (local.set $end (i32.add (local.get $p) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $e (call $exp4 (f32x4.sub (v128.load align=4 (local.get $p)) (local.get $shift))))
        (local.set $a0 (f64x2.add (local.get $a0) (f64x2.promote_low_f32x4 (local.get $e))))
        (local.set $a1 (f64x2.add (local.get $a1) (f64x2.promote_low_f32x4
          (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $e) (local.get $e)))))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br $next)))
    (local.set $a0 (f64x2.add (local.get $a0) (local.get $a1)))
    (f64.add (f64x2.extract_lane 0 (local.get $a0)) (f64x2.extract_lane 1 (local.get $a0))))

  ;; x ← c · exp(x − l) in place over the n floats at byte offset p
  (func (export "scaledExp") (param $p i32) (param $n i32) (param $l f32) (param $c f32)
    (local $shift v128) (local $scale v128) (local $end i32)
    (local.set $shift (f32x4.splat (local.get $l)))
    (local.set $scale (f32x4.splat (local.get $c)))
    (local.set $end (i32.add (local.get $p) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (v128.store align=4 (local.get $p) (f32x4.mul (local.get $scale)
          (call $exp4 (f32x4.sub (v128.load align=4 (local.get $p)) (local.get $shift)))))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br $next))))
)
