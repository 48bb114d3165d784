//! Building the tokenizer section of a model file (needs `alloc`; used by the converter):
//! reads SentencePiece `.spm` files (protobuf `ModelProto`) and writes the tables that
//! [`Tokenizer`](super::Tokenizer) reads zero-copy.

use super::decode_kind;
use super::normalizer::{rules, Normalizer};
use super::unigram::kind;
use crate::error::{Error, Result};
use crate::gguf::write::{GgufWriter, MetaValue};
use crate::gguf::TensorType;
use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// One piece of a SentencePiece model.
#[derive(Debug, Clone, PartialEq)]
pub struct Piece {
    pub text: String,
    pub score: f32,
    /// sentencepiece type: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte.
    pub kind: i8,
}

/// A `NormalizerSpec`.
#[derive(Debug, Clone, PartialEq)]
pub struct NormalizerSpec {
    pub name: String,
    pub charsmap: Vec<u8>,
    pub add_dummy_prefix: bool,
    pub remove_extra_whitespaces: bool,
    pub escape_whitespaces: bool,
}

impl Default for NormalizerSpec {
    fn default() -> Self {
        NormalizerSpec {
            name: String::new(),
            charsmap: Vec::new(),
            add_dummy_prefix: true,
            remove_extra_whitespaces: true,
            escape_whitespaces: true,
        }
    }
}

/// The parts of a SentencePiece `ModelProto` the tokenizer needs.
#[derive(Debug, Clone, PartialEq)]
pub struct SpmModel {
    pub pieces: Vec<Piece>,
    /// 1 unigram, 2 BPE, 3 word, 4 char.
    pub model_type: u64,
    pub byte_fallback: bool,
    pub treat_whitespace_as_suffix: bool,
    pub unk_surface: Option<String>,
    pub normalizer: NormalizerSpec,
    pub denormalizer: Option<NormalizerSpec>,
}

impl SpmModel {
    /// A unigram model with these pieces and sentencepiece's default settings.
    pub fn from_pieces(pieces: Vec<Piece>) -> Self {
        SpmModel {
            pieces,
            model_type: 1,
            byte_fallback: false,
            treat_whitespace_as_suffix: false,
            unk_surface: None,
            normalizer: NormalizerSpec::default(),
            denormalizer: None,
        }
    }

