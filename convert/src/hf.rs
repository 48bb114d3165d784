//! Hugging Face checkpoints: the BART-shaped families (`MarianMTModel`,
//! `M2M100ForConditionalGeneration` for M2M100 and NLLB, `MBartForConditionalGeneration` for
//! mBART-50) and T5 (`T5ForConditionalGeneration`: T5, T5 v1.1, flan-T5). Their differences
//! become a
//! [`Spec`] here, so the runtime stays generic. Maps HF tensor names onto tern's table
//! (`tern_core::model::names`), writes the spec and the `generation.*` defaults.

use crate::checkpoint::{Checkpoint, ConfigExt};
use crate::quant::{write_matrix, Precision};
use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;
use tern_core::gguf::write::{GgufWriter, MetaValue};
use tern_core::model::names::{self, *};
use tern_core::model::spec::*;
use tern_core::model::Activation;

/// Parts of a layer: (tern template, HF name inside the layer).
const ENC_LINEARS: &[(&str, &str)] = &[
    (ENC_ATTN_Q, "self_attn.q_proj"),
    (ENC_ATTN_K, "self_attn.k_proj"),
    (ENC_ATTN_V, "self_attn.v_proj"),
    (ENC_ATTN_O, "self_attn.out_proj"),
    (ENC_FFN_UP, "fc1"),
    (ENC_FFN_DOWN, "fc2"),
];
/// Layer norms: (post-norm template, pre-norm template, HF name inside the layer).
const ENC_NORMS: &[(&str, &str, &str)] = &[
    (ENC_ATTN_NORM, ENC_ATTN_PRE_NORM, "self_attn_layer_norm"),
    (ENC_FFN_NORM, ENC_FFN_PRE_NORM, "final_layer_norm"),
];
const DEC_LINEARS: &[(&str, &str)] = &[
    (DEC_ATTN_Q, "self_attn.q_proj"),
    (DEC_ATTN_K, "self_attn.k_proj"),
    (DEC_ATTN_V, "self_attn.v_proj"),
    (DEC_ATTN_O, "self_attn.out_proj"),
    (DEC_CROSS_Q, "encoder_attn.q_proj"),
    (DEC_CROSS_K, "encoder_attn.k_proj"),
    (DEC_CROSS_V, "encoder_attn.v_proj"),
    (DEC_CROSS_O, "encoder_attn.out_proj"),
    (DEC_FFN_UP, "fc1"),
    (DEC_FFN_DOWN, "fc2"),
];
const DEC_NORMS: &[(&str, &str, &str)] = &[
    (DEC_ATTN_NORM, DEC_ATTN_PRE_NORM, "self_attn_layer_norm"),
    (
        DEC_CROSS_NORM,
        DEC_CROSS_PRE_NORM,
        "encoder_attn_layer_norm",
    ),
    (DEC_FFN_NORM, DEC_FFN_PRE_NORM, "final_layer_norm"),
];
/// Norms outside the layers: (template, HF name), used where the spec has them.
const STACK_NORMS: &[(&str, &str)] = &[
    (ENC_OUT_NORM, "model.encoder.layer_norm"),
    (DEC_OUT_NORM, "model.decoder.layer_norm"),
    (ENC_EMB_NORM, "model.encoder.layernorm_embedding"),
    (DEC_EMB_NORM, "model.decoder.layernorm_embedding"),
];

