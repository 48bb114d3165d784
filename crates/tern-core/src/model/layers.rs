//! The building blocks every family shares, each a function of the spec's choices, the weights
//! (borrowed from the file) and the caller's scratch: linear layers, norms, sublayer wrapping,
//! attention, the feed-forward block, positions and activations.

use super::spec::{NormKind, Positions, RelativeBias, Sublayer};
use crate::error::{Error, Result};
use crate::kernels::scalar::{max, ordered_sum_of};
use crate::kernels::{Kernels, Matrix, Quant, QuantScratch};
use crate::plan::Arena;
use crate::plan::Carver;

/// Feed-forward activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    Relu,
    /// Exact GELU, `x * Phi(x)` (HF `gelu`).
    Gelu,
    /// Tanh approximation (HF `gelu_new`, `gelu_pytorch_tanh`).
    GeluTanh,
    /// `x * sigmoid(x)` (HF `swish` / `silu`).
    Silu,
}

impl Activation {
    /// Parses HF's `activation_function` names.
    pub fn from_name(name: &str) -> Result<Self> {
        Ok(match name {
            "relu" => Activation::Relu,
            "gelu" => Activation::Gelu,
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Activation::GeluTanh,
            "swish" | "silu" => Activation::Silu,
            _ => return Err(Error::UnknownActivation),
        })
    }

    /// Canonical name, as written in model files.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::Gelu => "gelu",
            Activation::GeluTanh => "gelu_new",
            Activation::Silu => "swish",
        }
    }

    /// Applies the activation in place (`exp` through the kernel table, bit for bit `libm`'s).
    pub fn apply(self, k: &Kernels, x: &mut [f32]) {
        match self {
            Activation::Relu => x.iter_mut().for_each(|v| *v = relu(*v)),
            // x Phi(x) = x (1 + erf(x / sqrt 2)) / 2, erf by Abramowitz & Stegun 7.1.26
            // (absolute error under 1.5e-7): a polynomial in t = 1 / (1 + p|z|) times e^(-z^2).
            Activation::Gelu => with_exp(
                k,
                x,
                |v| {
                    let z = v * core::f32::consts::FRAC_1_SQRT_2;
                    -(z * z)
                },
                |v, e| {
                    let z = (v * core::f32::consts::FRAC_1_SQRT_2).abs();
                    let t = 1.0 / (1.0 + 0.327_591_1 * z);
                    let poly = t
                        * (0.254_829_6
                            + t * (-0.284_496_74
                                + t * (1.421_413_7 + t * (-1.453_152 + t * 1.061_405_4))));
                    let erf = (1.0 - poly * e).copysign(v);
                    0.5 * v * (1.0 + erf)
                },
            ),
            // (1 + tanh(u)) / 2 = 1 / (1 + e^(-2u)), u = sqrt(2/pi) (x + 0.044715 x^3).
            Activation::GeluTanh => with_exp(
                k,
                x,
                |v| -2.0 * 0.797_884_6 * (v + 0.044_715 * v * v * v),
                |v, e| v / (1.0 + e),
            ),
            // v / (1 + exp(-v)).
            Activation::Silu => with_exp(k, x, |v| -v, |v, e| v / (1.0 + e)),
        }
    }
}

/// `x = f(x, exp(arg(x)))`, the exponentials a block at a time through the table's `exp` (bit
/// for bit `libm::expf`), the rest plain loops that vectorize: no per-element libm call.
fn with_exp(k: &Kernels, x: &mut [f32], arg: impl Fn(f32) -> f32, f: impl Fn(f32, f32) -> f32) {
    let mut e = [0f32; 64];
    for block in x.chunks_mut(64) {
        let e = &mut e[..block.len()];
        e.iter_mut()
            .zip(block.iter())
            .for_each(|(e, &v)| *e = arg(v));
        (k.exp)(e);
        block
            .iter_mut()
            .zip(e.iter())
            .for_each(|(v, &e)| *v = f(*v, e));
    }
}

/// A linear layer: weight (rows = outputs) and optional bias.
#[derive(Debug, Clone, Copy)]
pub struct Linear<'a> {
    pub w: Matrix<'a>,
    pub b: Option<&'a [f32]>,
}

impl Linear<'_> {
    /// `y = x * W^T + b` for `m` rows.
    pub fn forward(&self, k: &Kernels, x: &[f32], m: usize, y: &mut [f32], q: &mut QuantScratch) {
        k.linear(x, m, &self.w, self.b, y, q)
    }
}

