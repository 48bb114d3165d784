//! The kernel table: every numeric routine the models call, as plain function pointers.
//!
//! [`scalar::KERNELS`] is complete and portable; SIMD tables (AVX2, AVX-512, NEON, Cortex-M DSP, Helium, wasm simd128) overlay it
//! field by field, so a target only replaces what it does better. Model code calls
//! [`Kernels::linear`] and friends and never sees a target.

#[cfg(all(target_arch = "arm", feature = "arm-dsp"))]
pub mod arm_dsp;
#[cfg(target_arch = "x86_64")]
pub mod avx2;
#[cfg(target_arch = "x86_64")]
pub mod avx512;
pub mod check;
#[cfg(feature = "std")]
pub mod gemm;
#[cfg(all(target_arch = "arm", feature = "helium"))]
pub mod helium;
#[cfg(target_arch = "aarch64")]
pub mod neon;
pub mod scalar;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub mod wasm;

use half::f16;

/// A weight matrix of `rows` x `cols`, row-major, borrowed from the model file. Each row is one
/// output feature, so a matrix-vector product streams rows in file order.
#[derive(Debug, Clone, Copy)]
pub struct Matrix<'a> {
    pub rows: usize,
    pub cols: usize,
    pub data: MatrixData<'a>,
}

/// The element type of a [`Matrix`].
#[derive(Debug, Clone, Copy)]
pub enum MatrixData<'a> {
    F32(&'a [f32]),
    F16(&'a [f16]),
    /// Symmetric int8, one f32 scale per row: `w[r][c] = q[r][c] * scales[r]`. Activations are
    /// quantized per row at run time, or with the model's own static scale `act_scale` (Bergamot's
    /// "alphas": `x_q = round_even(x / act_scale)` clamped to +-127).
    I8 {
        q: &'a [i8],
        scales: &'a [f32],
        act_scale: Option<f32>,
    },
}

impl Matrix<'_> {
    /// Dequantizes row `r` into `out` (`cols` floats). Used for embedding lookups.
    pub fn row_into(&self, r: usize, out: &mut [f32]) {
        let c = self.cols;
        let span = r * c..(r + 1) * c;
        match self.data {
            MatrixData::F32(w) => out.copy_from_slice(&w[span]),
            MatrixData::F16(w) => out
                .iter_mut()
                .zip(&w[span])
                .for_each(|(o, v)| *o = v.to_f32()),
            MatrixData::I8 { q, scales, .. } => {
                let s = scales[r];
                out.iter_mut()
                    .zip(&q[span])
                    .for_each(|(o, v)| *o = f32::from(*v) * s)
            }
        }
    }

    /// Adds dequantized row `r` to `out` (learned position tables).
    pub fn add_row_into(&self, r: usize, out: &mut [f32]) {
        let c = self.cols;
        let span = r * c..(r + 1) * c;
        match self.data {
            MatrixData::F32(w) => out.iter_mut().zip(&w[span]).for_each(|(o, v)| *o += v),
            MatrixData::F16(w) => out
                .iter_mut()
                .zip(&w[span])
                .for_each(|(o, v)| *o += v.to_f32()),
            MatrixData::I8 { q, scales, .. } => {
                let s = scales[r];
                out.iter_mut()
                    .zip(&q[span])
                    .for_each(|(o, v)| *o += f32::from(*v) * s)
            }
        }
    }

    /// Bytes of weights this matrix occupies (what a matrix-vector product streams).
    pub fn bytes(&self) -> usize {
        match self.data {
            MatrixData::F32(w) => w.len() * 4,
            MatrixData::F16(w) => w.len() * 2,
            MatrixData::I8 { q, scales, .. } => q.len() + scales.len() * 4,
        }
    }
}

/// Scratch for quantizing activations before an int8 product: `m * k` bytes and `m` scales.
pub struct Quant<A: crate::plan::Arena> {
    pub q: A::Slice<i8>,
    pub scales: A::Slice<f32>,
}

/// [`Quant`] carved: the buffers the kernels write.
pub type QuantScratch<'w> = Quant<crate::plan::Carver<'w>>;

