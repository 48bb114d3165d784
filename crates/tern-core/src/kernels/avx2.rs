//! x86-64 AVX2 + FMA kernels, laid over the scalar table.
//!
//! int8 products stay exact: `maddubs` multiplies unsigned by signed bytes and saturates pairs
//! at i16, so the weight's sign is moved onto the activation (`|w| * sign(w) x`). `|w| <= 128`
//! fits a u8 even for a hostile -128, and activations are quantized to [-127, 127], so a pair is
//! at most `2 * 128 * 127 = 32512 < 32767`: nothing saturates (intgemm's shifted `x + 127`
//! operand can reach 2 * 254 * 127 and does). `madd` with ones then widens to i32.
//! Float kernels use the scalar table's exact order of operations (16 lanes, the same reduction
//! tree, a multiply then an add rather than a fused FMA), so SIMD and scalar results are
//! bit-identical and translations do not depend on the machine.

use super::{scalar, Kernels};
use core::arch::x86_64::*;

/// The AVX2 table, if this CPU has AVX2 and FMA (with F16C, f16 weights convert 8 at a time).
pub fn kernels() -> Option<Kernels> {
    if detected() {
        let matmul_f16 = if f16c() {
            matmul_f16
        } else {
            scalar::KERNELS.matmul_f16
        };
        Some(Kernels {
            matmul_f16,
            name: "avx2",
            dot,
            axpy,
            dots,
            axpy_rows,
            dot_i8,
            gemv_rows_i8,
            matmul_f32,
            matmul_i8,
            quantize_static,
            quantize_rows,
            exp,
            ..scalar::KERNELS
        })
    } else {
        None
    }
}

#[cfg(feature = "std")]
fn detected() -> bool {
    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
}

#[cfg(not(feature = "std"))]
fn detected() -> bool {
    cfg!(all(target_feature = "avx2", target_feature = "fma"))
}

#[cfg(feature = "std")]
fn f16c() -> bool {
    std::is_x86_feature_detected!("f16c")
}

#[cfg(not(feature = "std"))]
fn f16c() -> bool {
    cfg!(target_feature = "f16c")
}

/// [`scalar::matmul_f16`] with F16C conversions: the same dot order as [`dot_avx2`], on the
/// weights converted exactly to f32, so the same bits.
fn matmul_f16(x: &[f32], w: &[half::f16], y: &mut [f32], m: usize, k: usize, n: usize) {
    for i in 0..m {
        let xr = &x[i * k..(i + 1) * k];
        for (j, out) in y[i * n..(i + 1) * n].iter_mut().enumerate() {
            // SAFETY: AVX2, FMA and F16C are present (see `kernels`).
            *out = unsafe { dot_f16_avx2(xr, &w[j * k..(j + 1) * k]) };
        }
    }
}

/// [`dot_avx2`] with f16 `b`, converted 8 at a time (`vcvtph2ps`, exact).
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_f16_avx2(a: &[f32], b: &[half::f16]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let (mut acc0, mut acc1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: i + 16 <= n: 8 + 8 floats of `a` and 8 + 8 halves of `b` (16 bytes each).
        unsafe {
            let b0 = _mm256_cvtph_ps(_mm_loadu_si128(pb.add(i).cast()));
            let b1 = _mm256_cvtph_ps(_mm_loadu_si128(pb.add(i + 8).cast()));
            acc0 = _mm256_add_ps(acc0, _mm256_mul_ps(_mm256_loadu_ps(pa.add(i)), b0));
            acc1 = _mm256_add_ps(acc1, _mm256_mul_ps(_mm256_loadu_ps(pa.add(i + 8)), b1));
        }
        i += 16;
    }
    let mut s = hsum(_mm256_add_ps(acc0, acc1));
    while i < n {
        s += a[i] * b[i].to_f32();
        i += 1;
    }
    s
}

// The safe wrappers below are only reachable through `kernels()`, which returns them only after
// the CPU features were detected.

fn dot(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: AVX2 and FMA are present (see `kernels`).
    unsafe { dot_avx2(a, b) }
}

fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    // SAFETY: AVX2 and FMA are present (see `kernels`).
    unsafe { axpy_avx2(a, x, y) }
}

fn dots(q: &[f32], rows: &[f32], offs: &[usize], out: &mut [f32]) {
    // SAFETY: AVX2 and FMA are present (see `kernels`).
    unsafe { dots_avx2(q, rows, offs, out) }
}

fn axpy_rows(p: &[f32], rows: &[f32], offs: &[usize], y: &mut [f32]) {
    // SAFETY: AVX2 and FMA are present (see `kernels`).
    unsafe { axpy_rows_avx2(p, rows, offs, y) }
}

