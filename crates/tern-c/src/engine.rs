//! The `no_std` API, for firmware: the caller gives the model's bytes (in flash, read in
//! place), storage for the engine handle and a workspace buffer; nothing is allocated. It
//! mirrors `tern_core::engine::Engine` (load, workspace_bytes, translate) and what the Rust
//! firmware (`firmware/cortex-m`) does with it.
//!
//! Limits (`max_src`, `max_tgt`, `beam`) are the plan's capacities: 0 takes the model's
//! default (`Engine::plan`); others must be in range (beam 1..=64, lengths 1..=2^20; lengths
//! above the model's positions are capped to them). Within them the search runs with the
//! file's generation defaults (`Engine::options`), exactly as the Rust firmware does, so a C
//! firmware and a Rust one with the same limits give the same text.

use crate::status::{fail, fail_core, guard, OutOfRange, TernStatus};
use core::ffi::c_char;
use core::mem::{align_of, size_of};
use tern_core::engine::{Engine, Wanted};
use tern_core::kernels::Kernels;
use tern_core::plan::{Limits, MAX_BEAM};

/// Bytes of [`TernEngineStorage`]: room for a loaded engine on any target (checked when the
/// library is compiled; `tern_engine_size()` gives this target's exact need, about 85 KiB on
/// 64-bit hosts and less on 32-bit cores: it holds a view of every tensor of every layer).
pub const TERN_ENGINE_STORAGE_BYTES: usize = 96 * 1024;
/// `TERN_ENGINE_STORAGE_BYTES` in 8-byte words.
pub const TERN_ENGINE_STORAGE_WORDS: usize = TERN_ENGINE_STORAGE_BYTES / 8;

/// Most tokens a length limit may ask for (the host library's `tern::MAX_LEN` range).
pub(crate) const MAX_TOKENS_LIMIT: usize = 1 << 20;

/// Memory for one engine handle, provided by the caller (a `static` in firmware). Its contents
/// are private. It must stay in place, unchanged, while the engine is in use. An engine
/// allocates nothing and holds no resource, so there is nothing to free: when done with it, the
/// storage may be reused.
#[repr(C)]
pub struct TernEngineStorage {
    pub _opaque: [u64; TERN_ENGINE_STORAGE_WORDS],
}

/// A loaded model (no_std API): the parsed file, its weights and tokenizer, all pointing into
/// the caller's model bytes. Lives in a caller's `TernEngineStorage`.
pub struct TernEngine {
    engine: Engine<'static>,
}

// The storage must hold an engine on every target this crate builds for. (An engine allocates
// nothing and holds no resource: when the C caller stops using it, nothing is lost.)
const _: () = assert!(size_of::<TernEngine>() <= size_of::<TernEngineStorage>());
const _: () = assert!(align_of::<TernEngine>() <= align_of::<TernEngineStorage>());

/// Bytes of a loaded engine on this target (at most `TERN_ENGINE_STORAGE_BYTES`).
#[no_mangle]
pub extern "C" fn tern_engine_size() -> usize {
    size_of::<TernEngine>()
}

fn check(name: &'static str, value: usize, max: usize) -> Result<Option<usize>, TernStatus> {
    match value {
        0 => Ok(None),
        v if v <= max => Ok(Some(v)),
        v => Err(fail(
            TernStatus::InvalidArgument,
            OutOfRange {
                name,
                min: 1,
                max,
                value: v,
            },
        )),
    }
}

/// The plan's limits for these capacities (0: the model's default).
fn limits(
    e: &Engine<'_>,
    max_src: usize,
    max_tgt: usize,
    beam: usize,
) -> Result<Limits, TernStatus> {
    let wanted = Wanted {
        beam: check("beam", beam, MAX_BEAM)?,
        max_src: check("max_src_len", max_src, MAX_TOKENS_LIMIT)?,
        max_tgt: check("max_len", max_tgt, MAX_TOKENS_LIMIT)?,
        batch: None,
    };
    Ok(e.plan(&wanted).0)
}

/// The model bytes as a slice, or the status for a NULL pointer or an impossible length.
///
/// # Safety
/// `model` must be valid for reads of `len` bytes for `'a`.
unsafe fn model_bytes<'a>(model: *const u8, len: usize) -> Result<&'a [u8], TernStatus> {
    if model.is_null() {
        return Err(fail(TernStatus::NullArgument, "model is NULL"));
    }
    if len > isize::MAX as usize {
        return Err(fail(
            TernStatus::InvalidArgument,
            "model_len is larger than memory",
        ));
    }
    // SAFETY: not NULL, length within isize::MAX; readable for `len` bytes by the caller's
    // contract (documented on every entry point).
    Ok(unsafe { core::slice::from_raw_parts(model, len) })
}

