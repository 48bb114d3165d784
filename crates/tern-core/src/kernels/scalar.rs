//! Portable reference kernels: plain loops, the semantics every SIMD kernel is tested against.

use super::Kernels;
use half::f16;

/// The complete portable table.
pub const KERNELS: Kernels = Kernels {
    name: "scalar",
    matmul_f32,
    matmul_f16,
    matmul_i8,
    quantize_rows,
    quantize_static,
    dot_i8,
    gemv_rows_i8,
    dot,
    axpy,
    dots,
    axpy_rows,
    exp,
    fan_out: super::serial,
    matmul_i8_streaming: None,
};

/// [`dot`] of `q` with each row (attention scores).
pub fn dots(q: &[f32], rows: &[f32], offs: &[usize], out: &mut [f32]) {
    dots_with(dot, q, rows, offs, out)
}

/// [`dots`] with a table's own `dot`, row by row.
#[inline(always)]
pub fn dots_with(
    dot: impl Fn(&[f32], &[f32]) -> f32,
    q: &[f32],
    rows: &[f32],
    offs: &[usize],
    out: &mut [f32],
) {
    for (o, &r) in out.iter_mut().zip(offs) {
        *o = dot(q, &rows[r..r + q.len()]);
    }
}

/// [`axpy`] of each row in turn (attention's weighted sum of values).
pub fn axpy_rows(p: &[f32], rows: &[f32], offs: &[usize], y: &mut [f32]) {
    axpy_rows_with(axpy, p, rows, offs, y)
}

/// [`axpy_rows`] with a table's own `axpy`, row after row.
#[inline(always)]
pub fn axpy_rows_with(
    axpy: impl Fn(f32, &[f32], &mut [f32]),
    p: &[f32],
    rows: &[f32],
    offs: &[usize],
    y: &mut [f32],
) {
    for (&a, &r) in p.iter().zip(offs) {
        axpy(a, &rows[r..r + y.len()], y);
    }
}

/// `libm::expf`, bit for bit (the reference every table reproduces). Four lanes at a time
/// through [`exp_lane`], which has no branches, so LLVM can vectorize it (Helium, NEON); a group
/// with a lane where libm takes another path (|x| >= 87.34, NaN) goes to libm itself.
pub fn exp(x: &mut [f32]) {
    exp_by_groups(x, |g| {
        let normal = g.iter().all(|v| v.to_bits() & 0x7fff_ffff < 0x42ae_ac50);
        if normal {
            g.iter_mut().for_each(|v| *v = exp_lane(*v));
        }
        normal
    })
}

/// `exp` four values at a time: `group` (given four) computes them and returns `true`, or leaves it
/// untouched and returns `false` when a lane is on one of libm's special paths; such groups, and
/// the last few values, go to libm.
#[inline(always)]
pub fn exp_by_groups(x: &mut [f32], mut group: impl FnMut(&mut [f32]) -> bool) {
    let mut groups = x.chunks_exact_mut(4);
    for g in &mut groups {
        if !group(g) {
            g.iter_mut().for_each(|v| *v = libm::expf(*v));
        }
    }
    groups
        .into_remainder()
        .iter_mut()
        .for_each(|v| *v = libm::expf(*v));
}

/// `libm::expf(x)` for |x| < 87.34 (FreeBSD's `e_expf.c`), its branches turned into selects:
/// the same operations in the same order, so the same bits.
#[inline(always)]
fn exp_lane(x: f32) -> f32 {
    const LN2_HI: f32 = 6.931_457_5e-1;
    const LN2_LO: f32 = 1.428_606_8e-6;
    const INV_LN2: f32 = core::f32::consts::LOG2_E;
    const P1: f32 = 1.666_662_5e-1;
    const P2: f32 = -2.766_733_3e-3;
    let hx = x.to_bits() & 0x7fff_ffff;
    let neg = (x.to_bits() >> 31) as i32;
    // |x| > 1.5 ln2: k = (int)(x / ln2 +- 0.5); 0.5 ln2 < |x| <= 1.5 ln2: k = +-1; else 0.
    let half = if neg != 0 { -0.5 } else { 0.5 };
    let k_big = (INV_LN2 * x + half) as i32;
    let k = if hx > 0x3f85_1592 { k_big } else { 1 - 2 * neg };
    let k = if hx > 0x3eb1_7218 { k } else { 0 };
    let kf = k as f32;
    // k = 0 gives hi = x, lo = 0 exactly, as libm's small-argument branch.
    let hi = x - kf * LN2_HI;
    let lo = kf * LN2_LO;
    let r = hi - lo;
    let rr = r * r;
    let c = r - rr * (P1 + rr * P2);
    let y = 1.0 + (r * c / (2.0 - c) - lo + hi);
    // 2^k for |k| <= 126 is a normal float, and one multiply by it is `scalbnf`.
    let y = y * f32::from_bits(((k + 127) as u32) << 23);
    // |x| <= 2^-14: libm returns 1 + x.
    if hx <= 0x3900_0000 {
        1.0 + x
    } else {
        y
    }
}