/// T5's layers: `{encoder,decoder}.block.{i}.layer.{k}`, sublayer k in execution order.
const T5_ENC_LINEARS: &[(&str, &str)] = &[
    (ENC_ATTN_Q, "layer.0.SelfAttention.q"),
    (ENC_ATTN_K, "layer.0.SelfAttention.k"),
    (ENC_ATTN_V, "layer.0.SelfAttention.v"),
    (ENC_ATTN_O, "layer.0.SelfAttention.o"),
];
const T5_DEC_LINEARS: &[(&str, &str)] = &[
    (DEC_ATTN_Q, "layer.0.SelfAttention.q"),
    (DEC_ATTN_K, "layer.0.SelfAttention.k"),
    (DEC_ATTN_V, "layer.0.SelfAttention.v"),
    (DEC_ATTN_O, "layer.0.SelfAttention.o"),
    (DEC_CROSS_Q, "layer.1.EncDecAttention.q"),
    (DEC_CROSS_K, "layer.1.EncDecAttention.k"),
    (DEC_CROSS_V, "layer.1.EncDecAttention.v"),
    (DEC_CROSS_O, "layer.1.EncDecAttention.o"),
];
/// T5's FFN (`DenseReluDense`, the last sublayer): `wi`/`wo`, or gated `wi_0` (through the
/// activation) times `wi_1`.
const T5_FFN: [&str; 2] = ["DenseReluDense.wi", "DenseReluDense.wo"];
const T5_GATED_FFN: [&str; 3] = [
    "DenseReluDense.wi_1",
    "DenseReluDense.wi_0",
    "DenseReluDense.wo",
];
/// T5's norms: every sublayer's input is normed (RMS, weight only).
const T5_ENC_NORMS: &[(&str, &str, &str)] = &[
    (ENC_ATTN_NORM, ENC_ATTN_PRE_NORM, "layer.0.layer_norm"),
    (ENC_FFN_NORM, ENC_FFN_PRE_NORM, "layer.1.layer_norm"),
];
const T5_DEC_NORMS: &[(&str, &str, &str)] = &[
    (DEC_ATTN_NORM, DEC_ATTN_PRE_NORM, "layer.0.layer_norm"),
    (DEC_CROSS_NORM, DEC_CROSS_PRE_NORM, "layer.1.layer_norm"),
    (DEC_FFN_NORM, DEC_FFN_PRE_NORM, "layer.2.layer_norm"),
];
const T5_STACK_NORMS: &[(&str, &str)] = &[
    (ENC_OUT_NORM, "encoder.final_layer_norm"),
    (DEC_OUT_NORM, "decoder.final_layer_norm"),
];
/// T5's relative position bias: in each stack's first block only, shared by the others.
const T5_REL_BIAS: &[(&str, &str)] = &[
    (
        ENC_REL_BIAS,
        "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
    ),
    (
        DEC_REL_BIAS,
        "decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
    ),
];

/// mBART's learned position tables start at row 2 (fairseq's offset, kept by transformers).
const MBART_POSITION_OFFSET: usize = 2;

/// The learned position tables: (tern name, HF name).
const POSITION_TABLES: &[(&str, &str)] = &[
    (ENC_POS_EMBD, "model.encoder.embed_positions.weight"),
    (DEC_POS_EMBD, "model.decoder.embed_positions.weight"),
];

/// Where the encoder's token embedding is, best first, after the family's prefix (`model.` but
/// for T5). save_pretrained keeps one name of a tied group; when nothing is tied
/// (`tie_word_embeddings: false` in transformers 5) the encoder and decoder have their own
/// embeddings besides `shared`, and the encoder reads its own.
const EMBED_NAMES: &[&str] = &[
    "encoder.embed_tokens.weight",
    "shared.weight",
    "decoder.embed_tokens.weight",
];

/// The families this converter reads, by `model_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// MarianMT (OPUS-MT): post-norm, HF's sinusoids, `final_logits_bias`.
    Marian,
    /// M2M100 and NLLB-200: pre-norm with final norms, fairseq sinusoids offset by the padding
    /// index, language tokens.
    M2m100,
    /// mBART (mBART-50): pre-norm with final norms, a norm after the embeddings, learned
    /// positions offset by 2, language tokens laid out as NLLB's.
    Mbart,
    /// BART and DistilBART: post-norm without final norms, a norm after the embeddings,
    /// learned positions offset by 2, GELU, tied output with `final_logits_bias`.
    Bart,
    /// T5, T5 v1.1 and flan-T5: pre-norm RMS norms, no biases, no attention scaling, relative
    /// position bias, heads `d_kv` wide; v1.0 ties the output and rescales it by
    /// `d_model^-0.5`, v1.1 has a gated-GELU FFN and an output of its own.
    T5,
}

impl Family {
    /// What the tensor names start with (`model.encoder...`; T5: `encoder...`).
    fn prefix(self) -> &'static str {
        match self {
            Family::T5 => "",
            _ => "model.",
        }
    }
}

/// Shapes from config.json, and the spec they describe.
pub struct Shapes {
    pub family: Family,
    pub vocab: usize,
    pub d: usize,
    pub enc_layers: usize,
    pub dec_layers: usize,
    pub enc_ffn: usize,
    pub dec_ffn: usize,
    pub spec: Spec,
}

/// One unit of conversion work (for the progress bar).
pub enum Job {
    Embeddings,
    Layer { decoder: bool, index: usize },
}

