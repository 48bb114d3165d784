//! MarianMT (OPUS-MT) as Hugging Face's `modeling_marian` defines it: scaled token embeddings
//! plus sinusoidal positions, post-norm Transformer layers (attention, residual, LayerNorm; FFN,
//! residual, LayerNorm), no final stack norm, `final_logits_bias`, and an output projection tied
//! to the embeddings unless the file has its own.
//!
//! Weights ([`Marian`]) borrow the file; everything that changes per sentence lives in the
//! caller's workspace, carved by [`Buffers`]: cross-attention keys/values (computed once per
//! sentence), the decoder's self-attention cache (one slot per beam and position), and scratch.

use super::names::*;
use super::{
    add_norm, add_sinusoidal_position, attend, check_encode, check_step, encode_stack, ffn,
    Activation, Attention, EncoderLayer, LayerNorm, Linear, Loader, Memory, Rows, Scratch, Seq2Seq,
    Wrap, WrapSpec, MAX_LAYERS,
};
use crate::error::{Error, Result};
use crate::gguf::Gguf;
use crate::kernels::{Kernels, Matrix};
use crate::plan::{Carver, Limits, Sizer};

/// `general.architecture` of these files.
pub const ARCH: &str = "marian";

/// Hyperparameters, from the `marian.*` metadata keys (see `docs/gguf-format.md`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hparams {
    pub vocab_size: usize,
    pub d_model: usize,
    pub encoder_layers: usize,
    pub decoder_layers: usize,
    pub encoder_heads: usize,
    pub decoder_heads: usize,
    pub encoder_ffn_dim: usize,
    pub decoder_ffn_dim: usize,
    pub max_positions: usize,
    pub activation: Activation,
    pub scale_embedding: bool,
    pub layer_norm_eps: f32,
}

impl Hparams {
    /// Reads and checks the hyperparameters.
    pub fn from_gguf(g: &Gguf) -> Result<Self> {
        let arch = g.str("general.architecture")?;
        if arch != ARCH {
            return Err(Error::UnknownArchitecture);
        }
        let u = |k: &'static str| g.u32(k).map(|v| v as usize);
        let hp = Hparams {
            vocab_size: u("marian.vocab_size")?,
            d_model: u("marian.d_model")?,
            encoder_layers: u("marian.encoder_layers")?,
            decoder_layers: u("marian.decoder_layers")?,
            encoder_heads: u("marian.encoder_attention_heads")?,
            decoder_heads: u("marian.decoder_attention_heads")?,
            encoder_ffn_dim: u("marian.encoder_ffn_dim")?,
            decoder_ffn_dim: u("marian.decoder_ffn_dim")?,
            max_positions: u("marian.max_position_embeddings")?,
            activation: Activation::from_name(g.str("marian.activation_function")?)?,
            scale_embedding: g.bool_or("marian.scale_embedding", true)?,
            layer_norm_eps: g.f32_or("marian.layer_norm_eps", 1e-5)?,
        };
        hp.check()?;
        Ok(hp)
    }

    fn check(&self) -> Result<()> {
        let bad = Error::BadHyperparameter;
        let sane = |v: usize, max: usize| v > 0 && v <= max;
        if !sane(self.vocab_size, 1 << 24) {
            return Err(bad("marian.vocab_size"));
        }
        if !sane(self.d_model, 1 << 16) {
            return Err(bad("marian.d_model"));
        }
        if !sane(self.encoder_layers, MAX_LAYERS) {
            return Err(bad("marian.encoder_layers"));
        }
        if !sane(self.decoder_layers, MAX_LAYERS) {
            return Err(bad("marian.decoder_layers"));
        }
        if !sane(self.encoder_heads, 256) || self.d_model % self.encoder_heads != 0 {
            return Err(bad("marian.encoder_attention_heads"));
        }
        if !sane(self.decoder_heads, 256) || self.d_model % self.decoder_heads != 0 {
            return Err(bad("marian.decoder_attention_heads"));
        }
        if !sane(self.encoder_ffn_dim, 1 << 18) {
            return Err(bad("marian.encoder_ffn_dim"));
        }
        if !sane(self.decoder_ffn_dim, 1 << 18) {
            return Err(bad("marian.decoder_ffn_dim"));
        }
        if !sane(self.max_positions, 1 << 16) {
            return Err(bad("marian.max_position_embeddings"));
        }
        if !(self.layer_norm_eps > 0.0 && self.layer_norm_eps < 1.0) {
            return Err(bad("marian.layer_norm_eps"));
        }
        Ok(())
    }

