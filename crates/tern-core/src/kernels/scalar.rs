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
    dot,
    axpy,
};

pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Four partial sums: lets LLVM pipeline the adds without changing results much.
    let mut s = [0f32; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..4 {
            s[i] += x[i] * y[i];
        }
    }
    let mut t = (s[0] + s[1]) + (s[2] + s[3]);
    for (x, y) in ra.iter().zip(rb) {
        t += x * y;
    }
    t
}

pub fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    y.iter_mut().zip(x).for_each(|(y, x)| *y += a * x);
}

pub fn matmul_f32(x: &[f32], w: &[f32], y: &mut [f32], m: usize, k: usize, n: usize) {
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
            *out = w[j * k..(j + 1) * k]
                .iter()
                .zip(xr)
                .map(|(w, x)| w.to_f32() * x)
                .sum();
        }
    }
}

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
        let amax = row.iter().fold(0f32, |a, v| a.max(v.abs()));
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

pub fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| i32::from(x) * i32::from(y))
        .sum()
}
