//! What a model is, as data: every way the Transformer families tern runs differ, one small enum
//! or number per axis, read from the file's metadata (CTranslate2's `TransformerSpec` idea). The
//! forward pass (`encoder.rs`, `decoder.rs`) reads the spec; no family has code of its own.
//!
//! Format-2 files carry the keys of [`super::keys`]. Format-1 files (`marian`, `marian_nmt`
//! architectures, written before the spec existed) are read through fixed mappings, so they keep
//! loading.

use super::keys as k;
use super::layers::Activation;
use super::MAX_LAYERS;
use crate::error::{Error, Result};
use crate::gguf::Gguf;

/// The operations Marian applies around a sublayer (`transformer-preprocess`/`-postprocess`):
/// `a` adds the sublayer's input (the residual), `n` is a norm; `d` (dropout) does nothing at
/// inference and is dropped. At most four, in order.
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
    /// Residual only (pre-norm layers).
    pub const ADD: Ops = Ops {
        ops: [b'a', 0, 0, 0],
        len: 1,
    };
    /// Residual then norm: post-norm ("dan").
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

    /// Whether `op` is one of them.
    pub fn has(&self, op: u8) -> bool {
        self.as_bytes().contains(&op)
    }

    /// The operations, in order, as a string of `a` and `n`.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(self.as_bytes()).unwrap_or("")
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.ops.get(..self.len as usize).unwrap_or(&[])
    }
}

/// How a sublayer (attention, FFN, SSRU cell) is wrapped: an optional norm of its input, then
/// `post` on its output (`a`: add the input back; `n`: norm).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sublayer {
    pub pre_norm: bool,
    pub post: Ops,
}

impl Sublayer {
    /// `x = LN(x + f(x))`: HF Marian, BART, the Marian toolkit's default.
    pub const POST_NORM: Sublayer = Sublayer {
        pre_norm: false,
        post: Ops::ADD_NORM,
    };
    /// `x = x + f(LN(x))`: M2M100, NLLB, mBART, T5.
    pub const PRE_NORM: Sublayer = Sublayer {
        pre_norm: true,
        post: Ops::ADD,
    };
}

/// The normalization every norm of the model uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NormKind {
    /// `(x - mean) / sqrt(var + eps) * w + b`.
    Layer,
    /// `x / sqrt(mean(x^2) + eps) * w` (T5).
    Rms,
}

/// What the encoder's self-attention keys and values are computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvInput {
    /// The normed input, as the query (every HF model).
    Normed,
    /// The layer's raw input: the Marian toolkit normalizes only the query.
    Raw,
}

/// Position information added to the embeddings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Positions {
    None,
    /// HF Marian's table: frequencies `10000^(-2i/d)`, sines then cosines, computed in f64.
    SinusoidalHf,
    /// fairseq's and the Marian toolkit's: `n = d/2` frequencies `e^(-i ln(10000)/(n-1))`,
    /// sines then cosines, in f32 (M2M100, NLLB, Firefox models).
    SinusoidalFairseq,
    /// A trained table per stack (`enc.pos_embd`, `dec.pos_embd`).
    Learned,
}

/// The attention logits' scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttentionScale {
    /// `1 / sqrt(head_dim)`.
    InvSqrtHeadDim,
    /// None (T5 folds it into the weights).
    One,
}

/// What a decoder layer's first sublayer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecoderCell {
    /// Causal self-attention over the cached keys and values of earlier positions.
    SelfAttention,
    /// The Marian toolkit's simple recurrent unit: `c = f c' + (1 - f) x W`, output `relu(c)`.
    Ssru,
}

/// The decoder's first input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecoderStart {
    /// The embedding of the decoder start token.
    Token,
    /// A zero vector (the Marian toolkit), positions still added.
    Zeros,
}

/// Where the output projection comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// The decoder's token embedding.
    Tied,
    /// Its own matrix, `output.weight`.
    Untied,
}

/// T5's position information: a learned bias per head on the self-attention logits, looked up
/// by the bucket of the key's offset from the query. Offsets below a quarter of the buckets
/// (half when causal) have a bucket each, larger ones share log-spaced buckets up to
/// `max_distance`. One table per stack (`enc.rel_bias`, `dec.rel_bias`: `buckets x heads`),
/// shared by its layers; cross-attention has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelativeBias {
    pub buckets: usize,
    pub max_distance: usize,
}

