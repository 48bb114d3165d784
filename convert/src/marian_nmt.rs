//! Models trained with the Marian toolkit (Bergamot / Firefox Translations): a directory with
//! the binary model (`model*.bin`), the SentencePiece vocabulary (`vocab*.spm`, shared by source
//! and target, or `srcvocab*.spm` and `trgvocab*.spm` for the split-vocabulary models Firefox
//! uses for CJK pairs, whose encoder and decoder have embeddings of their own) and optionally
//! the binary lexical shortlist (`lex*.s2t.bin`).
//!
//! int8 (intgemm8) matrices keep their values: Marian stores them as `B^T`, one output feature
//! per row, which is tern's layout, and their single multiplier becomes every row's scale
//! (`1 / multiplier`). The `X_QuantMultA` activation multipliers become `X.act_scale` (`1 / m`).
//! Marian dequantizes every item named `*Wemb*` at load time (`binary.cpp`), so the embedding's
//! own alpha (`Wemb_QuantMultA`, itself stored as a 1x1 intgemm8 matrix) is read dequantized.
//! Nothing is dequantized and requantized.

use crate::marian_bin::{Item, MarianBin, TYPE_FLOAT32, TYPE_INTGEMM8};
use crate::quant::{write_matrix, Precision};
use anyhow::{anyhow, bail, ensure, Context, Result};
use serde_yaml_ng::Value as Yaml;
use std::path::{Path, PathBuf};
use tern_core::gguf::write::{GgufWriter, MetaValue};
use tern_core::gguf::TensorType;
use tern_core::model::names::{self, *};
use tern_core::model::spec::*;
use tern_core::model::Activation;

/// Marian's own settings, kept for reference (`tern inspect`); the spec says what they mean.
const MARIAN_KEYS: [&str; 4] = [
    "marian.transformer-preprocess",
    "marian.transformer-postprocess",
    "marian.transformer-postprocess-emb",
    "marian.transformer-postprocess-top",
];
use tern_core::tokenizer::build::{write_tokenizer_with, SpmModel, TokenizerExtras, TokenizerSpec};

/// Marian's layer-norm epsilon in `transformer.h`.
pub const LAYER_NORM_EPS: f32 = 1e-6;
/// Longest sequence planned for by default (sinusoidal positions have no limit of their own;
/// Bergamot cuts sentences at 128 tokens).
pub const MAX_POSITIONS: u32 = 1024;

/// The files of one model.
pub struct Files {
    pub model: PathBuf,
    pub vocab: Vocab,
    pub shortlist: Option<PathBuf>,
}

/// A model's SentencePiece vocabularies.
pub enum Vocab {
    /// One for both sides (`vocab*.spm`).
    Shared(PathBuf),
    /// The source's and the target's (`srcvocab*.spm`, `trgvocab*.spm`).
    Split { source: PathBuf, target: PathBuf },
}

