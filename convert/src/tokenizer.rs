//! Embeds the checkpoint's tokenizer: source.spm, target.spm and vocab.json (HF Marian layout),
//! or the M2M100 / NLLB layouts ([`write_m2m100`]).

use crate::checkpoint::Checkpoint;
use anyhow::{anyhow, bail, Context, Result};
use std::path::Path;
use tern_core::gguf::write::GgufWriter;
use tern_core::tokenizer::build::{
    write_byte_level, write_tokenizer, write_tokenizer_with, ByteLevelSpec, SpmModel,
    TokenizerExtras, TokenizerSpec,
};

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

/// A model's language codes: what the user types (`en`, `eng_Latn`) and the model id of its
/// language token (`__en__`, `eng_Latn`).
pub type LanguageCodes = Vec<(String, u32)>;

// transformers' FAIRSEQ_LANGUAGE_CODES (m2m_100 and nllb tokenizers): the order fixes the ids.
/// `FAIRSEQ_LANGUAGE_CODES["m2m100"]`.
const M2M100_CODES: &[&str] = &[
    "af", "am", "ar", "ast", "az", "ba", "be", "bg", "bn", "br", "bs", "ca", "ceb", "cs", "cy",
    "da", "de", "el", "en", "es", "et", "fa", "ff", "fi", "fr", "fy", "ga", "gd", "gl", "gu", "ha",
    "he", "hi", "hr", "ht", "hu", "hy", "id", "ig", "ilo", "is", "it", "ja", "jv", "ka", "kk",
    "km", "kn", "ko", "lb", "lg", "ln", "lo", "lt", "lv", "mg", "mk", "ml", "mn", "mr", "ms", "my",
    "ne", "nl", "no", "ns", "oc", "or", "pa", "pl", "ps", "pt", "ro", "ru", "sd", "si", "sk", "sl",
    "so", "sq", "sr", "ss", "su", "sv", "sw", "ta", "th", "tl", "tn", "tr", "uk", "ur", "uz", "vi",
    "wo", "xh", "yi", "yo", "zh", "zu",
];
/// `FAIRSEQ_LANGUAGE_CODES["wmt21"]`.
const WMT21_CODES: &[&str] = &["en", "ha", "is", "ja", "cs", "ru", "zh", "de"];
/// NLLB's `FAIRSEQ_LANGUAGE_CODES`.
const NLLB_CODES: &[&str] = &[
    "ace_Arab", "ace_Latn", "acm_Arab", "acq_Arab", "aeb_Arab", "afr_Latn", "ajp_Arab", "aka_Latn",
    "amh_Ethi", "apc_Arab", "arb_Arab", "ars_Arab", "ary_Arab", "arz_Arab", "asm_Beng", "ast_Latn",
    "awa_Deva", "ayr_Latn", "azb_Arab", "azj_Latn", "bak_Cyrl", "bam_Latn", "ban_Latn", "bel_Cyrl",
    "bem_Latn", "ben_Beng", "bho_Deva", "bjn_Arab", "bjn_Latn", "bod_Tibt", "bos_Latn", "bug_Latn",
    "bul_Cyrl", "cat_Latn", "ceb_Latn", "ces_Latn", "cjk_Latn", "ckb_Arab", "crh_Latn", "cym_Latn",
    "dan_Latn", "deu_Latn", "dik_Latn", "dyu_Latn", "dzo_Tibt", "ell_Grek", "eng_Latn", "epo_Latn",
    "est_Latn", "eus_Latn", "ewe_Latn", "fao_Latn", "pes_Arab", "fij_Latn", "fin_Latn", "fon_Latn",
    "fra_Latn", "fur_Latn", "fuv_Latn", "gla_Latn", "gle_Latn", "glg_Latn", "grn_Latn", "guj_Gujr",
    "hat_Latn", "hau_Latn", "heb_Hebr", "hin_Deva", "hne_Deva", "hrv_Latn", "hun_Latn", "hye_Armn",
    "ibo_Latn", "ilo_Latn", "ind_Latn", "isl_Latn", "ita_Latn", "jav_Latn", "jpn_Jpan", "kab_Latn",
    "kac_Latn", "kam_Latn", "kan_Knda", "kas_Arab", "kas_Deva", "kat_Geor", "knc_Arab", "knc_Latn",
    "kaz_Cyrl", "kbp_Latn", "kea_Latn", "khm_Khmr", "kik_Latn", "kin_Latn", "kir_Cyrl", "kmb_Latn",
    "kon_Latn", "kor_Hang", "kmr_Latn", "lao_Laoo", "lvs_Latn", "lij_Latn", "lim_Latn", "lin_Latn",
    "lit_Latn", "lmo_Latn", "ltg_Latn", "ltz_Latn", "lua_Latn", "lug_Latn", "luo_Latn", "lus_Latn",
    "mag_Deva", "mai_Deva", "mal_Mlym", "mar_Deva", "min_Latn", "mkd_Cyrl", "plt_Latn", "mlt_Latn",
    "mni_Beng", "khk_Cyrl", "mos_Latn", "mri_Latn", "zsm_Latn", "mya_Mymr", "nld_Latn", "nno_Latn",
    "nob_Latn", "npi_Deva", "nso_Latn", "nus_Latn", "nya_Latn", "oci_Latn", "gaz_Latn", "ory_Orya",
    "pag_Latn", "pan_Guru", "pap_Latn", "pol_Latn", "por_Latn", "prs_Arab", "pbt_Arab", "quy_Latn",
    "ron_Latn", "run_Latn", "rus_Cyrl", "sag_Latn", "san_Deva", "sat_Beng", "scn_Latn", "shn_Mymr",
    "sin_Sinh", "slk_Latn", "slv_Latn", "smo_Latn", "sna_Latn", "snd_Arab", "som_Latn", "sot_Latn",
    "spa_Latn", "als_Latn", "srd_Latn", "srp_Cyrl", "ssw_Latn", "sun_Latn", "swe_Latn", "swh_Latn",
    "szl_Latn", "tam_Taml", "tat_Cyrl", "tel_Telu", "tgk_Cyrl", "tgl_Latn", "tha_Thai", "tir_Ethi",
    "taq_Latn", "taq_Tfng", "tpi_Latn", "tsn_Latn", "tso_Latn", "tuk_Latn", "tum_Latn", "tur_Latn",
    "twi_Latn", "tzm_Tfng", "uig_Arab", "ukr_Cyrl", "umb_Latn", "urd_Arab", "uzn_Latn", "vec_Latn",
    "vie_Latn", "war_Latn", "wol_Latn", "xho_Latn", "ydd_Hebr", "yor_Latn", "yue_Hant", "zho_Hans",
    "zho_Hant", "zul_Latn",
];

