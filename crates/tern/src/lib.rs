//! tern on a host: open a GGUF model (memory-mapped, zero-copy) and translate.
//!
//! ```no_run
//! let translator = tern::Translator::open("model.gguf")?;
//! println!("{}", translator.translate("Hello world.")?);
//! let out = translator.translate_batch(&["One.", "Two."], 2);
//! # Ok::<(), tern::Error>(())
//! ```
//!
//! A runnable version is `examples/translate.rs` (`cargo run -p tern --example translate --
//! model.gguf "Hello world."`; `cargo xtask demo` runs it).
//!
//! A [`Translator`] is shared between threads; each thread translates through its own
//! [`Session`], which owns one workspace sized by the memory plan and reuses it for every
//! sentence (nothing is allocated while decoding).

pub mod attention;
pub mod heatmap;
pub mod inspect;
pub mod markup;
pub mod pool;

use attention::Attention;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use tern_core::decode::{Hypothesis, Options};
use tern_core::engine::{Engine, Languages, Wanted};
use tern_core::kernels::Kernels;
use tern_core::pipeline::{OverLong, Part as CorePart, Parts};
use tern_core::plan::Limits;

pub use tern_core;

/// Errors of the host API.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Model(#[from] tern_core::Error),
    #[error("input has {tokens} tokens, more than the limit of {max} (raise --max-src-len or allow truncation)")]
    TooLong { tokens: usize, max: usize },
    #[error("{0}")]
    BadSetting(BadSetting),
    #[error("{0}")]
    Markup(markup::MarkupError),
    #[error("unknown {side} language {code:?}; this model's language codes are: {known}")]
    UnknownLanguage {
        side: &'static str,
        code: String,
        known: String,
    },
}

/// The model file's bytes: a read-only memory map, or an aligned copy.
enum Bytes {
    Mmap(memmap2::Mmap),
    Owned(Vec<u64>),
    OwnedLen(Vec<u64>, usize),
}

impl Bytes {
    fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Mmap(m) => m,
            Bytes::Owned(v) => bytemuck_bytes(v),
            Bytes::OwnedLen(v, n) => &bytemuck_bytes(v)[..*n],
        }
    }
}

fn bytemuck_bytes(v: &[u64]) -> &[u8] {
    tern_core::plan::as_bytes(v)
}

self_cell::self_cell!(
    struct Loaded {
        owner: Bytes,
        #[covariant]
        dependent: Engine,
    }
);

/// Limits and search settings; `None` takes the model file's default.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Beam size (default: the model's `num_beams`).
    pub beam: Option<usize>,
    /// Most target tokens, EOS included (default: 256, capped by the model).
    pub max_len: Option<usize>,
    /// Most source tokens, EOS included (default: 256, capped by the model).
    pub max_src_len: Option<usize>,
    /// Cut over-long inputs to `max_src_len` tokens instead of failing.
    pub truncate: bool,
    /// Sentences decoded together (greedy only; default 1). With more than one,
    /// [`Translator::translate_batch`] sorts sentences by length and decodes them in batches
    /// that read each weight once per step. The output is the same as one at a time; the
    /// workspace grows with it (`tern inspect --batch`).
    pub batch: Option<usize>,
    /// Source and target language codes of multilingual models (NLLB: `eng_Latn`; M2M100:
    /// `en`), as the model's tokenizer spells them; default: the file's.
    pub source_lang: Option<String>,
    pub target_lang: Option<String>,
    /// Threads for each sentence (default 1): a session keeps this many (its own thread
    /// included) and splits the int8 products and the larger attentions of each sentence over
    /// them ([`pool`]). The output is the same as with one. Products of f32 and f16 models stay
    /// on one thread.
    pub intra_threads: Option<usize>,
}

/// A numeric setting's valid values. The CLI's argument parser, the C API and the Python
/// package check with these, so each says the same thing about the same mistake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub name: &'static str,
    pub min: usize,
    pub max: usize,
}

/// Beam size: 1 (greedy) to the core's [`MAX_BEAM`](tern_core::plan::MAX_BEAM).
pub const BEAM: Range = Range {
    name: "beam",
    min: 1,
    max: tern_core::plan::MAX_BEAM,
};
/// Sentences decoded together.
pub const BATCH: Range = Range {
    name: "batch",
    min: 1,
    max: tern_core::plan::MAX_BATCH,
};
/// Target tokens (values above the model's positions are capped to them).
pub const MAX_LEN: Range = Range {
    name: "max_len",
    min: 1,
    max: 1 << 20,
};
/// Source tokens (values above the model's positions are capped to them).
pub const MAX_SRC_LEN: Range = Range {
    name: "max_src_len",
    min: 1,
    max: 1 << 20,
};
/// Threads sentences are spread over.
pub const THREADS: Range = Range {
    name: "threads",
    min: 1,
    max: 1024,
};
/// Threads for each sentence.
pub const INTRA_THREADS: Range = Range {
    name: "intra_threads",
    min: 1,
    max: 256,
};