    fn embed_scale(&self) -> f32 {
        if self.scale_embedding {
            libm::sqrtf(self.d_model as f32)
        } else {
            1.0
        }
    }
}

/// One decoder layer.
#[derive(Debug, Clone, Copy)]
pub struct DecoderLayer<'a> {
    pub attn: Attention<'a>,
    pub attn_norm: LayerNorm<'a>,
    pub cross: Attention<'a>,
    pub cross_wrap: Wrap<'a>,
    pub ffn_up: Linear<'a>,
    pub ffn_down: Linear<'a>,
    pub ffn_wrap: Wrap<'a>,
}

/// The weights of a Marian model, borrowed from the file.
#[derive(Debug, Clone)]
pub struct Marian<'a> {
    pub hp: Hparams,
    /// Encoder token embedding, vocab x d.
    pub enc_embed: Matrix<'a>,
    /// Decoder token embedding, vocab x d (the same as `enc_embed` when shared).
    pub dec_embed: Matrix<'a>,
    /// Output projection, vocab x d (the decoder embedding when tied).
    pub output: Matrix<'a>,
    /// `final_logits_bias`.
    pub output_bias: Option<&'a [f32]>,
    pub encoder: heapless::Vec<EncoderLayer<'a>, MAX_LAYERS>,
    pub decoder: heapless::Vec<DecoderLayer<'a>, MAX_LAYERS>,
    pub kernels: Kernels,
}

impl<'a> Marian<'a> {
    /// Resolves and checks every tensor of the model.
    pub fn from_gguf(g: &Gguf<'a>, kernels: Kernels) -> Result<Self> {
        let hp = Hparams::from_gguf(g)?;
        let l = Loader { g };
        let (d, v) = (hp.d_model, hp.vocab_size);
        let eps = hp.layer_norm_eps;
        let mut encoder = heapless::Vec::new();
        for i in 0..hp.encoder_layers as u32 {
            encoder
                .push(EncoderLayer::load(
                    &l,
                    &WrapSpec::POST_NORM,
                    i,
                    d,
                    hp.encoder_ffn_dim,
                    eps,
                )?)
                .map_err(|_| Error::BadHyperparameter("marian.encoder_layers"))?;
        }
        let mut decoder = heapless::Vec::new();
        for i in 0..hp.decoder_layers as u32 {
            let layer = DecoderLayer {
                attn: Attention::load(&l, [DEC_ATTN_Q, DEC_ATTN_K, DEC_ATTN_V, DEC_ATTN_O], i, d)?,
                attn_norm: l.norm(DEC_ATTN_NORM, i, d, eps)?,
                cross: Attention::load(
                    &l,
                    [DEC_CROSS_Q, DEC_CROSS_K, DEC_CROSS_V, DEC_CROSS_O],
                    i,
                    d,
                )?,
                cross_wrap: Wrap::post_norm(l.norm(DEC_CROSS_NORM, i, d, eps)?),
                ffn_up: l.linear(DEC_FFN_UP, i, hp.decoder_ffn_dim, d)?,
                ffn_down: l.linear(DEC_FFN_DOWN, i, d, hp.decoder_ffn_dim)?,
                ffn_wrap: Wrap::post_norm(l.norm(DEC_FFN_NORM, i, d, eps)?),
            };
            decoder
                .push(layer)
                .map_err(|_| Error::BadHyperparameter("marian.decoder_layers"))?;
        }
        let enc_embed = l.matrix(TOKEN_EMBD, 0, v, d)?;
        let dec_embed = if g.tensor("dec.token_embd.weight").is_some() {
            l.matrix(DEC_TOKEN_EMBD, 0, v, d)?
        } else {
            enc_embed
        };
        let output = if g.tensor("output.weight").is_some() {
            l.matrix(OUTPUT, 0, v, d)?
        } else {
            dec_embed
        };
        let output_bias = l.opt_vector(OUTPUT_BIAS, 0, "", v)?;
        Ok(Marian {
            hp,
            enc_embed,
            dec_embed,
            output,
            output_bias,
            encoder,
            decoder,
            kernels,
        })
    }