/// Dot product in a fixed order every SIMD table reproduces: two 8-lane accumulators over
/// 16-element blocks (`acc0 += a[i..i+8] * b[i..i+8]`, `acc1` for the next 8), added lane-wise,
/// then summed as lanes `(0..4) + (4..8)`, `(0,1) + (2,3)`, `0 + 1`; the tail is added in order.
/// A multiply then an add, never a fused multiply-add.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    ordered_sum(a.len().min(b.len()), |i| a[i] * b[i])
}

/// [`dot`] with f16 weights, each converted exactly to f32 first (the F16C kernels' order).
pub fn dot_f16(a: &[f32], w: &[f16]) -> f32 {
    ordered_sum(a.len().min(w.len()), |i| a[i] * w[i].to_f32())
}

/// The sum of `f(0..n)` in [`dot`]'s order. The order is the code's, so every target gets the
/// same bits; its sixteen independent sums vectorize, where one running sum is a chain of `n`
/// dependent adds (LayerNorm's sums use it too).
#[inline(always)]
pub fn ordered_sum(n: usize, f: impl Fn(usize) -> f32) -> f32 {
    let (mut acc0, mut acc1) = ([0f32; 8], [0f32; 8]);
    let mut i = 0;
    while i + 16 <= n {
        for l in 0..8 {
            acc0[l] += f(i + l);
            acc1[l] += f(i + 8 + l);
        }
        i += 16;
    }
    let mut s = fold16(acc0, acc1);
    while i < n {
        s += f(i);
        i += 1;
    }
    s
}

/// The sixteen lane sums of [`ordered_sum`] and [`ordered_sum_of`] added in `dot`'s tree.
#[inline(always)]
fn fold16(acc0: [f32; 8], acc1: [f32; 8]) -> f32 {
    let v: [f32; 8] = core::array::from_fn(|l| acc0[l] + acc1[l]);
    let q: [f32; 4] = core::array::from_fn(|l| v[l] + v[l + 4]);
    (q[0] + q[2]) + (q[1] + q[3])
}

/// [`ordered_sum`] of `f` over the values of `x`, walking the slice: no index to bounds-check,
/// so the sixteen sums vectorize (LayerNorm's mean and variance; with `ordered_sum`'s indexed
/// closure they took twice the instructions).
#[inline(always)]
pub fn ordered_sum_of(x: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let (mut acc0, mut acc1) = ([0f32; 8], [0f32; 8]);
    let mut blocks = x.chunks_exact(16);
    for b in &mut blocks {
        for l in 0..8 {
            acc0[l] += f(b[l]);
            acc1[l] += f(b[8 + l]);
        }
    }
    let mut s = fold16(acc0, acc1);
    for &t in blocks.remainder() {
        s += f(t);
    }
    s
}

/// `a.max(b)` where `b` may be NaN (then `a`), as a compare and select: wasm has no instruction
/// with `f32::max`'s NaN rule, so `f32::max` is a libm call per element there. ReLU, softmax's
/// maximum, argmax and the quantizers' absolute maximum use it.
#[inline(always)]
pub fn max(a: f32, b: f32) -> f32 {
    if b > a {
        b
    } else {
        a
    }
}

pub fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    y.iter_mut().zip(x).for_each(|(y, x)| *y += a * x);
}

