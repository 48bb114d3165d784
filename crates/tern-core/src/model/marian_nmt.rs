//! Models trained with the Marian toolkit itself (`type: transformer`), as Bergamot and Firefox
//! Translations run them: a Transformer encoder and a decoder whose self-attention is replaced
//! by an SSRU cell (`transformer-decoder-autoreg: rnn`, `dec-cell: ssru`), tied embeddings, and
//! an output layer scored only over the sentence's lexical shortlist.
//!
//! Forward pass, as Marian's `transformer.h` and `rnn/cells.h` define it (post-norm "dan"):
//!
//! ```text
//! embed(t, pos) = E[t] * sqrt(d) + sinusoid(pos)         (the decoder's first input is E = 0)
//! encoder layer: x = LN(x + Wo attn(xWq, xWk, xWv));  x = LN(x + W2 act(xW1 + b1) + b2)
//! decoder layer: f = sigmoid(xWf + bf);  c = f * c' + (1 - f) * xW;  x = LN(x + relu(c))
//!                x = LN(x + Wo attn(xWq, encK, encV));  x = LN(x + FFN(x))
//! logits = x E^T + b over the shortlist's rows
//! ```
//!
//! Int8 matrices keep the model's own quantization: one weight multiplier per matrix and a static
//! activation scale per input ("alphas"), so results follow intgemm's integer arithmetic.

use super::names::*;
use super::{
    check_encode, check_step, encode_stack, ffn, Activation, Attention, EncoderLayer, LayerNorm,
    Linear, Loader, Memory, Ops, Rows, Scratch, Seq2Seq, Wrap, WrapSpec, MAX_LAYERS,
};
use crate::error::{Error, Result};
use crate::gguf::Gguf;
use crate::kernels::{Kernels, Matrix};
use crate::plan::{Carver, Limits, Sizer};
use crate::shortlist::Shortlist;

/// `general.architecture` of these files.
pub const ARCH: &str = "marian_nmt";

/// Hyperparameters, from the `marian_nmt.*` keys (see `docs/gguf-format.md`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hparams {
    pub vocab_size: usize,
    pub d_model: usize,
    pub encoder_layers: usize,
    pub decoder_layers: usize,
    pub heads: usize,
    pub ffn_dim: usize,
    pub activation: Activation,
    /// Longest sequence tern plans for (sinusoidal positions have no inherent limit).
    pub max_positions: usize,
    pub layer_norm_eps: f32,
    /// `transformer-preprocess` / `-postprocess` of every sublayer.
    pub wrap: WrapSpec,
    /// `transformer-postprocess-emb` has `n`: the embeddings are normed.
    pub emb_norm: bool,
    /// `transformer-postprocess-top` has `n`: each stack's output is normed.
    pub top_norm: bool,
}

