//! x86-64 AVX-512 VNNI int8 kernels (Ice Lake, Zen 4 and later), laid over the AVX2 table.
//!
//! `vpdpbusd` multiplies unsigned by signed bytes and adds groups of four straight into i32
//! lanes, without the i16 saturation of AVX2's `maddubs`. The weights are made unsigned
//! (`w ^ 0x80 = w + 128`, one `xor` per load) and the activations stay signed, so
//! `dpbusd(w + 128, x) = w.x + 128 sum(x)`: the correction belongs to the activation row, is
//! counted once per row per call, and every product is exact.

use super::{avx2, scalar, Kernels};
use core::arch::x86_64::*;

/// The AVX-512 VNNI table, if this CPU has it (and AVX2 for everything else).
pub fn kernels() -> Option<Kernels> {
    let base = avx2::kernels()?;
    if detected() {
        Some(Kernels {
            name: "avx512vnni",
            dot_i8,
            gemv_rows_i8,
            matmul_i8: matmul_i8::<false>,
            matmul_i8_streaming: Some(matmul_i8::<true>),
            quantize_static,
            ..base
        })
    } else {
        None
    }
}

#[cfg(feature = "std")]
fn detected() -> bool {
    std::is_x86_feature_detected!("avx512f")
        && std::is_x86_feature_detected!("avx512bw")
        && std::is_x86_feature_detected!("avx512vnni")
}

#[cfg(not(feature = "std"))]
fn detected() -> bool {
    cfg!(all(
        target_feature = "avx512f",
        target_feature = "avx512bw",
        target_feature = "avx512vnni"
    ))
}

// The safe wrappers below are only reachable through `kernels()`, which returns them only after
// the CPU features were detected.

fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    // SAFETY: AVX-512 F/BW/VNNI are present (see `kernels`).
    unsafe { dot_i8_vnni(a, b) }
}

fn quantize_static(x: &[f32], xq: &mut [i8], inv_scale: f32) {
    // SAFETY: AVX-512 F/BW/VNNI are present (see `kernels`).
    unsafe { quantize_static_avx512(x, xq, inv_scale) }
}

/// The scalar table's `quantize_static` sixteen values at a time (AVX2's eight): scaled, NaN
/// to 0, clamped to +-127, rounded half to even (`cvtps`, the default MXCSR mode), and narrowed
/// with `vpmovsdb`, which the clamp keeps from saturating. Every product's input passes here.
#[target_feature(enable = "avx512f")]
unsafe fn quantize_static_avx512(x: &[f32], xq: &mut [i8], inv_scale: f32) {
    let n = x.len().min(xq.len());
    let (px, pq) = (x.as_ptr(), xq.as_mut_ptr());
    let s = _mm512_set1_ps(inv_scale);
    let (lo, hi) = (_mm512_set1_ps(-127.0), _mm512_set1_ps(127.0));
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: i + 16 <= n: 16 floats are read from `x` and 16 bytes written to `xq`.
        unsafe {
            let v = _mm512_mul_ps(_mm512_loadu_ps(px.add(i)), s);
            // Lanes that are not NaN keep their value; NaN lanes become 0.
            let v = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask::<_CMP_ORD_Q>(v, v), v);
            let v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
            let q = _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(v));
            _mm_storeu_si128(pq.add(i).cast(), q);
        }
        i += 16;
    }
    scalar::quantize_static(&x[i..n], &mut xq[i..n], inv_scale);
}

/// [`dot_i8`] compiled with the kernels' features, so that [`dot_rows`] inlines.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn dot_i8_vnni(a: &[i8], b: &[i8]) -> i32 {
    let k = a.len().min(b.len());
    // SAFETY: AVX-512 F/BW/VNNI are present (this function's own features).
    unsafe { dot_rows::<1>(a, b, k, correction(&a[..k]))[0] }
}

fn gemv_rows_i8(xq: &[i8], xs: f32, wq: &[i8], ws: &[f32], rows: &[u32], y: &mut [f32]) {
    // SAFETY: AVX-512 F/BW/VNNI are present (see `kernels`).
    unsafe { gemv_rows_vnni(xq, xs, wq, ws, rows, y) }
}