pub fn shapes(cfg: &Value) -> Result<Shapes> {
    let model_type = cfg.str_or("model_type", "")?;
    let family = match model_type {
        "marian" => Family::Marian,
        "m2m_100" => Family::M2m100,
        "mbart" => Family::Mbart,
        "bart" => Family::Bart,
        "t5" => return t5_shapes(cfg),
        _ => bail!("config.json says model_type {model_type:?}; this converter reads MarianMT (\"marian\"), M2M100 / NLLB (\"m2m_100\"), mBART (\"mbart\"), BART (\"bart\") and T5 (\"t5\") checkpoints"),
    };
    let d = cfg.usize_key("d_model")?;
    let act = cfg.str_or("activation_function", "swish")?;
    let activation = Activation::from_name(act).map_err(|_| {
        anyhow::anyhow!(
            "unknown activation_function {act:?} (tern knows relu, gelu, gelu_new, swish/silu)"
        )
    })?;
    let stack = |layers: &str, heads: &str, ffn: &str, final_norm| -> Result<Stack> {
        Ok(Stack {
            layers: cfg.usize_key(layers)?,
            heads: cfg.usize_key(heads)?,
            ffn_dim: cfg.usize_key(ffn)?,
            final_norm,
        })
    };
    let pre_norm = !matches!(family, Family::Marian | Family::Bart);
    let encoder = stack(
        "encoder_layers",
        "encoder_attention_heads",
        "encoder_ffn_dim",
        pre_norm,
    )?;
    let decoder = stack(
        "decoder_layers",
        "decoder_attention_heads",
        "decoder_ffn_dim",
        pre_norm,
    )?;
    // transformers' defaults: M2M100Config scales, MBartConfig does not.
    let scale_embedding = cfg.bool_or("scale_embedding", family == Family::M2m100)?;
    let spec = match family {
        Family::Marian => {
            ensure!(
                !cfg.bool_or("normalize_before", false)?,
                "normalize_before=true (pre-norm) Marian checkpoints are not supported yet"
            );
            ensure!(
                cfg.bool_or("static_position_embeddings", true)?,
                "learned position embeddings are not supported yet"
            );
            Spec {
                sublayer: Sublayer::POST_NORM,
                positions: Positions::SinusoidalHf,
                position_offset: 0,
                ..base_spec(cfg, d, encoder, decoder, activation, scale_embedding)?
            }
        }
        Family::M2m100 => Spec {
            sublayer: Sublayer::PRE_NORM,
            positions: Positions::SinusoidalFairseq,
            // fairseq numbers positions after the padding index: the first token is at pad + 1.
            position_offset: cfg.usize_key("pad_token_id")? + 1,
            ..base_spec(cfg, d, encoder, decoder, activation, scale_embedding)?
        },
        // MBartLearnedPositionalEmbedding (BART's is the same): rows max_position_embeddings
        // + 2, row = pos + 2. mBART normalizes before each sublayer, BART after.
        Family::Mbart | Family::Bart => Spec {
            sublayer: match family {
                Family::Mbart => Sublayer::PRE_NORM,
                _ => Sublayer::POST_NORM,
            },
            embedding_norm: true,
            positions: Positions::Learned,
            position_offset: MBART_POSITION_OFFSET,
            ..base_spec(cfg, d, encoder, decoder, activation, scale_embedding)?
        },
        Family::T5 => bail!("T5's config is read by t5_shapes"),
    };
    Ok(Shapes {
        family,
        vocab: spec.vocab_size,
        d,
        enc_layers: spec.encoder.layers,
        dec_layers: spec.decoder.layers,
        enc_ffn: spec.encoder.ffn_dim,
        dec_ffn: spec.decoder.ffn_dim,
        spec,
    })
}

