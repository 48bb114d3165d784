//! Status codes and the last error's message.

use core::ffi::{c_char, c_int};
use core::fmt;

/// What a call did. `TERN_STATUS_OK` (0) is success; every other value is a failure, and
/// `tern_last_error_message()` then says what went wrong.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TernStatus {
    /// Success.
    Ok = 0,
    /// A pointer argument that must not be NULL was NULL.
    NullArgument = 1,
    /// Text given to tern is not valid UTF-8.
    InvalidUtf8 = 2,
    /// A setting or limit is out of its range (the message gives the range), or an argument
    /// is unusable (a NUL byte inside a language code, a zero-sized buffer).
    InvalidArgument = 3,
    /// The model file could not be opened or mapped.
    Io = 4,
    /// The model file is not one tern can run: not GGUF, damaged, unsupported, inconsistent.
    BadModel = 5,
    /// The model bytes are not aligned enough to be read in place (give them a 32-byte
    /// boundary, as the file aligns its tensors).
    Misaligned = 6,
    /// A language code the model does not have, or a multilingual model without one.
    Language = 7,
    /// The input has more tokens than `max_src_len` allows.
    TooLong = 8,
    /// The workspace buffer is smaller than the memory plan needs (the message says how much).
    WorkspaceTooSmall = 9,
    /// The output buffer is too small: for the translation and its terminating NUL
    /// (`tern_engine_translate`), or for the attention weights (`tern_attention`, which then
    /// gives their size).
    OutputTooSmall = 10,
    /// Translating failed for another reason (the message says why).
    Failed = 11,
    /// An internal error (a bug in tern) was caught at the boundary; the handle it happened
    /// on should not be used further.
    Panic = 12,
    /// HTML given to `tern_translate_html` is not well-formed (the message says where: "bad
    /// HTML at byte 6: </i> closes <b>, which is still open").
    BadMarkup = 13,
}

/// The status a core error gives.
pub(crate) fn core_status(e: &tern_core::Error) -> TernStatus {
    use tern_core::Error as E;
    match e {
        E::MisalignedBuffer => TernStatus::Misaligned,
        E::WorkspaceTooSmall { .. } => TernStatus::WorkspaceTooSmall,
        E::OutputTooSmall { .. } => TernStatus::OutputTooSmall,
        E::InputTooLong { .. } => TernStatus::TooLong,
        E::UnknownLanguage | E::MissingLanguage(_) => TernStatus::Language,
        E::BadLimit(_) => TernStatus::InvalidArgument,
        _ => TernStatus::BadModel,
    }
}

/// A numeric limit outside its range: the same words as the CLI, the host library and Python
/// (`tern::Range`: "beam must be between 1 and 64, not 0").
pub(crate) struct OutOfRange {
    pub name: &'static str,
    pub min: usize,
    pub max: usize,
    pub value: usize,
}

impl fmt::Display for OutOfRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} must be between {} and {}, not {}",
            self.name, self.min, self.max, self.value
        )
    }
}

/// Records `msg` as this thread's (host) or the program's (no_std) last error; returns
/// `status`.
pub(crate) fn fail(status: TernStatus, msg: impl fmt::Display) -> TernStatus {
    record(&msg);
    status
}

/// [`fail`] with a core error's status and words.
pub(crate) fn fail_core(e: tern_core::Error) -> TernStatus {
    fail(core_status(&e), e)
}

#[cfg(feature = "std")]
mod store {
    use core::cell::RefCell;
    use core::ffi::c_char;
    use core::fmt::{self, Write as _};
    use std::string::String;
    use std::vec::Vec;

    std::thread_local! {
        /// The last error's message on this thread, NUL-terminated.
        static LAST: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }

    pub(super) fn record(msg: &dyn fmt::Display) {
        let mut s = String::new();
        let _ = write!(s, "{msg}");
        // A C string ends at the first NUL: a message must not hold one.
        let mut bytes: Vec<u8> = s.into_bytes().into_iter().filter(|&b| b != 0).collect();
        bytes.push(0);
        LAST.with(|l| *l.borrow_mut() = bytes);
    }

    pub(super) fn last() -> *const c_char {
        LAST.with(|l| {
            let mut l = l.borrow_mut();
            if l.is_empty() {
                l.push(0);
            }
            // The Vec's heap buffer stays where it is until this thread's next error replaces
            // it (or the thread ends), which is the lifetime the header documents.
            l.as_ptr().cast()
        })
    }
}

#[cfg(not(feature = "std"))]
mod store {
    use core::cell::UnsafeCell;
    use core::ffi::c_char;
    use core::fmt::{self, Write as _};
    use core::sync::atomic::{AtomicBool, Ordering};

    /// Bytes kept of a message (longer ones are cut at a character boundary).
    const BYTES: usize = 256;

    /// One message for the whole program: firmware has no threads to keep one per thread.
    struct Last {
        busy: AtomicBool,
        buf: UnsafeCell<[u8; BYTES]>,
    }

    // SAFETY: `buf` is written only by whoever set `busy` (a compare-exchange), so two writers
    // never overlap; readers get a pointer and the header says a message is valid until the
    // next failing call.
    unsafe impl Sync for Last {}

    static LAST: Last = Last {
        busy: AtomicBool::new(false),
        buf: UnsafeCell::new([0; BYTES]),
    };

