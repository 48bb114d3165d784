//! Model architectures (one file each) and the pieces they share: linear and norm layers that
//! borrow the file's bytes, activations, sinusoidal positions, and the [`Seq2Seq`] interface the
//! decoding loops drive. A new family (T5, BART) adds a file here and a loader in `convert`.

pub mod marian;
pub mod marian_nmt;
pub mod names;

use crate::error::{Error, Result};
use crate::gguf::{Gguf, TensorInfo, TensorType};
use crate::kernels::scalar::ordered_sum;
use crate::kernels::{Kernels, Matrix, MatrixData, QuantScratch};
use crate::plan::{Carver, Limits, Sizer};

/// Most layers per stack a model may have (capacity of the layer arrays).
pub const MAX_LAYERS: usize = 16;

/// An encoder-decoder model as the decoding loops see it.
///
/// The workspace is the caller's: [`state_bytes`](Seq2Seq::state_bytes) says how much for given
/// limits; `encode` fills one sentence's slot with the encoder's results (cross-attention keys
/// and values), then `step` runs one decoder position for every row (beams, and sentences of a
/// batch) at once, so each weight is read once per step however many rows there are.
pub trait Seq2Seq {
    /// Output vocabulary size.
    fn vocab_size(&self) -> usize;
    /// Longest sequence the positions support.
    fn max_positions(&self) -> usize;
    /// Bytes of model state for these limits.
    fn state_bytes(&self, limits: &Limits) -> usize;
    /// Runs the encoder over `src` (ids, EOS included) into sentence slot `sentence`
    /// (`< limits.batch`).
    fn encode(&self, state: &mut [u8], limits: &Limits, sentence: usize, src: &[u32])
        -> Result<()>;
    /// After `encode`: where the model has a lexical shortlist, rebuilds sentence `sentence`'s
    /// from `words` (e.g. the source ids of every sentence of a request, as Bergamot builds one
    /// list per batch) instead of its own source. Models without one ignore it.
    fn restrict_output(
        &self,
        _state: &mut [u8],
        _limits: &Limits,
        _sentence: usize,
        _words: &[u32],
    ) -> Result<()> {
        Ok(())
    }
    /// The output ids sentence `sentence`'s logits can be finite at (sorted ascending), for
    /// models that score a shortlist; `None`: the whole vocabulary.
    fn candidates<'s>(
        &self,
        _state: &'s mut [u8],
        _limits: &Limits,
        _sentence: usize,
    ) -> Result<Option<&'s [u32]>> {
        Ok(None)
    }
    /// One decoder step at position `pos` for the rows of `rows` (see [`Rows`]). Writes
    /// `rows.tokens.len() x vocab` logits (with `rows.sparse`, only at the
    /// [`candidates`](Seq2Seq::candidates) of models that have them).
    fn step(
        &self,
        state: &mut [u8],
        limits: &Limits,
        rows: &Rows,
        pos: usize,
        logits: &mut [f32],
    ) -> Result<()>;
}

/// The rows of one decoder step. Row `r` feeds `tokens[r]`, cross-attends to the encoder output
/// of sentence `sentences[r]`, and writes its keys and values (or cell state) at position `pos`
/// of cache slot `slots[r]`; its earlier positions `s < pos` are in slot
/// `anc[slots[r] * max_tgt + s]`. Slots number `limits.rows()`.
#[derive(Debug, Clone, Copy)]
pub struct Rows<'a> {
    pub tokens: &'a [u32],
    pub slots: &'a [u32],
    pub sentences: &'a [u32],
    pub anc: &'a [u32],
    /// The caller reads only the candidates' logits: the others need not be written.
    pub sparse: bool,
}

/// `0, 1, 2, ...`: the slots of beams 0..n.
const IDENTITY: [u32; 64] = {
    let mut a = [0u32; 64];
    let mut i = 0;
    while i < 64 {
        a[i] = i as u32;
        i += 1;
    }
    a
};

impl<'a> Rows<'a> {
    /// The beams of sentence 0, beam `b` in slot `b` (at most 64; more fail the step's checks).
    pub fn beams(tokens: &'a [u32], anc: &'a [u32]) -> Self {
        let n = tokens.len().min(64);
        Rows {
            tokens,
            slots: &IDENTITY[..n],
            sentences: &[0; 64][..n],
            anc,
            sparse: false,
        }
    }
}