/// T5's config (`T5Config`): `num_layers`, `num_heads`, `d_kv`, `d_ff`, `feed_forward_proj`...
fn t5_shapes(cfg: &Value) -> Result<Shapes> {
    let d = cfg.usize_key("d_model")?;
    let layers = cfg.usize_key("num_layers")?;
    let heads = cfg.usize_key("num_heads")?;
    let ffn_dim = cfg.usize_key("d_ff")?;
    // T5Config: "relu", "gated-gelu" (gelu_new, for compatibility) or "[gated-]<activation>".
    let proj = cfg.str_or("feed_forward_proj", "relu")?;
    let (gated, act) = match proj.split_once('-') {
        Some(("gated", "gelu")) => (true, "gelu_new"),
        Some(("gated", act)) => (true, act),
        None => (false, proj),
        Some(_) => {
            bail!("feed_forward_proj {proj:?} is neither <activation> nor gated-<activation>")
        }
    };
    let activation = Activation::from_name(act).map_err(|_| {
        anyhow::anyhow!("unknown activation {act:?} in feed_forward_proj (tern knows relu, gelu, gelu_new, silu)")
    })?;
    let stack = |layers| Stack {
        layers,
        heads,
        ffn_dim,
        final_norm: true,
    };
    // T5Config: v1.0 (tie_word_embeddings absent or true) rescales the decoder output by
    // d_model^-0.5 before the output layer; v1.1 (false) does not. transformers 5 stores the
    // decision as scale_decoder_outputs.
    let scale_outputs = match cfg.get("scale_decoder_outputs") {
        Some(Value::Bool(b)) => *b,
        _ => cfg.bool_or("tie_word_embeddings", true)?,
    };
    let vocab_size = cfg.usize_key("vocab_size")?;
    let spec = Spec {
        vocab_size,
        source_vocab_size: vocab_size,
        d_model: d,
        // T5 has no position limit; its tokenizer's model_max_length (n_positions) is the plan's.
        max_positions: cfg.usize_or("n_positions", 512)?,
        encoder: stack(layers),
        decoder: stack(cfg.usize_or("num_decoder_layers", layers)?),
        decoder_cell: DecoderCell::SelfAttention,
        decoder_start: DecoderStart::Token,
        activation,
        ffn_gated: gated,
        norm: NormKind::Rms,
        norm_eps: cfg.f64_or("layer_norm_epsilon", 1e-6)? as f32,
        sublayer: Sublayer::PRE_NORM,
        encoder_kv: KvInput::Normed,
        embedding_scale: 1.0,
        embedding_norm: false,
        positions: Positions::None,
        position_offset: 0,
        attention_scale: AttentionScale::One,
        head_dim: Some(cfg.usize_key("d_kv")?),
        relative_bias: Some(RelativeBias {
            buckets: cfg.usize_or("relative_attention_num_buckets", 32)?,
            max_distance: cfg.usize_or("relative_attention_max_distance", 128)?,
        }),
        output: Output::Tied,
        output_scale: if scale_outputs {
            (1.0 / (d as f64).sqrt()) as f32
        } else {
            1.0
        },
    };
    Ok(Shapes {
        family: Family::T5,
        vocab: vocab_size,
        d,
        enc_layers: spec.encoder.layers,
        dec_layers: spec.decoder.layers,
        enc_ffn: ffn_dim,
        dec_ffn: ffn_dim,
        spec,
    })
}

/// What every family here shares; the caller sets the sublayer order and the positions.
fn base_spec(
    cfg: &Value,
    d: usize,
    encoder: Stack,
    decoder: Stack,
    activation: Activation,
    scale_embedding: bool,
) -> Result<Spec> {
    Ok(Spec {
        vocab_size: cfg.usize_key("vocab_size")?,
        source_vocab_size: cfg.usize_key("vocab_size")?,
        d_model: d,
        max_positions: cfg.usize_key("max_position_embeddings")?,
        encoder,
        decoder,
        decoder_cell: DecoderCell::SelfAttention,
        decoder_start: DecoderStart::Token,
        activation,
        ffn_gated: false,
        norm: NormKind::Layer,
        // torch.nn.LayerNorm's default, which these models use.
        norm_eps: 1e-5,
        sublayer: Sublayer::POST_NORM,
        encoder_kv: KvInput::Normed,
        embedding_scale: if scale_embedding {
            (d as f32).sqrt()
        } else {
            1.0
        },
        embedding_norm: false,
        positions: Positions::None,
        position_offset: 0,
        attention_scale: AttentionScale::InvSqrtHeadDim,
        head_dim: None,
        relative_bias: None,
        // Set by `embeddings` once it has seen whether lm_head differs (see `output`).
        output: Output::Tied,
        output_scale: 1.0,
    })
}

