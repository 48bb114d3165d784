//! One loaded model file: the validated GGUF, the model's weights, its tokenizer and its
//! generation defaults, all borrowing the file's bytes. This is what firmware and hosts use.
// Bytes from a file or a user: no index may panic (clippy enforces it; tests may index).
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use crate::decode::{self, Hypothesis, Options, Special};
use crate::error::{Error, Result};
use crate::gguf::{Gguf, Value};
use crate::kernels::Kernels;
use crate::model::{keys, Seq2Seq, Transformer};
use crate::pipeline::{OverLong, Part, Parts, Sources};
use crate::plan::{Carver, Limits, Sizer};
use crate::stream::TextStream;
use crate::tokenizer::Tokenizer;

/// Source and target tokens planned for when neither the caller nor the file says (hosts and
/// firmware alike).
pub const DEFAULT_MAX_TOKENS: usize = 256;

/// What a caller asks of a plan; `None` takes the file's default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Wanted {
    /// Beam size (default: the model's `num_beams`).
    pub beam: Option<usize>,
    /// Most source tokens, EOS included (default: the file's `tern.max_source_tokens`, else
    /// [`DEFAULT_MAX_TOKENS`]).
    pub max_src: Option<usize>,
    /// Most target tokens, EOS included (default: `max_length_factor` times `max_src` where the
    /// file has one, else the file's `max_length` less the start token, at most
    /// [`DEFAULT_MAX_TOKENS`]).
    pub max_tgt: Option<usize>,
    /// Sentences decoded together (greedy only; default 1).
    pub batch: Option<usize>,
}

/// Most suppressed token ids a file may list.
pub const MAX_SUPPRESS: usize = 8;

/// Generation defaults stored in the file (from the checkpoint's generation config).
#[derive(Debug, Clone, PartialEq)]
pub struct Defaults {
    pub num_beams: usize,
    pub max_length: usize,
    pub length_penalty: f32,
    pub early_stopping: bool,
    /// Marian's `max-length-factor`: at most `ceil(factor * source tokens)` target tokens.
    pub max_length_factor: Option<f32>,
    /// Translate multi-sentence text one sentence at a time ([`crate::text`]), as Bergamot does.
    pub split_sentences: bool,
    /// The source length to plan for unless the caller says otherwise (Bergamot's
    /// `max-length-break`).
    pub max_source_tokens: Option<usize>,
    /// HF `min_length` (decoder positions, the start token included; 0: none).
    pub min_length: usize,
    /// HF `no_repeat_ngram_size` (0: off).
    pub no_repeat_ngram_size: usize,
}

impl Defaults {
    /// `min_length` as generated tokens before EOS may come: HF counts the start token.
    pub fn min_len(&self) -> usize {
        self.min_length.saturating_sub(1)
    }
}

/// The languages of one request, as token ids: the source-language token put before the
/// source (NLLB, M2M100) and the target-language token forced as the first output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Languages {
    pub source: Option<u32>,
    pub target: Option<u32>,
}

/// A loaded model, ready to translate.
pub struct Engine<'a> {
    pub gguf: Gguf<'a>,
    pub model: Transformer<'a>,
    pub tokenizer: Tokenizer<'a>,
    pub special: Special,
    pub defaults: Defaults,
    /// The languages a request gets unless it names others (the file's defaults).
    pub languages: Languages,
}

/// Result of [`Engine::translate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Translation {
    /// Bytes of UTF-8 text written.
    pub text_len: usize,
    /// Source tokens of every source translated (EOS included).
    pub src_tokens: usize,
    /// Target tokens generated (EOS included).
    pub tgt_tokens: usize,
    /// Sources translated: sentences, or pieces of over-long ones.
    pub sources: usize,
    /// A sentence was longer than the plan and was cut.
    pub cut: bool,
}