/// Every architecture tern runs, chosen by `general.architecture`.
#[derive(Debug, Clone)]
pub enum Model<'a> {
    /// Hugging Face MarianMT (OPUS-MT).
    Marian(marian::Marian<'a>),
    /// Marian-toolkit Transformer with an SSRU decoder (Bergamot / Firefox Translations).
    MarianNmt(marian_nmt::MarianNmt<'a>),
}

impl<'a> Model<'a> {
    /// Resolves the model the file's architecture names.
    pub fn from_gguf(g: &Gguf<'a>, kernels: Kernels) -> Result<Self> {
        match g.str("general.architecture")? {
            marian::ARCH => Ok(Model::Marian(marian::Marian::from_gguf(g, kernels)?)),
            marian_nmt::ARCH => Ok(Model::MarianNmt(marian_nmt::MarianNmt::from_gguf(
                g, kernels,
            )?)),
            _ => Err(Error::UnknownArchitecture),
        }
    }

    fn inner(&self) -> &dyn Seq2Seq {
        match self {
            Model::Marian(m) => m,
            Model::MarianNmt(m) => m,
        }
    }

    /// The kernel table the model runs on.
    pub fn kernels(&self) -> &Kernels {
        match self {
            Model::Marian(m) => &m.kernels,
            Model::MarianNmt(m) => &m.kernels,
        }
    }

    /// Bytes of weights read per generated token at batch 1.
    pub fn bytes_per_token(&self) -> usize {
        match self {
            Model::Marian(m) => m.bytes_per_token(),
            Model::MarianNmt(m) => m.bytes_per_token(),
        }
    }
}

impl Seq2Seq for Model<'_> {
    fn vocab_size(&self) -> usize {
        self.inner().vocab_size()
    }
    fn max_positions(&self) -> usize {
        self.inner().max_positions()
    }
    fn state_bytes(&self, limits: &Limits) -> usize {
        self.inner().state_bytes(limits)
    }
    fn encode(
        &self,
        state: &mut [u8],
        limits: &Limits,
        sentence: usize,
        src: &[u32],
    ) -> Result<()> {
        self.inner().encode(state, limits, sentence, src)
    }
    fn restrict_output(
        &self,
        state: &mut [u8],
        limits: &Limits,
        sentence: usize,
        words: &[u32],
    ) -> Result<()> {
        self.inner().restrict_output(state, limits, sentence, words)
    }
    fn candidates<'s>(
        &self,
        state: &'s mut [u8],
        limits: &Limits,
        sentence: usize,
    ) -> Result<Option<&'s [u32]>> {
        self.inner().candidates(state, limits, sentence)
    }
    fn step(
        &self,
        state: &mut [u8],
        limits: &Limits,
        rows: &Rows,
        pos: usize,
        logits: &mut [f32],
    ) -> Result<()> {
        self.inner().step(state, limits, rows, pos, logits)
    }
}

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
            Activation::Relu => x.iter_mut().for_each(|v| *v = v.max(0.0)),
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

/// Layer normalization over the last dimension.
#[derive(Debug, Clone, Copy)]
pub struct LayerNorm<'a> {
    pub weight: &'a [f32],
    pub bias: &'a [f32],
    pub eps: f32,
}

impl LayerNorm<'_> {
    /// Normalizes each row of `x` (rows of `weight.len()`) in place.
    pub fn forward(&self, x: &mut [f32]) {
        let d = self.weight.len();
        for row in x.chunks_exact_mut(d) {
            let mean = ordered_sum(d, |i| row[i]) / d as f32;
            let var = ordered_sum(d, |i| (row[i] - mean) * (row[i] - mean)) / d as f32;
            let inv = 1.0 / libm::sqrtf(var + self.eps);
            for ((v, g), b) in row.iter_mut().zip(self.weight).zip(self.bias) {
                *v = (*v - mean) * inv * g + b;
            }
        }
    }
}

