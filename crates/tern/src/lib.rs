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

pub mod inspect;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use tern_core::decode::Options;
use tern_core::engine::Engine;
use tern_core::kernels::Kernels;
use tern_core::model::Seq2Seq as _;
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
}

/// Default token limits when the caller gives none.
pub const DEFAULT_MAX_LEN: usize = 256;

/// A loaded model, shareable between threads.
pub struct Translator {
    loaded: Loaded,
    settings: Settings,
}

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
        // SAFETY: the map is read-only; tern-core validates every byte it uses, so a file that
        // changes underneath can give wrong output but not undefined behaviour in safe code
        // reading `&[u8]`. (Truncating a mapped file can still raise SIGBUS, as for any mmap.)
        let mmap = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        Self::from_owner(Bytes::Mmap(mmap))
    }

    /// Loads a model from bytes in memory (copied into an aligned buffer).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let mut v = vec![0u64; bytes.len().div_ceil(8)];
        tern_core::plan::as_bytes_mut(&mut v)[..bytes.len()].copy_from_slice(bytes);
        if bytes.len() % 8 == 0 {
            Self::from_owner(Bytes::Owned(v))
        } else {
            Self::from_owner(Bytes::OwnedLen(v, bytes.len()))
        }
    }

    fn from_owner(bytes: Bytes) -> Result<Self, Error> {
        // TERN_KERNELS=scalar|avx2|avx512vnni picks a kernel table (benchmarks, comparisons).
        let kernels = std::env::var("TERN_KERNELS")
            .ok()
            .and_then(|n| Kernels::named(&n))
            .unwrap_or_else(Kernels::best);
        let loaded = Loaded::try_new(bytes, |b| Engine::load(b.as_slice(), kernels))?;
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

    /// Limits and search options these settings resolve to.
    pub fn plan(&self) -> (Limits, Options) {
        let e = self.engine();
        let max_pos = e.model.max_positions();
        let s = &self.settings;
        let beam = s.beam.unwrap_or(e.defaults.num_beams).max(1);
        let max_src = s
            .max_src_len
            .or(e.defaults.max_source_tokens)
            .unwrap_or(DEFAULT_MAX_LEN)
            .clamp(1, max_pos);
        // Marian models stop at `max_length_factor` times the source length: plan for that.
        let default_len = match e.defaults.max_length_factor {
            Some(f) => (f * max_src as f32).ceil() as usize,
            None => DEFAULT_MAX_LEN.min(e.defaults.max_length.saturating_sub(1).max(1)),
        };
        let max_tgt = s.max_len.unwrap_or(default_len).clamp(1, max_pos);
        let limits = Limits {
            max_src,
            max_tgt,
            beam,
        };
        let opts = Options {
            beam,
            max_len: max_tgt,
            length_penalty: e.defaults.length_penalty,
            early_stopping: e.defaults.early_stopping,
            min_len: 0,
        };
        (limits, opts)
    }

    /// A session: one workspace for translating sentence after sentence.
    pub fn session(&self) -> Session<'_> {
        let (limits, opts) = self.plan();
        Session {
            t: self,
            limits,
            opts,
            ws: Vec::new(),
            scratch: Vec::new(),
            ids: Vec::new(),
            tgt: Vec::new(),
            out: Vec::new(),
            context: Vec::new(),
            batch_width: 0,
        }
    }

    /// Translates one sentence.
    pub fn translate(&self, text: &str) -> Result<String, Error> {
        Ok(self.session().translate(text)?.text)
    }

    /// Translates many sentences on `threads` threads, each with its own session; results keep
    /// the input order.
    pub fn translate_batch<S: AsRef<str> + Sync>(
        &self,
        lines: &[S],
        threads: usize,
    ) -> Vec<Result<Output, Error>> {
        let next = AtomicUsize::new(0);
        let threads = threads.clamp(1, lines.len().max(1));
        let mut parts: Vec<Vec<(usize, Result<Output, Error>)>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        let mut session = self.session();
                        let mut done = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(line) = lines.get(i) else { break };
                            done.push((i, session.translate(line.as_ref())));
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
        let mut out: Vec<Option<Result<Output, Error>>> = (0..lines.len()).map(|_| None).collect();
        for (i, r) in parts.iter_mut().flat_map(std::mem::take) {
            out[i] = Some(r);
        }
        out.into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(Error::Model(tern_core::Error::BadLimit(
                        "worker thread failed",
                    )))
                })
            })
            .collect()
    }
}

