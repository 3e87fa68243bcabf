;; SIMD (f32x4) kernels for the LM head's log-softmax over the vocabulary (src/backend/lm_head.ts): row max, Σ exp(x − s)
;; and the softmax-gradient block x ← c · exp(x − l), over float32 rows in this module's memory (where OpenBLAS writes
;; the logits block). n must be a multiple of 4; the caller does the remainder.
;; exp(v), v ≤ 0, as Cephes expf: v = max(v, −87), k = round(v·log2 e), r = v − k·C1 − k·C2 (C1 + C2 = ln 2),
;; exp(v) = 2^k · (1 + r + r²·P(r)), P of degree 5; 2^k built from its float bits ((k + 127) << 23). Rel. error ~1e-7.
;; Speed (same results bit for bit as the straightforward form): round-to-nearest-even of t = v·log2 e is done by
;; adding M = 1.5·2^23 (the float add rounds t to an integer, and bits(t + M) − bits(M) = k), which replaces
;; f32x4.nearest and the multi-instruction i32x4.trunc_sat; the clamp and the max use pmax (one x86 maxps; it differs
;; from f32x4.max only for NaN and ±0, where the results here are the same); rowMax keeps four independent maxima; the
;; exp is written out inside each loop with its constants in locals set before the loop (V8 then keeps them in
;; registers instead of rematerialising every v128.const per vector: ~1.6× faster).
(module
  (memory (export "memory") 1)

  ;; max of the n floats at byte offset p (NaN aside, which the Σ exp that follows propagates)
  (func (export "rowMax") (param $p i32) (param $n i32) (result f32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $end i32) (local $m f32)
    (local.set $a0 (v128.const f32x4 -inf -inf -inf -inf))
    (local.set $a1 (local.get $a0))
    (local.set $a2 (local.get $a0))
    (local.set $a3 (local.get $a0))
    (local.set $end (i32.add (local.get $p) (i32.shl (local.get $n) (i32.const 2))))
    ;; 16 floats per step into four independent maxima, then 4 at a time
    (block $done16
      (loop $next16
        (br_if $done16 (i32.gt_u (i32.add (local.get $p) (i32.const 64)) (local.get $end)))
        (local.set $a0 (f32x4.pmax (local.get $a0) (v128.load align=4 (local.get $p))))
        (local.set $a1 (f32x4.pmax (local.get $a1) (v128.load offset=16 align=4 (local.get $p))))
        (local.set $a2 (f32x4.pmax (local.get $a2) (v128.load offset=32 align=4 (local.get $p))))
        (local.set $a3 (f32x4.pmax (local.get $a3) (v128.load offset=48 align=4 (local.get $p))))
        (local.set $p (i32.add (local.get $p) (i32.const 64)))
        (br $next16)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $a0 (f32x4.pmax (local.get $a0) (v128.load align=4 (local.get $p))))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br $next)))
    (local.set $a0 (f32x4.pmax (f32x4.pmax (local.get $a0) (local.get $a1)) (f32x4.pmax (local.get $a2) (local.get $a3))))
    (local.set $m (f32.max (f32x4.extract_lane 0 (local.get $a0)) (f32x4.extract_lane 1 (local.get $a0))))
    (local.set $m (f32.max (local.get $m) (f32x4.extract_lane 2 (local.get $a0))))
    (f32.max (local.get $m) (f32x4.extract_lane 3 (local.get $a0))))

  ;; Σ exp(x − s) over the n floats at byte offset p, accumulated in float64 (lanes 0, 1 in a0; 2, 3 in a1)
  (func (export "sumExp") (param $p i32) (param $n i32) (param $s f32) (result f64)
    (local $shift v128) (local $e v128) (local $a0 v128) (local $a1 v128) (local $end i32)
    (local $v v128) (local $j v128) (local $k v128) (local $r v128) (local $q v128)
    (local $cMin v128) (local $cLog2e v128) (local $cM v128) (local $cC1 v128) (local $cC2 v128) (local $cP0 v128) (local $cP1 v128)
    (local $cP2 v128) (local $cP3 v128) (local $cP4 v128) (local $cP5 v128) (local $cOne v128) (local $cBias v128)
    (local.set $cMin (v128.const f32x4 -87 -87 -87 -87))
    (local.set $cLog2e (v128.const f32x4 1.44269504088896341 1.44269504088896341 1.44269504088896341 1.44269504088896341))
    (local.set $cM (v128.const f32x4 12582912 12582912 12582912 12582912))
    (local.set $cC1 (v128.const f32x4 0.693359375 0.693359375 0.693359375 0.693359375))
    (local.set $cC2 (v128.const f32x4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4))
    (local.set $cP0 (v128.const f32x4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4))
    (local.set $cP1 (v128.const f32x4 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3))
    (local.set $cP2 (v128.const f32x4 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3))
    (local.set $cP3 (v128.const f32x4 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2))
    (local.set $cP4 (v128.const f32x4 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1))
    (local.set $cP5 (v128.const f32x4 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1))
    (local.set $cOne (v128.const f32x4 1 1 1 1))
    (local.set $cBias (v128.const i32x4 -1262485377 -1262485377 -1262485377 -1262485377))
    (local.set $shift (f32x4.splat (local.get $s)))
    (local.set $end (i32.add (local.get $p) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        ;; $e = exp(v), v = (f32x4.sub (v128.load align=4 (local.get $p)) (local.get $shift)): clamp, k = round(v·log2 e) through M, r = v − k·C1 − k·C2
        (local.set $v (f32x4.pmax (f32x4.sub (v128.load align=4 (local.get $p)) (local.get $shift)) (local.get $cMin)))
        (local.set $j (f32x4.add (f32x4.mul (local.get $v) (local.get $cLog2e)) (local.get $cM)))
        (local.set $k (f32x4.sub (local.get $j) (local.get $cM)))
        (local.set $r (f32x4.sub (f32x4.sub (local.get $v) (f32x4.mul (local.get $k) (local.get $cC1)))
          (f32x4.mul (local.get $k) (local.get $cC2))))
        ;; q = P(r) by Horner, then 1 + r + r²·q
        (local.set $q (f32x4.add (f32x4.mul (local.get $cP0) (local.get $r)) (local.get $cP1)))
        (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $r)) (local.get $cP2)))
        (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $r)) (local.get $cP3)))
        (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $r)) (local.get $cP4)))
        (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $r)) (local.get $cP5)))
        (local.set $q (f32x4.add (f32x4.add (f32x4.mul (f32x4.mul (local.get $r) (local.get $r)) (local.get $q))
          (local.get $r)) (local.get $cOne)))
        ;; · 2^k, whose bits are (bits(j) − bits(M) + 127) << 23
        (local.set $e (f32x4.mul (local.get $q)
          (i32x4.shl (i32x4.add (local.get $j) (local.get $cBias)) (i32.const 23))))
        (local.set $a0 (f64x2.add (local.get $a0) (f64x2.promote_low_f32x4 (local.get $e))))
        (local.set $a1 (f64x2.add (local.get $a1) (f64x2.promote_low_f32x4
          (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $e) (local.get $e)))))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br $next)))
    (local.set $a0 (f64x2.add (local.get $a0) (local.get $a1)))
    (f64.add (f64x2.extract_lane 0 (local.get $a0)) (f64x2.extract_lane 1 (local.get $a0))))

  ;; x ← c · exp(x − l) in place over the n floats at byte offset p
  (func (export "scaledExp") (param $p i32) (param $n i32) (param $l f32) (param $c f32)
    (local $shift v128) (local $scale v128) (local $e v128) (local $end i32)
    (local $v v128) (local $j v128) (local $k v128) (local $r v128) (local $q v128)
    (local $cMin v128) (local $cLog2e v128) (local $cM v128) (local $cC1 v128) (local $cC2 v128) (local $cP0 v128) (local $cP1 v128)
    (local $cP2 v128) (local $cP3 v128) (local $cP4 v128) (local $cP5 v128) (local $cOne v128) (local $cBias v128)
    (local.set $cMin (v128.const f32x4 -87 -87 -87 -87))
    (local.set $cLog2e (v128.const f32x4 1.44269504088896341 1.44269504088896341 1.44269504088896341 1.44269504088896341))
    (local.set $cM (v128.const f32x4 12582912 12582912 12582912 12582912))
    (local.set $cC1 (v128.const f32x4 0.693359375 0.693359375 0.693359375 0.693359375))
    (local.set $cC2 (v128.const f32x4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4))
    (local.set $cP0 (v128.const f32x4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4))
    (local.set $cP1 (v128.const f32x4 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3))
    (local.set $cP2 (v128.const f32x4 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3))
    (local.set $cP3 (v128.const f32x4 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2))
    (local.set $cP4 (v128.const f32x4 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1))
    (local.set $cP5 (v128.const f32x4 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1))
    (local.set $cOne (v128.const f32x4 1 1 1 1))
    (local.set $cBias (v128.const i32x4 -1262485377 -1262485377 -1262485377 -1262485377))
    (local.set $shift (f32x4.splat (local.get $l)))
    (local.set $scale (f32x4.splat (local.get $c)))
    (local.set $end (i32.add (local.get $p) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        ;; $e = exp(v), v = (f32x4.sub (v128.load align=4 (local.get $p)) (local.get $shift)): clamp, k = round(v·log2 e) through M, r = v − k·C1 − k·C2
        (local.set $v (f32x4.pmax (f32x4.sub (v128.load align=4 (local.get $p)) (local.get $shift)) (local.get $cMin)))
        (local.set $j (f32x4.add (f32x4.mul (local.get $v) (local.get $cLog2e)) (local.get $cM)))
        (local.set $k (f32x4.sub (local.get $j) (local.get $cM)))
        (local.set $r (f32x4.sub (f32x4.sub (local.get $v) (f32x4.mul (local.get $k) (local.get $cC1)))
          (f32x4.mul (local.get $k) (local.get $cC2))))
        ;; q = P(r) by Horner, then 1 + r + r²·q
        (local.set $q (f32x4.add (f32x4.mul (local.get $cP0) (local.get $r)) (local.get $cP1)))
        (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $r)) (local.get $cP2)))
        (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $r)) (local.get $cP3)))
        (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $r)) (local.get $cP4)))
        (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $r)) (local.get $cP5)))
        (local.set $q (f32x4.add (f32x4.add (f32x4.mul (f32x4.mul (local.get $r) (local.get $r)) (local.get $q))
          (local.get $r)) (local.get $cOne)))
        ;; · 2^k, whose bits are (bits(j) − bits(M) + 127) << 23
        (local.set $e (f32x4.mul (local.get $q)
          (i32x4.shl (i32x4.add (local.get $j) (local.get $cBias)) (i32.const 23))))
        (v128.store align=4 (local.get $p) (f32x4.mul (local.get $scale) (local.get $e)))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br $next))))
)