/// [`scalar::dots`] (attention's scores, per head): eight rows at a time when `q` is whole
/// 16-float blocks, their eight lane sums reduced together by [`hsum8`] instead of one
/// horizontal sum each; the rest through [`dot_avx2`]. Same bits as the scalar table.
#[target_feature(enable = "avx2,fma")]
unsafe fn dots_avx2(q: &[f32], rows: &[f32], offs: &[usize], out: &mut [f32]) {
    let n = q.len();
    let count = out.len().min(offs.len());
    let mut s = 0;
    if n.is_multiple_of(16) {
        let pq = q.as_ptr();
        while s + 8 <= count {
            let group = &offs[s..s + 8];
            assert!(group.iter().all(|&o| o + n <= rows.len()));
            let mut v = [_mm256_setzero_ps(); 8];
            for (acc, &o) in v.iter_mut().zip(group) {
                let pr = rows.as_ptr().wrapping_add(o);
                let (mut acc0, mut acc1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
                let mut i = 0;
                while i + 16 <= n {
                    // SAFETY: i + 16 <= n: the loads at i and i + 8 are inside `q` (n floats)
                    // and inside `rows` from `o` (o + n <= rows.len(), asserted above).
                    unsafe {
                        let (q0, q1) = (_mm256_loadu_ps(pq.add(i)), _mm256_loadu_ps(pq.add(i + 8)));
                        let (r0, r1) = (_mm256_loadu_ps(pr.add(i)), _mm256_loadu_ps(pr.add(i + 8)));
                        acc0 = _mm256_add_ps(acc0, _mm256_mul_ps(q0, r0));
                        acc1 = _mm256_add_ps(acc1, _mm256_mul_ps(q1, r1));
                    }
                    i += 16;
                }
                *acc = _mm256_add_ps(acc0, acc1);
            }
            // SAFETY: `out[s..s + 8]` holds 8 floats.
            unsafe { _mm256_storeu_ps(out[s..s + 8].as_mut_ptr(), hsum8(&v)) };
            s += 8;
        }
    }
    for (o, &r) in out[s..count].iter_mut().zip(&offs[s..count]) {
        // SAFETY: the caller has AVX2 and FMA (this function's own features).
        *o = unsafe { dot_avx2(q, &rows[r..r + n]) };
    }
}

/// [`hsum`] of eight vectors at once, element `t` of the result for `v[t]`, with the same
/// additions in the same order: `q_l = v_l + v_(l+4)`, then `(q0 + q2) + (q1 + q3)`.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn hsum8(v: &[__m256; 8]) -> __m256 {
    // [a.lo | b.lo] + [a.hi | b.hi]: the four q of a, then of b.
    let q = |a, b| {
        _mm256_add_ps(
            _mm256_permute2f128_ps::<0x20>(a, b),
            _mm256_permute2f128_ps::<0x31>(a, b),
        )
    };
    let (q01, q23, q45, q67) = (q(v[0], v[1]), q(v[2], v[3]), q(v[4], v[5]), q(v[6], v[7]));
    // Per 128-bit half: [x.q0 + x.q2, x.q1 + x.q3, y.q0 + y.q2, y.q1 + y.q3].
    let t = |x, y| {
        _mm256_add_ps(
            _mm256_shuffle_ps::<0b01_00_01_00>(x, y),
            _mm256_shuffle_ps::<0b11_10_11_10>(x, y),
        )
    };
    let (t0, t1) = (t(q01, q23), t(q45, q67));
    // [v0 v2 v4 v6 | v1 v3 v5 v7], each (q0 + q2) + (q1 + q3).
    let sums = _mm256_add_ps(
        _mm256_shuffle_ps::<0b10_00_10_00>(t0, t1),
        _mm256_shuffle_ps::<0b11_01_11_01>(t0, t1),
    );
    _mm256_permutevar8x32_ps(sums, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7))
}

/// [`scalar::axpy_rows`] a block of `y` at a time: 32 (then 8) floats of `y` stay in registers
/// while every row is added to them, instead of a load and a store of `y` per row. Each element
/// still gets `y += p[s] * row_s` for `s` in order, a multiply then an add: the scalar bits.
#[target_feature(enable = "avx2,fma")]
unsafe fn axpy_rows_avx2(p: &[f32], rows: &[f32], offs: &[usize], y: &mut [f32]) {
    let n = y.len();
    let count = p.len().min(offs.len());
    let (p, offs) = (&p[..count], &offs[..count]);
    assert!(offs.iter().all(|&r| r + n <= rows.len()));
    let (pr, py) = (rows.as_ptr(), y.as_mut_ptr());
    let mut c = 0;
    while c + 32 <= n {
        // SAFETY: c + 32 <= n: the loads and stores of `y` are inside it, and each row's loads at
        // r + c.. are inside `rows` (r + n <= rows.len(), asserted above).
        unsafe {
            let mut acc: [__m256; 4] = core::array::from_fn(|l| _mm256_loadu_ps(py.add(c + 8 * l)));
            for (&a, &r) in p.iter().zip(offs) {
                let av = _mm256_set1_ps(a);
                for (l, v) in acc.iter_mut().enumerate() {
                    let x = _mm256_loadu_ps(pr.add(r + c + 8 * l));
                    *v = _mm256_add_ps(*v, _mm256_mul_ps(av, x));
                }
            }
            for (l, v) in acc.iter().enumerate() {
                _mm256_storeu_ps(py.add(c + 8 * l), *v);
            }
        }
        c += 32;
    }
    while c + 8 <= n {
        // SAFETY: as above, for 8 floats.
        unsafe {
            let mut v = _mm256_loadu_ps(py.add(c));
            for (&a, &r) in p.iter().zip(offs) {
                v = _mm256_add_ps(
                    v,
                    _mm256_mul_ps(_mm256_set1_ps(a), _mm256_loadu_ps(pr.add(r + c))),
                );
            }
            _mm256_storeu_ps(py.add(c), v);
        }
        c += 8;
    }
    for (t, v) in y.iter_mut().enumerate().skip(c) {
        for (&a, &r) in p.iter().zip(offs) {
            *v += a * rows[r + t];
        }
    }
}

fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    // SAFETY: AVX2 is present (see `kernels`).
    unsafe { dot_i8_avx2(a, b) }
}

/// [`scalar::gemv_rows_with`], each row asked for [`ROWS_AHEAD`] rows before its turn.
fn gemv_rows_i8(xq: &[i8], xs: f32, wq: &[i8], ws: &[f32], rows: &[u32], y: &mut [f32]) {
    let k = xq.len();
    let ahead = |i: usize| {
        if let Some(&next) = rows.get(i + ROWS_AHEAD) {
            prefetch_row(wq, next as usize * k, k);
        }
    };
    scalar::gemv_rows_reading_ahead(dot_i8, ahead, xq, xs, wq, ws, rows, y)
}

/// How far ahead the shortlisted output layer asks for its rows. They are anywhere in the
/// matrix (a sentence's candidate words), so the hardware cannot guess them, and in a batch
/// each sentence's are different ones, read from L3. Measured (Zen 4, 2026-12-07, separate
/// builds alternating, the Firefox model on FLORES devtest, 1 thread): batch 32 291.5 against
/// 263.5 sentences/s, batch 16 288.9 against 268.1; this table at batch 32 143.4 against 132.3;
/// batch 1 and 8 the same.
pub(super) const ROWS_AHEAD: usize = 16;

/// Asks for the `k` bytes of `wq` from `at` into L1.
#[inline(always)]
pub(super) fn prefetch_row(wq: &[i8], at: usize, k: usize) {
    prefetch_lines(wq.as_ptr().wrapping_add(at), k, false)
}

fn matmul_f32(x: &[f32], w: &[f32], y: &mut [f32], m: usize, k: usize, n: usize) {
    #[cfg(feature = "std")]
    if super::gemm::matmul_f32(x, w, y, m, k, n) {
        return;
    }
    for i in 0..m {
        let xr = &x[i * k..(i + 1) * k];
        for (j, out) in y[i * n..(i + 1) * n].iter_mut().enumerate() {
            *out = dot(xr, &w[j * k..(j + 1) * k]);
        }
    }
}

fn exp(x: &mut [f32]) {
    // SAFETY: AVX2 is present (see `kernels`).
    unsafe { exp_avx2(x) }
}

fn quantize_rows(x: &[f32], xq: &mut [i8], xs: &mut [f32], m: usize, k: usize) {
    for ((row, q), s) in x
        .chunks_exact(k)
        .zip(xq.chunks_exact_mut(k))
        .zip(xs)
        .take(m)
    {
        // SAFETY: AVX2 is present (see `kernels`).
        *s = unsafe { quantize_row_avx2(row, q) };
    }
}

fn quantize_static(x: &[f32], xq: &mut [i8], inv_scale: f32) {
    // SAFETY: AVX2 is present (see `kernels`).
    unsafe { quantize_static_avx2(x, xq, inv_scale) }
}

#[allow(clippy::too_many_arguments)]
fn matmul_i8(
    xq: &[i8],
    xs: &[f32],
    wq: &[i8],
    ws: &[f32],
    y: &mut [f32],
    m: usize,
    k: usize,
    n: usize,
) {
    // Four weight rows at a time, each read once from memory and reused for every input row.
    let mut j = 0;
    while j + 4 <= n {
        let w = &wq[j * k..(j + 4) * k];
        if m >= 2 {
            // Several rows read the four weight rows side by side: ask for the next four in
            // address order meanwhile (as `avx512`'s tiles do). Batch 16 on 2 threads
            // (2026-12-07): NLLB shape +25%, t5-small and OPUS-MT +3%.
            prefetch_four_rows(wq, j + 4, k, k >= L2_ROW_BYTES);
        }
        let mut i = 0;
        // Two input rows share each weight load and its absolute value.
        while i + 2 <= m {
            // SAFETY: AVX2 is present (see `kernels`).
            let d = unsafe { dot2x4_i8_avx2(&xq[i * k..(i + 2) * k], w, k) };
            for (r, row) in d.iter().enumerate() {
                for (t, &v) in row.iter().enumerate() {
                    y[(i + r) * n + j + t] = v as f32 * (xs[i + r] * ws[j + t]);
                }
            }
            i += 2;
        }
        if i < m {
            // SAFETY: AVX2 is present (see `kernels`).
            let d = unsafe { dot4_i8_avx2(&xq[i * k..(i + 1) * k], w, k) };
            for (t, &v) in d.iter().enumerate() {
                y[i * n + j + t] = v as f32 * (xs[i] * ws[j + t]);
            }
        }
        j += 4;
    }
    for j in j..n {
        let w = &wq[j * k..(j + 1) * k];
        for i in 0..m {
            y[i * n + j] = dot_i8(&xq[i * k..(i + 1) * k], w) as f32 * (xs[i] * ws[j]);
        }
    }
}

/// Weight rows this long and longer are prefetched into L2 by the tiles: a burst of 64 or more
/// lines into L1 waits on its miss buffers. Measured (Zen 4, 2026-12-07, separate processes
/// alternating), batch 16 on 2 threads with the AVX-512 tiles: NLLB shape +13%, t5-small +12%,
/// OPUS-MT +8%, the Firefox model 2-3% faster (all of L2 instead: NLLB +27%, the others 7-11%
/// slower).
pub(super) const L2_ROW_BYTES: usize = 1024;