/// Loads a model from bytes in memory (no_std API): checks the file's structure and resolves
/// every tensor, reading in place (nothing is copied). Writes the handle into `storage` and
/// its address to `*engine`.
///
/// - `model`: the model file's bytes, on a 32-byte boundary (the file aligns its tensors to 32
///   bytes; fewer than 4 gives `TERN_STATUS_MISALIGNED`); they must stay valid and unchanged
///   while the engine is used.
/// - `storage`: where the engine lives; it must stay in place while the engine is used.
///
/// Loading parses the file's header and tensor table: run it once and keep the handle.
///
/// # Safety
/// `model` must be readable for `model_len` bytes; `storage` and `engine` must be valid for
/// writes (or NULL, which gives `TERN_STATUS_NULL_ARGUMENT`).
#[no_mangle]
pub unsafe extern "C" fn tern_engine_load(
    model: *const u8,
    model_len: usize,
    storage: *mut TernEngineStorage,
    engine: *mut *const TernEngine,
) -> TernStatus {
    guard(|| {
        if storage.is_null() || engine.is_null() {
            return fail(TernStatus::NullArgument, "storage or engine is NULL");
        }
        // SAFETY: the caller's contract: readable for `model_len` bytes, unchanged while any
        // engine loaded from it is used (the header says so).
        let bytes: &'static [u8] = match unsafe { model_bytes(model, model_len) } {
            Ok(b) => b,
            Err(s) => return s,
        };
        let loaded = match Engine::load(bytes, Kernels::best()) {
            Ok(e) => e,
            Err(e) => return fail_core(e),
        };
        let slot = storage.cast::<TernEngine>();
        // SAFETY: `storage` is not NULL and valid for writes of a `TernEngineStorage`, whose
        // size and alignment hold a `TernEngine` (checked at compile time above); `engine` is
        // valid for writes. Whatever the storage held before needs no drop (no destructor).
        unsafe {
            slot.write(TernEngine { engine: loaded });
            *engine = slot;
        }
        TernStatus::Ok
    })
}

/// Workspace bytes `tern_engine_translate` needs for these limits and inputs of at most
/// `max_text_bytes` bytes, for a loaded engine.
///
/// # Safety
/// `engine` must come from `tern_engine_load` (its storage and model still in place); `out`
/// must be valid for writes.
#[no_mangle]
pub unsafe extern "C" fn tern_engine_workspace_bytes(
    engine: *const TernEngine,
    max_src: usize,
    max_tgt: usize,
    beam: usize,
    max_text_bytes: usize,
    out: *mut usize,
) -> TernStatus {
    guard(|| {
        if engine.is_null() || out.is_null() {
            return fail(TernStatus::NullArgument, "engine or out is NULL");
        }
        // SAFETY: a handle from `tern_engine_load`, still in place (caller's contract).
        let e = unsafe { &(*engine).engine };
        let l = match limits(e, max_src, max_tgt, beam) {
            Ok(l) => l,
            Err(s) => return s,
        };
        // SAFETY: `out` is not NULL and valid for writes (caller's contract).
        unsafe { *out = e.workspace_bytes(&l, max_text_bytes) };
        TernStatus::Ok
    })
}

/// The size query: workspace bytes `tern_engine_translate` needs with this model, these
/// limits (0: the model's default) and inputs of at most `max_text_bytes` bytes of UTF-8.
/// Loads the model to answer (on the stack: `tern_engine_size()` bytes); firmware builds call
/// it on the host to size a `static` workspace (see `firmware/cortex-m-c`).
///
/// # Safety
/// `model` must be readable for `model_len` bytes; `out` must be valid for writes.
#[no_mangle]
pub unsafe extern "C" fn tern_workspace_bytes(
    model: *const u8,
    model_len: usize,
    max_src: usize,
    max_tgt: usize,
    beam: usize,
    max_text_bytes: usize,
    out: *mut usize,
) -> TernStatus {
    guard(|| {
        if out.is_null() {
            return fail(TernStatus::NullArgument, "out is NULL");
        }
        // SAFETY: caller's contract; the bytes outlive this call, which is all `e` needs.
        let bytes = match unsafe { model_bytes(model, model_len) } {
            Ok(b) => b,
            Err(s) => return s,
        };
        let e = match Engine::load(bytes, Kernels::best()) {
            Ok(e) => e,
            Err(e) => return fail_core(e),
        };
        let l = match limits(&e, max_src, max_tgt, beam) {
            Ok(l) => l,
            Err(s) => return s,
        };
        // SAFETY: `out` is not NULL and valid for writes (caller's contract).
        unsafe { *out = e.workspace_bytes(&l, max_text_bytes) };
        TernStatus::Ok
    })
}