/// The operations Marian applies around a sublayer (`transformer-preprocess`/`-postprocess`):
/// `a` adds the sublayer's input (the residual), `n` is a LayerNorm; `d` (dropout) does nothing
/// at inference and is dropped. At most four, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ops {
    ops: [u8; 4],
    len: u8,
}

impl Ops {
    /// No operation.
    pub const NONE: Ops = Ops {
        ops: [0; 4],
        len: 0,
    };
    /// Residual then norm: HF Marian's and Marian's default post-norm "dan".
    pub const ADD_NORM: Ops = Ops {
        ops: [b'a', b'n', 0, 0],
        len: 2,
    };

    /// Parses an ops string; `None` for an op outside `allowed` (plus `d`) or too many.
    pub fn parse(s: &str, allowed: &[u8]) -> Option<Ops> {
        let mut o = Ops::NONE;
        for &c in s.as_bytes() {
            if c == b'd' {
                continue;
            }
            if !allowed.contains(&c) || o.len == 4 {
                return None;
            }
            o.ops[o.len as usize] = c;
            o.len += 1;
        }
        Some(o)
    }

    pub fn has(&self, op: u8) -> bool {
        self.ops[..self.len as usize].contains(&op)
    }

    fn iter(&self) -> impl Iterator<Item = u8> + '_ {
        self.ops[..self.len as usize].iter().copied()
    }
}

/// A sublayer's wrapping: an optional norm of its input (pre-norm), then `post` applied to its
/// output with `norm` for `n`.
#[derive(Debug, Clone, Copy)]
pub struct Wrap<'a> {
    pub pre: Option<LayerNorm<'a>>,
    pub post: Ops,
    pub norm: Option<LayerNorm<'a>>,
}

impl<'a> Wrap<'a> {
    /// Post-norm: `x = LN(x + sublayer(x))`.
    pub fn post_norm(norm: LayerNorm<'a>) -> Self {
        Wrap {
            pre: None,
            post: Ops::ADD_NORM,
            norm: Some(norm),
        }
    }

    /// The sublayer's input: `x`, or its pre-norm written to `buf`.
    pub(crate) fn input<'b>(&self, x: &'b [f32], buf: &'b mut [f32]) -> &'b [f32] {
        match &self.pre {
            None => x,
            Some(ln) => {
                let buf = &mut buf[..x.len()];
                buf.copy_from_slice(x);
                ln.forward(buf);
                buf
            }
        }
    }

    /// Applies the post operations to the sublayer output `y` (residual: `x`) and stores the
    /// result in `x`.
    pub(crate) fn output(&self, x: &mut [f32], y: &mut [f32]) {
        let y = &mut y[..x.len()];
        for op in self.post.iter() {
            match (op, &self.norm) {
                (b'a', _) => y.iter_mut().zip(x.iter()).for_each(|(a, b)| *a += b),
                (b'n', Some(ln)) => ln.forward(y),
                _ => {}
            }
        }
        x.copy_from_slice(y);
    }
}

/// Softmax of `x` in place (max-subtracted).
pub fn softmax(k: &Kernels, x: &mut [f32]) {
    let max = x.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    x.iter_mut().for_each(|v| *v -= max);
    (k.exp)(x);
    let mut sum = 0.0;
    for v in x.iter() {
        sum += *v;
    }
    let inv = 1.0 / sum;
    x.iter_mut().for_each(|v| *v *= inv);
}

/// Adds the sinusoidal position embedding of `pos` to `x` (HF Marian layout: the first half of
/// the features are sines, the second half cosines, with frequencies `10000^(-2i/d)`). Computed
/// in f64 like HF's table, so nothing has to be stored in flash.
pub fn add_sinusoidal_position(x: &mut [f32], pos: usize) {
    let d = x.len();
    let half = d.div_ceil(2);
    for i in 0..half {
        let angle = pos as f64 / libm::pow(10000.0, (2 * i) as f64 / d as f64);
        x[i] += libm::sin(angle) as f32;
        if half + i < d {
            x[half + i] += libm::cos(angle) as f32;
        }
    }
}

/// Residual add then LayerNorm: `x = norm(x + y)`.
pub(crate) fn add_norm(x: &mut [f32], y: &[f32], norm: &LayerNorm) {
    x.iter_mut().zip(y).for_each(|(a, b)| *a += b);
    norm.forward(x);
}