/// `y[i][j] = sum_k x[i][k] * w[j][k]` for `x`: m x k, `w`: n x k, `y`: m x n.
pub type MatmulF32 = fn(x: &[f32], w: &[f32], y: &mut [f32], m: usize, k: usize, n: usize);
/// As [`MatmulF32`] with f16 weights (converted on the fly, accumulated in f32).
pub type MatmulF16 = fn(x: &[f32], w: &[f16], y: &mut [f32], m: usize, k: usize, n: usize);
/// `y[i][j] = xs[i] * ws[j] * sum_k xq[i][k] * wq[j][k]`, the sum in exact integer arithmetic.
pub type MatmulI8 =
    fn(xq: &[i8], xs: &[f32], wq: &[i8], ws: &[f32], y: &mut [f32], m: usize, k: usize, n: usize);
/// Per-row symmetric quantization of `x` (m x k) to int8 with scale `max|x| / 127`.
pub type QuantizeRows = fn(x: &[f32], xq: &mut [i8], xs: &mut [f32], m: usize, k: usize);
/// Quantizes `x` with one fixed scale: `xq = round_half_even(x / scale)` clamped to +-127 (the
/// rounding of x86's `cvtps2dq`, which intgemm uses).
pub type QuantizeStatic = fn(x: &[f32], xq: &mut [i8], inv_scale: f32);
/// Integer dot product of int8 vectors.
pub type DotI8 = fn(a: &[i8], b: &[i8]) -> i32;
/// [`MatmulI8`] for one input row and the listed weight rows only (a shortlisted output layer):
/// `y[s] = xs * ws[rows[s]] * sum_k xq[k] * wq[rows[s]][k]`, with `k = xq.len()`.
pub type GemvRowsI8 = fn(xq: &[i8], xs: f32, wq: &[i8], ws: &[f32], rows: &[u32], y: &mut [f32]);
/// Dot product.
pub type Dot = fn(a: &[f32], b: &[f32]) -> f32;
/// `y += a * x`.
pub type Axpy = fn(a: f32, x: &[f32], y: &mut [f32]);
/// `out[s] = dot(q, rows[offs[s]..][..q.len()])` for every `s`: [`Dot`] on each row, in one call.
pub type Dots = fn(q: &[f32], rows: &[f32], offs: &[usize], out: &mut [f32]);
/// `y += p[s] * rows[offs[s]..][..y.len()]` for `s` in order: [`Axpy`] row after row, in one call.
pub type AxpyRows = fn(p: &[f32], rows: &[f32], offs: &[usize], y: &mut [f32]);
/// `x = exp(x)` in place, bit for bit `libm::expf` (softmax, sigmoid and swish use it, and every
/// table must give the same text).
pub type Exp = fn(x: &mut [f32]);

/// The table. Copy it around freely: it is a handful of pointers.
#[derive(Clone, Copy)]
pub struct Kernels {
    pub name: &'static str,
    pub matmul_f32: MatmulF32,
    pub matmul_f16: MatmulF16,
    pub matmul_i8: MatmulI8,
    pub quantize_rows: QuantizeRows,
    pub quantize_static: QuantizeStatic,
    pub dot_i8: DotI8,
    pub gemv_rows_i8: GemvRowsI8,
    pub dot: Dot,
    pub axpy: Axpy,
    pub dots: Dots,
    pub axpy_rows: AxpyRows,
    pub exp: Exp,
}

impl core::fmt::Debug for Kernels {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name)
    }
}

impl Kernels {
    /// The best kernels for this machine.
    pub fn best() -> Kernels {
        #[cfg(target_arch = "x86_64")]
        if let Some(k) = avx512::kernels().or_else(avx2::kernels) {
            return k;
        }
        #[cfg(all(target_arch = "arm", feature = "helium"))]
        return helium::KERNELS;
        #[cfg(all(target_arch = "arm", feature = "arm-dsp", not(feature = "helium")))]
        return arm_dsp::KERNELS;
        #[cfg(target_arch = "aarch64")]
        return neon::dotprod().unwrap_or(neon::NEON);
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        return wasm::SIMD128;
        #[allow(unreachable_code)]
        scalar::KERNELS
    }