impl Hparams {
    pub fn from_gguf(g: &Gguf) -> Result<Self> {
        if g.str("general.architecture")? != ARCH {
            return Err(Error::UnknownArchitecture);
        }
        let u = |k: &'static str| g.u32(k).map(|v| v as usize);
        if g.str("marian_nmt.decoder_cell")? != "ssru" {
            return Err(Error::BadHyperparameter("marian_nmt.decoder_cell"));
        }
        let hp = Hparams {
            vocab_size: u("marian_nmt.vocab_size")?,
            d_model: u("marian_nmt.d_model")?,
            encoder_layers: u("marian_nmt.encoder_layers")?,
            decoder_layers: u("marian_nmt.decoder_layers")?,
            heads: u("marian_nmt.attention_heads")?,
            ffn_dim: u("marian_nmt.ffn_dim")?,
            activation: Activation::from_name(g.str("marian_nmt.ffn_activation")?)?,
            max_positions: u("marian_nmt.max_positions")?,
            layer_norm_eps: g.f32("marian_nmt.layer_norm_eps")?,
            wrap: WrapSpec {
                pre_norm: ops(g, "marian_nmt.preprocess", "", b"n")?.has(b'n'),
                post: ops(g, "marian_nmt.postprocess", "dan", b"an")?,
            },
            emb_norm: ops(g, "marian_nmt.postprocess_emb", "d", b"n")?.has(b'n'),
            top_norm: ops(g, "marian_nmt.postprocess_top", "", b"n")?.has(b'n'),
        };
        let bad = Error::BadHyperparameter;
        let sane = |v: usize, max: usize| v > 0 && v <= max;
        let checks: [(bool, &'static str); 8] = [
            (sane(hp.vocab_size, 1 << 24), "marian_nmt.vocab_size"),
            (
                sane(hp.d_model, 1 << 16) && hp.d_model % 2 == 0,
                "marian_nmt.d_model",
            ),
            (
                sane(hp.encoder_layers, MAX_LAYERS),
                "marian_nmt.encoder_layers",
            ),
            (
                sane(hp.decoder_layers, MAX_LAYERS),
                "marian_nmt.decoder_layers",
            ),
            (
                sane(hp.heads, 256) && hp.d_model % hp.heads == 0,
                "marian_nmt.attention_heads",
            ),
            (sane(hp.ffn_dim, 1 << 18), "marian_nmt.ffn_dim"),
            (sane(hp.max_positions, 1 << 16), "marian_nmt.max_positions"),
            (
                hp.layer_norm_eps > 0.0 && hp.layer_norm_eps < 1.0,
                "marian_nmt.layer_norm_eps",
            ),
        ];
        match checks.iter().find(|c| !c.0) {
            Some(&(_, key)) => Err(bad(key)),
            None => Ok(hp),
        }
    }
}

/// Reads an ops string key (absent: `default`), allowing `allowed` (and `d`).
fn ops(g: &Gguf, key: &'static str, default: &str, allowed: &[u8]) -> Result<Ops> {
    let v = match g.get(key) {
        None => default,
        Some(_) => g.str(key)?,
    };
    Ops::parse(v, allowed).ok_or(Error::BadHyperparameter(key))
}

/// A decoder layer: SSRU cell, cross-attention, FFN.
#[derive(Debug, Clone, Copy)]
pub struct DecoderLayer<'a> {
    /// Candidate `x W` (no bias).
    pub rnn_w: Linear<'a>,
    /// Forget gate `x Wf + bf`.
    pub rnn_wf: Linear<'a>,
    pub rnn_wrap: Wrap<'a>,
    pub cross: Attention<'a>,
    pub cross_wrap: Wrap<'a>,
    pub ffn_up: Linear<'a>,
    pub ffn_down: Linear<'a>,
    pub ffn_wrap: Wrap<'a>,
}

/// A Marian-toolkit Transformer with an SSRU decoder, borrowed from the file.
#[derive(Debug, Clone)]
pub struct MarianNmt<'a> {
    pub hp: Hparams,
    /// Tied embeddings: source, target and output (vocab x d).
    pub embed: Matrix<'a>,
    pub output_bias: Option<&'a [f32]>,
    pub shortlist: Option<Shortlist<'a>>,
    pub encoder: heapless::Vec<EncoderLayer<'a>, MAX_LAYERS>,
    pub decoder: heapless::Vec<DecoderLayer<'a>, MAX_LAYERS>,
    /// Norms of the embeddings and of each stack's output, where configured.
    pub enc_emb_norm: Option<LayerNorm<'a>>,
    pub dec_emb_norm: Option<LayerNorm<'a>>,
    pub enc_top_norm: Option<LayerNorm<'a>>,
    pub dec_top_norm: Option<LayerNorm<'a>>,
    pub kernels: Kernels,
}

