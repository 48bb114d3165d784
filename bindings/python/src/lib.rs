//! `tern._tern`: the native part of the `tern` Python package (PyO3, one abi3 wheel for
//! CPython >= 3.9). `python/tern/__init__.py` re-exports it; the exception classes live in
//! `python/tern/_errors.py` so that they can inherit from two bases (`SettingError` is a
//! `TernError` and a `ValueError`).
//!
//! A model file is memory-mapped once per process: every `Translator` on the same file shares
//! one `Arc<tern::Translator>` from [`MODELS`] (held by weak references, so the map goes away
//! with the last `Translator`), and each applies its own settings through
//! `tern::Translator::session_with` / `translate_batch_with`. Translating releases the GIL.

use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyType};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex, Weak};
use std::time::SystemTime;
use tern::tern_core;
use tern::{Range, Settings};

/// Which file a cached model was loaded from: the same path holding another file (a model
/// converted again) is loaded anew.
#[derive(Clone, PartialEq, Eq)]
struct FileId {
    len: u64,
    modified: Option<SystemTime>,
    #[cfg(unix)]
    inode: (u64, u64),
}

impl FileId {
    fn of(meta: &std::fs::Metadata) -> Self {
        #[cfg(unix)]
        use std::os::unix::fs::MetadataExt;
        FileId {
            len: meta.len(),
            modified: meta.modified().ok(),
            #[cfg(unix)]
            inode: (meta.dev(), meta.ino()),
        }
    }
}

struct Cached {
    file: FileId,
    model: Weak<tern::Translator>,
}

/// Models loaded in this process, by canonical path.
static MODELS: Mutex<Option<HashMap<PathBuf, Cached>>> = Mutex::new(None);

fn models() -> std::sync::MutexGuard<'static, Option<HashMap<PathBuf, Cached>>> {
    // A panic while holding the lock leaves the map consistent (entries are inserted whole).
    MODELS.lock().unwrap_or_else(|p| p.into_inner())
}

/// Why opening a model failed, before it becomes a Python exception.
enum OpenError {
    Os { path: PathBuf, err: std::io::Error },
    IsDir(PathBuf),
    Tern(tern::Error),
}

/// The shared model of `path`: the cached one if its file is unchanged, else a new memory map.
fn open_shared(path: &Path) -> Result<(PathBuf, Arc<tern::Translator>), OpenError> {
    let os = |err| OpenError::Os {
        path: path.to_path_buf(),
        err,
    };
    let canonical = std::fs::canonicalize(path).map_err(os)?;
    let meta = std::fs::metadata(&canonical).map_err(os)?;
    if meta.is_dir() {
        return Err(OpenError::IsDir(path.to_path_buf()));
    }
    let file = FileId::of(&meta);
    // Held while loading, so two threads opening one file map it once.
    let mut guard = models();
    let map = guard.get_or_insert_with(HashMap::new);
    map.retain(|_, c| c.model.strong_count() > 0);
    if let Some(c) = map.get(&canonical) {
        if c.file == file {
            if let Some(model) = c.model.upgrade() {
                return Ok((canonical, model));
            }
        }
    }
    let model = Arc::new(tern::Translator::open(&canonical).map_err(OpenError::Tern)?);
    map.insert(
        canonical.clone(),
        Cached {
            file,
            model: Arc::downgrade(&model),
        },
    );
    Ok((canonical, model))
}

/// An exception class of `tern._errors`.
fn error_class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyType>> {
    static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    let module = MODULE.get_or_try_init(py, || py.import("tern._errors").map(Bound::unbind))?;
    Ok(module.bind(py).getattr(name)?.cast_into::<PyType>()?)
}

fn raise(py: Python<'_>, class: &str, message: String) -> PyErr {
    match error_class(py, class) {
        Ok(ty) => PyErr::from_type(ty, message),
        Err(e) => e,
    }
}

/// An `OSError` (`FileNotFoundError`, `PermissionError`... by errno) naming the file.
fn os_error(path: &Path, err: &std::io::Error) -> PyErr {
    let text = err.to_string();
    let text = text
        .rsplit_once(" (os error")
        .map_or(text.as_str(), |(t, _)| t)
        .to_string();
    let name = path.display().to_string();
    match err.raw_os_error() {
        Some(errno) => PyOSError::new_err((errno, text, name)),
        None => PyOSError::new_err(format!("{name}: {text}")),
    }
}

