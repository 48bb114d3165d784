//! What a translation attended to (host API): the word alignment of a line in Pharaoh format,
//! and the cross-attention of its first sentence with the pieces it is between.

use crate::host::{c_string, fail_host, text, TernSession};
use crate::status::{fail, guard, TernStatus};
use core::ffi::c_char;
use std::string::String;
use std::vec::Vec;

/// Translates `text` on `session` with what its sentences attended to; the failure's status
/// when it cannot.
///
/// # Safety
/// `session` NULL or a live session used by this thread alone; `text` NULL or NUL-terminated.
unsafe fn attended(
    session: *mut TernSession,
    text: *const c_char,
) -> Result<(tern::Output, Vec<tern::attention::Attention>), TernStatus> {
    if session.is_null() {
        return Err(fail(TernStatus::NullArgument, "session is NULL"));
    }
    // SAFETY: NULL or NUL-terminated (caller's contract).
    let text = unsafe { self::text(text, "text") }?;
    // SAFETY: not NULL, a live session used by this thread alone (caller's contract).
    let s = unsafe { &mut *session };
    s.run(|session| session.translate_attended(text, false))
        .map_err(|e| fail_host(&e))
}

/// Translates one line as `tern_translate` does, with its word alignment: on success `*out` is
/// the translation and `*alignment` its alignment in Pharaoh format, as `tern translate
/// --alignment` prints it after ` ||| `: `source word-target word` pairs separated by spaces
/// ("0-0 1-2 2-1"; "" for a blank line), words counted from 0 over the whole line (a
/// sentence's words follow those of the sentences before it; a word is a run of pieces from
/// one that starts with a space). The alignment is the one Bergamot computes: from the head the
/// model was trained to align with, else from the cross-attention averaged over layers and
/// heads. Free both with `tern_string_free`; on failure both are NULL.
///
/// # Safety
/// `session` as for `tern_translate`; `text` NUL-terminated; `out` and `alignment` valid for
/// writes.
#[no_mangle]
pub unsafe extern "C" fn tern_translate_aligned(
    session: *mut TernSession,
    text: *const c_char,
    out: *mut *mut c_char,
    alignment: *mut *mut c_char,
) -> TernStatus {
    // SAFETY: the caller's contract is `attended_strings`'.
    unsafe {
        attended_strings(
            session,
            text,
            (out, alignment),
            "out or alignment",
            |o, maps| {
                let pairs = tern::attention::line_word_alignment(maps);
                (o.text, tern::attention::pharaoh(&pairs))
            },
        )
    }
}

/// Translates `text` as `attended` does and puts the two strings `make` makes of the result in
/// `*outs.0` and `*outs.1` (both NULL on failure; `names` says which pointers for a NULL one).
///
/// # Safety
/// As for `attended`; `outs.0` and `outs.1` NULL or valid for writes.
unsafe fn attended_strings(
    session: *mut TernSession,
    text: *const c_char,
    outs: (*mut *mut c_char, *mut *mut c_char),
    names: &str,
    make: impl FnOnce(tern::Output, &[tern::attention::Attention]) -> (String, String),
) -> TernStatus {
    guard(|| {
        if outs.0.is_null() || outs.1.is_null() {
            return fail(TernStatus::NullArgument, format_args!("{names} is NULL"));
        }
        // SAFETY: both valid for writes (caller's contract).
        unsafe {
            *outs.0 = core::ptr::null_mut();
            *outs.1 = core::ptr::null_mut();
        }
        // SAFETY: caller's contract.
        match unsafe { attended(session, text) } {
            Ok((o, maps)) => {
                let (first, second) = make(o, &maps);
                // SAFETY: as above.
                unsafe {
                    *outs.0 = c_string(first);
                    *outs.1 = c_string(second);
                }
                TernStatus::Ok
            }
            Err(status) => status,
        }
    })
}