impl Files {
    /// Finds the files in `dir`: exactly one of each kind (the shortlist is optional).
    pub fn find(dir: &Path) -> Result<Self> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        let name = |p: &PathBuf| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let one = |what: &str, pick: &dyn Fn(&str) -> bool| -> Result<Option<PathBuf>> {
            let found: Vec<&PathBuf> = entries.iter().filter(|p| pick(&name(p))).collect();
            match found.as_slice() {
                [] => Ok(None),
                [p] => Ok(Some((*p).clone())),
                many => bail!(
                    "{} has several {what} files ({}); keep one",
                    dir.display(),
                    many.iter().map(|p| name(p)).collect::<Vec<_>>().join(", ")
                ),
            }
        };
        let model = one("model", &|n| {
            n.starts_with("model") && (n.ends_with(".bin") || n.ends_with(".npz"))
        })?;
        let model =
            model.with_context(|| format!("{} has no Marian model (model*.bin)", dir.display()))?;
        let split = |n: &str| n.starts_with("srcvocab") || n.starts_with("trgvocab");
        let source = one("source vocabulary", &|n| {
            n.starts_with("srcvocab") && n.ends_with(".spm")
        })?;
        let target = one("target vocabulary", &|n| {
            n.starts_with("trgvocab") && n.ends_with(".spm")
        })?;
        let shared = one("vocabulary", &|n| n.ends_with(".spm") && !split(n))?;
        let vocab = match (shared, source, target) {
            (Some(v), None, None) => Vocab::Shared(v),
            (None, Some(source), Some(target)) => Vocab::Split { source, target },
            (None, None, None) => bail!(
                "{} has no SentencePiece vocabulary (vocab*.spm, or srcvocab*.spm and trgvocab*.spm)",
                dir.display()
            ),
            _ => bail!(
                "{} mixes vocabularies: keep one vocab*.spm, or one srcvocab*.spm and one trgvocab*.spm",
                dir.display()
            ),
        };
        let shortlist = one("shortlist", &|n| {
            n.starts_with("lex") && n.ends_with(".bin")
        })?;
        Ok(Files {
            model,
            vocab,
            shortlist,
        })
    }

    /// True if `dir` looks like a Marian-toolkit model directory.
    pub fn is_marian_dir(dir: &Path) -> bool {
        !dir.join("config.json").exists() && Files::find(dir).is_ok()
    }
}

/// The embedded `special:model.yml`, with typed access.
struct Config(Yaml);

impl Config {
    fn get(&self, k: &str) -> Option<&Yaml> {
        self.0.get(k)
    }
    fn str_or<'a>(&'a self, k: &str, default: &'a str) -> Result<&'a str> {
        match self.get(k) {
            None | Some(Yaml::Null) => Ok(default),
            Some(v) => v
                .as_str()
                .with_context(|| format!("model.yml: {k} must be a string")),
        }
    }
    fn usize(&self, k: &str) -> Result<usize> {
        self.get(k)
            .and_then(Yaml::as_u64)
            .map(|v| v as usize)
            .with_context(|| format!("model.yml has no integer {k}"))
    }
    fn bool_or(&self, k: &str, default: bool) -> Result<bool> {
        match self.get(k) {
            None | Some(Yaml::Null) => Ok(default),
            Some(v) => v
                .as_bool()
                .with_context(|| format!("model.yml: {k} must be true or false")),
        }
    }
    /// Requires `k` to have one of the values tern implements.
    fn expect(&self, k: &str, default: &str, supported: &[&str], why: &str) -> Result<()> {
        let v = self.str_or(k, default)?;
        ensure!(
            supported.contains(&v),
            "model.yml has {k}: {v:?}; tern supports {supported:?} ({why})"
        );
        Ok(())
    }
}

/// Shapes read from the config.
struct Shapes {
    /// The target vocabulary (decoder embedding, logits).
    vocab: usize,
    /// The source vocabulary (encoder embedding): `vocab` unless split.
    src_vocab: usize,
    /// Split vocabularies: `encoder_Wemb` and `decoder_Wemb` instead of one `Wemb`.
    split: bool,
    d: usize,
    enc: usize,
    dec: usize,
    ffn: usize,
    process: Process,
}

/// Marian's processing around sublayers, embeddings and stack outputs, parsed.
struct Process {
    pre: Ops,
    post: Ops,
    emb: Ops,
    top: Ops,
    /// The four strings as written (pre, post, emb, top), stored in the file.
    names: [String; 4],
}

