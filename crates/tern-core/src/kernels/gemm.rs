//! f32 matrix products of several rows (the encoder, batched decoding) through the `gemm`
//! crate, on hosts (it detects the CPU at run time, which needs std). Its blocked, FMA kernels
//! sum in their own order, so an f32 model's results differ from the scalar table's in the last
//! bits; int8 and f16 models never come here. `gemm` keeps a per-thread scratch that it
//! allocates on first use and then reuses.

/// `y = x * w^T` (`x`: m x k, `w`: n x k, `y`: m x n, all row-major) if `m >= 2`; returns
/// whether it did (one row is a memory-bound GEMV, left to the table's dot products).
pub fn matmul_f32(x: &[f32], w: &[f32], y: &mut [f32], m: usize, k: usize, n: usize) -> bool {
    if m < 2 || x.len() < m * k || w.len() < n * k || y.len() < m * n {
        return false;
    }
    let (k_, n_) = (k as isize, n as isize);
    // SAFETY: the three buffers hold m x k, n x k and m x n floats (checked above), and the
    // strides address exactly those: x[i][t] at i * k + t, w^T[t][j] = w[j][t] at j * k + t,
    // y[i][j] at i * n + j; `y` does not alias the inputs (it is borrowed mutably).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            y.as_mut_ptr(),
            1,
            n_,
            false,
            x.as_ptr(),
            1,
            k_,
            w.as_ptr(),
            k_,
            1,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    };
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::scalar;

    #[test]
    #[cfg_attr(miri, ignore = "gemm's SIMD kernels are not interpretable")]
    fn matches_the_scalar_product() {
        let (m, k, n) = (5, 70, 9);
        let x: std::vec::Vec<f32> = (0..m * k)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
            .collect();
        let w: std::vec::Vec<f32> = (0..n * k)
            .map(|i| ((i * 53 % 89) as f32 - 44.0) / 5.0)
            .collect();
        let (mut y1, mut y2) = (std::vec![f32::NAN; m * n], std::vec![0f32; m * n]);
        assert!(matmul_f32(&x, &w, &mut y1, m, k, n));
        scalar::matmul_f32(&x, &w, &mut y2, m, k, n);
        for (a, b) in y1.iter().zip(&y2) {
            assert!((a - b).abs() <= 1e-4 * b.abs().max(1.0), "{a} vs {b}");
        }
        // One row is left to the table.
        assert!(!matmul_f32(&x[..k], &w, &mut y1[..n], 1, k, n));
    }
}