/// tern's errors as Python exceptions: settings, languages and malformed HTML are
/// `ValueError`s (`SettingError`, `LanguageError`, `MarkupError`), files `OSError`s, a file that is not a usable model
/// `ModelError`, a line that fails `TranslationError`; all but `OSError` are `TernError`s.
fn to_py(py: Python<'_>, e: tern::Error, loading: bool) -> PyErr {
    match e {
        tern::Error::Io { path, source } => os_error(Path::new(&path), &source),
        tern::Error::BadSetting(b) => raise(py, "SettingError", b.to_string()),
        e @ tern::Error::UnknownLanguage { .. } => raise(py, "LanguageError", e.to_string()),
        tern::Error::Markup(m) => raise(py, "MarkupError", m.to_string()),
        e if loading => raise(py, "ModelError", e.to_string()),
        e => raise(py, "TranslationError", e.to_string()),
    }
}

fn open_error(py: Python<'_>, e: OpenError) -> PyErr {
    match e {
        OpenError::Os { path, err } => os_error(&path, &err),
        OpenError::IsDir(path) => pyo3::exceptions::PyIsADirectoryError::new_err(format!(
            "{} is a directory, not a model file (give the .gguf file `convert` wrote)",
            path.display()
        )),
        OpenError::Tern(e) => to_py(py, e, true),
    }
}

/// A numeric argument: its [`Range`] decides, with the message the CLI and the C API give.
fn in_range(py: Python<'_>, range: Range, value: i64) -> PyResult<usize> {
    match usize::try_from(value) {
        Ok(v) => range.check(v).map_err(|e| to_py(py, e, false)),
        // Below zero: the same sentence, with the value as given.
        Err(_) => Err(raise(
            py,
            "SettingError",
            format!(
                "{} must be between {} and {}, not {value}",
                range.name, range.min, range.max
            ),
        )),
    }
}

fn opt_in_range(py: Python<'_>, range: Range, value: Option<i64>) -> PyResult<Option<usize>> {
    value.map(|v| in_range(py, range, v)).transpose()
}

/// A translation model loaded from a GGUF file (see `tern.pyi`).
#[pyclass(module = "tern", frozen)]
struct Translator {
    model: Arc<tern::Translator>,
    path: PathBuf,
    settings: Settings,
    threads: usize,
}

