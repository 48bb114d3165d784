//! WebAssembly `simd128` kernels (browsers, Node, Wasmtime), laid over the scalar table.
//!
//! - int8: operands widened to i16 as they are loaded (`v128.load8x8_s`) and
//!   `i32x4.dot_i16x8_s` (x86's `pmaddwd`) multiplies and adds pairs into i32 lanes; four
//!   weight rows share each activation load (the decoder), two activation rows share each
//!   weight load (the encoder, batches). Exact integer sums, so the text is the scalar one.
//! - f32 `dot` / `dots` / `axpy`: four `f32x4` accumulators are [`scalar::dot`]'s two 8-lane
//!   ones, reduced in its order with separate multiplies and adds (wasm has no fused
//!   multiply-add outside relaxed SIMD), so the bits are the scalar table's too.
//!
//! Relaxed SIMD's `i32x4.relaxed_dot_i8x16_i7x16_add_s` is not used: one operand must fit in 7
//! bits, and int8 weights use all eight.
//!
//! Compiled only when the build enables `simd128` (`.cargo/config.toml` does for wasm32): a
//! wasm module cannot test for it at run time. Chrome and Firefox have it since 2021, Safari
//! since 16.4 (2023), Node since 16.4.

use super::{scalar, Kernels};
use core::arch::wasm32::*;

/// The `simd128` table.
pub const SIMD128: Kernels = Kernels {
    name: "simd128",
    dot_i8,
    gemv_rows_i8,
    matmul_i8,
    dot,
    dots: |q, rows, offs, out| scalar::dots_with(dot, q, rows, offs, out),
    axpy,
    axpy_rows: |p, rows, offs, y| scalar::axpy_rows_with(axpy, p, rows, offs, y),
    matmul_f32: |x, w, y, m, k, n| scalar::matmul_f32_with(dot, x, w, y, (m, k, n)),
    quantize_static,
    ..scalar::KERNELS
};

/// 16 bytes at `s[at..]` as a vector.
#[inline(always)]
fn load_i8(s: &[i8], at: usize) -> v128 {
    let c = &s[at..at + 16];
    // SAFETY: `c` is 16 readable bytes (the slice above is bounds-checked); `v128_load` has no
    // alignment requirement.
    unsafe { v128_load(c.as_ptr().cast()) }
}

/// 4 floats at `s[at..]` as a vector.
#[inline(always)]
fn load_f32(s: &[f32], at: usize) -> v128 {
    let c = &s[at..at + 4];
    // SAFETY: `c` is 16 readable bytes (bounds-checked above); no alignment requirement.
    unsafe { v128_load(c.as_ptr().cast()) }
}

/// `acc += a * b` for 16 int8 pairs, into 4 i32 lanes.
#[inline(always)]
fn mac_i8(acc: v128, a: v128, b: v128) -> v128 {
    let lo = i32x4_dot_i16x8(i16x8_extend_low_i8x16(a), i16x8_extend_low_i8x16(b));
    let hi = i32x4_dot_i16x8(i16x8_extend_high_i8x16(a), i16x8_extend_high_i8x16(b));
    i32x4_add(acc, i32x4_add(lo, hi))
}

#[inline(always)]
fn sum_i32x4(v: v128) -> i32 {
    i32x4_extract_lane::<0>(v)
        .wrapping_add(i32x4_extract_lane::<1>(v))
        .wrapping_add(i32x4_extract_lane::<2>(v))
        .wrapping_add(i32x4_extract_lane::<3>(v))
}

fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let body = n & !15;
    let mut s = i32x4_splat(0);
    for at in (0..body).step_by(16) {
        s = mac_i8(s, load_i8(a, at), load_i8(b, at));
    }
    sum_i32x4(s) + scalar::dot_i8(&a[body..n], &b[body..n])
}

/// 8 int8 values at `p`, widened to i16 by the load itself (`v128.load8x8_s`: one x86
/// `pmovsxbw` from memory, where a 16-byte load then two widenings take four instructions).
///
/// # Safety
/// `p` must be readable for 8 bytes.
#[inline(always)]
unsafe fn load8_i16(p: *const i8) -> v128 {
    // SAFETY: the caller's contract; no alignment requirement.
    unsafe { i16x8_load_extend_i8x8(p) }
}

