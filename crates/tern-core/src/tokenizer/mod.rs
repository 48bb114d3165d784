//! SentencePiece tokenizer (unigram or BPE), read zero-copy from the model file.
//!
//! Encoding follows the `sentencepiece` library exactly (normalizer with the precompiled
//! charsmap, then the optimized unigram Viterbi or BPE merges, runs of unknown characters merged
//! into one `<unk>` piece or spelled as byte pieces with byte fallback), then
//! maps pieces to model ids through the model's vocabulary by their text, as Hugging Face's
//! `MarianTokenizer` does with `vocab.json` (so an unknown character that happens to be a
//! target-side piece keeps that piece's id). Decoding is sentencepiece's `DecodePieces`, followed
//! for Hugging Face models by `str.strip()` and, if the model asks, HF's space clean-up.
//! The layout in the file is described in `docs/tokenizer-format.md`.

mod bpe;
#[cfg(feature = "alloc")]
pub mod build;
mod byte_level;
mod normalizer;
mod table;
mod unigram;

use crate::error::{Error, Result};
use crate::gguf::{Gguf, TensorType, Value};
use crate::plan::{Carver, Sizer};
pub use byte_level::{byte_char, char_byte, LSTRIP, RSTRIP};
use byte_level::{ByteLevel, Lossy};
use normalizer::{Normalizer, Out, SPACE};
use table::{blob, F32s, I32s, Sorted, Strings};
pub use unigram::kind as piece_kind;
use unigram::{kind, Lattice, Unigram};

/// How a vocabulary entry decodes (`tokenizer.vocab.kind`).
pub mod decode_kind {
    /// Piece text, `▁` read as a space.
    pub const TEXT: u8 = 0;
    /// Removed before decoding (Hugging Face special tokens: EOS, pad, unk).
    pub const SKIP: u8 = 1;
    /// A byte piece `<0xHH>`; runs of them decode as UTF-8.
    pub const BYTE: u8 = 2;
    /// The unknown piece: decodes as `tokenizer.unk_surface`.
    pub const UNK: u8 = 3;
    /// A control piece: invisible.
    pub const CONTROL: u8 = 4;
    /// Vocabulary padding (the model has more ids than its tokenizer): never decodes, and never
    /// comes out of encoding (text lookups skip it).
    pub const PAD: u8 = 5;
}

/// Which algorithm segments the source (`tokenizer.model`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Algorithm {
    /// `sentencepiece-unigram`: the best-scoring segmentation (Viterbi).
    Unigram,
    /// `sentencepiece-bpe`: greedy merges by piece score.
    Bpe,
    /// `byte-level-bpe`: GPT-2's words, then merges by rank over bytes (BART, RoBERTa).
    ByteLevelBpe,
}

/// How source text becomes pieces.
// SentencePiece's variant holds its pieces' first-byte index (1 KB, see `Sorted`); the
// segmenter is built once per model and not moved after.
#[allow(clippy::large_enum_variant)]
enum Segmenter<'a> {
    Spm(Spm<'a>),
    ByteLevel(ByteLevel<'a>),
}

/// A SentencePiece source model (`tokenizer.src.*`) and its mapping to model ids.
struct Spm<'a> {
    src: Unigram<'a>,
    /// BPE merges by piece score; else the unigram Viterbi.
    bpe: bool,
    /// Some piece is unused (BPE resegmentation then keeps a log in the scratch).
    has_unused: bool,
    /// With byte fallback: the source piece id of each byte `<0xHH>`.
    byte_ids: Option<I32s<'a>>,
    to_vocab: Option<I32s<'a>>,
    norm: Normalizer<'a>,
    expansion: usize,
}