    /// Parses a serialized `ModelProto` (the bytes of a `.spm` / `.model` file).
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let mut m = SpmModel::from_pieces(Vec::new());
        let mut pb = Pb { buf: bytes, pos: 0 };
        while let Some((field, v)) = pb.field()? {
            match (field, v) {
                (1, Wire::Bytes(b)) => m.pieces.push(parse_piece(b)?),
                (2, Wire::Bytes(b)) => {
                    let mut t = Pb { buf: b, pos: 0 };
                    while let Some((f, v)) = t.field()? {
                        match (f, v) {
                            (3, Wire::Varint(x)) => m.model_type = x,
                            (24, Wire::Varint(x)) => m.treat_whitespace_as_suffix = x != 0,
                            (35, Wire::Varint(x)) => m.byte_fallback = x != 0,
                            (44, Wire::Bytes(s)) => m.unk_surface = Some(utf8(s)?),
                            _ => {}
                        }
                    }
                }
                (3, Wire::Bytes(b)) => m.normalizer = parse_normalizer(b)?,
                (5, Wire::Bytes(b)) => m.denormalizer = Some(parse_normalizer(b)?),
                (1 | 2 | 3 | 5, _) => {
                    return Err(Error::BadTokenizer(
                        "SentencePiece model field has the wrong wire type",
                    ))
                }
                _ => {}
            }
        }
        if m.pieces.is_empty() {
            return Err(Error::BadTokenizer(
                "SentencePiece model has no pieces (is this an .spm file?)",
            ));
        }
        Ok(m)
    }

    /// Checks that tern can run this model exactly as sentencepiece does.
    pub fn check(&self) -> Result<()> {
        match self.model_type {
            1 | 2 => {}
            3 => {
                return Err(Error::BadTokenizer(
                    "word SentencePiece models are not supported (only unigram and BPE)",
                ))
            }
            4 => {
                return Err(Error::BadTokenizer(
                    "char SentencePiece models are not supported (only unigram and BPE)",
                ))
            }
            _ => {
                return Err(Error::BadTokenizer(
                    "unknown SentencePiece model type (only unigram and BPE are supported)",
                ))
            }
        }
        if self.treat_whitespace_as_suffix {
            return Err(Error::BadTokenizer(
                "treat_whitespace_as_suffix is not supported",
            ));
        }
        if self.byte_fallback && self.model_type != 2 {
            return Err(Error::BadTokenizer(
                "byte fallback is only supported in BPE SentencePiece models",
            ));
        }
        if self.byte_fallback {
            self.byte_ids()?;
        }
        if self.model_type == 2
            && self.pieces.iter().any(|p| {
                !matches!(p.kind, kind::NORMAL | kind::USER_DEFINED | kind::UNUSED)
                    && p.text.chars().count() == 1
            })
        {
            // BPE looks single characters up among all pieces, reserved ones first; tern only
            // among the matchable ones.
            return Err(Error::BadTokenizer(
                "a control, unknown or byte piece of this BPE model is a single character",
            ));
        }
        if self
            .denormalizer
            .as_ref()
            .is_some_and(|d| !d.charsmap.is_empty())
        {
            return Err(Error::BadTokenizer(
                "SentencePiece denormalization rules are not supported",
            ));
        }
        if self
            .pieces
            .iter()
            .filter(|p| p.kind == kind::UNKNOWN)
            .count()
            != 1
        {
            return Err(Error::BadTokenizer(
                "a SentencePiece model needs exactly one unknown piece",
            ));
        }
        let mut seen = BTreeMap::new();
        for p in &self.pieces {
            if p.text.is_empty() || !(1..=6).contains(&p.kind) || !p.score.is_finite() {
                return Err(Error::BadTokenizer(
                    "SentencePiece piece is empty or has a bad type or score",
                ));
            }
            if seen.insert(p.text.as_str(), ()).is_some() {
                return Err(Error::BadTokenizer("SentencePiece piece defined twice"));
            }
        }
        Normalizer::new(&self.normalizer.charsmap)?;
        Ok(())
    }

    /// The piece id of each byte `<0xHH>` (byte fallback).
    fn byte_ids(&self) -> Result<Vec<i32>> {
        let mut ids = alloc::vec![-1i32; 256];
        for (i, p) in self.pieces.iter().enumerate() {
            if p.kind == kind::BYTE {
                let b = super::byte_value(p.text.as_bytes())
                    .ok_or(Error::BadTokenizer("byte piece is not <0xHH>"))?;
                ids[b as usize] = i as i32;
            }
        }
        if ids.contains(&-1) {
            return Err(Error::BadTokenizer(
                "byte fallback needs the 256 byte pieces <0x00>..<0xFF>",
            ));
        }
        Ok(ids)
    }

    fn unk(&self) -> usize {
        self.pieces
            .iter()
            .position(|p| p.kind == kind::UNKNOWN)
            .unwrap_or(0)
    }

    /// Bound on normalized bytes per input byte (see `tokenizer.src.expansion`).
    pub fn expansion(&self) -> Result<u32> {
        let n = &self.normalizer;
        let space = if n.escape_whitespaces { 3 } else { 1 };
        let mut e = space;
        for (len, rep) in rules(&Normalizer::new(&n.charsmap)?)? {
            let out: usize = rep.iter().map(|&b| if b == b' ' { space } else { 1 }).sum();
            e = e.max(out.div_ceil(len.max(1)));
        }
        u32::try_from(e).map_err(|_| Error::BadTokenizer("normalization expands too much"))
    }
}