/// Dot products of `x` with four rows, each activation load used four times; the tail (under
/// 16) is left to the caller. Every slice holds at least `body` (a multiple of 16) values.
/// Exact: `i32x4.dot_i16x8_s` sums pairs of i16 products in i32.
fn dot4(x: &[i8], rows: [&[i8]; 4], body: usize) -> [i32; 4] {
    let x = &x[..body];
    let rows = rows.map(|r| &r[..body]);
    let mut s = [i32x4_splat(0); 4];
    for at in (0..body).step_by(16) {
        // SAFETY: `at + 16 <= body`, the length every slice was cut to above (which panics if
        // one is shorter), so both 8-byte loads at `at` and `at + 8` are inside. Raw loads:
        // bounds checks here cost more than the arithmetic.
        unsafe {
            let xl = load8_i16(x.as_ptr().add(at));
            let xh = load8_i16(x.as_ptr().add(at + 8));
            for (acc, row) in s.iter_mut().zip(rows) {
                let lo = i32x4_dot_i16x8(xl, load8_i16(row.as_ptr().add(at)));
                let hi = i32x4_dot_i16x8(xh, load8_i16(row.as_ptr().add(at + 8)));
                *acc = i32x4_add(*acc, i32x4_add(lo, hi));
            }
        }
    }
    s.map(sum_i32x4)
}

/// [`dot4`] for two activation rows at once: each weight load is used twice too (the encoder
/// and batches, where several rows meet the same weights).
fn dot2x4(x: [&[i8]; 2], rows: [&[i8]; 4], body: usize) -> [[i32; 4]; 2] {
    let x = x.map(|r| &r[..body]);
    let rows = rows.map(|r| &r[..body]);
    let mut s = [[i32x4_splat(0); 4]; 2];
    for at in (0..body).step_by(16) {
        // SAFETY: as in `dot4`: every slice is `body` long and `at + 16 <= body`.
        unsafe {
            let x0l = load8_i16(x[0].as_ptr().add(at));
            let x0h = load8_i16(x[0].as_ptr().add(at + 8));
            let x1l = load8_i16(x[1].as_ptr().add(at));
            let x1h = load8_i16(x[1].as_ptr().add(at + 8));
            for (t, row) in rows.iter().enumerate() {
                let wl = load8_i16(row.as_ptr().add(at));
                let wh = load8_i16(row.as_ptr().add(at + 8));
                let d0 = i32x4_add(i32x4_dot_i16x8(x0l, wl), i32x4_dot_i16x8(x0h, wh));
                let d1 = i32x4_add(i32x4_dot_i16x8(x1l, wl), i32x4_dot_i16x8(x1h, wh));
                s[0][t] = i32x4_add(s[0][t], d0);
                s[1][t] = i32x4_add(s[1][t], d1);
            }
        }
    }
    s.map(|r| r.map(sum_i32x4))
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
    let body = k & !15;
    // The exact sum of row `i` of x with row `j` of w: a SIMD part and the scalar tail.
    let tail = |i: usize, j: usize| {
        scalar::dot_i8(
            &xq[i * k + body..(i + 1) * k],
            &wq[j * k + body..(j + 1) * k],
        )
    };
    let mut j = 0;
    while j + 4 <= n {
        let w: [&[i8]; 4] = core::array::from_fn(|t| &wq[(j + t) * k..(j + t + 1) * k]);
        let mut i = 0;
        while i + 2 <= m {
            let x = [&xq[i * k..(i + 1) * k], &xq[(i + 1) * k..(i + 2) * k]];
            for (r, sums) in dot2x4(x, w, body).into_iter().enumerate() {
                for (t, v) in sums.into_iter().enumerate() {
                    y[(i + r) * n + j + t] =
                        (v + tail(i + r, j + t)) as f32 * (xs[i + r] * ws[j + t]);
                }
            }
            i += 2;
        }
        if i < m {
            for (t, v) in dot4(&xq[i * k..(i + 1) * k], w, body)
                .into_iter()
                .enumerate()
            {
                y[i * n + j + t] = (v + tail(i, j + t)) as f32 * (xs[i] * ws[j + t]);
            }
        }
        j += 4;
    }
    for j in j..n {
        let w = &wq[j * k..(j + 1) * k];
        for i in 0..m {
            y[i * n + j] = scalar::dot_i8(&xq[i * k..(i + 1) * k], w) as f32 * (xs[i] * ws[j]);
        }
    }
}