/// Scaled dot-product attention of one query row against `n` key/value rows chosen by `row_of`,
/// for every head: `ctx[h] = softmax(q[h] . k[h] * scale) v[h]`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn attend(
    k: &Kernels,
    q: &[f32],
    keys: &[f32],
    values: &[f32],
    n: usize,
    row_of: impl Fn(usize) -> usize,
    heads: usize,
    scores: &mut [f32],
    offs: &mut [usize],
    ctx: &mut [f32],
) {
    let d = q.len();
    let hd = d / heads;
    let scale = 1.0 / libm::sqrtf(hd as f32);
    ctx.fill(0.0);
    // Where each key/value row starts; head h reads hd floats from there plus h * hd.
    let offs = &mut offs[..n];
    offs.iter_mut()
        .enumerate()
        .for_each(|(s, o)| *o = row_of(s) * d);
    let scores = &mut scores[..n];
    for h in 0..heads {
        let span = h * hd..(h + 1) * hd;
        (k.dots)(&q[span.clone()], &keys[span.start..], offs, scores);
        scores.iter_mut().for_each(|s| *s *= scale);
        softmax(k, scores);
        (k.axpy_rows)(scores, &values[span.start..], offs, &mut ctx[span]);
    }
}

/// Position-wise feed-forward block, wrapped: `x = wrap(x, down(act(up(x))))` for `n` rows.
#[allow(clippy::too_many_arguments)]
pub(crate) fn ffn(
    k: &Kernels,
    act: Activation,
    up: Linear,
    down: Linear,
    wrap: &Wrap,
    x: &mut [f32],
    n: usize,
    s: &mut Scratch,
) {
    let f = up.w.rows;
    let input = wrap.input(x, s.pre);
    up.forward(k, input, n, s.ffn, &mut s.qs);
    act.apply(k, &mut s.ffn[..n * f]);
    down.forward(k, s.ffn, n, s.tmp, &mut s.qs);
    wrap.output(x, s.tmp);
}

/// Attention projections.
#[derive(Debug, Clone, Copy)]
pub struct Attention<'a> {
    pub q: Linear<'a>,
    pub k: Linear<'a>,
    pub v: Linear<'a>,
    pub o: Linear<'a>,
}

/// A Transformer encoder layer: `x = wrap(x, SelfAttn(x))`, `x = wrap(x, FFN(x))` (post-norm:
/// `x = LN(x + SelfAttn(x))`...).
#[derive(Debug, Clone, Copy)]
pub struct EncoderLayer<'a> {
    pub attn: Attention<'a>,
    pub attn_wrap: Wrap<'a>,
    pub ffn_up: Linear<'a>,
    pub ffn_down: Linear<'a>,
    pub ffn_wrap: Wrap<'a>,
}

/// The per-row scratch every layer uses, carved from the workspace: `rows x d` for queries,
/// keys, values, attention context and a temporary; `rows x ffn` for the FFN; `keys` attention
/// scores; and the int8 quantization scratch.
pub(crate) struct Scratch<'w> {
    /// A sublayer's pre-normed input.
    pub pre: &'w mut [f32],
    pub q: &'w mut [f32],
    pub k: &'w mut [f32],
    pub v: &'w mut [f32],
    pub ctx: &'w mut [f32],
    pub tmp: &'w mut [f32],
    pub ffn: &'w mut [f32],
    pub scores: &'w mut [f32],
    /// Row offsets of the keys one attention reads (`keys` of them).
    pub offs: &'w mut [usize],
    pub qs: QuantScratch<'w>,
}

impl<'w> Scratch<'w> {
    /// Adds the scratch for `rows` rows to a plan.
    pub(crate) fn size(s: &mut Sizer, rows: usize, d: usize, ffn: usize, keys: usize) {
        for _ in 0..6 {
            s.add::<f32>(rows * d);
        }
        s.add::<f32>(rows * ffn).add::<f32>(keys).add::<usize>(keys);
        s.add::<i8>(rows * d.max(ffn)).add::<f32>(rows);
    }