/// A setting outside its [`Range`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadSetting {
    pub range: Range,
    pub value: usize,
}

impl std::fmt::Display for BadSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Range { name, min, max } = self.range;
        write!(
            f,
            "{name} must be between {min} and {max}, not {}",
            self.value
        )
    }
}

impl Range {
    /// Parses a command-line value of this setting (clap's `value_parser`).
    pub fn parse(&self, text: &str) -> Result<usize, String> {
        let value = text.trim().parse().map_err(|_| {
            format!(
                "{} must be a whole number between {} and {}",
                self.name, self.min, self.max
            )
        })?;
        self.check(value).map(|_| value).map_err(|e| e.to_string())
    }

    /// `value` if it is in the range, else the error every surface reports.
    pub fn check(&self, value: usize) -> Result<usize, Error> {
        if (self.min..=self.max).contains(&value) {
            Ok(value)
        } else {
            Err(Error::BadSetting(BadSetting {
                range: *self,
                value,
            }))
        }
    }
}

impl Settings {
    /// Checks every numeric setting against its [`Range`] (language codes are checked against
    /// the model by [`Translator::languages`]).
    pub fn validate(&self) -> Result<(), Error> {
        for (range, value) in [
            (BEAM, self.beam),
            (BATCH, self.batch),
            (MAX_LEN, self.max_len),
            (MAX_SRC_LEN, self.max_src_len),
            (INTRA_THREADS, self.intra_threads),
        ] {
            if let Some(v) = value {
                range.check(v)?;
            }
        }
        Ok(())
    }
}

/// The kernel table `TERN_KERNELS=scalar|avx2|avx512vnni|...` names (benchmarks, comparisons),
/// else the best this machine runs.
pub fn env_kernels() -> Kernels {
    std::env::var("TERN_KERNELS")
        .ok()
        .and_then(|n| Kernels::named(&n))
        .unwrap_or_else(Kernels::best)
}

/// Default token limits when the caller gives none.
pub use tern_core::engine::DEFAULT_MAX_TOKENS as DEFAULT_MAX_LEN;

/// A loaded model, shareable between threads.
pub struct Translator {
    loaded: Loaded,
    settings: Settings,
}

/// A unit of lines a thread of `translate_batch` translated: its index and the lines' results.
type UnitResults = (usize, Vec<Result<Output, Error>>);

/// One translated line.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub text: String,
    /// The input was cut to the source limit.
    pub truncated: bool,
}

impl Translator {
    /// Memory-maps and validates a model file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let io = |source| Error::Io {
            path: path.display().to_string(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        if file.metadata().map_err(io)?.is_dir() {
            return Err(io(std::io::Error::new(
                std::io::ErrorKind::IsADirectory,
                "is a directory, not a model file (give the .gguf file convert wrote)",
            )));
        }
        // SAFETY: the map is read-only; tern-core validates every byte it uses, so a file that
        // changes underneath can give wrong output but not undefined behaviour in safe code
        // reading `&[u8]`. (Truncating a mapped file can still raise SIGBUS, as for any mmap.)
        let mmap = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        // Ask for 2 MiB pages: a decoder step streams all its weights (440 MB for NLLB-600M),
        // and with 4 KiB pages the reads wait on the TLB. Advice only: where the kernel or the
        // file system has no large page-cache pages, or the file is already cached in small
        // ones, the map keeps small pages (`docs/speed.md`, "Huge pages").
        #[cfg(target_os = "linux")]
        let _ = mmap.advise(memmap2::Advice::HugePage);
        Self::from_owner(Bytes::Mmap(mmap), env_kernels())
    }