/// [`gemv_rows_i8`] compiled with the kernels' features, so that [`gemv16`] inlines. Each
/// sixteen's rows are asked for while the sixteen before sum (see [`avx2::ROWS_AHEAD`]).
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn gemv_rows_vnni(xq: &[i8], xs: f32, wq: &[i8], ws: &[f32], rows: &[u32], y: &mut [f32]) {
    let k = xq.len();
    let corr = correction(xq);
    let mut s = 0;
    while s + 16 <= rows.len().min(y.len()) {
        let ids: [usize; 16] = core::array::from_fn(|t| rows[s + t] as usize);
        // The next sixteen rows are anywhere in the matrix: ask for them while these sum.
        for &r in rows.get(s + 16..s + 32).unwrap_or(&rows[s + 16..]) {
            avx2::prefetch_row(wq, r as usize * k, k);
        }
        let mut d = [0i32; 16];
        // SAFETY: AVX-512 F/BW/VNNI are present (see `kernels`); `d` holds 16 i32.
        unsafe {
            _mm512_storeu_si512(
                d.as_mut_ptr().cast(),
                gemv16(xq, wq, ids.map(|r| r * k), corr),
            )
        };
        for ((o, v), r) in y[s..s + 16].iter_mut().zip(d).zip(ids) {
            *o = v as f32 * (xs * ws[r]);
        }
        s += 16;
    }
    // The rest one by one, with the correction already counted.
    for (o, &r) in y[s..].iter_mut().zip(&rows[s..]) {
        let r = r as usize;
        // SAFETY: AVX-512 F/BW/VNNI are present (this function's own features).
        let d = unsafe { dot_rows::<1>(xq, &wq[r * k..(r + 1) * k], k, corr) }[0];
        *o = d as f32 * (xs * ws[r]);
    }
}

/// The table's `matmul_i8` (`STREAM` false) and `matmul_i8_streaming` (true: weights that
/// stream from memory, see [`gemv_vnni`]).
#[allow(clippy::too_many_arguments)]
fn matmul_i8<const STREAM: bool>(
    xq: &[i8],
    xs: &[f32],
    wq: &[i8],
    ws: &[f32],
    y: &mut [f32],
    m: usize,
    k: usize,
    n: usize,
) {
    // SAFETY: AVX-512 F/BW/VNNI are present (see `kernels`).
    unsafe { matmul_i8_vnni(xq, xs, wq, ws, y, m, k, n, STREAM) }
}

/// Activation rows per block: their corrections are counted once into a stack array, and each
/// block reads the weights once (a sentence's rows are usually one block).
const BLOCK: usize = 64;

/// The largest matrix (bytes) whose one-row product goes sixteen rows at a time ([`gemv16`]).
/// Measured (Zen 4, 2026-11-30): 10-25% faster up to 1 MiB (a cache-resident layer), but on a
/// 29.7 MB output projection streamed from memory 15% slower than four rows at a time.
const GEMV16_MAX: usize = 4 << 20;

/// Streamed rows this long and longer are read in address order with no software prefetch: the
/// hardware prefetcher keeps up with them, and the prefetch instructions only cost. Measured
/// (Zen 4, 2026-12-07, separate builds alternating, 4 rounds), against prefetching them and
/// taking NLLB's 1024 x 1024 and 1024 x 4096 layers sixteen rows at a time: the NLLB shape
/// 48.8 against 41.4 tokens/s; OPUS-MT and t5-small, whose FFN output layers have 2048-byte
/// rows, 371 against 367 and 560 against 547. Alone, NLLB's output projection (256206 x 1024,
/// 262 MB) read at 19.5-23 GB/s against 15-20 with the prefetch.
const STREAM_PREFETCH_BELOW: usize = 1024;