/// Writes hyperparameters and generation defaults.
pub fn write_metadata(w: &mut GgufWriter, ck: &Checkpoint, s: &Shapes) -> Result<()> {
    let cfg = &ck.config;
    let mut spec = s.spec;
    spec.output = output(ck, s)?;
    let family = match s.family {
        Family::Marian => "marian",
        Family::M2m100 if cfg.str_or("tokenizer_class", "")?.starts_with("Nllb") => "nllb",
        Family::M2m100 => "m2m100",
        Family::Mbart => "mbart",
        Family::Bart => "bart",
        Family::T5 => "t5",
    };
    spec.write(w, family);

    // Generation defaults: generation_config.json wins over config.json, as in transformers.
    let get = |k: &str| {
        ck.generation
            .get(k)
            .filter(|v| !v.is_null())
            .or_else(|| cfg.get(k))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let gen_u32 = |k: &str, default: Option<usize>| -> Result<MetaValue> {
        match get(k) {
            Value::Null => default
                .map(|d| MetaValue::U32(d as u32))
                .with_context(|| format!("config has no {k}")),
            v => v
                .as_u64()
                .and_then(|v| u32::try_from(v).ok())
                .map(MetaValue::U32)
                .with_context(|| format!("{k} = {v} is not a count tern can use")),
        }
    };
    // Token ids must name a token: the engine refuses a file whose ids lie outside the
    // vocabulary, so convert refuses the checkpoint, saying which.
    let vocab = cfg.usize_key("vocab_size")?;
    let token = |k: &str, v: usize| -> Result<u32> {
        if v >= vocab {
            bail!("{k} = {v} is not a token id: the vocabulary has {vocab} tokens");
        }
        Ok(v as u32)
    };
    let pad = token("pad_token_id", cfg.usize_key("pad_token_id")?)?;
    let eos = token("eos_token_id", cfg.usize_key("eos_token_id")?)?;
    let start = match get("decoder_start_token_id") {
        Value::Null => pad,
        v => token(
            "decoder_start_token_id",
            v.as_u64().map_or(usize::MAX, |v| v as usize),
        )?,
    };
    w.meta("generation.decoder_start_token_id", MetaValue::U32(start));
    w.meta("generation.eos_token_id", MetaValue::U32(eos));
    w.meta("generation.pad_token_id", MetaValue::U32(pad));
    w.meta("generation.num_beams", gen_u32("num_beams", Some(1))?);
    w.meta("generation.max_length", gen_u32("max_length", Some(512))?);
    w.meta(
        "generation.length_penalty",
        MetaValue::F32(get("length_penalty").as_f64().unwrap_or(1.0) as f32),
    );
    w.meta(
        "generation.early_stopping",
        MetaValue::Bool(get("early_stopping").as_bool().unwrap_or(false)),
    );
    w.meta(
        "generation.forced_eos",
        MetaValue::Bool(get("forced_eos_token_id").as_u64() == Some(u64::from(eos))),
    );
    // A fixed first token (mBART-style checkpoints); NLLB and M2M100 take the target language
    // per request instead.
    if let Some(id) = get("forced_bos_token_id").as_u64() {
        w.meta(
            tern_core::model::keys::FORCED_FIRST,
            MetaValue::U32(token("forced_bos_token_id", id as usize)?),
        );
    }
    // Applied by the search (tern_core::decode): written when they do something.
    for (key, file_key) in [
        ("min_length", tern_core::model::keys::MIN_LENGTH),
        (
            "no_repeat_ngram_size",
            tern_core::model::keys::NO_REPEAT_NGRAM,
        ),
    ] {
        match gen_u32(key, Some(0))? {
            MetaValue::U32(0) => {}
            v => w.meta(file_key, v),
        }
    }
    let not_applied = not_applied(&get);
    if !not_applied.is_empty() {
        w.meta(
            tern_core::model::keys::GENERATION_NOT_APPLIED,
            MetaValue::StrArray(not_applied),
        );
    }
    let mut suppress = Vec::new();
    if let Some(lists) = get("bad_words_ids").as_array() {
        for l in lists {
            match l.as_array().map(|a| a.as_slice()) {
                Some([id]) if id.as_u64().is_some() => suppress.push(token(
                    "bad_words_ids",
                    id.as_u64().map_or(usize::MAX, |v| v as usize),
                )? as i32),
                _ => bail!("bad_words_ids entry {l} is a multi-token sequence; tern suppresses single tokens only"),
            }
        }
    }
    if suppress.len() > 1 {
        bail!(
            "bad_words_ids lists {} tokens; tern suppresses one (HF Marian lists only the pad token)",
            suppress.len()
        );
    }
    w.meta(
        "generation.suppress_token_ids",
        MetaValue::I32Array(suppress),
    );
    Ok(())
}

/// The work list, in file order.
pub fn jobs(s: &Shapes) -> Vec<Job> {
    let mut v = vec![Job::Embeddings];
    v.extend((0..s.enc_layers).map(|index| Job::Layer {
        decoder: false,
        index,
    }));
    v.extend((0..s.dec_layers).map(|index| Job::Layer {
        decoder: true,
        index,
    }));
    v
}

/// Converts one job's tensors.
pub fn convert(
    w: &mut GgufWriter,
    ck: &Checkpoint,
    s: &Shapes,
    job: &Job,
    p: Precision,
) -> Result<()> {
    match *job {
        Job::Embeddings => embeddings(w, ck, s, p),
        Job::Layer { decoder, index } => {
            let (prefix, linears, norms) = layer_names(s, decoder);
            for (tmpl, hf) in &linears {
                let base = names::name(tmpl, index as u32, "");
                let wt = ck.f32(&format!("{prefix}.{index}.{hf}.weight"))?;
                ensure!(
                    wt.shape.len() == 2,
                    "{prefix}.{index}.{hf}.weight is not a matrix"
                );
                let (rows, cols) = (wt.shape[0], wt.shape[1]);
                let (exp_rows, exp_cols) = expected(s, tmpl, decoder);
                ensure!((rows, cols) == (exp_rows, exp_cols), "{prefix}.{index}.{hf}.weight has shape {:?}, expected [{exp_rows}, {exp_cols}]", wt.shape);
                write_matrix(w, &base, rows, cols, &wt.data, p);
                let bias_name = format!("{prefix}.{index}.{hf}.bias");
                if ck.has(&bias_name) {
                    let b = ck.f32(&bias_name)?;
                    ensure!(
                        b.data.len() == rows,
                        "{bias_name} has {} values, expected {rows}",
                        b.data.len()
                    );
                    w.tensor_f32(&format!("{base}{BIAS}"), &[rows as u64], &b.data);
                }
            }
            for (post, pre, hf) in norms {
                let tmpl = if s.spec.sublayer.pre_norm { pre } else { post };
                for part in norm_parts(s) {
                    let t = ck.f32(&format!("{prefix}.{index}.{hf}.{part}"))?;
                    ensure!(
                        t.data.len() == s.d,
                        "{prefix}.{index}.{hf}.{part} has {} values, expected {}",
                        t.data.len(),
                        s.d
                    );
                    w.tensor_f32(
                        &names::name(tmpl, index as u32, &format!(".{part}")),
                        &[s.d as u64],
                        &t.data,
                    );
                }
            }
            Ok(())
        }
    }
}

/// A layer's tensors: where its stack's layers are, its linear layers (tern template, HF name
/// inside the layer) and its norms (post-norm template, pre-norm template, HF name).
fn layer_names(s: &Shapes, decoder: bool) -> (&'static str, Vec<(&'static str, String)>, Norms) {
    let owned = |v: &[(&'static str, &str)]| -> Vec<(&'static str, String)> {
        v.iter().map(|&(t, hf)| (t, hf.to_string())).collect()
    };
    if s.family != Family::T5 {
        return match decoder {
            true => ("model.decoder.layers", owned(DEC_LINEARS), DEC_NORMS),
            false => ("model.encoder.layers", owned(ENC_LINEARS), ENC_NORMS),
        };
    }
    let (prefix, attn, norms, ffn_layer, [up, gate, down]) = match decoder {
        true => (
            "decoder.block",
            T5_DEC_LINEARS,
            T5_DEC_NORMS,
            "layer.2",
            [DEC_FFN_UP, DEC_FFN_GATE, DEC_FFN_DOWN],
        ),
        false => (
            "encoder.block",
            T5_ENC_LINEARS,
            T5_ENC_NORMS,
            "layer.1",
            [ENC_FFN_UP, ENC_FFN_GATE, ENC_FFN_DOWN],
        ),
    };
    let ffn: &[(&'static str, &str)] = match s.spec.ffn_gated {
        true => &[
            (up, T5_GATED_FFN[0]),
            (gate, T5_GATED_FFN[1]),
            (down, T5_GATED_FFN[2]),
        ],
        false => &[(up, T5_FFN[0]), (down, T5_FFN[1])],
    };
    let mut linears = owned(attn);
    linears.extend(ffn.iter().map(|&(t, hf)| (t, format!("{ffn_layer}.{hf}"))));
    (prefix, linears, norms)
}

/// Norms of a layer: (post-norm template, pre-norm template, HF name inside the layer).
type Norms = &'static [(&'static str, &'static str, &'static str)];