/// Converts a Marian-toolkit model directory into GGUF bytes.
pub fn build(dir: &Path, precision: Option<Precision>, progress: &dyn Fn(&str)) -> Result<Vec<u8>> {
    let files = Files::find(dir)?;
    let bytes = std::fs::read(&files.model)
        .with_context(|| format!("reading {}", files.model.display()))?;
    let arrays;
    let bin = if files.model.extension().is_some_and(|e| e == "npz") {
        arrays = crate::marian_npz::read(&bytes).with_context(|| {
            format!("{} is not a valid Marian .npz model", files.model.display())
        })?;
        MarianBin {
            items: arrays.iter().map(|a| a.item()).collect(),
        }
    } else {
        MarianBin::parse(&bytes)
            .with_context(|| format!("{} is not a valid Marian model", files.model.display()))?
    };
    let cfg = Config(
        serde_yaml_ng::from_str(bin.config_yaml()?)
            .context("special:model.yml is not valid YAML")?,
    );
    let s = check_config(&cfg)?;
    let embedding = if s.split { "decoder_Wemb" } else { "Wemb" };
    let int8_model = bin.require(embedding)?.ty == TYPE_INTGEMM8;
    let precision = match (precision, int8_model) {
        (None | Some(Precision::Int8), true) => None,
        (Some(p), true) => bail!("this model is already int8 (intgemm8); converting it to {p:?} cannot recover precision, so tern keeps its own weights: use --int8 or no precision flag"),
        (p, false) => Some(p.unwrap_or(Precision::F32)),
    };
    let mut w = GgufWriter::new();
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    w.meta("general.name", MetaValue::Str(name));
    w.meta(
        "general.source",
        MetaValue::Str(format!("marian {}", cfg.str_or("version", "?")?)),
    );
    w.meta(
        "tern.precision",
        MetaValue::Str(precision.map_or("int8 (the model's own)".into(), |p| {
            format!("{p:?}").to_lowercase()
        })),
    );
    write_metadata(&mut w, &cfg, &s, run_settings(dir)?)?;
    progress("tokenizer");
    let read_spm = |path: &Path, size: usize| -> Result<SpmModel> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let spm = SpmModel::parse(&bytes).map_err(|e| anyhow!("{}: {e}", path.display()))?;
        ensure!(
            spm.pieces.len() == size,
            "{} has {} pieces but the model's vocabulary is {size}",
            path.display(),
            spm.pieces.len(),
        );
        Ok(spm)
    };
    let id = |spm: &SpmModel, p: &str| {
        spm.pieces
            .iter()
            .position(|x| x.text == p)
            .map(|i| i as u32)
            .with_context(|| format!("the vocabulary has no {p}"))
    };
    let (source, target) = match &files.vocab {
        Vocab::Shared(path) => {
            ensure!(!s.split, "model.yml has split embeddings (tied-embeddings-all is false) but the directory has one shared vocabulary");
            let spm = read_spm(path, s.vocab)?;
            (spm.clone(), spm)
        }
        Vocab::Split { source, target } => {
            ensure!(s.split, "the directory has split vocabularies (srcvocab, trgvocab) but model.yml ties all embeddings");
            (read_spm(source, s.src_vocab)?, read_spm(target, s.vocab)?)
        }
    };
    let (eos, unk) = (id(&target, "</s>")?, id(&target, "<unk>")?);
    let target_pieces: Vec<String> = target.pieces.iter().map(|p| p.text.clone()).collect();
    let spec = TokenizerSpec {
        source: &source,
        decode: &target,
        vocab: s.split.then_some(&target_pieces[..]),
        eos,
        unk,
        pad: None,
        hf_marian: false,
        clean_up_spaces: false,
    };
    let extras = TokenizerExtras {
        separate_source_eos: match s.split {
            true => Some(id(&source, "</s>")?),
            false => None,
        },
        ..Default::default()
    };
    write_tokenizer_with(&mut w, &spec, &extras).map_err(|e| anyhow!("tokenizer: {e}"))?;
    w.meta("generation.decoder_start_token_id", MetaValue::U32(eos));
    w.meta("generation.eos_token_id", MetaValue::U32(eos));
    // Marian never emits <unk> unless --allow-unk.
    w.meta(
        "generation.suppress_token_ids",
        MetaValue::I32Array(vec![unk as i32]),
    );
    progress("embeddings");
    let t = Tensors {
        bin: &bin,
        precision,
    };
    // The output layer is tied to the decoder's embedding, and quantizes with its alpha
    // (`fetchAlphaFromModelNodeOp`).
    let output = match s.split {
        false => {
            t.matrix(&mut w, "Wemb", TOKEN_EMBD, 0, (s.vocab, s.d), true)?;
            ("Wemb_QuantMultA", TOKEN_EMBD)
        }
        true => {
            t.matrix(
                &mut w,
                "encoder_Wemb",
                TOKEN_EMBD,
                0,
                (s.src_vocab, s.d),
                true,
            )?;
            t.matrix(
                &mut w,
                "decoder_Wemb",
                DEC_TOKEN_EMBD,
                0,
                (s.vocab, s.d),
                true,
            )?;
            ("decoder_Wemb_QuantMultA", DEC_TOKEN_EMBD)
        }
    };
    let act = bin.get(output.0).or_else(|| bin.get("none_QuantMultA"));
    if let (None, Some(a)) = (precision, act) {
        w.tensor_f32(&names::name(output.1, 0, ACT_SCALE), &[1], &[act_scale(a)?]);
    }
    if !cfg.bool_or("output-omit-bias", false)? {
        t.vector(
            &mut w,
            "decoder_ff_logit_out_b",
            OUTPUT_BIAS,
            0,
            "",
            s.vocab,
        )?;
    }
    for l in 0..s.enc {
        progress(&format!("encoder {l}"));
        let p = format!("encoder_l{}", l + 1);
        let i = l as u32;
        for (m, b, tmpl) in [
            ("self_Wq", "self_bq", ENC_ATTN_Q),
            ("self_Wk", "self_bk", ENC_ATTN_K),
            ("self_Wv", "self_bv", ENC_ATTN_V),
            ("self_Wo", "self_bo", ENC_ATTN_O),
        ] {
            t.linear(&mut w, &p, m, Some(b), tmpl, i, (s.d, s.d))?;
        }
        let wo = format!("{p}_self_Wo");
        t.wrap(
            &mut w,
            &s.process,
            &wo,
            ENC_ATTN_PRE_NORM,
            &wo,
            ENC_ATTN_NORM,
            i,
            s.d,
        )?;
        t.linear(
            &mut w,
            &p,
            "ffn_W1",
            Some("ffn_b1"),
            ENC_FFN_UP,
            i,
            (s.ffn, s.d),
        )?;
        t.linear(
            &mut w,
            &p,
            "ffn_W2",
            Some("ffn_b2"),
            ENC_FFN_DOWN,
            i,
            (s.d, s.ffn),
        )?;
        let ffn = format!("{p}_ffn_ffn");
        t.wrap(
            &mut w,
            &s.process,
            &ffn,
            ENC_FFN_PRE_NORM,
            &ffn,
            ENC_FFN_NORM,
            i,
            s.d,
        )?;
    }
    for l in 0..s.dec {
        progress(&format!("decoder {l}"));
        let p = format!("decoder_l{}", l + 1);
        let i = l as u32;
        t.linear(&mut w, &p, "rnn_W", None, DEC_RNN_W, i, (s.d, s.d))?;
        t.linear(
            &mut w,
            &p,
            "rnn_Wf",
            Some("rnn_bf"),
            DEC_RNN_WF,
            i,
            (s.d, s.d),
        )?;
        let (rnn, rnn_post) = (format!("{p}_rnn"), format!("{p}_rnn_ffn"));
        t.wrap(
            &mut w,
            &s.process,
            &rnn,
            DEC_RNN_PRE_NORM,
            &rnn_post,
            DEC_RNN_NORM,
            i,
            s.d,
        )?;
        for (m, b, tmpl) in [
            ("context_Wq", "context_bq", DEC_CROSS_Q),
            ("context_Wk", "context_bk", DEC_CROSS_K),
            ("context_Wv", "context_bv", DEC_CROSS_V),
            ("context_Wo", "context_bo", DEC_CROSS_O),
        ] {
            t.linear(&mut w, &p, m, Some(b), tmpl, i, (s.d, s.d))?;
        }
        let wo = format!("{p}_context_Wo");
        t.wrap(
            &mut w,
            &s.process,
            &wo,
            DEC_CROSS_PRE_NORM,
            &wo,
            DEC_CROSS_NORM,
            i,
            s.d,
        )?;
        t.linear(
            &mut w,
            &p,
            "ffn_W1",
            Some("ffn_b1"),
            DEC_FFN_UP,
            i,
            (s.ffn, s.d),
        )?;
        t.linear(
            &mut w,
            &p,
            "ffn_W2",
            Some("ffn_b2"),
            DEC_FFN_DOWN,
            i,
            (s.d, s.ffn),
        )?;
        let ffn = format!("{p}_ffn_ffn");
        t.wrap(
            &mut w,
            &s.process,
            &ffn,
            DEC_FFN_PRE_NORM,
            &ffn,
            DEC_FFN_NORM,
            i,
            s.d,
        )?;
    }
    if s.process.emb.has(b'n') {
        t.norm_sfx(&mut w, "encoder_emb_ln", "_pre", ENC_EMB_NORM, 0, s.d)?;
        t.norm_sfx(&mut w, "decoder_emb_ln", "_pre", DEC_EMB_NORM, 0, s.d)?;
    }
    if s.process.top.has(b'n') {
        t.norm(&mut w, "encoder_top_ln", ENC_OUT_NORM, 0, s.d)?;
        t.norm(&mut w, "decoder_top_ln", DEC_OUT_NORM, 0, s.d)?;
    }
    if let Some(path) = &files.shortlist {
        progress("shortlist");
        let lex = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        crate::shortlist::write(&mut w, &lex, s.src_vocab, s.vocab, !s.split)
            .with_context(|| format!("{} is not a valid binary shortlist", path.display()))?;
    }
    Ok(w.to_bytes())
}