/// The cross-attention of the translation of `text`'s FIRST sentence (the line is translated as
/// `tern_translate` translates it), averaged over every decoder layer and head: `*rows` target
/// pieces (the generated pieces, end-of-sentence included) by `*cols` source pieces (the
/// sentence's pieces, the language token first on multilingual models, end-of-sentence last),
/// row-major, each row a distribution over the source pieces (it sums to 1).
/// `tern_attention_pieces` gives the pieces. `*rows` and `*cols` are set on success and on
/// `TERN_STATUS_OUTPUT_TOO_SMALL`, 0 otherwise.
///
/// Size query: with `weights` NULL, or `capacity` (in floats) less than `rows * cols`, nothing
/// is written to `weights` and the status is `TERN_STATUS_OUTPUT_TOO_SMALL`, with `*rows` and
/// `*cols` set; call again with room for `rows * cols` floats (the same text on the same session
/// gives the same sizes). A blank line has no sentence: `TERN_STATUS_OK` with 0 x 0.
///
/// # Safety
/// `session` as for `tern_translate`; `text` NUL-terminated; `weights` NULL or valid for
/// `capacity` floats; `rows` and `cols` valid for writes.
#[no_mangle]
pub unsafe extern "C" fn tern_attention(
    session: *mut TernSession,
    text: *const c_char,
    weights: *mut f32,
    capacity: usize,
    rows: *mut usize,
    cols: *mut usize,
) -> TernStatus {
    guard(|| {
        if rows.is_null() || cols.is_null() {
            return fail(TernStatus::NullArgument, "rows or cols is NULL");
        }
        // SAFETY: both valid for writes (caller's contract).
        unsafe {
            *rows = 0;
            *cols = 0;
        }
        // SAFETY: caller's contract.
        let maps = match unsafe { attended(session, text) } {
            Ok((_, maps)) => maps,
            Err(status) => return status,
        };
        let Some(first) = maps.first() else {
            return TernStatus::Ok;
        };
        let (r, c) = (first.cross.rows, first.cross.cols);
        // SAFETY: as above.
        unsafe {
            *rows = r;
            *cols = c;
        }
        let need = r * c;
        if need == 0 {
            return TernStatus::Ok;
        }
        if weights.is_null() || capacity < need {
            return fail(
                TernStatus::OutputTooSmall,
                format_args!(
                    "attention weights need {need} floats ({r} rows x {c} columns), room for {}",
                    if weights.is_null() { 0 } else { capacity }
                ),
            );
        }
        let mean = first.cross.average();
        // SAFETY: `weights` is not NULL and valid for `capacity >= need` floats (caller's
        // contract); `mean` holds `need` floats.
        unsafe { core::slice::from_raw_parts_mut(weights, need) }.copy_from_slice(&mean);
        TernStatus::Ok
    })
}

/// The pieces `tern_attention` is between, for the same line: `*source` gets the first
/// sentence's source pieces (its columns) and `*target` its translation's pieces (its rows),
/// each one string of pieces separated by '\n' (no newline after the last), as the tokenizer
/// spells them ("▁Hello", "</s>"; an unknown id as "<id>"). A blank line gives "" for both.
/// Free both with `tern_string_free`; on failure both are NULL.
///
/// # Safety
/// `session` as for `tern_translate`; `text` NUL-terminated; `source` and `target` valid for
/// writes.
#[no_mangle]
pub unsafe extern "C" fn tern_attention_pieces(
    session: *mut TernSession,
    text: *const c_char,
    source: *mut *mut c_char,
    target: *mut *mut c_char,
) -> TernStatus {
    // SAFETY: the caller's contract is `attended_strings`'.
    unsafe {
        attended_strings(
            session,
            text,
            (source, target),
            "source or target",
            |_, maps| {
                maps.first()
                    .map(|a| (a.source.join("\n"), a.target.join("\n")))
                    .unwrap_or_default()
            },
        )
    }
}