/// The parameters of a norm: RMS norms (T5) have a weight only.
fn norm_parts(s: &Shapes) -> &'static [&'static str] {
    match s.spec.norm {
        NormKind::Rms => &["weight"],
        NormKind::Layer => &["weight", "bias"],
    }
}

/// Expected (rows, cols) of a linear layer.
fn expected(s: &Shapes, tmpl: &str, decoder: bool) -> (usize, usize) {
    let ffn = if decoder { s.dec_ffn } else { s.enc_ffn };
    let stack = if decoder {
        &s.spec.decoder
    } else {
        &s.spec.encoder
    };
    let attn = s.spec.attention_width(stack);
    if [ENC_FFN_UP, DEC_FFN_UP, ENC_FFN_GATE, DEC_FFN_GATE].contains(&tmpl) {
        (ffn, s.d)
    } else if tmpl == ENC_FFN_DOWN || tmpl == DEC_FFN_DOWN {
        (s.d, ffn)
    } else if [ENC_ATTN_O, DEC_ATTN_O, DEC_CROSS_O].contains(&tmpl) {
        (s.d, attn)
    } else {
        (attn, s.d)
    }
}

/// Whether the output projection is its own matrix: `lm_head.weight` differing from the decoder's
/// embedding (save_pretrained drops it when tied).
fn output(ck: &Checkpoint, s: &Shapes) -> Result<Output> {
    if !ck.has("lm_head.weight") {
        ensure!(
            ck.config.bool_or("tie_word_embeddings", true)?,
            "tie_word_embeddings is false but the checkpoint has no lm_head.weight"
        );
        return Ok(Output::Tied);
    }
    let head = ck.f32("lm_head.weight")?;
    let p = s.family.prefix();
    let dec = [
        &format!("{p}decoder.embed_tokens.weight"),
        &format!("{p}shared.weight"),
    ]
    .into_iter()
    .find(|n| ck.has(n))
    .cloned()
    .or_else(|| embed_name(ck, s))
    .context("checkpoint has no token embedding (shared.weight)")?;
    Ok(if ck.f32(&dec)?.data == head.data {
        Output::Tied
    } else {
        Output::Untied
    })
}

