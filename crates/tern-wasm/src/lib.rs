//! tern in WebAssembly: the host library ([`tern::Session`], the same code as the CLI, so the
//! same text) behind a small API that `wasm-bindgen` exports to JavaScript (`src/js.rs`).
//!
//! A [`Model`] holds the model file's bytes (copied once into wasm memory, aligned) and one
//! session whose workspace is sized by the memory plan and reused for every line. This file is
//! plain Rust, tested natively; `js.rs` only converts values and errors at the boundary.
//!
//! `cargo xtask wasm` builds the npm package (`target/tern-wasm/pkg`): this module, its JavaScript
//! glue, a Web Worker client (`js/`) and TypeScript types.

#[cfg(target_arch = "wasm32")]
mod js;

// The npm package's kernels are simd128's; a build without it (an environment RUSTFLAGS that
// replaces .cargo/config.toml's) would silently be the scalar table.
#[cfg(all(target_arch = "wasm32", not(target_feature = "simd128")))]
compile_error!("build tern-wasm with `-C target-feature=+simd128` (see .cargo/config.toml)");

use tern::tern_core::kernels::Kernels;
use tern::{Session, Settings, Translator};

/// What went wrong, as JavaScript sees it: `kind` is the `code` of the thrown `TernError`
/// (the Python binding's exception names): `setting`, `language`, `markup`, `model` (the
/// bytes are not a usable model) or `translation` (a line failed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: &'static str,
    pub message: String,
}

impl Failure {
    fn new(kind: &'static str, message: impl Into<String>) -> Self {
        Failure {
            kind,
            message: message.into(),
        }
    }

    fn from_tern(e: tern::Error, loading: bool) -> Self {
        let kind = match &e {
            tern::Error::BadSetting(_) => "setting",
            tern::Error::UnknownLanguage { .. } => "language",
            tern::Error::Markup(_) => "markup",
            tern::Error::Model(
                tern::tern_core::Error::UnknownLanguage
                | tern::tern_core::Error::MissingLanguage(_),
            ) => "language",
            _ if loading => "model",
            _ => "translation",
        };
        Failure::new(kind, e.to_string())
    }
}

impl core::fmt::Display for Failure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.message)
    }
}

self_cell::self_cell!(
    /// The loaded model and the one session that translates with it.
    struct Loaded {
        owner: Translator,
        #[covariant]
        dependent: Session,
    }
);

/// A loaded model, ready to translate line after line.
pub struct Model {
    loaded: Loaded,
}

impl Model {
    /// Loads a model from its bytes, already copied into 8-byte words (the first `len` bytes),
    /// with `settings` (beam, limits, languages) and the kernel table called `kernels` (`None`:
    /// the best this build has, `simd128` in the npm package).
    pub fn load(
        words: Vec<u64>,
        len: usize,
        settings: Settings,
        kernels: Option<&str>,
    ) -> Result<Model, Failure> {
        settings
            .validate()
            .map_err(|e| Failure::from_tern(e, false))?;
        let kernels = match kernels {
            None => Kernels::best(),
            Some(name) => Kernels::named(name).ok_or_else(|| {
                Failure::new(
                    "setting",
                    format!(
                        "kernels {name:?} are not in this build (it has {:?} and \"scalar\")",
                        Kernels::best().name
                    ),
                )
            })?,
        };
        let translator = Translator::from_words(words, len, kernels)
            .map_err(|e| Failure::from_tern(e, true))?
            .with_settings(settings);
        // A language the model does not have is the caller's error now, not at every line.
        translator
            .languages()
            .map_err(|e| Failure::from_tern(e, true))?;
        Ok(Model {
            loaded: Loaded::new(translator, |t| t.session()),
        })
    }

    /// [`load`](Self::load) from bytes anywhere in memory (tests, native callers).
    pub fn from_bytes(
        bytes: &[u8],
        settings: Settings,
        kernels: Option<&str>,
    ) -> Result<Model, Failure> {
        let mut words = vec![0u64; bytes.len().div_ceil(8)];
        tern::tern_core::plan::as_bytes_mut(&mut words)[..bytes.len()].copy_from_slice(bytes);
        Model::load(words, bytes.len(), settings, kernels)
    }

    /// Translates `text` line by line (as the CLI translates a file): each line on its own,
    /// the line breaks kept (`\r\n` becomes `\n`). Blank lines stay blank.
    pub fn translate(&mut self, text: &str) -> Result<String, Failure> {
        self.loaded.with_dependent_mut(|_, session| {
            let mut out = String::with_capacity(text.len() + text.len() / 4);
            for (i, line) in text.split('\n').enumerate() {
                if i > 0 {
                    out.push('\n');
                }
                // A Windows line end is not text (the CLI drops it too).
                let line = line.strip_suffix('\r').unwrap_or(line);
                let got = session
                    .translate(line)
                    .map_err(|e| Failure::from_tern(e, false))?;
                out.push_str(&got.text);
            }
            Ok(out)
        })
    }

    /// Translates many lines: with a `batch` setting above 1 (greedy models), together in the
    /// batched decoder (sentences sorted by length and decoded `batch` at a time), else one
    /// after another. Each result is what
    /// [`translate`](Self::translate) gives for that line; the first failing line fails the
    /// call, naming its number.
    pub fn translate_batch<S: AsRef<str>>(&mut self, lines: &[S]) -> Result<Vec<String>, Failure> {
        if let Some(i) = lines.iter().position(|l| l.as_ref().contains('\n')) {
            return Err(Failure::new(
                "setting",
                format!("line {} holds a line break; give one line per entry", i + 1),
            ));
        }
        self.loaded.with_dependent_mut(|_, session| {
            let results = if session.limits().batch > 1 {
                session.translate_many(lines)
            } else {
                lines
                    .iter()
                    .map(|l| session.translate(l.as_ref()))
                    .collect()
            };
            results
                .into_iter()
                .enumerate()
                .map(|(i, r)| {
                    r.map(|o| o.text).map_err(|e| {
                        let f = Failure::from_tern(e, false);
                        Failure::new(f.kind, format!("line {}: {}", i + 1, f.message))
                    })
                })
                .collect()
        })
    }

    /// The model's language codes (empty for a model of one language pair).
    pub fn languages(&self) -> Vec<String> {
        let engine = self.loaded.borrow_owner().engine();
        engine
            .tokenizer
            .languages()
            .map(|(code, _)| code.to_string())
            .collect()
    }

    /// The kernel table in use (`simd128`, `scalar`).
    pub fn kernels(&self) -> &'static str {
        self.loaded.borrow_owner().engine().model.kernels().name
    }

    /// Bytes of the model file.
    pub fn model_bytes(&self) -> usize {
        self.loaded.borrow_owner().bytes().len()
    }
}

#[cfg(test)]
mod tests;
