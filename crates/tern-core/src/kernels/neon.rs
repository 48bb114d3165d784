//! aarch64 int8 kernels (Raspberry Pi 3/4/5, phones), laid over the scalar table.
//!
//! - `neon` (every aarch64 core): `smull`/`smull2` multiply 8 int8 pairs into i16 (at most
//!   128 * 128 = 16384, exact) and `sadalp` adds neighbouring pairs into i32 lanes.
//! - `neon-dotprod` (Armv8.2 dot product: Cortex-A76/Pi 5, A55, most phones since 2018): `sdot`
//!   sums four int8 products into each i32 lane, a quarter of the instructions. Detected at run
//!   time; an unguarded `sdot` on a Pi 4 (Cortex-A72) is SIGILL.
//!
//! Both are exact integer sums, so translations equal the scalar (and x86) ones; the float
//! kernels stay scalar here (bit-identical everywhere by construction).

use super::{scalar, Kernels};
use core::arch::aarch64::*;

/// The NEON table (always available on aarch64).
pub const NEON: Kernels = Kernels {
    name: "neon",
    dot_i8: dot_i8_neon,
    gemv_rows_i8: |xq, xs, wq, ws, rows, y| {
        scalar::gemv_rows_with(dot_i8_neon, xq, xs, wq, ws, rows, y)
    },
    matmul_i8: matmul_i8_neon,
    ..scalar::KERNELS
};

/// The dot-product table, if this CPU has `sdot`.
pub fn dotprod() -> Option<Kernels> {
    detected().then_some(Kernels {
        name: "neon-dotprod",
        dot_i8: dot_i8_sdot,
        gemv_rows_i8: |xq, xs, wq, ws, rows, y| {
            scalar::gemv_rows_with(dot_i8_sdot, xq, xs, wq, ws, rows, y)
        },
        matmul_i8: matmul_i8_sdot,
        ..NEON
    })
}

#[cfg(feature = "std")]
fn detected() -> bool {
    std::arch::is_aarch64_feature_detected!("dotprod")
}

#[cfg(not(feature = "std"))]
fn detected() -> bool {
    cfg!(target_feature = "dotprod")
}

/// Four dot products of `x` with the rows of `w` (4 x `k`), 16 bytes at a time; the tail
/// (under 16) is left to the caller. `x.len() >= k`, `w.len() >= 4 * k`.
fn dot4_neon(x: &[i8], w: &[i8], k: usize) -> [i32; 4] {
    let body = k & !15;
    let mut acc = [0i32; 4];
    for (r, a) in acc.iter_mut().enumerate() {
        let row = &w[r * k..r * k + body];
        // SAFETY: NEON is part of aarch64; loads read 16 bytes inside `x[..body]` and
        // `row`, whose lengths are `body`, a multiple of 16.
        *a = unsafe {
            let mut s = vdupq_n_s32(0);
            for (xc, wc) in x[..body].chunks_exact(16).zip(row.chunks_exact(16)) {
                let xv = vld1q_s8(xc.as_ptr());
                let wv = vld1q_s8(wc.as_ptr());
                s = vpadalq_s16(s, vmull_s8(vget_low_s8(xv), vget_low_s8(wv)));
                s = vpadalq_s16(s, vmull_high_s8(xv, wv));
            }
            vaddvq_s32(s)
        };
    }
    acc
}

/// As [`dot4_neon`] with `sdot`: each row's products go four at a time into i32 lanes. One row
/// after the other, so the weights stream in address order (as the x86 GEMVs read them: four
/// rows side by side are four short streams the hardware prefetcher does not run ahead on).
///
/// # Safety
/// The CPU must have the dot-product extension.
#[target_feature(enable = "dotprod")]
unsafe fn dot4_sdot(x: &[i8], w: &[i8], k: usize) -> [i32; 4] {
    let body = k & !15;
    core::array::from_fn(|r| {
        // SAFETY: the caller guarantees the dot-product extension.
        unsafe { dot1_sdot(&x[..body], &w[r * k..r * k + body]) }
    })
}

fn dot_i8_neon(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let body = n & !15;
    // SAFETY: NEON is part of aarch64; 16-byte loads inside `a[..body]` and `b[..body]`.
    let d = unsafe {
        let mut s = vdupq_n_s32(0);
        for (ac, bc) in a[..body].chunks_exact(16).zip(b[..body].chunks_exact(16)) {
            let (av, bv) = (vld1q_s8(ac.as_ptr()), vld1q_s8(bc.as_ptr()));
            s = vpadalq_s16(s, vmull_s8(vget_low_s8(av), vget_low_s8(bv)));
            s = vpadalq_s16(s, vmull_high_s8(av, bv));
        }
        vaddvq_s32(s)
    };
    d + scalar::dot_i8(&a[body..n], &b[body..n])
}

fn dot_i8_sdot(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let body = n & !15;
    // SAFETY: this table is only handed out when `detected()` (see `dotprod`).
    let d = unsafe { dot1_sdot(&a[..body], &b[..body]) };
    d + scalar::dot_i8(&a[body..n], &b[body..n])
}

