//! A table against the scalar one, on shapes every kernel must handle (lengths that are not
//! multiples of any vector width, one row and several): the exact parts (int8 sums,
//! quantization) and the f32 ones every table reproduces bit for bit. Run by the unit tests for
//! the native tables and, for wasm `simd128`, from Node (`checkKernels` in tern-wasm), where
//! `cargo test` cannot run.

use super::{scalar, Kernels};

/// Where `k` differs from the scalar table: the routine and the shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mismatch {
    pub routine: &'static str,
    pub m: usize,
    pub k: usize,
    pub n: usize,
}

impl core::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{} differs from the scalar kernel at m {} k {} n {}",
            self.routine, self.m, self.k, self.n
        )
    }
}

const K: [usize; 8] = [1, 7, 15, 16, 17, 64, 100, 300];
const MAX_K: usize = 300;
const MAX_M: usize = 3;
const MAX_N: usize = 9;

/// Compares `k` with [`scalar::KERNELS`]; `Ok` if every result is the same, bit for bit.
pub fn compare_with_scalar(k: &Kernels) -> Result<(), Mismatch> {
    let s = &scalar::KERNELS;
    let mut seed = 0x2468_ace1u32;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed
    };
    let mut xq = [0i8; MAX_M * MAX_K];
    let mut wq = [0i8; MAX_N * MAX_K];
    let mut x = [0f32; MAX_M * MAX_K];
    let mut w = [0f32; MAX_N * MAX_K];
    for &kk in &K {
        // Activations within +-127 (both quantizers clamp there), weights over all of int8.
        xq.iter_mut().for_each(|v| *v = (rnd() as i8).max(-127));
        wq.iter_mut().for_each(|v| *v = rnd() as i8);
        let unit = |r: u32| (r % 20001) as f32 / 10000.0 - 1.0;
        x.iter_mut().for_each(|v| *v = unit(rnd()) * 3.0);
        w.iter_mut().for_each(|v| *v = unit(rnd()));
        let xs = [0.011f32, 0.013, 0.017];
        let ws: [f32; MAX_N] = core::array::from_fn(|j| 0.02 + j as f32 * 0.001);
        for (m, n) in [(1, 1), (1, 4), (1, 9), (2, 5), (3, 8)] {
            let at = |routine| Mismatch {
                routine,
                m,
                k: kk,
                n,
            };
            let (xq, wq) = (&xq[..m * kk], &wq[..n * kk]);
            let (mut got, mut want) = ([0f32; MAX_M * MAX_N], [0f32; MAX_M * MAX_N]);
            (k.matmul_i8)(xq, &xs[..m], wq, &ws[..n], &mut got[..m * n], m, kk, n);
            (s.matmul_i8)(xq, &xs[..m], wq, &ws[..n], &mut want[..m * n], m, kk, n);
            same(&got, &want).ok_or(at("matmul_i8"))?;
            if let Some(streaming) = k.matmul_i8_streaming {
                streaming(xq, &xs[..m], wq, &ws[..n], &mut got[..m * n], m, kk, n);
                same(&got, &want).ok_or(at("matmul_i8_streaming"))?;
            }
            if (k.dot_i8)(&xq[..kk], &wq[..kk]) != (s.dot_i8)(&xq[..kk], &wq[..kk]) {
                return Err(at("dot_i8"));
            }
            // Output rows listed out of order, most several times; 37 of them, so that tables
            // that take sixteen at a time or read ahead do both, and a rest.
            let rows: [u32; 37] = core::array::from_fn(|r| ((r * 7 + 3) % n) as u32);
            let (mut got, mut want) = ([0f32; 37], [0f32; 37]);
            (k.gemv_rows_i8)(&xq[..kk], xs[0], wq, &ws[..n], &rows, &mut got);
            (s.gemv_rows_i8)(&xq[..kk], xs[0], wq, &ws[..n], &rows, &mut want);
            same(&got, &want).ok_or(at("gemv_rows_i8"))?;
            // One row only: several rows may go to a GEMM with its own summation order.
            let (mut got, mut want) = ([0f32; MAX_N], [0f32; MAX_N]);
            (k.matmul_f32)(&x[..kk], &w[..n * kk], &mut got[..n], 1, kk, n);
            (s.matmul_f32)(&x[..kk], &w[..n * kk], &mut want[..n], 1, kk, n);
            same(&got, &want).ok_or(at("matmul_f32 (one row)"))?;
        }
        let at = |routine| Mismatch {
            routine,
            m: 1,
            k: kk,
            n: 1,
        };
        if (k.dot)(&x[..kk], &w[..kk]).to_bits() != (s.dot)(&x[..kk], &w[..kk]).to_bits() {
            return Err(at("dot"));
        }
        let (mut got, mut want) = ([0f32; MAX_K], [0f32; MAX_K]);
        got[..kk].copy_from_slice(&w[..kk]);
        want[..kk].copy_from_slice(&w[..kk]);
        (k.axpy)(0.37, &x[..kk], &mut got[..kk]);
        (s.axpy)(0.37, &x[..kk], &mut want[..kk]);
        same(&got, &want).ok_or(at("axpy"))?;
        let offs = [kk, 0, 2 * kk];
        let (mut got, mut want) = ([0f32; 3], [0f32; 3]);
        (k.dots)(&x[..kk], &w[..3 * kk], &offs, &mut got);
        (s.dots)(&x[..kk], &w[..3 * kk], &offs, &mut want);
        same(&got, &want).ok_or(at("dots"))?;
        let (mut got, mut want) = ([0f32; MAX_K], [0f32; MAX_K]);
        (k.axpy_rows)(&[0.5, -1.25, 2.0], &w[..3 * kk], &offs, &mut got[..kk]);
        (s.axpy_rows)(&[0.5, -1.25, 2.0], &w[..3 * kk], &offs, &mut want[..kk]);
        same(&got, &want).ok_or(at("axpy_rows"))?;
        // Quantization, with ties, out-of-range values, infinities and NaN among the inputs.
        let mut v = [0f32; MAX_K];
        v[..kk].copy_from_slice(&x[..kk]);
        let odd = [
            2.5,
            -3.5,
            1e9,
            -1e9,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
        ];
        for (d, o) in v[..kk].iter_mut().zip(odd) {
            *d = o;
        }
        let (mut got, mut want) = ([0i8; MAX_K], [0i8; MAX_K]);
        (k.quantize_static)(&v[..kk], &mut got[..kk], 1.0);
        (s.quantize_static)(&v[..kk], &mut want[..kk], 1.0);
        if got != want {
            return Err(at("quantize_static"));
        }
        // exp: softmax's range, each of libm's argument paths, the smallest normal results
        // (k = -126), overflow.
        let mut e = [0f32; MAX_K];
        for (i, v) in e[..kk].iter_mut().enumerate() {
            *v = match i % 8 {
                0 => -87.3,
                1 => 1e-5,
                2 => 0.5,
                3 => -1.1,
                4 => 88.0,
                _ => -unit(rnd()).abs() * 30.0,
            };
        }
        let (mut eg, mut ew) = (e, e);
        (k.exp)(&mut eg[..kk]);
        (s.exp)(&mut ew[..kk]);
        same(&eg, &ew).ok_or(at("exp"))?;
        let (mut gs, mut wsc) = ([0f32; 1], [0f32; 1]);
        (k.quantize_rows)(&x[..kk], &mut got[..kk], &mut gs, 1, kk);
        (s.quantize_rows)(&x[..kk], &mut want[..kk], &mut wsc, 1, kk);
        if got != want || gs[0].to_bits() != wsc[0].to_bits() {
            return Err(at("quantize_rows"));
        }
    }
    Ok(())
}