/// The tokenizer of one model.
pub struct Tokenizer<'a> {
    vocab: Strings<'a>,
    vocab_sorted: Sorted<'a>,
    vocab_kind: &'a [u8],
    segmenter: Segmenter<'a>,
    /// Language codes (`tokenizer.lang.*`): code strings and their model ids.
    langs: Option<(Strings<'a>, I32s<'a>)>,
    /// The ids source text encodes to: the model's vocabulary, or the source model's own.
    source: SourceIds,
    /// Put before the pieces of source text (BART's `<s>`).
    bos: Option<u32>,
    eos: u32,
    unk: u32,
    pad: Option<u32>,
    unk_surface: &'a str,
    hf_marian: bool,
    /// HF decoding (skip specials, strip, clean-up) without Marian's `>>xx<<` encoding.
    hf_decode: bool,
    /// `str.strip()` after decoding (always for HF Marian).
    strip: bool,
    clean_up_spaces: bool,
    dec_bos_ws: bool,
    dec_rew: bool,
}

/// The id space of encoded source text.
#[derive(Debug, Clone, Copy)]
struct SourceIds {
    /// Ids below this (the encoder's embedding rows).
    size: usize,
    eos: u32,
    /// An unknown run without a vocabulary lookup.
    unk: u32,
    /// The ids are the source model's own (`tokenizer.src.separate`), not the vocabulary's.
    separate: bool,
}

impl SourceIds {
    /// Source text encodes to the model's own `n` ids.
    fn vocabulary(n: usize, eos: u32, unk: u32) -> Self {
        SourceIds {
            size: n,
            eos,
            unk,
            separate: false,
        }
    }
}

fn flag(g: &Gguf<'_>, key: &'static str, default: bool) -> Result<bool> {
    g.bool_or(key, default)
}

impl<'a> Tokenizer<'a> {
    /// Reads and validates the tokenizer stored in `g`.
    pub fn from_gguf(g: &Gguf<'a>) -> Result<Self> {
        let algorithm = match g.str("tokenizer.model")? {
            "sentencepiece-unigram" => Algorithm::Unigram,
            "sentencepiece-bpe" => Algorithm::Bpe,
            "byte-level-bpe" => Algorithm::ByteLevelBpe,
            _ => {
                return Err(Error::BadTokenizer(
                    "tokenizer.model is none of sentencepiece-unigram, sentencepiece-bpe, byte-level-bpe",
                ))
            }
        };
        let vocab = Strings::load(g, "tokenizer.vocab.offsets", "tokenizer.vocab.text")?;
        let n = vocab.len();
        let vocab_sorted = Sorted::load(g, "tokenizer.vocab.sorted", vocab)?;
        if vocab_sorted.len() != n {
            return Err(Error::BadTokenizer(
                "tokenizer.vocab.sorted must list every piece",
            ));
        }
        let vocab_kind = blob(g, "tokenizer.vocab.kind", TensorType::I8)?;
        if vocab_kind.len() != n {
            return Err(Error::BadTokenizer(
                "tokenizer.vocab.kind has the wrong length",
            ));
        }
        for (i, &k) in vocab_kind.iter().enumerate() {
            let ok = match k {
                decode_kind::TEXT
                | decode_kind::SKIP
                | decode_kind::UNK
                | decode_kind::CONTROL
                | decode_kind::PAD => true,
                decode_kind::BYTE => byte_value(vocab.bytes(i)).is_some(),
                _ => false,
            };
            if !ok {
                return Err(Error::BadTokenizer(
                    "tokenizer.vocab.kind holds an invalid entry",
                ));
            }
        }
        let id = |key: &'static str| -> Result<u32> {
            let v = g.u32(key)?;
            if v as usize >= n {
                return Err(Error::BadHyperparameter(key));
            }
            Ok(v)
        };
        let (eos, unk) = (id("tokenizer.eos_id")?, id("tokenizer.unk_id")?);
        let pad = match g.get("tokenizer.pad_id") {
            Some(_) => Some(id("tokenizer.pad_id")?),
            None => None,
        };