/// What [`write_tokenizer`] stores.
pub struct TokenizerSpec<'s> {
    /// Encodes source text.
    pub source: &'s SpmModel,
    /// Decides how target pieces decode (HF Marian decodes with the source model unless the
    /// vocabularies are separate).
    pub decode: &'s SpmModel,
    /// The model's vocabulary in id order (HF `vocab.json`); `None`: the source model's pieces.
    pub vocab: Option<&'s [String]>,
    pub eos: u32,
    pub unk: u32,
    pub pad: Option<u32>,
    /// Hugging Face MarianTokenizer behaviour: leading `>>xx<<` language codes, special tokens
    /// skipped when decoding, `str.strip()` of the decoded text.
    pub hf_marian: bool,
    /// HF `clean_up_tokenization_spaces`.
    pub clean_up_spaces: bool,
}

/// Additions for Hugging Face's multilingual tokenizers (M2M100, NLLB); the default adds nothing.
#[derive(Default, Clone, Copy)]
pub struct TokenizerExtras<'s> {
    /// HF decoding (special tokens skipped, `str.strip()`, optional space clean-up) without
    /// Marian's `>>xx<<` handling when encoding.
    pub hf_decode: bool,
    /// With `hf_decode`: `str.strip()` the decoded text (M2M100Tokenizer does, NLLB's
    /// tokenizers-backed decoder does not).
    pub strip: bool,
    /// More model ids that decode to nothing (HF special tokens: `<s>`, language tokens, `<mask>`).
    pub skip: &'s [u32],
    /// Model ids that only pad the embedding matrix: never decode, never encode.
    pub padding: &'s [u32],
    /// User-facing language codes and their model ids (`tokenizer.lang.*`).
    pub languages: &'s [(String, u32)],
    /// A source vocabulary of its own (Firefox's split-vocabulary models): source ids are the
    /// source model's piece ids, for the encoder's own embedding, ending with this EOS id;
    /// `TokenizerSpec::vocab` is then the target's.
    pub separate_source_eos: Option<u32>,
}

/// Writes the tokenizer keys and tables (layout: `docs/tokenizer-format.md`).
pub fn write_tokenizer(w: &mut GgufWriter, spec: &TokenizerSpec<'_>) -> Result<()> {
    write_tokenizer_with(w, spec, &TokenizerExtras::default())
}

