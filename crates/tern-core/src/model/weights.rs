//! The weights of a model, borrowed from the file: every tensor found through the one name
//! table (`names.rs`), its shape and type checked against the spec, once at load.

use super::layers::{Attention, Ffn, Linear, Norm, Wrap};
use super::names::{self, *};
use super::spec::{DecoderCell, Output, Positions, Spec};
use super::MAX_LAYERS;
use crate::error::{Error, Result};
use crate::gguf::{Gguf, TensorInfo, TensorType};
use crate::kernels::{Matrix, MatrixData};
use crate::shortlist::Shortlist;

/// An encoder layer: self-attention and FFN, each wrapped as the spec says.
#[derive(Debug, Clone, Copy)]
pub struct EncoderLayer<'a> {
    pub attn: Attention<'a>,
    pub attn_wrap: Wrap<'a>,
    pub ffn: Ffn<'a>,
    pub ffn_wrap: Wrap<'a>,
}

/// A decoder layer's first sublayer.
#[derive(Debug, Clone, Copy)]
pub enum Cell<'a> {
    /// Causal self-attention with a cache of earlier positions' keys and values.
    SelfAttention(Attention<'a>),
    /// The SSRU: candidate `x W` (no bias), forget gate `x Wf + bf`.
    Ssru { w: Linear<'a>, wf: Linear<'a> },
}

/// A decoder layer: the cell, cross-attention over the encoder output, FFN.
#[derive(Debug, Clone, Copy)]
pub struct DecoderLayer<'a> {
    pub cell: Cell<'a>,
    pub cell_wrap: Wrap<'a>,
    pub cross: Attention<'a>,
    pub cross_wrap: Wrap<'a>,
    pub ffn: Ffn<'a>,
    pub ffn_wrap: Wrap<'a>,
}

/// What surrounds the stacks: token embeddings, positions, their norms, the final norms and
/// the output projection.
#[derive(Debug, Clone, Copy)]
pub struct Ends<'a> {
    /// Encoder token embedding, vocab x d.
    pub enc_embed: Matrix<'a>,
    /// Decoder token embedding (the encoder's when shared).
    pub dec_embed: Matrix<'a>,
    /// Learned position tables, where the spec has them.
    pub enc_positions: Option<Matrix<'a>>,
    pub dec_positions: Option<Matrix<'a>>,
    /// `layernorm_embedding`, where the spec has it.
    pub enc_embed_norm: Option<Norm<'a>>,
    pub dec_embed_norm: Option<Norm<'a>>,
    /// Relative position bias tables (`buckets x heads`), where the spec has them.
    pub enc_rel_bias: Option<&'a [f32]>,
    pub dec_rel_bias: Option<&'a [f32]>,
    pub enc_final_norm: Option<Norm<'a>>,
    pub dec_final_norm: Option<Norm<'a>>,
    /// Output projection, vocab x d (the decoder embedding when tied), and its bias.
    pub output: Matrix<'a>,
    pub output_bias: Option<&'a [f32]>,
    /// The lexical shortlist, where the file has one.
    pub shortlist: Option<Shortlist<'a>>,
}

/// Every layer's weights.
#[derive(Debug, Clone)]
pub struct Weights<'a> {
    pub ends: Ends<'a>,
    pub encoder: heapless::Vec<EncoderLayer<'a>, MAX_LAYERS>,
    pub decoder: heapless::Vec<DecoderLayer<'a>, MAX_LAYERS>,
}

impl<'a> Weights<'a> {
    /// Resolves and checks every tensor `spec` calls for.
    pub fn load(g: &Gguf<'a>, spec: &Spec) -> Result<Self> {
        let l = Loader { g };
        let mut encoder = heapless::Vec::new();
        for i in 0..spec.encoder.layers as u32 {
            encoder
                .push(l.encoder_layer(spec, i)?)
                .map_err(|_| Error::BadHyperparameter("transformer.encoder.layers"))?;
        }
        let mut decoder = heapless::Vec::new();
        for i in 0..spec.decoder.layers as u32 {
            decoder
                .push(l.decoder_layer(spec, i)?)
                .map_err(|_| Error::BadHyperparameter("transformer.decoder.layers"))?;
        }
        Ok(Weights {
            ends: l.ends(spec)?,
            encoder,
            decoder,
        })
    }
}