impl RelativeBias {
    /// The bucket of a key `offset` positions after the query (negative: before). The encoder
    /// is `bidirectional`; the decoder sees only earlier keys, so later ones share bucket 0.
    /// In f32 as transformers computes it, so the truncation lands on the same bucket.
    pub fn bucket(&self, offset: isize, bidirectional: bool) -> usize {
        let (half, base, n) = match bidirectional {
            true => (
                self.buckets / 2,
                if offset > 0 { self.buckets / 2 } else { 0 },
                offset.unsigned_abs(),
            ),
            false => (self.buckets, 0, (-offset).max(0) as usize),
        };
        let exact = half / 2;
        if n < exact {
            return base + n;
        }
        let span = libm::logf(n as f32 / exact as f32)
            / libm::log(self.max_distance as f64 / exact as f64) as f32;
        let far = exact + (span * (half - exact) as f32) as usize;
        base + far.min(half - 1)
    }
}

/// One stack's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stack {
    pub layers: usize,
    pub heads: usize,
    pub ffn_dim: usize,
    /// A norm after the last layer.
    pub final_norm: bool,
}

/// A model, described. Biases (of linear layers, norms, the logits) are used where the file has
/// them; everything else is here.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spec {
    /// The decoder's (target) vocabulary: its embedding and the logits.
    pub vocab_size: usize,
    /// The encoder's (source) vocabulary: its embedding's rows (split-vocabulary models differ).
    pub source_vocab_size: usize,
    pub d_model: usize,
    /// Longest sequence the model plans for (learned positions: the table's rows less the offset).
    pub max_positions: usize,
    pub encoder: Stack,
    pub decoder: Stack,
    pub decoder_cell: DecoderCell,
    pub decoder_start: DecoderStart,
    pub activation: Activation,
    pub ffn_gated: bool,
    pub norm: NormKind,
    pub norm_eps: f32,
    pub sublayer: Sublayer,
    pub encoder_kv: KvInput,
    pub embedding_scale: f32,
    pub embedding_norm: bool,
    pub positions: Positions,
    pub position_offset: usize,
    pub attention_scale: AttentionScale,
    /// Each head's width when it is not `d_model / heads` (T5's `d_kv`): the attention is then
    /// `heads x head_dim` wide, projected from and back to `d_model`.
    pub head_dim: Option<usize>,
    /// T5's bucketed relative position bias (see [`RelativeBias`]).
    pub relative_bias: Option<RelativeBias>,
    pub output: Output,
    pub output_scale: f32,
}

/// An optional key (absent: `default`), whose present value must be a string.
fn str_or<'a>(g: &Gguf<'a>, key: &'static str, default: &'a str) -> Result<&'a str> {
    match g.get(key) {
        None => Ok(default),
        Some(_) => g.str(key),
    }
}

/// A string key naming one of `options`.
fn choice<T: Copy>(g: &Gguf, key: &'static str, default: &str, options: &[(&str, T)]) -> Result<T> {
    let v = str_or(g, key, default)?;
    options
        .iter()
        .find(|(name, _)| *name == v)
        .map(|&(_, t)| t)
        .ok_or(Error::BadHyperparameter(key))
}

const POSITIONS: [(&str, Positions); 4] = [
    ("none", Positions::None),
    ("sinusoidal_hf", Positions::SinusoidalHf),
    ("sinusoidal_fairseq", Positions::SinusoidalFairseq),
    ("learned", Positions::Learned),
];
const NORMS: [(&str, NormKind); 2] = [("layer", NormKind::Layer), ("rms", NormKind::Rms)];
const KV: [(&str, KvInput); 2] = [("normed", KvInput::Normed), ("raw", KvInput::Raw)];
const SCALES: [(&str, AttentionScale); 2] = [
    ("inv_sqrt_head_dim", AttentionScale::InvSqrtHeadDim),
    ("none", AttentionScale::One),
];
const CELLS: [(&str, DecoderCell); 2] = [
    ("self_attention", DecoderCell::SelfAttention),
    ("ssru", DecoderCell::Ssru),
];
const STARTS: [(&str, DecoderStart); 2] = [
    ("token", DecoderStart::Token),
    ("zeros", DecoderStart::Zeros),
];
const OUTPUTS: [(&str, Output); 2] = [("tied", Output::Tied), ("untied", Output::Untied)];

