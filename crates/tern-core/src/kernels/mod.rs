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

/// Runs `work(part, parts)` for every `part` in `0..parts` and returns when all are done;
/// `parts` is the implementation's: how many threads it has for this call. The int8 products
/// split their output rows over the parts, each part writing only its own. Their sums are
/// exact, so a product gives the same bits however many parts there are.
///
/// [`serial`] runs one part on the caller's thread (the core has no threads); the `tern` crate's
/// runs them on a session's pool of threads (`Settings::intra_threads`).
pub type FanOut = fn(work: &(dyn Fn(usize, usize) + Sync));

/// One attention head's work for [`Kernels::for_each_head`]: `(head, scores, its outputs)`.
pub type Head<'a> = dyn Fn(usize, &mut [f32], &mut [f32]) + Sync + 'a;

/// Asks for `data` to be brought into L2, where the target has a prefetch instruction
/// (x86-64); elsewhere it does nothing. For data read soon in an order the hardware cannot
/// guess (the next sentence's encoder keys and values, in a batch).
#[inline]
pub(crate) fn prefetch<T>(data: &[T]) {
    #[cfg(target_arch = "x86_64")]
    avx2::prefetch_lines(data.as_ptr().cast(), core::mem::size_of_val(data), true);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = data;
}

/// The [`FanOut`] of one thread: `work(0, 1)`.
pub fn serial(work: &(dyn Fn(usize, usize) + Sync)) {
    work(0, 1)
}

/// Products smaller than this many multiply-adds run on one thread: handing out parts costs
/// about a microsecond, a 128 x 256 int8 product a couple.
/// (Under Miri, which checks the parts' shared output on tiny products, any size.)
const FAN_OUT_MIN_MACS: usize = if cfg!(miri) { 0 } else { 1 << 15 };

/// Attentions smaller than this many multiply-adds run their heads on one thread. Lower than
/// the products': each head's part is a softmax (an `exp` per score) on top of its dots and
/// sums, and the heads are serial work the other thread would wait through. Measured (Zen 4,
/// 2026-12-07, Firefox en->pt, FLORES devtest, 2 threads on a sentence, 5 rounds): with the
/// decoder's cross-attention split too (8 heads x ~30 keys, ~15k multiply-adds) 401 against
/// 393 sentences/s.
const HEADS_FAN_OUT_MIN_MACS: usize = if cfg!(miri) { 0 } else { 1 << 12 };

/// Weights read per generated token above which a model's products stream from memory
/// ([`Kernels::streaming`]): half the last-level cache of a Zen 4 CCD (32 MiB), and more than
/// most client CPUs have. Models measured either side: Firefox's tiny ones read ~3 MB a token,
/// t5-small 37 MiB, OPUS-MT 50 MB, NLLB-600M 440 MB.
pub const STREAMING_BYTES: usize = 16 << 20;

/// Floats of the stack tile a part of a product with a few rows of `x` writes through (16 KB).
const TILE_FLOATS: usize = 4096;

/// The longest score row a part of [`Kernels::for_each_head`] keeps on its stack (4 KB); past
/// it, heads run on the calling thread in its own scratch.
const HEAD_SCORES_MAX: usize = 1024;

/// Part `part` of `0..n` split into `parts` ranges of whole `block`s (the kernels' row blocks).
fn share(n: usize, part: usize, parts: usize, block: usize) -> core::ops::Range<usize> {
    let each = n.div_ceil(parts).next_multiple_of(block);
    let start = (part * each).min(n);
    start..(start + each).min(n)
}

/// Calls `f` with `n` (at most [`HEAD_SCORES_MAX`]) floats of this thread's stack. Not inlined,
/// so the row is only on a stack while a part of [`Kernels::for_each_head`] runs on a host's
/// thread (never on a microcontroller's serial run).
#[inline(never)]
fn on_stack_scores(n: usize, f: &dyn Fn(&mut [f32])) {
    let mut row = [0f32; HEAD_SCORES_MAX];
    f(&mut row[..n])
}

/// An output buffer the parts of a fan-out write, each its own range.
struct Disjoint<'a> {
    ptr: *mut f32,
    len: usize,
    _borrow: core::marker::PhantomData<&'a mut [f32]>,
}