    /// Carves it, in the order of [`size`](Self::size).
    pub(crate) fn carve(
        c: &mut Carver<'w>,
        rows: usize,
        d: usize,
        ffn: usize,
        keys: usize,
    ) -> Result<Self> {
        Ok(Scratch {
            pre: c.take(rows * d)?,
            q: c.take(rows * d)?,
            k: c.take(rows * d)?,
            v: c.take(rows * d)?,
            ctx: c.take(rows * d)?,
            tmp: c.take(rows * d)?,
            ffn: c.take(rows * ffn)?,
            scores: c.take(keys)?,
            offs: c.take(keys)?,
            qs: QuantScratch {
                q: c.take(rows * d.max(ffn))?,
                scales: c.take(rows)?,
            },
        })
    }
}

impl<'a> Attention<'a> {
    /// Loads the four `d x d` projections named by `names` (q, k, v, o) for layer `i`.
    pub(crate) fn load(
        l: &Loader<'_, 'a>,
        names: [&'static str; 4],
        i: u32,
        d: usize,
    ) -> Result<Self> {
        let [q, k, v, o] = names;
        Ok(Attention {
            q: l.linear(q, i, d, d)?,
            k: l.linear(k, i, d, d)?,
            v: l.linear(v, i, d, d)?,
            o: l.linear(o, i, d, d)?,
        })
    }

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

    /// Cross-attention with residual and norm for `nb` rows of `x`: row `r` attends to the
    /// encoder output of sentence `sentences[r]` in `mem`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn cross(
        &self,
        kern: &Kernels,
        wrap: &Wrap,
        heads: usize,
        x: &mut [f32],
        nb: usize,
        sentences: &[u32],
        mem: &Memory,
        s: &mut Scratch,
    ) {
        let d = x.len() / nb;
        let input = wrap.input(x, s.pre);
        self.q.forward(kern, input, nb, s.q, &mut s.qs);
        for (bi, &sent) in sentences.iter().enumerate().take(nb) {
            let row = bi * d..(bi + 1) * d;
            let (keys, values, n_keys) = mem.sentence(sent as usize);
            attend(
                kern,
                &s.q[row.clone()],
                keys,
                values,
                n_keys,
                |t| t,
                heads,
                s.scores,
                s.offs,
                &mut s.ctx[row],
            );
        }
        self.o.forward(kern, s.ctx, nb, s.tmp, &mut s.qs);
        wrap.output(x, s.tmp);
    }
}

/// One decoder layer's view of the encoder outputs in a workspace: `batch` sentences of
/// `stride` floats (max_src x d) each, of which the first `lens[s]` rows are sentence `s`'s.
pub(crate) struct Memory<'m> {
    pub keys: &'m [f32],
    pub values: &'m [f32],
    pub stride: usize,
    pub lens: &'m [u32],
}

impl Memory<'_> {
    /// Keys, values and length of sentence `s` (checked by the step before use).
    fn sentence(&self, s: usize) -> (&[f32], &[f32], usize) {
        let span = s * self.stride..(s + 1) * self.stride;
        (
            &self.keys[span.clone()],
            &self.values[span],
            self.lens[s] as usize,
        )
    }
}

/// Which wrap norms a model's files carry: pre-norms (`_pre`) and post ops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrapSpec {
    pub pre_norm: bool,
    pub post: Ops,
}

impl WrapSpec {
    /// Post-norm layers (HF Marian; Marian's "dan").
    pub const POST_NORM: WrapSpec = WrapSpec {
        pre_norm: false,
        post: Ops::ADD_NORM,
    };
}

impl<'a> Loader<'_, 'a> {
    /// The wrap of a sublayer: `pre` and `post` norm tensors as `spec` needs them.
    pub(crate) fn wrap(
        &self,
        spec: &WrapSpec,
        pre: &'static str,
        post: &'static str,
        i: u32,
        d: usize,
        eps: f32,
    ) -> Result<Wrap<'a>> {
        Ok(Wrap {
            pre: if spec.pre_norm {
                Some(self.norm(pre, i, d, eps)?)
            } else {
                None
            },
            post: spec.post,
            norm: if spec.post.has(b'n') {
                Some(self.norm(post, i, d, eps)?)
            } else {
                None
            },
        })
    }
}

