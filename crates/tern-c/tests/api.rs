//! The C API called as C calls it (through the `extern "C"` functions): results equal the
//! Rust library's, and bad arguments give statuses and tern's messages, not crashes.

use std::ffi::{c_char, CStr, CString};
use std::path::PathBuf;
use std::ptr;
use tern_c::*;
use tern_convert::Precision;

fn last() -> String {
    // SAFETY: the library returns a NUL-terminated string valid until the next failure.
    unsafe { CStr::from_ptr(tern_last_error_message()) }
        .to_string_lossy()
        .into_owned()
}

/// The Marian fixture converted to int8, written once.
fn model_path(name: &str, dir: &str, precision: Precision) -> PathBuf {
    let path = tern_e2e::scratch().join(format!("capi-{name}.gguf"));
    let bytes = tern_e2e::convert(
        &tern_e2e::root().join("models/fixtures").join(dir),
        precision,
    );
    std::fs::write(&path, bytes).unwrap();
    path
}

fn sentences() -> Vec<String> {
    let text =
        std::fs::read_to_string(tern_e2e::root().join("firmware/cortex-m/sentences.txt")).unwrap();
    let mut v: Vec<String> = text.lines().map(str::to_owned).collect();
    v.push(String::new());
    v.push("Two sentences here. And another one follows!".into());
    v
}

struct Model(*mut TernModel);
impl Drop for Model {
    fn drop(&mut self) {
        // SAFETY: from tern_model_open, freed once.
        unsafe { tern_model_free(self.0) }
    }
}

fn open(path: &std::path::Path) -> Model {
    let p = CString::new(path.to_str().unwrap()).unwrap();
    let mut m = ptr::null_mut();
    // SAFETY: valid arguments.
    let s = unsafe { tern_model_open(p.as_ptr(), &mut m) };
    assert_eq!(s, TernStatus::Ok, "{}", last());
    Model(m)
}

fn session(m: &Model, settings: &TernSettings) -> Result<*mut TernSession, (TernStatus, String)> {
    let mut s = ptr::null_mut();
    // SAFETY: valid arguments.
    match unsafe { tern_session_new(m.0, settings, &mut s) } {
        TernStatus::Ok => Ok(s),
        status => Err((status, last())),
    }
}

fn translate(s: *mut TernSession, text: &[u8]) -> Result<String, (TernStatus, String)> {
    let c = CString::new(text).unwrap();
    let mut out = ptr::null_mut();
    // SAFETY: valid arguments.
    match unsafe { tern_translate(s, c.as_ptr(), &mut out) } {
        TernStatus::Ok => {
            // SAFETY: a string from tern_translate, freed once below.
            let t = unsafe { CStr::from_ptr(out) }.to_str().unwrap().to_owned();
            unsafe { tern_string_free(out) };
            Ok(t)
        }
        status => {
            assert!(out.is_null());
            Err((status, last()))
        }
    }
}