#[pymethods]
impl Translator {
    #[new]
    #[pyo3(signature = (path, *, threads=1, beam=None, max_len=None, max_src_len=None, batch=None, source_lang=None, target_lang=None, truncate=true, intra_threads=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        path: PathBuf,
        threads: i64,
        beam: Option<i64>,
        max_len: Option<i64>,
        max_src_len: Option<i64>,
        batch: Option<i64>,
        source_lang: Option<String>,
        target_lang: Option<String>,
        truncate: bool,
        intra_threads: Option<i64>,
    ) -> PyResult<Self> {
        let threads = in_range(py, tern::THREADS, threads)?;
        let settings = Settings {
            beam: opt_in_range(py, tern::BEAM, beam)?,
            max_len: opt_in_range(py, tern::MAX_LEN, max_len)?,
            max_src_len: opt_in_range(py, tern::MAX_SRC_LEN, max_src_len)?,
            batch: opt_in_range(py, tern::BATCH, batch)?,
            source_lang,
            target_lang,
            truncate,
            intra_threads: opt_in_range(py, tern::INTRA_THREADS, intra_threads)?,
        };
        settings.validate().map_err(|e| to_py(py, e, false))?;
        let (path, model) = py
            .detach(|| open_shared(&path))
            .map_err(|e| open_error(py, e))?;
        // As the CLI: a multilingual model without its languages, or with a code it lacks,
        // fails here, listing the model's codes.
        let langs = model
            .languages_for(&settings)
            .map_err(|e| to_py(py, e, false))?;
        model.engine().check_languages(&langs).map_err(|e| {
            raise(
                py,
                "LanguageError",
                format!(
                    "{e}; this model's language codes are: {}",
                    tern::language_list(model.engine())
                ),
            )
        })?;
        Ok(Translator {
            model,
            path,
            settings,
            threads,
        })
    }

    /// Translates one line (the GIL is released meanwhile).
    fn translate(&self, py: Python<'_>, text: String) -> PyResult<String> {
        py.detach(|| {
            self.model
                .session_with(self.settings.clone())
                .translate(&text)
        })
        .map(|o| o.text)
        .map_err(|e| to_py(py, e, false))
    }

    /// Translates lines on `threads` threads (with the GIL released), in order.
    fn translate_batch(&self, py: Python<'_>, lines: Vec<String>) -> PyResult<Vec<String>> {
        let out = py.detach(|| {
            self.model
                .translate_batch_with(&self.settings, &lines, self.threads)
        });
        out.into_iter()
            .enumerate()
            .map(|(i, r)| {
                r.map(|o| o.text).map_err(|e| {
                    let e = to_py(py, e, false);
                    // Which line: the message says it, the class stays the error's own.
                    let msg = format!("line {}: {}", i + 1, e.value(py));
                    PyErr::from_type(e.get_type(py), msg)
                })
            })
            .collect()
    }

    /// What the translation of `text` attended to: one dict per source sentence (see
    /// `tern.pyi`), with the encoder's self-attention too when `encoder`. The GIL is released
    /// while translating.
    #[pyo3(signature = (text, encoder=false))]
    fn attention<'py>(
        &self,
        py: Python<'py>,
        text: String,
        encoder: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        let (_, maps) = py
            .detach(|| {
                self.model
                    .session_with(self.settings.clone())
                    .translate_attended(&text, encoder)
            })
            .map_err(|e| to_py(py, e, false))?;
        let list = PyList::empty(py);
        for a in &maps {
            list.append(attention_dict(py, a)?)?;
        }
        Ok(list)
    }

    /// Translates an HTML fragment, keeping its markup on the translated words (the GIL is
    /// released meanwhile); a fragment that is not well-formed raises `MarkupError`.
    fn translate_html(&self, py: Python<'_>, html: String) -> PyResult<String> {
        py.detach(|| {
            self.model
                .session_with(self.settings.clone())
                .translate_html(&html)
        })
        .map(|o| o.text)
        .map_err(|e| to_py(py, e, false))
    }

    /// An iterator over the translation's text pieces, as they are decoded (on a thread of
    /// its own; the GIL is released while waiting for the next piece).
    fn translate_stream(&self, text: String) -> Stream {
        let (tx, rx) = channel();
        let model = Arc::clone(&self.model);
        let settings = self.settings.clone();
        std::thread::spawn(move || {
            let mut session = model.session_with(settings);
            let result = session.translate_stream(&text, &mut |piece: &str| {
                // The iterator may be gone (abandoned by the caller): decoding just ends.
                if !piece.is_empty() {
                    let _ = tx.send(Msg::Piece(piece.to_owned()));
                }
            });
            let _ = tx.send(match result {
                Ok(_) => Msg::Done,
                Err(e) => Msg::Failed(e),
            });
        });
        Stream {
            rx: Mutex::new(Some(rx)),
        }
    }

    /// The model's architecture, hyperparameters and memory plan for these settings.
    #[getter]
    fn info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        info(py, &self.model, &self.settings, self.threads)
    }

    /// The canonical path of the model file.
    #[getter]
    fn path(&self) -> String {
        self.path.display().to_string()
    }

    #[getter]
    fn threads(&self) -> usize {
        self.threads
    }

    /// Identifies the loaded model: equal for `Translator`s sharing one memory map.
    #[getter]
    fn _model_id(&self) -> usize {
        Arc::as_ptr(&self.model) as usize
    }

    fn __repr__(&self) -> String {
        format!(
            "tern.Translator({:?}, threads={})",
            self.path(),
            self.threads
        )
    }
}

/// One source sentence's [`tern::attention::Attention`] as the dict `Translator.attention`
/// returns (the keys of `tern translate --attention`'s JSON lines, and more).
fn attention_dict<'py>(
    py: Python<'py>,
    a: &tern::attention::Attention,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("source", &a.source)?;
    d.set_item("target", &a.target)?;
    d.set_item("translation", &a.text)?;
    d.set_item("cross_attention", a.cross.nested())?;
    d.set_item("encoder_attention", a.encoder.as_ref().map(|w| w.nested()))?;
    d.set_item("alignment", a.word_alignment())?;
    let cols = a.cross.cols.max(1);
    let soft: Vec<Vec<f32>> = a
        .soft_alignment()
        .chunks_exact(cols)
        .map(<[f32]>::to_vec)
        .collect();
    d.set_item("soft_alignment", soft)?;
    d.set_item("source_words", &a.source_words)?;
    d.set_item("target_words", &a.target_words)?;
    d.set_item("aligned_head", a.aligned_head)?;
    Ok(d)
}

enum Msg {
    Piece(String),
    Done,
    Failed(tern::Error),
}