/// Asks for weight rows `first..first + 4` (`k` bytes each) of `wq`, in address order: into
/// L2 only when `l2`, else into L1.
#[inline(always)]
pub(super) fn prefetch_four_rows(wq: &[i8], first: usize, k: usize, l2: bool) {
    prefetch_lines(wq.as_ptr().wrapping_add(first * k), 4 * k, l2)
}

/// Asks for the `bytes` from `start`, a 64-byte line at a time in address order: into L2 only
/// when `l2`, else into L1. Any address will do: a prefetch never faults.
#[inline(always)]
pub(super) fn prefetch_lines(start: *const i8, bytes: usize, l2: bool) {
    let mut t = 0;
    while t < bytes {
        let line = start.wrapping_add(t);
        // SAFETY: SSE, all a prefetch needs, is in every x86-64; a prefetch never faults, even
        // outside any allocation.
        unsafe {
            match l2 {
                true => _mm_prefetch::<_MM_HINT_T1>(line),
                false => _mm_prefetch::<_MM_HINT_T0>(line),
            }
        }
        t += 64;
    }
}

/// This core's int8 peak, for `cargo xtask bench`'s roofline line: `rounds` passes over 2 KB
/// of weights in L1, each 32-byte load multiplied and added into one of eight independent
/// accumulators with only the instructions any AVX2 int8 product needs (`maddubs`, `madd` with
/// ones, the add): `rounds * 2048` multiply-adds. The products add a sign fix (`abs`, `sign`:
/// see the module docs), which is part of what keeps them under it. `None` without AVX2. The
/// result only keeps the work from being optimized away.
pub fn peak_probe(rounds: usize) -> Option<i32> {
    let w = probe_weights();
    // SAFETY: AVX2 is present (checked first).
    detected().then(|| unsafe { peak_probe_avx2(&w, rounds) })
}

/// The 2 KB the peak probes (this one and `avx512::peak_probe`) read from L1.
pub(super) fn probe_weights() -> [i8; 2048] {
    core::array::from_fn(|i| (i * 7 % 251) as u8 as i8)
}

#[target_feature(enable = "avx2")]
unsafe fn peak_probe_avx2(w: &[i8; 2048], rounds: usize) -> i32 {
    let mut x = _mm256_set1_epi8(3);
    let mut acc = [_mm256_setzero_si256(); 8];
    let p = w.as_ptr();
    for _ in 0..rounds {
        // A new activation each pass: nothing is the same from one pass to the next.
        x = _mm256_add_epi8(x, _mm256_set1_epi8(1));
        for block in 0..8 {
            for (j, a) in acc.iter_mut().enumerate() {
                // SAFETY: (block * 8 + j) * 32 + 32 <= 2048: inside `w`.
                let v = unsafe { _mm256_loadu_si256(p.add((block * 8 + j) * 32).cast()) };
                let pairs = _mm256_maddubs_epi16(v, x);
                *a = _mm256_add_epi32(*a, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
            }
        }
    }
    let t = acc
        .iter()
        .fold(_mm256_setzero_si256(), |t, a| _mm256_add_epi32(t, *a));
    _mm256_extract_epi32::<0>(t)
}

/// `|w| * sign(w) x` summed in pairs and widened to i32 (see the module docs).
#[target_feature(enable = "avx2")]
fn madd_i8(x: __m256i, w: __m256i) -> __m256i {
    _mm256_madd_epi16(
        _mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(x, w)),
        _mm256_set1_epi16(1),
    )
}

/// Sums of four i32 accumulators, in order.
#[target_feature(enable = "avx2")]
fn sum4(acc: &[__m256i; 4]) -> [i32; 4] {
    let s01 = _mm256_hadd_epi32(acc[0], acc[1]);
    let s23 = _mm256_hadd_epi32(acc[2], acc[3]);
    let s = _mm256_hadd_epi32(s01, s23);
    let s = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256::<1>(s));
    [
        _mm_extract_epi32::<0>(s),
        _mm_extract_epi32::<1>(s),
        _mm_extract_epi32::<2>(s),
        _mm_extract_epi32::<3>(s),
    ]
}

/// Dot products of two consecutive `k`-byte rows of `x` with four of `w`: `[x row][w row]`.
#[target_feature(enable = "avx2")]
unsafe fn dot2x4_i8_avx2(x: &[i8], w: &[i8], k: usize) -> [[i32; 4]; 2] {
    assert!(x.len() >= 2 * k && w.len() >= 4 * k);
    let (px, pw) = (x.as_ptr(), w.as_ptr());
    let ones = _mm256_set1_epi16(1);
    let mut acc = [[_mm256_setzero_si256(); 4]; 2];
    let mut i = 0;
    while i + 32 <= k {
        // SAFETY: i + 32 <= k: every load at row * k + i reads 32 bytes inside its row.
        unsafe {
            let vx = [
                _mm256_loadu_si256(px.add(i).cast()),
                _mm256_loadu_si256(px.add(k + i).cast()),
            ];
            for r in 0..4 {
                let vw = _mm256_loadu_si256(pw.add(r * k + i).cast());
                let aw = _mm256_abs_epi8(vw);
                for (a, x) in acc.iter_mut().zip(&vx) {
                    let pairs = _mm256_maddubs_epi16(aw, _mm256_sign_epi8(*x, vw));
                    a[r] = _mm256_add_epi32(a[r], _mm256_madd_epi16(pairs, ones));
                }
            }
        }
        i += 32;
    }
    let mut out = [sum4(&acc[0]), sum4(&acc[1])];
    for (xr, o) in out.iter_mut().enumerate() {
        for (r, v) in o.iter_mut().enumerate() {
            for t in i..k {
                *v += i32::from(x[xr * k + t]) * i32::from(w[r * k + t]);
            }
        }
    }
    out
}