#[test]
fn host_api_matches_the_library_and_refuses_bad_arguments() {
    let path = model_path("marian-int8", "marian-tiny-en-de", Precision::Int8);
    let m = open(&path);
    let lib = tern::Translator::open(&path)
        .unwrap()
        .with_settings(tern::Settings {
            beam: Some(2),
            truncate: true,
            ..Default::default()
        });
    let mut settings = tern_settings_default();
    settings.beam = 2;
    let s = session(&m, &settings).unwrap();
    // Two threads per sentence: the same text.
    settings.intra_threads = 2;
    let two = session(&m, &settings).unwrap();
    for line in sentences() {
        let want = lib.translate(&line).unwrap();
        assert_eq!(translate(s, line.as_bytes()).unwrap(), want, "{line:?}");
        assert_eq!(translate(two, line.as_bytes()).unwrap(), want, "{line:?}");
    }
    // SAFETY: from tern_session_new, freed once.
    unsafe { tern_session_free(two) };
    assert!(!translate(s, b"The weather is nice today.")
        .unwrap()
        .is_empty());

    // Invalid UTF-8 and NULLs give statuses.
    let (status, msg) = translate(s, b"caf\xe9 au lait").unwrap_err();
    assert_eq!(status, TernStatus::InvalidUtf8);
    assert!(msg.contains("not valid UTF-8 (at byte 3)"), "{msg}");
    let mut out = ptr::null_mut();
    // SAFETY: NULL arguments are what is tested.
    unsafe {
        assert_eq!(
            tern_translate(s, ptr::null(), &mut out),
            TernStatus::NullArgument
        );
        assert_eq!(
            tern_translate(ptr::null_mut(), c"x".as_ptr(), &mut out),
            TernStatus::NullArgument
        );
        assert_eq!(
            tern_translate(s, c"x".as_ptr(), ptr::null_mut()),
            TernStatus::NullArgument
        );
        assert_eq!(
            tern_session_new(ptr::null(), ptr::null(), &mut ptr::null_mut()),
            TernStatus::NullArgument
        );
        tern_string_free(ptr::null_mut());
        tern_session_free(ptr::null_mut());
        tern_model_free(ptr::null_mut());
    }

    // Settings out of range: the host library's (and the CLI's) words.
    for (field, value, range) in [
        ("beam", 100usize, tern::BEAM),
        ("batch", 65, tern::BATCH),
        ("threads", 5000, tern::THREADS),
        ("intra_threads", 300, tern::INTRA_THREADS),
    ] {
        let mut bad = tern_settings_default();
        match field {
            "beam" => bad.beam = value,
            "batch" => bad.batch = value,
            "threads" => bad.threads = value,
            _ => bad.intra_threads = value,
        }
        let (status, msg) = session(&m, &bad).unwrap_err();
        assert_eq!(status, TernStatus::InvalidArgument);
        assert_eq!(msg, range.check(value).unwrap_err().to_string());
    }
    // A language code on a model without languages is refused up front, naming it.
    let mut bad = tern_settings_default();
    bad.target_lang = c"xx_Yyyy".as_ptr();
    let (status, msg) = session(&m, &bad).unwrap_err();
    assert_eq!(status, TernStatus::Language, "{msg}");
    assert!(msg.contains("xx_Yyyy"), "{msg}");

    // Batches keep the order and give what one at a time gives, with threads and batching.
    let lines = sentences();
    let cs: Vec<CString> = lines
        .iter()
        .map(|l| CString::new(l.as_str()).unwrap())
        .collect();
    let mut ptrs: Vec<*const c_char> = cs.iter().map(|c| c.as_ptr()).collect();
    ptrs.push(c"bad \xff byte".as_ptr());
    let mut batched = tern_settings_default();
    batched.beam = 1;
    batched.batch = 4;
    batched.threads = 2;
    let b = session(&m, &batched).unwrap();
    let greedy = tern::Translator::open(&path)
        .unwrap()
        .with_settings(tern::Settings {
            beam: Some(1),
            truncate: true,
            ..Default::default()
        });
    let mut outs = vec![ptr::null_mut(); ptrs.len()];
    let mut statuses = vec![TernStatus::Panic; ptrs.len()];
    // SAFETY: `ptrs`, `outs` and `statuses` have the same length.
    let status = unsafe {
        tern_translate_batch(
            b,
            ptrs.as_ptr(),
            ptrs.len(),
            outs.as_mut_ptr(),
            statuses.as_mut_ptr(),
        )
    };
    assert_eq!(status, TernStatus::InvalidUtf8, "the bad line's status");
    assert!(last().contains("not valid UTF-8"), "{}", last());
    assert_eq!(statuses.last(), Some(&TernStatus::InvalidUtf8));
    assert!(outs.last().unwrap().is_null());
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(statuses[i], TernStatus::Ok);
        // SAFETY: a string from tern_translate_batch, freed once.
        let got = unsafe { CStr::from_ptr(outs[i]) }
            .to_str()
            .unwrap()
            .to_owned();
        unsafe { tern_string_free(outs[i]) };
        assert_eq!(got, greedy.translate(line).unwrap(), "{line:?}");
    }

    // Streaming: the pieces concatenate to the translation, in order.
    unsafe extern "C" fn collect(piece: *const c_char, len: usize, user: *mut std::ffi::c_void) {
        // SAFETY: the library passes `len` valid bytes; `user` is the Vec below.
        let (piece, pieces) = unsafe {
            (
                std::slice::from_raw_parts(piece.cast::<u8>(), len),
                &mut *user.cast::<Vec<String>>(),
            )
        };
        pieces.push(String::from_utf8(piece.to_vec()).expect("UTF-8 piece"));
    }
    for line in sentences() {
        let mut pieces: Vec<String> = Vec::new();
        let c = CString::new(line.as_str()).unwrap();
        // SAFETY: valid arguments; `pieces` outlives the call.
        let status = unsafe {
            tern_translate_stream(
                s,
                c.as_ptr(),
                Some(collect),
                (&mut pieces as *mut Vec<String>).cast(),
            )
        };
        assert_eq!(status, TernStatus::Ok, "{}", last());
        assert_eq!(pieces.concat(), lib.translate(&line).unwrap(), "{line:?}");
    }
    // SAFETY: NULL callback and bad text are what is tested.
    unsafe {
        assert_eq!(
            tern_translate_stream(s, c"x".as_ptr(), None, ptr::null_mut()),
            TernStatus::NullArgument
        );
        let bad = c"\xc3(";
        assert_eq!(
            tern_translate_stream(s, bad.as_ptr(), Some(collect), ptr::null_mut()),
            TernStatus::InvalidUtf8
        );
    }

    // One model shared by threads, one session per thread.
    struct Shared(*mut TernModel);
    // SAFETY: the header documents a model as shareable between threads (checked in host.rs).
    unsafe impl Sync for Shared {}
    let shared = Shared(m.0);
    let lines = sentences();
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                let shared = &shared;
                let mut own = ptr::null_mut();
                let mut settings = tern_settings_default();
                settings.beam = 2;
                // SAFETY: a live model; settings valid.
                assert_eq!(
                    unsafe { tern_session_new(shared.0, &settings, &mut own) },
                    TernStatus::Ok
                );
                for line in &lines {
                    assert_eq!(
                        translate(own, line.as_bytes()).unwrap(),
                        lib.translate(line).unwrap()
                    );
                }
                // SAFETY: from tern_session_new, freed once.
                unsafe { tern_session_free(own) };
            });
        }
    });

    // Sessions keep their model alive: freeing the model first is fine.
    let m2 = open(&path);
    let late = session(&m2, &settings).unwrap();
    drop(m2);
    assert_eq!(
        translate(late, b"Where is the train station?").unwrap(),
        lib.translate("Where is the train station?").unwrap()
    );
    // SAFETY: sessions from tern_session_new, freed once.
    unsafe {
        tern_session_free(late);
        tern_session_free(b);
        tern_session_free(s);
    }
}

