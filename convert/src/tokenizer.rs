//! Embeds the checkpoint's tokenizer: source.spm, target.spm and vocab.json (HF Marian layout).

use crate::checkpoint::Checkpoint;
use anyhow::{anyhow, bail, Context, Result};
use tern_core::gguf::write::GgufWriter;
use tern_core::tokenizer::build::{write_tokenizer, SpmModel, TokenizerSpec};

pub fn write(w: &mut GgufWriter, ck: &Checkpoint, vocab_size: usize) -> Result<()> {
    let read = |name: &str| {
        std::fs::read(ck.dir.join(name))
            .with_context(|| format!("reading {}", ck.dir.join(name).display()))
    };
    let src = SpmModel::parse(&read("source.spm")?).map_err(|e| anyhow!("source.spm: {e}"))?;
    // HF reads target.spm but decodes with source.spm unless the vocabularies are separate; it
    // must still be a well-formed model.
    SpmModel::parse(&read("target.spm")?).map_err(|e| anyhow!("target.spm: {e}"))?;
    let vocab_json: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&read("vocab.json")?).context("vocab.json is not a JSON object")?;
    let mut vocab = vec![None; vocab_json.len()];
    for (piece, id) in &vocab_json {
        let id = id
            .as_u64()
            .with_context(|| format!("vocab.json: id of {piece:?} is not an integer"))?
            as usize;
        let slot = vocab.get_mut(id).with_context(|| {
            format!("vocab.json: id {id} of {piece:?} is beyond the vocabulary")
        })?;
        if slot.is_some() {
            bail!("vocab.json: id {id} is used twice");
        }
        *slot = Some(piece.clone());
    }
    let vocab: Vec<String> = vocab
        .into_iter()
        .enumerate()
        .map(|(i, p)| p.ok_or_else(|| anyhow!("vocab.json: no piece has id {i}")))
        .collect::<Result<_>>()?;
    if vocab.len() != vocab_size {
        bail!(
            "vocab.json has {} pieces but config.json says vocab_size {vocab_size}",
            vocab.len()
        );
    }
    let id_of = |p: &str| vocab.iter().position(|v| v == p).map(|i| i as u32);
    let cfg = &ck.config;
    let num = |k: &str| cfg.get(k).and_then(|v| v.as_u64()).map(|v| v as u32);
    let eos = num("eos_token_id")
        .or_else(|| id_of("</s>"))
        .context("no eos_token_id")?;
    let pad = num("pad_token_id").or_else(|| id_of("<pad>"));
    let unk = id_of("<unk>").context("vocab.json has no <unk>")?;
    // tokenizer_config.json: separate vocabularies change which model decodes (HF MarianTokenizer
    // decodes with the source model unless `separate_vocabs`), and may ask for HF's space clean-up.
    let tok_cfg: serde_json::Value = match std::fs::read(ck.dir.join("tokenizer_config.json")) {
        Ok(b) => serde_json::from_slice(&b).context("tokenizer_config.json is not JSON")?,
        Err(_) => serde_json::Value::Null,
    };
    if tok_cfg.get("separate_vocabs").and_then(|v| v.as_bool()) == Some(true) {
        bail!("tokenizer_config.json sets separate_vocabs (a second target vocabulary): not supported yet");
    }
    let clean_up_spaces = tok_cfg
        .get("clean_up_tokenization_spaces")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let spec = TokenizerSpec {
        source: &src,
        decode: &src,
        vocab: Some(&vocab),
        eos,
        unk,
        pad,
        hf_marian: true,
        clean_up_spaces,
    };
    write_tokenizer(w, &spec).map_err(|e| anyhow!("tokenizer: {e}"))
}