    /// The table called `name` (`scalar`, `avx2`, `avx512vnni`, `arm-dsp`, `helium`, `neon`,
    /// `neon-dotprod`, `simd128`), if this machine can run it: to compare kernels on the same
    /// machine.
    pub fn named(name: &str) -> Option<Kernels> {
        let candidates = [
            Some(scalar::KERNELS),
            #[cfg(target_arch = "x86_64")]
            avx2::kernels(),
            #[cfg(target_arch = "x86_64")]
            avx512::kernels(),
            #[cfg(all(target_arch = "arm", feature = "arm-dsp"))]
            Some(arm_dsp::KERNELS),
            #[cfg(all(target_arch = "arm", feature = "helium"))]
            Some(helium::KERNELS),
            #[cfg(target_arch = "aarch64")]
            Some(neon::NEON),
            #[cfg(target_arch = "aarch64")]
            neon::dotprod(),
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Some(wasm::SIMD128),
        ];
        candidates.into_iter().flatten().find(|k| k.name == name)
    }

    /// `y = x * w^T + bias` for `m` rows of `x`. `q` is only touched for int8 weights.
    pub fn linear(
        &self,
        x: &[f32],
        m: usize,
        w: &Matrix,
        bias: Option<&[f32]>,
        y: &mut [f32],
        q: &mut QuantScratch,
    ) {
        let (k, n) = (w.cols, w.rows);
        let (x, y) = (&x[..m * k], &mut y[..m * n]);
        match w.data {
            MatrixData::F32(wd) => (self.matmul_f32)(x, wd, y, m, k, n),
            MatrixData::F16(wd) => (self.matmul_f16)(x, wd, y, m, k, n),
            MatrixData::I8 {
                q: wq,
                scales,
                act_scale,
            } => {
                let (xq, xs) = (&mut q.q[..m * k], &mut q.scales[..m]);
                self.quantize(x, xq, xs, m, k, act_scale);
                (self.matmul_i8)(xq, xs, wq, scales, y, m, k, n);
            }
        }
        if let Some(b) = bias {
            y.chunks_exact_mut(n)
                .for_each(|row| row.iter_mut().zip(b).for_each(|(v, b)| *v += b));
        }
    }

    fn quantize(
        &self,
        x: &[f32],
        xq: &mut [i8],
        xs: &mut [f32],
        m: usize,
        k: usize,
        act_scale: Option<f32>,
    ) {
        match act_scale {
            Some(s) => {
                (self.quantize_static)(x, xq, 1.0 / s);
                xs.fill(s);
            }
            None => (self.quantize_rows)(x, xq, xs, m, k),
        }
    }

    /// `y[i] = x . w[rows[i]] + bias[rows[i]]` for one row `x`: the output layer restricted to a
    /// shortlist. `q` is only touched for int8 weights.
    pub fn linear_rows(
        &self,
        x: &[f32],
        w: &Matrix,
        bias: Option<&[f32]>,
        rows: &[u32],
        y: &mut [f32],
        q: &mut QuantScratch,
    ) {
        let k = w.cols;
        let x = &x[..k];
        let span = |r: u32| r as usize * k..(r as usize + 1) * k;
        match w.data {
            MatrixData::F32(wd) => rows
                .iter()
                .zip(y.iter_mut())
                .for_each(|(&r, o)| *o = (self.dot)(x, &wd[span(r)])),
            MatrixData::F16(wd) => rows.iter().zip(y.iter_mut()).for_each(|(&r, o)| {
                let mut acc = 0.0;
                for (a, b) in x.iter().zip(&wd[span(r)]) {
                    acc += a * b.to_f32();
                }
                *o = acc
            }),
            MatrixData::I8 {
                q: wq,
                scales,
                act_scale,
            } => {
                let (xq, xs) = (&mut q.q[..k], &mut q.scales[..1]);
                self.quantize(x, xq, xs, 1, k, act_scale);
                (self.gemv_rows_i8)(xq, xs[0], wq, scales, rows, y);
            }
        }
        if let Some(b) = bias {
            rows.iter()
                .zip(y.iter_mut())
                .for_each(|(&r, o)| *o += b[r as usize]);
        }
    }
}