#[test]
fn host_api_errors_name_the_cause() {
    let mut m = ptr::null_mut();
    // SAFETY: valid or NULL arguments, as tested.
    unsafe {
        assert_eq!(
            tern_model_open(ptr::null(), &mut m),
            TernStatus::NullArgument
        );
        assert_eq!(
            tern_model_open(c"/nonexistent/x.gguf".as_ptr(), &mut m),
            TernStatus::Io
        );
        assert!(last().starts_with("/nonexistent/x.gguf: "), "{}", last());
        assert_eq!(tern_model_open(c"/".as_ptr(), &mut m), TernStatus::Io);
        // The host library's words, said once.
        let dir = tern::Translator::open("/").err().unwrap().to_string();
        assert_eq!(last(), dir);
        assert_eq!(last().matches("directory").count(), 1, "{}", last());
        let not_model = tern_e2e::scratch().join("capi-not-a-model.gguf");
        std::fs::write(&not_model, b"this is not a model at all, just text").unwrap();
        let p = CString::new(not_model.to_str().unwrap()).unwrap();
        assert_eq!(tern_model_open(p.as_ptr(), &mut m), TernStatus::BadModel);
        assert_eq!(last(), "not a GGUF file (bad magic)");
        assert!(CStr::from_ptr(tern_status_name(8)).to_str().unwrap() == "TERN_STATUS_TOO_LONG");
        assert!(CStr::from_ptr(tern_status_name(99)).to_str().unwrap() == "unknown status");
    }
    // Multilingual: an unknown code lists the model's codes; no code and no default is refused.
    let path = model_path("nllb-f32", "nllb-tiny", Precision::F32);
    let m = open(&path);
    let mut bad = tern_settings_default();
    bad.source_lang = c"eng_Latn".as_ptr();
    bad.target_lang = c"klingon".as_ptr();
    let (status, msg) = session(&m, &bad).unwrap_err();
    assert_eq!(status, TernStatus::Language);
    assert!(
        msg.contains("\"klingon\"") && msg.contains("por_Latn"),
        "{msg}"
    );
    let (status, msg) = session(&m, &tern_settings_default()).unwrap_err();
    assert_eq!(status, TernStatus::Language);
    assert!(msg.contains("por_Latn"), "{msg}");
    let mut good = tern_settings_default();
    good.source_lang = c"eng_Latn".as_ptr();
    good.target_lang = c"por_Latn".as_ptr();
    let s = session(&m, &good).unwrap();
    let lib = tern::Translator::open(&path)
        .unwrap()
        .with_settings(tern::Settings {
            source_lang: Some("eng_Latn".into()),
            target_lang: Some("por_Latn".into()),
            truncate: true,
            ..Default::default()
        });
    let line = "The weather is nice today.";
    assert_eq!(
        translate(s, line.as_bytes()).unwrap(),
        lib.translate(line).unwrap()
    );
    // SAFETY: from tern_session_new, freed once.
    unsafe { tern_session_free(s) };
}