/// Run settings from a Marian/Bergamot configuration (`config*.yml`) next to the model:
/// `max-length-factor` (Marian's default 3) and `max-length-break` (Bergamot's default 128).
fn run_settings(dir: &Path) -> Result<(f32, u32)> {
    let (mut factor, mut brk) = (3.0, 128);
    for entry in std::fs::read_dir(dir)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("config") && (name.ends_with(".yml") || name.ends_with(".yaml")) {
            let text =
                std::fs::read_to_string(entry.path()).with_context(|| format!("reading {name}"))?;
            let y: Yaml = serde_yaml_ng::from_str(&text)
                .with_context(|| format!("{name} is not valid YAML"))?;
            if let Some(f) = y.get("max-length-factor").and_then(Yaml::as_f64) {
                ensure!(
                    f > 0.0 && f < 100.0,
                    "{name}: max-length-factor {f} is out of range"
                );
                factor = f as f32;
            }
            if let Some(b) = y.get("max-length-break").and_then(Yaml::as_u64) {
                ensure!(
                    (2..=u64::from(MAX_POSITIONS)).contains(&b),
                    "{name}: max-length-break {b} is out of range"
                );
                brk = b as u32;
            }
        }
    }
    Ok((factor, brk))
}

fn check_config(cfg: &Config) -> Result<Shapes> {
    cfg.expect("type", "", &["transformer"], "Marian's Transformer")?;
    cfg.expect(
        "transformer-decoder-autoreg",
        "self-attention",
        &["rnn"],
        "decoders with an SSRU cell, as Bergamot's students",
    )?;
    cfg.expect("dec-cell", "gru", &["ssru"], "the SSRU decoder cell")?;
    let op = |key: &str, default: &str, allowed: &[u8]| -> Result<(Ops, String)> {
        let v = cfg.str_or(key, default)?;
        let o = Ops::parse(v, allowed).with_context(|| {
            format!(
                "model.yml: {key}: {v:?}; tern supports the operations {:?} and d",
                String::from_utf8_lossy(allowed)
            )
        })?;
        Ok((o, v.to_string()))
    };
    let process = Process {
        pre: op("transformer-preprocess", "", b"n")?.0,
        post: op("transformer-postprocess", "dan", b"an")?.0,
        emb: op("transformer-postprocess-emb", "d", b"n")?.0,
        top: op("transformer-postprocess-top", "", b"n")?.0,
        names: [
            op("transformer-preprocess", "", b"n")?.1,
            op("transformer-postprocess", "dan", b"an")?.1,
            op("transformer-postprocess-emb", "d", b"n")?.1,
            op("transformer-postprocess-top", "", b"n")?.1,
        ],
    };
    ensure!(
        !cfg.bool_or("transformer-train-position-embeddings", false)?,
        "model.yml: learned position embeddings are not supported (sinusoidal ones are)"
    );
    // Shared vocabulary: one `Wemb` for both stacks and the output. Split: the encoder's own
    // `encoder_Wemb`, and the decoder's `decoder_Wemb`, tied to the output.
    let split = !cfg.bool_or("tied-embeddings-all", false)?;
    ensure!(
        !split || cfg.bool_or("tied-embeddings", false)?,
        "model.yml: the output layer must be tied to the embeddings (tied-embeddings-all or tied-embeddings)"
    );
    ensure!(
        cfg.usize("transformer-ffn-depth").unwrap_or(2) == 2,
        "model.yml: transformer-ffn-depth must be 2"
    );
    ensure!(
        cfg.usize("transformer-decoder-ffn-depth").unwrap_or(0) == 0,
        "model.yml: a separate decoder FFN depth is not supported"
    );
    ensure!(
        cfg.usize("dec-cell-base-depth").unwrap_or(2) <= 2
            && cfg.usize("dec-cell-high-depth").unwrap_or(1) <= 1,
        "model.yml: deep decoder cells are not supported"
    );
    let act = cfg.str_or("transformer-ffn-activation", "swish")?;
    Activation::from_name(act)
        .map_err(|_| anyhow!("model.yml: unknown transformer-ffn-activation {act:?}"))?;
    let vocabs: Vec<usize> = cfg
        .get("dim-vocabs")
        .and_then(Yaml::as_sequence)
        .context("model.yml has no dim-vocabs")?
        .iter()
        .filter_map(Yaml::as_u64)
        .map(|v| v as usize)
        .collect();
    ensure!(
        vocabs.len() == 2 && (split || vocabs[0] == vocabs[1]),
        "model.yml: dim-vocabs {vocabs:?} differ, but the embeddings are tied (tied-embeddings-all)"
    );
    let s = Shapes {
        vocab: vocabs[1],
        src_vocab: vocabs[0],
        split,
        d: cfg.usize("dim-emb")?,
        enc: cfg.usize("enc-depth")?,
        dec: cfg.usize("dec-depth")?,
        ffn: cfg.usize("transformer-dim-ffn")?,
        process,
    };
    let heads = cfg.usize("transformer-heads")?;
    ensure!(
        heads > 0 && s.d.is_multiple_of(heads),
        "model.yml: dim-emb {} is not divisible by transformer-heads {heads}",
        s.d
    );
    Ok(s)
}

