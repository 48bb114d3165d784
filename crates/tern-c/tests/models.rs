//! Models by language from C (`tern_route_open`): against a local catalogue serving Mozilla's
//! real en->pt and pt->en models (`cargo xtask fetch-model enpt|pten`), as `tern translate
//! --from --to` uses it; a pivot equals the two models run by hand.

use std::ffi::{c_char, CStr, CString};
use std::ptr;
use tern_c::*;
use tern_models::testing::{pair_records, Packing, Server};

fn last() -> String {
    // SAFETY: the library's own NUL-terminated message, read before the next call.
    unsafe { CStr::from_ptr(tern_last_error_message()) }
        .to_string_lossy()
        .into_owned()
}

fn take(s: *mut c_char) -> String {
    // SAFETY: a string from the library, freed once here.
    let t = unsafe { CStr::from_ptr(s) }.to_string_lossy().into_owned();
    unsafe { tern_string_free(s) };
    t
}

/// Uncompressed records of `pair`'s files as `src`->`trg`.
fn records(pair: &str, src: &str, trg: &str) -> Vec<(serde_json::Value, Vec<u8>)> {
    let dir = tern_e2e::root().join("models/downloads").join(pair);
    assert!(
        dir.join(".tern-source").exists(),
        "run `cargo xtask fetch-model {pair}` (cargo xtask test does)"
    );
    pair_records(&dir, pair, src, trg, Packing::Plain)
}

fn open(
    from: &str,
    to: &str,
    opts: &TernModelsOptions,
) -> Result<*mut TernRoute, (TernStatus, String)> {
    let (f, t) = (CString::new(from).unwrap(), CString::new(to).unwrap());
    let mut route = ptr::null_mut();
    // SAFETY: valid strings, options and out-pointer; NULL settings take the defaults.
    let status = unsafe { tern_route_open(f.as_ptr(), t.as_ptr(), opts, ptr::null(), &mut route) };
    match status {
        TernStatus::Ok => Ok(route),
        s => Err((s, last())),
    }
}

#[test]
fn routes_by_language_translate_as_the_models_do() {
    let server = Server::start();
    let mut all = records("enpt", "en", "pt");
    all.extend(records("pten", "pt", "en"));
    // A stand-in en->es (the en->pt files again): pt->es goes through English.
    all.extend(records("enpt", "en", "es"));
    server.publish("translations-models", &all);
    let url = CString::new(server.records_url("translations-models")).unwrap();
    let cache = tern_e2e::scratch().join("c-models-cache");
    let _ = std::fs::remove_dir_all(&cache);
    let cache_c = CString::new(cache.to_str().unwrap()).unwrap();
    let mut opts = tern_models_options_default();
    opts.cache_dir = cache_c.as_ptr();
    opts.catalogue = url.as_ptr();

    // Offline with an empty cache: a clear refusal.
    opts.offline = 1;
    let (status, msg) = open("pt", "es", &opts).unwrap_err();
    assert_eq!(status, TernStatus::Language);
    assert!(msg.contains("offline"), "{msg}");

    opts.offline = 0;
    let route = open("pt", "es", &opts).expect("opens");
    let mut out = ptr::null_mut();
    // SAFETY: a live route and out-pointer.
    assert_eq!(
        unsafe { tern_route_describe(route, &mut out) },
        TernStatus::Ok
    );
    assert_eq!(take(out), "pt -> en -> es");

    let by_hand = |pair: &str| {
        let bytes = tern_convert::build(
            &tern_e2e::root().join("models/downloads").join(pair),
            None,
            true,
        )
        .expect("converts");
        tern::Translator::from_bytes(&bytes).expect("loads")
    };
    let (pten, enpt) = (by_hand("pten"), by_hand("enpt"));
    for line in [
        "O tempo está bom hoje.",
        "Onde fica a estação de comboios?",
        "",
    ] {
        let want = enpt.translate(&pten.translate(line).unwrap()).unwrap();
        let text = CString::new(line).unwrap();
        let mut out = ptr::null_mut();
        // SAFETY: a live route, a NUL-terminated line, an out-pointer.
        let status = unsafe { tern_route_translate(route, text.as_ptr(), &mut out) };
        assert_eq!(status, TernStatus::Ok, "{}", last());
        assert_eq!(take(out), want, "{line:?}");
    }
    // SAFETY: freed once.
    unsafe { tern_route_free(route) };

    // Cached now: offline works, and makes no request.
    let before = server.requests().len();
    opts.offline = 1;
    let route = open("pt", "es", &opts).expect("opens from the cache");
    assert_eq!(server.requests().len(), before);
    // SAFETY: freed once.
    unsafe { tern_route_free(route) };

    let bad = CString::new(vec![b'e', 0xff]).unwrap();
    let mut route = ptr::null_mut();
    // SAFETY: valid pointers; the text is not UTF-8.
    let status =
        unsafe { tern_route_open(bad.as_ptr(), bad.as_ptr(), &opts, ptr::null(), &mut route) };
    assert_eq!(status, TernStatus::InvalidUtf8);
    assert!(route.is_null());
}