/// A norm over the last dimension: LayerNorm or RMSNorm, with the model's epsilon.
#[derive(Debug, Clone, Copy)]
pub struct Norm<'a> {
    pub kind: NormKind,
    pub weight: &'a [f32],
    pub bias: Option<&'a [f32]>,
    pub eps: f32,
}

impl Norm<'_> {
    /// Normalizes each row of `x` (rows of `weight.len()`) in place. Sums run in `dot`'s fixed
    /// order ([`ordered_sum_of`]), so every kernel table gives the same bits.
    pub fn forward(&self, x: &mut [f32]) {
        let d = self.weight.len();
        for row in x.chunks_exact_mut(d) {
            let (mean, var) = match self.kind {
                NormKind::Layer => {
                    let mean = ordered_sum_of(row, |v| v) / d as f32;
                    (
                        mean,
                        ordered_sum_of(row, |v| (v - mean) * (v - mean)) / d as f32,
                    )
                }
                NormKind::Rms => (0.0, ordered_sum_of(row, |v| v * v) / d as f32),
            };
            let inv = 1.0 / libm::sqrtf(var + self.eps);
            match self.bias {
                Some(bias) => {
                    for ((v, g), b) in row.iter_mut().zip(self.weight).zip(bias) {
                        *v = (*v - mean) * inv * g + b;
                    }
                }
                None => {
                    for (v, g) in row.iter_mut().zip(self.weight) {
                        *v = (*v - mean) * inv * g;
                    }
                }
            }
        }
    }
}

/// A sublayer's norms, as [`Sublayer`] places them: `pre` normalizes its input, `post` serves
/// the `n` of its output operations.
#[derive(Debug, Clone, Copy)]
pub struct Wrap<'a> {
    pub place: Sublayer,
    pub pre: Option<Norm<'a>>,
    pub post: Option<Norm<'a>>,
}

impl Wrap<'_> {
    /// The sublayer's input: `x`, or its pre-norm written to `buf`.
    pub(crate) fn input<'b>(&self, x: &'b [f32], buf: &'b mut [f32]) -> &'b [f32] {
        match &self.pre {
            None => x,
            Some(norm) => {
                let buf = &mut buf[..x.len()];
                buf.copy_from_slice(x);
                norm.forward(buf);
                buf
            }
        }
    }

    /// Applies the output operations to the sublayer output `y` (residual: `x`) and stores the
    /// result in `x`.
    pub(crate) fn output(&self, x: &mut [f32], y: &mut [f32]) {
        let y = &mut y[..x.len()];
        for &op in self.place.post.as_bytes() {
            match (op, &self.post) {
                (b'a', _) => y.iter_mut().zip(x.iter()).for_each(|(a, b)| *a += b),
                (b'n', Some(norm)) => norm.forward(y),
                _ => {}
            }
        }
        x.copy_from_slice(y);
    }
}

/// `max(v, 0)`; NaN gives 0, as `f32::max` does ([`max`]: no libm call on wasm).
#[inline(always)]
pub fn relu(v: f32) -> f32 {
    max(0.0, v)
}

/// Softmax of `x` in place (max-subtracted).
pub fn softmax(k: &Kernels, x: &mut [f32]) {
    let top = x.iter().fold(f32::NEG_INFINITY, |a, &b| max(a, b));
    x.iter_mut().for_each(|v| *v -= top);
    (k.exp)(x);
    let mut sum = 0.0;
    for v in x.iter() {
        sum += *v;
    }
    let inv = 1.0 / sum;
    x.iter_mut().for_each(|v| *v *= inv);
}

/// Which position each row of a block of embeddings is at: the encoder's rows are
/// consecutive, a decoder step's rows (sentences and beams) all at the step's position.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RowPositions {
    /// Row `r` at `first + r`.
    From(usize),
    /// Every row at this one.
    All(usize),
}

impl RowPositions {
    fn of(self, r: usize) -> usize {
        match self {
            RowPositions::From(first) => first + r,
            RowPositions::All(pos) => pos,
        }
    }

    /// The same rows `offset` positions on.
    pub(crate) fn shifted(self, offset: usize) -> Self {
        match self {
            RowPositions::From(first) => RowPositions::From(first + offset),
            RowPositions::All(pos) => RowPositions::All(pos + offset),
        }
    }
}

