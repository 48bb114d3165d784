//! The host API (cargo feature `std`): models opened by path and memory-mapped once, sessions,
//! threads; strings owned by the library.
//!
//! Thread safety: a `TernModel` is immutable and shared by any number of threads; a
//! `TernSession` holds one workspace and is used by one thread at a time (one session per
//! thread; it may move between threads).

use crate::status::{fail, guard, TernStatus};
use core::ffi::{c_char, CStr};
use std::boxed::Box;
use std::ffi::CString;
use std::string::{String, ToString};
use std::sync::Arc;
use std::vec::Vec;

/// A model file opened by path: memory-mapped (read-only, zero-copy) and validated once. Shared
/// by every thread and session; freed with `tern_model_free`.
pub struct TernModel {
    translator: Arc<tern::Translator>,
}

type Session<'t> = tern::Session<'t>;

// What the header promises: a model is shared by threads, a session moves between them.
const _: fn() = || {
    fn shared<T: Send + Sync>() {}
    fn movable<T: Send>() {}
    shared::<TernModel>();
    movable::<TernSession>();
};

self_cell::self_cell!(
    /// A session with the model it borrows kept alive by a reference count.
    struct Held {
        owner: Arc<tern::Translator>,
        #[covariant]
        dependent: Session,
    }
);

/// Translates sentence after sentence in one reusable workspace, with its own settings. Used
/// by one thread at a time; freed with `tern_session_free`.
pub struct TernSession {
    held: Held,
    settings: tern::Settings,
    threads: usize,
}

impl TernSession {
    /// Runs `f` on the session's host-library session.
    pub(crate) fn run<R>(&mut self, f: impl FnOnce(&mut Session<'_>) -> R) -> R {
        self.held.with_dependent_mut(|_, session| f(session))
    }
}

/// Settings of a session. Zero (or NULL) takes the default, as the `tern` CLI does when an
/// option is not given; other values must be in range, else `TERN_STATUS_INVALID_ARGUMENT`
/// with the CLI's message ("beam must be between 1 and 64, not 100"). Start from
/// `tern_settings_default()`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct TernSettings {
    /// Beam size, 1..=64 (default: the model's `num_beams`).
    pub beam: usize,
    /// Most target tokens, EOS included (default 256, capped by the model).
    pub max_len: usize,
    /// Most source tokens, EOS included (default 256, or the model's; capped by the model).
    pub max_src_len: usize,
    /// Sentences decoded together by `tern_translate_batch`, greedy only, 1..=64 (default 1).
    /// The output is the same as one at a time.
    pub batch: usize,
    /// Threads `tern_translate_batch` spreads lines over, 1..=1024 (default 1).
    pub threads: usize,
    /// Source language of a multilingual model, as its tokenizer spells it (`eng_Latn`, `en`);
    /// NULL: the file's default. UTF-8, NUL-terminated; copied, not kept.
    pub source_lang: *const c_char,
    /// Target language of a multilingual model; NULL: the file's default.
    pub target_lang: *const c_char,
    /// Non-zero: refuse a line longer than `max_src_len` tokens (`TERN_STATUS_TOO_LONG`).
    /// Zero (default): translate its beginning, as the CLI does (Bergamot models translate it
    /// in pieces).
    pub refuse_too_long: i32,
    /// Threads for each sentence, 1..=256 (default 1): its int8 products and larger attentions
    /// are split over them; the output is the same. With `threads`, each of those threads has
    /// this many.
    pub intra_threads: usize,
}

/// Called by `tern_translate_stream` with each piece of the translation as it is decoded:
/// `piece` is UTF-8, `len` bytes, not NUL-terminated, valid only during the call.
pub type TernPieceCallback = Option<
    unsafe extern "C" fn(piece: *const c_char, len: usize, user_data: *mut core::ffi::c_void),
>;

/// Settings with every field at its default (all zero / NULL).
#[no_mangle]
pub extern "C" fn tern_settings_default() -> TernSettings {
    TernSettings {
        beam: 0,
        max_len: 0,
        max_src_len: 0,
        batch: 0,
        threads: 0,
        source_lang: core::ptr::null(),
        target_lang: core::ptr::null(),
        refuse_too_long: 0,
        intra_threads: 0,
    }
}

