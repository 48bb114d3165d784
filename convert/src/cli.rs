//! The converter's command line, shared by the `convert` binary and `tern convert`.

use crate::{build_with, write_atomically, Languages, Precision};
use anyhow::{bail, Context, Result};
use std::path::PathBuf;

/// `convert`'s arguments (also `tern convert`'s).
#[derive(clap::Args)]
pub struct Args {
    /// Checkpoint directory: Hugging Face MarianMT (config.json, model.safetensors, source.spm,
    /// target.spm, vocab.json), M2M100 / NLLB / mBART-50 (config.json, model.safetensors,
    /// sentencepiece.bpe.model, vocab.json or tokenizer.json) or a Marian model (model*.bin,
    /// vocab*.spm, optional lex*.s2t.bin).
    checkpoint: PathBuf,
    /// Output file.
    #[arg(short, long)]
    output: PathBuf,
    /// Store matrices as int8 with per-row scales (an int8 Marian model keeps its own weights).
    #[arg(long, conflicts_with = "fp16")]
    int8: bool,
    /// Store matrices as f16 (default: f32, or the model's own int8).
    #[arg(long)]
    fp16: bool,
    /// Overwrite the output if it exists.
    #[arg(long)]
    force: bool,
    /// For the memory summary: most source tokens (default as `tern`: 256, within the model's positions).
    #[arg(long, value_parser = |s: &str| tern::MAX_SRC_LEN.parse(s))]
    max_src_len: Option<usize>,
    /// For the memory summary: most target tokens (default as `tern`: the model's max_length, at most 256).
    #[arg(long, alias = "max-len", value_parser = |s: &str| tern::MAX_LEN.parse(s))]
    max_tgt_len: Option<usize>,
    /// For the memory summary: beam size (default: the model's).
    #[arg(long, value_parser = |s: &str| tern::BEAM.parse(s))]
    beam: Option<usize>,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
    /// Multilingual models (NLLB, M2M100): the source language `tern` uses unless told
    /// otherwise, as the checkpoint's tokenizer spells it (eng_Latn, en).
    #[arg(long)]
    source_lang: Option<String>,
    /// Multilingual models: the default target language (por_Latn, pt).
    #[arg(long)]
    target_lang: Option<String>,
}

/// Converts, writes the file atomically and prints its report.
pub fn run(args: Args) -> Result<()> {
    if args.output.exists() && !args.force {
        bail!(
            "{} exists; pass --force to overwrite it",
            args.output.display()
        );
    }
    let precision = if args.int8 {
        Some(Precision::Int8)
    } else if args.fp16 {
        Some(Precision::F16)
    } else {
        None
    };
    let langs = Languages {
        source: args.source_lang.clone(),
        target: args.target_lang.clone(),
    };
    let bytes = build_with(&args.checkpoint, precision, args.quiet, &langs)?;
    write_atomically(&args.output, &bytes)?;
    let t = tern::Translator::open(&args.output)
        .context("reading back the written file")?
        .with_settings(tern::Settings {
            beam: args.beam,
            max_len: args.max_tgt_len,
            max_src_len: args.max_src_len,
            truncate: true,
            batch: None,
            source_lang: None,
            target_lang: None,
            intra_threads: None,
        });
    println!("wrote {}", args.output.display());
    // Settings the checkpoint asks of `generate()` that tern leaves out: said, not dropped.
    if let Some(tern::tern_core::gguf::Value::Array(a)) = t
        .engine()
        .gguf
        .get(tern::tern_core::model::keys::GENERATION_NOT_APPLIED)
    {
        for v in a.iter() {
            if let tern::tern_core::gguf::Value::Str(setting) = v {
                eprintln!(
                    "convert: warning: the checkpoint's generation config sets {setting}, which \
                     tern does not apply; its output can differ from transformers' generate()"
                );
            }
        }
    }
    print!("{}", tern::inspect::report(t.engine(), &t.plan().0));
    Ok(())
}