/// Dot products of one row `x` (`k` bytes) with four consecutive rows of `w` (`4 * k` bytes),
/// one row after the other so that the weights stream in address order (batch-1 decoding is
/// memory-bound). Read side by side, 32 bytes of each row in turn, the four short streams kept
/// the hardware prefetcher from running ahead: an OPUS-MT-sized decoder step took 6.1 ms, ~8 GB/s
/// (see `avx512::dot_rows`). `x` is re-read for every row, from L1.
#[target_feature(enable = "avx2")]
unsafe fn dot4_i8_avx2(x: &[i8], w: &[i8], k: usize) -> [i32; 4] {
    assert!(x.len() >= k && w.len() >= 4 * k);
    let (px, pw) = (x.as_ptr(), w.as_ptr());
    let mut acc = [_mm256_setzero_si256(); 4];
    for (r, a) in acc.iter_mut().enumerate() {
        let mut i = 0;
        while i + 32 <= k {
            // SAFETY: i + 32 <= k: the load of `x` is inside its first k bytes, and row r's load
            // at r * k + i stays inside `w`'s 4 * k bytes.
            unsafe {
                let vx = _mm256_loadu_si256(px.add(i).cast());
                *a = _mm256_add_epi32(
                    *a,
                    madd_i8(vx, _mm256_loadu_si256(pw.add(r * k + i).cast())),
                );
            }
            i += 32;
        }
    }
    let mut out = sum4(&acc);
    let body = k - k % 32;
    // The tail, when there is one (model widths are multiples of 32: four empty calls per four
    // rows were 2% of a Firefox model's instructions).
    if body < k {
        for (r, o) in out.iter_mut().enumerate() {
            *o += scalar::dot_i8(&x[body..k], &w[r * k + body..(r + 1) * k]);
        }
    }
    out
}

/// `libm::expf` (FreeBSD's `e_expf.c`) on 8 lanes with the same operations in the same order,
/// so every result is bit-identical: `k` from `x / ln2` rounded as its code rounds, `x - k ln2`
/// in two parts, the same rational approximation, and the scaling by `2^k` as one multiply
/// (exact, as `scalbnf` for these `k`). Blocks with a lane where `libm` takes another path
/// (|x| >= 87.3, NaN) are done by `libm` itself.
#[target_feature(enable = "avx2")]
unsafe fn exp_avx2(x: &mut [f32]) {
    const LN2_HI: f32 = 6.931_457_5e-1;
    const LN2_LO: f32 = 1.428_606_8e-6;
    const INV_LN2: f32 = core::f32::consts::LOG2_E;
    const P1: f32 = 1.666_662_5e-1;
    const P2: f32 = -2.766_733_3e-3;
    let n = x.len();
    let p = x.as_mut_ptr();
    let abs_bits = _mm256_set1_epi32(0x7fff_ffff);
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: i + 8 <= n: 8 floats are read from and written to `x`.
        let v = unsafe { _mm256_loadu_ps(p.add(i)) };
        let hx = _mm256_and_si256(_mm256_castps_si256(v), abs_bits);
        // hx >= 0x42aeac50 (|x| >= 87.34 or NaN): libm's special cases.
        if _mm256_movemask_epi8(_mm256_cmpgt_epi32(hx, _mm256_set1_epi32(0x42ae_ac4f))) != 0 {
            // SAFETY: the same 8 floats, as a slice.
            let block = unsafe { core::slice::from_raw_parts_mut(p.add(i), 8) };
            block.iter_mut().for_each(|v| *v = libm::expf(*v));
            i += 8;
            continue;
        }
        let neg = _mm256_srai_epi32::<31>(_mm256_castps_si256(v));
        let negf = _mm256_castsi256_ps(neg);
        // |x| > 1.5 ln2: k = (int)(x / ln2 +- 0.5); 0.5 ln2 < |x| <= 1.5 ln2: k = +-1; else 0.
        let half = _mm256_blendv_ps(_mm256_set1_ps(0.5), _mm256_set1_ps(-0.5), negf);
        let k_big = _mm256_cvttps_epi32(_mm256_add_ps(
            _mm256_mul_ps(_mm256_set1_ps(INV_LN2), v),
            half,
        ));
        let k_mid = _mm256_or_si256(neg, _mm256_set1_epi32(1)); // -1 or 1
        let big = _mm256_cmpgt_epi32(hx, _mm256_set1_epi32(0x3f85_1592));
        let mid = _mm256_cmpgt_epi32(hx, _mm256_set1_epi32(0x3eb1_7218));
        let k = _mm256_and_si256(_mm256_blendv_epi8(k_mid, k_big, big), mid);
        let kf = _mm256_cvtepi32_ps(k);
        // k = 0 gives hi = x, lo = 0 exactly, as libm's small-argument branch.
        let hi = _mm256_sub_ps(v, _mm256_mul_ps(kf, _mm256_set1_ps(LN2_HI)));
        let lo = _mm256_mul_ps(kf, _mm256_set1_ps(LN2_LO));
        let r = _mm256_sub_ps(hi, lo);
        let rr = _mm256_mul_ps(r, r);
        let poly = _mm256_add_ps(_mm256_set1_ps(P1), _mm256_mul_ps(rr, _mm256_set1_ps(P2)));
        let c = _mm256_sub_ps(r, _mm256_mul_ps(rr, poly));
        let q = _mm256_div_ps(_mm256_mul_ps(r, c), _mm256_sub_ps(_mm256_set1_ps(2.0), c));
        let one = _mm256_set1_ps(1.0);
        let y = _mm256_add_ps(one, _mm256_add_ps(_mm256_sub_ps(q, lo), hi));
        // 2^k for |k| <= 126 is a normal float: (k + 127) << 23.
        let scale = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(
            k,
            _mm256_set1_epi32(127),
        )));
        let y = _mm256_mul_ps(y, scale);
        // |x| <= 2^-14: libm returns 1 + x.
        let tiny = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(0x3900_0001), hx));
        let y = _mm256_blendv_ps(y, _mm256_add_ps(one, v), tiny);
        // SAFETY: as the load above.
        unsafe { _mm256_storeu_ps(p.add(i), y) };
        i += 8;
    }
    let rest = &mut x[i..];
    if !rest.is_empty() {
        // The last few through the same lanes (padded with zeros), as libm would do them.
        let mut pad = [0f32; 8];
        pad[..rest.len()].copy_from_slice(rest);
        // SAFETY: AVX2 is present (this function's own feature); `pad` holds 8 floats.
        unsafe { exp_avx2(&mut pad) };
        let k = rest.len();
        rest.copy_from_slice(&pad[..k]);
    }
}