/// The status a host error gives, and its message (tern's own words).
pub(crate) fn fail_host(e: &tern::Error) -> TernStatus {
    let status = match e {
        tern::Error::Io { .. } => TernStatus::Io,
        tern::Error::Model(m) => crate::status::core_status(m),
        tern::Error::TooLong { .. } => TernStatus::TooLong,
        tern::Error::UnknownLanguage { .. } => TernStatus::Language,
        tern::Error::BadSetting(_) => TernStatus::InvalidArgument,
        tern::Error::Markup(_) => TernStatus::BadMarkup,
        #[allow(unreachable_patterns)]
        _ => TernStatus::Failed,
    };
    fail(status, e)
}

/// A NUL-terminated UTF-8 argument as `&str`.
///
/// # Safety
/// `p` must be NULL or point to a NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn text<'a>(p: *const c_char, what: &str) -> Result<&'a str, TernStatus> {
    if p.is_null() {
        return Err(fail(
            TernStatus::NullArgument,
            format_args!("{what} is NULL"),
        ));
    }
    // SAFETY: not NULL and NUL-terminated (caller's contract).
    let bytes = unsafe { CStr::from_ptr(p) }.to_bytes();
    core::str::from_utf8(bytes).map_err(|e| {
        fail(
            TernStatus::InvalidUtf8,
            format_args!("{what} is not valid UTF-8 (at byte {})", e.valid_up_to()),
        )
    })
}

/// A string owned by the caller from now on (freed with `tern_string_free`). NUL bytes inside
/// (never in tern's output) would end the C string early: they are dropped.
pub(crate) fn c_string(s: String) -> *mut c_char {
    let s = CString::new(s).unwrap_or_else(|e| {
        let bytes: Vec<u8> = e.into_vec().into_iter().filter(|&b| b != 0).collect();
        CString::new(bytes).unwrap_or_default()
    });
    s.into_raw()
}

/// Opens a model file by path (UTF-8, NUL-terminated): memory-maps it read-only and validates
/// its structure. On success `*model` is a handle the caller frees with `tern_model_free`.
/// The file must not be truncated while it is open (as for any memory map).
///
/// # Safety
/// `path` NUL-terminated; `model` valid for writes.
#[no_mangle]
pub unsafe extern "C" fn tern_model_open(
    path: *const c_char,
    model: *mut *mut TernModel,
) -> TernStatus {
    guard(|| {
        if model.is_null() {
            return fail(TernStatus::NullArgument, "model is NULL");
        }
        // SAFETY: caller's contract.
        let path = match unsafe { text(path, "path") } {
            Ok(p) => p,
            Err(s) => return s,
        };
        match tern::Translator::open(path) {
            Ok(t) => {
                let handle = Box::new(TernModel {
                    translator: Arc::new(t),
                });
                // SAFETY: `model` is not NULL and valid for writes (caller's contract).
                unsafe { *model = Box::into_raw(handle) };
                TernStatus::Ok
            }
            Err(e) => fail_host(&e),
        }
    })
}

/// Frees a model handle. Sessions made from it keep the mapped file alive until they are
/// freed too, so the order does not matter. NULL is ignored.
///
/// # Safety
/// `model` from `tern_model_open`, not freed before, not used after.
#[no_mangle]
pub unsafe extern "C" fn tern_model_free(model: *mut TernModel) {
    let _ = guard(|| {
        if !model.is_null() {
            // SAFETY: a pointer from `Box::into_raw` in `tern_model_open`, freed once.
            drop(unsafe { Box::from_raw(model) });
        }
        TernStatus::Ok
    });
}

