;; WebAssembly SIMD gradient kernels for the training engine (see src/engine/simd/index.ts).
;;
;; The module imports the tfjs wasm backend's own memory, so the kernels read and write tensors in
;; place at their heap offsets (no copies). It has no data segments, globals or stack of its own:
;; it never touches memory other than the buffers it is given.
;;
;; All tensors are float32 NHWC; buffer arguments are byte offsets; C (channels) must be a multiple
;; of 4 (the JavaScript caller falls back to scalar loops otherwise). Regenerate the embedded
;; binary after editing: `node dist/src/engine/simd/assemble.js` (a test checks it is current).
(module
  (import "env" "memory" (memory 1))

  ;; Max-pool gradient. dx (same shape as x) is zeroed, then each output's gradient is added at the
  ;; first maximum of its window in row-major scan order (strict >, as the tfjs cpu backend), four
  ;; channels at a time with lane-wise compare-and-select: no branches in the window scan.
  (func (export "maxPoolGrad")
    (param $x i32) (param $dy i32) (param $dx i32)
    (param $batch i32) (param $inH i32) (param $inW i32) (param $outH i32) (param $outW i32)
    (param $kH i32) (param $kW i32) (param $sH i32) (param $sW i32) (param $padT i32) (param $padL i32)
    (param $C i32)
    (local $b i32) (local $oh i32) (local $ow i32)
    (local $hs i32) (local $he i32) (local $ws i32) (local $we i32)
    (local $ih i32) (local $iw i32) (local $c i32)
    (local $first i32) (local $base i32) (local $dyOff i32) (local $addr i32)
    (local $best v128) (local $idx v128) (local $v v128) (local $m v128)
    (local $lanes v128)
    (local.set $lanes (v128.const i32x4 0 1 2 3))
    (memory.fill (local.get $dx) (i32.const 0)
      (i32.shl (i32.mul (i32.mul (local.get $batch) (local.get $inH)) (i32.mul (local.get $inW) (local.get $C))) (i32.const 2)))
    (local.set $b (i32.const 0))
    (block $bEnd (loop $bLoop
      (br_if $bEnd (i32.ge_s (local.get $b) (local.get $batch)))
      (local.set $oh (i32.const 0))
      (block $ohEnd (loop $ohLoop
        (br_if $ohEnd (i32.ge_s (local.get $oh) (local.get $outH)))
        ;; rows [hs, he) of the window inside the image
        (local.set $hs (i32.sub (i32.mul (local.get $oh) (local.get $sH)) (local.get $padT)))
        (local.set $he (i32.add (local.get $hs) (local.get $kH)))
        (if (i32.lt_s (local.get $hs) (i32.const 0)) (then (local.set $hs (i32.const 0))))
        (if (i32.gt_s (local.get $he) (local.get $inH)) (then (local.set $he (local.get $inH))))
        (local.set $ow (i32.const 0))
        (block $owEnd (loop $owLoop
          (br_if $owEnd (i32.ge_s (local.get $ow) (local.get $outW)))
          (local.set $ws (i32.sub (i32.mul (local.get $ow) (local.get $sW)) (local.get $padL)))
          (local.set $we (i32.add (local.get $ws) (local.get $kW)))
          (if (i32.lt_s (local.get $ws) (i32.const 0)) (then (local.set $ws (i32.const 0))))
          (if (i32.gt_s (local.get $we) (local.get $inW)) (then (local.set $we (local.get $inW))))
          (if (i32.and (i32.lt_s (local.get $hs) (local.get $he)) (i32.lt_s (local.get $ws) (local.get $we)))
            (then
              ;; element index of the window's first pixel, channel 0
              (local.set $first
                (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $b) (local.get $inH)) (local.get $hs)) (local.get $inW)) (local.get $ws))
                  (local.get $C)))
              (local.set $dyOff
                (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $b) (local.get $outH)) (local.get $oh)) (local.get $outW)) (local.get $ow))
                  (local.get $C)))
              (local.set $c (i32.const 0))
              (block $cEnd (loop $cLoop
                (br_if $cEnd (i32.ge_s (local.get $c) (local.get $C)))
                (local.set $best (v128.load (i32.add (local.get $x) (i32.shl (i32.add (local.get $first) (local.get $c)) (i32.const 2)))))
                (local.set $idx (i32x4.add (i32x4.splat (i32.add (local.get $first) (local.get $c))) (local.get $lanes)))
                ;; scan the window (the first pixel compares equal to itself and changes nothing)
                (local.set $ih (local.get $hs))
                (block $ihEnd (loop $ihLoop
                  (br_if $ihEnd (i32.ge_s (local.get $ih) (local.get $he)))
                  (local.set $base
                    (i32.add
                      (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $b) (local.get $inH)) (local.get $ih)) (local.get $inW)) (local.get $ws))
                        (local.get $C))
                      (local.get $c)))
                  (local.set $iw (local.get $ws))
                  (block $iwEnd (loop $iwLoop
                    (br_if $iwEnd (i32.ge_s (local.get $iw) (local.get $we)))
                    (local.set $v (v128.load (i32.add (local.get $x) (i32.shl (local.get $base) (i32.const 2)))))
                    (local.set $m (f32x4.gt (local.get $v) (local.get $best)))
                    (local.set $best (v128.bitselect (local.get $v) (local.get $best) (local.get $m)))
                    (local.set $idx (v128.bitselect (i32x4.add (i32x4.splat (local.get $base)) (local.get $lanes)) (local.get $idx) (local.get $m)))
                    (local.set $base (i32.add (local.get $base) (local.get $C)))
                    (local.set $iw (i32.add (local.get $iw) (i32.const 1)))
                    (br $iwLoop)))
                  (local.set $ih (i32.add (local.get $ih) (i32.const 1)))
                  (br $ihLoop)))
                ;; scatter the four gradients
                (local.set $addr (i32.add (local.get $dy) (i32.shl (i32.add (local.get $dyOff) (local.get $c)) (i32.const 2))))
                (call $addAt (local.get $dx) (i32x4.extract_lane 0 (local.get $idx)) (f32.load offset=0 (local.get $addr)))
                (call $addAt (local.get $dx) (i32x4.extract_lane 1 (local.get $idx)) (f32.load offset=4 (local.get $addr)))
                (call $addAt (local.get $dx) (i32x4.extract_lane 2 (local.get $idx)) (f32.load offset=8 (local.get $addr)))
                (call $addAt (local.get $dx) (i32x4.extract_lane 3 (local.get $idx)) (f32.load offset=12 (local.get $addr)))
                (local.set $c (i32.add (local.get $c) (i32.const 4)))
                (br $cLoop)))))
          (local.set $ow (i32.add (local.get $ow) (i32.const 1)))
          (br $owLoop)))
        (local.set $oh (i32.add (local.get $oh) (i32.const 1)))
        (br $ohLoop)))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $bLoop))))

  ;; buf[i] += v (float32 element i of the buffer at byte offset buf)
  (func $addAt (param $buf i32) (param $i i32) (param $v f32)
    (local $a i32)
    (local.set $a (i32.add (local.get $buf) (i32.shl (local.get $i) (i32.const 2))))
    (f32.store (local.get $a) (f32.add (f32.load (local.get $a)) (local.get $v))))

  ;; Depthwise filter gradient (channel multiplier 1):
  ;;   dW[kh, kw, c] = sum over b, oh, ow of x[b, oh*sH + kh - padT, ow*sW + kw - padL, c] * dy[b, oh, ow, c]
  ;; Each output row's taps are summed in float32 lanes, four channels at a time; row sums are added
  ;; to float64 accumulators acc[kH*kW*C] (scratch at byte offset $acc, zeroed here), which are
  ;; finally rounded to float32 into out[kH, kW, C, 1].
  (func (export "depthwiseFilterGrad")
    (param $x i32) (param $dy i32) (param $acc i32) (param $out i32)
    (param $batch i32) (param $inH i32) (param $inW i32) (param $outH i32) (param $outW i32)
    (param $kH i32) (param $kW i32) (param $sH i32) (param $sW i32) (param $padT i32) (param $padL i32)
    (param $C i32)
    (local $kh i32) (local $kw i32) (local $b i32) (local $oh i32) (local $ih i32) (local $c i32) (local $i i32)
    (local $ow0 i32) (local $ow1 i32) (local $n i32)
    (local $xRow i32) (local $dyRow i32) (local $xi i32) (local $di i32) (local $xStep i32) (local $dyStep i32)
    (local $aAddr i32)
    (local $s0 v128) (local $s1 v128)
    (memory.fill (local.get $acc) (i32.const 0) (i32.shl (i32.mul (i32.mul (local.get $kH) (local.get $kW)) (local.get $C)) (i32.const 3)))
    (local.set $xStep (i32.shl (i32.mul (local.get $sW) (local.get $C)) (i32.const 2)))
    (local.set $dyStep (i32.shl (local.get $C) (i32.const 2)))
    (local.set $kh (i32.const 0))
    (block $khEnd (loop $khLoop
      (br_if $khEnd (i32.ge_s (local.get $kh) (local.get $kH)))
      (local.set $kw (i32.const 0))
      (block $kwEnd (loop $kwLoop
        (br_if $kwEnd (i32.ge_s (local.get $kw) (local.get $kW)))
        ;; output columns [ow0, ow1) whose input column is inside the image
        (local.set $ow0 (i32.const 0))
        (block $a (loop $l
          (br_if $a (i32.ge_s (local.get $ow0) (local.get $outW)))
          (br_if $a (i32.ge_s (i32.sub (i32.add (i32.mul (local.get $ow0) (local.get $sW)) (local.get $kw)) (local.get $padL)) (i32.const 0)))
          (local.set $ow0 (i32.add (local.get $ow0) (i32.const 1)))
          (br $l)))
        (local.set $ow1 (local.get $outW))
        (block $a (loop $l
          (br_if $a (i32.le_s (local.get $ow1) (local.get $ow0)))
          (br_if $a (i32.lt_s (i32.sub (i32.add (i32.mul (i32.sub (local.get $ow1) (i32.const 1)) (local.get $sW)) (local.get $kw)) (local.get $padL)) (local.get $inW)))
          (local.set $ow1 (i32.sub (local.get $ow1) (i32.const 1)))
          (br $l)))
        (local.set $n (i32.sub (local.get $ow1) (local.get $ow0)))
        (if (i32.gt_s (local.get $n) (i32.const 0))
          (then
            (local.set $b (i32.const 0))
            (block $bEnd (loop $bLoop
              (br_if $bEnd (i32.ge_s (local.get $b) (local.get $batch)))
              (local.set $oh (i32.const 0))
              (block $ohEnd (loop $ohLoop
                (br_if $ohEnd (i32.ge_s (local.get $oh) (local.get $outH)))
                (local.set $ih (i32.sub (i32.add (i32.mul (local.get $oh) (local.get $sH)) (local.get $kh)) (local.get $padT)))
                (if (i32.and (i32.ge_s (local.get $ih) (i32.const 0)) (i32.lt_s (local.get $ih) (local.get $inH)))
                  (then
                    (local.set $xRow
                      (i32.add (local.get $x)
                        (i32.shl
                          (i32.mul
                            (i32.add (i32.mul (i32.add (i32.mul (local.get $b) (local.get $inH)) (local.get $ih)) (local.get $inW))
                              (i32.sub (i32.add (i32.mul (local.get $ow0) (local.get $sW)) (local.get $kw)) (local.get $padL)))
                            (local.get $C))
                          (i32.const 2))))
                    (local.set $dyRow
                      (i32.add (local.get $dy)
                        (i32.shl
                          (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $b) (local.get $outH)) (local.get $oh)) (local.get $outW)) (local.get $ow0))
                            (local.get $C))
                          (i32.const 2))))
                    (local.set $c (i32.const 0))
                    (block $cEnd (loop $cLoop
                      (br_if $cEnd (i32.ge_s (local.get $c) (local.get $C)))
                      (local.set $xi (i32.add (local.get $xRow) (i32.shl (local.get $c) (i32.const 2))))
                      (local.set $di (i32.add (local.get $dyRow) (i32.shl (local.get $c) (i32.const 2))))
                      ;; two independent accumulators (even / odd columns) for instruction-level parallelism
                      (local.set $s0 (v128.const f32x4 0 0 0 0))
                      (local.set $s1 (v128.const f32x4 0 0 0 0))
                      (local.set $i (i32.const 1))
                      (block $iEnd (loop $iLoop
                        (br_if $iEnd (i32.ge_s (local.get $i) (local.get $n)))
                        (local.set $s0 (f32x4.add (local.get $s0) (f32x4.mul (v128.load (local.get $xi)) (v128.load (local.get $di)))))
                        (local.set $s1 (f32x4.add (local.get $s1)
                          (f32x4.mul (v128.load (i32.add (local.get $xi) (local.get $xStep))) (v128.load (i32.add (local.get $di) (local.get $dyStep))))))
                        (local.set $xi (i32.add (local.get $xi) (i32.shl (local.get $xStep) (i32.const 1))))
                        (local.set $di (i32.add (local.get $di) (i32.shl (local.get $dyStep) (i32.const 1))))
                        (local.set $i (i32.add (local.get $i) (i32.const 2)))
                        (br $iLoop)))
                      ;; odd count: one column left
                      (if (i32.eq (local.get $i) (local.get $n))
                        (then (local.set $s0 (f32x4.add (local.get $s0) (f32x4.mul (v128.load (local.get $xi)) (v128.load (local.get $di)))))))
                      (local.set $s0 (f32x4.add (local.get $s0) (local.get $s1)))
                      (local.set $aAddr
                        (i32.add (local.get $acc)
                          (i32.shl (i32.add (i32.mul (i32.add (i32.mul (local.get $kh) (local.get $kW)) (local.get $kw)) (local.get $C)) (local.get $c)) (i32.const 3))))
                      (v128.store offset=0 (local.get $aAddr)
                        (f64x2.add (v128.load offset=0 (local.get $aAddr)) (f64x2.promote_low_f32x4 (local.get $s0))))
                      (v128.store offset=16 (local.get $aAddr)
                        (f64x2.add (v128.load offset=16 (local.get $aAddr))
                          (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $s0) (local.get $s0)))))
                      (local.set $c (i32.add (local.get $c) (i32.const 4)))
                      (br $cLoop)))))
                (local.set $oh (i32.add (local.get $oh) (i32.const 1)))
                (br $ohLoop)))
              (local.set $b (i32.add (local.get $b) (i32.const 1)))
              (br $bLoop)))))
        (local.set $kw (i32.add (local.get $kw) (i32.const 1)))
        (br $kwLoop)))
      (local.set $kh (i32.add (local.get $kh) (i32.const 1)))
      (br $khLoop)))
    ;; float64 totals -> float32 output
    (local.set $n (i32.mul (i32.mul (local.get $kH) (local.get $kW)) (local.get $C)))
    (local.set $i (i32.const 0))
    (block $end (loop $copy
      (br_if $end (i32.ge_s (local.get $i) (local.get $n)))
      (f32.store (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 2)))
        (f32.demote_f64 (f64.load (i32.add (local.get $acc) (i32.shl (local.get $i) (i32.const 3))))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $copy))))

  ;; Per-channel reductions over the rows of an [N, C] tensor (an NHWC activation seen as N = B*H*W
  ;; rows): out[c] = sum of src[n, c]; with $src2 != 0 also out[C + c] = sum of src[n, c] * src2[n, c].
  ;; Blocks of 64 rows are summed in float32 lanes, block sums in float64 (scratch $acc, 2*C
  ;; doubles), so long reductions keep float64 accuracy; totals are written as float32.
  (func (export "channelSums")
    (param $src i32) (param $src2 i32) (param $N i32) (param $C i32) (param $acc i32) (param $out i32)
    (local $r0 i32) (local $r1 i32) (local $r i32) (local $c i32) (local $o i32) (local $a i32) (local $rowBytes i32)
    (local $s v128) (local $p v128) (local $v v128)
    (local.set $rowBytes (i32.shl (local.get $C) (i32.const 2)))
    (memory.fill (local.get $acc) (i32.const 0) (i32.shl (local.get $C) (i32.const 4)))
    (local.set $r0 (i32.const 0))
    (block $end (loop $blocks
      (br_if $end (i32.ge_s (local.get $r0) (local.get $N)))
      (local.set $r1 (i32.add (local.get $r0) (i32.const 64)))
      (if (i32.gt_s (local.get $r1) (local.get $N)) (then (local.set $r1 (local.get $N))))
      (local.set $c (i32.const 0))
      (block $cEnd (loop $cLoop
        (br_if $cEnd (i32.ge_s (local.get $c) (local.get $C)))
        (local.set $s (v128.const f32x4 0 0 0 0))
        (local.set $p (v128.const f32x4 0 0 0 0))
        (local.set $o (i32.shl (i32.add (i32.mul (local.get $r0) (local.get $C)) (local.get $c)) (i32.const 2)))
        (local.set $r (local.get $r0))
        (if (local.get $src2)
          (then
            (block $rEnd (loop $rLoop
              (br_if $rEnd (i32.ge_s (local.get $r) (local.get $r1)))
              (local.set $v (v128.load (i32.add (local.get $src) (local.get $o))))
              (local.set $s (f32x4.add (local.get $s) (local.get $v)))
              (local.set $p (f32x4.add (local.get $p) (f32x4.mul (local.get $v) (v128.load (i32.add (local.get $src2) (local.get $o))))))
              (local.set $o (i32.add (local.get $o) (local.get $rowBytes)))
              (local.set $r (i32.add (local.get $r) (i32.const 1)))
              (br $rLoop))))
          (else
            (block $rEnd (loop $rLoop
              (br_if $rEnd (i32.ge_s (local.get $r) (local.get $r1)))
              (local.set $s (f32x4.add (local.get $s) (v128.load (i32.add (local.get $src) (local.get $o)))))
              (local.set $o (i32.add (local.get $o) (local.get $rowBytes)))
              (local.set $r (i32.add (local.get $r) (i32.const 1)))
              (br $rLoop)))))
        (local.set $a (i32.add (local.get $acc) (i32.shl (local.get $c) (i32.const 3))))
        (call $accumulate (local.get $a) (local.get $s))
        (call $accumulate (i32.add (local.get $a) (i32.shl (local.get $C) (i32.const 3))) (local.get $p))
        (local.set $c (i32.add (local.get $c) (i32.const 4)))
        (br $cLoop)))
      (local.set $r0 (local.get $r1))
      (br $blocks)))
    ;; float64 totals -> float32 out (2*C values; the second half is unused without $src2)
    (local.set $c (i32.const 0))
    (block $end (loop $copy
      (br_if $end (i32.ge_s (local.get $c) (i32.shl (local.get $C) (i32.const 1))))
      (f32.store (i32.add (local.get $out) (i32.shl (local.get $c) (i32.const 2)))
        (f32.demote_f64 (f64.load (i32.add (local.get $acc) (i32.shl (local.get $c) (i32.const 3))))))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (br $copy))))

  ;; acc[0..4) (float64, byte offset $a) += the four float32 lanes of $v
  (func $accumulate (param $a i32) (param $v v128)
    (v128.store offset=0 (local.get $a) (f64x2.add (v128.load offset=0 (local.get $a)) (f64x2.promote_low_f32x4 (local.get $v))))
    (v128.store offset=16 (local.get $a)
      (f64x2.add (v128.load offset=16 (local.get $a))
        (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v))))))

  ;; dst[n, c] = a[n, c] * ka[c] + add[c]; with $b != 0: dst[n, c] = a[n, c] * ka[c] + b[n, c] * kb[c] + add[c]
  ;; (per-channel float32 vectors ka, kb, add of length C). dst may alias a or b.
  (func (export "channelAffine")
    (param $a i32) (param $ka i32) (param $b i32) (param $kb i32) (param $add i32) (param $dst i32) (param $N i32) (param $C i32)
    (local $r i32) (local $c i32) (local $o i32) (local $cb i32)
    (local.set $o (i32.const 0))
    (local.set $r (i32.const 0))
    (block $end (loop $rows
      (br_if $end (i32.ge_s (local.get $r) (local.get $N)))
      (local.set $c (i32.const 0))
      (if (local.get $b)
        (then
          (block $cEnd (loop $cLoop
            (br_if $cEnd (i32.ge_s (local.get $c) (local.get $C)))
            (local.set $cb (i32.shl (local.get $c) (i32.const 2)))
            (v128.store (i32.add (local.get $dst) (local.get $o))
              (f32x4.add
                (f32x4.add
                  (f32x4.mul (v128.load (i32.add (local.get $a) (local.get $o))) (v128.load (i32.add (local.get $ka) (local.get $cb))))
                  (f32x4.mul (v128.load (i32.add (local.get $b) (local.get $o))) (v128.load (i32.add (local.get $kb) (local.get $cb)))))
                (v128.load (i32.add (local.get $add) (local.get $cb)))))
            (local.set $o (i32.add (local.get $o) (i32.const 16)))
            (local.set $c (i32.add (local.get $c) (i32.const 4)))
            (br $cLoop))))
        (else
          (block $cEnd (loop $cLoop
            (br_if $cEnd (i32.ge_s (local.get $c) (local.get $C)))
            (local.set $cb (i32.shl (local.get $c) (i32.const 2)))
            (v128.store (i32.add (local.get $dst) (local.get $o))
              (f32x4.add
                (f32x4.mul (v128.load (i32.add (local.get $a) (local.get $o))) (v128.load (i32.add (local.get $ka) (local.get $cb))))
                (v128.load (i32.add (local.get $add) (local.get $cb)))))
            (local.set $o (i32.add (local.get $o) (i32.const 16)))
            (local.set $c (i32.add (local.get $c) (i32.const 4)))
            (br $cLoop)))))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rows))))
)