/// Adds `wave(pos, i) = (sin, cos)` for `i` in `0..count` to features `sin_at + i` and
/// `cos_at + i` (those inside the row) of each `d`-wide row of `x`, `pos` being the row's
/// position: once per `i` for rows all at one position (a decoder step's).
fn add_waves(
    x: &mut [f32],
    d: usize,
    at: RowPositions,
    (count, sin_at, cos_at): (usize, usize, usize),
    wave: impl Fn(usize, usize) -> (f32, f32),
) {
    let add = |row: &mut [f32], i: usize, (s, c): (f32, f32)| {
        row[sin_at + i] += s;
        if cos_at + i < d {
            row[cos_at + i] += c;
        }
    };
    match at {
        RowPositions::All(pos) => (0..count).for_each(|i| {
            let sc = wave(pos, i);
            x.chunks_exact_mut(d).for_each(|row| add(row, i, sc));
        }),
        RowPositions::From(_) => x.chunks_exact_mut(d).enumerate().for_each(|(r, row)| {
            (0..count).for_each(|i| add(row, i, wave(at.of(r), i)));
        }),
    }
}

/// Adds the sinusoidal position embedding to each `d`-wide row of `x` (HF Marian layout: the
/// first half of the features are sines, the second half cosines, with frequencies
/// `10000^(-2i/d)`). Computed in f64 like HF's table, so nothing has to be stored in flash;
/// rows at one position share its sines and cosines.
pub(crate) fn add_sinusoidal_positions(x: &mut [f32], d: usize, at: RowPositions) {
    let half = d.div_ceil(2);
    add_waves(x, d, at, (half, 0, half), |pos, i| {
        let angle = pos as f64 / libm::pow(10000.0, (2 * i) as f64 / d as f64);
        (libm::sin(angle) as f32, libm::cos(angle) as f32)
    });
}

/// Adds fairseq's (and the Marian toolkit's) sinusoid to each `d`-wide row of `x`: with
/// `n = d/2` frequencies, `x[i] += sin(pos * e^(-i ln(10000)/(n-1)))` and `x[n+i] += cos(...)`,
/// in f32 (note the `n - 1`, unlike HF Marian's `10000^(-2i/d)`). The frequencies are computed
/// once for all rows, and rows at one position share its sines and cosines (a batch's rows).
pub(crate) fn add_fairseq_positions(k: &Kernels, x: &mut [f32], d: usize, at: RowPositions) {
    let n = d / 2;
    let inc = libm::logf(10000.0) / (n as f32 - 1.0).max(1.0);
    // The frequencies a block at a time through the table's exp (bit for bit libm's).
    let mut ts = [0f32; 64];
    for start in (0..n).step_by(64) {
        let ts = &mut ts[..(n - start).min(64)];
        ts.iter_mut()
            .enumerate()
            .for_each(|(j, t)| *t = (start + j) as f32 * -inc);
        (k.exp)(ts);
        add_waves(x, d, at, (ts.len(), start, n + start), |pos, j| {
            let v = pos as f32 * ts[j];
            (libm::sinf(v), libm::cosf(v))
        });
    }
}

/// Adds each `d`-wide row's position (offset already applied) as `positions` says; `table` is
/// the stack's learned table where there is one.
pub(crate) fn add_positions(
    k: &Kernels,
    (positions, table): (Positions, Option<&Matrix>),
    x: &mut [f32],
    d: usize,
    at: RowPositions,
) {
    match (positions, table) {
        (Positions::SinusoidalHf, _) => add_sinusoidal_positions(x, d, at),
        (Positions::SinusoidalFairseq, _) => add_fairseq_positions(k, x, d, at),
        (Positions::Learned, Some(t)) => x
            .chunks_exact_mut(d)
            .enumerate()
            .for_each(|(r, row)| t.add_row_into(at.of(r), row)),
        _ => {}
    }
}

/// T5's relative position bias for one query (see [`RelativeBias`]): key `s` is at position
/// `s`, the query at `query`; `buckets` is scratch for the keys' buckets.
pub(crate) struct PositionBias<'b> {
    pub table: &'b [f32],
    pub rel: RelativeBias,
    pub query: usize,
    pub bidirectional: bool,
    pub buckets: &'b mut [u16],
}

impl PositionBias<'_> {
    /// Buckets the first `n` keys, once for every head.
    fn bucket_keys(&mut self, n: usize) {
        let (rel, query, both) = (self.rel, self.query as isize, self.bidirectional);
        for (s, b) in self.buckets[..n].iter_mut().enumerate() {
            *b = rel.bucket(s as isize - query, both) as u16;
        }
    }

    /// Adds head `h`'s bias to the keys' logits.
    fn add(&self, h: usize, heads: usize, scores: &mut [f32]) {
        for (s, &b) in scores.iter_mut().zip(self.buckets.iter()) {
            *s += self.table[b as usize * heads + h];
        }
    }
}