        let langs = match g.tensor("tokenizer.lang.ids") {
            Some(_) => {
                let codes = Strings::load(g, "tokenizer.lang.offsets", "tokenizer.lang.text")?;
                let ids = I32s::load(g, "tokenizer.lang.ids")?;
                if ids.len() != codes.len() || (0..ids.len()).any(|i| ids.index(i, n).is_none()) {
                    return Err(Error::BadTokenizer("tokenizer.lang tables are malformed"));
                }
                Some((codes, ids))
            }
            None => None,
        };
        let bos = match g.get("tokenizer.src.bos_id") {
            Some(_) => Some(id("tokenizer.src.bos_id")?),
            None => None,
        };
        let (segmenter, source) = match algorithm {
            Algorithm::ByteLevelBpe => (
                Segmenter::ByteLevel(ByteLevel::load(g, n)?),
                SourceIds::vocabulary(n, eos, unk),
            ),
            Algorithm::Unigram | Algorithm::Bpe => {
                let bpe = algorithm == Algorithm::Bpe;
                let (sp, source) = Spm::load(g, n, eos, unk, langs.is_some(), bpe)?;
                (Segmenter::Spm(sp), source)
            }
        };
        let unk_surface = match g.get("tokenizer.unk_surface") {
            Some(Value::Str(s)) => s,
            Some(_) => return Err(Error::WrongKeyType("tokenizer.unk_surface")),
            None => " \u{2047} ",
        };
        let dec_rew = flag(g, "tokenizer.decode.remove_extra_whitespaces", true)?;
        Ok(Tokenizer {
            vocab,
            vocab_sorted,
            vocab_kind,
            segmenter,
            langs,
            source,
            bos,
            eos,
            unk,
            pad,
            unk_surface,
            hf_marian: flag(g, "tokenizer.hf_marian", false)?,
            hf_decode: flag(g, "tokenizer.hf_decode", false)?,
            strip: flag(g, "tokenizer.decode.strip", false)?,
            clean_up_spaces: flag(g, "tokenizer.clean_up_spaces", false)?,
            dec_bos_ws: flag(g, "tokenizer.decode.add_dummy_prefix", true)? || dec_rew,
            dec_rew,
        })
    }

    /// Number of ids source text encodes to (the encoder's vocabulary): the model's
    /// [`vocab_size`](Self::vocab_size) unless the source vocabulary is separate.
    pub fn source_vocab_size(&self) -> usize {
        self.source.size
    }

    /// The id that ends encoded source text.
    pub fn source_eos_id(&self) -> u32 {
        self.source.eos
    }

    /// Number of model ids.
    pub fn vocab_size(&self) -> usize {
        self.vocab.len()
    }
    /// End-of-sentence id (appended by [`encode`](Self::encode)).
    pub fn eos_id(&self) -> u32 {
        self.eos
    }
    /// Unknown-piece id.
    pub fn unk_id(&self) -> u32 {
        self.unk
    }
    /// Padding id, if the model has one.
    pub fn pad_id(&self) -> Option<u32> {
        self.pad
    }
    /// The text of model id `id`.
    pub fn piece(&self, id: u32) -> Option<&'a str> {
        self.vocab.str(id as usize)
    }
    /// The text of source id `id`: the source model's piece where its ids are its own.
    pub fn source_piece(&self, id: u32) -> Option<&'a str> {
        match &self.segmenter {
            Segmenter::Spm(sp) if self.source.separate => sp.src.sorted.strings.str(id as usize),
            _ => self.piece(id),
        }
    }
    /// The model id whose piece is exactly `piece` (never vocabulary padding).
    pub fn id_of(&self, piece: &str) -> Option<u32> {
        self.find_vocab(piece.as_bytes())
    }
    fn find_vocab(&self, text: &[u8]) -> Option<u32> {
        self.vocab_sorted
            .find(text)
            .filter(|&i| self.vocab_kind.get(i) != Some(&decode_kind::PAD))
            .map(|i| i as u32)
    }
    /// The segmentation algorithm.
    pub fn algorithm(&self) -> Algorithm {
        match &self.segmenter {
            Segmenter::Spm(sp) if sp.bpe => Algorithm::Bpe,
            Segmenter::Spm(_) => Algorithm::Unigram,
            Segmenter::ByteLevel(_) => Algorithm::ByteLevelBpe,
        }
    }

    /// The model id of a language code (`en`, `eng_Latn`: what the user types, as stored in
    /// `tokenizer.lang.*`). A linear scan: models have a few hundred codes at most.
    pub fn language_id(&self, code: &str) -> Option<u32> {
        self.languages().find(|&(c, _)| c == code).map(|(_, id)| id)
    }
    /// The model's language codes with their ids, in the file's order (empty if it has none).
    pub fn languages(&self) -> impl Iterator<Item = (&'a str, u32)> + '_ {
        let (codes, ids) = match self.langs {
            Some((c, i)) => (Some(c), Some(i)),
            None => (None, None),
        };
        let n = codes.map_or(0, |c| c.len());
        (0..n).filter_map(move |i| {
            let code = codes?.str(i)?;
            let id = ids?.get(i)?;
            Some((code, id as u32))
        })
    }

    /// Bytes of segmenter input for texts of at most `max_text_bytes`: SentencePiece's
    /// normalized text, or the text itself.
    fn normalized_capacity(&self, max_text_bytes: usize) -> usize {
        match &self.segmenter {
            Segmenter::Spm(sp) => SPACE.len() + sp.expansion * max_text_bytes,
            Segmenter::ByteLevel(_) => max_text_bytes,
        }
    }
    /// Scratch bytes [`encode`](Self::encode) needs for texts of at most `max_text_bytes`.
    pub fn encode_scratch_bytes(&self, max_text_bytes: usize) -> usize {
        let cap = self.normalized_capacity(max_text_bytes);
        let mut s = Sizer::default();
        match &self.segmenter {
            Segmenter::Spm(sp) => {
                s.add::<u8>(cap);
                match sp.bpe {
                    true => bpe::Work::size(&mut s, cap, sp.has_unused),
                    false => {
                        s.add::<f32>(cap + 1)
                            .add::<u32>(cap + 1)
                            .add::<u32>(cap + 1);
                    }
                }
            }
            Segmenter::ByteLevel(_) => ByteLevel::scratch(&mut s, cap),
        }
        s.bytes()
    }
    /// Most ids [`encode`](Self::encode) can produce for texts of at most `max_text_bytes`
    /// (one per normalized byte, a prefix id or language code, EOS, and BOS where the model
    /// puts one first).
    pub fn max_tokens(&self, max_text_bytes: usize) -> usize {
        self.normalized_capacity(max_text_bytes) + 3 + usize::from(self.bos.is_some())
    }

    /// Encodes `text` into model ids followed by EOS. Writes the first `out.len()` ids and
    /// returns how many there are in all (like `snprintf`): a result above `out.len()` means the
    /// text did not fit. `scratch` must hold [`encode_scratch_bytes`](Self::encode_scratch_bytes).
    pub fn encode(&self, text: &str, scratch: &mut [u8], out: &mut [u32]) -> Result<usize> {
        self.encode_with_prefix(text, None, scratch, out)
    }

    /// [`encode`](Self::encode) with `prefix` (e.g. the source language's id from
    /// [`language_id`](Self::language_id), as M2M100 and NLLB expect) put before the pieces.
    pub fn encode_with_prefix(
        &self,
        text: &str,
        prefix: Option<u32>,
        scratch: &mut [u8],
        out: &mut [u32],
    ) -> Result<usize> {
        let mut ids = Ids { out, n: 0 };
        if let Some(b) = self.bos {
            ids.push(b);
        }
        if let Some(p) = prefix {
            if p as usize >= self.source.size {
                return Err(Error::BadTokenizer("prefix id beyond the vocabulary"));
            }
            ids.push(p);
        }
        let mut text = text;
        if self.hf_marian && text.starts_with(">>") {
            // HF MarianTokenizer.remove_language_code: a leading `>>xx<<` is one token.
            if let Some(end) = text.find("<<") {
                let code = &text[..end + 2];
                ids.push(self.id_of(code).unwrap_or(self.unk));
                text = &text[end + 2..];
            }
        }
        let mut c = Carver::new(scratch);
        match &self.segmenter {
            Segmenter::Spm(sp) => self.encode_spm(sp, text, &mut c, &mut ids)?,
            Segmenter::ByteLevel(bl) => bl.encode(&self.vocab, text, &mut c, |id| ids.push(id))?,
        }
        ids.push(self.source.eos);
        Ok(ids.n)
    }

    fn encode_spm(
        &self,
        sp: &Spm<'_>,
        text: &str,
        c: &mut Carver<'_>,
        ids: &mut Ids<'_>,
    ) -> Result<()> {
        let cap = self.normalized_capacity(text.len());
        let buf = c.take::<u8>(cap)?;
        let n = sp.norm.normalize(text.as_bytes(), buf)?;
        let norm = &buf[..n];
        let mut unk_run: Option<(usize, usize)> = None;
        match sp.bpe {
            true => {
                let mut work = bpe::Work::take(c, cap, sp.has_unused)?;
                let model = bpe::Bpe { pieces: &sp.src };
                let first = model.segment(&sp.norm, norm, &mut work)?;
                model.pieces(norm, &work, first, |s, e, id| {
                    self.emit(sp, norm, s, e, id, &mut unk_run, ids);
                    Ok(())
                })?;
            }
            false => {
                let mut lat = Lattice {
                    score: c.take::<f32>(cap + 1)?,
                    id: c.take::<u32>(cap + 1)?,
                    start: c.take::<u32>(cap + 1)?,
                };
                let count = sp.src.segment(norm, &mut lat);
                for (s, e, id) in lat.path(n, count) {
                    self.emit(sp, norm, s, e, id, &mut unk_run, ids);
                }
            }
        }
        if let Some((a, b)) = unk_run {
            ids.push(self.unknown_id(sp, &norm[a..b]));
        }
        Ok(())
    }

    /// One piece of the segmentation, as sentencepiece's `PopulateSentencePieceText` turns it
    /// into output: unknown pieces merge into one run, or with byte fallback become one byte
    /// piece per UTF-8 byte; then source piece ids map to model ids.
    #[allow(clippy::too_many_arguments)]
    fn emit(
        &self,
        sp: &Spm<'_>,
        norm: &[u8],
        s: usize,
        e: usize,
        id: usize,
        unk_run: &mut Option<(usize, usize)>,
        ids: &mut Ids<'_>,
    ) {
        let is_unk = id == sp.src.unk;
        if is_unk && sp.byte_ids.is_none() {
            *unk_run = Some((unk_run.map_or(s, |r| r.0), e));
            return;
        }
        if let Some((a, b)) = unk_run.take() {
            ids.push(self.unknown_id(sp, &norm[a..b]));
        }
        match sp.byte_ids {
            Some(bytes) if is_unk => {
                for &b in norm.get(s..e).unwrap_or(&[]) {
                    let byte_id = bytes.index(b as usize, usize::MAX).unwrap_or(sp.src.unk);
                    ids.push(self.piece_id(sp, byte_id));
                }
            }
            _ => ids.push(self.piece_id(sp, id)),
        }
    }

    fn piece_id(&self, sp: &Spm<'_>, src_id: usize) -> u32 {
        match sp.to_vocab {
            None => src_id as u32,
            Some(t) => t
                .get(src_id)
                .and_then(|v| u32::try_from(v).ok())
                .unwrap_or(self.unk),
        }
    }

    /// A run of characters no source piece covers: HF looks its text up in the vocabulary.
    fn unknown_id(&self, sp: &Spm<'_>, text: &[u8]) -> u32 {
        match sp.to_vocab {
            None => self.source.unk,
            Some(_) => self.find_vocab(text).unwrap_or(self.unk),
        }
    }

    /// Decodes model ids into UTF-8 text in `out`, returning the bytes written.
    pub fn decode(&self, ids: &[u32], out: &mut [u8]) -> Result<usize> {
        let mut w = Out { buf: out, len: 0 };
        match self.segmenter {
            Segmenter::Spm(_) => self.decode_pieces(ids, &mut w)?,
            Segmenter::ByteLevel(_) => self.decode_byte_level(ids, &mut w)?,
        }
        let mut len = w.len;
        if self.hf_marian || self.strip {
            len = strip_py(out, len)?;
        }
        if (self.hf_marian || self.hf_decode) && self.clean_up_spaces {
            len = clean_up(out, len);
        }
        Ok(len)
    }

    /// Byte-level pieces: each character back to its byte, the bytes read as UTF-8 (a
    /// character that stands for no byte, in a piece made by hand, is its own UTF-8, as HF's
    /// decoder keeps such a piece as it is).
    fn decode_byte_level(&self, ids: &[u32], w: &mut Out<'_>) -> Result<()> {
        let mut lossy = Lossy::new();
        let mut out = |b: &[u8]| w.push(b);
        for &id in ids {
            let k = *self
                .vocab_kind
                .get(id as usize)
                .ok_or(Error::BadTokenizer("token id beyond the vocabulary"))?;
            if k != decode_kind::TEXT {
                continue;
            }
            let p = self.vocab.str(id as usize).unwrap_or("");
            if p.chars().all(|c| char_byte(c).is_some()) {
                for c in p.chars() {
                    lossy.push(char_byte(c).unwrap_or(0), &mut out)?;
                }
            } else {
                for &b in p.as_bytes() {
                    lossy.push(b, &mut out)?;
                }
            }
        }
        lossy.finish(&mut out)
    }

    /// SentencePiece pieces: `▁` read as a space, byte pieces as UTF-8, HF special tokens
    /// skipped.
    fn decode_pieces(&self, ids: &[u32], w: &mut Out<'_>) -> Result<()> {
        let (mut is_bos_ws, mut bos_ws_seen) = (true, false);
        let mut i = 0;
        while i < ids.len() {
            let id = ids[i] as usize;
            let k = *self
                .vocab_kind
                .get(id)
                .ok_or(Error::BadTokenizer("token id beyond the vocabulary"))?;
            if k == decode_kind::BYTE {
                let mut j = i;
                while j < ids.len()
                    && self.vocab_kind.get(ids[j] as usize) == Some(&decode_kind::BYTE)
                {
                    j += 1;
                }
                self.decode_bytes(&ids[i..j], w)?;
                i = j;
                continue;
            }
            i += 1;
            if k == decode_kind::SKIP || k == decode_kind::PAD {
                continue;
            }
            if bos_ws_seen || w.len > 0 {
                is_bos_ws = false;
            }
            bos_ws_seen = false;
            match k {
                decode_kind::UNK => w.push(self.unk_surface.as_bytes())?,
                decode_kind::TEXT => {
                    let mut p = self.vocab.bytes(id);
                    if is_bos_ws && self.dec_bos_ws && p.starts_with(SPACE) {
                        p = &p[SPACE.len()..];
                        bos_ws_seen = !self.dec_rew;
                    }
                    let mut rest = p;
                    while let Some(at) = find(rest, SPACE) {
                        w.push(&rest[..at])?;
                        w.push(b" ")?;
                        rest = &rest[at + SPACE.len()..];
                    }
                    w.push(rest)?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// A run of byte pieces: valid UTF-8 sequences as they are, each other byte as U+FFFD.
    fn decode_bytes(&self, ids: &[u32], w: &mut Out<'_>) -> Result<()> {
        let byte = |k: usize| byte_value(self.vocab.bytes(ids[k] as usize)).unwrap_or(0);
        let mut k = 0;
        while k < ids.len() {
            let lead = byte(k);
            let len = normalizer::char_len(&[lead, 0, 0, 0]);
            let mut ch = [0u8; 4];
            let ok = k + len <= ids.len() && {
                for (j, c) in ch[..len].iter_mut().enumerate() {
                    *c = byte(k + j);
                }
                core::str::from_utf8(&ch[..len]).is_ok()
            };
            if ok {
                w.push(&ch[..len])?;
                k += len;
            } else {
                w.push("\u{FFFD}".as_bytes())?;
                k += 1;
            }
        }
        Ok(())
    }
}

impl<'a> Spm<'a> {
    /// Reads the SentencePiece tables (`tokenizer.src.*`) of a vocabulary of `n` ids.
    fn load(
        g: &Gguf<'a>,
        n: usize,
        eos: u32,
        unk: u32,
        has_langs: bool,
        bpe: bool,
    ) -> Result<(Self, SourceIds)> {
        let pieces = Strings::load(g, "tokenizer.src.offsets", "tokenizer.src.text")?;
        let m = pieces.len();
        let scores = F32s::load(g, "tokenizer.src.scores")?;
        let kinds = blob(g, "tokenizer.src.kind", TensorType::I8)?;
        if scores.len() != m || kinds.len() != m {
            return Err(Error::BadTokenizer("tokenizer.src tables differ in length"));
        }
        let sorted = Sorted::load(g, "tokenizer.src.sorted", pieces)?;
        let src_unk = g.u32("tokenizer.src.unk_id")? as usize;
        if kinds.get(src_unk).map(|&k| k as i8) != Some(kind::UNKNOWN) {
            return Err(Error::BadTokenizer(
                "tokenizer.src.unk_id is not the unknown piece",
            ));
        }
        let (min_score, max_score) = Unigram::score_range(scores, kinds);
        let src = Unigram {
            sorted,
            scores,
            kinds,
            unk: src_unk,
            min_score,
            max_score,
        };
        let separate = flag(g, "tokenizer.src.separate", false)?;
        let to_vocab = match g.tensor("tokenizer.src.to_vocab") {
            Some(_) if separate => {
                return Err(Error::BadTokenizer(
                    "a separate source vocabulary has no tokenizer.src.to_vocab",
                ))
            }
            Some(_) => {
                let t = I32s::load(g, "tokenizer.src.to_vocab")?;
                if t.len() != m || (0..m).any(|i| t.get(i).is_some_and(|v| v >= n as i32 || v < -1))
                {
                    return Err(Error::BadTokenizer("tokenizer.src.to_vocab is malformed"));
                }
                Some(t)
            }
            None if m == n || separate => None,
            None => {
                return Err(Error::BadTokenizer(
                    "source pieces differ from the vocabulary but no tokenizer.src.to_vocab",
                ))
            }
        };
        let charsmap = match g.tensor("tokenizer.src.charsmap") {
            Some(_) => blob(g, "tokenizer.src.charsmap", TensorType::I8)?,
            None => &[],
        };
        let mut norm = Normalizer::new(charsmap)?;
        norm.add_dummy_prefix = flag(g, "tokenizer.src.add_dummy_prefix", true)?;
        norm.remove_extra_whitespaces = flag(g, "tokenizer.src.remove_extra_whitespaces", true)?;
        norm.escape_whitespaces = flag(g, "tokenizer.src.escape_whitespaces", true)?;
        if g.tensor("tokenizer.src.user_defined").is_some() {
            let u = I32s::load(g, "tokenizer.src.user_defined")?;
            if (0..u.len()).any(|i| u.index(i, m).is_none()) {
                return Err(Error::BadTokenizer(
                    "tokenizer.src.user_defined holds an id out of range",
                ));
            }
            norm.user_defined = u;
            norm.pieces = Some(pieces);
        }
        let has_unused = kinds.iter().any(|&k| k as i8 == kind::UNUSED);
        let byte_ids = if flag(g, "tokenizer.src.byte_fallback", false)? {
            let b = I32s::load(g, "tokenizer.src.byte_ids")?;
            if b.len() != 256
                || (0..256).any(|i| {
                    b.index(i, m).and_then(|j| kinds.get(j)).map(|&k| k as i8) != Some(kind::BYTE)
                })
            {
                return Err(Error::BadTokenizer(
                    "tokenizer.src.byte_ids must name the 256 byte pieces",
                ));
            }
            Some(b)
        } else {
            None
        };
        let source = match separate {
            true => {
                let eos = g.u32("tokenizer.src.eos_id")?;
                if eos as usize >= m || has_langs {
                    return Err(Error::BadTokenizer(
                        "tokenizer.src.eos_id is beyond the source pieces, or languages are set",
                    ));
                }
                SourceIds {
                    size: m,
                    eos,
                    unk: src_unk as u32,
                    separate: true,
                }
            }
            false => SourceIds::vocabulary(n, eos, unk),
        };
        let expansion = g.u32("tokenizer.src.expansion")? as usize;
        if !(1..=1024).contains(&expansion) {
            return Err(Error::BadHyperparameter("tokenizer.src.expansion"));
        }
        let sp = Spm {
            src,
            bpe,
            has_unused,
            byte_ids,
            to_vocab,
            norm,
            expansion,
        };
        Ok((sp, source))
    }
}

/// Writes ids like `snprintf`: counts them all, stores those that fit.
struct Ids<'o> {
    out: &'o mut [u32],
    n: usize,
}

impl Ids<'_> {
    fn push(&mut self, id: u32) {
        if let Some(slot) = self.out.get_mut(self.n) {
            *slot = id;
        }
        self.n += 1;
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The byte of a `<0xHH>` piece.
pub(crate) fn byte_value(p: &[u8]) -> Option<u8> {
    let hex = p.strip_prefix(b"<0x")?.strip_suffix(b">")?;
    let s = core::str::from_utf8(hex).ok().filter(|s| s.len() == 2)?;
    u8::from_str_radix(s, 16).ok()
}

/// Python's `str.isspace` (what `str.strip()` removes).
fn is_py_space(c: char) -> bool {
    matches!(c, '\t'..='\r' | '\x1c'..='\x20' | '\u{85}' | '\u{a0}' | '\u{1680}' | '\u{2000}'..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}')
}

/// Python's `str.strip()` in place.
fn strip_py(out: &mut [u8], len: usize) -> Result<usize> {
    let s = core::str::from_utf8(&out[..len])
        .map_err(|_| Error::BadTokenizer("decoded text is not UTF-8"))?;
    let t = s.trim_matches(is_py_space);
    let (a, n) = (t.as_ptr() as usize - s.as_ptr() as usize, t.len());
    out.copy_within(a..a + n, 0);
    Ok(n)
}

/// Hugging Face's `clean_up_tokenization`: the same replacements, in the same order.
fn clean_up(out: &mut [u8], mut len: usize) -> usize {
    const RULES: [(&[u8], &[u8]); 10] = [
        (b" .", b"."),
        (b" ?", b"?"),
        (b" !", b"!"),
        (b" ,", b","),
        (b" ' ", b"'"),
        (b" n't", b"n't"),
        (b" 'm", b"'m"),
        (b" 's", b"'s"),
        (b" 've", b"'ve"),
        (b" 're", b"'re"),
    ];
    for (from, to) in RULES {
        let (mut r, mut w) = (0, 0);
        while r < len {
            if out[r..len].starts_with(from) {
                out[w..w + to.len()].copy_from_slice(to);
                r += from.len();
                w += to.len();
            } else {
                out[w] = out[r];
                r += 1;
                w += 1;
            }
        }
        len = w;
    }
    len
}

#[cfg(all(test, feature = "alloc"))]
mod tests;