/// One row of [`scalar::quantize_rows`], bit for bit: the same scale from the largest magnitude
/// (max is exact in any order; NaN is skipped, as `f32::max` does), the same product, and
/// `roundf`'s half-away-from-zero rounding built from truncation (`x - trunc(x)` is exact), so
/// that every kernel table quantizes identically. Returns the row's scale.
#[target_feature(enable = "avx2")]
unsafe fn quantize_row_avx2(x: &[f32], xq: &mut [i8]) -> f32 {
    let n = x.len().min(xq.len());
    let (px, pq) = (x.as_ptr(), xq.as_mut_ptr());
    let abs = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff));
    let mut vmax = _mm256_setzero_ps();
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: i + 8 <= n: 8 floats are read from `x`.
        let v = unsafe { _mm256_loadu_ps(px.add(i)) };
        // maxps returns its second operand when the first is NaN: NaN never wins.
        vmax = _mm256_max_ps(_mm256_and_ps(v, abs), vmax);
        i += 8;
    }
    let mut lanes = [0f32; 8];
    // SAFETY: `lanes` holds 8 floats.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), vmax) };
    let amax = lanes
        .iter()
        .chain(&x[i..n])
        .fold(0f32, |a, v| a.max(v.abs()));
    let scale = if amax > 0.0 { amax / 127.0 } else { 1.0 };
    let inv = 1.0 / scale;
    let s = _mm256_set1_ps(inv);
    let (lo, hi) = (_mm256_set1_ps(-127.0), _mm256_set1_ps(127.0));
    let (half, one) = (_mm256_set1_ps(0.5), _mm256_set1_ps(1.0));
    let sign = _mm256_castsi256_ps(_mm256_set1_epi32(i32::MIN));
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: i + 8 <= n: 8 floats are read from `x` and 8 bytes written to `xq`.
        unsafe {
            let p = _mm256_mul_ps(_mm256_loadu_ps(px.add(i)), s);
            let t = _mm256_round_ps::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(p);
            let frac = _mm256_and_ps(_mm256_sub_ps(p, t), abs);
            let away = _mm256_and_ps(_mm256_cmp_ps::<_CMP_GE_OQ>(frac, half), one);
            let r = _mm256_add_ps(t, _mm256_or_ps(away, _mm256_and_ps(p, sign)));
            // NaN (an Inf input times 0, or a NaN) becomes 0, as `NaN as i8` does.
            let r = _mm256_and_ps(r, _mm256_cmp_ps::<_CMP_ORD_Q>(p, p));
            let r = _mm256_min_ps(_mm256_max_ps(r, lo), hi);
            let q = _mm256_cvttps_epi32(r);
            let q16 = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
            let q8 = _mm_packs_epi16(q16, q16);
            core::ptr::write_unaligned(pq.add(i).cast::<i64>(), _mm_cvtsi128_si64(q8));
        }
        i += 8;
    }
    for (q, v) in xq[i..n].iter_mut().zip(&x[i..n]) {
        *q = libm::roundf(v * inv).clamp(-127.0, 127.0) as i8;
    }
    scale
}

#[target_feature(enable = "avx2")]
unsafe fn quantize_static_avx2(x: &[f32], xq: &mut [i8], inv_scale: f32) {
    let n = x.len().min(xq.len());
    let (px, pq) = (x.as_ptr(), xq.as_mut_ptr());
    let s = _mm256_set1_ps(inv_scale);
    let (lo, hi) = (_mm256_set1_ps(-127.0), _mm256_set1_ps(127.0));
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: i + 8 <= n: 8 floats are read from `x` and 8 bytes written to `xq`.
        unsafe {
            // cvtps rounds half to even (the default MXCSR mode), as intgemm's quantizer. A NaN
            // becomes 0 first, as the scalar table's `as i8` makes it (max_ps would give -127).
            let v = _mm256_mul_ps(_mm256_loadu_ps(px.add(i)), s);
            let v = _mm256_and_ps(v, _mm256_cmp_ps::<_CMP_ORD_Q>(v, v));
            let v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
            let q = _mm256_cvtps_epi32(v);
            let q16 = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
            let q8 = _mm_packs_epi16(q16, q16);
            core::ptr::write_unaligned(pq.add(i).cast::<i64>(), _mm_cvtsi128_si64(q8));
        }
        i += 8;
    }
    scalar::quantize_static(&x[i..n], &mut xq[i..n], inv_scale);
}