fn read_json(dir: &Path, name: &str) -> Result<Option<serde_json::Value>> {
    match std::fs::read(dir.join(name)) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .with_context(|| format!("{name} is not JSON")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", dir.join(name).display())),
    }
}

/// Model ids `0..n` from `(text, id)` pairs; every id used exactly once.
fn vocab_by_id(
    entries: impl IntoIterator<Item = (String, u64)>,
    what: &str,
) -> Result<Vec<String>> {
    let mut slots: Vec<Option<String>> = Vec::new();
    for (piece, id) in entries {
        let id = usize::try_from(id).context("id out of range")?;
        if id >= slots.len() {
            slots.resize(id + 1, None);
        }
        if slots[id].replace(piece.clone()).is_some() {
            bail!("{what}: id {id} is used twice");
        }
    }
    slots
        .into_iter()
        .enumerate()
        .map(|(i, p)| p.ok_or_else(|| anyhow!("{what}: no piece has id {i}")))
        .collect()
}

/// Writes the tokenizer of a Hugging Face `M2M100ForConditionalGeneration` checkpoint in `dir`:
/// an M2M100Tokenizer (`vocab.json` + `sentencepiece.bpe.model`) or an NllbTokenizer
/// (`sentencepiece.bpe.model`, with `tokenizer.json` when HF saved one). `vocab_size` is
/// `config.json`'s: ids beyond the tokenizer (fairseq's `madeupword`s) become padding that never
/// encodes or decodes. Returns the language codes, which are also stored as `tokenizer.lang.*`.
///
/// Source ids are `[language id] + pieces + [</s>]`: pass the source language's id as the prefix
/// of `Tokenizer::encode_with_prefix`.
pub fn write_m2m100(w: &mut GgufWriter, dir: &Path, vocab_size: usize) -> Result<LanguageCodes> {
    write_hf_spm(w, dir, vocab_size, false)
}