/// The host library's settings from C's, checked as the CLI checks its options.
///
/// # Safety
/// `s` NULL or valid, its strings NULL or NUL-terminated.
pub(crate) unsafe fn settings(
    s: *const TernSettings,
) -> Result<(tern::Settings, usize), TernStatus> {
    let c = if s.is_null() {
        tern_settings_default()
    } else {
        // SAFETY: not NULL, valid for reads (caller's contract).
        unsafe { *s }
    };
    let nz = |v: usize| (v != 0).then_some(v);
    // SAFETY: NULL or NUL-terminated (caller's contract).
    let lang = |p: *const c_char, what| -> Result<Option<String>, TernStatus> {
        if p.is_null() {
            Ok(None)
        } else {
            // SAFETY: as above.
            unsafe { text(p, what) }.map(|t| Some(t.to_string()))
        }
    };
    let settings = tern::Settings {
        beam: nz(c.beam),
        max_len: nz(c.max_len),
        max_src_len: nz(c.max_src_len),
        truncate: c.refuse_too_long == 0,
        batch: nz(c.batch),
        source_lang: lang(c.source_lang, "source_lang")?,
        target_lang: lang(c.target_lang, "target_lang")?,
        intra_threads: nz(c.intra_threads),
    };
    settings.validate().map_err(|e| fail_host(&e))?;
    let threads = match c.threads {
        0 => 1,
        n => tern::THREADS.check(n).map_err(|e| fail_host(&e))?,
    };
    Ok((settings, threads))
}

/// Makes a session on a model with `settings` (NULL: all defaults). Settings out of range, or
/// language codes the model lacks (the message lists the model's codes), fail here, before any
/// text. On success `*session` is freed by the caller with `tern_session_free`.
///
/// # Safety
/// `model` from `tern_model_open`, not freed; `settings` NULL or valid; `session` valid for
/// writes.
#[no_mangle]
pub unsafe extern "C" fn tern_session_new(
    model: *const TernModel,
    settings: *const TernSettings,
    session: *mut *mut TernSession,
) -> TernStatus {
    guard(|| {
        if model.is_null() || session.is_null() {
            return fail(TernStatus::NullArgument, "model or session is NULL");
        }
        // SAFETY: caller's contract.
        let (settings, threads) = match unsafe { self::settings(settings) } {
            Ok(s) => s,
            Err(status) => return status,
        };
        // SAFETY: a live handle from `tern_model_open` (caller's contract).
        let translator = Arc::clone(unsafe { &(*model).translator });
        let langs = match translator.languages_for(&settings) {
            Ok(l) => l,
            Err(e) => return fail_host(&e),
        };
        if let Err(e) = translator.engine().check_languages(&langs) {
            return fail(
                TernStatus::Language,
                format_args!(
                    "{e}; this model's language codes are: {}",
                    tern::language_list(translator.engine())
                ),
            );
        }
        let for_session = settings.clone();
        let held = Held::new(translator, |t| t.session_with(for_session));
        let handle = Box::new(TernSession {
            held,
            settings,
            threads,
        });
        // SAFETY: `session` is not NULL and valid for writes (caller's contract).
        unsafe { *session = Box::into_raw(handle) };
        TernStatus::Ok
    })
}

/// Frees a session. NULL is ignored.
///
/// # Safety
/// `session` from `tern_session_new`, not freed before, not used after.
#[no_mangle]
pub unsafe extern "C" fn tern_session_free(session: *mut TernSession) {
    let _ = guard(|| {
        if !session.is_null() {
            // SAFETY: a pointer from `Box::into_raw` in `tern_session_new`, freed once.
            drop(unsafe { Box::from_raw(session) });
        }
        TernStatus::Ok
    });
}

/// Translates one line of UTF-8 text (NUL-terminated). On success `*out` is a new
/// NUL-terminated UTF-8 string the caller frees with `tern_string_free`; on failure `*out` is
/// NULL. Blank text gives "". Multi-sentence lines are translated as the CLI does.
///
/// # Safety
/// `session` from `tern_session_new`, used by no other thread during the call; `text`
/// NUL-terminated; `out` valid for writes.
#[no_mangle]
pub unsafe extern "C" fn tern_translate(
    session: *mut TernSession,
    text: *const c_char,
    out: *mut *mut c_char,
) -> TernStatus {
    // SAFETY: the caller's contract is `translate_into`'s.
    unsafe { translate_into(session, (text, "text"), out, |s, t| s.translate(t)) }
}