/// The pieces of one streamed translation.
#[pyclass(module = "tern", frozen)]
struct Stream {
    /// `None` once the translation has ended.
    rx: Mutex<Option<Receiver<Msg>>>,
}

#[pymethods]
impl Stream {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<String>> {
        let msg = py.detach(|| {
            let mut rx = self.rx.lock().unwrap_or_else(|p| p.into_inner());
            let msg = match rx.as_ref() {
                Some(r) => r.recv().unwrap_or(Msg::Done),
                None => Msg::Done,
            };
            if !matches!(msg, Msg::Piece(_)) {
                *rx = None;
            }
            msg
        });
        match msg {
            Msg::Piece(p) => Ok(Some(p)),
            Msg::Done => Ok(None),
            Msg::Failed(e) => Err(to_py(py, e, false)),
        }
    }
}

/// A GGUF metadata value as a Python object (`None` for arrays of more than 16 values).
fn value<'py>(py: Python<'py>, v: &tern_core::gguf::Value) -> PyResult<Option<Bound<'py, PyAny>>> {
    use tern_core::gguf::Value as V;
    Ok(Some(match *v {
        V::Str(s) => s.into_pyobject(py)?.into_any(),
        V::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        V::F32(_) | V::F64(_) => v.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any(),
        V::Array(a) if a.len() > 16 => return Ok(None),
        V::Array(a) => {
            let items = PyList::empty(py);
            for x in a.iter() {
                if let Some(x) = value(py, &x)? {
                    items.append(x)?;
                }
            }
            items.into_any()
        }
        V::I8(_) | V::I16(_) | V::I32(_) | V::I64(_) => match v.as_u64() {
            Some(u) => u.into_pyobject(py)?.into_any(),
            None => (v.as_f64().unwrap_or(0.0) as i64)
                .into_pyobject(py)?
                .into_any(),
        },
        _ => v.as_u64().unwrap_or(0).into_pyobject(py)?.into_any(),
    }))
}

/// What `tern inspect` reports, as a dict (the same figures: `tests/test_tern.py` compares).
fn info<'py>(
    py: Python<'py>,
    t: &tern::Translator,
    settings: &Settings,
    threads: usize,
) -> PyResult<Bound<'py, PyDict>> {
    use tern_core::model::Seq2Seq;
    let e = t.engine();
    let g = &e.gguf;
    let (limits, opts) = t.plan_for(settings);
    let d = PyDict::new(py);
    d.set_item("architecture", g.str("general.architecture").unwrap_or("?"))?;
    d.set_item("family", g.str("transformer.family").unwrap_or("format 1"))?;
    let spec = &e.model.spec;
    d.set_item("spec", spec.to_string())?;
    let s = PyDict::new(py);
    s.set_item("d_model", spec.d_model)?;
    s.set_item("vocab_size", spec.vocab_size)?;
    s.set_item("max_positions", spec.max_positions)?;
    for (name, st) in [("encoder", &spec.encoder), ("decoder", &spec.decoder)] {
        let x = PyDict::new(py);
        x.set_item("layers", st.layers)?;
        x.set_item("heads", st.heads)?;
        x.set_item("ffn_dim", st.ffn_dim)?;
        x.set_item("final_norm", st.final_norm)?;
        s.set_item(name, x)?;
    }
    s.set_item("activation", spec.activation.name())?;
    s.set_item("shortlist", e.model.weights.ends.shortlist.is_some())?;
    d.set_item("dimensions", s)?;
    let hp = PyDict::new(py);
    for (k, v) in g.metadata() {
        if k.starts_with("tokenizer.")
            && !matches!(v, tern_core::gguf::Value::Str(s) if s.len() < 60)
        {
            continue;
        }
        if let Some(v) = value(py, &v)? {
            hp.set_item(k, v)?;
        }
    }
    d.set_item("hyperparameters", hp)?;
    let codes: Vec<&str> = e.tokenizer.languages().map(|(c, _)| c).collect();
    d.set_item("languages", codes)?;
    let tensors = PyDict::new(py);
    for tensor in g.tensors() {
        let kind = if tensor.name.starts_with("tokenizer.") {
            "tokenizer"
        } else {
            tensor.ty.name()
        };
        let (n, bytes) = match tensors.get_item(kind)? {
            Some(x) => x.extract::<(usize, usize)>()?,
            None => (0, 0),
        };
        tensors.set_item(kind, (n + 1, bytes + tensor.data.len()))?;
    }
    d.set_item("tensors", tensors)?;
    let state = e.model.state_bytes(&limits);
    let search = tern_core::decode::search_bytes(&limits, e.model.vocab_size());
    let workspace = e.workspace_bytes(&limits, limits.max_src * 16);
    let m = PyDict::new(py);
    m.set_item("max_src_len", limits.max_src)?;
    m.set_item("max_len", limits.max_tgt)?;
    m.set_item("beam", opts.beam)?;
    m.set_item("batch", limits.batch)?;
    m.set_item("threads", threads)?;
    m.set_item("state_bytes", state)?;
    m.set_item("search_bytes", search)?;
    m.set_item("workspace_bytes", workspace)?;
    m.set_item("file_bytes", g.bytes().len())?;
    m.set_item("weights_bytes_per_token", e.model.bytes_per_token())?;
    m.set_item("ram_bytes", workspace * threads + g.bytes().len())?;
    d.set_item("memory", m)?;
    d.set_item("kernels", e.model.kernels().name)?;
    d.set_item("report", tern::inspect::report(e, &limits))?;
    Ok(d)
}