/// Writes the tokenizer of a `T5ForConditionalGeneration` checkpoint (T5Tokenizer:
/// `spiece.model`, with `tokenizer.json` when HF saved one): sentencepiece's ids as they are
/// (`<pad>` 0, `</s>` 1, `<unk>` 2), then the sentinels `<extra_id_N>` counting down from the
/// end (`<extra_id_0>` is the last); ids beyond the tokenizer (t5-small's config has 32128 for
/// 32100) are padding. Source ids are pieces + `</s>`; decoding skips the special tokens as
/// HF's `skip_special_tokens` does.
pub fn write_t5(w: &mut GgufWriter, dir: &Path, vocab_size: usize) -> Result<()> {
    write_hf_spm(w, dir, vocab_size, true).map(|_| ())
}

/// Writes the tokenizer of a `BartForConditionalGeneration` checkpoint: BartTokenizer's
/// byte-level BPE, from `tokenizer.json` when HF saved one (what transformers loads), else
/// `vocab.json` + `merges.txt` (the hub's older repos). Source ids are `<s>` + pieces + `</s>`;
/// decoding skips the special tokens (`<s>`, `</s>`, `<unk>`, `<pad>`, `<mask>` and
/// `tokenizer.json`'s special added tokens) as `skip_special_tokens` does. Ids beyond the
/// tokenizer are padding.
pub fn write_bart(w: &mut GgufWriter, dir: &Path, vocab_size: usize) -> Result<()> {
    let cfg = read_json(dir, "tokenizer_config.json")?.unwrap_or(serde_json::Value::Null);
    if cfg.get("add_prefix_space").and_then(|v| v.as_bool()) == Some(true) {
        bail!("tokenizer_config.json sets add_prefix_space: tern's byte-level tokenizer reads text as BART's does, without it");
    }
    // Skipped when decoding besides <s>, </s>, <unk> and <pad> (special ids of their own).
    let mut skip_texts = vec!["<mask>".to_string()];
    let (entries, merges, added) = match read_json(dir, "tokenizer.json")? {
        Some(tj) => {
            let (entries, merges, specials, added) = byte_level_json(&tj)?;
            skip_texts.extend(specials);
            (entries, merges, added)
        }
        None => {
            // BartTokenizer's special tokens are matched in the text, taking the whitespace
            // around them where special_tokens_map.json says so (the hub's `<mask>`: lstrip).
            let map = read_json(dir, "special_tokens_map.json")?.unwrap_or(serde_json::Value::Null);
            let added = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
                .into_iter()
                .map(|t| {
                    let entry = map
                        .as_object()
                        .and_then(|m| m.values().find(|v| v["content"].as_str() == Some(t)));
                    (t.to_string(), entry.map_or(0, strip_flags))
                })
                .collect();
            let vocab = read_json(dir, "vocab.json")?.context(
                "no tokenizer.json and no vocab.json: BART's tokenizer is vocab.json + merges.txt",
            )?;
            let path = dir.join("merges.txt");
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let merges = text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.starts_with("#version") && !l.is_empty())
                .map(|(i, l)| merge_pair(l).with_context(|| format!("merges.txt line {}", i + 1)))
                .collect::<Result<_>>()?;
            (json_vocab(&vocab, "vocab.json")?, merges, added)
        }
    };
    let mut vocab = vocab_by_id(entries, "the tokenizer's vocabulary")?;
    let padding = pad_vocab(&mut vocab, vocab_size)?;
    let id_of = |p: &str| vocab.iter().position(|v| v == p).map(|i| i as u32);
    let spec = ByteLevelSpec {
        vocab: &vocab,
        merges: &merges,
        bos: Some(id_of("<s>").context("the vocabulary has no <s>")?),
        eos: id_of("</s>").context("the vocabulary has no </s>")?,
        unk: id_of("<unk>").context("the vocabulary has no <unk>")?,
        pad: id_of("<pad>"),
        skip: &skip_texts
            .iter()
            .filter_map(|t| id_of(t))
            .collect::<Vec<_>>(),
        padding: &padding,
        added: &{
            let mut a: Vec<(u32, u8)> = added
                .iter()
                .filter_map(|(t, f)| Some((id_of(t)?, *f)))
                .collect();
            a.sort();
            a
        },
        clean_up_spaces: hf_clean_up(&cfg, true),
    };
    write_byte_level(w, &spec).map_err(|e| anyhow!("tokenizer: {e}"))
}