    /// Bytes of weights read for one generated token at batch 1 (decoder layers' self-attention,
    /// cross-attention queries/outputs and FFN, plus the output projection): what bounds speed.
    pub fn bytes_per_token(&self) -> usize {
        let lin = |l: &Linear| l.w.bytes() + l.b.map_or(0, |b| b.len() * 4);
        let dec: usize = self
            .decoder
            .iter()
            .map(|l| {
                lin(&l.attn.q)
                    + lin(&l.attn.k)
                    + lin(&l.attn.v)
                    + lin(&l.attn.o)
                    + lin(&l.cross.q)
                    + lin(&l.cross.o)
                    + lin(&l.ffn_up)
                    + lin(&l.ffn_down)
            })
            .sum();
        dec + self.output.bytes()
    }
}

/// The workspace, carved. `rows` is the most rows processed at once: the source length in the
/// encoder, beams x sentences in the decoder.
struct Buffers<'w> {
    /// Source length of each sentence slot (0: not encoded).
    src_len: &'w mut [u32],
    /// Cross-attention keys and values: layers x batch x max_src x d.
    cross_k: &'w mut [f32],
    cross_v: &'w mut [f32],
    /// Self-attention cache: layers x slots (batch x beam) x max_tgt x d.
    self_k: &'w mut [f32],
    self_v: &'w mut [f32],
    x: &'w mut [f32],
    s: Scratch<'w>,
}

/// Sizes of every buffer for a model and limits: the single source of the plan.
struct Dims {
    d: usize,
    ffn: usize,
    layers: usize,
    rows: usize,
    max_src: usize,
    max_tgt: usize,
    slots: usize,
    batch: usize,
}

impl Dims {
    fn new(hp: &Hparams, limits: &Limits) -> Self {
        Dims {
            d: hp.d_model,
            ffn: hp.encoder_ffn_dim.max(hp.decoder_ffn_dim),
            layers: hp.decoder_layers,
            rows: limits.max_src.max(limits.rows()),
            max_src: limits.max_src,
            max_tgt: limits.max_tgt,
            slots: limits.rows(),
            batch: limits.batch,
        }
    }

    fn cross(&self) -> usize {
        self.layers * self.batch * self.max_src * self.d
    }

    fn cache(&self) -> usize {
        self.layers * self.slots * self.max_tgt * self.d
    }

    fn bytes(&self) -> usize {
        let mut s = Sizer::default();
        s.add::<u32>(self.batch);
        s.add::<f32>(self.cross()).add::<f32>(self.cross());
        s.add::<f32>(self.cache()).add::<f32>(self.cache());
        s.add::<f32>(self.rows * self.d);
        let keys = self.max_src.max(self.max_tgt);
        Scratch::size(&mut s, self.rows, self.d, self.ffn, keys);
        s.bytes()
    }

    fn carve<'w>(&self, state: &'w mut [u8]) -> Result<Buffers<'w>> {
        let mut c = Carver::new(state);
        let keys = self.max_src.max(self.max_tgt);
        Ok(Buffers {
            src_len: c.take(self.batch)?,
            cross_k: c.take(self.cross())?,
            cross_v: c.take(self.cross())?,
            self_k: c.take(self.cache())?,
            self_v: c.take(self.cache())?,
            x: c.take(self.rows * self.d)?,
            s: Scratch::carve(&mut c, self.rows, self.d, self.ffn, keys)?,
        })
    }
}

