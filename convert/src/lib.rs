//! The converter as a library: checkpoint directory in, tern GGUF bytes out. The `convert`
//! binary wraps it; tests call it directly.

pub mod checkpoint;
pub mod cli;
pub mod hf;
pub mod marian_bin;
pub mod marian_nmt;
pub mod marian_npz;
pub mod quant;
pub mod shortlist;
pub mod tokenizer;

use anyhow::{Context, Result};
use checkpoint::ConfigExt;
use indicatif::{ProgressBar, ProgressStyle};
pub use quant::Precision;
use std::io::Write;
use std::path::Path;
use tern_core::gguf::write::{GgufWriter, MetaValue};

/// Converts a checkpoint directory into GGUF bytes: a Hugging Face MarianMT checkpoint
/// (`config.json`), or a Marian-toolkit model directory (`model*.bin`, `vocab*.spm`, `lex*.bin`).
/// `precision` `None` is the default: f32 for float checkpoints, the model's own int8 for
/// int8 ones.
pub fn build(dir: &Path, precision: Option<Precision>, quiet: bool) -> Result<Vec<u8>> {
    build_with(dir, precision, quiet, &Languages::default())
}

/// Default language codes a multilingual model's file stores (`convert --source-lang ...`),
/// as the checkpoint's tokenizer spells them.
#[derive(Debug, Clone, Default)]
pub struct Languages {
    pub source: Option<String>,
    pub target: Option<String>,
}

/// [`build`], storing default languages for multilingual checkpoints.
pub fn build_with(
    dir: &Path,
    precision: Option<Precision>,
    quiet: bool,
    langs: &Languages,
) -> Result<Vec<u8>> {
    let bytes = build_unchecked(dir, precision, quiet, langs)?;
    loads(&bytes)?;
    Ok(bytes)
}

/// Whatever convert writes, the engine must load: hyperparameters the checkpoint's config
/// allows but the engine does not (heads that do not divide d_model, say) are refused here,
/// with the engine's own typed error, instead of producing a file that fails on the device.
fn loads(bytes: &[u8]) -> Result<()> {
    tern::Translator::from_bytes(bytes)
        .map(|_| ())
        .map_err(|e| anyhow::anyhow!("the checkpoint converts to a model tern cannot run: {e}"))
}

fn build_unchecked(
    dir: &Path,
    precision: Option<Precision>,
    quiet: bool,
    langs: &Languages,
) -> Result<Vec<u8>> {
    if marian_nmt::Files::is_marian_dir(dir) {
        anyhow::ensure!(
            langs.source.is_none() && langs.target.is_none(),
            "this model has one language pair: --source-lang and --target-lang are for multilingual models"
        );
        let bar = if quiet {
            ProgressBar::hidden()
        } else {
            ProgressBar::new_spinner()
        };
        let bytes = marian_nmt::build(dir, precision, &|m: &str| {
            bar.set_message(m.to_string());
            bar.tick();
        })?;
        bar.finish_and_clear();
        return Ok(bytes);
    }
    let precision = precision.unwrap_or(Precision::F32);
    let ck = checkpoint::Checkpoint::open(dir)?;
    let shapes = hf::shapes(&ck.config)?;
    let mut w = GgufWriter::new();
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    w.meta("general.name", MetaValue::Str(name));
    w.meta(
        "general.source",
        MetaValue::Str(format!(
            "huggingface-{}",
            ck.config.str_or("model_type", "")?
        )),
    );
    w.meta(
        "tern.precision",
        MetaValue::Str(format!("{precision:?}").to_lowercase()),
    );
    hf::write_metadata(&mut w, &ck, &shapes)?;
    let jobs = hf::jobs(&shapes);
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(jobs.len() as u64 + 1)
    };
    bar.set_style(
        ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message("tokenizer");
    match shapes.family {
        hf::Family::Marian => {
            anyhow::ensure!(
                langs.source.is_none() && langs.target.is_none(),
                "MarianMT models have one language pair: --source-lang and --target-lang are for multilingual models"
            );
            tokenizer::write(&mut w, &ck, shapes.vocab)?
        }
        hf::Family::Bart => {
            anyhow::ensure!(
                langs.source.is_none() && langs.target.is_none(),
                "BART models have no language codes: --source-lang and --target-lang are for multilingual models"
            );
            tokenizer::write_bart(&mut w, dir, shapes.vocab)?
        }
        hf::Family::T5 => {
            anyhow::ensure!(
                langs.source.is_none() && langs.target.is_none(),
                "T5 models are told the task in the text (\"translate English to German: ...\"): --source-lang and --target-lang are for multilingual models"
            );
            tokenizer::write_t5(&mut w, dir, shapes.vocab)?
        }
        hf::Family::M2m100 | hf::Family::Mbart => {
            let codes = tokenizer::write_m2m100(&mut w, dir, shapes.vocab)?;
            let keys = [
                (tern_core::model::keys::SOURCE_LANG, &langs.source),
                (tern_core::model::keys::TARGET_LANG, &langs.target),
            ];
            for (key, code) in keys {
                let Some(code) = code else { continue };
                if !codes.iter().any(|(c, _)| c == code) {
                    let known: Vec<&str> = codes.iter().map(|(c, _)| c.as_str()).collect();
                    anyhow::bail!(
                        "unknown language {code:?}; the checkpoint's codes are: {}",
                        known.join(", ")
                    );
                }
                w.meta(key, MetaValue::Str(code.clone()));
            }
        }
    }
    bar.inc(1);
    for job in &jobs {
        bar.set_message(match job {
            hf::Job::Embeddings => "embeddings".to_string(),
            hf::Job::Layer { decoder, index } => {
                format!("{} {index}", if *decoder { "decoder" } else { "encoder" })
            }
        });
        hf::convert(&mut w, &ck, &shapes, job, precision)?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(w.to_bytes())
}

/// Writes to a temporary file next to `path`, syncs it, then renames it over `path`: a crash
/// leaves either the old file or the new one, never half of one.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    let result = (|| -> Result<()> {
        let mut f =
            std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