/// [`matmul_i8`]'s loops, compiled with the kernels' features so that the tiles, their sums and
/// the scaled stores inline into one body and keep their values in registers. One row of `x`
/// (batch-1 decoding) goes to [`gemv_vnni`]; `stream` picks its order of reads.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn matmul_i8_vnni(
    xq: &[i8],
    xs: &[f32],
    wq: &[i8],
    ws: &[f32],
    y: &mut [f32],
    m: usize,
    k: usize,
    n: usize,
    stream: bool,
) {
    if m == 1 {
        return gemv_vnni(&xq[..k], xs[0], &wq[..n * k], ws, &mut y[..n], stream);
    }
    let mut i0 = 0;
    while i0 < m {
        let rows = (m - i0).min(BLOCK);
        let mut corr = [0i32; BLOCK];
        for (r, c) in corr.iter_mut().enumerate().take(rows) {
            *c = correction(&xq[(i0 + r) * k..(i0 + r + 1) * k]);
        }
        let mut j = 0;
        while j + 4 <= n {
            let w = &wq[j * k..(j + 4) * k];
            if rows >= 2 {
                // The tiles read their four rows side by side; ask for the next four in address
                // order meanwhile, so that the hardware sees one stream (long rows into L2:
                // `avx2::L2_ROW_BYTES` says why).
                avx2::prefetch_four_rows(wq, j + 4, k, k >= avx2::L2_ROW_BYTES);
            }
            let mut i = i0;
            // Four (then two) input rows share each weight load.
            while i + 4 <= i0 + rows {
                let c = [0, 1, 2, 3].map(|r| corr[i - i0 + r]);
                // SAFETY: AVX-512 F/BW/VNNI are present (see `kernels`).
                unsafe {
                    let d = dot_tile::<4>(&xq[i * k..(i + 4) * k], w, k, c);
                    store_tile::<4>(y, d, i, j, n, xs, ws);
                }
                i += 4;
            }
            while i + 2 <= i0 + rows {
                let c = [corr[i - i0], corr[i - i0 + 1]];
                // SAFETY: AVX-512 F/BW/VNNI are present (see `kernels`).
                unsafe {
                    let d = dot_tile::<2>(&xq[i * k..(i + 2) * k], w, k, c);
                    store_tile::<2>(y, d, i, j, n, xs, ws);
                }
                i += 2;
            }
            if i < i0 + rows {
                let x = &xq[i * k..(i + 1) * k];
                // SAFETY: AVX-512 F/BW/VNNI are present (see `kernels`).
                unsafe {
                    let d = dot_rows::<4>(x, w, k, corr[i - i0]);
                    // SAFETY: `d` holds 4 i32.
                    let d = _mm512_zextsi128_si512(_mm_loadu_si128(d.as_ptr().cast()));
                    store_tile::<1>(y, d, i, j, n, xs, ws);
                }
            }
            j += 4;
        }
        for j in j..n {
            let w = &wq[j * k..(j + 1) * k];
            for i in i0..i0 + rows {
                let x = &xq[i * k..(i + 1) * k];
                // SAFETY: AVX-512 F/BW/VNNI are present (see `kernels`).
                let d = unsafe { dot_rows::<1>(x, w, k, corr[i - i0]) }[0];
                y[i * n + j] = d as f32 * (xs[i] * ws[j]);
            }
        }
        i0 += rows;
    }
}

/// This core's int8 peak with VNNI, for `cargo xtask bench`'s roofline line: `rounds` passes
/// over 2 KB of weights in L1, each 64-byte load one `dpbusd` into one of eight independent
/// accumulators, the only instruction a VNNI product needs (the products add the weights' bias
/// `xor` and the tiles' sums): `rounds * 2048` multiply-adds. `None` without AVX-512 VNNI.
/// The result only keeps the work from being optimized away.
pub fn peak_probe(rounds: usize) -> Option<i32> {
    let w = avx2::probe_weights();
    // SAFETY: AVX-512 F/BW/VNNI are present (checked first).
    detected().then(|| unsafe { peak_probe_vnni(&w, rounds) })
}

#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn peak_probe_vnni(w: &[i8; 2048], rounds: usize) -> i32 {
    let mut x = _mm512_set1_epi8(3);
    let mut acc = [_mm512_setzero_si512(); 8];
    let p = w.as_ptr();
    for _ in 0..rounds {
        // A new activation each pass: nothing is the same from one pass to the next.
        x = _mm512_add_epi8(x, _mm512_set1_epi8(1));
        for block in 0..4 {
            for (j, a) in acc.iter_mut().enumerate() {
                // SAFETY: (block * 8 + j) * 64 + 64 <= 2048: inside `w`.
                let v = unsafe { _mm512_loadu_si512(p.add((block * 8 + j) * 64).cast()) };
                *a = _mm512_dpbusd_epi32(*a, x, v);
            }
        }
    }
    let t = acc
        .iter()
        .fold(_mm512_setzero_si512(), |t, a| _mm512_add_epi32(t, *a));
    _mm512_reduce_add_epi32(t)
}