/// [`write_tokenizer`] with [`TokenizerExtras`].
pub fn write_tokenizer_with(
    w: &mut GgufWriter,
    spec: &TokenizerSpec<'_>,
    extras: &TokenizerExtras<'_>,
) -> Result<()> {
    let src = spec.source;
    src.check()?;
    spec.decode.check()?;
    let vocab: Vec<&str> = match spec.vocab {
        Some(v) => v.iter().map(String::as_str).collect(),
        None => src.pieces.iter().map(|p| p.text.as_str()).collect(),
    };
    let n = vocab.len();
    for id in [Some(spec.eos), Some(spec.unk), spec.pad]
        .into_iter()
        .flatten()
    {
        if id as usize >= n {
            return Err(Error::BadTokenizer(
                "special token id beyond the vocabulary",
            ));
        }
    }
    let mut vocab_index = BTreeMap::new();
    for (i, p) in vocab.iter().enumerate() {
        if vocab_index.insert(*p, i).is_some() {
            return Err(Error::BadTokenizer("vocabulary lists a piece twice"));
        }
    }
    let dec: BTreeMap<&str, i8> = spec
        .decode
        .pieces
        .iter()
        .map(|p| (p.text.as_str(), p.kind))
        .collect();
    for &id in extras
        .skip
        .iter()
        .chain(extras.padding)
        .chain(extras.languages.iter().map(|(_, id)| id))
    {
        if id as usize >= n {
            return Err(Error::BadTokenizer(
                "special, padding or language id beyond the vocabulary",
            ));
        }
    }
    let hf = spec.hf_marian || extras.hf_decode;
    let special = [Some(spec.eos), Some(spec.unk), spec.pad];
    let kinds: Vec<u8> = vocab
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let id = i as u32;
            if extras.padding.contains(&id) {
                return decode_kind::PAD;
            }
            if hf && (special.contains(&Some(id)) || extras.skip.contains(&id)) {
                return decode_kind::SKIP;
            }
            match dec.get(p) {
                Some(&kind::CONTROL) => decode_kind::CONTROL,
                Some(&kind::UNKNOWN) => decode_kind::UNK,
                Some(&kind::BYTE) => decode_kind::BYTE,
                _ => decode_kind::TEXT,
            }
        })
        .collect();

    let meta = |w: &mut GgufWriter, k: &str, v: MetaValue| w.meta(k, v);
    let model = if src.model_type == 2 {
        "sentencepiece-bpe"
    } else {
        "sentencepiece-unigram"
    };
    meta(w, "tokenizer.model", MetaValue::Str(model.to_string()));
    meta(w, "tokenizer.hf_marian", MetaValue::Bool(spec.hf_marian));
    if extras.hf_decode {
        meta(w, "tokenizer.hf_decode", MetaValue::Bool(true));
        meta(w, "tokenizer.decode.strip", MetaValue::Bool(extras.strip));
    }
    if !extras.languages.is_empty() {
        let codes: Vec<&str> = extras.languages.iter().map(|(c, _)| c.as_str()).collect();
        write_strings(w, "tokenizer.lang", &codes);
        let ids: Vec<i32> = extras.languages.iter().map(|&(_, id)| id as i32).collect();
        write_i32(w, "tokenizer.lang.ids", &ids);
    }
    meta(
        w,
        "tokenizer.clean_up_spaces",
        MetaValue::Bool(spec.clean_up_spaces),
    );
    write_special_ids(w, spec.eos, spec.unk, spec.pad);
    meta(
        w,
        "tokenizer.unk_surface",
        MetaValue::Str(
            spec.decode
                .unk_surface
                .clone()
                .unwrap_or_else(|| " \u{2047} ".to_string()),
        ),
    );
    let dn = &spec.decode.normalizer;
    meta(
        w,
        "tokenizer.decode.add_dummy_prefix",
        MetaValue::Bool(dn.add_dummy_prefix),
    );
    meta(
        w,
        "tokenizer.decode.remove_extra_whitespaces",
        MetaValue::Bool(dn.remove_extra_whitespaces),
    );
    write_vocab(w, &vocab, &kinds);

    let sn = &src.normalizer;
    meta(
        w,
        "tokenizer.src.normalizer",
        MetaValue::Str(sn.name.clone()),
    );
    meta(
        w,
        "tokenizer.src.add_dummy_prefix",
        MetaValue::Bool(sn.add_dummy_prefix),
    );
    meta(
        w,
        "tokenizer.src.remove_extra_whitespaces",
        MetaValue::Bool(sn.remove_extra_whitespaces),
    );
    meta(
        w,
        "tokenizer.src.escape_whitespaces",
        MetaValue::Bool(sn.escape_whitespaces),
    );
    meta(
        w,
        "tokenizer.src.expansion",
        MetaValue::U32(src.expansion()?),
    );
    meta(w, "tokenizer.src.unk_id", MetaValue::U32(src.unk() as u32));
    let pieces: Vec<&str> = src.pieces.iter().map(|p| p.text.as_str()).collect();
    write_strings(w, "tokenizer.src", &pieces);
    let scores: Vec<f32> = src.pieces.iter().map(|p| p.score).collect();
    w.tensor_f32("tokenizer.src.scores", &[scores.len() as u64], &scores);
    let skinds: Vec<u8> = src.pieces.iter().map(|p| p.kind as u8).collect();
    w.tensor_bytes(
        "tokenizer.src.kind",
        &[skinds.len() as u64],
        TensorType::I8,
        &skinds,
    );
    let matchable = |k: i8| matches!(k, kind::NORMAL | kind::USER_DEFINED | kind::UNUSED);
    let eligible: Vec<i32> = sorted_ids(&pieces)
        .into_iter()
        .filter(|&i| matchable(src.pieces[i as usize].kind))
        .collect();
    write_i32(w, "tokenizer.src.sorted", &eligible);
    if let Some(eos) = extras.separate_source_eos {
        if eos as usize >= pieces.len() || !extras.languages.is_empty() {
            return Err(Error::BadTokenizer(
                "a separate source vocabulary needs its EOS and has no language codes",
            ));
        }
        meta(w, "tokenizer.src.separate", MetaValue::Bool(true));
        meta(w, "tokenizer.src.eos_id", MetaValue::U32(eos));
    } else if spec.vocab.is_some() {
        let to_vocab: Vec<i32> = pieces
            .iter()
            .map(|p| vocab_index.get(p).map_or(-1, |&i| i as i32))
            .collect();
        write_i32(w, "tokenizer.src.to_vocab", &to_vocab);
    }
    let user: Vec<i32> = (0..src.pieces.len())
        .filter(|&i| src.pieces[i].kind == kind::USER_DEFINED)
        .map(|i| i as i32)
        .collect();
    if !user.is_empty() {
        write_i32(w, "tokenizer.src.user_defined", &user);
    }
    if src.byte_fallback {
        meta(w, "tokenizer.src.byte_fallback", MetaValue::Bool(true));
        write_i32(w, "tokenizer.src.byte_ids", &src.byte_ids()?);
    }
    if !sn.charsmap.is_empty() {
        w.tensor_bytes(
            "tokenizer.src.charsmap",
            &[sn.charsmap.len() as u64],
            TensorType::I8,
            &sn.charsmap,
        );
    }
    Ok(())
}