/// Panics unless `exp` gives `libm::expf`'s bits: every 61st float bit pattern (every 997th
/// under QEMU, where the full sweep is minutes), tails, and every float softmax feeds it at a
/// finer step.
#[cfg(test)]
pub(crate) fn assert_exp_is_libm(exp: super::Exp) {
    // Every 61st float bit pattern (both signs, all exponents: the tiny, small, middle
    // and large-argument paths, overflow, underflow, NaN and the infinities) ...
    let stride: u32 = if std::env::var_os("QEMU_CPU").is_some() {
        997
    } else {
        61
    };
    let mut checked = 0usize;
    let mut block = [0f32; 256];
    let mut bits = 0u32;
    loop {
        for v in block.iter_mut() {
            *v = f32::from_bits(bits);
            bits = bits.wrapping_add(stride);
        }
        let want = block.map(libm::expf);
        exp(&mut block);
        for (g, w) in block.iter().zip(want) {
            assert!(
                g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()),
                "{g} vs {w}"
            );
        }
        checked += 256;
        if bits < stride * 256 {
            break;
        }
    }
    assert!(checked as u64 * u64::from(stride) > 0xfff0_0000);
    // Lengths that leave a tail (done through padded lanes), with a special value in it.
    for len in [1usize, 5, 13, 20] {
        let mut v: heapless::Vec<f32, 20> = (0..len).map(|i| i as f32 * -0.37 + 1.1).collect();
        v[len - 1] = if len % 2 == 0 { -120.0 } else { 1e-9 };
        let want: heapless::Vec<f32, 20> = v.iter().map(|&x| libm::expf(x)).collect();
        exp(&mut v);
        assert_eq!(v, want, "length {len}");
    }
    // ... and every float in the range softmax feeds it, [-20, 0], at a finer step.
    let mut x = -20.0f32;
    while x < 0.0 {
        let mut b = [0f32; 8];
        for v in b.iter_mut() {
            *v = x;
            x = f32::from_bits(x.to_bits() - 7).max(x + 1e-7);
        }
        let want = b.map(libm::expf);
        exp(&mut b);
        assert_eq!(b.map(f32::to_bits), want.map(f32::to_bits));
    }
}