/// Translates one line of UTF-8 text (no_std API) into `out`, NUL-terminated; `*out_len`
/// (if not NULL) gets the bytes written before the NUL. Blank text gives "". Models that
/// split sentences (Bergamot's) translate each sentence on its own; elsewhere a sentence
/// longer than `max_src` tokens is cut. Nothing is allocated: the workspace holds every
/// buffer.
///
/// - `max_src`, `max_tgt`, `beam`: the limits the workspace was sized for (0: the model's
///   default); the search uses the file's generation defaults within them.
/// - `workspace`: at least `tern_workspace_bytes(...)` bytes for these limits and a
///   `max_text_bytes` >= `text_len` (else `TERN_STATUS_WORKSPACE_TOO_SMALL`, saying how many);
///   any alignment. Its contents need not be kept between calls.
/// - `text`: `text_len` bytes, not necessarily NUL-terminated; invalid UTF-8 gives
///   `TERN_STATUS_INVALID_UTF8`.
/// - `out`: `out_cap` bytes; too few for the translation and its NUL gives
///   `TERN_STATUS_OUTPUT_TOO_SMALL`.
///
/// One engine may serve several threads or cores, each with its own workspace and output.
///
/// # Safety
/// `engine` from `tern_engine_load`, still in place; `workspace` writable for `workspace_len`
/// bytes, `text` readable for `text_len`, `out` writable for `out_cap`, none overlapping;
/// `out_len` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tern_engine_translate(
    engine: *const TernEngine,
    max_src: usize,
    max_tgt: usize,
    beam: usize,
    workspace: *mut u8,
    workspace_len: usize,
    text: *const c_char,
    text_len: usize,
    out: *mut c_char,
    out_cap: usize,
    out_len: *mut usize,
) -> TernStatus {
    guard(|| {
        if engine.is_null() || workspace.is_null() || text.is_null() || out.is_null() {
            return fail(
                TernStatus::NullArgument,
                "engine, workspace, text or out is NULL",
            );
        }
        if workspace_len > isize::MAX as usize
            || text_len > isize::MAX as usize
            || out_cap > isize::MAX as usize
        {
            return fail(
                TernStatus::InvalidArgument,
                "a buffer length is larger than memory",
            );
        }
        if out_cap == 0 {
            return fail(
                TernStatus::OutputTooSmall,
                "output buffer too small: need at least 1 byte (the NUL)",
            );
        }
        // SAFETY: a handle from `tern_engine_load`, still in place (caller's contract).
        let e = unsafe { &(*engine).engine };
        // SAFETY: not NULL, lengths within isize::MAX, valid and not overlapping (caller's
        // contract).
        let (ws, text, out) = unsafe {
            (
                core::slice::from_raw_parts_mut(workspace, workspace_len),
                core::slice::from_raw_parts(text.cast::<u8>(), text_len),
                core::slice::from_raw_parts_mut(out.cast::<u8>(), out_cap),
            )
        };
        let text = match core::str::from_utf8(text) {
            Ok(t) => t,
            Err(err) => {
                return fail(
                    TernStatus::InvalidUtf8,
                    format_args!("text is not valid UTF-8 (at byte {})", err.valid_up_to()),
                )
            }
        };
        let l = match limits(e, max_src, max_tgt, beam) {
            Ok(l) => l,
            Err(s) => return s,
        };
        let opts = e.options(&l);
        let (body, _) = out.split_at_mut(out_cap - 1);
        match e.translate(ws, &l, &opts, text, body) {
            Ok(t) => {
                if let Some(nul) = out.get_mut(t.text_len) {
                    *nul = 0;
                }
                if !out_len.is_null() {
                    // SAFETY: not NULL, writable (caller's contract).
                    unsafe { *out_len = t.text_len };
                }
                TernStatus::Ok
            }
            Err(tern_core::Error::OutputTooSmall { needed }) => fail(
                TernStatus::OutputTooSmall,
                format_args!(
                    "output buffer too small: need more than {} bytes (given {out_cap}, one kept for the NUL)",
                    needed
                ),
            ),
            Err(err) => fail_core(err),
        }
    })
}