/// Extends the tokenizer's `vocab` to the model's `vocab_size` ids with padding pieces
/// (fairseq's dictionaries end in madeupword0000...; HF does not know these ids at all) and
/// returns their ids.
fn pad_vocab(vocab: &mut Vec<String>, vocab_size: usize) -> Result<Vec<u32>> {
    let n = vocab.len();
    if vocab_size < n {
        bail!("the tokenizer has {n} ids but config.json says vocab_size {vocab_size}");
    }
    vocab.extend((0..vocab_size - n).map(|k| format!("madeupword{k:04}")));
    Ok((n..vocab_size).map(|i| i as u32).collect())
}

/// Whether transformers 5 applies `clean_up_tokenization_spaces` when decoding: as
/// tokenizer_config.json says (default off), except for tokenizers whose backend model is a BPE
/// (BART's, NLLB's), where it skips the clean-up unless
/// `clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output` is also set.
fn hf_clean_up(cfg: &serde_json::Value, bpe_backend: bool) -> bool {
    let flag = |k: &str| cfg.get(k).and_then(|v| v.as_bool()).unwrap_or(false);
    flag("clean_up_tokenization_spaces")
        && (!bpe_backend
            || flag("clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output"))
}

/// What a byte-level `tokenizer.json` gives: the vocabulary with the added tokens, the merges,
/// the special added tokens' texts, and every added token's text with its strip flags.
type ByteLevelJson = (
    Vec<(String, u64)>,
    Vec<(String, String)>,
    Vec<String>,
    Vec<(String, u8)>,
);

/// `tokenizer.json` of a byte-level BPE. Anything tern would not run as HF does is refused.
fn byte_level_json(tj: &serde_json::Value) -> Result<ByteLevelJson> {
    let model = &tj["model"];
    let is = |v: &serde_json::Value, ty: &str| v["type"].as_str() == Some(ty);
    let empty = |v: &serde_json::Value| v.is_null() || v.as_str() == Some("");
    if !is(model, "BPE")
        || !empty(&model["continuing_subword_prefix"])
        || !empty(&model["end_of_word_suffix"])
        || !model["dropout"].is_null()
    {
        bail!(
            "tokenizer.json: the model is not a plain BPE (tern reads GPT-2-style byte-level BPE)"
        );
    }
    let pre = &tj["pre_tokenizer"];
    if !tj["normalizer"].is_null()
        || !is(pre, "ByteLevel")
        || pre["add_prefix_space"].as_bool() != Some(false)
        || pre["use_regex"].as_bool() == Some(false)
        || !is(&tj["decoder"], "ByteLevel")
    {
        bail!("tokenizer.json: not BART's byte-level setup (no normalizer, ByteLevel pre-tokenizer without add_prefix_space, ByteLevel decoder)");
    }
    let mut entries = json_vocab(&model["vocab"], "tokenizer.json")?;
    let mut added = Vec::new();
    for t in tj["added_tokens"]
        .as_array()
        .map_or(&[][..], |a| a.as_slice())
    {
        let flag = |k: &str| t[k].as_bool().unwrap_or(false);
        if flag("single_word") {
            bail!(
                "tokenizer.json: added token {} is single_word, which tern does not match",
                t["content"]
            );
        }
        added.push((
            t["content"].as_str().unwrap_or_default().to_string(),
            strip_flags(t),
        ));
    }
    let specials = add_tokens(tj, &mut entries)?
        .into_iter()
        .filter(|t| t.2)
        .map(|t| t.0)
        .collect();
    let merges = model["merges"]
        .as_array()
        .context("tokenizer.json: model.merges is not a list")?
        .iter()
        .map(|m| match m {
            serde_json::Value::String(l) => merge_pair(l),
            serde_json::Value::Array(p) => match p.as_slice() {
                [serde_json::Value::String(a), serde_json::Value::String(b)] => {
                    Ok((a.clone(), b.clone()))
                }
                _ => bail!("tokenizer.json: merge {m} is not a pair of strings"),
            },
            _ => bail!("tokenizer.json: merge {m} is not a pair"),
        })
        .collect::<Result<_>>()?;
    Ok((entries, merges, specials, added))
}