/// What [`write_byte_level`] stores: a byte-level BPE tokenizer (HF `vocab.json` +
/// `merges.txt`, as BART's and RoBERTa's).
pub struct ByteLevelSpec<'s> {
    /// The model's pieces in id order, spelled with [`byte_char`](super::byte_char)s.
    pub vocab: &'s [String],
    /// `merges.txt`'s pairs, in rank order.
    pub merges: &'s [(String, String)],
    /// Put before the pieces of source text (`<s>`).
    pub bos: Option<u32>,
    pub eos: u32,
    pub unk: u32,
    pub pad: Option<u32>,
    /// More ids that decode to nothing (HF special tokens such as `<mask>`).
    pub skip: &'s [u32],
    /// Ids that only pad the embedding matrix: never decode, never encode.
    pub padding: &'s [u32],
    /// Added tokens matched in the text before the words, with their strip flags
    /// ([`LSTRIP`](super::LSTRIP), [`RSTRIP`](super::RSTRIP)).
    pub added: &'s [(u32, u8)],
    /// HF `clean_up_tokenization_spaces`.
    pub clean_up_spaces: bool,
}

/// Writes a byte-level BPE tokenizer (layout: `docs/tokenizer-format.md`). Every merge must
/// join two pieces into a third of the vocabulary, and every byte must be a piece.
pub fn write_byte_level(w: &mut GgufWriter, spec: &ByteLevelSpec<'_>) -> Result<()> {
    let vocab: Vec<&str> = spec.vocab.iter().map(String::as_str).collect();
    let n = vocab.len();
    let mut index = BTreeMap::new();
    for (i, p) in vocab.iter().enumerate() {
        if index.insert(*p, i as i32).is_some() {
            return Err(Error::BadTokenizer("vocabulary lists a piece twice"));
        }
    }
    let special: Vec<u32> = [Some(spec.eos), Some(spec.unk), spec.pad, spec.bos]
        .into_iter()
        .flatten()
        .chain(spec.skip.iter().copied())
        .collect();
    if special
        .iter()
        .chain(spec.padding)
        .any(|&id| id as usize >= n)
    {
        return Err(Error::BadTokenizer(
            "special or padding id beyond the vocabulary",
        ));
    }
    let kinds: Vec<u8> = (0..n as u32)
        .map(|id| match id {
            _ if spec.padding.contains(&id) => decode_kind::PAD,
            _ if special.contains(&id) => decode_kind::SKIP,
            _ => decode_kind::TEXT,
        })
        .collect();
    let id = |p: &str| index.get(p).copied();
    let byte_ids = (0..=255u8)
        .map(|b| id(super::byte_char(b).encode_utf8(&mut [0; 4])))
        .collect::<Option<Vec<i32>>>()
        .ok_or(Error::BadTokenizer(
            "the vocabulary lacks a byte's piece (not a byte-level vocabulary)",
        ))?;
    // HF reads merges into a map: a pair listed twice keeps its last rank.
    let mut merges = BTreeMap::new();
    for (rank, (a, b)) in spec.merges.iter().enumerate() {
        let joined = alloc::format!("{a}{b}");
        match (id(a), id(b), id(&joined)) {
            (Some(l), Some(r), Some(m)) => merges.insert((l, r), (m, rank as i32)),
            _ => {
                return Err(Error::BadTokenizer(
                    "a merge joins pieces, or makes one, that the vocabulary lacks",
                ))
            }
        };
    }
    let rows: Vec<i32> = merges
        .iter()
        .flat_map(|(&(l, r), &(m, rank))| [l, r, m, rank])
        .collect();
    if spec
        .added
        .iter()
        .any(|&(id, f)| id as usize >= n || vocab[id as usize].is_empty() || f > 3)
    {
        return Err(Error::BadTokenizer(
            "an added token is beyond the vocabulary, empty, or has unknown flags",
        ));
    }

    w.meta(
        "tokenizer.model",
        MetaValue::Str("byte-level-bpe".to_string()),
    );
    w.meta("tokenizer.hf_decode", MetaValue::Bool(true));
    w.meta(
        "tokenizer.clean_up_spaces",
        MetaValue::Bool(spec.clean_up_spaces),
    );
    write_special_ids(w, spec.eos, spec.unk, spec.pad);
    if let Some(b) = spec.bos {
        w.meta("tokenizer.src.bos_id", MetaValue::U32(b));
    }
    write_vocab(w, &vocab, &kinds);
    write_i32(w, "tokenizer.bpe.merges", &rows);
    write_i32(w, "tokenizer.bpe.byte_ids", &byte_ids);
    if !spec.added.is_empty() {
        let ids: Vec<i32> = spec.added.iter().map(|&(id, _)| id as i32).collect();
        let flags: Vec<u8> = spec.added.iter().map(|&(_, f)| f).collect();
        write_i32(w, "tokenizer.bpe.added", &ids);
        w.tensor_bytes(
            "tokenizer.bpe.added_strip",
            &[flags.len() as u64],
            TensorType::I8,
            &flags,
        );
    }
    Ok(())
}