/// Where [`attend`] copies its attention weights when they are asked for (to be looked at, see
/// [`super::attention`]): head `h`'s `n` weights go to `out[h * head_stride..]`.
pub(crate) struct Keep<'k> {
    pub out: &'k mut [f32],
    pub head_stride: usize,
}

/// Scaled dot-product attention of one query row against `n` key/value rows chosen by `row_of`,
/// for every head: `ctx[h] = softmax(q[h] . k[h] * scale + bias[h]) v[h]`. With `keep`, the
/// weights (`softmax(...)`) are also copied out.
#[allow(clippy::too_many_arguments)]
pub(crate) fn attend(
    k: &Kernels,
    q: &[f32],
    keys: &[f32],
    values: &[f32],
    n: usize,
    row_of: impl Fn(usize) -> usize,
    heads: usize,
    scale: f32,
    scores: &mut [f32],
    offs: &mut [usize],
    ctx: &mut [f32],
    keep: Option<Keep>,
    mut bias: Option<PositionBias>,
) {
    let d = q.len();
    let hd = d / heads;
    ctx.fill(0.0);
    // Where each key/value row starts; head h reads hd floats from there plus h * hd.
    let offs = &mut offs[..n];
    offs.iter_mut()
        .enumerate()
        .for_each(|(s, o)| *o = row_of(s) * d);
    if let Some(b) = bias.as_mut() {
        b.bucket_keys(n);
    }
    let (offs, bias) = (&*offs, bias.as_ref());
    let keep = keep.map(|k| (k.out, k.head_stride));
    // Each head's dots and weighted sum of values (its own scores; heads may run on threads).
    k.for_each_head(heads, n, 2 * n * d, scores, ctx, keep, &|h, scores, ctx| {
        let at = h * hd;
        let bias = bias.map(|b| (b, h, heads));
        let head = (&q[at..at + hd], &keys[at..], &values[at..]);
        one_head(k, head, offs, scale, bias, scores, ctx);
    });
}

/// [`attend`] for each of the `rows` query rows of `q` (`w` wide) against the same `n` keys and
/// values, in order (the encoder's self-attention, with no position bias and no weights kept):
/// every (row, head) pair is one item of [`Kernels::for_each_head`], so the layer's attention
/// is one fan-out, not one per row. Each row gets [`attend`]'s bits.
#[allow(clippy::too_many_arguments)]
pub(crate) fn attend_rows(
    k: &Kernels,
    (q, w): (&[f32], usize),
    keys: &[f32],
    values: &[f32],
    n: usize,
    heads: usize,
    scale: f32,
    scores: &mut [f32],
    offs: &mut [usize],
    ctx: &mut [f32],
) {
    let rows = q.len() / w.max(1);
    let hd = w / heads.max(1);
    let ctx = &mut ctx[..rows * w];
    ctx.fill(0.0);
    let offs = &mut offs[..n];
    offs.iter_mut().enumerate().for_each(|(s, o)| *o = s * w);
    let offs = &*offs;
    let macs = 2 * rows * n * w;
    k.for_each_head(
        rows * heads,
        n,
        macs,
        scores,
        ctx,
        None,
        &|i, scores, ctx| {
            // Item i is row i / heads, head i % heads: its outputs are ctx[i * hd..][..hd].
            let (at, row) = ((i % heads) * hd, (i / heads) * w);
            let head = (&q[row + at..row + at + hd], &keys[at..], &values[at..]);
            one_head(k, head, offs, scale, None, scores, ctx);
        },
    );
}

/// One head of one query row: `ctx = softmax(q . keys * scale + bias) values` over the key and
/// value rows at `offs` (`q`, `keys` and `values` start at the head's first feature); `bias` is
/// T5's, with the head and the number of heads.
fn one_head(
    k: &Kernels,
    (q, keys, values): (&[f32], &[f32], &[f32]),
    offs: &[usize],
    scale: f32,
    bias: Option<(&PositionBias, usize, usize)>,
    scores: &mut [f32],
    ctx: &mut [f32],
) {
    (k.dots)(q, keys, offs, scores);
    if scale != 1.0 {
        scores.iter_mut().for_each(|s| *s *= scale);
    }
    if let Some((b, h, heads)) = bias {
        b.add(h, heads, scores);
    }
    softmax(k, scores);
    (k.axpy_rows)(scores, values, offs, ctx);
}

