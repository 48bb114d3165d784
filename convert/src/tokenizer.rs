//! Embeds the checkpoint's tokenizer: source.spm, target.spm and vocab.json (HF Marian layout).

use crate::checkpoint::Checkpoint;
use anyhow::{anyhow, bail, Context, Result};
use tern_core::gguf::write::GgufWriter;
use tern_core::tokenizer::build::{write_tokenizer, SpmModel};

pub fn write(w: &mut GgufWriter, ck: &Checkpoint, vocab_size: usize) -> Result<()> {
    let read = |name: &str| std::fs::read(ck.dir.join(name)).with_context(|| format!("reading {}", ck.dir.join(name).display()));
    let src = SpmModel::parse(&read("source.spm")?).map_err(|e| anyhow!("source.spm: {e}"))?;
    let tgt = SpmModel::parse(&read("target.spm")?).map_err(|e| anyhow!("target.spm: {e}"))?;
    let vocab_json: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&read("vocab.json")?).context("vocab.json is not a JSON object")?;
    let mut vocab = vec![None; vocab_json.len()];
    for (piece, id) in &vocab_json {
        let id = id.as_u64().with_context(|| format!("vocab.json: id of {piece:?} is not an integer"))? as usize;
        let slot = vocab.get_mut(id).with_context(|| format!("vocab.json: id {id} of {piece:?} is beyond the vocabulary"))?;
        if slot.is_some() {
            bail!("vocab.json: id {id} is used twice");
        }
        *slot = Some(piece.clone());
    }
    let vocab: Vec<String> = vocab.into_iter().enumerate().map(|(i, p)| p.ok_or_else(|| anyhow!("vocab.json: no piece has id {i}"))).collect::<Result<_>>()?;
    if vocab.len() != vocab_size {
        bail!("vocab.json has {} pieces but config.json says vocab_size {vocab_size}", vocab.len());
    }
    let id_of = |p: &str| vocab.iter().position(|v| v == p).map(|i| i as u32);
    let cfg = &ck.config;
    let num = |k: &str| cfg.get(k).and_then(|v| v.as_u64()).map(|v| v as u32);
    let eos = num("eos_token_id").or_else(|| id_of("</s>")).context("no eos_token_id")?;
    let pad = num("pad_token_id").or_else(|| id_of("<pad>"));
    let unk = id_of("<unk>").context("vocab.json has no <unk>")?;
    write_tokenizer(w, &src, &tgt, Some(&vocab), eos, unk, pad).map_err(|e| anyhow!("tokenizer: {e}"))
}