/// What the unsigned weights add to a row's dots: `128 *` the sum of the first `k - k % 64`
/// activations (the part that goes through `dpbusd`; the tail is multiplied exactly).
fn correction(x: &[i8]) -> i32 {
    let body = &x[..x.len() - x.len() % 64];
    // SAFETY: AVX-512 F/BW/VNNI are present (the only callers are this table's kernels).
    unsafe { sum_i8(body) << 7 }
}

/// The sum of `x` (a multiple of 64 bytes): `dpbusd` of ones and `x`.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn sum_i8(x: &[i8]) -> i32 {
    let ones = _mm512_set1_epi8(1);
    let mut acc = _mm512_setzero_si512();
    for c in x.chunks_exact(64) {
        // SAFETY: a 64-byte load from a 64-byte chunk.
        let v = unsafe { _mm512_loadu_si512(c.as_ptr().cast()) };
        acc = _mm512_dpbusd_epi32(acc, ones, v);
    }
    _mm512_reduce_add_epi32(acc)
}

/// The sums of each of four vectors' 128-bit lanes, side by side: lane `l` of the result holds
/// `[sum of a[0]'s lane l, .. a[3]'s]`. Two rounds of unpack-and-add, no horizontal adds.
#[inline]
#[target_feature(enable = "avx512f")]
fn fold_lanes(a: &[__m512i; 4]) -> __m512i {
    let pair = |x, y| _mm512_add_epi32(_mm512_unpacklo_epi32(x, y), _mm512_unpackhi_epi32(x, y));
    let (s01, s23) = (pair(a[0], a[1]), pair(a[2], a[3]));
    _mm512_add_epi32(
        _mm512_unpacklo_epi64(s01, s23),
        _mm512_unpackhi_epi64(s01, s23),
    )
}

/// Four [`fold_lanes`] results summed over their 128-bit lanes: lane `r` of the result is
/// `u[r]`'s four lanes added, so 32-bit element `4r + c` is the full sum of row r, column c.
#[inline]
#[target_feature(enable = "avx512f")]
fn fold_rows(u: &[__m512i; 4]) -> __m512i {
    // 0x88 takes lanes 0 and 2 of each operand, 0xdd lanes 1 and 3.
    let pair = |x, y| {
        _mm512_add_epi32(
            _mm512_shuffle_i32x4::<0x88>(x, y),
            _mm512_shuffle_i32x4::<0xdd>(x, y),
        )
    };
    pair(pair(u[0], u[1]), pair(u[2], u[3]))
}

/// `y = x * w^T` scaled, for one row `x` (`k` bytes) and the `n = y.len()` rows of `w`.
///
/// Cached weights (`stream` false) go sixteen rows at a time ([`gemv16_all`]) up to
/// [`GEMV16_MAX`]. Weights that stream from memory (a model whose step outgrows the caches:
/// `Kernels::streaming`) go four rows at a time, in address order. Rows shorter than
/// [`STREAM_PREFETCH_BELOW`] have the next four prefetched first: the hardware alone does not
/// run far enough ahead on short rows. Measured (Zen 4, 2026-12-07, separate processes
/// alternating, an A/A control alongside, medians): the t5-small shape +7-12% tokens/s, OPUS-MT
/// +15-21%; on the Firefox model, whose weights stay in cache, the same reads were 6% slower,
/// hence the switch.
#[inline(never)]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn gemv_vnni(x: &[i8], xs: f32, wq: &[i8], ws: &[f32], y: &mut [f32], stream: bool) {
    let (k, n) = (x.len(), y.len());
    let corr = correction(x);
    let mut j = 0;
    if !stream && n * k <= GEMV16_MAX {
        j = gemv16_all(x, xs, wq, ws, y, corr);
    }
    let prefetch = stream && k < STREAM_PREFETCH_BELOW;
    while j + 4 <= n {
        if prefetch {
            avx2::prefetch_four_rows(wq, j + 4, k, false);
        }
        // SAFETY: AVX-512 F/BW/VNNI are present (this function's own features).
        let d = unsafe { dot_rows::<4>(x, &wq[j * k..(j + 4) * k], k, corr) };
        for (t, &v) in d.iter().enumerate() {
            y[j + t] = v as f32 * (xs * ws[j + t]);
        }
        j += 4;
    }
    for j in j..n {
        // SAFETY: as above.
        let d = unsafe { dot_rows::<1>(x, &wq[j * k..(j + 1) * k], k, corr) }[0];
        y[j] = d as f32 * (xs * ws[j]);
    }
}