impl Seq2Seq for Marian<'_> {
    fn vocab_size(&self) -> usize {
        self.hp.vocab_size
    }

    fn max_positions(&self) -> usize {
        self.hp.max_positions
    }

    fn state_bytes(&self, limits: &Limits) -> usize {
        Dims::new(&self.hp, limits).bytes()
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
        let dims = Dims::new(&self.hp, limits);
        let mut b = dims.carve(state)?;
        let (d, kern) = (self.hp.d_model, &self.kernels);
        b.src_len[sentence] = 0;
        let scale = self.hp.embed_scale();
        for (t, (&id, row)) in src.iter().zip(b.x.chunks_exact_mut(d)).enumerate() {
            if id as usize >= self.hp.vocab_size {
                return Err(Error::BadTokenizer("token id beyond the vocabulary"));
            }
            self.enc_embed.row_into(id as usize, row);
            row.iter_mut().for_each(|v| *v *= scale);
            add_sinusoidal_position(row, t);
        }
        let x = &mut b.x[..n * d];
        let (one, all) = (limits.max_src * d, dims.batch * limits.max_src * d);
        let cross = self.decoder.iter().map(|l| &l.cross);
        encode_stack(
            kern,
            &self.encoder,
            None,
            cross,
            self.hp.encoder_heads,
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
        let dims = Dims::new(&self.hp, limits);
        let mut b = dims.carve(state)?;
        for &s in rows.sentences {
            if b.src_len[s as usize] == 0 {
                return Err(Error::BadLimit("step before encode"));
            }
        }
        let scale = self.hp.embed_scale();
        for (&id, row) in rows.tokens.iter().zip(b.x.chunks_exact_mut(d)) {
            if id as usize >= v {
                return Err(Error::BadTokenizer("token id beyond the vocabulary"));
            }
            self.dec_embed.row_into(id as usize, row);
            row.iter_mut().for_each(|x| *x *= scale);
            add_sinusoidal_position(row, pos);
        }
        let t_max = limits.max_tgt;
        let x = &mut b.x[..nb * d];
        let layer_cache = dims.slots * t_max * d;
        let layer_cross = dims.batch * limits.max_src * d;
        for (l, layer) in self.decoder.iter().enumerate() {
            // Self-attention over each row's history, read through the ancestry table.
            let sc = &mut b.s;
            let a = &layer.attn;
            a.q.forward(kern, x, nb, sc.q, &mut sc.qs);
            a.k.forward(kern, x, nb, sc.k, &mut sc.qs);
            a.v.forward(kern, x, nb, sc.v, &mut sc.qs);
            let (ck, cv) = (
                &mut b.self_k[l * layer_cache..(l + 1) * layer_cache],
                &mut b.self_v[l * layer_cache..(l + 1) * layer_cache],
            );
            for (bi, &slot) in rows.slots.iter().enumerate() {
                let cell = (slot as usize * t_max + pos) * d;
                ck[cell..cell + d].copy_from_slice(&sc.k[bi * d..(bi + 1) * d]);
                cv[cell..cell + d].copy_from_slice(&sc.v[bi * d..(bi + 1) * d]);
            }
            for (bi, &slot) in rows.slots.iter().enumerate() {
                let slot = slot as usize;
                let hist = &rows.anc[slot * t_max..(slot + 1) * t_max];
                let row_of = |s: usize| {
                    let from = if s == pos { slot } else { hist[s] as usize };
                    from * t_max + s
                };
                let row = bi * d..(bi + 1) * d;
                attend(
                    kern,
                    &sc.q[row.clone()],
                    ck,
                    cv,
                    pos + 1,
                    row_of,
                    self.hp.decoder_heads,
                    sc.scores,
                    sc.offs,
                    &mut sc.ctx[row],
                );
            }
            a.o.forward(kern, sc.ctx, nb, sc.tmp, &mut sc.qs);
            add_norm(x, &sc.tmp[..nb * d], &layer.attn_norm);
            // Cross-attention over each row's sentence: the encoder output's keys and values.
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
                self.hp.decoder_heads,
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
        let logits = &mut logits[..nb * v];
        kern.linear(x, nb, &self.output, self.output_bias, logits, &mut b.s.qs);
        Ok(())
    }
}

#[cfg(all(test, feature = "alloc"))]
pub(crate) mod tests {
    extern crate alloc;
    use super::*;
    use crate::decode::{self, Options, Special};
    use crate::gguf::write::{GgufWriter, MetaValue};
    use crate::gguf::TensorType;
    use crate::model::names;
    use alloc::vec;
    use alloc::vec::Vec;

    /// Deterministic pseudo-random numbers in [-1, 1).
    pub(crate) struct Rng(u64);
    impl Rng {
        pub(crate) fn next(&mut self) -> f32 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        }
        fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
            (0..n).map(|_| self.next() * scale).collect()
        }
    }

    /// A random Marian model (vocab 40, d 16, 2+2 layers) with weights stored as `ty`.
    pub(crate) fn synthetic(ty: TensorType) -> Vec<u8> {
        let (v, d, f) = (40u32, 16u32, 24u32);
        let mut w = GgufWriter::new();
        let m = |w: &mut GgufWriter, k: &str, x: u32| w.meta(k, MetaValue::U32(x));
        w.meta("general.architecture", MetaValue::Str("marian".into()));
        m(&mut w, "marian.vocab_size", v);
        m(&mut w, "marian.d_model", d);
        m(&mut w, "marian.encoder_layers", 2);
        m(&mut w, "marian.decoder_layers", 2);
        m(&mut w, "marian.encoder_attention_heads", 4);
        m(&mut w, "marian.decoder_attention_heads", 2);
        m(&mut w, "marian.encoder_ffn_dim", f);
        m(&mut w, "marian.decoder_ffn_dim", f);
        m(&mut w, "marian.max_position_embeddings", 64);
        w.meta("marian.activation_function", MetaValue::Str("swish".into()));
        w.meta("marian.scale_embedding", MetaValue::Bool(true));
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let matrix = |w: &mut GgufWriter, base: &str, rows: u32, cols: u32, rng: &mut Rng| {
            let data = rng.vec((rows * cols) as usize, 0.6);
            let dims = [u64::from(cols), u64::from(rows)];
            let name = alloc::format!("{base}.weight");
            match ty {
                TensorType::F16 => {
                    let b: Vec<u8> = data
                        .iter()
                        .flat_map(|x| half::f16::from_f32(*x).to_le_bytes())
                        .collect();
                    w.tensor_bytes(&name, &dims, TensorType::F16, &b);
                }
                TensorType::I8 => {
                    let mut q = Vec::new();
                    let mut scales = Vec::new();
                    for row in data.chunks(cols as usize) {
                        let s = row.iter().fold(0f32, |a, x| a.max(x.abs())) / 127.0;
                        q.extend(row.iter().map(|x| libm::roundf(x / s) as i8 as u8));
                        scales.push(s);
                    }
                    w.tensor_bytes(&name, &dims, TensorType::I8, &q);
                    w.tensor_f32(&alloc::format!("{base}.scale"), &[u64::from(rows)], &scales);
                }
                _ => w.tensor_f32(&name, &dims, &data),
            }
            let bias = rng.vec(rows as usize, 0.1);
            w.tensor_f32(&alloc::format!("{base}.bias"), &[u64::from(rows)], &bias);
        };
        matrix(&mut w, names::TOKEN_EMBD, v, d, &mut rng);
        let bias = rng.vec(v as usize, 1.0);
        w.tensor_f32(names::OUTPUT_BIAS, &[u64::from(v)], &bias);
        let norm = |w: &mut GgufWriter, base: &str, rng: &mut Rng| {
            let g: Vec<f32> = rng.vec(d as usize, 0.2).iter().map(|x| 1.0 + x).collect();
            w.tensor_f32(&alloc::format!("{base}.weight"), &[u64::from(d)], &g);
            let b = rng.vec(d as usize, 0.1);
            w.tensor_f32(&alloc::format!("{base}.bias"), &[u64::from(d)], &b);
        };
        for i in 0..2 {
            for t in [ENC_ATTN_Q, ENC_ATTN_K, ENC_ATTN_V, ENC_ATTN_O] {
                matrix(&mut w, &names::name(t, i, ""), d, d, &mut rng);
            }
            matrix(&mut w, &names::name(ENC_FFN_UP, i, ""), f, d, &mut rng);
            matrix(&mut w, &names::name(ENC_FFN_DOWN, i, ""), d, f, &mut rng);
            norm(&mut w, &names::name(ENC_ATTN_NORM, i, ""), &mut rng);
            norm(&mut w, &names::name(ENC_FFN_NORM, i, ""), &mut rng);
            for t in [
                DEC_ATTN_Q,
                DEC_ATTN_K,
                DEC_ATTN_V,
                DEC_ATTN_O,
                DEC_CROSS_Q,
                DEC_CROSS_K,
                DEC_CROSS_V,
                DEC_CROSS_O,
            ] {
                matrix(&mut w, &names::name(t, i, ""), d, d, &mut rng);
            }
            matrix(&mut w, &names::name(DEC_FFN_UP, i, ""), f, d, &mut rng);
            matrix(&mut w, &names::name(DEC_FFN_DOWN, i, ""), d, f, &mut rng);
            for t in [DEC_ATTN_NORM, DEC_CROSS_NORM, DEC_FFN_NORM] {
                norm(&mut w, &names::name(t, i, ""), &mut rng);
            }
        }
        w.to_bytes()
    }

    pub(crate) fn aligned(bytes: &[u8]) -> Vec<u64> {
        let mut v = vec![0u64; bytes.len().div_ceil(8)];
        crate::plan::as_bytes_mut(&mut v)[..bytes.len()].copy_from_slice(bytes);
        v
    }

    const SPECIAL: Special = Special {
        decoder_start: 39,
        eos: 0,
        suppress: Some(39),
        forced_eos: true,
    };

    fn run(bytes: &[u8], beam: usize, src: &[u32]) -> (Vec<u32>, f32) {
        run_min(bytes, beam, src, 0)
    }

    fn run_min(bytes: &[u8], beam: usize, src: &[u32], min_len: usize) -> (Vec<u32>, f32) {
        let store = aligned(bytes);
        let g = Gguf::parse(&crate::plan::as_bytes(&store)[..bytes.len()]).unwrap();
        let m = Marian::from_gguf(&g, Kernels::best()).unwrap();
        let limits = Limits {
            max_src: 16,
            max_tgt: 12,
            beam,
            batch: 1,
        };
        let mut ws = vec![0u8; decode::workspace_bytes(&m, &limits)];
        let mut out = vec![0u32; 12];
        let opts = Options {
            beam,
            max_len: 12,
            length_penalty: 1.0,
            early_stopping: false,
            min_len,
        };
        let h = decode::generate(&m, &mut ws, &limits, src, &SPECIAL, &opts, &mut out).unwrap();
        out.truncate(h.len);
        (out, h.score)
    }

    #[test]
    fn greedy_is_deterministic_and_ends_within_the_limit() {
        let bytes = synthetic(TensorType::F32);
        let (a, _) = run(&bytes, 1, &[5, 9, 13, 0]);
        let (b, _) = run(&bytes, 1, &[5, 9, 13, 0]);
        assert_eq!(a, b);
        assert!(!a.is_empty() && a.len() <= 12);
        assert!(!a.contains(&39), "suppressed token generated");
        assert!(
            a[..a.len() - 1].iter().all(|&t| t != 0),
            "EOS only at the end"
        );
        let (c, _) = run(&bytes, 1, &[7, 7, 2, 0]);
        assert_ne!(a, c, "output does not depend on the input");
    }

    #[test]
    fn a_batch_decodes_each_sentence_as_it_would_alone() {
        // Sentences of different lengths, finishing at different steps, in one batch (in two
        // orders): each must come out exactly as decoded alone. Int8 is integer math per row;
        // f32 rows run through the same kernels in a different grouping.
        for ty in [TensorType::I8, TensorType::F32] {
            let bytes = synthetic(ty);
            // Two sources whose translations end early (at different steps where possible),
            // then sources of other lengths that run to the limit.
            let cands: Vec<Vec<u32>> = (1..38u32).map(|a| vec![a, (a * 7) % 38 + 1, 0]).collect();
            let mut early: Vec<&Vec<u32>> = cands
                .iter()
                .filter(|s| run(&bytes, 1, s).0.len() < 12)
                .collect();
            early.sort_by_key(|s| run(&bytes, 1, s).0.len());
            let (a, b) = (early[0].clone(), early[early.len() - 1].clone());
            let owned = [
                a,
                vec![5, 9, 13, 0],
                b,
                vec![3, 4, 5, 6, 7, 8, 0],
                vec![2, 0],
            ];
            let srcs: Vec<&[u32]> = owned.iter().map(|s| &s[..]).collect();
            let alone: Vec<Vec<u32>> = srcs.iter().map(|s| run(&bytes, 1, s).0).collect();
            assert!(
                alone.iter().any(|a| a.len() < 12),
                "some sentence ends early"
            );
            assert!(alone.iter().any(|a| a.len() != alone[0].len()));
            let store = aligned(&bytes);
            let g = Gguf::parse(&crate::plan::as_bytes(&store)[..bytes.len()]).unwrap();
            let m = Marian::from_gguf(&g, Kernels::best()).unwrap();
            let limits = Limits {
                max_src: 16,
                max_tgt: 12,
                beam: 1,
                batch: 6,
            };
            let mut ws = vec![0u8; decode::workspace_bytes(&m, &limits)];
            let opts = Options::greedy(12);
            for order in [[0, 1, 2, 3, 4], [3, 2, 4, 0, 1]] {
                let batch: Vec<&[u32]> = order.iter().map(|&i| srcs[i]).collect();
                let mut out = vec![0u32; 5 * 12];
                let mut hyps = [decode::Hypothesis { len: 0, score: 0.0 }; 5];
                decode::generate_batch(
                    &m, &mut ws, &limits, &batch, &SPECIAL, &opts, &mut out, &mut hyps,
                )
                .unwrap();
                for (j, &i) in order.iter().enumerate() {
                    let got = &out[j * 12..j * 12 + hyps[j].len];
                    assert_eq!(got, &alone[i][..], "{ty:?}: sentence {i} at batch row {j}");
                }
            }
            // More sentences than planned is an error, not a panic.
            let mut out = vec![0u32; 7 * 12];
            let mut hyps = [decode::Hypothesis { len: 0, score: 0.0 }; 7];
            let seven = [srcs[0]; 7];
            assert!(decode::generate_batch(
                &m, &mut ws, &limits, &seven, &SPECIAL, &opts, &mut out, &mut hyps
            )
            .is_err());
        }
    }

    #[test]
    fn min_len_generates_exactly_that_many_tokens() {
        let bytes = synthetic(TensorType::F32);
        for beam in [1, 3] {
            // A source whose free translation stops early, so the minimum changes something.
            let src = (1..38)
                .map(|a| [a, (a * 7) % 38 + 1, 0])
                .find(|src| run(&bytes, beam, src).0.len() < 12)
                .expect("some source ends before 12 tokens");
            let (t, _) = run_min(&bytes, beam, &src, 12);
            assert_eq!(t.len(), 12, "beam {beam}: {t:?}");
            assert!(!t.contains(&0), "EOS before min_len (beam {beam}): {t:?}");
        }
    }

    #[test]
    fn beam_scores_match_teacher_forced_rescoring() {
        // The beam's caches are reached through ancestry rows; rescoring its output one token at
        // a time in a single slot must give the same log-probabilities.
        let bytes = synthetic(TensorType::F32);
        for src in [[5u32, 9, 13, 0], [7, 7, 2, 0], [1, 2, 3, 0]] {
            let (greedy, _) = run(&bytes, 1, &src);
            assert!(!greedy.is_empty());
            for beam in [2, 4] {
                let (hyp, score) = run(&bytes, beam, &src);
                // HF 5.x: divided by the generated length, the final token included.
                let want = sequence_logprob(&bytes, &src, &hyp) / hyp.len() as f32;
                assert!(
                    (score - want).abs() < 1e-4,
                    "beam {beam}: score {score} vs rescored {want} for {hyp:?}"
                );
            }
        }
    }

    /// Sum of log-probabilities of `tgt` under teacher forcing, with the same logits processing.
    fn sequence_logprob(bytes: &[u8], src: &[u32], tgt: &[u32]) -> f32 {
        let store = aligned(bytes);
        let g = Gguf::parse(&crate::plan::as_bytes(&store)[..bytes.len()]).unwrap();
        let m = Marian::from_gguf(&g, Kernels::best()).unwrap();
        let limits = Limits {
            max_src: 16,
            max_tgt: 12,
            beam: 1,
            batch: 1,
        };
        let mut state = vec![0u8; m.state_bytes(&limits)];
        m.encode(&mut state, &limits, 0, src).unwrap();
        let mut logits = vec![0f32; 40];
        let anc = vec![0u32; 12];
        let mut prev = SPECIAL.decoder_start;
        let mut total = 0.0;
        for (pos, &t) in tgt.iter().enumerate() {
            m.step(
                &mut state,
                &limits,
                &Rows::beams(&[prev], &anc),
                pos,
                &mut logits,
            )
            .unwrap();
            let max = logits.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
            let lse = max + libm::logf(logits.iter().map(|v| libm::expf(v - max)).sum());
            crate::decode::process_logits(&mut logits, &SPECIAL, pos, &Options::greedy(12));
            total += if logits[t as usize] == 0.0 && pos + 1 == 12 {
                0.0
            } else {
                logits[t as usize] - lse
            };
            prev = t;
        }
        total
    }

    #[test]
    fn quantized_weights_stay_close_to_f32() {
        let src = [5u32, 9, 13, 21, 0];
        let logits = |ty| {
            let bytes = synthetic(ty);
            let store = aligned(&bytes);
            let g = Gguf::parse(&crate::plan::as_bytes(&store)[..bytes.len()]).unwrap();
            let m = Marian::from_gguf(&g, Kernels::best()).unwrap();
            let limits = Limits {
                max_src: 8,
                max_tgt: 4,
                beam: 1,
                batch: 1,
            };
            let mut state = vec![0u8; m.state_bytes(&limits)];
            m.encode(&mut state, &limits, 0, &src).unwrap();
            let mut out = vec![0f32; 40];
            m.step(
                &mut state,
                &limits,
                &Rows::beams(&[39], &[0; 4]),
                0,
                &mut out,
            )
            .unwrap();
            out
        };
        let base = logits(TensorType::F32);
        let scale = base.iter().fold(0f32, |a, v| a.max(v.abs()));
        for (ty, tol) in [(TensorType::F16, 2e-3), (TensorType::I8, 5e-2)] {
            let q = logits(ty);
            let err = q
                .iter()
                .zip(&base)
                .fold(0f32, |a, (x, y)| a.max((x - y).abs()))
                / scale;
            assert!(err < tol, "{ty:?}: relative error {err}");
        }
    }

    #[test]
    fn limits_and_workspace_are_checked() {
        let bytes = synthetic(TensorType::F32);
        let store = aligned(&bytes);
        let g = Gguf::parse(&crate::plan::as_bytes(&store)[..bytes.len()]).unwrap();
        let m = Marian::from_gguf(&g, Kernels::best()).unwrap();
        let limits = Limits {
            max_src: 4,
            max_tgt: 4,
            beam: 1,
            batch: 1,
        };
        let need = decode::workspace_bytes(&m, &limits);
        let mut ws = vec![0u8; need - 1];
        let mut out = [0u32; 4];
        let opts = Options::greedy(4);
        assert!(matches!(
            decode::generate(&m, &mut ws, &limits, &[1, 0], &SPECIAL, &opts, &mut out),
            Err(Error::WorkspaceTooSmall { .. })
        ));
        let mut ws = vec![0u8; need];
        assert!(matches!(
            decode::generate(
                &m,
                &mut ws,
                &limits,
                &[1, 2, 3, 4, 0],
                &SPECIAL,
                &opts,
                &mut out
            ),
            Err(Error::InputTooLong { .. })
        ));
        assert!(matches!(
            decode::generate(&m, &mut ws, &limits, &[99, 0], &SPECIAL, &opts, &mut out),
            Err(Error::BadTokenizer(_))
        ));
        let big = Options::greedy(5);
        assert!(matches!(
            decode::generate(&m, &mut ws, &limits, &[1, 0], &SPECIAL, &big, &mut out),
            Err(Error::BadLimit(_))
        ));
        // Every missing tensor is a typed error naming it.
        let mut wr = GgufWriter::new();
        for (k, v) in g.metadata() {
            if let crate::gguf::Value::Str(s) = v {
                wr.meta(k, MetaValue::Str(s.into()));
            } else if let Some(u) = v.as_u64() {
                wr.meta(k, MetaValue::U32(u as u32));
            } else if let crate::gguf::Value::Bool(b) = v {
                wr.meta(k, MetaValue::Bool(b));
            }
        }
        for t in g.tensors().filter(|t| t.name != "dec.1.cross_v.weight") {
            wr.tensor_bytes(t.name, &t.dims[..t.n_dims], t.ty, t.data);
        }
        let b2 = wr.to_bytes();
        let s2 = aligned(&b2);
        let g2 = Gguf::parse(&crate::plan::as_bytes(&s2)[..b2.len()]).unwrap();
        assert_eq!(
            Marian::from_gguf(&g2, Kernels::best()).unwrap_err(),
            Error::MissingTensor {
                name: DEC_CROSS_V,
                layer: 1
            }
        );
    }
}