/// `sum a[i] * b[i]` over equal lengths that are a multiple of 16.
///
/// # Safety
/// The CPU must have the dot-product extension.
#[target_feature(enable = "dotprod")]
unsafe fn dot1_sdot(a: &[i8], b: &[i8]) -> i32 {
    let mut s = vdupq_n_s32(0);
    for (ac, bc) in a.chunks_exact(16).zip(b.chunks_exact(16)) {
        // SAFETY: 16-byte loads of 16-byte chunks; `sdot` needs the dot-product extension,
        // which the caller guarantees; registers only.
        unsafe {
            let (av, bv) = (vld1q_s8(ac.as_ptr()), vld1q_s8(bc.as_ptr()));
            core::arch::asm!(
                "sdot {acc:v}.4s, {a:v}.16b, {b:v}.16b",
                acc = inout(vreg) s,
                a = in(vreg) av,
                b = in(vreg) bv,
                options(pure, nomem, nostack, preserves_flags),
            );
        }
    }
    vaddvq_s32(s)
}

fn matmul_with(
    xq: &[i8],
    xs: &[f32],
    wq: &[i8],
    ws: &[f32],
    y: &mut [f32],
    (m, k, n): (usize, usize, usize),
    dot4: impl Fn(&[i8], &[i8], usize) -> [i32; 4],
) {
    let body = k & !15;
    let mut j = 0;
    while j + 4 <= n {
        let w = &wq[j * k..(j + 4) * k];
        for i in 0..m {
            let x = &xq[i * k..(i + 1) * k];
            let d = dot4(x, w, k);
            for (t, &v) in d.iter().enumerate() {
                let tail = scalar::dot_i8(&x[body..], &w[t * k + body..(t + 1) * k]);
                y[i * n + j + t] = (v + tail) as f32 * (xs[i] * ws[j + t]);
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

#[allow(clippy::too_many_arguments)]
fn matmul_i8_neon(
    xq: &[i8],
    xs: &[f32],
    wq: &[i8],
    ws: &[f32],
    y: &mut [f32],
    m: usize,
    k: usize,
    n: usize,
) {
    matmul_with(xq, xs, wq, ws, y, (m, k, n), dot4_neon);
}

#[allow(clippy::too_many_arguments)]
fn matmul_i8_sdot(
    xq: &[i8],
    xs: &[f32],
    wq: &[i8],
    ws: &[f32],
    y: &mut [f32],
    m: usize,
    k: usize,
    n: usize,
) {
    // SAFETY: this table is only handed out when `detected()` (see `dotprod`).
    matmul_with(xq, xs, wq, ws, y, (m, k, n), |x, w, k| unsafe {
        dot4_sdot(x, w, k)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables() -> heapless::Vec<Kernels, 2> {
        // Under QEMU (`cargo xtask firmware`) the CPU model says which tables must exist, so a
        // missing dot-product table is a failure there, not a skipped test.
        match std::env::var("QEMU_CPU").as_deref() {
            Ok("cortex-a76") => assert!(dotprod().is_some(), "a76 has dotprod"),
            Ok("cortex-a72") => assert!(dotprod().is_none(), "a72 has no dotprod"),
            _ => {}
        }
        [Some(NEON), dotprod()].into_iter().flatten().collect()
    }

    #[test]
    fn int8_is_exact() {
        let mut seed = 0x1357_9bdfu32;
        let mut rnd = || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        for k in tables() {
            for len in [0usize, 1, 15, 16, 17, 64, 100, 256, 300] {
                let a: heapless::Vec<i8, 300> = (0..len).map(|_| (rnd() as i8).max(-127)).collect();
                let b: heapless::Vec<i8, 300> = (0..len).map(|_| rnd() as i8).collect();
                assert_eq!(
                    (k.dot_i8)(&a, &b),
                    scalar::dot_i8(&a, &b),
                    "{} len {len}",
                    k.name
                );
            }
            for (x, y) in [(127i8, 127i8), (-127, -128), (127, -128), (-128, -128)] {
                assert_eq!(
                    (k.dot_i8)(&[x; 64], &[y; 64]),
                    64 * i32::from(x) * i32::from(y)
                );
            }
            for (m, kk, n) in [(1, 64, 9), (3, 200, 8), (2, 17, 5)] {
                let x: heapless::Vec<i8, 600> =
                    (0..m * kk).map(|_| (rnd() as i8).max(-127)).collect();
                let w: heapless::Vec<i8, 1600> = (0..n * kk).map(|_| rnd() as i8).collect();
                let xs: heapless::Vec<f32, 3> = (0..m).map(|i| 0.01 + i as f32 * 0.003).collect();
                let ws: heapless::Vec<f32, 9> = (0..n).map(|j| 0.02 + j as f32 * 0.001).collect();
                let (mut got, mut want) = ([0f32; 27], [0f32; 27]);
                (k.matmul_i8)(&x, &xs, &w, &ws, &mut got[..m * n], m, kk, n);
                scalar::matmul_i8(&x, &xs, &w, &ws, &mut want[..m * n], m, kk, n);
                assert_eq!(got, want, "{} {m}x{kk}x{n}", k.name);
            }
        }
    }
}