/// 32-byte aligned copy of a file, as firmware has it in flash.
fn aligned(bytes: &[u8]) -> Vec<[u64; 4]> {
    let mut v = vec![[0u64; 4]; bytes.len().div_ceil(32) + 1];
    // SAFETY: plain integers viewed as bytes, within the allocation.
    let dst = unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast::<u8>(), v.len() * 32) };
    dst[..bytes.len()].copy_from_slice(bytes);
    v
}

#[test]
fn no_std_api_matches_the_core_engine() {
    let path = model_path("marian-int8-engine", "marian-tiny-en-de", Precision::Int8);
    let bytes = std::fs::read(&path).unwrap();
    let store = aligned(&bytes);
    let model = store.as_ptr().cast::<u8>();
    let (max_src, max_tgt, beam, max_text) = (48, 48, 2, 512);

    let mut need = 0usize;
    // SAFETY: the model is readable for its length; `need` writable.
    let status = unsafe {
        tern_workspace_bytes(
            model,
            bytes.len(),
            max_src,
            max_tgt,
            beam,
            max_text,
            &mut need,
        )
    };
    assert_eq!(status, TernStatus::Ok, "{}", last());
    let words = tern_e2e::aligned(&bytes);
    let core = tern_core::engine::Engine::load(
        &tern_core::plan::as_bytes(&words)[..bytes.len()],
        tern_core::kernels::Kernels::best(),
    )
    .unwrap();
    let limits = tern_core::plan::Limits {
        max_src,
        max_tgt,
        beam,
        batch: 1,
    };
    assert_eq!(need, core.workspace_bytes(&limits, max_text));

    let mut storage = Box::new(TernEngineStorage {
        _opaque: [0; TERN_ENGINE_STORAGE_WORDS],
    });
    let mut engine = ptr::null();
    // The same bytes one byte into an aligned buffer.
    let mut shifted = vec![0u64; bytes.len().div_ceil(8) + 1];
    tern_core::plan::as_bytes_mut(&mut shifted)[1..=bytes.len()].copy_from_slice(&bytes);
    // SAFETY: valid arguments; the model outlives the engine.
    unsafe {
        // Misaligned model bytes are refused.
        let off = shifted.as_ptr().cast::<u8>().add(1);
        assert_eq!(
            tern_engine_load(off, bytes.len(), &mut *storage, &mut engine),
            TernStatus::Misaligned
        );
        assert_eq!(last(), "model buffer is not aligned to 32 bytes");
        assert_eq!(
            tern_engine_load(ptr::null(), 0, &mut *storage, &mut engine),
            TernStatus::NullArgument
        );
        assert_eq!(
            tern_engine_load(model, bytes.len(), &mut *storage, &mut engine),
            TernStatus::Ok
        );
    }
    assert!(tern_engine_size() <= TERN_ENGINE_STORAGE_BYTES);
    let mut need2 = 0;
    // SAFETY: a loaded engine.
    assert_eq!(
        unsafe {
            tern_engine_workspace_bytes(engine, max_src, max_tgt, beam, max_text, &mut need2)
        },
        TernStatus::Ok
    );
    assert_eq!(need, need2);

    let mut ws = vec![0u8; need];
    let mut core_ws = vec![0u8; need];
    let opts = core.options(&limits);
    let call = |ws: &mut [u8], text: &[u8], out: &mut [u8]| -> (TernStatus, usize) {
        let mut len = usize::MAX;
        // SAFETY: buffers valid for their lengths, not overlapping.
        let s = unsafe {
            tern_engine_translate(
                engine,
                max_src,
                max_tgt,
                beam,
                ws.as_mut_ptr(),
                ws.len(),
                text.as_ptr().cast(),
                text.len(),
                out.as_mut_ptr().cast(),
                out.len(),
                &mut len,
            )
        };
        (s, len)
    };
    for line in sentences() {
        let mut out = vec![0xAAu8; 1024];
        let (s, len) = call(&mut ws, line.as_bytes(), &mut out);
        assert_eq!(s, TernStatus::Ok, "{}", last());
        assert_eq!(out[len], 0, "NUL-terminated");
        let mut want = vec![0u8; 1024];
        let t = core
            .translate(&mut core_ws, &limits, &opts, &line, &mut want)
            .unwrap();
        assert_eq!(&out[..len], &want[..t.text_len], "{line:?}");
    }
    let line = b"The weather is nice today.";
    let mut out = [0u8; 1024];
    let (s, len) = call(&mut ws, line, &mut out);
    assert_eq!(s, TernStatus::Ok);
    assert!(len > 0);
    // Too small an output (the NUL counts), too small a workspace, bad text, bad limits.
    let mut small = vec![0u8; len];
    assert_eq!(
        call(&mut ws, line, &mut small).0,
        TernStatus::OutputTooSmall
    );
    let mut fits = vec![0u8; len + 1];
    assert_eq!(call(&mut ws, line, &mut fits), (TernStatus::Ok, len));
    let exact = core.workspace_bytes(&limits, line.len());
    assert_eq!(
        call(&mut ws[..exact], line, &mut out),
        (TernStatus::Ok, len)
    );
    assert_eq!(
        call(&mut ws[..exact - 1], line, &mut out).0,
        TernStatus::WorkspaceTooSmall
    );
    assert_eq!(
        last(),
        format!("workspace too small: need {exact} bytes, got {}", exact - 1)
    );
    assert_eq!(
        call(&mut ws, b"caf\xc3", &mut out).0,
        TernStatus::InvalidUtf8
    );
    let mut len = 0;
    // SAFETY: valid buffers; beam out of range is what is tested.
    let s = unsafe {
        tern_engine_translate(
            engine,
            max_src,
            max_tgt,
            65,
            ws.as_mut_ptr(),
            ws.len(),
            line.as_ptr().cast(),
            line.len(),
            out.as_mut_ptr().cast(),
            out.len(),
            &mut len,
        )
    };
    assert_eq!(s, TernStatus::InvalidArgument);
    assert_eq!(last(), tern::BEAM.check(65).unwrap_err().to_string());
    // SAFETY: NULL engine.
    let s = unsafe {
        tern_engine_translate(
            ptr::null(),
            0,
            0,
            0,
            ws.as_mut_ptr(),
            ws.len(),
            line.as_ptr().cast(),
            line.len(),
            out.as_mut_ptr().cast(),
            out.len(),
            &mut len,
        )
    };
    assert_eq!(s, TernStatus::NullArgument);
}