/// Translates sentence after sentence in one reusable workspace.
pub struct Session<'t> {
    t: &'t Translator,
    limits: Limits,
    opts: Options,
    ws: Vec<u8>,
    /// Tokenizer scratch (grows with the longest line).
    scratch: Vec<u8>,
    ids: Vec<u32>,
    tgt: Vec<u32>,
    out: Vec<u8>,
    /// Source ids of every sentence of the current line (Bergamot's batch), when it has several.
    context: Vec<u32>,
    /// Longest sentence of the current line, in tokens.
    batch_width: usize,
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
        let e = self.t.engine();
        if !e.defaults.split_sentences {
            return self.translate_sentence(text);
        }
        let spans: Vec<_> = tern_core::text::sentences(text).collect();
        // Bergamot translates a request's sentences as one batch: one shortlist for all of them
        // and one length limit from the longest. Do the same when they fit the plan together.
        self.context.clear();
        self.batch_width = 0;
        if spans.len() > 1 {
            let mut ids = vec![0u32; self.limits.max_src];
            for span in &spans {
                let part = &text[span.clone()];
                let mut scratch = vec![0u8; e.tokenizer.encode_scratch_bytes(part.len())];
                let n = e.tokenizer.encode(part, &mut scratch, &mut ids)?;
                self.batch_width = self.batch_width.max(n.min(self.limits.max_src));
                self.context.extend_from_slice(&ids[..n.min(ids.len())]);
            }
            if self.context.len() > self.limits.max_src {
                self.context.clear();
                self.batch_width = 0;
            }
        }
        let mut out = Output {
            text: String::new(),
            truncated: false,
        };
        let mut last = 0;
        for span in spans {
            out.text.push_str(&text[last..span.start]);
            let o = self.translate_sentence(&text[span.clone()])?;
            out.text.push_str(&o.text);
            out.truncated |= o.truncated;
            last = span.end;
        }
        out.text.push_str(&text[last..]);
        self.context.clear();
        self.batch_width = 0;
        Ok(out)
    }

    /// Translates `text` as one sentence. Over-long input: models that split sentences
    /// (Bergamot's) translate it in pieces of `max_src - 1` tokens, as Bergamot's
    /// `max-length-break` does, joined by a space; others are cut to `max_src` tokens when the
    /// settings allow it (`truncated` says so), else it is an error.
    pub fn translate_sentence(&mut self, text: &str) -> Result<Output, Error> {
        if text.trim().is_empty() {
            return Ok(Output {
                text: String::new(),
                truncated: false,
            });
        }
        let e = self.t.engine();
        if self.ws.is_empty() {
            // Sized once; `vec!` of zeros maps fresh pages, so only what a sentence uses becomes
            // resident.
            self.ws = vec![0u8; tern_core::decode::workspace_bytes(&e.model, &self.limits)];
        }
        let scratch_len = e.tokenizer.encode_scratch_bytes(text.len());
        if self.scratch.len() < scratch_len {
            self.scratch = vec![0u8; scratch_len];
        }
        let max_src = self.limits.max_src;
        self.ids.resize(max_src, 0);
        // `encode` stores the first `max_src` ids and counts them all.
        let n = e
            .tokenizer
            .encode(text, &mut self.scratch[..scratch_len], &mut self.ids)?;
        if n <= max_src {
            let text = self.translate_ids(n)?;
            return Ok(Output {
                text,
                truncated: false,
            });
        }
        if e.defaults.split_sentences && max_src >= 2 {
            let mut all = vec![0u32; n];
            e.tokenizer
                .encode(text, &mut self.scratch[..scratch_len], &mut all)?;
            let mut out = String::new();
            for piece in all[..n - 1].chunks(max_src - 1) {
                self.ids.clear();
                self.ids.extend_from_slice(piece);
                self.ids.push(e.special.eos);
                let t = self.translate_ids(piece.len() + 1)?;
                if !out.is_empty() && !t.is_empty() {
                    out.push(' ');
                }
                out.push_str(&t);
            }
            return Ok(Output {
                text: out,
                truncated: false,
            });
        }
        if !self.t.settings.truncate {
            return Err(Error::TooLong {
                tokens: n,
                max: max_src,
            });
        }
        self.ids[max_src - 1] = e.special.eos;
        let text = self.translate_ids(max_src)?;
        Ok(Output {
            text,
            truncated: true,
        })
    }

    /// Translates the first `n` source ids in `self.ids` (EOS included) to text.
    fn translate_ids(&mut self, n: usize) -> Result<String, Error> {
        let e = self.t.engine();
        self.tgt.resize(self.limits.max_tgt, 0);
        let opts = e.options_for(&self.opts, n);
        let hyp = e.generate(
            &mut self.ws,
            &self.limits,
            &opts,
            &self.ids[..n],
            &mut self.tgt,
        )?;
        let ids = &self.tgt[..hyp.len];
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