/// Attention projections.
#[derive(Debug, Clone, Copy)]
pub struct Attention<'a> {
    pub q: Linear<'a>,
    pub k: Linear<'a>,
    pub v: Linear<'a>,
    pub o: Linear<'a>,
}

impl Attention<'_> {
    /// Writes the keys and values of `n` rows of `x` (the encoder output) for cross-attention.
    pub(crate) fn project_kv(
        &self,
        kern: &Kernels,
        x: &[f32],
        n: usize,
        keys: &mut [f32],
        values: &mut [f32],
        qs: &mut QuantScratch,
    ) {
        self.k.forward(kern, x, n, keys, qs);
        self.v.forward(kern, x, n, values, qs);
    }
}

/// The position-wise feed-forward block: `down(act(up(x)))`, or gated,
/// `down(act(gate(x)) * up(x))`.
#[derive(Debug, Clone, Copy)]
pub struct Ffn<'a> {
    pub up: Linear<'a>,
    pub gate: Option<Linear<'a>>,
    pub down: Linear<'a>,
    pub act: Activation,
}

impl Ffn<'_> {
    /// `x = wrap(x, ffn(x))` for `n` rows.
    pub(crate) fn forward(
        &self,
        k: &Kernels,
        wrap: &Wrap,
        x: &mut [f32],
        n: usize,
        s: &mut Scratch<Carver<'_>>,
    ) {
        let f = self.up.w.rows;
        let input = wrap.input(x, s.pre);
        let hidden = &mut s.ffn[..n * f];
        match &self.gate {
            None => {
                self.up.forward(k, input, n, hidden, &mut s.qs);
                self.act.apply(k, hidden);
            }
            Some(gate) => {
                gate.forward(k, input, n, hidden, &mut s.qs);
                self.act.apply(k, hidden);
                let up = &mut s.ffn_up[..n * f];
                self.up.forward(k, input, n, up, &mut s.qs);
                hidden.iter_mut().zip(up.iter()).for_each(|(h, u)| *h *= u);
            }
        }
        self.down.forward(k, hidden, n, s.tmp, &mut s.qs);
        wrap.output(x, s.tmp);
    }
}

/// The per-row scratch every layer uses: `rows x d` for a pre-normed input and a temporary;
/// `rows x attn` for queries, keys, values and attention context; `rows x ffn` for the FFN (twice
/// when gated); `keys` attention scores, row offsets and relative position buckets; and the
/// int8 quantization scratch.
pub(crate) struct Scratch<A: Arena> {
    pub pre: A::Slice<f32>,
    pub q: A::Slice<f32>,
    pub k: A::Slice<f32>,
    pub v: A::Slice<f32>,
    pub ctx: A::Slice<f32>,
    pub tmp: A::Slice<f32>,
    pub ffn: A::Slice<f32>,
    pub ffn_up: A::Slice<f32>,
    pub scores: A::Slice<f32>,
    pub offs: A::Slice<usize>,
    pub buckets: A::Slice<u16>,
    pub qs: Quant<A>,
}

/// The sizes [`Scratch`] is laid out for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScratchDims {
    pub rows: usize,
    pub d: usize,
    /// The widest attention (at least `d`: the SSRU's gate uses `q` and `ctx`).
    pub attn: usize,
    pub ffn: usize,
    pub gated: bool,
    pub keys: usize,
    pub relative: bool,
}

impl<A: Arena> Scratch<A> {
    /// The layout, in one place for the plan and the carving.
    pub(crate) fn lay_out(a: &mut A, s: ScratchDims) -> Result<Self> {
        let (rd, ra) = (s.rows * s.d, s.rows * s.d.max(s.attn));
        Ok(Scratch {
            pre: a.take(rd)?,
            q: a.take(ra)?,
            k: a.take(ra)?,
            v: a.take(ra)?,
            ctx: a.take(ra)?,
            tmp: a.take(rd)?,
            ffn: a.take(s.rows * s.ffn)?,
            ffn_up: a.take(if s.gated { s.rows * s.ffn } else { 0 })?,
            scores: a.take(s.keys)?,
            offs: a.take(s.keys)?,
            buckets: a.take(if s.relative { s.keys } else { 0 })?,
            qs: Quant {
                q: a.take(s.rows * s.d.max(s.ffn).max(s.attn))?,
                scales: a.take(s.rows)?,
            },
        })
    }
}