impl<'a> MarianNmt<'a> {
    pub fn from_gguf(g: &Gguf<'a>, kernels: Kernels) -> Result<Self> {
        let hp = Hparams::from_gguf(g)?;
        let l = Loader { g };
        let (d, f, eps) = (hp.d_model, hp.ffn_dim, hp.layer_norm_eps);
        let mut encoder = heapless::Vec::new();
        for i in 0..hp.encoder_layers as u32 {
            encoder
                .push(EncoderLayer::load(&l, &hp.wrap, i, d, f, eps)?)
                .map_err(|_| Error::BadHyperparameter("marian_nmt.encoder_layers"))?;
        }
        let mut decoder = heapless::Vec::new();
        for i in 0..hp.decoder_layers as u32 {
            let layer = DecoderLayer {
                rnn_w: l.linear(DEC_RNN_W, i, d, d)?,
                rnn_wf: l.linear(DEC_RNN_WF, i, d, d)?,
                rnn_wrap: l.wrap(&hp.wrap, DEC_RNN_PRE_NORM, DEC_RNN_NORM, i, d, eps)?,
                cross: Attention::load(
                    &l,
                    [DEC_CROSS_Q, DEC_CROSS_K, DEC_CROSS_V, DEC_CROSS_O],
                    i,
                    d,
                )?,
                cross_wrap: l.wrap(&hp.wrap, DEC_CROSS_PRE_NORM, DEC_CROSS_NORM, i, d, eps)?,
                ffn_up: l.linear(DEC_FFN_UP, i, f, d)?,
                ffn_down: l.linear(DEC_FFN_DOWN, i, d, f)?,
                ffn_wrap: l.wrap(&hp.wrap, DEC_FFN_PRE_NORM, DEC_FFN_NORM, i, d, eps)?,
            };
            decoder
                .push(layer)
                .map_err(|_| Error::BadHyperparameter("marian_nmt.decoder_layers"))?;
        }
        let embed = l.matrix(TOKEN_EMBD, 0, hp.vocab_size, d)?;
        let output_bias = l.opt_vector(OUTPUT_BIAS, 0, "", hp.vocab_size)?;
        let shortlist = Shortlist::from_gguf(g, hp.vocab_size, hp.vocab_size)?;
        let norm = |on: bool, name| {
            if on {
                l.norm(name, 0, d, eps).map(Some)
            } else {
                Ok(None)
            }
        };
        Ok(MarianNmt {
            hp,
            embed,
            output_bias,
            shortlist,
            encoder,
            decoder,
            enc_emb_norm: norm(hp.emb_norm, ENC_EMB_NORM)?,
            dec_emb_norm: norm(hp.emb_norm, DEC_EMB_NORM)?,
            enc_top_norm: norm(hp.top_norm, ENC_OUT_NORM)?,
            dec_top_norm: norm(hp.top_norm, DEC_OUT_NORM)?,
            kernels,
        })
    }

    /// Bytes of weights read per generated token at batch 1: the decoder layers (SSRU, cross
    /// query/output, FFN) and the output rows of a typical shortlist (the whole vocabulary
    /// without one).
    pub fn bytes_per_token(&self) -> usize {
        let lin = |l: &Linear| l.w.bytes() + l.b.map_or(0, |b| b.len() * 4);
        let dec: usize = self
            .decoder
            .iter()
            .map(|l| {
                lin(&l.rnn_w)
                    + lin(&l.rnn_wf)
                    + lin(&l.cross.q)
                    + lin(&l.cross.o)
                    + lin(&l.ffn_up)
                    + lin(&l.ffn_down)
            })
            .sum();
        let rows = self
            .shortlist
            .map_or(self.hp.vocab_size, |s| s.capacity(16));
        dec + self.embed.bytes() / self.hp.vocab_size * rows
    }

    /// Candidate capacity for sentences of up to `max_src` tokens.
    fn candidates(&self, max_src: usize) -> usize {
        self.shortlist.map_or(0, |s| s.capacity(max_src))
    }
}