    /// Loads a model from bytes in memory (copied into an aligned buffer).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let mut v = vec![0u64; bytes.len().div_ceil(8)];
        tern_core::plan::as_bytes_mut(&mut v)[..bytes.len()].copy_from_slice(bytes);
        Self::from_words(v, bytes.len(), env_kernels())
    }

    /// Loads a model the caller already copied into 8-byte words (its first `len` bytes), with
    /// a given kernel table: WebAssembly copies a JavaScript buffer straight in (one copy of
    /// the model, not two) and has no environment to read `TERN_KERNELS` from.
    pub fn from_words(words: Vec<u64>, len: usize, kernels: Kernels) -> Result<Self, Error> {
        if len > words.len() * 8 {
            return Err(Error::Model(tern_core::Error::Truncated {
                at: words.len() * 8,
                what: "model bytes",
            }));
        }
        if len == words.len() * 8 {
            Self::from_owner(Bytes::Owned(words), kernels)
        } else {
            Self::from_owner(Bytes::OwnedLen(words, len), kernels)
        }
    }

    fn from_owner(bytes: Bytes, kernels: Kernels) -> Result<Self, Error> {
        // Products find a session's threads, if it has some, through the table.
        let kernels = Kernels {
            fan_out: pool::fan_out,
            ..kernels
        };
        let loaded = Loaded::try_new(bytes, |b| {
            let mut e = Engine::load(b.as_slice(), kernels)?;
            // A host has the memory: shortlisted steps read their rows side by side.
            e.model.copy_candidate_rows(tern_core::model::COPIED_ROWS);
            Ok::<_, tern_core::error::Error>(e)
        })?;
        Ok(Translator {
            loaded,
            settings: Settings::default(),
        })
    }

    /// Replaces the settings (limits, beam) used by new sessions.
    pub fn with_settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }

    /// The loaded engine (model, tokenizer, defaults).
    pub fn engine(&self) -> &Engine<'_> {
        self.loaded.borrow_dependent()
    }

    /// Checks every byte of the file against its CRC-32 (`tern.checksum`): `Ok(true)` if it
    /// matches, `Ok(false)` if the file has no checksum (written by an older `convert`), an
    /// error naming both values if the file is damaged. Loading checks structure, not this.
    pub fn verify(&self) -> Result<bool, Error> {
        Ok(self.engine().gguf.verify()?)
    }

    /// The file's bytes.
    pub fn bytes(&self) -> &[u8] {
        self.loaded.borrow_owner().as_slice()
    }

    /// Limits and search options these settings resolve to ([`Engine::plan`]: the core's one
    /// limits policy).
    pub fn plan(&self) -> (Limits, Options) {
        self.plan_for(&self.settings)
    }

    /// Limits and search options of other settings for this model.
    pub fn plan_for(&self, s: &Settings) -> (Limits, Options) {
        self.engine().plan(&Wanted {
            beam: s.beam,
            max_src: s.max_src_len,
            max_tgt: s.max_len,
            batch: s.batch,
        })
    }

    /// The languages the settings name, as token ids; an unknown code is an error listing the
    /// model's codes.
    pub fn languages(&self) -> Result<Languages, Error> {
        self.languages_for(&self.settings)
    }

    /// The languages other settings name (see [`languages`](Self::languages)).
    pub fn languages_for(&self, s: &Settings) -> Result<Languages, Error> {
        let e = self.engine();
        let check = |side, code: &Option<String>| match code {
            Some(c) if e.tokenizer.language_id(c).is_none() => Err(Error::UnknownLanguage {
                side,
                code: c.clone(),
                known: language_list(e),
            }),
            _ => Ok(()),
        };
        check("source", &s.source_lang)?;
        check("target", &s.target_lang)?;
        Ok(e.languages(s.source_lang.as_deref(), s.target_lang.as_deref())?)
    }

    /// A session: one workspace for translating sentence after sentence.
    pub fn session(&self) -> Session<'_> {
        self.session_with(self.settings.clone())
    }

    /// A session with its own settings: one loaded model serves callers with different beams,
    /// limits or languages.
    pub fn session_with(&self, settings: Settings) -> Session<'_> {
        let (limits, opts) = self.plan_for(&settings);
        let threads = settings.intra_threads.unwrap_or(1);
        Session {
            t: self,
            pool: (threads > 1).then(|| pool::Pool::new(threads)),
            langs: self.languages_for(&settings),
            settings,
            limits,
            opts,
            ws: Vec::new(),
            scratch: Vec::new(),
            ids: Vec::new(),
            tgt: Vec::new(),
            out: Vec::new(),
            stream: Vec::new(),
            hyps: Vec::new(),
        }
    }

    /// Translates one sentence.
    pub fn translate(&self, text: &str) -> Result<String, Error> {
        Ok(self.session().translate(text)?.text)
    }

    /// Translates one line, handing its text to `on_piece` as it is decoded (see
    /// [`Session::translate_stream`]).
    pub fn translate_stream(
        &self,
        text: &str,
        mut on_piece: impl FnMut(&str),
    ) -> Result<String, Error> {
        Ok(self.session().translate_stream(text, &mut on_piece)?.text)
    }

    /// Translates many lines on `threads` threads, each with its own session; results keep
    /// the input order. Threads take lines one at a time; with a batch size above 1 (see
    /// [`Settings::batch`]), each takes a contiguous share of the lines instead and decodes
    /// their sentences in batches.
    pub fn translate_batch<S: AsRef<str> + Sync>(
        &self,
        lines: &[S],
        threads: usize,
    ) -> Vec<Result<Output, Error>> {
        self.translate_batch_with(&self.settings, lines, threads)
    }

    /// [`translate_batch`](Self::translate_batch) with other settings.
    pub fn translate_batch_with<S: AsRef<str> + Sync>(
        &self,
        settings: &Settings,
        lines: &[S],
        threads: usize,
    ) -> Vec<Result<Output, Error>> {
        let batched = self.plan_for(settings).0.batch > 1;
        let unit = if batched {
            lines.len().div_ceil(threads.max(1)).max(1)
        } else {
            1
        };
        let units: Vec<&[S]> = lines.chunks(unit).collect();
        let next = AtomicUsize::new(0);
        let threads = threads.clamp(1, units.len().max(1));
        // Per thread: the units it translated, each (index, its lines' results).
        let mut parts: Vec<Vec<UnitResults>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        let mut session = self.session_with(settings.clone());
                        let mut done = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(unit) = units.get(i) else { break };
                            let out = if batched {
                                session.translate_many(unit)
                            } else {
                                unit.iter().map(|l| session.translate(l.as_ref())).collect()
                            };
                            done.push((i, out));
                        }
                        done
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_default())
                .collect()
        });
        let mut out: Vec<Option<Vec<Result<Output, Error>>>> = units.iter().map(|_| None).collect();
        for (i, r) in parts.iter_mut().flat_map(std::mem::take) {
            out[i] = Some(r);
        }
        out.into_iter()
            .zip(&units)
            .flat_map(|(r, unit)| {
                r.unwrap_or_else(|| {
                    unit.iter()
                        .map(|_| {
                            Err(Error::Model(tern_core::Error::BadLimit(
                                "worker thread failed",
                            )))
                        })
                        .collect()
                })
            })
            .collect()
    }
}