fn write_metadata(
    w: &mut GgufWriter,
    cfg: &Config,
    s: &Shapes,
    (max_length_factor, max_length_break): (f32, u32),
) -> Result<()> {
    let p = &s.process;
    let heads = cfg.usize("transformer-heads")?;
    let activation = cfg.str_or("transformer-ffn-activation", "swish")?;
    let stack = |layers| Stack {
        layers,
        heads,
        ffn_dim: s.ffn,
        final_norm: p.top.has(b'n'),
    };
    let spec = Spec {
        vocab_size: s.vocab,
        source_vocab_size: s.src_vocab,
        d_model: s.d,
        max_positions: MAX_POSITIONS as usize,
        encoder: stack(s.enc),
        decoder: stack(s.dec),
        decoder_cell: DecoderCell::Ssru,
        decoder_start: DecoderStart::Zeros,
        activation: Activation::from_name(activation).map_err(|_| {
            anyhow::anyhow!("model.yml: unknown transformer-ffn-activation {activation:?}")
        })?,
        ffn_gated: false,
        norm: NormKind::Layer,
        norm_eps: LAYER_NORM_EPS,
        sublayer: Sublayer {
            pre_norm: p.pre.has(b'n'),
            post: p.post,
        },
        // Marian normalizes only the attention's query.
        encoder_kv: KvInput::Raw,
        embedding_scale: (s.d as f32).sqrt(),
        embedding_norm: p.emb.has(b'n'),
        positions: Positions::SinusoidalFairseq,
        position_offset: 0,
        attention_scale: AttentionScale::InvSqrtHeadDim,
        head_dim: None,
        relative_bias: None,
        output: Output::Tied,
        output_scale: 1.0,
    };
    spec.write(w, "marian_nmt");
    for (k, v) in MARIAN_KEYS.iter().zip(&s.process.names) {
        w.meta(k, MetaValue::Str(v.clone()));
    }
    // Bergamot's run settings for these models: greedy, at most 2.5x the source length.
    w.meta("generation.num_beams", MetaValue::U32(1));
    w.meta(
        "generation.max_length_factor",
        MetaValue::F32(max_length_factor),
    );
    w.meta("tern.split_sentences", MetaValue::Bool(true));
    // Sentences longer than this many tokens (EOS included) are translated in pieces.
    w.meta("tern.max_source_tokens", MetaValue::U32(max_length_break));
    w.meta("generation.length_penalty", MetaValue::F32(1.0));
    let (layer, head) = alignment_head(cfg, s.dec)?;
    w.meta("transformer.alignment.layer", MetaValue::U32(layer));
    w.meta("transformer.alignment.head", MetaValue::U32(head));
    Ok(())
}