#[target_feature(enable = "avx2,fma")]
fn hsum(v: __m256) -> f32 {
    let lo = _mm256_castps256_ps128(v);
    let hi = _mm256_extractf128_ps(v, 1);
    let s = _mm_add_ps(lo, hi);
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    _mm_cvtss_f32(s)
}

#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc0 = _mm256_setzero_ps();
    let mut acc1 = _mm256_setzero_ps();
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: i + 16 <= n, so both 8-float loads at i and i + 8 are inside both slices.
        unsafe {
            acc0 = _mm256_add_ps(
                acc0,
                _mm256_mul_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i))),
            );
            acc1 = _mm256_add_ps(
                acc1,
                _mm256_mul_ps(
                    _mm256_loadu_ps(pa.add(i + 8)),
                    _mm256_loadu_ps(pb.add(i + 8)),
                ),
            );
        }
        i += 16;
    }
    let mut s = hsum(_mm256_add_ps(acc0, acc1));
    while i < n {
        s += a[i] * b[i];
        i += 1;
    }
    s
}

#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn axpy_avx2(a: f32, x: &[f32], y: &mut [f32]) {
    let n = x.len().min(y.len());
    let av = _mm256_set1_ps(a);
    let (px, py) = (x.as_ptr(), y.as_mut_ptr());
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: i + 8 <= n: the 8-float load and store are inside `x` and `y`.
        unsafe {
            let r = _mm256_add_ps(
                _mm256_loadu_ps(py.add(i)),
                _mm256_mul_ps(av, _mm256_loadu_ps(px.add(i))),
            );
            _mm256_storeu_ps(py.add(i), r);
        }
        i += 8;
    }
    while i < n {
        y[i] += a * x[i];
        i += 1;
    }
}