/// The name `options` gives `v`.
fn name_of<T: PartialEq>(options: &[(&'static str, T)], v: T) -> &'static str {
    options
        .iter()
        .find(|(_, t)| *t == v)
        .map_or("?", |(n, _)| n)
}

impl Spec {
    /// Reads the spec of a format-2 file, or maps a format-1 one.
    pub fn from_gguf(g: &Gguf) -> Result<Self> {
        let spec = match g.str("general.architecture")? {
            k::ARCH => Self::read(g)?,
            legacy::MARIAN => legacy::marian(g)?,
            legacy::MARIAN_NMT => legacy::marian_nmt(g)?,
            _ => return Err(Error::UnknownArchitecture),
        };
        spec.check()?;
        Ok(spec)
    }

    fn read(g: &Gguf) -> Result<Self> {
        let version = g.u32_or(k::FORMAT_VERSION, 0)?;
        if version != k::CURRENT_FORMAT {
            return Err(Error::BadHyperparameter(k::FORMAT_VERSION));
        }
        let u = |key: &'static str| g.u32(key).map(|v| v as usize);
        let stack = |layers, heads, ffn, norm| -> Result<Stack> {
            Ok(Stack {
                layers: u(layers)?,
                heads: u(heads)?,
                ffn_dim: u(ffn)?,
                final_norm: g.bool_or(norm, false)?,
            })
        };
        let ops = |key: &'static str, default: &str, allowed: &[u8]| -> Result<Ops> {
            Ops::parse(str_or(g, key, default)?, allowed).ok_or(Error::BadHyperparameter(key))
        };
        Ok(Spec {
            vocab_size: u(k::VOCAB_SIZE)?,
            source_vocab_size: match g.get(k::SOURCE_VOCAB_SIZE) {
                Some(_) => u(k::SOURCE_VOCAB_SIZE)?,
                None => u(k::VOCAB_SIZE)?,
            },
            d_model: u(k::D_MODEL)?,
            max_positions: u(k::MAX_POSITIONS)?,
            encoder: stack(
                k::ENCODER_LAYERS,
                k::ENCODER_HEADS,
                k::ENCODER_FFN_DIM,
                k::ENCODER_FINAL_NORM,
            )?,
            decoder: stack(
                k::DECODER_LAYERS,
                k::DECODER_HEADS,
                k::DECODER_FFN_DIM,
                k::DECODER_FINAL_NORM,
            )?,
            decoder_cell: choice(g, k::DECODER_CELL, "self_attention", &CELLS)?,
            decoder_start: choice(g, k::DECODER_START, "token", &STARTS)?,
            activation: Activation::from_name(g.str(k::ACTIVATION)?)
                .map_err(|_| Error::BadHyperparameter(k::ACTIVATION))?,
            ffn_gated: g.bool_or(k::FFN_GATED, false)?,
            norm: choice(g, k::NORM, "layer", &NORMS)?,
            norm_eps: g.f32(k::NORM_EPS)?,
            sublayer: Sublayer {
                pre_norm: ops(k::SUBLAYER_PRE, "", b"n")?.has(b'n'),
                post: ops(k::SUBLAYER_POST, "an", b"an")?,
            },
            encoder_kv: choice(g, k::ENCODER_KV, "normed", &KV)?,
            embedding_scale: g.f32_or(k::EMBEDDING_SCALE, 1.0)?,
            embedding_norm: g.bool_or(k::EMBEDDING_NORM, false)?,
            positions: choice(g, k::POSITIONS, "", &POSITIONS)?,
            position_offset: g.u32_or(k::POSITION_OFFSET, 0)? as usize,
            attention_scale: choice(g, k::ATTENTION_SCALE, "inv_sqrt_head_dim", &SCALES)?,
            head_dim: match g.get(k::HEAD_DIM) {
                Some(_) => Some(u(k::HEAD_DIM)?),
                None => None,
            },
            relative_bias: match g.get(k::RELATIVE_BUCKETS) {
                Some(_) => Some(RelativeBias {
                    buckets: u(k::RELATIVE_BUCKETS)?,
                    max_distance: u(k::RELATIVE_MAX_DISTANCE)?,
                }),
                None => None,
            },
            output: choice(g, k::OUTPUT, "", &OUTPUTS)?,
            output_scale: g.f32_or(k::OUTPUT_SCALE, 1.0)?,
        })
    }

    /// Checks every number is one the forward pass and the plan can use.
    fn check(&self) -> Result<()> {
        let sane = |v: usize, max: usize| v > 0 && v <= max;
        let heads = |s: &Stack| {
            sane(s.heads, 256)
                && match self.head_dim {
                    None => self.d_model.is_multiple_of(s.heads),
                    Some(h) => sane(h, 1 << 12),
                }
        };
        // Offsets from a quarter of the buckets (the exact ones) up to max_distance are log-spaced.
        let relative = self.relative_bias.is_none_or(|r| {
            sane(r.buckets, 1 << 12) && r.buckets >= 4 && r.max_distance > r.buckets / 2
        });
        let checks: [(bool, &'static str); 14] = [
            (sane(self.vocab_size, 1 << 24), k::VOCAB_SIZE),
            (sane(self.source_vocab_size, 1 << 24), k::SOURCE_VOCAB_SIZE),
            (
                sane(self.d_model, 1 << 16) && self.d_model.is_multiple_of(2),
                k::D_MODEL,
            ),
            (sane(self.max_positions, 1 << 16), k::MAX_POSITIONS),
            (sane(self.encoder.layers, MAX_LAYERS), k::ENCODER_LAYERS),
            (sane(self.decoder.layers, MAX_LAYERS), k::DECODER_LAYERS),
            (heads(&self.encoder), k::ENCODER_HEADS),
            (heads(&self.decoder), k::DECODER_HEADS),
            (sane(self.encoder.ffn_dim, 1 << 18), k::ENCODER_FFN_DIM),
            (sane(self.decoder.ffn_dim, 1 << 18), k::DECODER_FFN_DIM),
            (self.norm_eps > 0.0 && self.norm_eps < 1.0, k::NORM_EPS),
            (
                self.embedding_scale.is_finite() && self.output_scale.is_finite(),
                k::EMBEDDING_SCALE,
            ),
            (self.position_offset <= 1 << 16, k::POSITION_OFFSET),
            (relative, k::RELATIVE_BUCKETS),
        ];
        match checks.iter().find(|c| !c.0) {
            Some(&(_, key)) => Err(Error::BadHyperparameter(key)),
            None => Ok(()),
        }
    }

    /// A head's width in `stack`.
    pub fn head_width(&self, stack: &Stack) -> usize {
        self.head_dim.unwrap_or(self.d_model / stack.heads.max(1))
    }

    /// The attention's width in `stack`: queries, keys, values and context rows (`d_model`
    /// unless heads have a width of their own).
    pub fn attention_width(&self, stack: &Stack) -> usize {
        match self.head_dim {
            Some(h) => h * stack.heads,
            None => self.d_model,
        }
    }

    /// The attention logits' factor for heads of `head_dim`.
    pub fn attention_factor(&self, head_dim: usize) -> f32 {
        match self.attention_scale {
            AttentionScale::InvSqrtHeadDim => 1.0 / libm::sqrtf(head_dim as f32),
            AttentionScale::One => 1.0,
        }
    }

    /// Writes the spec as format-2 metadata (the converter's half of [`Spec::from_gguf`]).
    #[cfg(feature = "alloc")]
    pub fn write(&self, w: &mut crate::gguf::write::GgufWriter, family: &str) {
        use crate::gguf::write::MetaValue::{Bool, Str, F32, U32};
        use alloc::string::ToString;
        let s = |v: &str| Str(v.to_string());
        let n = |v: usize| U32(v as u32);
        let entries = [
            ("general.architecture", s(k::ARCH)),
            (k::FORMAT_VERSION, U32(k::CURRENT_FORMAT)),
            (k::FAMILY, s(family)),
            (k::VOCAB_SIZE, n(self.vocab_size)),
            (k::D_MODEL, n(self.d_model)),
            (k::MAX_POSITIONS, n(self.max_positions)),
            (k::ENCODER_LAYERS, n(self.encoder.layers)),
            (k::ENCODER_HEADS, n(self.encoder.heads)),
            (k::ENCODER_FFN_DIM, n(self.encoder.ffn_dim)),
            (k::ENCODER_FINAL_NORM, Bool(self.encoder.final_norm)),
            (k::DECODER_LAYERS, n(self.decoder.layers)),
            (k::DECODER_HEADS, n(self.decoder.heads)),
            (k::DECODER_FFN_DIM, n(self.decoder.ffn_dim)),
            (k::DECODER_FINAL_NORM, Bool(self.decoder.final_norm)),
            (k::DECODER_CELL, s(name_of(&CELLS, self.decoder_cell))),
            (k::DECODER_START, s(name_of(&STARTS, self.decoder_start))),
            (k::ACTIVATION, s(self.activation.name())),
            (k::FFN_GATED, Bool(self.ffn_gated)),
            (k::NORM, s(name_of(&NORMS, self.norm))),
            (k::NORM_EPS, F32(self.norm_eps)),
            (
                k::SUBLAYER_PRE,
                s(if self.sublayer.pre_norm { "n" } else { "" }),
            ),
            (k::SUBLAYER_POST, s(self.sublayer.post.as_str())),
            (k::ENCODER_KV, s(name_of(&KV, self.encoder_kv))),
            (k::EMBEDDING_SCALE, F32(self.embedding_scale)),
            (k::EMBEDDING_NORM, Bool(self.embedding_norm)),
            (k::POSITIONS, s(name_of(&POSITIONS, self.positions))),
            (k::POSITION_OFFSET, n(self.position_offset)),
            (
                k::ATTENTION_SCALE,
                s(name_of(&SCALES, self.attention_scale)),
            ),
            (k::OUTPUT, s(name_of(&OUTPUTS, self.output))),
            (k::OUTPUT_SCALE, F32(self.output_scale)),
        ];
        for (key, value) in entries {
            w.meta(key, value);
        }
        if self.source_vocab_size != self.vocab_size {
            w.meta(k::SOURCE_VOCAB_SIZE, n(self.source_vocab_size));
        }
        if let Some(h) = self.head_dim {
            w.meta(k::HEAD_DIM, n(h));
        }
        if let Some(r) = self.relative_bias {
            w.meta(k::RELATIVE_BUCKETS, n(r.buckets));
            w.meta(k::RELATIVE_MAX_DISTANCE, n(r.max_distance));
        }
    }
}

impl core::fmt::Display for Spec {
    /// One line per axis, as `tern inspect` prints it.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let stack = |s: &Stack| (s.layers, s.heads, s.ffn_dim, s.final_norm);
        let (el, eh, ef, en) = stack(&self.encoder);
        let (dl, dh, df, dn) = stack(&self.decoder);
        let place = match (self.sublayer.pre_norm, self.sublayer.post) {
            (false, Ops::ADD_NORM) => "post-norm",
            (true, Ops::ADD) => "pre-norm",
            _ => "custom",
        };
        writeln!(
            f,
            "  d_model {}, vocabulary {}, max positions {}",
            self.d_model, self.vocab_size, self.max_positions
        )?;
        if self.source_vocab_size != self.vocab_size {
            writeln!(
                f,
                "  source vocabulary {} (split: the encoder's own)",
                self.source_vocab_size
            )?;
        }
        writeln!(
            f,
            "  encoder: {el} layers, {eh} heads, FFN {ef}, final norm {en}"
        )?;
        writeln!(
            f,
            "  decoder: {dl} layers, {dh} heads, FFN {df}, final norm {dn}, cell {}, start {}",
            name_of(&CELLS, self.decoder_cell),
            name_of(&STARTS, self.decoder_start)
        )?;
        writeln!(f, "  sublayers: {place} (pre {:?}, post {:?}), norm {} eps {:e}, encoder K/V from {} input",
            if self.sublayer.pre_norm { "n" } else { "" }, self.sublayer.post.as_str(),
            name_of(&NORMS, self.norm), self.norm_eps, name_of(&KV, self.encoder_kv))?;
        writeln!(
            f,
            "  FFN: {}{}; attention scale {}",
            self.activation.name(),
            if self.ffn_gated { " (gated)" } else { "" },
            name_of(&SCALES, self.attention_scale)
        )?;
        if let Some(h) = self.head_dim {
            writeln!(f, "  attention heads {h} wide (their own width, d_kv)")?;
        }
        if let Some(r) = self.relative_bias {
            writeln!(
                f,
                "  relative position bias: {} buckets up to distance {}",
                r.buckets, r.max_distance
            )?;
        }
        writeln!(
            f,
            "  embeddings: scale {}, norm {}, positions {} (offset {})",
            self.embedding_scale,
            self.embedding_norm,
            name_of(&POSITIONS, self.positions),
            self.position_offset
        )?;
        write!(
            f,
            "  output: {}, scale {}",
            name_of(&OUTPUTS, self.output),
            self.output_scale
        )
    }
}

/// Format-1 files: the `marian` (HF MarianMT) and `marian_nmt` (Marian toolkit, SSRU) keys,
/// mapped onto the spec they always meant.
mod legacy {
    use super::*;

    pub const MARIAN: &str = "marian";
    pub const MARIAN_NMT: &str = "marian_nmt";

    pub fn marian(g: &Gguf) -> Result<Spec> {
        let u = |key: &'static str| g.u32(key).map(|v| v as usize);
        let d = u("marian.d_model")?;
        let stack = |l, h, f| -> Result<Stack> {
            Ok(Stack {
                layers: u(l)?,
                heads: u(h)?,
                ffn_dim: u(f)?,
                final_norm: false,
            })
        };
        Ok(Spec {
            vocab_size: u("marian.vocab_size")?,
            source_vocab_size: u("marian.vocab_size")?,
            d_model: d,
            max_positions: u("marian.max_position_embeddings")?,
            encoder: stack(
                "marian.encoder_layers",
                "marian.encoder_attention_heads",
                "marian.encoder_ffn_dim",
            )?,
            decoder: stack(
                "marian.decoder_layers",
                "marian.decoder_attention_heads",
                "marian.decoder_ffn_dim",
            )?,
            decoder_cell: DecoderCell::SelfAttention,
            decoder_start: DecoderStart::Token,
            activation: Activation::from_name(g.str("marian.activation_function")?)?,
            ffn_gated: false,
            norm: NormKind::Layer,
            norm_eps: g.f32_or("marian.layer_norm_eps", 1e-5)?,
            sublayer: Sublayer::POST_NORM,
            encoder_kv: KvInput::Normed,
            embedding_scale: if g.bool_or("marian.scale_embedding", true)? {
                libm::sqrtf(d as f32)
            } else {
                1.0
            },
            embedding_norm: false,
            positions: Positions::SinusoidalHf,
            position_offset: 0,
            attention_scale: AttentionScale::InvSqrtHeadDim,
            head_dim: None,
            relative_bias: None,
            output: if g.tensor("output.weight").is_some() {
                Output::Untied
            } else {
                Output::Tied
            },
            output_scale: 1.0,
        })
    }

    pub fn marian_nmt(g: &Gguf) -> Result<Spec> {
        let u = |key: &'static str| g.u32(key).map(|v| v as usize);
        if g.str("marian_nmt.decoder_cell")? != "ssru" {
            return Err(Error::BadHyperparameter("marian_nmt.decoder_cell"));
        }
        let ops = |key: &'static str, default: &str, allowed: &[u8]| -> Result<Ops> {
            Ops::parse(str_or(g, key, default)?, allowed).ok_or(Error::BadHyperparameter(key))
        };
        let d = u("marian_nmt.d_model")?;
        let (heads, ffn) = (u("marian_nmt.attention_heads")?, u("marian_nmt.ffn_dim")?);
        let top = ops("marian_nmt.postprocess_top", "", b"n")?.has(b'n');
        let stack = |layers| Stack {
            layers,
            heads,
            ffn_dim: ffn,
            final_norm: top,
        };
        Ok(Spec {
            vocab_size: u("marian_nmt.vocab_size")?,
            source_vocab_size: u("marian_nmt.vocab_size")?,
            d_model: d,
            max_positions: u("marian_nmt.max_positions")?,
            encoder: stack(u("marian_nmt.encoder_layers")?),
            decoder: stack(u("marian_nmt.decoder_layers")?),
            decoder_cell: DecoderCell::Ssru,
            decoder_start: DecoderStart::Zeros,
            activation: Activation::from_name(g.str("marian_nmt.ffn_activation")?)?,
            ffn_gated: false,
            norm: NormKind::Layer,
            norm_eps: g.f32("marian_nmt.layer_norm_eps")?,
            sublayer: Sublayer {
                pre_norm: ops("marian_nmt.preprocess", "", b"n")?.has(b'n'),
                post: ops("marian_nmt.postprocess", "dan", b"an")?,
            },
            encoder_kv: KvInput::Raw,
            embedding_scale: libm::sqrtf(d as f32),
            embedding_norm: ops("marian_nmt.postprocess_emb", "d", b"n")?.has(b'n'),
            positions: Positions::SinusoidalFairseq,
            position_offset: 0,
            attention_scale: AttentionScale::InvSqrtHeadDim,
            head_dim: None,
            relative_bias: None,
            output: Output::Tied,
            output_scale: 1.0,
        })
    }
}