    struct Cursor<'b> {
        buf: &'b mut [u8; BYTES],
        len: usize,
    }

    impl fmt::Write for Cursor<'_> {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            for c in s.chars().filter(|&c| c != '\0') {
                let mut tmp = [0u8; 4];
                let b = c.encode_utf8(&mut tmp).as_bytes();
                // Keep one byte for the NUL.
                let Some(dst) = self.buf.get_mut(self.len..self.len + b.len()) else {
                    return Err(fmt::Error);
                };
                if self.len + b.len() >= BYTES {
                    return Err(fmt::Error);
                }
                dst.copy_from_slice(b);
                self.len += b.len();
            }
            Ok(())
        }
    }

    pub(super) fn record(msg: &dyn fmt::Display) {
        if LAST
            .busy
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            // Another context (an interrupt) is writing its message: keep that one.
            return;
        }
        // SAFETY: `busy` was false and is now ours: no other writer touches `buf` until we
        // release it below.
        let buf = unsafe { &mut *LAST.buf.get() };
        let mut c = Cursor { buf, len: 0 };
        let _ = write!(c, "{msg}");
        let end = c.len;
        if let Some(b) = c.buf.get_mut(end) {
            *b = 0;
        }
        LAST.busy.store(false, Ordering::Release);
    }

    pub(super) fn last() -> *const c_char {
        LAST.buf.get().cast()
    }
}

fn record(msg: &dyn fmt::Display) {
    store::record(msg);
}

/// The message of the last call that failed, UTF-8, NUL-terminated; "" if none has. Host
/// library: per thread, valid until the next failing call on the same thread. no_std library:
/// one message for the whole program (at most 255 bytes), valid until the next failing call.
/// Owned by the library: do not free it.
#[no_mangle]
pub extern "C" fn tern_last_error_message() -> *const c_char {
    store::last()
}

/// A static, NUL-terminated name for a status code ("TERN_STATUS_TOO_LONG"); "unknown status"
/// for a value that is not one. Owned by the library: do not free it.
#[no_mangle]
pub extern "C" fn tern_status_name(status: c_int) -> *const c_char {
    let name: &core::ffi::CStr = match status {
        0 => c"TERN_STATUS_OK",
        1 => c"TERN_STATUS_NULL_ARGUMENT",
        2 => c"TERN_STATUS_INVALID_UTF8",
        3 => c"TERN_STATUS_INVALID_ARGUMENT",
        4 => c"TERN_STATUS_IO",
        5 => c"TERN_STATUS_BAD_MODEL",
        6 => c"TERN_STATUS_MISALIGNED",
        7 => c"TERN_STATUS_LANGUAGE",
        8 => c"TERN_STATUS_TOO_LONG",
        9 => c"TERN_STATUS_WORKSPACE_TOO_SMALL",
        10 => c"TERN_STATUS_OUTPUT_TOO_SMALL",
        11 => c"TERN_STATUS_FAILED",
        12 => c"TERN_STATUS_PANIC",
        13 => c"TERN_STATUS_BAD_MARKUP",
        _ => c"unknown status",
    };
    name.as_ptr()
}

/// tern's version, NUL-terminated ("0.1.0"). Owned by the library.
#[no_mangle]
pub extern "C" fn tern_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// Runs an entry point's body; in the host library a panic (a bug) becomes
/// `TERN_STATUS_PANIC` instead of unwinding into C. (The no_std library is built with
/// `panic = "abort"`: there is nothing to catch.)
pub(crate) fn guard(body: impl FnOnce() -> TernStatus) -> TernStatus {
    #[cfg(feature = "std")]
    {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
            Ok(status) => status,
            Err(payload) => {
                let what = payload
                    .downcast_ref::<&str>()
                    .copied()
                    .or_else(|| {
                        payload
                            .downcast_ref::<std::string::String>()
                            .map(|s| s.as_str())
                    })
                    .unwrap_or("unknown");
                fail(
                    TernStatus::Panic,
                    format_args!("internal error in tern (please report it): {what}"),
                )
            }
        }
    }
    #[cfg(not(feature = "std"))]
    {
        body()
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_a_status_and_a_message() {
        let status = guard(|| panic!("boom"));
        assert_eq!(status, TernStatus::Panic);
        // SAFETY: NUL-terminated, valid until the next failure on this thread.
        let msg = unsafe { core::ffi::CStr::from_ptr(tern_last_error_message()) };
        assert_eq!(
            msg.to_str().unwrap(),
            "internal error in tern (please report it): boom"
        );
        assert_eq!(guard(|| TernStatus::Ok), TernStatus::Ok);
    }

    #[test]
    fn range_messages_are_the_host_library_s() {
        let mine = OutOfRange {
            name: "beam",
            min: 1,
            max: tern_core::plan::MAX_BEAM,
            value: 0,
        };
        let theirs = tern::BEAM.check(0).unwrap_err();
        assert_eq!(std::format!("{mine}"), std::format!("{theirs}"));
        // The no_std API's length limits are the host library's.
        assert_eq!(crate::engine::MAX_TOKENS_LIMIT, tern::MAX_LEN.max);
        assert_eq!(crate::engine::MAX_TOKENS_LIMIT, tern::MAX_SRC_LEN.max);
    }
}