impl<'a> EncoderLayer<'a> {
    /// Loads encoder layer `i` from the shared tensor-name table.
    pub(crate) fn load(
        l: &Loader<'_, 'a>,
        spec: &WrapSpec,
        i: u32,
        d: usize,
        ffn: usize,
        eps: f32,
    ) -> Result<Self> {
        use names::*;
        Ok(EncoderLayer {
            attn: Attention::load(l, [ENC_ATTN_Q, ENC_ATTN_K, ENC_ATTN_V, ENC_ATTN_O], i, d)?,
            attn_wrap: l.wrap(spec, ENC_ATTN_PRE_NORM, ENC_ATTN_NORM, i, d, eps)?,
            ffn_up: l.linear(ENC_FFN_UP, i, ffn, d)?,
            ffn_down: l.linear(ENC_FFN_DOWN, i, d, ffn)?,
            ffn_wrap: l.wrap(spec, ENC_FFN_PRE_NORM, ENC_FFN_NORM, i, d, eps)?,
        })
    }

    /// Runs the layer over `n` rows of `x` (every row attends to every row).
    pub(crate) fn forward(
        &self,
        kern: &Kernels,
        heads: usize,
        act: Activation,
        x: &mut [f32],
        n: usize,
        s: &mut Scratch,
    ) {
        let d = x.len() / n;
        let a = &self.attn;
        // Marian pre-norms only the queries: keys and values come from the raw layer input
        // (`EncoderTransformer::apply` passes `layer` as keys and values, `LayerAttention`
        // normalizes only its query). Without a pre-norm both are `x`.
        a.k.forward(kern, x, n, s.k, &mut s.qs);
        a.v.forward(kern, x, n, s.v, &mut s.qs);
        let input = self.attn_wrap.input(x, s.pre);
        a.q.forward(kern, input, n, s.q, &mut s.qs);
        for t in 0..n {
            let row = t * d..(t + 1) * d;
            attend(
                kern,
                &s.q[row.clone()],
                s.k,
                s.v,
                n,
                |r| r,
                heads,
                s.scores,
                s.offs,
                &mut s.ctx[row],
            );
        }
        a.o.forward(kern, s.ctx, n, s.tmp, &mut s.qs);
        self.attn_wrap.output(x, s.tmp);
        ffn(
            kern,
            act,
            self.ffn_up,
            self.ffn_down,
            &self.ffn_wrap,
            x,
            n,
            s,
        );
    }
}

/// Runs an encoder stack over `n` rows of `x`, then writes each decoder layer's cross-attention
/// keys and values (`n x d` floats at `l * stride` in `keys`/`values` for layer `l`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn encode_stack<'l, 'a: 'l>(
    kern: &Kernels,
    layers: &[EncoderLayer<'a>],
    top: Option<&LayerNorm>,
    cross: impl Iterator<Item = &'l Attention<'a>>,
    heads: usize,
    act: Activation,
    x: &mut [f32],
    n: usize,
    (keys, values, stride): (&mut [f32], &mut [f32], usize),
    s: &mut Scratch,
) {
    for layer in layers {
        layer.forward(kern, heads, act, x, n, s);
    }
    if let Some(ln) = top {
        ln.forward(x);
    }
    let rows = x.len();
    for (l, attn) in cross.enumerate() {
        let span = l * stride..l * stride + rows;
        attn.project_kv(
            kern,
            x,
            n,
            &mut keys[span.clone()],
            &mut values[span],
            &mut s.qs,
        );
    }
}

/// Checks `encode`'s arguments: usable limits, `1..=max_src` source ids, a sentence slot below
/// `limits.batch`.
pub(crate) fn check_encode(
    limits: &Limits,
    max_positions: usize,
    sentence: usize,
    src: &[u32],
) -> Result<()> {
    limits.check(max_positions)?;
    let n = src.len();
    if n == 0 || n > limits.max_src {
        return Err(Error::InputTooLong {
            tokens: n,
            max: limits.max_src,
        });
    }
    if sentence >= limits.batch {
        return Err(Error::BadLimit("sentence slot out of range"));
    }
    Ok(())
}