impl<'a> Engine<'a> {
    /// Validates the file and resolves everything the forward pass needs.
    pub fn load(bytes: &'a [u8], kernels: Kernels) -> Result<Self> {
        let gguf = Gguf::parse(bytes)?;
        let model = Transformer::from_gguf(&gguf, kernels)?;
        let tokenizer = Tokenizer::from_gguf(&gguf)?;
        let vocab = model.vocab_size();
        if tokenizer.vocab_size() != vocab
            || tokenizer.source_vocab_size() != model.spec.source_vocab_size
        {
            return Err(Error::BadTokenizer(
                "tokenizer and model vocabulary sizes differ",
            ));
        }
        let id = |k: &'static str| -> Result<u32> {
            let v = gguf.u32(k)?;
            if v as usize >= vocab {
                return Err(Error::BadHyperparameter(k));
            }
            Ok(v)
        };
        let mut suppress = None;
        if let Some(Value::Array(a)) = gguf.get("generation.suppress_token_ids") {
            if a.len() > 1 {
                return Err(Error::BadHyperparameter("generation.suppress_token_ids"));
            }
            if let Some(v) = a.iter().next().and_then(|v| v.as_u64()) {
                if v as usize >= vocab {
                    return Err(Error::BadHyperparameter("generation.suppress_token_ids"));
                }
                suppress = Some(v as u32);
            }
        }
        let special = Special {
            decoder_start: id("generation.decoder_start_token_id")?,
            eos: id("generation.eos_token_id")?,
            suppress,
            forced_eos: gguf.bool_or("generation.forced_eos", false)?,
            forced_first: match gguf.get(keys::FORCED_FIRST) {
                Some(_) => Some(id(keys::FORCED_FIRST)?),
                None => None,
            },
        };
        let defaults = Defaults {
            num_beams: gguf.u32_or("generation.num_beams", 1)?.max(1) as usize,
            max_length: gguf.u32_or("generation.max_length", DEFAULT_MAX_TOKENS as u32 + 1)?
                as usize,
            length_penalty: gguf.f32_or("generation.length_penalty", 1.0)?,
            early_stopping: gguf.bool_or("generation.early_stopping", false)?,
            max_length_factor: match gguf.get("generation.max_length_factor") {
                None => None,
                Some(_) => Some(gguf.f32("generation.max_length_factor")?)
                    .filter(|f| f.is_finite() && *f > 0.0),
            },
            split_sentences: gguf.bool_or("tern.split_sentences", false)?,
            max_source_tokens: match gguf.get("tern.max_source_tokens") {
                None => None,
                Some(_) => Some(gguf.u32("tern.max_source_tokens")? as usize).filter(|&n| n >= 2),
            },
            min_length: gguf.u32_or(keys::MIN_LENGTH, 0)? as usize,
            no_repeat_ngram_size: gguf.u32_or(keys::NO_REPEAT_NGRAM, 0)? as usize,
        };
        let mut engine = Engine {
            gguf,
            model,
            tokenizer,
            special,
            defaults,
            languages: Languages::default(),
        };
        let code = |key: &'static str| match engine.gguf.get(key) {
            Some(_) => engine.gguf.str(key).map(Some),
            None => Ok(None),
        };
        let (source, target) = (code(keys::SOURCE_LANG)?, code(keys::TARGET_LANG)?);
        engine.languages = engine.languages(source, target)?;
        Ok(engine)
    }

    /// Whether the model is multilingual: it takes language codes.
    pub fn is_multilingual(&self) -> bool {
        self.tokenizer.languages().next().is_some()
    }

    /// Resolves language codes (as the model's tokenizer spells them: `en`, `eng_Latn`) to the
    /// ids of a request; `None` keeps the file's default for that side. A model without language
    /// codes takes none.
    pub fn languages(&self, source: Option<&str>, target: Option<&str>) -> Result<Languages> {
        let id = |code: Option<&str>, default: Option<u32>| match code {
            None => Ok(default),
            Some(c) => self
                .tokenizer
                .language_id(c)
                .map(Some)
                .ok_or(Error::UnknownLanguage),
        };
        Ok(Languages {
            source: id(source, self.languages.source)?,
            target: id(target, self.languages.target)?,
        })
    }

    /// Workspace bytes for [`translate`](Self::translate) with these limits and inputs of at most
    /// `max_text_bytes` bytes of UTF-8.
    pub fn workspace_bytes(&self, limits: &Limits, max_text_bytes: usize) -> usize {
        let mut s = Sizer::default();
        s.add::<u32>(limits.max_src).add::<u32>(limits.max_tgt);
        s.add::<u32>(self.ids_capacity(limits, max_text_bytes));
        s.add::<u8>(self.tokenizer.encode_scratch_bytes(max_text_bytes));
        decode::workspace_bytes(&self.model, limits) + s.bytes()
    }

    /// The plan for what the caller wants, the file's defaults for the rest: the one limits
    /// policy (hosts call this; firmware sizes its limits at build time and calls
    /// [`options`](Self::options)).
    pub fn plan(&self, wanted: &Wanted) -> (Limits, Options) {
        let d = &self.defaults;
        let max_pos = self.model.max_positions();
        let beam = wanted.beam.unwrap_or(d.num_beams).max(1);
        let max_src = wanted
            .max_src
            .or(d.max_source_tokens)
            .unwrap_or(DEFAULT_MAX_TOKENS)
            .clamp(1, max_pos);
        // Marian models stop at `max_length_factor` times the source length: plan for that.
        let default_tgt = match d.max_length_factor {
            Some(f) => libm::ceilf(f * max_src as f32) as usize,
            None => DEFAULT_MAX_TOKENS.min(d.max_length.saturating_sub(1).max(1)),
        };
        let max_tgt = wanted.max_tgt.unwrap_or(default_tgt).clamp(1, max_pos);
        let batch = match beam {
            1 => wanted.batch.unwrap_or(1).clamp(1, crate::plan::MAX_BATCH),
            _ => 1,
        };
        let limits = Limits {
            max_src,
            max_tgt,
            beam,
            batch,
        };
        let opts = Options {
            beam,
            max_len: max_tgt,
            length_penalty: d.length_penalty,
            early_stopping: d.early_stopping,
            min_len: d.min_len(),
            no_repeat_ngram: d.no_repeat_ngram_size,
        };
        (limits, opts)
    }

    /// Search options from the file's defaults within `limits` (capacities chosen elsewhere, as
    /// a firmware's build does).
    pub fn options(&self, limits: &Limits) -> Options {
        Options {
            beam: self.defaults.num_beams.min(limits.beam),
            max_len: self
                .defaults
                .max_length
                .saturating_sub(1)
                .clamp(1, limits.max_tgt),
            length_penalty: self.defaults.length_penalty,
            early_stopping: self.defaults.early_stopping,
            min_len: self.defaults.min_len(),
            no_repeat_ngram: self.defaults.no_repeat_ngram_size,
        }
    }

    /// `opts` for a sentence of `src_len` tokens: Marian models cap the output at
    /// `ceil(max_length_factor * src_len)` tokens.
    pub fn options_for(&self, opts: &Options, src_len: usize) -> Options {
        let mut o = *opts;
        if let Some(f) = self.defaults.max_length_factor {
            let cap = libm::ceilf(f * src_len as f32) as usize;
            o.max_len = o.max_len.min(cap.max(1));
        }
        o
    }

    /// Checks a request names every language the model needs: both, for a multilingual model.
    pub fn check_languages(&self, langs: &Languages) -> Result<()> {
        if self.is_multilingual() {
            langs.source.ok_or(Error::MissingLanguage("source"))?;
            langs.target.ok_or(Error::MissingLanguage("target"))?;
        }
        Ok(())
    }

    /// The special tokens of a request to `langs`: the target language is forced first.
    pub fn special_for(&self, langs: &Languages) -> Result<Special> {
        let mut special = self.special;
        // The source language is in the source ids already ([`Engine::encode`] asks for it).
        if self.is_multilingual() {
            special.forced_first = Some(langs.target.ok_or(Error::MissingLanguage("target"))?);
        }
        Ok(special)
    }

    /// Generates target ids for source ids (EOS included, the source-language token first where
    /// the model has one) into `out`, in the engine's default languages.
    pub fn generate(
        &self,
        ws: &mut [u8],
        limits: &Limits,
        opts: &Options,
        src: &[u32],
        out: &mut [u32],
    ) -> Result<Hypothesis> {
        self.generate_to(ws, limits, opts, &self.languages, src, out)
    }

    /// [`generate`](Self::generate) into the target language of `langs`.
    pub fn generate_to(
        &self,
        ws: &mut [u8],
        limits: &Limits,
        opts: &Options,
        langs: &Languages,
        src: &[u32],
        out: &mut [u32],
    ) -> Result<Hypothesis> {
        let special = self.special_for(langs)?;
        decode::generate(&self.model, ws, limits, src, &special, opts, out)
    }

    /// [`generate_to`](Self::generate_to) that hands out the translation's text while it is
    /// decoded ([`TextStream`]: greedy after each word, beam search when it ends). `text` is
    /// the stream's buffer ([`TextStream::bytes_for`] the longest text); returns the hypothesis
    /// and whether the pieces concatenate to its text (see [`TextStream::finish`]).
    #[allow(clippy::too_many_arguments)]
    pub fn generate_stream(
        &self,
        ws: &mut [u8],
        limits: &Limits,
        opts: &Options,
        langs: &Languages,
        src: &[u32],
        out: &mut [u32],
        text: &mut [u8],
        on_piece: &mut dyn FnMut(&str),
    ) -> Result<(Hypothesis, bool)> {
        let special = self.special_for(langs)?;
        let mut stream = TextStream::new(text);
        let tokenizer = &self.tokenizer;
        let hyp = decode::generate_observed(
            &self.model,
            ws,
            limits,
            src,
            &special,
            opts,
            out,
            &mut |ids| stream.update(tokenizer, ids, on_piece),
        )?;
        let ids = out.get(..hyp.len).unwrap_or_default();
        let whole = stream.finish(tokenizer, ids, on_piece)?;
        Ok((hyp, whole))
    }

    /// The attention weights behind `output`, the translation of `src` into `langs` (see
    /// [`Transformer::attention`](crate::model::Transformer::attention)): cross-attention into
    /// `cross`, and encoder self-attention into `encoder` when given.
    #[allow(clippy::too_many_arguments)]
    pub fn attention(
        &self,
        ws: &mut [u8],
        limits: &Limits,
        langs: &Languages,
        src: &[u32],
        output: &[u32],
        cross: &mut [f32],
        encoder: Option<&mut [f32]>,
    ) -> Result<()> {
        let start = self.special_for(langs)?.decoder_start;
        self.model
            .attention(ws, limits, src, (start, output), cross, encoder)
    }

    /// Greedy decoding of several sentences together (see [`decode::generate_batch`]):
    /// sentence `i`'s ids go to `out[i * opts.max_len..]`, its length to `hyps[i]`, and it stops
    /// at `max_len_of(i)` tokens (its own cap: what [`generate`](Self::generate) is given for
    /// it alone, e.g. [`options_for`](Self::options_for) its source).
    #[allow(clippy::too_many_arguments)]
    pub fn generate_batch(
        &self,
        ws: &mut [u8],
        limits: &Limits,
        (opts, max_len_of): (&Options, &dyn Fn(usize) -> usize),
        langs: &Languages,
        srcs: &[&[u32]],
        out: &mut [u32],
        hyps: &mut [Hypothesis],
    ) -> Result<()> {
        decode::generate_batch(
            &self.model,
            ws,
            limits,
            srcs,
            &self.special_for(langs)?,
            (opts, max_len_of),
            out,
            hyps,
        )
    }

    /// Ids a sentence of `max_text_bytes` may encode to: all of them, so an over-long one can be
    /// translated in pieces.
    fn ids_capacity(&self, limits: &Limits, max_text_bytes: usize) -> usize {
        self.tokenizer
            .max_tokens(max_text_bytes)
            .max(limits.max_src)
    }

    /// Encodes one sentence into `ids` (at least `max_tokens(text.len())` of them, or
    /// `limits.max_src` when over-long input is not translated in pieces) and says which
    /// sources it becomes ([`crate::pipeline`]). Blank text has none.
    pub fn sources(
        &self,
        langs: &Languages,
        limits: &Limits,
        over: OverLong,
        text: &str,
        scratch: &mut [u8],
        ids: &mut [u32],
    ) -> Result<Sources> {
        // Pieces of a source end as the whole source does (the source vocabulary's EOS).
        let eos = self.tokenizer.source_eos_id();
        if text.trim().is_empty() {
            return Ok(Sources::none(eos));
        }
        let n = self.encode(langs, text, scratch, ids)?;
        let prefix = usize::from(self.is_multilingual());
        let sources = Sources::plan(
            n,
            prefix,
            eos,
            limits.max_src,
            self.defaults.split_sentences,
            over,
        )?;
        if sources.count > 1 && n > ids.len() {
            return Err(Error::OutputTooSmall { needed: n * 4 });
        }
        Ok(sources)
    }

    /// Translates a line of `text` into `out` (UTF-8), in the engine's default languages, as
    /// [`crate::pipeline`] says: models that split sentences translate each on its own (and
    /// over-long ones in pieces); elsewhere an over-long sentence is cut to `limits.max_src`
    /// tokens (`Translation::cut`).
    pub fn translate(
        &self,
        ws: &mut [u8],
        limits: &Limits,
        opts: &Options,
        text: &str,
        out: &mut [u8],
    ) -> Result<Translation> {
        self.translate_to(ws, limits, opts, &self.languages, text, out)
    }

    /// Source ids of `text` into `src`: the source-language token where the model has one, the
    /// pieces, EOS. Returns how many there are in all (more than `src.len()`: it did not fit).
    pub fn encode(
        &self,
        langs: &Languages,
        text: &str,
        scratch: &mut [u8],
        src: &mut [u32],
    ) -> Result<usize> {
        match (self.is_multilingual(), langs.source) {
            (true, None) => Err(Error::MissingLanguage("source")),
            (false, _) => self.tokenizer.encode(text, scratch, src),
            (true, prefix) => self
                .tokenizer
                .encode_with_prefix(text, prefix, scratch, src),
        }
    }

    /// [`translate`](Self::translate) between the languages of `langs`.
    pub fn translate_to(
        &self,
        ws: &mut [u8],
        limits: &Limits,
        opts: &Options,
        langs: &Languages,
        text: &str,
        out: &mut [u8],
    ) -> Result<Translation> {
        let need = self.workspace_bytes(limits, text.len());
        if ws.len() < need {
            return Err(Error::WorkspaceTooSmall {
                needed: need,
                given: ws.len(),
            });
        }
        let (ws, rest) = ws.split_at_mut(decode::workspace_bytes(&self.model, limits));
        let mut c = Carver::new(rest);
        let src = c.take::<u32>(limits.max_src)?;
        let tgt = c.take::<u32>(limits.max_tgt)?;
        let ids = c.take::<u32>(self.ids_capacity(limits, text.len()))?;
        let scratch = c.take::<u8>(self.tokenizer.encode_scratch_bytes(text.len()))?;
        let mut w = 0;
        let mut done = Translation {
            text_len: 0,
            src_tokens: 0,
            tgt_tokens: 0,
            sources: 0,
            cut: false,
        };
        for part in Parts::new(text, self.defaults.split_sentences) {
            let range = match part {
                Part::Text(r) => {
                    push(out, &mut w, text.get(r).unwrap_or("").as_bytes())?;
                    continue;
                }
                Part::Sentence(r) => r,
            };
            let sentence = text.get(range).unwrap_or("");
            let sources = self.sources(langs, limits, OverLong::Cut, sentence, scratch, ids)?;
            done.cut |= sources.cut;
            let mut first = true;
            for k in 0..sources.count {
                let n = sources.write(ids, k, src)?;
                let src = src.get(..n).ok_or(Error::BadLimit("max_src"))?;
                let hyp =
                    self.generate_to(ws, limits, &self.options_for(opts, n), langs, src, tgt)?;
                let got = tgt.get(..hyp.len).ok_or(Error::BadLimit("max_tgt"))?;
                // Pieces of one sentence are joined by a space (none around an empty one).
                let at = w;
                if !first {
                    push(out, &mut w, b" ")?;
                }
                let len = self.tokenizer.decode(
                    got,
                    out.get_mut(w..)
                        .ok_or(Error::OutputTooSmall { needed: w })?,
                )?;
                if len == 0 {
                    w = at;
                } else {
                    w += len;
                    first = false;
                }
                done.src_tokens += n;
                done.tgt_tokens += hyp.len;
                done.sources += 1;
            }
        }
        done.text_len = w;
        Ok(done)
    }
}

/// Appends `bytes` to `out` at `*w`.
fn push(out: &mut [u8], w: &mut usize, bytes: &[u8]) -> Result<()> {
    let dst = out
        .get_mut(*w..*w + bytes.len())
        .ok_or(Error::OutputTooSmall {
            needed: *w + bytes.len(),
        })?;
    dst.copy_from_slice(bytes);
    *w += bytes.len();
    Ok(())
}