/// Adds Marian's sinusoidal position signal for `pos` to `x`: with `n = d/2` timescales,
/// `x[i] += sin(pos * e^(-i ln(10000)/(n-1)))` and `x[n+i] += cos(...)` (Marian's
/// `sinusoidalPositionEmbeddings`; note the `n - 1`, unlike HF's `10000^(-2i/d)`).
pub fn add_marian_position(k: &Kernels, x: &mut [f32], pos: usize) {
    let n = x.len() / 2;
    let inc = libm::logf(10000.0) / (n as f32 - 1.0).max(1.0);
    // The timescales a block at a time through the table's exp (bit for bit libm's).
    let mut ts = [0f32; 64];
    for start in (0..n).step_by(64) {
        let ts = &mut ts[..(n - start).min(64)];
        ts.iter_mut()
            .enumerate()
            .for_each(|(j, t)| *t = (start + j) as f32 * -inc);
        (k.exp)(ts);
        for (j, &t) in ts.iter().enumerate() {
            let v = pos as f32 * t;
            x[start + j] += libm::sinf(v);
            x[n + start + j] += libm::cosf(v);
        }
    }
}

/// The workspace, carved.
struct Buffers<'w> {
    /// Candidates in each sentence's shortlist (`batch x cands`).
    n_cands: &'w mut [u32],
    /// Source length of each sentence slot (0: not encoded).
    src_len: &'w mut [u32],
    cands: &'w mut [u32],
    /// Output scores of the candidates.
    scored: &'w mut [f32],
    seen: &'w mut [u32],
    cross_k: &'w mut [f32],
    cross_v: &'w mut [f32],
    /// SSRU cell states: layers x slots x max_tgt x d (read through the ancestry table).
    cells: &'w mut [f32],
    x: &'w mut [f32],
    s: Scratch<'w>,
}

/// Buffer sizes for a model and limits: the single source of the plan.
struct Dims {
    d: usize,
    ffn: usize,
    layers: usize,
    rows: usize,
    max_src: usize,
    batch: usize,
    cells: usize,
    cands: usize,
    seen: usize,
}

impl Dims {
    fn new(m: &MarianNmt, limits: &Limits) -> Self {
        let d = m.hp.d_model;
        Dims {
            d,
            ffn: m.hp.ffn_dim,
            layers: m.hp.decoder_layers,
            rows: limits.max_src.max(limits.rows()),
            max_src: limits.max_src,
            batch: limits.batch,
            cells: m.hp.decoder_layers * limits.rows() * limits.max_tgt * d,
            cands: m.candidates(limits.max_src),
            seen: m.shortlist.map_or(0, |s| s.seen_words()),
        }
    }

    fn cross(&self) -> usize {
        self.layers * self.batch * self.max_src * self.d
    }

    fn bytes(&self) -> usize {
        let mut s = Sizer::default();
        s.add::<u32>(self.batch)
            .add::<u32>(self.batch)
            .add::<u32>(self.batch * self.cands)
            .add::<f32>(self.cands)
            .add::<u32>(self.seen);
        s.add::<f32>(self.cross())
            .add::<f32>(self.cross())
            .add::<f32>(self.cells);
        s.add::<f32>(self.rows * self.d);
        Scratch::size(&mut s, self.rows, self.d, self.ffn, self.max_src);
        s.bytes()
    }

    fn carve<'w>(&self, state: &'w mut [u8]) -> Result<Buffers<'w>> {
        let mut c = Carver::new(state);
        let rd = self.rows * self.d;
        Ok(Buffers {
            n_cands: c.take(self.batch)?,
            src_len: c.take(self.batch)?,
            cands: c.take(self.batch * self.cands)?,
            scored: c.take(self.cands)?,
            seen: c.take(self.seen)?,
            cross_k: c.take(self.cross())?,
            cross_v: c.take(self.cross())?,
            cells: c.take(self.cells)?,
            x: c.take(rd)?,
            s: Scratch::carve(&mut c, self.rows, self.d, self.ffn, self.max_src)?,
        })
    }
}

impl MarianNmt<'_> {
    /// `E[id] * sqrt(d) + sinusoid(pos)`; `None` is the decoder's all-zero start embedding.
    fn embed_into(&self, id: Option<u32>, pos: usize, row: &mut [f32]) -> Result<()> {
        match id {
            Some(id) if id as usize >= self.hp.vocab_size => {
                return Err(Error::BadTokenizer("token id beyond the vocabulary"))
            }
            Some(id) => {
                self.embed.row_into(id as usize, row);
                let scale = libm::sqrtf(self.hp.d_model as f32);
                row.iter_mut().for_each(|v| *v *= scale);
            }
            None => row.fill(0.0),
        }
        add_marian_position(&self.kernels, row, pos);
        Ok(())
    }
}