/// `y = x * w^T` scaled, for one row `x` and the first `n - n % 16` rows of `w` (`n = y.len()`),
/// sixteen at a time ([`gemv16`]); returns how many rows it did. Less `corr`, `x`'s
/// [`correction`]. Never inlined: inlined into [`gemv_vnni`], its sixteen accumulators cost the
/// four-row loop registers, and a streamed t5-small step took 6% longer (2026-12-07).
#[inline(never)]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn gemv16_all(x: &[i8], xs: f32, wq: &[i8], ws: &[f32], y: &mut [f32], corr: i32) -> usize {
    let (k, n) = (x.len(), y.len());
    let mut j = 0;
    while j + 16 <= n {
        // SAFETY: AVX-512 F/BW/VNNI are present (this function's own features).
        unsafe {
            let d = gemv16(x, wq, core::array::from_fn(|r| (j + r) * k), corr);
            let sw = _mm512_mul_ps(_mm512_set1_ps(xs), load16(&ws[j..j + 16]));
            let v = _mm512_mul_ps(_mm512_cvtepi32_ps(d), sw);
            let out = &mut y[j..j + 16];
            // SAFETY: `out` holds 16 floats.
            _mm512_storeu_ps(out.as_mut_ptr(), v);
        }
        j += 16;
    }
    j
}

/// Sixteen floats from a slice of (at least) sixteen.
#[inline]
#[target_feature(enable = "avx512f")]
fn load16(v: &[f32]) -> __m512 {
    assert!(v.len() >= 16);
    // SAFETY: 16 floats inside `v`.
    unsafe { _mm512_loadu_ps(v.as_ptr()) }
}

/// [`dot_rows`] for the sixteen `x.len()`-byte rows of `w` that start at `offs`, the dots less
/// `corr` as one vector: the rows' sums fold together ([`fold_lanes`], [`fold_rows`]) instead
/// of one horizontal sum per row.
///
/// # Safety
/// The CPU has AVX-512 F/BW/VNNI. Not a `target_feature` function, so that it can be
/// `inline(always)`: its callers are, and it must inline into both of them (called, its offsets go
/// through memory and a GEMV step takes 35% longer).
#[inline(always)]
unsafe fn gemv16(x: &[i8], w: &[i8], offs: [usize; 16], corr: i32) -> __m512i {
    let k = x.len();
    assert!(offs.iter().all(|&o| o + k <= w.len()));
    let px = x.as_ptr();
    // SAFETY: the intrinsics need AVX-512 F/BW/VNNI, which the caller has (the contract above);
    // the loads are inside `x` and `w` as said at each.
    unsafe {
        let bias = _mm512_set1_epi8(-128);
        let mut acc = [_mm512_setzero_si512(); 16];
        for (a, &o) in acc.iter_mut().zip(&offs) {
            let pw = w.as_ptr().wrapping_add(o);
            let mut i = 0;
            while i + 64 <= k {
                // i + 64 <= k: both loads are inside the first k bytes of `x` and of the row at
                // `o` (o + k <= w.len()).
                let vx = _mm512_loadu_si512(px.add(i).cast());
                let uw = _mm512_xor_si512(_mm512_loadu_si512(pw.add(i).cast()), bias);
                *a = _mm512_dpbusd_epi32(*a, uw, vx);
                i += 64;
            }
        }
        let folded: [__m512i; 4] = core::array::from_fn(|q| {
            fold_lanes(&[acc[4 * q], acc[4 * q + 1], acc[4 * q + 2], acc[4 * q + 3]])
        });
        let sums = _mm512_sub_epi32(fold_rows(&folded), _mm512_set1_epi32(corr));
        if k.is_multiple_of(64) {
            return sums;
        }
        let mut all = [0i32; 16];
        // `all` holds 16 i32.
        _mm512_storeu_si512(all.as_mut_ptr().cast(), sums);
        let body = k - k % 64;
        for (v, &o) in all.iter_mut().zip(&offs) {
            *v += scalar::dot_i8(&x[body..], &w[o + body..o + k]);
        }
        _mm512_loadu_si512(all.as_ptr().cast())
    }
}