/// Models currently loaded in this process: canonical path -> how many holders share its
/// memory map (each `Translator`, and each running stream).
#[pyfunction]
fn _loaded_models(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    if let Some(map) = models().as_ref() {
        for (path, c) in map {
            let n = c.model.strong_count();
            if n > 0 {
                d.set_item(path.display().to_string(), n)?;
            }
        }
    }
    Ok(d)
}

/// Models by language: Firefox's catalogue through tern's cache, one model or two through
/// English (see `tern.pyi`).
#[pyclass(module = "tern", frozen)]
struct Route {
    route: tern_models::Route,
    threads: usize,
}

/// The catalogue's errors: files as `OSError`s, translation as tern's, the rest (network,
/// hashes, offline, no route) `CatalogueError`.
fn models_error(py: Python<'_>, e: tern_models::Error) -> PyErr {
    match e {
        tern_models::Error::Io { path, source } => os_error(Path::new(&path), &source),
        tern_models::Error::Translate(t) => to_py(py, t, false),
        e => raise(py, "CatalogueError", e.to_string()),
    }
}

#[pymethods]
impl Route {
    #[new]
    #[pyo3(signature = (source, target, *, cache_dir=None, catalogue=None, offline=false, threads=1, beam=None, max_len=None, max_src_len=None, batch=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        source: String,
        target: String,
        cache_dir: Option<PathBuf>,
        catalogue: Option<String>,
        offline: bool,
        threads: i64,
        beam: Option<i64>,
        max_len: Option<i64>,
        max_src_len: Option<i64>,
        batch: Option<i64>,
    ) -> PyResult<Self> {
        let threads = in_range(py, tern::THREADS, threads)?;
        let settings = Settings {
            beam: opt_in_range(py, tern::BEAM, beam)?,
            max_len: opt_in_range(py, tern::MAX_LEN, max_len)?,
            max_src_len: opt_in_range(py, tern::MAX_SRC_LEN, max_src_len)?,
            batch: opt_in_range(py, tern::BATCH, batch)?,
            truncate: true,
            ..Settings::default()
        };
        let opened = py.detach(|| {
            tern_models::Models::new(tern_models::Options {
                catalogue,
                cache_dir,
                offline,
                ..Default::default()
            })
            .and_then(|m| m.open(&source, &target))
        });
        let route = opened.map_err(|e| models_error(py, e))?;
        Ok(Route {
            route: route.with_settings(settings),
            threads,
        })
    }

    /// "es -> en -> ru".
    #[getter]
    fn route(&self) -> String {
        self.route.describe()
    }

    /// Translates one line through every model (the GIL is released meanwhile).
    fn translate(&self, py: Python<'_>, text: String) -> PyResult<String> {
        py.detach(|| self.route.translate(&text))
            .map_err(|e| to_py(py, e, false))
    }

    /// Translates lines on `threads` threads, model after model, in order.
    fn translate_batch(&self, py: Python<'_>, lines: Vec<String>) -> PyResult<Vec<String>> {
        let out = py.detach(|| self.route.translate_batch(&lines, self.threads));
        out.into_iter()
            .map(|r| r.map(|o| o.text).map_err(|e| to_py(py, e, false)))
            .collect()
    }

    fn __repr__(&self) -> String {
        format!("tern.Route({:?})", self.route.describe())
    }
}

#[pymodule]
#[pyo3(name = "_tern")]
fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Translator>()?;
    m.add_class::<Route>()?;
    m.add_class::<Stream>()?;
    m.add_function(wrap_pyfunction!(_loaded_models, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