/// The encoder's token embedding's name (see [`EMBED_NAMES`]); `lm_head.weight` when only it
/// is left of a tied group.
fn embed_name(ck: &Checkpoint, s: &Shapes) -> Option<String> {
    EMBED_NAMES
        .iter()
        .map(|n| format!("{}{n}", s.family.prefix()))
        .chain(["lm_head.weight".to_string()])
        .find(|n| ck.has(n))
}

fn embeddings(w: &mut GgufWriter, ck: &Checkpoint, s: &Shapes, p: Precision) -> Result<()> {
    let name = embed_name(ck, s).context("checkpoint has no token embedding (shared.weight)")?;
    let embed = ck.f32(&name)?;
    ensure!(
        embed.shape == [s.vocab, s.d],
        "{name} has shape {:?}, expected [{}, {}]",
        embed.shape,
        s.vocab,
        s.d
    );
    write_matrix(w, TOKEN_EMBD, s.vocab, s.d, &embed.data, p);
    // A decoder embedding or output projection that differs from the shared one is kept apart.
    let mut dec = embed.data.clone();
    let dec_name = format!("{}decoder.embed_tokens.weight", s.family.prefix());
    if ck.has(&dec_name) {
        let t = ck.f32(&dec_name)?;
        ensure!(
            t.shape == [s.vocab, s.d],
            "{dec_name} has shape {:?}",
            t.shape
        );
        if t.data != embed.data {
            write_matrix(w, DEC_TOKEN_EMBD, s.vocab, s.d, &t.data, p);
            dec = t.data;
        }
    }
    if ck.has("lm_head.weight") {
        let t = ck.f32("lm_head.weight")?;
        ensure!(
            t.shape == [s.vocab, s.d],
            "lm_head.weight has shape {:?}",
            t.shape
        );
        if t.data != dec {
            write_matrix(w, OUTPUT, s.vocab, s.d, &t.data, p);
        }
    }
    let stack_norms = match s.family {
        Family::T5 => T5_STACK_NORMS,
        _ => STACK_NORMS,
    };
    for (tmpl, hf) in stack_norms {
        let wanted = match *tmpl {
            ENC_OUT_NORM => s.spec.encoder.final_norm,
            DEC_OUT_NORM => s.spec.decoder.final_norm,
            _ => s.spec.embedding_norm,
        };
        if !wanted {
            ensure!(
                !ck.has(&format!("{hf}.weight")),
                "{hf} is in the checkpoint but the {:?} architecture has no such norm",
                s.family
            );
            continue;
        }
        for part in norm_parts(s) {
            let t = ck.f32(&format!("{hf}.{part}"))?;
            ensure!(
                t.data.len() == s.d,
                "{hf}.{part} has {} values, expected {}",
                t.data.len(),
                s.d
            );
            w.tensor_f32(
                &names::name(tmpl, 0, &format!(".{part}")),
                &[s.d as u64],
                &t.data,
            );
        }
    }
    if s.spec.positions == Positions::Learned {
        let rows = s.spec.max_positions + s.spec.position_offset;
        for (tmpl, hf) in POSITION_TABLES {
            let t = ck.f32(hf)?;
            ensure!(
                t.shape == [rows, s.d],
                "{hf} has shape {:?}, expected [{rows}, {}] (max_position_embeddings + {})",
                t.shape,
                s.d,
                s.spec.position_offset
            );
            write_matrix(w, tmpl, rows, s.d, &t.data, p);
        }
    }
    if let Some(rel) = s.spec.relative_bias {
        for ((tmpl, hf), stack) in T5_REL_BIAS.iter().zip([&s.spec.encoder, &s.spec.decoder]) {
            let t = ck.f32(hf)?;
            ensure!(
                t.shape == [rel.buckets, stack.heads],
                "{hf} has shape {:?}, expected [{}, {}] (buckets, heads)",
                t.shape,
                rel.buckets,
                stack.heads
            );
            w.tensor_f32(
                &names::name(tmpl, 0, WEIGHT),
                &[stack.heads as u64, rel.buckets as u64],
                &t.data,
            );
        }
    }
    if ck.has("final_logits_bias") {
        let b = ck.f32("final_logits_bias")?;
        ensure!(
            b.data.len() == s.vocab,
            "final_logits_bias has {} values, expected {}",
            b.data.len(),
            s.vocab
        );
        w.tensor_f32(OUTPUT_BIAS, &[s.vocab as u64], &b.data);
    }
    Ok(())
}

