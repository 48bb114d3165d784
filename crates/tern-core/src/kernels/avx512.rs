//! x86-64 AVX-512 VNNI int8 kernels (Ice Lake, Zen 4 and later), laid over the AVX2 table.
//!
//! `vpdpbusd` multiplies unsigned by signed bytes and adds groups of four straight into i32
//! lanes, without the i16 saturation of AVX2's `maddubs`. The weight's sign is moved onto the
//! activation as in the AVX2 kernel (`|w| * sign(w) x`, exact for every input tern produces) where
//! two activation rows share a weight load (GEMM); the one-row GEMV instead offsets the
//! activation to unsigned and subtracts `128 * sum(w)`, two instructions per 64 weights.

use super::{avx2, Kernels};
use core::arch::x86_64::*;

/// The AVX-512 VNNI table, if this CPU has it (and AVX2 for everything else).
pub fn kernels() -> Option<Kernels> {
    let base = avx2::kernels()?;
    if detected() {
        Some(Kernels {
            name: "avx512vnni",
            dot_i8,
            matmul_i8,
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
    unsafe { dot_rows::<1, false>(a, b, a.len().min(b.len()))[0] }
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
    // SAFETY: AVX-512 F/BW/VNNI are present (see `kernels`).
    unsafe { matmul_i8_vnni(xq, xs, wq, ws, y, m, k, n) }
}

/// [`matmul_i8`]'s loops, compiled with the kernels' features so that the tiles, their sums and
/// the scaled stores inline into one body and keep their values in registers.
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
) {
    let mut j = 0;
    while j + 4 <= n {
        let w = &wq[j * k..(j + 4) * k];
        let mut i = 0;
        // The tiles' correction, 128 * sum(w), once for the four weight rows.
        let corr = if m >= 2 {
            // SAFETY: AVX-512 F/BW/VNNI are present (see `kernels`).
            unsafe { row_sums(w, k) }.map(|s| s << 7)
        } else {
            [0; 4]
        };
        // Four (then two) input rows share each weight load.
        while i + 4 <= m {
            // SAFETY: AVX-512 F/BW/VNNI are present (see `kernels`).
            let d = unsafe { dot_tile::<4>(&xq[i * k..(i + 4) * k], w, k, corr) };
            store(y, &d, i, j, n, xs, ws);
            i += 4;
        }
        while i + 2 <= m {
            // SAFETY: AVX-512 F/BW/VNNI are present (see `kernels`).
            let d = unsafe { dot_tile::<2>(&xq[i * k..(i + 2) * k], w, k, corr) };
            store(y, &d, i, j, n, xs, ws);
            i += 2;
        }
        if i < m {
            // SAFETY: AVX-512 F/BW/VNNI are present (see `kernels`).
            let d = unsafe {
                if n * k >= PREFETCH_FROM {
                    dot_rows::<4, true>(&xq[i * k..(i + 1) * k], w, k)
                } else {
                    dot_rows::<4, false>(&xq[i * k..(i + 1) * k], w, k)
                }
            };
            store(y, &[d], i, j, n, xs, ws);
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

/// Writes a tile of integer dots (rows `i..`, columns `j..j + 4`) scaled to `y`.
#[inline(always)]
fn store<const M: usize>(
    y: &mut [f32],
    d: &[[i32; 4]; M],
    i: usize,
    j: usize,
    n: usize,
    xs: &[f32],
    ws: &[f32],
) {
    let ws = &ws[j..j + 4];
    for (r, row) in d.iter().enumerate() {
        let (out, s) = (&mut y[(i + r) * n + j..][..4], xs[i + r]);
        for ((o, &v), &w) in out.iter_mut().zip(row).zip(ws) {
            *o = v as f32 * (s * w);
        }
    }
}

/// Sums of four i32 accumulators, in order.
#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
fn sum4(acc: &[__m512i; 4]) -> [i32; 4] {
    let half =
        |v: __m512i| _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64::<1>(v));
    let s01 = _mm256_hadd_epi32(half(acc[0]), half(acc[1]));
    let s23 = _mm256_hadd_epi32(half(acc[2]), half(acc[3]));
    let s = _mm256_hadd_epi32(s01, s23);
    let s = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256::<1>(s));
    [
        _mm_extract_epi32::<0>(s),
        _mm_extract_epi32::<1>(s),
        _mm_extract_epi32::<2>(s),
        _mm_extract_epi32::<3>(s),
    ]
}

/// Sums of the first `k - k % 64` bytes of 4 consecutive `k`-byte rows of `w` (the part
/// [`dot_tile`] runs through `dpbusd`).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn row_sums(w: &[i8], k: usize) -> [i32; 4] {
    assert!(w.len() >= 4 * k);
    let pw = w.as_ptr();
    let ones = _mm512_set1_epi8(1);
    let mut acc = [_mm512_setzero_si512(); 4];
    let mut i = 0;
    while i + 64 <= k {
        for (c, a) in acc.iter_mut().enumerate() {
            // SAFETY: i + 64 <= k: the load at c * k + i reads 64 bytes inside row c.
            let vw = unsafe { _mm512_loadu_si512(pw.add(c * k + i).cast()) };
            *a = _mm512_dpbusd_epi32(*a, ones, vw);
        }
        i += 64;
    }
    sum4(&acc)
}

/// `M x 4` dot products: `M` consecutive `k`-byte rows of `x` with 4 consecutive rows of `w`.
/// As in [`dot_rows`], each activation is offset to unsigned (`x ^ 0x80 = x + 128`) so that
/// `dpbusd` multiplies it with the signed weight directly; `corr` (`128 *` [`row_sums`], the
/// same for every tile of these weight rows) is taken off at the end: exact.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn dot_tile<const M: usize>(x: &[i8], w: &[i8], k: usize, corr: [i32; 4]) -> [[i32; 4]; M] {
    assert!(x.len() >= M * k && w.len() >= 4 * k);
    let (px, pw) = (x.as_ptr(), w.as_ptr());
    let bias = _mm512_set1_epi8(-128);
    let mut acc = [[_mm512_setzero_si512(); 4]; M];
    let mut i = 0;
    while i + 64 <= k {
        // SAFETY: i + 64 <= k: every load at row * k + i reads 64 bytes inside its row.
        unsafe {
            let mut ux = [_mm512_setzero_si512(); M];
            for (r, u) in ux.iter_mut().enumerate() {
                *u = _mm512_xor_si512(_mm512_loadu_si512(px.add(r * k + i).cast()), bias);
            }
            for c in 0..4 {
                let vw = _mm512_loadu_si512(pw.add(c * k + i).cast());
                for (a, u) in acc.iter_mut().zip(&ux) {
                    a[c] = _mm512_dpbusd_epi32(a[c], *u, vw);
                }
            }
        }
        i += 64;
    }
    let mut out = [[0i32; 4]; M];
    for (o, a) in out.iter_mut().zip(&acc) {
        *o = sum4(a);
        for (v, c) in o.iter_mut().zip(corr) {
            *v -= c;
        }
    }
    for (xr, o) in out.iter_mut().enumerate() {
        for (c, v) in o.iter_mut().enumerate() {
            for t in i..k {
                *v += i32::from(x[xr * k + t]) * i32::from(w[c * k + t]);
            }
        }
    }
    out
}

/// How far ahead of the weight rows being read the GEMV prefetches into L2, in bytes (measured:
/// 2 KiB gains little, 8-12 KiB brings a 28 MiB GEMV from 11 to 30 GiB/s on Zen 4, the
/// machine's one-core read bandwidth).
const PREFETCH: usize = 8192;

/// Matrices at least this big (bytes) get the prefetch. Measured (2026-11-25): from 128 KiB
/// up, an OPUS-MT-sized decoder step goes from 3.2-3.6 to 2.6-2.9 ms and the Firefox tiny model
/// gains 5-8% (its 384 KiB FFN matrices); at 4 MiB only the output projection had it.
const PREFETCH_FROM: usize = 128 << 10;

/// `R` dot products of `x` (`k` bytes) with `R` consecutive `k`-byte rows of `w`.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn dot_rows<const R: usize, const PF: bool>(x: &[i8], w: &[i8], k: usize) -> [i32; R] {
    assert!(x.len() >= k && w.len() >= R * k);
    let (px, pw) = (x.as_ptr(), w.as_ptr());
    // x + 128 is unsigned, so `dpbusd` takes it as is with the signed weights; the 128 * sum(w)
    // this adds is counted alongside (`dpbusd` of ones and w) and taken off at the end. Two
    // instructions per 64 weights, none of them on the activation path per row.
    let (bias, ones) = (_mm512_set1_epi8(-128), _mm512_set1_epi8(1));
    let mut acc = [_mm512_setzero_si512(); R];
    let mut wsum = [_mm512_setzero_si512(); R];
    let mut i = 0;
    while i + 64 <= k {
        // SAFETY: i + 64 <= k: the 64-byte load of `x` is inside its first k bytes, and row r's
        // load at r * k + i stays inside `w`'s R * k bytes.
        unsafe {
            let ux = _mm512_xor_si512(_mm512_loadu_si512(px.add(i).cast()), bias);
            for r in 0..R {
                let vw = _mm512_loadu_si512(pw.add(r * k + i).cast());
                // Rows are short (k is d_model or the FFN width), so the hardware prefetcher
                // sees many short streams; ask for the bytes PREFETCH ahead, a few rows on. A
                // prefetch never faults, so past the end of `w` is harmless.
                if PF {
                    _mm_prefetch::<_MM_HINT_T1>(pw.wrapping_add(r * k + i + PREFETCH).cast());
                }
                acc[r] = _mm512_dpbusd_epi32(acc[r], ux, vw);
                wsum[r] = _mm512_dpbusd_epi32(wsum[r], ones, vw);
            }
        }
        i += 64;
    }
    for (a, s) in acc.iter_mut().zip(&wsum) {
        *a = _mm512_sub_epi32(*a, _mm512_slli_epi32::<7>(*s));
    }
    let mut out = [0i32; R];
    if R == 4 {
        out[..4].copy_from_slice(&sum4(&[acc[0], acc[1], acc[2], acc[3]]));
    } else {
        for (o, a) in out.iter_mut().zip(&acc) {
            *o = _mm512_reduce_add_epi32(*a);
        }
    }
    for (r, o) in out.iter_mut().enumerate() {
        for t in i..k {
            *o += i32::from(x[t]) * i32::from(w[r * k + t]);
        }
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
        // Every tile path (4, 2 and 1 rows; 4 columns and the rest), a k with a tail, random
        // values and the extremes that would saturate a 16-bit path.
        let kk = 200;
        let (xs, ws) = ([0.5f32, 1.0, 2.0, 0.125, 4.0, 1.5, 0.75], [0.25f32; 9]);
        for m in 1..=7 {
            for extreme in [false, true] {
                let x: heapless::Vec<i8, 1400> = (0..m * kk)
                    .map(|t| match (extreme, t % 3) {
                        (true, 0) => 127,
                        (true, _) => -127,
                        _ => ((rnd() % 255) as i8).max(-127),
                    })
                    .collect();
                let w: heapless::Vec<i8, 1800> = (0..9 * kk)
                    .map(|t| {
                        if extreme {
                            [-128, 127][t % 2]
                        } else {
                            rnd() as i8
                        }
                    })
                    .collect();
                let (mut y1, mut y2) = ([0f32; 63], [0f32; 63]);
                (k.matmul_i8)(&x, &xs[..m], &w, &ws, &mut y1[..m * 9], m, kk, 9);
                scalar::matmul_i8(&x, &xs[..m], &w, &ws, &mut y2[..m * 9], m, kk, 9);
                assert_eq!(y1, y2, "m {m}, extreme {extreme}");
            }
        }
    }

    #[test]
    fn large_gemv_with_prefetch_is_exact() {
        extern crate alloc;
        use alloc::vec;
        let Some(t) = kernels() else { return };
        // Over PREFETCH_FROM bytes, with the extremes: x = -127 / 127, w = -128 / 127.
        let (k, n) = (512, (PREFETCH_FROM / 512) + 7);
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
        let (mut y1, mut y2) = (vec![0f32; n], vec![0f32; n]);
        (t.matmul_i8)(&x, &[1.0], &w, &ws, &mut y1, 1, k, n);
        scalar::matmul_i8(&x, &[1.0], &w, &ws, &mut y2, 1, k, n);
        assert_eq!(y1, y2);
    }
}