/// An added token's `lstrip` / `rstrip` as the tokenizer's flags.
fn strip_flags(t: &serde_json::Value) -> u8 {
    let flag = |k: &str| t[k].as_bool().unwrap_or(false);
    (if flag("lstrip") {
        tern_core::tokenizer::LSTRIP
    } else {
        0
    }) | (if flag("rstrip") {
        tern_core::tokenizer::RSTRIP
    } else {
        0
    })
}

/// A `{piece: id}` object as (piece, id) pairs.
fn json_vocab(v: &serde_json::Value, what: &str) -> Result<Vec<(String, u64)>> {
    v.as_object()
        .with_context(|| format!("{what}: the vocabulary is not a JSON object"))?
        .iter()
        .map(|(p, id)| {
            id.as_u64()
                .map(|id| (p.clone(), id))
                .with_context(|| format!("{what}: id of {p:?} is not an integer"))
        })
        .collect()
}

/// One merge written `left right`.
fn merge_pair(line: &str) -> Result<(String, String)> {
    match line.split(' ').collect::<Vec<_>>().as_slice() {
        [a, b] => Ok((a.to_string(), b.to_string())),
        _ => bail!("merge {line:?} is not two pieces separated by one space"),
    }
}

/// [`write_m2m100`] and [`write_t5`]: a sentencepiece model and the ids HF's tokenizer adds.
fn write_hf_spm(
    w: &mut GgufWriter,
    dir: &Path,
    vocab_size: usize,
    t5: bool,
) -> Result<LanguageCodes> {
    let spm_name = if t5 {
        "spiece.model"
    } else {
        "sentencepiece.bpe.model"
    };
    let spm_path = dir.join(spm_name);
    let spm_bytes =
        std::fs::read(&spm_path).with_context(|| format!("reading {}", spm_path.display()))?;
    let spm = SpmModel::parse(&spm_bytes).map_err(|e| anyhow!("{spm_name}: {e}"))?;
    let cfg = read_json(dir, "tokenizer_config.json")?.unwrap_or(serde_json::Value::Null);
    // NllbTokenizer is the one of these that transformers 5 runs as a `tokenizers` BPE.
    let nllb = !t5 && !dir.join("vocab.json").exists();
    let clean_up_spaces = hf_clean_up(&cfg, nllb);
    let (mut vocab, languages, skip_texts, strip): (Vec<String>, LanguageCodes, Vec<String>, bool) =
        if t5 {
            t5_vocab(dir, &cfg, &spm)?
        } else if nllb {
            nllb_vocab(dir, &spm)?
        } else {
            m2m100_vocab(dir, &cfg)?
        };
    let padding = pad_vocab(&mut vocab, vocab_size)?;
    let id_of = |p: &str| vocab.iter().position(|v| v == p).map(|i| i as u32);
    let eos = id_of("</s>").context("the vocabulary has no </s>")?;
    let unk = id_of("<unk>").context("the vocabulary has no <unk>")?;
    let pad = id_of("<pad>");
    let mut skip: Vec<u32> = skip_texts.iter().filter_map(|t| id_of(t)).collect();
    skip.extend(languages.iter().map(|&(_, id)| id));
    // M2M100Tokenizer decodes with sentencepiece then strips; NLLB's Metaspace decoder turns `▁`
    // into spaces and drops one leading space of the first token only, which is sentencepiece's
    // decoding without remove_extra_whitespaces (that drops the `▁` of every leading piece).
    let mut dec = spm.clone();
    if !strip {
        dec.normalizer.add_dummy_prefix = true;
        dec.normalizer.remove_extra_whitespaces = false;
    }
    let spec = TokenizerSpec {
        source: &spm,
        decode: &dec,
        vocab: Some(&vocab),
        eos,
        unk,
        pad,
        hf_marian: false,
        clean_up_spaces,
    };
    let extras = TokenizerExtras {
        hf_decode: true,
        strip,
        skip: &skip,
        padding: &padding,
        languages: &languages,
        separate_source_eos: None,
    };
    write_tokenizer_with(w, &spec, &extras).map_err(|e| anyhow!("tokenizer: {e}"))?;
    Ok(languages)
}