/// The cross-attention the Marian toolkit returns as the alignment (trained to align with
/// guided alignment; Bergamot places HTML markup with it): head 0 of the layer named by
/// `transformer-guided-alignment-layer`, 1-based, or `last` (the default). 0-based here.
fn alignment_head(cfg: &Config, dec_depth: usize) -> Result<(u32, u32)> {
    let key = "transformer-guided-alignment-layer";
    let layer = match cfg.get(key) {
        None | Some(Yaml::Null) => dec_depth,
        Some(v) => match (v.as_str(), v.as_u64()) {
            (Some("last"), _) => dec_depth,
            (Some(n), _) => n
                .parse()
                .with_context(|| format!("model.yml: {key} {n:?} is neither last nor a number"))?,
            (_, Some(n)) => n as usize,
            _ => anyhow::bail!("model.yml: {key} must be last or a layer number"),
        },
    };
    ensure!(
        (1..=dec_depth).contains(&layer),
        "model.yml: {key} {layer} is not one of the {dec_depth} decoder layers"
    );
    Ok((layer as u32 - 1, 0))
}

/// `X_QuantMultA` is the static quantization multiplier of `X`'s input (intgemm's `PrepareA`
/// quantizes `round(x * m)`; `fetchAlphaFromModelNodeOp` passes it as is): tern's scale is `1 / m`.
fn act_scale(item: &Item) -> Result<f32> {
    let m = item.scalar()?;
    ensure!(
        m.is_finite() && m > 0.0,
        "{}: activation multiplier {m} is not a positive number",
        item.name
    );
    Ok(1.0 / m)
}