impl Seq2Seq for MarianNmt<'_> {
    fn vocab_size(&self) -> usize {
        self.hp.vocab_size
    }

    fn max_positions(&self) -> usize {
        self.hp.max_positions
    }

    fn state_bytes(&self, limits: &Limits) -> usize {
        Dims::new(self, limits).bytes()
    }

    fn encode(
        &self,
        state: &mut [u8],
        limits: &Limits,
        sentence: usize,
        src: &[u32],
    ) -> Result<()> {
        check_encode(limits, self.hp.max_positions, sentence, src)?;
        let n = src.len();
        let dims = Dims::new(self, limits);
        let mut b = dims.carve(state)?;
        let (d, kern) = (self.hp.d_model, &self.kernels);
        b.src_len[sentence] = 0;
        for (t, (&id, row)) in src.iter().zip(b.x.chunks_exact_mut(d)).enumerate() {
            self.embed_into(Some(id), t, row)?;
        }
        let cap = dims.cands;
        let cands = &mut b.cands[sentence * cap..(sentence + 1) * cap];
        b.n_cands[sentence] = match &self.shortlist {
            Some(s) => s.build(src, b.seen, cands)? as u32,
            None => 0,
        };
        let x = &mut b.x[..n * d];
        if let Some(ln) = &self.enc_emb_norm {
            ln.forward(x);
        }
        let (one, all) = (limits.max_src * d, dims.batch * limits.max_src * d);
        let cross = self.decoder.iter().map(|l| &l.cross);
        encode_stack(
            kern,
            &self.encoder,
            self.enc_top_norm.as_ref(),
            cross,
            self.hp.heads,
            self.hp.activation,
            x,
            n,
            (
                &mut b.cross_k[sentence * one..],
                &mut b.cross_v[sentence * one..],
                all,
            ),
            &mut b.s,
        );
        b.src_len[sentence] = n as u32;
        Ok(())
    }

    fn restrict_output(
        &self,
        state: &mut [u8],
        limits: &Limits,
        sentence: usize,
        words: &[u32],
    ) -> Result<()> {
        let Some(list) = &self.shortlist else {
            return Ok(());
        };
        let dims = Dims::new(self, limits);
        let b = dims.carve(state)?;
        // The plan holds the candidates of `max_src` source words per sentence.
        if words.len() > limits.max_src {
            return Err(Error::BadLimit("shortlist context longer than max_src"));
        }
        if sentence >= limits.batch {
            return Err(Error::BadLimit("sentence slot out of range"));
        }
        let cands = &mut b.cands[sentence * dims.cands..(sentence + 1) * dims.cands];
        b.n_cands[sentence] = list.build(words, b.seen, cands)? as u32;
        Ok(())
    }

    fn candidates<'s>(
        &self,
        state: &'s mut [u8],
        limits: &Limits,
        sentence: usize,
    ) -> Result<Option<&'s [u32]>> {
        if self.shortlist.is_none() {
            return Ok(None);
        }
        let dims = Dims::new(self, limits);
        let b = dims.carve(state)?;
        let n = *b
            .n_cands
            .get(sentence)
            .ok_or(Error::BadLimit("sentence slot out of range"))?;
        let cands: &'s [u32] = b.cands;
        let start = sentence * dims.cands;
        Ok(cands.get(start..start + n as usize))
    }

    fn step(
        &self,
        state: &mut [u8],
        limits: &Limits,
        rows: &Rows,
        pos: usize,
        logits: &mut [f32],
    ) -> Result<()> {
        let (d, v, kern) = (self.hp.d_model, self.hp.vocab_size, &self.kernels);
        let nb = check_step(limits, rows, pos, logits, v)?;
        let dims = Dims::new(self, limits);
        let mut b = dims.carve(state)?;
        let cap = dims.cands;
        let ready = |s: u32| b.src_len[s as usize] > 0 && b.n_cands[s as usize] as usize <= cap;
        if !rows.sentences.iter().all(|&s| ready(s)) {
            return Err(Error::BadLimit("step before encode"));
        }
        for (&id, row) in rows.tokens.iter().zip(b.x.chunks_exact_mut(d)) {
            self.embed_into((pos > 0).then_some(id), pos, row)?;
        }
        let t_max = limits.max_tgt;
        let x = &mut b.x[..nb * d];
        if let Some(ln) = &self.dec_emb_norm {
            ln.forward(x);
        }
        let layer_cells = limits.rows() * t_max * d;
        let layer_cross = dims.batch * limits.max_src * d;
        for (l, layer) in self.decoder.iter().enumerate() {
            // SSRU: the forget gate mixes the previous cell (this row's ancestor at pos - 1)
            // with the new candidate; the output is relu(c).
            let sc = &mut b.s;
            let input = layer.rnn_wrap.input(x, sc.pre);
            layer.rnn_w.forward(kern, input, nb, sc.tmp, &mut sc.qs);
            layer.rnn_wf.forward(kern, input, nb, sc.q, &mut sc.qs);
            let cells = &mut b.cells[l * layer_cells..(l + 1) * layer_cells];
            // exp(-gate) for the forget gates' sigmoid, all rows at once.
            let gate = &mut sc.q[..nb * d];
            gate.iter_mut().for_each(|g| *g = -*g);
            (kern.exp)(gate);
            for (bi, &slot) in rows.slots.iter().enumerate() {
                let slot = slot as usize;
                let here = (slot * t_max + pos) * d;
                let prev = (pos > 0)
                    .then(|| (rows.anc[slot * t_max + pos - 1] as usize * t_max + pos - 1) * d);
                for j in 0..d {
                    let f = 1.0 / (1.0 + sc.q[bi * d + j]);
                    let c_prev = prev.map_or(0.0, |p| cells[p + j]);
                    let c = f * c_prev + (1.0 - f) * sc.tmp[bi * d + j];
                    cells[here + j] = c;
                    sc.ctx[bi * d + j] = c.max(0.0);
                }
            }
            layer.rnn_wrap.output(x, sc.ctx);
            let span = l * layer_cross..(l + 1) * layer_cross;
            let mem = Memory {
                keys: &b.cross_k[span.clone()],
                values: &b.cross_v[span],
                stride: limits.max_src * d,
                lens: b.src_len,
            };
            layer.cross.cross(
                kern,
                &layer.cross_wrap,
                self.hp.heads,
                x,
                nb,
                rows.sentences,
                &mem,
                sc,
            );
            ffn(
                kern,
                self.hp.activation,
                layer.ffn_up,
                layer.ffn_down,
                &layer.ffn_wrap,
                x,
                nb,
                sc,
            );
        }
        if let Some(ln) = &self.dec_top_norm {
            ln.forward(x);
        }
        let logits = &mut logits[..nb * v];
        if self.shortlist.is_some() {
            // Words outside the sentence's shortlist are impossible; only candidates are scored.
            for (bi, out) in logits.chunks_exact_mut(v).enumerate() {
                let sent = rows.sentences[bi] as usize;
                let cands = &b.cands[sent * cap..sent * cap + b.n_cands[sent] as usize];
                if !rows.sparse {
                    out.fill(f32::NEG_INFINITY);
                }
                let scored = &mut b.scored[..cands.len()];
                kern.linear_rows(
                    &x[bi * d..(bi + 1) * d],
                    &self.embed,
                    self.output_bias,
                    cands,
                    scored,
                    &mut b.s.qs,
                );
                cands
                    .iter()
                    .zip(scored.iter())
                    .for_each(|(&id, &s)| out[id as usize] = s);
            }
        } else {
            kern.linear(x, nb, &self.embed, self.output_bias, logits, &mut b.s.qs);
        }
        Ok(())
    }
}