#[target_feature(enable = "avx2")]
unsafe fn dot_i8_avx2(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let ones = _mm256_set1_epi16(1);
    let mut acc = _mm256_setzero_si256();
    let mut i = 0;
    while i + 32 <= n {
        // SAFETY: i + 32 <= n: both 32-byte loads are inside `a` and `b`.
        let (va, vb) = unsafe {
            (
                _mm256_loadu_si256(pa.add(i).cast()),
                _mm256_loadu_si256(pb.add(i).cast()),
            )
        };
        let pairs = _mm256_maddubs_epi16(_mm256_abs_epi8(vb), _mm256_sign_epi8(va, vb));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, ones));
        i += 32;
    }
    let lo = _mm256_castsi256_si128(acc);
    let hi = _mm256_extracti128_si256(acc, 1);
    let s = _mm_add_epi32(lo, hi);
    let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b01_00_11_10));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b10_11_00_01));
    let mut total = _mm_cvtsi128_si32(s);
    while i < n {
        total += i32::from(a[i]) * i32::from(b[i]);
        i += 1;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int8_is_exact_including_the_saturation_case() {
        let Some(k) = kernels() else { return };
        let mut seed = 0x1234_5678u32;
        let mut rnd = || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        for len in [0, 1, 31, 32, 33, 64, 100, 256, 1536] {
            let a: heapless::Vec<i8, 1536> = (0..len)
                .map(|_| (rnd() % 255) as i8)
                .map(|v| v.max(-127))
                .collect();
            let b: heapless::Vec<i8, 1536> = (0..len).map(|_| rnd() as i8).collect();
            assert_eq!((k.dot_i8)(&a, &b), scalar::dot_i8(&a, &b), "len {len}");
        }
        // Where a plain unsigned-by-signed maddubs saturates: |a| = 127 with b = -128 / 127 pairs.
        for (x, y) in [(127i8, 127i8), (-127, -128), (127, -128), (-127, 127)] {
            let a = [x; 64];
            let b = [y; 64];
            assert_eq!((k.dot_i8)(&a, &b), 64 * i32::from(x) * i32::from(y));
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "70 million libm calls")]
    fn exp_is_bit_identical_to_libm() {
        let Some(k) = kernels() else { return };
        crate::kernels::check::assert_exp_is_libm(k.exp);
    }

    #[test]
    fn per_row_quantization_is_bit_identical_to_scalar() {
        let Some(k) = kernels() else { return };
        // Halves (ties round away from zero), values a hair below a half, the largest
        // magnitude, zeros, negative zero, a NaN and an infinite row; 37 columns for a tail.
        let (m, kk) = (5, 37);
        let mut x = [0f32; 185];
        for (i, v) in x.iter_mut().enumerate() {
            *v = match i % 7 {
                0 => (i as f32 - 90.0) * 0.5,
                1 => 0.499_999_97 * (i as f32 - 90.0).signum(),
                2 => -0.0,
                _ => ((i * 37 % 101) as f32 - 50.0) / 3.0,
            };
        }
        x[kk] = 127.0 / 3.0; // row 1's maximum lands a product exactly on 127
        x[2 * kk + 5] = f32::NAN;
        x[3 * kk + 3] = f32::INFINITY;
        x[4 * kk..].iter_mut().for_each(|v| *v = 0.0);
        let (mut q1, mut q2) = ([0i8; 185], [0i8; 185]);
        let (mut s1, mut s2) = ([0f32; 5], [0f32; 5]);
        (k.quantize_rows)(&x, &mut q1, &mut s1, m, kk);
        scalar::quantize_rows(&x, &mut q2, &mut s2, m, kk);
        assert_eq!(q1, q2);
        assert_eq!(s1.map(f32::to_bits), s2.map(f32::to_bits));
        // Ties: exact halves of the scale round away from zero.
        let row: [f32; 8] = [127.0, 0.5, -0.5, 1.5, -2.5, 2.5, 126.5, -126.5];
        let (mut q, mut s) = ([0i8; 8], [0f32; 1]);
        (k.quantize_rows)(&row, &mut q, &mut s, 1, 8);
        assert_eq!(q, [127, 1, -1, 2, -3, 3, 127, -127]);
    }

    #[test]
    fn matmul_and_quantize_match_scalar_exactly() {
        let Some(k) = kernels() else { return };
        let (m, kk, n) = (3, 70, 9);
        let mut xf: heapless::Vec<f32, 210> = (0..m * kk)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 3.0 + 0.5)
            .collect();
        // A NaN and infinities inside the vector body (the scalar table gives 0 and +-127).
        xf[3] = f32::NAN;
        xf[9] = f32::INFINITY;
        xf[10] = f32::NEG_INFINITY;
        let mut xq = [0i8; 210];
        let mut xq2 = [0i8; 210];
        (k.quantize_static)(&xf, &mut xq, 1.0 / 0.125);
        scalar::quantize_static(&xf, &mut xq2, 1.0 / 0.125);
        assert_eq!(xq, xq2, "rounding and clamping agree");
        let w: heapless::Vec<i8, 630> = (0..n * kk).map(|i| (i * 91 % 256) as u8 as i8).collect();
        let xs = [0.5f32, 1.0, 2.0];
        let ws: heapless::Vec<f32, 9> = (0..n).map(|j| 0.01 * (j + 1) as f32).collect();
        let (mut y1, mut y2) = ([0f32; 27], [0f32; 27]);
        (k.matmul_i8)(&xq, &xs, &w, &ws, &mut y1, m, kk, n);
        scalar::matmul_i8(&xq, &xs, &w, &ws, &mut y2, m, kk, n);
        assert_eq!(y1, y2);
    }

    #[test]
    fn float_kernels_are_bit_identical_to_scalar() {
        let Some(k) = kernels() else { return };
        let a: heapless::Vec<f32, 300> = (0..300)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
            .collect();
        let b: heapless::Vec<f32, 300> = (0..300)
            .map(|i| ((i * 53 % 89) as f32 - 44.0) / 5.0)
            .collect();
        for n in [0, 7, 8, 16, 17, 300] {
            let (d, s) = ((k.dot)(&a[..n], &b[..n]), scalar::dot(&a[..n], &b[..n]));
            assert_eq!(d.to_bits(), s.to_bits(), "{n}: {d} vs {s}");
            let mut y1 = b.clone();
            let mut y2 = b.clone();
            (k.axpy)(0.37, &a[..n], &mut y1[..n]);
            scalar::axpy(0.37, &a[..n], &mut y2[..n]);
            assert_eq!(y1, y2);
        }
        // f16 weights: the F16C product against the scalar one, bit for bit.
        let wh: heapless::Vec<half::f16, 300> = b.iter().map(|&v| half::f16::from_f32(v)).collect();
        for (m, kk, n) in [(1usize, 37usize, 3usize), (2, 64, 4), (3, 16, 5)] {
            let (mut y1, mut y2) = ([0f32; 15], [0f32; 15]);
            (k.matmul_f16)(&a[..m * kk], &wh[..n * kk], &mut y1[..m * n], m, kk, n);
            scalar::matmul_f16(&a[..m * kk], &wh[..n * kk], &mut y2[..m * n], m, kk, n);
            assert_eq!(
                y1.map(f32::to_bits),
                y2.map(f32::to_bits),
                "f16 {m}x{kk}x{n}"
            );
        }
        // Attention's row kernels: widths with 32-float blocks, 8-float blocks and a tail.
        // Eleven rows: a group of eight and three more.
        let p = [
            0.31f32, -1.7, 0.05, 2.5, -0.61, 1.1, -0.2, 0.9, 3.3, -2.2, 0.01,
        ];
        for n in [0, 7, 8, 16, 32, 45, 72] {
            let offs = [3usize, 120, 0, 200, 57, 9, 250, 31, 77, 140, 5].map(|o| o.min(300 - n));
            let (mut y1, mut y2) = (b.clone(), b.clone());
            (k.axpy_rows)(&p, &a, &offs, &mut y1[..n]);
            scalar::axpy_rows(&p, &a, &offs, &mut y2[..n]);
            assert_eq!(y1, y2, "axpy_rows {n}");
            let (mut d1, mut d2) = ([0f32; 11], [0f32; 11]);
            (k.dots)(&b[..n], &a, &offs, &mut d1);
            scalar::dots(&b[..n], &a, &offs, &mut d2);
            assert_eq!(d1.map(f32::to_bits), d2.map(f32::to_bits), "dots {n}");
        }
    }
}