/// Takes a string the library returned, freeing it.
fn take(p: *mut c_char) -> String {
    assert!(!p.is_null());
    // SAFETY: a NUL-terminated string from the library, freed once here.
    let t = unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_owned();
    unsafe { tern_string_free(p) };
    t
}

#[test]
fn html_alignment_and_attention() {
    let path = model_path(
        "marian-int8-attention",
        "marian-tiny-en-de",
        Precision::Int8,
    );
    let m = open(&path);
    let s = session(&m, &tern_settings_default()).unwrap();
    let lib = tern::Translator::open(&path)
        .unwrap()
        .with_settings(tern::Settings {
            truncate: true,
            ..Default::default()
        });
    let mut rust = lib.session();

    // HTML: the markup is kept, as the host library keeps it.
    let html = "<p>The <b>weather</b> is nice today.</p>";
    let c = CString::new(html).unwrap();
    let mut out = ptr::null_mut();
    // SAFETY: valid arguments.
    assert_eq!(
        unsafe { tern_translate_html(s, c.as_ptr(), &mut out) },
        TernStatus::Ok,
        "{}",
        last()
    );
    let got = take(out);
    assert_eq!(got, rust.translate_html(html).unwrap().text);
    assert!(got.starts_with("<p>") && got.ends_with("</p>"), "{got}");
    assert!(got.contains("<b>") && got.contains("</b>"), "{got}");
    // Malformed HTML: its own status, and where.
    let mut out = c"not NULL".as_ptr().cast_mut();
    // SAFETY: valid arguments; bad HTML and NULLs are what is tested.
    unsafe {
        assert_eq!(
            tern_translate_html(s, c"a <b>x</i>".as_ptr(), &mut out),
            TernStatus::BadMarkup
        );
        assert!(out.is_null());
        assert!(last().starts_with("bad HTML at byte 6: "), "{}", last());
        assert_eq!(
            CStr::from_ptr(tern_status_name(TernStatus::BadMarkup as i32)).to_str(),
            Ok("TERN_STATUS_BAD_MARKUP")
        );
        assert_eq!(
            tern_translate_html(s, ptr::null(), &mut out),
            TernStatus::NullArgument
        );
        assert_eq!(
            tern_translate_html(ptr::null_mut(), c"x".as_ptr(), &mut out),
            TernStatus::NullArgument
        );
        assert_eq!(
            tern_translate_html(s, c"x".as_ptr(), ptr::null_mut()),
            TernStatus::NullArgument
        );
    }

    // Alignment: the translation and its Pharaoh pairs over the whole line, sentences' words
    // following each other (as `tern translate --alignment`).
    let pharaoh = |s: &str| {
        s.split(' ').filter(|p| !p.is_empty()).all(|p| {
            let (a, b) = p.split_once('-').unwrap_or(("x", "x"));
            a.parse::<usize>().is_ok() && b.parse::<usize>().is_ok()
        })
    };
    for line in sentences() {
        let c = CString::new(line.as_str()).unwrap();
        let (mut out, mut align) = (ptr::null_mut(), ptr::null_mut());
        // SAFETY: valid arguments.
        let status = unsafe { tern_translate_aligned(s, c.as_ptr(), &mut out, &mut align) };
        assert_eq!(status, TernStatus::Ok, "{}", last());
        let (text, align) = (take(out), take(align));
        assert_eq!(text, lib.translate(&line).unwrap(), "{line:?}");
        let (_, maps) = rust.translate_attended(&line, false).unwrap();
        let want = tern::attention::line_word_alignment(&maps);
        assert_eq!(align, tern::attention::pharaoh(&want), "{line:?}");
        assert!(pharaoh(&align), "{align:?}");
        if line.trim().is_empty() {
            assert_eq!(align, "");
        }
    }
    // SAFETY: NULLs are what is tested.
    unsafe {
        let mut out = ptr::null_mut();
        assert_eq!(
            tern_translate_aligned(s, c"x".as_ptr(), &mut out, ptr::null_mut()),
            TernStatus::NullArgument
        );
        assert_eq!(
            tern_translate_aligned(ptr::null_mut(), c"x".as_ptr(), &mut out, &mut out),
            TernStatus::NullArgument
        );
        assert!(out.is_null());
        assert_eq!(
            tern_translate_aligned(s, c"\xff".as_ptr(), &mut out, &mut ptr::null_mut()),
            TernStatus::InvalidUtf8
        );
    }

    // Attention: a size query, then rows x cols averaged weights, each row summing to 1.
    let line = "Two sentences here. And another one follows!";
    let c = CString::new(line).unwrap();
    let (mut rows, mut cols) = (7usize, 7usize);
    // SAFETY: valid arguments (no buffer: a size query).
    let status = unsafe { tern_attention(s, c.as_ptr(), ptr::null_mut(), 0, &mut rows, &mut cols) };
    assert_eq!(status, TernStatus::OutputTooSmall);
    assert!(last().contains("floats"), "{}", last());
    let (_, maps) = rust.translate_attended(line, false).unwrap();
    let first = &maps[0];
    assert_eq!((rows, cols), (first.target.len(), first.source.len()));
    assert!(rows > 0 && cols > 0);
    // One float short: still too small, nothing written.
    let mut weights = vec![-1f32; rows * cols];
    // SAFETY: `weights` has room for the capacity given.
    let status = unsafe {
        tern_attention(
            s,
            c.as_ptr(),
            weights.as_mut_ptr(),
            rows * cols - 1,
            &mut rows,
            &mut cols,
        )
    };
    assert_eq!(status, TernStatus::OutputTooSmall);
    assert!(weights.iter().all(|&w| w == -1.0));
    // SAFETY: as above.
    let status = unsafe {
        tern_attention(
            s,
            c.as_ptr(),
            weights.as_mut_ptr(),
            weights.len(),
            &mut rows,
            &mut cols,
        )
    };
    assert_eq!(status, TernStatus::Ok, "{}", last());
    assert_eq!(weights, first.cross.average());
    for row in weights.chunks_exact(cols) {
        let sum: f32 = row.iter().sum();
        assert!((sum - 1.0).abs() < 1e-3, "a row sums to {sum}");
        assert!(row.iter().all(|&w| (0.0..=1.0).contains(&w)));
    }
    // The pieces it is between, one a line.
    let (mut src, mut tgt) = (ptr::null_mut(), ptr::null_mut());
    // SAFETY: valid arguments.
    let status = unsafe { tern_attention_pieces(s, c.as_ptr(), &mut src, &mut tgt) };
    assert_eq!(status, TernStatus::Ok, "{}", last());
    let (src, tgt) = (take(src), take(tgt));
    assert_eq!(src.split('\n').collect::<Vec<_>>(), first.source);
    assert_eq!(tgt.split('\n').collect::<Vec<_>>(), first.target);
    assert_eq!(src.split('\n').count(), cols);
    assert_eq!(tgt.split('\n').count(), rows);
    // A blank line: no sentence, 0 x 0, "" pieces.
    // SAFETY: valid arguments.
    unsafe {
        assert_eq!(
            tern_attention(s, c"  ".as_ptr(), ptr::null_mut(), 0, &mut rows, &mut cols),
            TernStatus::Ok
        );
        assert_eq!((rows, cols), (0, 0));
        let (mut src, mut tgt) = (ptr::null_mut(), ptr::null_mut());
        assert_eq!(
            tern_attention_pieces(s, c"".as_ptr(), &mut src, &mut tgt),
            TernStatus::Ok
        );
        assert_eq!((take(src), take(tgt)), (String::new(), String::new()));
    }
    // NULLs give statuses, not crashes.
    // SAFETY: NULLs are what is tested.
    unsafe {
        let mut w = [0f32; 4];
        for status in [
            tern_attention(s, c.as_ptr(), w.as_mut_ptr(), 4, ptr::null_mut(), &mut cols),
            tern_attention(s, c.as_ptr(), w.as_mut_ptr(), 4, &mut rows, ptr::null_mut()),
            tern_attention(
                ptr::null_mut(),
                c.as_ptr(),
                w.as_mut_ptr(),
                4,
                &mut rows,
                &mut cols,
            ),
            tern_attention(s, ptr::null(), w.as_mut_ptr(), 4, &mut rows, &mut cols),
            tern_attention_pieces(s, c.as_ptr(), ptr::null_mut(), &mut ptr::null_mut()),
            tern_attention_pieces(s, c.as_ptr(), &mut ptr::null_mut(), ptr::null_mut()),
            tern_attention_pieces(
                ptr::null_mut(),
                c.as_ptr(),
                &mut ptr::null_mut(),
                &mut ptr::null_mut(),
            ),
            tern_attention_pieces(s, ptr::null(), &mut ptr::null_mut(), &mut ptr::null_mut()),
        ] {
            assert_eq!(status, TernStatus::NullArgument, "{}", last());
        }
        assert_eq!((rows, cols), (0, 0));
    }
    // SAFETY: from tern_session_new, freed once.
    unsafe { tern_session_free(s) };
}
