//! int8 kernels for Cortex-M cores with the DSP extension (M4, M7, M33, M55): `SMLAD` does two
//! 16-bit multiply-accumulates per instruction, and `SXTB16` sign-extends two int8 lanes of a
//! word into two 16-bit lanes (CMSIS-NN's technique). A matrix-vector product extends each
//! activation word once and uses it for two weight rows. Results are exact integers, so the
//! table gives the same text as the scalar one (tested on QEMU by `cargo xtask firmware`).
//!
//! Enabled by tern-core's `arm-dsp` feature (the DSP instructions are not a stable `cfg`
//! target feature); the firmware turns it on for boards that have them.

use super::{scalar, Kernels};

/// The scalar table with the DSP int8 products laid over it.
pub const KERNELS: Kernels = Kernels {
    name: "arm-dsp",
    matmul_i8,
    dot_i8,
    gemv_rows_i8,
    ..scalar::KERNELS
};

fn gemv_rows_i8(xq: &[i8], xs: f32, wq: &[i8], ws: &[f32], rows: &[u32], y: &mut [f32]) {
    scalar::gemv_rows_with(dot_i8, xq, xs, wq, ws, rows, y)
}

/// `(lanes 0 and 2, lanes 1 and 3)` of a word of four int8, each sign-extended to 16 bits.
#[inline(always)]
fn sxtb16_pair(w: u32) -> (u32, u32) {
    let (even, odd): (u32, u32);
    // SAFETY: register-only instructions of the DSP extension (present on every core this
    // module is built for); no memory, stack or flags are touched.
    unsafe {
        core::arch::asm!(
            "sxtb16 {e}, {w}",
            "sxtb16 {o}, {w}, ror #8",
            w = in(reg) w,
            e = out(reg) even,
            o = out(reg) odd,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    (even, odd)
}

/// `acc + a.lo * b.lo + a.hi * b.hi` on 16-bit lanes.
#[inline(always)]
fn smlad(a: u32, b: u32, acc: i32) -> i32 {
    let r: i32;
    // SAFETY: a register-only DSP instruction; it may set the Q (saturation) flag, which
    // nothing here reads, and cannot overflow for int8 inputs summed over a row.
    unsafe {
        core::arch::asm!(
            "smlad {r}, {a}, {b}, {acc}",
            r = lateout(reg) r,
            a = in(reg) a,
            b = in(reg) b,
            acc = in(reg) acc,
            options(pure, nomem, nostack),
        );
    }
    r
}

fn word(c: &[i8]) -> u32 {
    let mut b = [0u8; 4];
    b.iter_mut().zip(c).for_each(|(o, &v)| *o = v as u8);
    u32::from_le_bytes(b)
}

/// Exact `sum a[i] * b[i]`.
pub fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len()) & !3;
    let mut acc = 0i32;
    for (ca, cb) in a[..n].chunks_exact(4).zip(b[..n].chunks_exact(4)) {
        let (ae, ao) = sxtb16_pair(word(ca));
        let (be, bo) = sxtb16_pair(word(cb));
        acc = smlad(ae, be, smlad(ao, bo, acc));
    }
    acc + scalar::dot_i8(&a[n..], &b[n..])
}

/// Two dot products of `x` with rows `w0` and `w1`, extending `x` once.
fn dot_i8_x2(x: &[i8], w0: &[i8], w1: &[i8]) -> (i32, i32) {
    let n = x.len().min(w0.len()).min(w1.len()) & !3;
    let (mut a0, mut a1) = (0i32, 0i32);
    let chunks = x[..n]
        .chunks_exact(4)
        .zip(w0[..n].chunks_exact(4))
        .zip(w1[..n].chunks_exact(4));
    for ((cx, c0), c1) in chunks {
        let (xe, xo) = sxtb16_pair(word(cx));
        let (e0, o0) = sxtb16_pair(word(c0));
        let (e1, o1) = sxtb16_pair(word(c1));
        a0 = smlad(xe, e0, smlad(xo, o0, a0));
        a1 = smlad(xe, e1, smlad(xo, o1, a1));
    }
    (
        a0 + scalar::dot_i8(&x[n..], &w0[n..]),
        a1 + scalar::dot_i8(&x[n..], &w1[n..]),
    )
}

/// As [`scalar::matmul_i8`], same float operations in the same order.
#[allow(clippy::too_many_arguments)]
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
        let yr = &mut y[i * n..(i + 1) * n];
        let mut j = 0;
        while j + 2 <= n {
            let (d0, d1) = dot_i8_x2(xr, &wq[j * k..(j + 1) * k], &wq[(j + 1) * k..(j + 2) * k]);
            yr[j] = d0 as f32 * (xs[i] * ws[j]);
            yr[j + 1] = d1 as f32 * (xs[i] * ws[j + 1]);
            j += 2;
        }
        if j < n {
            yr[j] = dot_i8(xr, &wq[j * k..(j + 1) * k]) as f32 * (xs[i] * ws[j]);
        }
    }
}