/// `M x 4` dot products: `M` consecutive `k`-byte rows of `x` with 4 consecutive rows of `w`,
/// less each row's [`correction`] (`corr`).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn dot_tile<const M: usize>(x: &[i8], w: &[i8], k: usize, corr: [i32; M]) -> __m512i {
    assert!(x.len() >= M * k && w.len() >= 4 * k);
    let (px, pw) = (x.as_ptr(), w.as_ptr());
    let bias = _mm512_set1_epi8(-128);
    let mut acc = [[_mm512_setzero_si512(); 4]; M];
    let mut i = 0;
    while i + 64 <= k {
        // SAFETY: i + 64 <= k: every load at row * k + i reads 64 bytes inside its row.
        unsafe {
            let mut vx = [_mm512_setzero_si512(); M];
            for (r, v) in vx.iter_mut().enumerate() {
                *v = _mm512_loadu_si512(px.add(r * k + i).cast());
            }
            for c in 0..4 {
                let uw = _mm512_xor_si512(_mm512_loadu_si512(pw.add(c * k + i).cast()), bias);
                for (a, v) in acc.iter_mut().zip(&vx) {
                    a[c] = _mm512_dpbusd_epi32(a[c], uw, *v);
                }
            }
        }
        i += 64;
    }
    // Each row's four sums, then all rows' at once.
    let folded: [__m512i; 4] = core::array::from_fn(|r| fold_lanes(&acc[r % M]));
    let mut c4 = [0i32; 4];
    c4[..M].copy_from_slice(&corr);
    // SAFETY: `c4` holds 4 i32.
    let c4 = unsafe { _mm_loadu_si128(c4.as_ptr().cast()) };
    let sums = _mm512_sub_epi32(
        fold_rows(&folded),
        _mm512_permutexvar_epi32(by_row(), _mm512_zextsi128_si512(c4)),
    );
    if k.is_multiple_of(64) {
        return sums;
    }
    let mut all = [0i32; 16];
    // SAFETY: `all` holds 16 i32.
    unsafe { _mm512_storeu_si512(all.as_mut_ptr().cast(), sums) };
    for r in 0..M {
        for c in 0..4 {
            all[4 * r + c] +=
                scalar::dot_i8(&x[r * k + i..(r + 1) * k], &w[c * k + i..(c + 1) * k]);
        }
    }
    // SAFETY: as the store.
    unsafe { _mm512_loadu_si512(all.as_ptr().cast()) }
}

/// The permutation that spreads 4 per-row values over the 16 lanes of a tile (`4r + c` <- `r`).
#[inline]
#[target_feature(enable = "avx512f")]
fn by_row() -> __m512i {
    _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3)
}

/// Writes an `M x 4` tile of integer dots (element `4r + c` is row `i + r`, column `j + c`)
/// scaled to `y`: `d * (xs * ws)`, the scalar table's operations lane by lane.
#[inline]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
fn store_tile<const M: usize>(
    y: &mut [f32],
    d: __m512i,
    i: usize,
    j: usize,
    n: usize,
    xs: &[f32],
    ws: &[f32],
) {
    let mut x4 = [0f32; 4];
    x4[..M].copy_from_slice(&xs[i..i + M]);
    let w4 = &ws[j..j + 4];
    // SAFETY: `x4` and `w4` hold 4 floats each.
    let (x4, w4) = unsafe { (_mm_loadu_ps(x4.as_ptr()), _mm_loadu_ps(w4.as_ptr())) };
    let scale = _mm512_mul_ps(
        _mm512_permutexvar_ps(by_row(), _mm512_zextps128_ps512(x4)),
        _mm512_broadcast_f32x4(w4),
    );
    let v = _mm512_mul_ps(_mm512_cvtepi32_ps(d), scale);
    let lanes = [
        _mm512_extractf32x4_ps::<0>(v),
        _mm512_extractf32x4_ps::<1>(v),
        _mm512_extractf32x4_ps::<2>(v),
        _mm512_extractf32x4_ps::<3>(v),
    ];
    for (r, lane) in lanes.iter().enumerate().take(M) {
        let out = &mut y[(i + r) * n + j..(i + r) * n + j + 4];
        // SAFETY: `out` holds 4 floats.
        unsafe { _mm_storeu_ps(out.as_mut_ptr(), *lane) };
    }
}