// SAFETY: parts write disjoint ranges (`range`'s contract); the buffer is f32s, which any thread
// may write.
unsafe impl Sync for Disjoint<'_> {}

impl<'a> Disjoint<'a> {
    fn new(y: &'a mut [f32]) -> Self {
        Disjoint {
            ptr: y.as_mut_ptr(),
            len: y.len(),
            _borrow: core::marker::PhantomData,
        }
    }

    /// Elements `r` of the buffer.
    ///
    /// # Safety
    /// No two live results may overlap: each part of a fan-out asks for its own range.
    #[allow(clippy::mut_from_ref)]
    unsafe fn range(&self, r: core::ops::Range<usize>) -> &mut [f32] {
        assert!(r.start <= r.end && r.end <= self.len);
        // SAFETY: in bounds (asserted); exclusive by the caller's contract; `'a` keeps the
        // buffer borrowed while `self` lives.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.add(r.start), r.len()) }
    }
}

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
    /// How the int8 products are spread over threads ([`serial`] unless the caller has some).
    pub fan_out: FanOut,
    /// [`MatmulI8`] for weights that stream from memory, not from cache (a model whose step
    /// outgrows the last-level cache): same sums, a different order of reads. `None` where one
    /// product serves both. [`Kernels::streaming`] swaps it in.
    pub matmul_i8_streaming: Option<MatmulI8>,
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

    /// This table with its products for weights that stream from memory
    /// ([`Kernels::matmul_i8_streaming`], where it has one); the model picks it when its weights
    /// per token outgrow the caches ([`STREAMING_BYTES`]).
    pub fn streaming(self) -> Kernels {
        Kernels {
            matmul_i8: self.matmul_i8_streaming.unwrap_or(self.matmul_i8),
            ..self
        }
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
                // The bias too goes to the parts, each adding it to its own outputs.
                return self.matmul_i8_fanned(xq, xs, wq, scales, bias, y, m, k, n);
            }
        }
        self.add_bias(y, bias);
    }

    /// Adds `bias` to each of `y`'s rows (as long as `bias`); nothing without one. Through the
    /// table's `axpy` with `a = 1`, whose product is exact, so each element is `y + b`: the
    /// vector width of the table where generic code would have the baseline's (on x86-64, 128
    /// bits: 1.6% of a batched Firefox run before).
    fn add_bias(&self, y: &mut [f32], bias: Option<&[f32]>) {
        if let Some(b) = bias.filter(|b| !b.is_empty()) {
            y.chunks_exact_mut(b.len())
                .for_each(|row| (self.axpy)(1.0, b, row));
        }
    }

    /// [`MatmulI8`] with its work spread by [`FanOut`]. Up to [`TILE_FLOATS`]`/16` rows of `x`
    /// (the decoder's, batches and beams included), the parts split the weight rows, so each
    /// streams only its share of the weights; more rows (the encoder's), they split the rows
    /// of `x` and each reads all the weights, which then come from cache.
    #[allow(clippy::too_many_arguments)]
    fn matmul_i8_fanned(
        &self,
        xq: &[i8],
        xs: &[f32],
        wq: &[i8],
        ws: &[f32],
        bias: Option<&[f32]>,
        y: &mut [f32],
        m: usize,
        k: usize,
        n: usize,
    ) {
        if m.saturating_mul(n).saturating_mul(k) < FAN_OUT_MIN_MACS {
            return self.matmul_i8_biased(xq, xs, wq, ws, bias, y, m, k, n);
        }
        let out = Disjoint::new(y);
        (self.fan_out)(&|part, parts| {
            if parts == 1 {
                // SAFETY: the only part.
                let y = unsafe { out.range(0..m * n) };
                self.matmul_i8_biased(xq, xs, wq, ws, bias, y, m, k, n);
            } else if m * 16 > TILE_FLOATS {
                let r = share(m, part, parts, 4);
                // SAFETY: the parts' row ranges are disjoint, so their outputs are.
                let y = unsafe { out.range(r.start * n..r.end * n) };
                let (xq, xs) = (&xq[r.start * k..r.end * k], &xs[r.clone()]);
                self.matmul_i8_biased(xq, xs, wq, ws, bias, y, r.len(), k, n);
            } else {
                let c = share(n, part, parts, 16);
                self.columns(xq, xs, wq, ws, bias, &out, c, m, k, n)
            }
        });
    }

    /// [`MatmulI8`], then `bias` (one per output column) added to each row: what every part of
    /// a fanned-out product runs on its own rows or columns.
    #[allow(clippy::too_many_arguments)]
    fn matmul_i8_biased(
        &self,
        xq: &[i8],
        xs: &[f32],
        wq: &[i8],
        ws: &[f32],
        bias: Option<&[f32]>,
        y: &mut [f32],
        m: usize,
        k: usize,
        n: usize,
    ) {
        (self.matmul_i8)(xq, xs, wq, ws, y, m, k, n);
        self.add_bias(y, bias);
    }

    /// Columns `c` of every row of a [`MatmulI8`] into `out` (m x n): straight for one row,
    /// else a tile of columns at a time through a stack buffer, since the kernels write whole
    /// rows. Not inlined: the buffer is on the stack only while a part runs (a host's thread;
    /// never a microcontroller's serial run).
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn columns(
        &self,
        xq: &[i8],
        xs: &[f32],
        wq: &[i8],
        ws: &[f32],
        bias: Option<&[f32]>,
        out: &Disjoint,
        c: core::ops::Range<usize>,
        m: usize,
        k: usize,
        n: usize,
    ) {
        let bias = bias.map(|b| &b[c.clone()]);
        if m == 1 {
            // SAFETY: the parts' column ranges are disjoint, so their outputs are.
            let y = unsafe { out.range(c.clone()) };
            let (wq, ws) = (&wq[c.start * k..c.end * k], &ws[c.clone()]);
            return self.matmul_i8_biased(xq, xs, wq, ws, bias, y, 1, k, c.len());
        }
        let mut tile = [0f32; TILE_FLOATS];
        // Whole 16s of weight rows (the kernels' blocks): the caller sends at most
        // `TILE_FLOATS / 16` rows here, so at least one 16 fits.
        debug_assert!(m * 16 <= TILE_FLOATS);
        let width = (TILE_FLOATS / m) & !15;
        let mut j = c.start;
        while j < c.end {
            let w = width.min(c.end - j);
            let t = &mut tile[..m * w];
            let (wq, ws) = (&wq[j * k..(j + w) * k], &ws[j..j + w]);
            let bias = bias.map(|b| &b[j - c.start..j - c.start + w]);
            self.matmul_i8_biased(xq, xs, wq, ws, bias, t, m, k, w);
            for (i, row) in t.chunks_exact(w).enumerate() {
                // SAFETY: the parts' column ranges are disjoint, so within row `i` their
                // outputs are.
                unsafe { out.range(i * n + j..i * n + j + w) }.copy_from_slice(row);
            }
            j += w;
        }
    }

    /// Runs `head(h, scores, ctx_h)` for every head `h` of an attention (or every (row, head)
    /// pair of several query rows, `heads` of them in all): `ctx_h` is head `h`'s
    /// `ctx.len() / heads` outputs, `scores` `n` floats of scratch; with `keep` (a buffer and a
    /// stride), head `h`'s scores are then copied to `buffer[h * stride..]`. Heads are
    /// independent, so with [`FanOut`] they split over threads (`macs`, the attention's
    /// multiply-adds, above [`HEADS_FAN_OUT_MIN_MACS`]): the first part uses `scores`, the others a
    /// stack row each. Each head's bits are the same wherever it runs.
    #[allow(clippy::too_many_arguments)]
    pub fn for_each_head(
        &self,
        heads: usize,
        n: usize,
        macs: usize,
        scores: &mut [f32],
        ctx: &mut [f32],
        keep: Option<(&mut [f32], usize)>,
        head: &Head<'_>,
    ) {
        let width = ctx.len() / heads.max(1);
        if width == 0 {
            return; // No head has an output (a spec's widths are checked at load).
        }
        let scores = &mut scores[..n];
        let (kept, stride) = match keep {
            Some((buf, stride)) => (buf, stride),
            None => (&mut [][..], 0),
        };
        // Kept rows closer than `n` would overlap between heads: those run in order, here.
        let overlapping = !kept.is_empty() && stride < n;
        if macs < HEADS_FAN_OUT_MIN_MACS || n > HEAD_SCORES_MAX || heads < 2 || overlapping {
            for (h, out) in ctx.chunks_exact_mut(width).enumerate().take(heads) {
                head(h, scores, out);
                if let Some(k) = kept.get_mut(h * stride..h * stride + n) {
                    k.copy_from_slice(scores);
                }
            }
            return;
        }
        let (first, out, kept_out) = (
            Disjoint::new(scores),
            Disjoint::new(ctx),
            Disjoint::new(kept),
        );
        let run = |hs: core::ops::Range<usize>, scores: &mut [f32]| {
            for h in hs {
                // SAFETY: each head is in one part only, so its output span is written once.
                head(h, scores, unsafe { out.range(h * width..(h + 1) * width) });
                let at = h * stride..h * stride + n;
                if at.end <= kept_out.len {
                    // SAFETY: as above, for head `h`'s span of the kept scores (`stride >= n`
                    // here, so no two heads' spans overlap).
                    unsafe { kept_out.range(at) }.copy_from_slice(scores);
                }
            }
        };
        (self.fan_out)(&|part, parts| match part {
            // SAFETY: only part 0 uses the caller's scratch.
            0 => run(share(heads, 0, parts, 1), unsafe { first.range(0..n) }),
            _ => on_stack_scores(n, &|scores| run(share(heads, part, parts, 1), scores)),
        });
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
                let (xq, xs, y) = (&*xq, xs[0], &mut y[..rows.len()]);
                if rows.len().saturating_mul(k) < FAN_OUT_MIN_MACS {
                    (self.gemv_rows_i8)(xq, xs, wq, scales, rows, y);
                } else {
                    let out = Disjoint::new(y);
                    (self.fan_out)(&|part, parts| {
                        let r = share(rows.len(), part, parts, 16);
                        // SAFETY: the parts' ranges of the list are disjoint, so their outputs are.
                        let y = unsafe { out.range(r.clone()) };
                        (self.gemv_rows_i8)(xq, xs, wq, scales, &rows[r], y);
                    });
                }
            }
        }
        if let Some(b) = bias {
            rows.iter()
                .zip(y.iter_mut())
                .for_each(|(&r, o)| *o += b[r as usize]);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use alloc::{format, vec, vec::Vec};

    /// Parts run in reverse, each on the caller's thread: a pool's parts run in any order.
    pub(crate) fn three_in_reverse(work: &(dyn Fn(usize, usize) + Sync)) {
        (0..3).rev().for_each(|p| work(p, 3))
    }

    /// Two parts in order, on the caller's thread.
    pub(crate) fn two(work: &(dyn Fn(usize, usize) + Sync)) {
        (0..2).for_each(|p| work(p, 2))
    }

    /// Pseudo-random values in -1..1.
    fn values(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2_654_435_761).max(1);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s as f32 / u32::MAX as f32) * 2.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn streaming_swaps_only_the_int8_product() {
        let s = scalar::KERNELS.streaming();
        assert!(s.matmul_i8 as usize == scalar::KERNELS.matmul_i8 as usize);
        for t in ["avx2", "avx512vnni", "neon"]
            .iter()
            .filter_map(|n| Kernels::named(n))
        {
            let st = t.streaming();
            let want = t.matmul_i8_streaming.unwrap_or(t.matmul_i8);
            assert!(st.matmul_i8 as usize == want as usize, "{}", t.name);
            assert!(
                st.gemv_rows_i8 as usize == t.gemv_rows_i8 as usize,
                "{}",
                t.name
            );
            assert_eq!(st.name, t.name);
        }
    }

    /// The heads' split (what `attend` runs on threads): every head's output span and kept
    /// scores written exactly once, whatever the parts' number and order.
    #[test]
    fn each_head_runs_once() {
        let (heads, n, width, stride) = (5, 4, 3, 6);
        for fan_out in [serial as FanOut, three_in_reverse, two] {
            let k = Kernels {
                fan_out,
                ..scalar::KERNELS
            };
            let mut scores = vec![9f32; n];
            let mut ctx = vec![0f32; heads * width];
            let mut kept = vec![-1f32; heads * stride];
            let head = |h: usize, s: &mut [f32], c: &mut [f32]| {
                s.iter_mut()
                    .enumerate()
                    .for_each(|(i, v)| *v = (h * 10 + i) as f32);
                c.iter_mut().for_each(|v| *v += h as f32 + 1.0);
            };
            let keep = Some((&mut kept[..], stride));
            k.for_each_head(heads, n, usize::MAX, &mut scores, &mut ctx, keep, &head);
            for h in 0..heads {
                assert!(ctx[h * width..(h + 1) * width] == [h as f32 + 1.0; 3]);
                let row = &kept[h * stride..(h + 1) * stride];
                let want: Vec<f32> = (0..stride)
                    .map(|i| if i < n { (h * 10 + i) as f32 } else { -1.0 })
                    .collect();
                assert_eq!(row, &want[..]);
            }
            // Kept rows that overlap (stride 2 < n) end as one thread leaves them: the last
            // head's scores over the earlier heads'.
            let mut kept = vec![-1f32; heads * 2 + n];
            let keep = Some((&mut kept[..], 2));
            k.for_each_head(heads, n, usize::MAX, &mut scores, &mut ctx, keep, &head);
            let last = heads - 1;
            assert_eq!(kept[last * 2..last * 2 + n], [40.0, 41.0, 42.0, 43.0]);
            assert_eq!(kept[..2], [0.0, 1.0]);
        }
    }

    /// Split over the input rows (many rows), over the weight rows (few), and the shortlisted
    /// rows: every split gives the serial product's bits, for each table this machine runs.
    #[test]
    fn fanned_out_int8_products_equal_serial() {
        let names = ["scalar", "avx2", "avx512vnni", "neon", "neon-dotprod"];
        let tables = names.iter().filter_map(|n| Kernels::named(n));
        // Each with its products for streamed weights too (where it has them).
        for serial_table in tables.flat_map(|t| [t, t.streaming()]) {
            for fan_out in [three_in_reverse as FanOut, two] {
                let fanned = Kernels {
                    fan_out,
                    ..serial_table
                };
                // Under Miri (which checks the unsafe output sharing), tiny ones of each kind.
                let shapes: &[(usize, usize, usize)] = match cfg!(miri) {
                    true => &[(1, 16, 40), (3, 8, 24), (257, 2, 2)],
                    false => &[
                        (1, 256, 1000),
                        (3, 128, 999),
                        (4, 64, 520),
                        (29, 96, 300),
                        (300, 64, 120),
                    ],
                };
                for &(m, k, n) in shapes {
                    let wq: Vec<i8> = values(n * k, 7).iter().map(|v| (v * 127.0) as i8).collect();
                    let scales = values(n, 3)
                        .iter()
                        .map(|v| v.abs() / 64.0)
                        .collect::<Vec<_>>();
                    for act_scale in [None, Some(0.01)] {
                        let w = Matrix {
                            rows: n,
                            cols: k,
                            data: MatrixData::I8 {
                                q: &wq,
                                scales: &scales,
                                act_scale,
                            },
                        };
                        let x = values(m * k, 11);
                        let bias = values(n, 5);
                        let run = |t: &Kernels, rows: Option<&[u32]>| {
                            let (mut xq, mut xs) = (vec![0i8; m * k], vec![0f32; m]);
                            let mut q = Quant::<crate::plan::Carver> {
                                q: &mut xq,
                                scales: &mut xs,
                            };
                            let mut y = vec![0f32; m * n];
                            match rows {
                                None => t.linear(&x, m, &w, Some(&bias), &mut y, &mut q),
                                Some(r) => t.linear_rows(&x, &w, Some(&bias), r, &mut y, &mut q),
                            }
                            y.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
                        };
                        let what = format!("{} m {m} k {k} n {n} {act_scale:?}", serial_table.name);
                        assert_eq!(run(&serial_table, None), run(&fanned, None), "{what}");
                        let rows: Vec<u32> = (0..n as u32).rev().step_by(2).collect();
                        assert_eq!(
                            run(&serial_table, Some(&rows)),
                            run(&fanned, Some(&rows)),
                            "{what}, shortlisted"
                        );
                    }
                }
            }
        }
    }
}