/// Checks a decoder step's arguments against the plan: the rows' lengths, slots, sentences and
/// ancestry, `pos`, and room for `rows x vocab` logits. Returns the number of rows.
pub(crate) fn check_step(
    limits: &Limits,
    rows: &Rows,
    pos: usize,
    logits: &[f32],
    vocab: usize,
) -> Result<usize> {
    let nb = rows.tokens.len();
    let (slots, t) = (limits.rows(), limits.max_tgt);
    if nb == 0
        || nb > slots
        || rows.slots.len() != nb
        || rows.sentences.len() != nb
        || pos >= t
        || rows.anc.len() < slots * t
    {
        return Err(Error::BadLimit("step outside the planned rows or length"));
    }
    if rows.sentences.iter().any(|&s| s as usize >= limits.batch) {
        return Err(Error::BadLimit("sentence slot out of range"));
    }
    for &q in rows.slots {
        let q = q as usize;
        let hist = rows.anc.get(q * t..q * t + pos);
        if q >= slots || hist.is_none_or(|h| h.iter().any(|&a| a as usize >= slots)) {
            return Err(Error::BadLimit("ancestry slot out of range"));
        }
    }
    if logits.len() < nb * vocab {
        return Err(Error::OutputTooSmall {
            needed: nb * vocab * 4,
        });
    }
    Ok(nb)
}

/// Resolves tensors by table name and checks their shapes and types.
pub(crate) struct Loader<'g, 'a> {
    pub g: &'g Gguf<'a>,
}