/// `R` dot products of `x` (`k` bytes) with `R` consecutive `k`-byte rows of `w`, less `x`'s
/// [`correction`] `corr`, one row after the other so that the weights are read in address
/// order. Rows are short (k is d_model or the FFN width): reading the rows side by side, 64
/// bytes of each in turn, showed the hardware prefetcher `R` short streams, and an
/// OPUS-MT-sized decoder step took 2.6 ms with a software prefetch 8 KiB ahead (3.5 ms without);
/// read in order it takes 1.8 ms, no prefetch needed (Zen 4, 2026-11-30). `x` is re-read for
/// every row, from L1.
///
/// # Safety
/// The CPU has AVX-512 F/BW/VNNI. Not a `target_feature` function, so that it can be
/// `inline(always)` (as [`gemv16`]): its callers are, and its loops belong in theirs.
#[inline(always)]
unsafe fn dot_rows<const R: usize>(x: &[i8], w: &[i8], k: usize, corr: i32) -> [i32; R] {
    assert!(x.len() >= k && w.len() >= R * k);
    let (px, pw) = (x.as_ptr(), w.as_ptr());
    // SAFETY (every intrinsic below): the CPU has the features (this function's contract).
    let bias = unsafe { _mm512_set1_epi8(-128) };
    let mut acc = [unsafe { _mm512_setzero_si512() }; R];
    for (r, a) in acc.iter_mut().enumerate() {
        let mut i = 0;
        while i + 64 <= k {
            // SAFETY: i + 64 <= k: the 64-byte load of `x` is inside its first k bytes, and row
            // r's load at r * k + i stays inside `w`'s R * k bytes.
            unsafe {
                let vx = _mm512_loadu_si512(px.add(i).cast());
                let uw = _mm512_xor_si512(_mm512_loadu_si512(pw.add(r * k + i).cast()), bias);
                *a = _mm512_dpbusd_epi32(*a, uw, vx);
            }
            i += 64;
        }
    }
    let mut out = [0i32; R];
    if R == 4 {
        let mut all = [0i32; 16];
        // SAFETY: `all` holds 16 i32.
        unsafe {
            let sums = fold_rows(&[fold_lanes(&[acc[0], acc[1], acc[2], acc[3]]); 4]);
            _mm512_storeu_si512(all.as_mut_ptr().cast(), sums);
        }
        out[..4].copy_from_slice(&all[..4]);
    } else {
        for (o, a) in out.iter_mut().zip(&acc) {
            // SAFETY: the CPU has AVX-512 F.
            *o = unsafe { _mm512_reduce_add_epi32(*a) };
        }
    }
    let body = k - k % 64;
    for (r, o) in out.iter_mut().enumerate() {
        // The tail only when there is one (see `avx2::dot4_i8_avx2`).
        if body < k {
            *o += scalar::dot_i8(&x[body..k], &w[r * k + body..(r + 1) * k]);
        }
        *o -= corr;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::scalar;

    #[test]
    fn int8_is_exact() {
        // Only where the CPU has VNNI; elsewhere `kernels()` is None and there is nothing to run.
        let Some(k) = kernels() else { return };
        let mut seed = 0x2468_ace1u32;
        let mut rnd = || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        for len in [0usize, 1, 63, 64, 65, 128, 256, 300, 1536] {
            let a: heapless::Vec<i8, 1536> = (0..len)
                .map(|_| (rnd() % 255) as i8)
                .map(|v| v.max(-127))
                .collect();
            let b: heapless::Vec<i8, 1536> = (0..len).map(|_| rnd() as i8).collect();
            assert_eq!((k.dot_i8)(&a, &b), scalar::dot_i8(&a, &b), "len {len}");
        }
        for (x, y) in [
            (127i8, 127i8),
            (-127, -128),
            (127, -128),
            (-127, 127),
            (0, -128),
        ] {
            assert_eq!(
                (k.dot_i8)(&[x; 128], &[y; 128]),
                128 * i32::from(x) * i32::from(y)
            );
        }
        // Every tile path (4, 2 and 1 rows; 16 columns for one row, 4 columns and the rest), a
        // k with a tail, random values and the extremes that would saturate a 16-bit path.
        let (kk, n) = (200, 21);
        let xs = [0.5f32, 1.0, 2.0, 0.125, 4.0, 1.5, 0.75];
        let ws: heapless::Vec<f32, 21> = (0..n).map(|j| 0.25 + j as f32 / 8.0).collect();
        for m in 1..=7 {
            for extreme in [false, true] {
                let x: heapless::Vec<i8, 1400> = (0..m * kk)
                    .map(|t| match (extreme, t % 3) {
                        (true, 0) => 127,
                        (true, _) => -127,
                        _ => ((rnd() % 255) as i8).max(-127),
                    })
                    .collect();
                let w: heapless::Vec<i8, 4200> = (0..n * kk)
                    .map(|t| {
                        if extreme {
                            [-128, 127][t % 2]
                        } else {
                            rnd() as i8
                        }
                    })
                    .collect();
                let (mut y1, mut y2) = ([0f32; 147], [0f32; 147]);
                (k.matmul_i8)(&x, &xs[..m], &w, &ws, &mut y1[..m * n], m, kk, n);
                scalar::matmul_i8(&x, &xs[..m], &w, &ws, &mut y2[..m * n], m, kk, n);
                assert_eq!(y1, y2, "m {m}, extreme {extreme}");
            }
        }
    }

    /// The probe does the multiply-adds it counts: one pass is every weight byte times the
    /// pass's activation (4).
    #[test]
    fn peak_probe_counts_every_weight_once_a_pass() {
        let Some(got) = peak_probe(1) else { return };
        let sum: i32 = avx2::probe_weights().iter().map(|&w| i32::from(w)).sum();
        assert_eq!(got, 4 * sum);
    }

    #[test]
    fn shortlisted_rows_are_exact() {
        let Some(t) = kernels() else { return };
        let mut seed = 0x1357_9bdfu32;
        let mut rnd = || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        // Sixteens and a rest, rows out of order and repeated, k with and without a tail.
        let rows: heapless::Vec<u32, 37> = (0..37).map(|_| rnd() % 50).collect();
        let ws: heapless::Vec<f32, 50> = (0..50).map(|j| 0.5 + j as f32 / 16.0).collect();
        for k in [200usize, 256] {
            let x: heapless::Vec<i8, 256> =
                (0..k).map(|_| ((rnd() % 255) as i8).max(-127)).collect();
            let w: heapless::Vec<i8, 12800> = (0..50 * k).map(|_| rnd() as i8).collect();
            let (mut y1, mut y2) = ([0f32; 37], [0f32; 37]);
            (t.gemv_rows_i8)(&x, 0.75, &w, &ws, &rows, &mut y1);
            scalar::gemv_rows_with(scalar::dot_i8, &x, 0.75, &w, &ws, &rows, &mut y2);
            assert_eq!(y1, y2, "k {k}");
        }
    }

    #[test]
    fn large_gemv_is_exact() {
        extern crate alloc;
        use alloc::vec;
        let Some(t) = kernels() else { return };
        let streaming = t
            .matmul_i8_streaming
            .expect("the VNNI table has a streaming product");
        // Matrices the size of a model's, with a tail of rows: four at a time when streamed
        // (prefetched, then one of NLLB's width, not), sixteen when cached. Extremes:
        // x = -127 / 127, w = -128 / 127.
        for (k, n) in [(512usize, 263usize), (1024, 1030)] {
            let x: vec::Vec<i8> = (0..k)
                .map(|i| if i % 3 == 0 { -127 } else { 127 })
                .collect();
            let w: vec::Vec<i8> = (0..n * k)
                .map(|i| match i % 5 {
                    0 => -128,
                    1 => 127,
                    _ => (i.wrapping_mul(2654435761) >> 13) as i8,
                })
                .collect();
            let ws = vec![1.0f32; n];
            let (mut y1, mut y2, mut y3) = (vec![0f32; n], vec![0f32; n], vec![0f32; n]);
            (t.matmul_i8)(&x, &[1.0], &w, &ws, &mut y1, 1, k, n);
            streaming(&x, &[1.0], &w, &ws, &mut y3, 1, k, n);
            scalar::matmul_i8(&x, &[1.0], &w, &ws, &mut y2, 1, k, n);
            assert_eq!(y1, y2, "k {k} n {n}");
            assert_eq!(y3, y2, "streamed, k {k} n {n}");
        }
    }
}