/// `Some` if the two hold the same bits.
fn same(a: &[f32], b: &[f32]) -> Option<()> {
    a.iter()
        .zip(b)
        .all(|(x, y)| x.to_bits() == y.to_bits())
        .then_some(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_table_here_equals_the_scalar_one() {
        for name in ["avx2", "avx512vnni", "neon", "neon-dotprod", "arm-dsp"] {
            if let Some(k) = super::Kernels::named(name) {
                super::compare_with_scalar(&k).unwrap_or_else(|e| panic!("{name}: {e}"));
            }
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "70 million libm calls")]
    fn the_scalar_exp_is_libm() {
        super::assert_exp_is_libm(super::scalar::exp);
    }

    #[test]
    fn a_table_that_differs_is_caught() {
        let s = super::scalar::KERNELS;
        // Off in the tail only (lengths past 16), as a SIMD kernel with a wrong tail would be.
        let tail_dropped = super::Kernels {
            dot_i8: |a, b| super::scalar::dot_i8(&a[..a.len() & !15], &b[..b.len() & !15]),
            ..s
        };
        let last_bit = super::Kernels {
            dot: |a, b| f32::from_bits(super::scalar::dot(a, b).to_bits() ^ 1),
            ..s
        };
        let nan_to_127 = super::Kernels {
            quantize_static: |x, q, inv| {
                super::scalar::quantize_static(x, q, inv);
                x.iter()
                    .zip(q)
                    .filter(|(v, _)| v.is_nan())
                    .for_each(|(_, q)| *q = 127);
            },
            ..s
        };
        for (k, routine) in [
            (tail_dropped, "dot_i8"),
            (last_bit, "dot"),
            (nan_to_127, "quantize_static"),
        ] {
            assert_eq!(super::compare_with_scalar(&k).unwrap_err().routine, routine);
        }
    }
}