struct Tensors<'b, 'a> {
    bin: &'b MarianBin<'a>,
    /// `None`: keep int8 as stored.
    precision: Option<Precision>,
}

impl Tensors<'_, '_> {
    /// Writes Marian matrix `src` as tern's `rows x cols` (rows = outputs). `vocab_rows`: the
    /// embedding, whose Marian shape already is `vocab x d`.
    fn matrix(
        &self,
        w: &mut GgufWriter,
        src: &str,
        tmpl: &str,
        i: u32,
        (rows, cols): (usize, usize),
        vocab_rows: bool,
    ) -> Result<()> {
        let item = self.bin.require(src)?;
        let want = if vocab_rows {
            [rows, cols]
        } else {
            [cols, rows]
        };
        ensure!(
            item.shape == want,
            "{src} has shape {:?}, expected {want:?}",
            item.shape
        );
        let base = names::name(tmpl, i, "");
        match (item.ty, self.precision) {
            (TYPE_INTGEMM8, None) => {
                let (q, mult) = item.intgemm8()?;
                w.tensor_bytes(
                    &format!("{base}{WEIGHT}"),
                    &[cols as u64, rows as u64],
                    TensorType::I8,
                    q,
                );
                w.tensor_f32(
                    &format!("{base}{SCALE}"),
                    &[rows as u64],
                    &vec![1.0 / mult; rows],
                );
                if !vocab_rows {
                    let a = self.bin.require(&format!("{src}_QuantMultA"))?;
                    w.tensor_f32(&format!("{base}{ACT_SCALE}"), &[1], &[act_scale(a)?]);
                }
            }
            (TYPE_FLOAT32, Some(p)) => {
                let data = item.f32s()?;
                if let Some(i) = data.iter().position(|v| !v.is_finite()) {
                    bail!("{src} has a non-finite value at element {i}");
                }
                // Marian multiplies x * W with W stored inputs x outputs: transpose to rows = outputs.
                let data = if vocab_rows {
                    data
                } else {
                    (0..rows)
                        .flat_map(|r| (0..cols).map(move |c| (r, c)))
                        .map(|(r, c)| data[c * rows + r])
                        .collect()
                };
                write_matrix(w, &base, rows, cols, &data, p);
            }
            (ty, _) => bail!("{src} has type {ty:#x}, unlike the rest of the model"),
        }
        Ok(())
    }