pub fn matmul_f32(x: &[f32], w: &[f32], y: &mut [f32], m: usize, k: usize, n: usize) {
    matmul_f32_with(dot, x, w, y, (m, k, n))
}

/// [`matmul_f32`] with a table's own `dot`, one output at a time.
#[inline(always)]
pub fn matmul_f32_with(
    dot: impl Fn(&[f32], &[f32]) -> f32,
    x: &[f32],
    w: &[f32],
    y: &mut [f32],
    (m, k, n): (usize, usize, usize),
) {
    for i in 0..m {
        let xr = &x[i * k..(i + 1) * k];
        for (j, out) in y[i * n..(i + 1) * n].iter_mut().enumerate() {
            *out = dot(xr, &w[j * k..(j + 1) * k]);
        }
    }
}

pub fn matmul_f16(x: &[f32], w: &[f16], y: &mut [f32], m: usize, k: usize, n: usize) {
    for i in 0..m {
        let xr = &x[i * k..(i + 1) * k];
        for (j, out) in y[i * n..(i + 1) * n].iter_mut().enumerate() {
            *out = dot_f16(xr, &w[j * k..(j + 1) * k]);
        }
    }
}

#[allow(clippy::too_many_arguments)] // the table's `MatmulI8` signature
pub fn matmul_i8(
    xq: &[i8],
    xs: &[f32],
    wq: &[i8],
    ws: &[f32],
    y: &mut [f32],
    m: usize,
    k: usize,
    n: usize,
) {
    for i in 0..m {
        let xr = &xq[i * k..(i + 1) * k];
        for (j, out) in y[i * n..(i + 1) * n].iter_mut().enumerate() {
            let acc: i32 = dot_i8(xr, &wq[j * k..(j + 1) * k]);
            *out = acc as f32 * (xs[i] * ws[j]);
        }
    }
}

pub fn quantize_rows(x: &[f32], xq: &mut [i8], xs: &mut [f32], m: usize, k: usize) {
    for i in 0..m {
        let row = &x[i * k..(i + 1) * k];
        let amax = row.iter().fold(0f32, |a, v| max(a, v.abs()));
        let scale = if amax > 0.0 { amax / 127.0 } else { 1.0 };
        let inv = 1.0 / scale;
        for (q, v) in xq[i * k..(i + 1) * k].iter_mut().zip(row) {
            *q = libm::roundf(v * inv).clamp(-127.0, 127.0) as i8;
        }
        xs[i] = scale;
    }
}

pub fn quantize_static(x: &[f32], xq: &mut [i8], inv_scale: f32) {
    for (q, v) in xq.iter_mut().zip(x) {
        *q = libm::rintf(v * inv_scale).clamp(-127.0, 127.0) as i8;
    }
}

/// [`super::GemvRowsI8`] with the table's `dot`, row by row.
pub fn gemv_rows_with(
    dot: super::DotI8,
    xq: &[i8],
    xs: f32,
    wq: &[i8],
    ws: &[f32],
    rows: &[u32],
    y: &mut [f32],
) {
    gemv_rows_reading_ahead(dot, |_| {}, xq, xs, wq, ws, rows, y)
}

/// [`gemv_rows_with`], calling `ahead(i)` before the `i`th listed row's dot: where a table asks
/// for rows still to come.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn gemv_rows_reading_ahead(
    dot: super::DotI8,
    ahead: impl Fn(usize),
    xq: &[i8],
    xs: f32,
    wq: &[i8],
    ws: &[f32],
    rows: &[u32],
    y: &mut [f32],
) {
    let k = xq.len();
    for (i, (&r, o)) in rows.iter().zip(y.iter_mut()).enumerate() {
        ahead(i);
        let r = r as usize;
        *o = dot(xq, &wq[r * k..(r + 1) * k]) as f32 * (xs * ws[r]);
    }
}

fn gemv_rows_i8(xq: &[i8], xs: f32, wq: &[i8], ws: &[f32], rows: &[u32], y: &mut [f32]) {
    gemv_rows_with(dot_i8, xq, xs, wq, ws, rows, y)
}

pub fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| i32::from(x) * i32::from(y))
        .sum()
}