/// Generation settings that change what transformers' `generate()` outputs and that tern does
/// not apply, each with the value transformers takes when it is absent (at that value it
/// changes nothing). Sampling's own settings (temperature, top-k, top-p) only act with
/// `do_sample`, so that one stands for them.
const NOT_APPLIED: [(&str, Value); 15] = [
    ("encoder_no_repeat_ngram_size", Value::Null),
    ("min_new_tokens", Value::Null),
    ("max_new_tokens", Value::Null),
    ("repetition_penalty", Value::Null),
    ("encoder_repetition_penalty", Value::Null),
    ("do_sample", Value::Bool(false)),
    ("num_beam_groups", Value::Null),
    ("diversity_penalty", Value::Null),
    ("num_return_sequences", Value::Null),
    ("forced_decoder_ids", Value::Null),
    ("suppress_tokens", Value::Null),
    ("begin_suppress_tokens", Value::Null),
    ("exponential_decay_length_penalty", Value::Null),
    ("sequence_bias", Value::Null),
    ("force_words_ids", Value::Null),
];

/// `key = value` for each of [`NOT_APPLIED`] the checkpoint sets to something that matters.
fn not_applied(get: &dyn Fn(&str) -> Value) -> Vec<String> {
    NOT_APPLIED
        .iter()
        .filter_map(|(key, absent)| {
            let v = get(key);
            let neutral = match (*key, &v) {
                (_, Value::Null) => true,
                _ if v == *absent => true,
                // Counts and penalties whose value is a no-op.
                ("encoder_no_repeat_ngram_size", v) => v.as_f64() == Some(0.0),
                ("min_new_tokens", v) => v.as_f64() == Some(0.0),
                ("repetition_penalty" | "encoder_repetition_penalty", v) => v.as_f64() == Some(1.0),
                ("num_beam_groups" | "num_return_sequences", v) => v.as_f64() == Some(1.0),
                ("diversity_penalty", v) => v.as_f64() == Some(0.0),
                (_, Value::Array(a)) => a.is_empty(),
                _ => false,
            };
            (!neutral).then(|| format!("{key} = {v}"))
        })
        .collect()
}

#[cfg(test)]
mod not_applied_tests {
    use super::*;

    #[test]
    fn only_settings_that_change_the_output_are_listed() {
        let cfg = serde_json::json!({
            "encoder_no_repeat_ngram_size": 3,
            "min_new_tokens": 0,
            "repetition_penalty": 1.0,
            "do_sample": false,
            "num_beam_groups": 2,
            "suppress_tokens": [],
            "forced_decoder_ids": [[1, 5]],
            "max_new_tokens": 20,
        });
        let get = |k: &str| cfg.get(k).cloned().unwrap_or(Value::Null);
        assert_eq!(
            not_applied(&get),
            [
                "encoder_no_repeat_ngram_size = 3",
                "max_new_tokens = 20",
                "num_beam_groups = 2",
                "forced_decoder_ids = [[1,5]]",
            ]
        );
        let none = serde_json::json!({});
        assert!(not_applied(&|k: &str| none.get(k).cloned().unwrap_or(Value::Null)).is_empty());
    }
}