/// T5Tokenizer: sentencepiece's pieces, then `extra_ids` sentinels (`tokenizer.json`'s added
/// tokens when there is one, checked against sentencepiece's ids). Decoding skips `<unk>` and the
/// sentinels besides `</s>` and `<pad>` (HF's special tokens); no `str.strip()` (v5: the
/// Metaspace decoder).
fn t5_vocab(
    dir: &Path,
    cfg: &serde_json::Value,
    spm: &SpmModel,
) -> Result<(Vec<String>, LanguageCodes, Vec<String>, bool)> {
    let mut entries: Vec<(String, u64)> = spm
        .pieces
        .iter()
        .enumerate()
        .map(|(i, p)| (p.text.clone(), i as u64))
        .collect();
    let n = entries.len() as u64;
    let mut skip = vec!["<unk>".to_string()];
    match read_json(dir, "tokenizer.json")? {
        Some(tj) => {
            for (text, id, special) in add_tokens(&tj, &mut entries)? {
                if id >= n && special {
                    skip.push(text);
                }
            }
        }
        None => {
            let extra = cfg.get("extra_ids").and_then(|v| v.as_u64()).unwrap_or(100);
            for k in 0..extra {
                let text = format!("<extra_id_{k}>");
                entries.push((text.clone(), n + extra - 1 - k));
                skip.push(text);
            }
        }
    }
    Ok((
        vocab_by_id(entries, "tokenizer.json")?,
        Vec::new(),
        skip,
        false,
    ))
}