impl<'a> Loader<'_, 'a> {
    /// The norms of a sublayer as the spec wraps it: `pre` and `post` name its two possible
    /// norm tensors.
    fn wrap(&self, spec: &Spec, pre: &'static str, post: &'static str, i: u32) -> Result<Wrap<'a>> {
        let d = spec.d_model;
        Ok(Wrap {
            place: spec.sublayer,
            pre: match spec.sublayer.pre_norm {
                true => Some(self.norm(pre, i, d, spec)?),
                false => None,
            },
            post: match spec.sublayer.post.has(b'n') {
                true => Some(self.norm(post, i, d, spec)?),
                false => None,
            },
        })
    }

    /// Projections from `d` to the attention's width `w` and back.
    fn attention(
        &self,
        names: [&'static str; 4],
        i: u32,
        (d, w): (usize, usize),
    ) -> Result<Attention<'a>> {
        let [q, k, v, o] = names;
        Ok(Attention {
            q: self.linear(q, i, w, d)?,
            k: self.linear(k, i, w, d)?,
            v: self.linear(v, i, w, d)?,
            o: self.linear(o, i, d, w)?,
        })
    }

    /// `[up, gate, down]` tensor names.
    fn ffn(&self, spec: &Spec, names: [&'static str; 3], i: u32, f: usize) -> Result<Ffn<'a>> {
        let [up, gate, down] = names;
        let d = spec.d_model;
        Ok(Ffn {
            up: self.linear(up, i, f, d)?,
            gate: match spec.ffn_gated {
                true => Some(self.linear(gate, i, f, d)?),
                false => None,
            },
            down: self.linear(down, i, d, f)?,
            act: spec.activation,
        })
    }

    fn encoder_layer(&self, spec: &Spec, i: u32) -> Result<EncoderLayer<'a>> {
        let names = [ENC_ATTN_Q, ENC_ATTN_K, ENC_ATTN_V, ENC_ATTN_O];
        Ok(EncoderLayer {
            attn: self.attention(
                names,
                i,
                (spec.d_model, spec.attention_width(&spec.encoder)),
            )?,
            attn_wrap: self.wrap(spec, ENC_ATTN_PRE_NORM, ENC_ATTN_NORM, i)?,
            ffn: self.ffn(
                spec,
                [ENC_FFN_UP, ENC_FFN_GATE, ENC_FFN_DOWN],
                i,
                spec.encoder.ffn_dim,
            )?,
            ffn_wrap: self.wrap(spec, ENC_FFN_PRE_NORM, ENC_FFN_NORM, i)?,
        })
    }

    fn decoder_layer(&self, spec: &Spec, i: u32) -> Result<DecoderLayer<'a>> {
        let d = spec.d_model;
        let dw = (d, spec.attention_width(&spec.decoder));
        let (cell, cell_wrap) = match spec.decoder_cell {
            DecoderCell::SelfAttention => (
                Cell::SelfAttention(self.attention(
                    [DEC_ATTN_Q, DEC_ATTN_K, DEC_ATTN_V, DEC_ATTN_O],
                    i,
                    dw,
                )?),
                self.wrap(spec, DEC_ATTN_PRE_NORM, DEC_ATTN_NORM, i)?,
            ),
            DecoderCell::Ssru => (
                Cell::Ssru {
                    w: self.linear(DEC_RNN_W, i, d, d)?,
                    wf: self.linear(DEC_RNN_WF, i, d, d)?,
                },
                self.wrap(spec, DEC_RNN_PRE_NORM, DEC_RNN_NORM, i)?,
            ),
        };
        Ok(DecoderLayer {
            cell,
            cell_wrap,
            cross: self.attention([DEC_CROSS_Q, DEC_CROSS_K, DEC_CROSS_V, DEC_CROSS_O], i, dw)?,
            cross_wrap: self.wrap(spec, DEC_CROSS_PRE_NORM, DEC_CROSS_NORM, i)?,
            ffn: self.ffn(
                spec,
                [DEC_FFN_UP, DEC_FFN_GATE, DEC_FFN_DOWN],
                i,
                spec.decoder.ffn_dim,
            )?,
            ffn_wrap: self.wrap(spec, DEC_FFN_PRE_NORM, DEC_FFN_NORM, i)?,
        })
    }

    fn ends(&self, spec: &Spec) -> Result<Ends<'a>> {
        let (d, v) = (spec.d_model, spec.vocab_size);
        let g = self.g;
        let enc_embed = self.matrix(TOKEN_EMBD, 0, spec.source_vocab_size, d)?;
        let dec_embed = if g.tensor(&names::name(DEC_TOKEN_EMBD, 0, WEIGHT)).is_some() {
            self.matrix(DEC_TOKEN_EMBD, 0, v, d)?
        } else if spec.source_vocab_size == v {
            enc_embed
        } else {
            return Err(Error::MissingTensor {
                name: DEC_TOKEN_EMBD,
                layer: 0,
            });
        };
        let output = match spec.output {
            Output::Tied => dec_embed,
            Output::Untied => self.matrix(OUTPUT, 0, v, d)?,
        };
        let rows = spec.max_positions + spec.position_offset;
        let positions = |name| match spec.positions {
            Positions::Learned => self.matrix(name, 0, rows, d).map(Some),
            _ => Ok(None),
        };
        let norm = |on: bool, name| match on {
            true => self.norm(name, 0, d, spec).map(Some),
            false => Ok(None),
        };
        let rel_bias = |name, heads| match spec.relative_bias {
            Some(r) => self.vector(name, 0, WEIGHT, r.buckets * heads).map(Some),
            None => Ok(None),
        };
        Ok(Ends {
            enc_embed,
            dec_embed,
            enc_positions: positions(ENC_POS_EMBD)?,
            dec_positions: positions(DEC_POS_EMBD)?,
            enc_embed_norm: norm(spec.embedding_norm, ENC_EMB_NORM)?,
            dec_embed_norm: norm(spec.embedding_norm, DEC_EMB_NORM)?,
            enc_rel_bias: rel_bias(ENC_REL_BIAS, spec.encoder.heads)?,
            dec_rel_bias: rel_bias(DEC_REL_BIAS, spec.decoder.heads)?,
            enc_final_norm: norm(spec.encoder.final_norm, ENC_OUT_NORM)?,
            dec_final_norm: norm(spec.decoder.final_norm, DEC_OUT_NORM)?,
            output,
            output_bias: self.opt_vector(OUTPUT_BIAS, 0, "", v)?,
            shortlist: Shortlist::from_gguf(g, spec.source_vocab_size, v)?,
        })
    }
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

    /// A norm over `d` features: its weight, and its bias where the file has one.
    pub fn norm(
        &self,
        template: &'static str,
        layer: u32,
        d: usize,
        spec: &Spec,
    ) -> Result<Norm<'a>> {
        Ok(Norm {
            kind: spec.norm,
            weight: self.vector(template, layer, names::WEIGHT, d)?,
            bias: self.opt_vector(template, layer, names::BIAS, d)?,
            eps: spec.norm_eps,
        })
    }
}