/// [`super::GemvRowsI8`] four listed rows at a time (a shortlisted output layer).
fn gemv_rows_i8(xq: &[i8], xs: f32, wq: &[i8], ws: &[f32], rows: &[u32], y: &mut [f32]) {
    let k = xq.len();
    let body = k & !15;
    let row = |r: u32| &wq[r as usize * k..(r as usize + 1) * k];
    let (quads, rest) = rows.split_at(rows.len() & !3);
    for (ids, out) in quads.chunks_exact(4).zip(y.chunks_exact_mut(4)) {
        let w: [&[i8]; 4] = core::array::from_fn(|t| row(ids[t]));
        for (t, v) in dot4(xq, w, body).into_iter().enumerate() {
            let tail = scalar::dot_i8(&xq[body..], &w[t][body..]);
            out[t] = (v + tail) as f32 * (xs * ws[ids[t] as usize]);
        }
    }
    let y = &mut y[quads.len()..];
    scalar::gemv_rows_with(dot_i8, xq, xs, wq, ws, rest, y);
}

/// [`scalar::quantize_static`] four at a time: `f32x4.nearest` rounds half to even as `rintf`
/// does, the clamp is the same, and the saturating narrowings only see values within +-127.
fn quantize_static(x: &[f32], xq: &mut [i8], inv_scale: f32) {
    let n = x.len().min(xq.len());
    let body = n & !15;
    let (inv, lo, hi) = (
        f32x4_splat(inv_scale),
        f32x4_splat(-127.0),
        f32x4_splat(127.0),
    );
    let four = |at| {
        let v = f32x4_nearest(f32x4_mul(load_f32(x, at), inv));
        // NaN becomes 0, as `NaN as i8` does in the scalar kernel.
        i32x4_trunc_sat_f32x4(f32x4_min(f32x4_max(v, lo), hi))
    };
    for at in (0..body).step_by(16) {
        let a = i16x8_narrow_i32x4(four(at), four(at + 4));
        let b = i16x8_narrow_i32x4(four(at + 8), four(at + 12));
        let out = &mut xq[at..at + 16];
        // SAFETY: `out` is 16 writable bytes (bounds-checked above); no alignment requirement.
        unsafe { v128_store(out.as_mut_ptr().cast(), i8x16_narrow_i16x8(a, b)) };
    }
    scalar::quantize_static(&x[body..n], &mut xq[body..n], inv_scale);
}

/// [`scalar::dot`], four lanes at a time, in its order.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let body = n & !15;
    let mut acc = [f32x4_splat(0.0); 4];
    for at in (0..body).step_by(16) {
        for (l, v) in acc.iter_mut().enumerate() {
            let p = f32x4_mul(load_f32(a, at + 4 * l), load_f32(b, at + 4 * l));
            *v = f32x4_add(*v, p);
        }
    }
    // acc0 = lanes (0, 1) of `acc`, acc1 = (2, 3); v = acc0 + acc1; q = v[0..4] + v[4..8].
    let q = f32x4_add(f32x4_add(acc[0], acc[2]), f32x4_add(acc[1], acc[3]));
    let lane = |i| match i {
        0 => f32x4_extract_lane::<0>(q),
        1 => f32x4_extract_lane::<1>(q),
        2 => f32x4_extract_lane::<2>(q),
        _ => f32x4_extract_lane::<3>(q),
    };
    let mut s = (lane(0) + lane(2)) + (lane(1) + lane(3));
    for i in body..n {
        s += a[i] * b[i];
    }
    s
}

fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    let n = x.len().min(y.len());
    let body = n & !3;
    let av = f32x4_splat(a);
    for at in (0..body).step_by(4) {
        let v = f32x4_add(load_f32(y, at), f32x4_mul(av, load_f32(x, at)));
        let out = &mut y[at..at + 4];
        // SAFETY: `out` is 16 writable bytes (bounds-checked above); no alignment requirement.
        unsafe { v128_store(out.as_mut_ptr().cast(), v) };
    }
    for i in body..n {
        y[i] += a * x[i];
    }
}