/// M2M100Tokenizer: `vocab.json` (a fairseq dictionary), then `__xx__` language tokens at
/// `len(vocab.json) + i` in FAIRSEQ_LANGUAGE_CODES order; HF's decode ends in `str.strip()`.
fn m2m100_vocab(
    dir: &Path,
    cfg: &serde_json::Value,
) -> Result<(Vec<String>, LanguageCodes, Vec<String>, bool)> {
    let json = read_json(dir, "vocab.json")?.context("no vocab.json")?;
    let map = json
        .as_object()
        .context("vocab.json is not a JSON object")?;
    let entries = map
        .iter()
        .map(|(p, id)| {
            id.as_u64()
                .map(|id| (p.clone(), id))
                .with_context(|| format!("vocab.json: id of {p:?} is not an integer"))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut vocab = vocab_by_id(entries, "vocab.json")?;
    let codes = match cfg.get("language_codes").and_then(|v| v.as_str()) {
        None | Some("m2m100") => M2M100_CODES,
        Some("wmt21") => WMT21_CODES,
        Some(other) => bail!("tokenizer_config.json: unknown language_codes {other:?}"),
    };
    let base = vocab.len();
    let mut langs = Vec::new();
    for (i, code) in codes.iter().enumerate() {
        vocab.push(format!("__{code}__"));
        langs.push((code.to_string(), (base + i) as u32));
    }
    Ok((vocab, langs, vec!["<s>".into()], true))
}

/// NllbTokenizer and MBart50Tokenizer (the same layout). With `tokenizer.json` (what HF saves,
/// and what transformers v5 and v4's fast tokenizer use), its vocabulary (NLLB: BPE; mBART-50:
/// unigram) and added tokens give the ids; the special added tokens other
/// than `<s> <pad> </s> <unk> <mask>` are the language codes. Without it, v4's slow layout:
/// `<s> <pad> </s> <unk>` = 0..3, sentencepiece id i at i + 1, the codes at `len(spm) + 1 + i`,
/// then `<mask>`. No `str.strip()` when decoding (v5: the Metaspace decoder).
fn nllb_vocab(
    dir: &Path,
    spm: &SpmModel,
) -> Result<(Vec<String>, LanguageCodes, Vec<String>, bool)> {
    const SPECIAL: [&str; 4] = ["<s>", "<pad>", "</s>", "<unk>"];
    let skip = vec!["<s>".to_string(), "<mask>".to_string()];
    let Some(tj) = read_json(dir, "tokenizer.json")? else {
        let mut vocab: Vec<String> = SPECIAL.iter().map(|s| s.to_string()).collect();
        vocab.extend(spm.pieces.iter().skip(3).map(|p| p.text.clone()));
        let base = vocab.len();
        let mut langs = Vec::new();
        for (i, code) in NLLB_CODES.iter().enumerate() {
            vocab.push(code.to_string());
            langs.push((code.to_string(), (base + i) as u32));
        }
        vocab.push("<mask>".into());
        return Ok((vocab, langs, skip, false));
    };
    let model = tj.get("model").context("tokenizer.json has no model")?;
    let mut entries: Vec<(String, u64)> = match model.get("type").and_then(|t| t.as_str()) {
        // NLLB: a BPE model, its vocabulary a map from piece to id.
        Some("BPE") => model
            .get("vocab")
            .and_then(|v| v.as_object())
            .context("tokenizer.json has no model.vocab")?
            .iter()
            .map(|(p, id)| {
                id.as_u64()
                    .map(|id| (p.clone(), id))
                    .with_context(|| format!("tokenizer.json: id of {p:?} is not an integer"))
            })
            .collect::<Result<_>>()?,
        // mBART-50: a unigram model, its vocabulary a list of [piece, score] in id order.
        Some("Unigram") => model
            .get("vocab")
            .and_then(|v| v.as_array())
            .context("tokenizer.json has no model.vocab list")?
            .iter()
            .enumerate()
            .map(|(id, e)| {
                e.get(0)
                    .and_then(|p| p.as_str())
                    .map(|p| (p.to_string(), id as u64))
                    .with_context(|| {
                        format!("tokenizer.json: vocabulary entry {id} is not [piece, score]")
                    })
            })
            .collect::<Result<_>>()?,
        _ => bail!("tokenizer.json: the model is neither BPE (NLLB) nor Unigram (mBART-50)"),
    };
    // SentencePiece model types: 1 unigram, 2 BPE.
    if (spm.model_type == 2) != (model.get("type").and_then(|t| t.as_str()) == Some("BPE")) {
        bail!("tokenizer.json's model type differs from sentencepiece.bpe.model's");
    }
    // NLLB's codes are added to the BPE vocabulary; mBART-50's are in its unigram one.
    let langs = add_tokens(&tj, &mut entries)?
        .into_iter()
        .filter(|(text, _, special)| {
            *special && !SPECIAL.contains(&text.as_str()) && text != "<mask>"
        })
        .map(|(text, id, _)| (text, id as u32))
        .collect();
    Ok((vocab_by_id(entries, "tokenizer.json")?, langs, skip, false))
}

/// `tokenizer.json`'s added tokens as (text, id, special), each added to `entries` unless the
/// vocabulary already has it at that id (a different text there is an error).
fn add_tokens(
    tj: &serde_json::Value,
    entries: &mut Vec<(String, u64)>,
) -> Result<Vec<(String, u64, bool)>> {
    let mut added = Vec::new();
    for t in tj
        .get("added_tokens")
        .and_then(|a| a.as_array())
        .map_or(&[][..], |a| a.as_slice())
    {
        let (Some(id), Some(text)) = (
            t.get("id").and_then(|v| v.as_u64()),
            t.get("content").and_then(|v| v.as_str()),
        ) else {
            bail!("tokenizer.json: an added token lacks id or content");
        };
        match entries.iter().find(|(_, i)| *i == id) {
            Some((p, _)) if p == text => {}
            Some((p, _)) => bail!("tokenizer.json: id {id} is both {p:?} and {text:?}"),
            None => entries.push((text.to_string(), id)),
        }
        let special = t.get("special").and_then(|v| v.as_bool()).unwrap_or(false);
        added.push((text.to_string(), id, special));
    }
    Ok(added)
}