/// Translates sentence after sentence in one reusable workspace.
pub struct Session<'t> {
    t: &'t Translator,
    /// The sentence's threads ([`Settings::intra_threads`]).
    pool: Option<pool::Pool>,
    settings: Settings,
    /// The request's languages (an unknown code fails every translation with its error).
    langs: Result<Languages, Error>,
    limits: Limits,
    opts: Options,
    ws: Vec<u8>,
    /// Tokenizer scratch (grows with the longest line).
    scratch: Vec<u8>,
    ids: Vec<u32>,
    tgt: Vec<u32>,
    out: Vec<u8>,
    /// The text stream's buffer (sized on first use).
    stream: Vec<u8>,
    hyps: Vec<Hypothesis>,
}

/// What one line becomes: literal text between sentences, and sentences, each translated from
/// one or more source pieces (joined by a space).
enum Part {
    Text(std::ops::Range<usize>),
    Sentence(std::ops::Range<usize>),
}

/// The pieces of a line to translate, and how to put their translations back together.
struct Plan {
    parts: Vec<Part>,
    truncated: bool,
}

impl Session<'_> {
    /// Limits of this session.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Translates one line. Empty or blank input gives empty output. Models that ask for it
    /// (Bergamot's) translate each sentence of the line on its own and keep the text between
    /// sentences, as Bergamot does.
    pub fn translate(&mut self, text: &str) -> Result<Output, Error> {
        let mut pieces = Vec::new();
        let plan = self.plan_line(text, &mut pieces)?;
        let texts = self.translate_pieces(&pieces)?;
        Ok(assemble(text, &plan, &texts))
    }

    /// [`translate`](Self::translate) that hands the text to `on_piece` while it is decoded:
    /// the text between sentences as it is, each sentence's translation word by word (greedy)
    /// or when its search ends (beam). The pieces concatenate to the returned text.
    pub fn translate_stream(
        &mut self,
        text: &str,
        on_piece: &mut dyn FnMut(&str),
    ) -> Result<Output, Error> {
        let mut pieces = Vec::new();
        let plan = self.plan_line(text, &mut pieces)?;
        let mut texts = vec![String::new(); pieces.len()];
        for part in &plan.parts {
            match part {
                Part::Text(r) if r.is_empty() => {}
                Part::Text(r) => on_piece(&text[r.clone()]),
                Part::Sentence(r) => {
                    // Pieces of one sentence are joined by a space, empty ones skipped (`join`).
                    let mut joined = false;
                    for k in r.clone() {
                        let mut space = joined;
                        let mut sink = |p: &str| {
                            if std::mem::take(&mut space) {
                                on_piece(" ");
                            }
                            on_piece(p);
                        };
                        texts[k] = self.translate_ids(&pieces[k], Some(&mut sink))?;
                        joined |= !texts[k].is_empty();
                    }
                }
            }
        }
        Ok(assemble(text, &plan, &texts))
    }

    /// [`translate`](Self::translate), and what each source sentence's translation attended
    /// to, in order ([`attention`]); with `encoder`, the encoder's self-attention too. The
    /// weights are those of the returned output (greedy or beam), computed by one more
    /// decoder pass over it.
    pub fn translate_attended(
        &mut self,
        text: &str,
        encoder: bool,
    ) -> Result<(Output, Vec<Attention>), Error> {
        let mut pieces = Vec::new();
        let plan = self.plan_line(text, &mut pieces)?;
        let mut texts = Vec::with_capacity(pieces.len());
        let mut maps = Vec::with_capacity(pieces.len());
        for src in &pieces {
            let len = self.generate_ids(src, None)?;
            let piece_text = self.detokenize(..len)?;
            let output = self.tgt[..len].to_vec();
            maps.push(self.attention(src, &output, encoder, piece_text.clone())?);
            texts.push(piece_text);
        }
        Ok((assemble(text, &plan, &texts), maps))
    }

    /// What the model attends to when `output` is the translation of `src` (ids, EOS
    /// included, as [`tern_core::engine::Engine::encode`] and the decoder give them): any
    /// output, the model's own or another's (forced alignment). `text` is kept as the
    /// translation's text.
    pub fn attention(
        &mut self,
        src: &[u32],
        output: &[u32],
        encoder: bool,
        text: String,
    ) -> Result<Attention, Error> {
        self.workspace();
        let e = self.t.engine();
        let langs = self.languages()?;
        let len = output.len();
        let sizes = e.model.attention_sizes(src.len(), len);
        let mut cross = vec![0f32; sizes.cross];
        let mut enc = encoder.then(|| vec![0f32; sizes.encoder]);
        pool::install(self.pool.as_ref(), || {
            e.attention(
                &mut self.ws,
                &self.limits,
                &langs,
                src,
                output,
                &mut cross,
                enc.as_deref_mut(),
            )
        })?;
        let spec = &e.model.spec;
        let weights = |stack: &tern_core::model::spec::Stack, rows, values| attention::Weights {
            layers: stack.layers,
            heads: stack.heads,
            rows,
            cols: src.len(),
            values,
        };
        let source = attention::pieces(e, src, true);
        let target = attention::pieces(e, output, false);
        let (src_eos, tgt_eos) = (e.tokenizer.source_eos_id(), e.tokenizer.eos_id());
        let lang_first = e.is_multilingual();
        Ok(Attention {
            source_words: attention::words(&source, |i| {
                src[i] == src_eos || (lang_first && i == 0)
            }),
            target_words: attention::words(&target, |i| {
                output[i] == tgt_eos || (lang_first && i == 0)
            }),
            source,
            target,
            text,
            cross: weights(&spec.decoder, len, cross),
            encoder: enc.map(|v| weights(&spec.encoder, src.len(), v)),
            aligned_head: attention::aligned_head(e),
        })
    }

    /// Translates an HTML fragment, keeping its markup on the translated words ([`markup`]):
    /// each block's text is translated as a line, and each translated piece is put in the
    /// elements of the source piece it is aligned to. A fragment that is not well-formed is
    /// an error ([`Error::Markup`]); the output always is.
    pub fn translate_html(&mut self, html: &str) -> Result<Output, Error> {
        let f = markup::parse(html).map_err(Error::Markup)?;
        let mut placed = Vec::new();
        let mut truncated = false;
        for block in f.blocks() {
            let text = &f.text[block.clone()];
            let mut pieces = Vec::new();
            let plan = self.plan_line(text, &mut pieces)?;
            truncated |= plan.truncated;
            // Where the next source's pieces are looked for in the fragment's text.
            let (mut from, end) = (block.start, block.end);
            for part in &plan.parts {
                let r = match part {
                    Part::Text(r) => {
                        let at = block.start + r.start;
                        placed.push(markup::Placed {
                            text: text[r.clone()].to_string(),
                            elements: f.elements_at(at).to_vec(),
                            source_at: at,
                        });
                        continue;
                    }
                    Part::Sentence(r) => r,
                };
                for (k, src) in pieces[r.clone()].iter().enumerate() {
                    let len = self.generate_ids(src, None)?;
                    let output = self.tgt[..len].to_vec();
                    let texts = self.piece_texts(len)?;
                    let a = self.attention(src, &output, false, String::new())?;
                    let ranges = markup::piece_ranges(&f.text, from, &a.source, |i| {
                        a.source_words[i].is_none()
                    });
                    let last = ranges.iter().flatten().map(|r| r.end).max();
                    let sentence_end = last.unwrap_or(from).min(end);
                    from = sentence_end;
                    let targets = markup::target_elements(&f, &a, &ranges, sentence_end);
                    if k > 0 && texts.iter().any(|t| !t.is_empty()) {
                        let elements = placed
                            .last()
                            .map_or(Vec::new(), |p: &markup::Placed| p.elements.clone());
                        placed.push(markup::Placed {
                            text: " ".into(),
                            elements,
                            source_at: sentence_end,
                        });
                    }
                    for (text, (elements, source_at)) in texts.into_iter().zip(targets) {
                        if !text.is_empty() {
                            placed.push(markup::Placed {
                                text,
                                elements,
                                source_at,
                            });
                        }
                    }
                }
            }
        }
        Ok(Output {
            text: markup::write(&f, &placed),
            truncated,
        })
    }

    /// The text of each of `self.tgt[..len]`'s pieces, which concatenate to their decoded
    /// text: what decoding one more piece adds (a piece that changes earlier text, such as a
    /// byte completing a character, takes that text over).
    fn piece_texts(&mut self, len: usize) -> Result<Vec<String>, Error> {
        let mut texts: Vec<String> = Vec::with_capacity(len);
        let mut prev = String::new();
        for t in 0..len {
            let now = self.detokenize(..t + 1)?;
            // The bytes `now` shares with `prev`, to a character boundary.
            let common = now
                .char_indices()
                .zip(prev.chars())
                .take_while(|((_, a), b)| a == b)
                .map(|((i, a), _)| i + a.len_utf8())
                .last()
                .unwrap_or(0);
            // Take back what earlier pieces said beyond the common part.
            let mut have = prev.len();
            while have > common {
                let Some(last) = texts.iter_mut().rev().find(|t| !t.is_empty()) else {
                    break;
                };
                let cut = (have - common).min(last.len());
                let keep = last.len() - cut;
                let keep = (0..=keep)
                    .rev()
                    .find(|&k| last.is_char_boundary(k))
                    .unwrap_or(0);
                have -= last.len() - keep;
                last.truncate(keep);
            }
            texts.push(now[have.min(now.len())..].to_string());
            prev = now;
        }
        Ok(texts)
    }

    /// Translates `text` as one sentence (no sentence splitting). Over-long input: see
    /// [`Session::translate`].
    pub fn translate_sentence(&mut self, text: &str) -> Result<Output, Error> {
        let mut pieces = Vec::new();
        let truncated = self.sentence_pieces(text, &mut pieces)?;
        let texts = self.translate_pieces(&pieces)?;
        Ok(Output {
            text: join(&texts),
            truncated,
        })
    }

    /// Translates lines with the batched decoder: every sentence of every line, sorted by
    /// length (as Bergamot does) and decoded `limits.batch` at a time. The result of each line
    /// is what [`translate`](Self::translate) gives.
    pub fn translate_many<S: AsRef<str>>(&mut self, lines: &[S]) -> Vec<Result<Output, Error>> {
        let mut pieces = Vec::new();
        let plans: Vec<Result<Plan, Error>> = lines
            .iter()
            .map(|l| self.plan_line(l.as_ref(), &mut pieces))
            .collect();
        let mut order: Vec<usize> = (0..pieces.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(pieces[i].len()));
        let mut texts = vec![String::new(); pieces.len()];
        let mut failed: Vec<Option<tern_core::Error>> = vec![None; pieces.len()];
        for group in order.chunks(self.limits.batch.max(1)) {
            let srcs: Vec<&[u32]> = group.iter().map(|&i| &pieces[i][..]).collect();
            match self.translate_group(&srcs) {
                Ok(out) => group.iter().zip(out).for_each(|(&i, t)| texts[i] = t),
                Err(e) => {
                    let e = match e {
                        Error::Model(e) => e,
                        _ => tern_core::Error::BadLimit("batch failed"),
                    };
                    group.iter().for_each(|&i| failed[i] = Some(e));
                }
            }
        }
        lines
            .iter()
            .zip(plans)
            .map(|(line, plan)| {
                let plan = plan?;
                for part in &plan.parts {
                    if let Part::Sentence(r) = part {
                        if let Some(e) = failed[r.clone()].iter().flatten().next() {
                            return Err(Error::Model(*e));
                        }
                    }
                }
                Ok(assemble(line.as_ref(), &plan, &texts))
            })
            .collect()
    }

    /// Splits a line into parts ([`tern_core::pipeline`], as the firmware does), appending
    /// the sources of its sentences to `pieces`.
    fn plan_line(&mut self, text: &str, pieces: &mut Vec<Vec<u32>>) -> Result<Plan, Error> {
        let e = self.t.engine();
        let mut plan = Plan {
            parts: Vec::new(),
            truncated: false,
        };
        for part in Parts::new(text, e.defaults.split_sentences) {
            plan.parts.push(match part {
                CorePart::Text(r) => Part::Text(r),
                CorePart::Sentence(r) => {
                    let first = pieces.len();
                    plan.truncated |= self.sentence_pieces(&text[r], pieces)?;
                    Part::Sentence(first..pieces.len())
                }
            });
        }
        Ok(plan)
    }

    /// Appends the sources `text` (one sentence) is translated from to `pieces`, and says
    /// whether it was cut (see [`tern_core::pipeline`]; cutting only when the settings allow it,
    /// else it is an error).
    fn sentence_pieces(&mut self, text: &str, pieces: &mut Vec<Vec<u32>>) -> Result<bool, Error> {
        let e = self.t.engine();
        let scratch_len = e.tokenizer.encode_scratch_bytes(text.len());
        if self.scratch.len() < scratch_len {
            self.scratch = vec![0u8; scratch_len];
        }
        self.ids.resize(
            e.tokenizer.max_tokens(text.len()).max(self.limits.max_src),
            0,
        );
        let langs = self.languages()?;
        let over = if self.settings.truncate {
            OverLong::Cut
        } else {
            OverLong::Refuse
        };
        let sources = e
            .sources(
                &langs,
                &self.limits,
                over,
                text,
                &mut self.scratch[..scratch_len],
                &mut self.ids,
            )
            .map_err(|err| match err {
                tern_core::Error::InputTooLong { tokens, max } => Error::TooLong { tokens, max },
                other => Error::Model(other),
            })?;
        let mut src = vec![0u32; self.limits.max_src];
        for k in 0..sources.count {
            let n = sources.write(&self.ids, k, &mut src)?;
            pieces.push(src[..n].to_vec());
        }
        Ok(sources.cut)
    }

    fn languages(&self) -> Result<Languages, Error> {
        match &self.langs {
            Ok(l) => Ok(*l),
            Err(Error::UnknownLanguage { side, code, known }) => Err(Error::UnknownLanguage {
                side,
                code: code.clone(),
                known: known.clone(),
            }),
            Err(Error::Model(e)) => Err(Error::Model(*e)),
            Err(_) => Err(Error::Model(tern_core::Error::UnknownLanguage)),
        }
    }

    fn workspace(&mut self) {
        if self.ws.is_empty() {
            // Sized once; `vec!` of zeros maps fresh pages, so only what a sentence uses becomes
            // resident.
            let e = self.t.engine();
            self.ws = vec![0u8; tern_core::decode::workspace_bytes(&e.model, &self.limits)];
        }
    }

    /// Translates source ids (EOS included) to text, handing it to `on_piece` while it is
    /// decoded if there is one.
    fn translate_ids(
        &mut self,
        ids: &[u32],
        on_piece: Option<&mut dyn FnMut(&str)>,
    ) -> Result<String, Error> {
        let len = self.generate_ids(ids, on_piece)?;
        self.detokenize(..len)
    }

    /// Translates source ids into `self.tgt`, returning how many there are.
    fn generate_ids(
        &mut self,
        ids: &[u32],
        on_piece: Option<&mut dyn FnMut(&str)>,
    ) -> Result<usize, Error> {
        self.workspace();
        let e = self.t.engine();
        self.tgt.resize(self.limits.max_tgt, 0);
        let opts = e.options_for(&self.opts, ids.len());
        let langs = self.languages()?;
        let (ws, tgt) = (&mut self.ws, &mut self.tgt);
        let hyp = pool::install(self.pool.as_ref(), || match on_piece {
            None => e.generate_to(ws, &self.limits, &opts, &langs, ids, tgt),
            Some(on_piece) => {
                if self.stream.is_empty() {
                    let longest = (0..e.tokenizer.vocab_size() as u32)
                        .filter_map(|i| e.tokenizer.piece(i).map(str::len))
                        .max()
                        .unwrap_or(0);
                    let text = self.limits.max_tgt * (longest + 4) + 16;
                    self.stream = vec![0u8; tern_core::stream::TextStream::bytes_for(text)];
                }
                let stream = &mut self.stream;
                let (hyp, whole) =
                    e.generate_stream(ws, &self.limits, &opts, &langs, ids, tgt, stream, on_piece)?;
                debug_assert!(whole, "streamed pieces differ from the text");
                Ok(hyp)
            }
        })?;
        Ok(hyp.len)
    }

    /// Translates each piece's source ids on its own.
    fn translate_pieces(&mut self, pieces: &[Vec<u32>]) -> Result<Vec<String>, Error> {
        pieces
            .iter()
            .map(|ids| self.translate_ids(ids, None))
            .collect()
    }

    /// Translates up to `limits.batch` sources together, each within its own length limit (so
    /// batching never changes a translation; Bergamot caps a batch by its longest source).
    fn translate_group(&mut self, srcs: &[&[u32]]) -> Result<Vec<String>, Error> {
        self.workspace();
        let e = self.t.engine();
        let longest = srcs.iter().map(|s| s.len()).max().unwrap_or(1);
        let opts = e.options_for(&self.opts, longest);
        let len = opts.max_len;
        self.tgt.resize(srcs.len() * len, 0);
        self.hyps
            .resize(srcs.len(), Hypothesis { len: 0, score: 0.0 });
        let langs = self.languages()?;
        let own = |i: usize| {
            srcs.get(i)
                .map_or(len, |s| e.options_for(&opts, s.len()).max_len)
        };
        pool::install(self.pool.as_ref(), || {
            e.generate_batch(
                &mut self.ws,
                &self.limits,
                (&opts, &own),
                &langs,
                srcs,
                &mut self.tgt,
                &mut self.hyps,
            )
        })?;
        (0..srcs.len())
            .map(|i| self.detokenize(i * len..i * len + self.hyps[i].len))
            .collect()
    }

    /// Decodes `self.tgt[range]` to text.
    fn detokenize(
        &mut self,
        range: impl std::slice::SliceIndex<[u32], Output = [u32]>,
    ) -> Result<String, Error> {
        let e = self.t.engine();
        let ids = &self.tgt[range];
        let cap = ids
            .iter()
            .map(|&i| e.tokenizer.piece(i).map_or(8, str::len) + 4)
            .sum::<usize>()
            + 16;
        self.out.resize(cap, 0);
        let len = e.tokenizer.decode(ids, &mut self.out)?;
        Ok(String::from_utf8_lossy(&self.out[..len]).into_owned())
    }
}

/// The model's language codes, comma-separated (for error messages).
pub fn language_list(e: &Engine) -> String {
    let codes: Vec<&str> = e.tokenizer.languages().map(|(c, _)| c).collect();
    if codes.is_empty() {
        // One language pair (Marian), or told the task in the text (T5).
        return "none (it is not multilingual: give it no source or target language)".into();
    }
    codes.join(", ")
}

/// Texts of pieces joined by a space (empty ones skipped).
fn join(texts: &[String]) -> String {
    let parts: Vec<&str> = texts
        .iter()
        .map(String::as_str)
        .filter(|t| !t.is_empty())
        .collect();
    parts.join(" ")
}

/// A line's output: its literal text between sentences, and each sentence's pieces joined.
fn assemble(line: &str, plan: &Plan, texts: &[String]) -> Output {
    let mut text = String::new();
    for part in &plan.parts {
        match part {
            Part::Text(r) => text.push_str(&line[r.clone()]),
            Part::Sentence(r) => text.push_str(&join(&texts[r.clone()])),
        }
    }
    Output {
        text,
        truncated: plan.truncated,
    }
}