    fn vector(
        &self,
        w: &mut GgufWriter,
        src: &str,
        tmpl: &str,
        i: u32,
        suffix: &str,
        len: usize,
    ) -> Result<()> {
        let item = self.bin.require(src)?;
        ensure!(
            item.elements() == len,
            "{src} has shape {:?}, expected {len} values",
            item.shape
        );
        let data = item.f32s()?;
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            bail!("{src} has a non-finite value at element {i}");
        }
        w.tensor_f32(&names::name(tmpl, i, suffix), &[len as u64], &data);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn linear(
        &self,
        w: &mut GgufWriter,
        prefix: &str,
        m: &str,
        b: Option<&str>,
        tmpl: &str,
        i: u32,
        shape: (usize, usize),
    ) -> Result<()> {
        self.matrix(w, &format!("{prefix}_{m}"), tmpl, i, shape, false)?;
        if let Some(b) = b {
            self.vector(w, &format!("{prefix}_{b}"), tmpl, i, BIAS, shape.0)?;
        }
        Ok(())
    }

    fn norm(&self, w: &mut GgufWriter, prefix: &str, tmpl: &str, i: u32, d: usize) -> Result<()> {
        self.norm_sfx(w, prefix, "", tmpl, i, d)
    }

    /// Marian names a norm `<prefix>_ln_scale<suffix>` / `_ln_bias<suffix>` (`_pre` for pre-norms).
    fn norm_sfx(
        &self,
        w: &mut GgufWriter,
        prefix: &str,
        suffix: &str,
        tmpl: &str,
        i: u32,
        d: usize,
    ) -> Result<()> {
        self.vector(w, &format!("{prefix}_scale{suffix}"), tmpl, i, WEIGHT, d)?;
        self.vector(w, &format!("{prefix}_bias{suffix}"), tmpl, i, BIAS, d)
    }

    /// The norms around one sublayer, as the processing ops need them: `<pre>_ln_*_pre` before,
    /// `<post>_ln_*` after.
    #[allow(clippy::too_many_arguments)]
    fn wrap(
        &self,
        w: &mut GgufWriter,
        p: &Process,
        pre: &str,
        pre_tmpl: &str,
        post: &str,
        post_tmpl: &str,
        i: u32,
        d: usize,
    ) -> Result<()> {
        if p.pre.has(b'n') {
            self.norm_sfx(w, &format!("{pre}_ln"), "_pre", pre_tmpl, i, d)?;
        }
        if p.post.has(b'n') {
            self.norm(w, &format!("{post}_ln"), post_tmpl, i, d)?;
        }
        Ok(())
    }
}