fn write_special_ids(w: &mut GgufWriter, eos: u32, unk: u32, pad: Option<u32>) {
    w.meta("tokenizer.eos_id", MetaValue::U32(eos));
    w.meta("tokenizer.unk_id", MetaValue::U32(unk));
    if let Some(p) = pad {
        w.meta("tokenizer.pad_id", MetaValue::U32(p));
    }
}

/// The model's pieces, their sorted index and how each decodes (`tokenizer.vocab.*`).
fn write_vocab(w: &mut GgufWriter, vocab: &[&str], kinds: &[u8]) {
    write_strings(w, "tokenizer.vocab", vocab);
    write_i32(w, "tokenizer.vocab.sorted", &sorted_ids(vocab));
    w.tensor_bytes(
        "tokenizer.vocab.kind",
        &[kinds.len() as u64],
        TensorType::I8,
        kinds,
    );
}

fn sorted_ids(pieces: &[&str]) -> Vec<i32> {
    let mut ids: Vec<i32> = (0..pieces.len() as i32).collect();
    ids.sort_by(|&a, &b| {
        pieces[a as usize]
            .as_bytes()
            .cmp(pieces[b as usize].as_bytes())
    });
    ids
}

fn write_strings(w: &mut GgufWriter, prefix: &str, pieces: &[&str]) {
    let mut offsets = Vec::with_capacity(pieces.len() + 1);
    let mut text = Vec::new();
    offsets.push(0i32);
    for p in pieces {
        text.extend_from_slice(p.as_bytes());
        offsets.push(text.len() as i32);
    }
    write_i32(w, &alloc::format!("{prefix}.offsets"), &offsets);
    w.tensor_bytes(
        &alloc::format!("{prefix}.text"),
        &[text.len() as u64],
        TensorType::I8,
        &text,
    );
}