impl<'a> Loader<'_, 'a> {
    fn find(&self, template: &'static str, layer: u32, suffix: &str) -> Option<TensorInfo<'a>> {
        self.g.tensor(&names::name(template, layer, suffix))
    }

    /// A required f32 vector of `len` elements.
    pub fn vector(
        &self,
        template: &'static str,
        layer: u32,
        suffix: &str,
        len: usize,
    ) -> Result<&'a [f32]> {
        let t = self
            .find(template, layer, suffix)
            .ok_or(Error::MissingTensor {
                name: template,
                layer,
            })?;
        let bad = Error::TensorMismatch {
            name: template,
            layer,
        };
        if t.ty != TensorType::F32 || t.n_elements() != len {
            return Err(bad);
        }
        bytemuck::try_cast_slice(t.data).map_err(|_| bad)
    }

    /// An optional f32 vector (absent is `None`, present but wrong is an error).
    pub fn opt_vector(
        &self,
        template: &'static str,
        layer: u32,
        suffix: &str,
        len: usize,
    ) -> Result<Option<&'a [f32]>> {
        match self.find(template, layer, suffix) {
            None => Ok(None),
            Some(_) => self.vector(template, layer, suffix, len).map(Some),
        }
    }

    /// A required `rows x cols` matrix (`<name>.weight`, plus `<name>.scale` for int8).
    pub fn matrix(
        &self,
        template: &'static str,
        layer: u32,
        rows: usize,
        cols: usize,
    ) -> Result<Matrix<'a>> {
        let t = self
            .find(template, layer, names::WEIGHT)
            .ok_or(Error::MissingTensor {
                name: template,
                layer,
            })?;
        let bad = Error::TensorMismatch {
            name: template,
            layer,
        };
        if t.rows_cols() != (rows, cols) || t.n_elements() != rows * cols {
            return Err(bad);
        }
        let data = match t.ty {
            TensorType::F32 => MatrixData::F32(bytemuck::try_cast_slice(t.data).map_err(|_| bad)?),
            TensorType::F16 => MatrixData::F16(bytemuck::try_cast_slice(t.data).map_err(|_| bad)?),
            TensorType::I8 => MatrixData::I8 {
                q: bytemuck::cast_slice(t.data),
                scales: self.vector(template, layer, names::SCALE, rows)?,
                act_scale: match self.opt_vector(template, layer, names::ACT_SCALE, 1)? {
                    Some(&[s]) if s.is_finite() && s > 0.0 => Some(s),
                    Some(_) => return Err(bad),
                    None => None,
                },
            },
            TensorType::I32 => return Err(bad),
        };
        Ok(Matrix { rows, cols, data })
    }

    /// A linear layer `rows x cols` with an optional bias.
    pub fn linear(
        &self,
        template: &'static str,
        layer: u32,
        rows: usize,
        cols: usize,
    ) -> Result<Linear<'a>> {
        Ok(Linear {
            w: self.matrix(template, layer, rows, cols)?,
            b: self.opt_vector(template, layer, names::BIAS, rows)?,
        })
    }

    /// A layer norm over `d` features.
    pub fn norm(
        &self,
        template: &'static str,
        layer: u32,
        d: usize,
        eps: f32,
    ) -> Result<LayerNorm<'a>> {
        Ok(LayerNorm {
            weight: self.vector(template, layer, names::WEIGHT, d)?,
            bias: self.vector(template, layer, names::BIAS, d)?,
            eps,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_sum_is_dots_order() {
        // Same bits as `dot` with ones (the documented order), for lengths with and without a
        // tail, on values whose sum depends on the order.
        let x: heapless::Vec<f32, 300> = (0..300)
            .map(|i| (i as f32 * 0.731).sin() * 10f32.powi(i % 7 - 3))
            .collect();
        let ones = [1f32; 300];
        for n in [0, 5, 16, 37, 256, 300] {
            let s = ordered_sum(n, |i| x[i]);
            assert_eq!(
                s.to_bits(),
                crate::kernels::scalar::dot(&x[..n], &ones[..n]).to_bits()
            );
        }
        let y = [1.0f32, 2.0, 3.0];
        assert_eq!(ordered_sum(3, |i| y[i] * y[i]), 14.0);
    }

    #[test]
    fn positions_match_hf_layout() {
        // HF: out[p, i] = sin(p / 10000^(2i/d)) for i < d/2, cos(...) after.
        let mut x = [0f32; 6];
        add_sinusoidal_position(&mut x, 3);
        let d = 6.0f64;
        for i in 0..3 {
            let a = 3.0 / 10000f64.powf(2.0 * i as f64 / d);
            assert_eq!(x[i], a.sin() as f32);
            assert_eq!(x[3 + i], a.cos() as f32);
        }
    }

    #[test]
    fn activations() {
        let mut x = [-1.0f32, 0.0, 2.0];
        Activation::Silu.apply(&Kernels::best(), &mut x);
        assert!(
            (x[0] - (-0.268_941_4)).abs() < 1e-6
                && x[1] == 0.0
                && (x[2] - 1.761_594_2).abs() < 1e-6
        );
        let mut x = [1.0f32];
        Activation::Gelu.apply(&Kernels::best(), &mut x);
        assert!((x[0] - 0.841_344_7).abs() < 1e-6);
        // Both GELUs against libm's erf and tanh over [-10, 10], and their limits.
        let xs: heapless::Vec<f32, 401> = (0..401).map(|i| (i as f32 - 200.0) / 20.0).collect();
        let (mut g, mut gt) = (xs.clone(), xs.clone());
        Activation::Gelu.apply(&Kernels::best(), &mut g);
        Activation::GeluTanh.apply(&Kernels::best(), &mut gt);
        for ((&v, &a), &b) in xs.iter().zip(&g).zip(&gt) {
            let exact = 0.5 * v * (1.0 + libm::erff(v * core::f32::consts::FRAC_1_SQRT_2));
            let tanh = 0.5 * v * (1.0 + libm::tanhf(0.797_884_6 * (v + 0.044_715 * v * v * v)));
            assert!(
                (a - exact).abs() <= 1e-6 * v.abs().max(1.0),
                "gelu({v}) = {a}, not {exact}"
            );
            assert!(
                (b - tanh).abs() <= 1e-6 * v.abs().max(1.0),
                "gelu_tanh({v}) = {b}, not {tanh}"
            );
        }
        let mut big = [-1e4f32, 1e4];
        Activation::GeluTanh.apply(&Kernels::best(), &mut big);
        assert_eq!(big, [-0.0, 1e4]);
        let mut big = [-1e4f32, 1e4];
        Activation::Gelu.apply(&Kernels::best(), &mut big);
        assert_eq!(big, [-0.0, 1e4]);
        assert_eq!(Activation::from_name("tanh"), Err(Error::UnknownActivation));
    }
}