/// Translates an HTML fragment (UTF-8, NUL-terminated), keeping its markup, as `tern translate
/// --html` does: each block's text is translated as a line and each translated word is put in
/// the elements of the source word it is aligned to; void tags, comments and the contents of
/// `<script>`, `<style>` and the like are kept as they are. On success `*out` is a new string
/// (free it with `tern_string_free`); on failure NULL. A fragment that is not well-formed
/// gives `TERN_STATUS_BAD_MARKUP` and a message saying where ("bad HTML at byte 6: ...").
///
/// # Safety
/// As for `tern_translate`.
#[no_mangle]
pub unsafe extern "C" fn tern_translate_html(
    session: *mut TernSession,
    html: *const c_char,
    out: *mut *mut c_char,
) -> TernStatus {
    // SAFETY: the caller's contract is `translate_into`'s.
    unsafe { translate_into(session, (html, "html"), out, |s, t| s.translate_html(t)) }
}

/// Runs `f` on the session and the text `input.0` (named `input.1` in errors), putting the
/// output text in `*out` (NULL on failure).
///
/// # Safety
/// `session` NULL or from `tern_session_new`, used by no other thread during the call; the text
/// NULL or NUL-terminated; `out` NULL or valid for writes.
unsafe fn translate_into(
    session: *mut TernSession,
    input: (*const c_char, &'static str),
    out: *mut *mut c_char,
    f: impl FnOnce(&mut Session<'_>, &str) -> Result<tern::Output, tern::Error>,
) -> TernStatus {
    guard(|| {
        if session.is_null() || out.is_null() {
            return fail(TernStatus::NullArgument, "session or out is NULL");
        }
        // SAFETY: `out` is valid for writes (caller's contract).
        unsafe { *out = core::ptr::null_mut() };
        // SAFETY: caller's contract.
        let text = match unsafe { self::text(input.0, input.1) } {
            Ok(t) => t,
            Err(s) => return s,
        };
        // SAFETY: a live session, used by this thread alone (caller's contract).
        let s = unsafe { &mut *session };
        match s.run(|session| f(session, text)) {
            Ok(o) => {
                // SAFETY: as above.
                unsafe { *out = c_string(o.text) };
                TernStatus::Ok
            }
            Err(e) => fail_host(&e),
        }
    })
}

/// Translates one line as `tern_translate` does, handing out the text as it is decoded:
/// `callback(piece, len, user_data)` is called with each piece in order (greedy search: word by
/// word; beam search: once the best hypothesis is fixed), and the pieces concatenate to exactly
/// the translation `tern_translate` gives. Nothing is returned to free. The callback runs on
/// the calling thread, must not call into this session, and must return normally (no
/// `longjmp` out of it). If the call fails, the pieces already handed out are all there is.
///
/// # Safety
/// `session` as for `tern_translate`; `text` NUL-terminated; `callback` a valid function.
#[no_mangle]
pub unsafe extern "C" fn tern_translate_stream(
    session: *mut TernSession,
    text: *const c_char,
    callback: TernPieceCallback,
    user_data: *mut core::ffi::c_void,
) -> TernStatus {
    guard(|| {
        let Some(callback) = callback else {
            return fail(TernStatus::NullArgument, "callback is NULL");
        };
        if session.is_null() {
            return fail(TernStatus::NullArgument, "session is NULL");
        }
        // SAFETY: caller's contract.
        let text = match unsafe { self::text(text, "text") } {
            Ok(t) => t,
            Err(s) => return s,
        };
        // SAFETY: a live session, used by this thread alone (caller's contract).
        let s = unsafe { &mut *session };
        let mut on_piece = |piece: &str| {
            // SAFETY: a valid C function (caller's contract), given a pointer and length that
            // are valid for the duration of the call.
            unsafe { callback(piece.as_ptr().cast(), piece.len(), user_data) }
        };
        match s
            .held
            .with_dependent_mut(|_, session| session.translate_stream(text, &mut on_piece))
        {
            Ok(_) => TernStatus::Ok,
            Err(e) => fail_host(&e),
        }
    })
}

/// Translates `count` lines with the session's settings, spread over its `threads` (each with
/// its own workspace; the session's own is not used), in batches of its `batch`. Output `i` is
/// line `i`'s translation: `outs[i]` gets a new string (free each with `tern_string_free`), or
/// NULL if that line failed; `statuses` (NULL, or `count` entries) gets each line's status.
/// Returns `TERN_STATUS_OK` if every line was translated, else the first failed line's status
/// (its message in `tern_last_error_message()`); the other lines are translated regardless.
///
/// # Safety
/// `session` as for `tern_translate`; `lines` holds `count` NUL-terminated strings; `outs`
/// (and `statuses` unless NULL) have room for `count` entries.
#[no_mangle]
pub unsafe extern "C" fn tern_translate_batch(
    session: *mut TernSession,
    lines: *const *const c_char,
    count: usize,
    outs: *mut *mut c_char,
    statuses: *mut TernStatus,
) -> TernStatus {
    guard(|| {
        if session.is_null() || (count > 0 && (lines.is_null() || outs.is_null())) {
            return fail(TernStatus::NullArgument, "session, lines or outs is NULL");
        }
        if count == 0 {
            return TernStatus::Ok;
        }
        // SAFETY: `lines` and `outs` hold `count` entries (caller's contract), `statuses` too
        // unless NULL.
        let (ptrs, outs) = unsafe {
            (
                core::slice::from_raw_parts(lines, count),
                core::slice::from_raw_parts_mut(outs, count),
            )
        };
        outs.iter_mut().for_each(|o| *o = core::ptr::null_mut());
        let mut codes = std::vec![TernStatus::Ok; count];
        // Lines that are NULL or not UTF-8 fail on their own; the others are translated.
        let mut texts: Vec<&str> = Vec::with_capacity(count);
        let mut index: Vec<usize> = Vec::with_capacity(count);
        let mut first: Option<(TernStatus, String)> = None;
        for (i, &p) in ptrs.iter().enumerate() {
            // SAFETY: NUL-terminated or NULL (caller's contract).
            match unsafe { text(p, "a line") } {
                Ok(t) => {
                    texts.push(t);
                    index.push(i);
                }
                Err(status) => {
                    codes[i] = status;
                    if first.is_none() {
                        first = Some((status, last_message()));
                    }
                }
            }
        }
        // SAFETY: a live session (caller's contract).
        let s = unsafe { &*session };
        let results = s
            .held
            .borrow_owner()
            .translate_batch_with(&s.settings, &texts, s.threads);
        for (i, r) in index.into_iter().zip(results) {
            match r {
                Ok(o) => outs[i] = c_string(o.text),
                Err(e) => {
                    let status = fail_host(&e);
                    codes[i] = status;
                    if first.is_none() {
                        first = Some((status, e.to_string()));
                    }
                }
            }
        }
        if !statuses.is_null() {
            // SAFETY: `statuses` has room for `count` entries (caller's contract).
            unsafe { core::slice::from_raw_parts_mut(statuses, count) }.copy_from_slice(&codes);
        }
        match first {
            None => TernStatus::Ok,
            Some((status, msg)) => fail(status, msg),
        }
    })
}

/// The current thread's last message as a Rust string.
fn last_message() -> String {
    // SAFETY: `tern_last_error_message` returns a NUL-terminated string valid until the next
    // failure on this thread; it is copied at once.
    unsafe { CStr::from_ptr(crate::status::tern_last_error_message()) }
        .to_string_lossy()
        .into_owned()
}

/// Frees a string returned by this library (`tern_translate`, `tern_translate_batch`,
/// `tern_translate_html`, `tern_translate_aligned`, `tern_attention_pieces`, ...). NULL is
/// ignored.
///
/// # Safety
/// `s` from this library, not freed before, not used after.
#[no_mangle]
pub unsafe extern "C" fn tern_string_free(s: *mut c_char) {
    let _ = guard(|| {
        if !s.is_null() {
            // SAFETY: a pointer from `CString::into_raw` in this library, freed once.
            drop(unsafe { CString::from_raw(s) });
        }
        TernStatus::Ok
    });
}