fn write_i32(w: &mut GgufWriter, name: &str, v: &[i32]) {
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    w.tensor_bytes(name, &[v.len() as u64], TensorType::I32, &bytes);
}

fn utf8(b: &[u8]) -> Result<String> {
    core::str::from_utf8(b)
        .map(ToString::to_string)
        .map_err(|_| Error::BadTokenizer("SentencePiece string is not UTF-8"))
}

fn parse_piece(b: &[u8]) -> Result<Piece> {
    let mut p = Piece {
        text: String::new(),
        score: 0.0,
        kind: kind::NORMAL,
    };
    let mut pb = Pb { buf: b, pos: 0 };
    while let Some((f, v)) = pb.field()? {
        match (f, v) {
            (1, Wire::Bytes(s)) => p.text = utf8(s)?,
            (2, Wire::Fixed32(x)) => p.score = f32::from_bits(x),
            (3, Wire::Varint(x)) => {
                p.kind = i8::try_from(x)
                    .map_err(|_| Error::BadTokenizer("SentencePiece piece type out of range"))?
            }
            _ => {}
        }
    }
    Ok(p)
}

fn parse_normalizer(b: &[u8]) -> Result<NormalizerSpec> {
    let mut n = NormalizerSpec::default();
    let mut pb = Pb { buf: b, pos: 0 };
    while let Some((f, v)) = pb.field()? {
        match (f, v) {
            (1, Wire::Bytes(s)) => n.name = utf8(s)?,
            (2, Wire::Bytes(s)) => n.charsmap = s.to_vec(),
            (3, Wire::Varint(x)) => n.add_dummy_prefix = x != 0,
            (4, Wire::Varint(x)) => n.remove_extra_whitespaces = x != 0,
            (5, Wire::Varint(x)) => n.escape_whitespaces = x != 0,
            _ => {}
        }
    }
    Ok(n)
}

/// A protobuf wire value.
enum Wire<'a> {
    Varint(u64),
    Fixed64,
    Bytes(&'a [u8]),
    Fixed32(u32),
}

/// Minimal protobuf reader: fields of one message.
struct Pb<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Pb<'a> {
    fn byte(&mut self) -> Result<u8> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or(Error::BadTokenizer("SentencePiece model is truncated"))?;
        self.pos += 1;
        Ok(b)
    }
    fn varint(&mut self) -> Result<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= ((b & 0x7f) as u64) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(Error::BadTokenizer(
            "SentencePiece model has an over-long varint",
        ))
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or(Error::BadTokenizer("SentencePiece model is truncated"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn field(&mut self) -> Result<Option<(u64, Wire<'a>)>> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let v = match key & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Wire::Fixed64
            }
            2 => {
                let n = usize::try_from(self.varint()?)
                    .map_err(|_| Error::BadTokenizer("SentencePiece model is truncated"))?;
                Wire::Bytes(self.take(n)?)
            }
            5 => Wire::Fixed32(u32::from_le_bytes(
                self.take(4)?.try_into().unwrap_or([0; 4]),
            )),
            _ => {
                return Err(Error::BadTokenizer(
                    "SentencePiece model uses an unsupported protobuf wire type",
                ))
            }
        };
        Ok(Some((key >> 3, v)))
    }
}
