//! The catalogue, fetching, the cache, offline use and routes, against a local Remote Settings
//! server (no internet) that serves Mozilla's real en->pt and pt->en tiny models (from
//! `cargo xtask fetch-model enpt|pten`) in the catalogue's real formats, and broken entries.

use serde_json::Value;
use std::path::{Path, PathBuf};
use tern_models::testing::{pair_files, pair_records, record, v1, Packing, Server};
use tern_models::{Error, Models, Options};

const COLLECTION: &str = "translations-models-v2";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A pair's files from `models/downloads`, or how to get them.
fn downloads(pair: &str) -> PathBuf {
    let dir = root().join("models/downloads").join(pair);
    assert!(
        dir.join(".tern-source").exists(),
        "{} is missing: run `cargo xtask fetch-model {pair}` (cargo xtask test does)",
        dir.display()
    );
    dir
}

/// The files of a downloaded pair under the catalogue's names for `src`->`trg`.
fn files(pair: &str) -> Vec<(&'static str, String, Vec<u8>)> {
    pair_files(&downloads(pair), pair)
}

/// v2 records with zstd attachments (as Firefox's collection has them) for `src`->`trg`,
/// holding the files of `pair`.
fn zstd_records(pair: &str, src: &str, trg: &str) -> Vec<(Value, Vec<u8>)> {
    pair_records(&downloads(pair), pair, src, trg, Packing::Zstd)
}

/// Records in the first collection's format with gzip'd attachments.
fn gzip_records(pair: &str, src: &str, trg: &str) -> Vec<(Value, Vec<u8>)> {
    pair_records(&downloads(pair), pair, src, trg, Packing::Gzip)
        .into_iter()
        .map(|(r, packed)| (v1(&r), packed))
        .collect()
}

/// Small stand-in files for pairs that must fail before conversion.
fn junk_records(src: &str, trg: &str) -> Vec<(Value, Vec<u8>)> {
    ["model", "vocab", "lex"]
        .iter()
        .map(|kind| {
            let mut x = 0x2545_f491_u32 ^ kind.len() as u32;
            let plain: Vec<u8> = (0..50_000)
                .map(|_| {
                    x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (x >> 24) as u8
                })
                .collect();
            let name = match *kind {
                "model" => format!("model.{src}{trg}.intgemm.alphas.bin"),
                "vocab" => format!("vocab.{src}{trg}.spm"),
                _ => format!("lex.50.50.{src}{trg}.s2t.bin"),
            };
            let (packed, _) = Packing::Zstd.pack(&plain);
            (
                record(
                    &name,
                    src,
                    trg,
                    "1.0",
                    kind,
                    &packed,
                    "application/zstd",
                    Some(&plain),
                ),
                packed,
            )
        })
        .collect()
}

/// The catalogue: en->pt (v2, zstd), pt->en (v1, gzip), en->es (the en->pt files again, a
/// stand-in so that pt->es pivots through English), and broken entries: de->en (wrong hash),
/// en->fr (truncated attachment), en->it (missing attachment, 404), en->ja (wrong
/// decompressed hash), an older en->pt whose files are not served (never chosen), and a record
/// without an attachment.
fn serve() -> (Server, String) {
    let server = Server::start();
    let mut all = zstd_records("enpt", "en", "pt");
    all.extend(gzip_records("pten", "pt", "en"));
    all.extend(zstd_records("enpt", "en", "es"));
    let mut old = all[0].0.clone();
    old["version"] = "0.9".into();
    old["attachment"]["location"] = "main-workspace/translations-models/not-served.zst".into();
    let mut broken = Vec::new();
    let mut de = junk_records("de", "en");
    de[0].0["attachment"]["hash"] = "0".repeat(64).into();
    broken.extend(de);
    let fr = junk_records("en", "fr");
    let fr_model = fr[0].clone();
    broken.extend(fr);
    let mut it = junk_records("en", "it");
    it[0].0["attachment"]["location"] = "main-workspace/translations-models/gone.zst".into();
    it[0].1.clear();
    broken.extend(it);
    broken.extend(junk_records("en", "ko"));
    let mut ja = junk_records("en", "ja");
    ja[1].0["decompressedHash"] = "1".repeat(64).into();
    broken.extend(ja);
    all.extend(broken);
    let mut records: Vec<(Value, Vec<u8>)> = all;
    records.push((old, Vec::new()));
    records.push((
        serde_json::json!({"id": "x", "name": "model.xxen.bin", "sourceLanguage": "xx", "targetLanguage": "en", "version": "1.0", "fileType": "model"}),
        Vec::new(),
    ));
    server.publish(COLLECTION, &records);
    // en->fr's model: the server has fewer bytes than the record says.
    let loc = fr_model.0["attachment"]["location"]
        .as_str()
        .unwrap()
        .to_string();
    server.put(
        &format!("/attachments/{loc}"),
        fr_model.1[..fr_model.1.len() / 2].to_vec(),
    );
    let url = server.records_url(COLLECTION);
    (server, url)
}

fn fresh_dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("tern-models-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn models(url: &str, cache: &Path, offline: bool) -> Models {
    Models::new(Options {
        catalogue: Some(url.to_string()),
        cache_dir: Some(cache.to_path_buf()),
        offline,
        ..Options::default()
    })
    .expect("options")
}

/// Nothing of a failed pair in the cache: no version directory, no temporary directory.
fn assert_clean(cache: &Path, pair: &str) {
    let left: Vec<String> = std::fs::read_dir(cache)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        !left.iter().any(|n| n == pair || n.starts_with(".tmp-")),
        "{pair}: left in the cache: {left:?}"
    );
    let partial: Vec<String> = std::fs::read_dir(cache.join(".partial"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        !partial.iter().any(|n| n.starts_with(pair)),
        "{pair}: partial downloads left: {partial:?}"
    );
}

#[test]
fn list_fetch_cache_offline_and_pivot() {
    let (server, url) = serve();
    let cache = fresh_dir("main");
    let m = models(&url, &cache, false);

    // list: every pair, newest version, sizes; a record without an attachment is reported.
    let all = m.list(None).expect("list");
    let keys: Vec<String> = all
        .iter()
        .map(|l| format!("{}-{}", l.source, l.target))
        .collect();
    assert_eq!(
        keys,
        ["de-en", "en-es", "en-fr", "en-it", "en-ja", "en-ko", "en-pt", "pt-en"]
    );
    let enpt = all
        .iter()
        .find(|l| l.source == "en" && l.target == "pt")
        .unwrap();
    assert_eq!(enpt.version, "1.0", "the newest version of en->pt");
    assert_eq!(enpt.architecture.as_deref(), Some("tiny"));
    let zstd_size: u64 = zstd_records("enpt", "en", "pt")
        .iter()
        .map(|r| r.1.len() as u64)
        .sum();
    assert_eq!(enpt.download_size, zstd_size);
    assert!(enpt.installed.is_none());
    let pten = all.iter().find(|l| l.source == "pt").unwrap();
    assert_eq!(
        pten.architecture, None,
        "first-collection records have no architecture"
    );
    let skipped = &m.catalogue().unwrap().skipped;
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert!(skipped[0].reason.contains("attachment"), "{skipped:?}");
    let pt: Vec<String> = m
        .list(Some("pt"))
        .unwrap()
        .iter()
        .map(|l| format!("{}-{}", l.source, l.target))
        .collect();
    assert_eq!(pt, ["en-pt", "pt-en"]);

    // fetch en->pt, its model cut off after 1 MB once: resumed with a Range request.
    let model_path = {
        let r = &zstd_records("enpt", "en", "pt")[0].0;
        format!(
            "/attachments/{}",
            r["attachment"]["location"].as_str().unwrap()
        )
    };
    server.drop_once(&model_path, 1_000_000);
    let installed = m.get("en", "pt").expect("fetch en->pt");
    assert_eq!(installed.model, cache.join("en-pt/1.0/model.gguf"));
    let tries: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.path == model_path)
        .collect();
    assert_eq!(tries.len(), 2, "{tries:?}");
    assert_eq!(tries[0].range, None);
    // It resumes where the cut left it (all of the first 1 MB, unless the connection's end
    // lost some of it in flight).
    let resumed_at: u64 = tries[1]
        .range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a Range request: {tries:?}"));
    assert!(resumed_at > 0 && resumed_at <= 1_000_000, "{tries:?}");
    // The cache holds the model and a manifest whose hashes are the real files'.
    let mut names: Vec<String> = std::fs::read_dir(installed.dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["manifest.json", "model.gguf"]);
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(installed.dir().join("manifest.json")).unwrap())
            .unwrap();
    for (_, name, plain) in files("enpt") {
        let f = manifest["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name.as_str())
            .unwrap_or_else(|| panic!("{name} in the manifest"));
        assert_eq!(f["sha256"], tern_models::download::sha256(&plain).as_str());
    }
    let en_pt = tern::Translator::open(&installed.model).expect("the cached model loads");
    assert!(en_pt.verify().expect("checksum"), "convert seals the file");
    let hello = en_pt.translate("Hello, how are you?").unwrap();
    assert!(!hello.is_empty());

    // A second fetch, from a new process's point of view, asks the server nothing.
    let before = server.requests().len();
    let again = models(&url, &cache, false).get("en", "pt").expect("cached");
    assert_eq!(again, installed);
    let route = models(&url, &cache, false).open("en", "pt").expect("route");
    assert_eq!(route.describe(), "en -> pt");
    assert_eq!(route.translate("Hello, how are you?").unwrap(), hello);
    assert_eq!(
        server.requests().len(),
        before,
        "the cache answered without requests"
    );

    // Offline: the cached pair works; anything else is a clear error naming it.
    let off = models(&url, &cache, true);
    assert_eq!(off.get("en", "pt").unwrap(), installed);
    match off.get("pt", "en") {
        Err(e @ Error::Offline { .. }) => assert!(e.to_string().contains("pt->en"), "{e}"),
        other => panic!("offline pt->en: {:?}", other.map(|_| ())),
    }
    match off.open("pt", "es") {
        Err(e @ Error::Offline { .. }) => {
            let s = e.to_string();
            assert!(
                s.contains("pt->es") && s.contains("pt->en and en->es"),
                "{s}"
            );
        }
        other => panic!("offline pt->es: {:?}", other.map(|_| ())),
    }
    let listed: Vec<String> = off
        .list(None)
        .unwrap()
        .iter()
        .map(|l| format!("{}-{}", l.source, l.target))
        .collect();
    assert_eq!(listed, ["en-pt"]);
    assert_eq!(server.requests().len(), before, "offline never asks");

    // Pivot: no pt->es model, so pt -> en -> es, fetched on first use (pt->en from gzip'd
    // first-collection records). The result is the two models run by hand.
    let route = m.open("pt", "es").expect("pivot route");
    assert_eq!(route.describe(), "pt -> en -> es");
    assert!(route.is_pivot());
    let pt_en = tern::Translator::open(cache.join("pt-en/1.0/model.gguf")).unwrap();
    let en_es = tern::Translator::open(cache.join("en-es/1.0/model.gguf")).unwrap();
    let lines = [
        "Olá, como vai?",
        "",
        "O gato dorme no sofá. Amanhã vai chover.",
    ];
    let batch = route.translate_batch(&lines, 2);
    for (line, got) in lines.iter().zip(&batch) {
        let by_hand = en_es.translate(&pt_en.translate(line).unwrap()).unwrap();
        assert_eq!(route.translate(line).unwrap(), by_hand);
        assert_eq!(got.as_ref().unwrap().text, by_hand);
        assert_eq!(route.session().translate(line).unwrap().text, by_hand);
    }
    assert!(!batch[0].as_ref().unwrap().text.is_empty());

    // The same chain the other way round the models we have: en -> pt -> en, by hand.
    let chain = tern_models::Route::new(vec![
        tern_models::Leg {
            source: "en".into(),
            target: "pt".into(),
            translator: tern::Translator::open(&installed.model).unwrap(),
        },
        tern_models::Leg {
            source: "pt".into(),
            target: "en".into(),
            translator: tern::Translator::open(cache.join("pt-en/1.0/model.gguf")).unwrap(),
        },
    ]);
    assert_eq!(chain.describe(), "en -> pt -> en");
    let text = "The weather is nice today.";
    assert_eq!(
        chain.translate(text).unwrap(),
        pt_en.translate(&en_pt.translate(text).unwrap()).unwrap()
    );
    let mut streamed = String::new();
    let out = chain
        .session()
        .translate_stream(text, &mut |p| streamed.push_str(p))
        .unwrap();
    assert_eq!(streamed, out.text);
    assert_eq!(out.text, chain.translate(text).unwrap());

    // No route at all: the error says what is missing and which languages exist.
    match m.plan("fr", "de") {
        Err(e @ Error::NoRoute { .. }) => {
            let s = e.to_string();
            assert!(
                s.contains("fr->en") && s.contains("en->de") && s.contains("pt"),
                "{s}"
            );
        }
        other => panic!("fr->de: {other:?}"),
    }
    assert!(matches!(m.plan("en", "en"), Err(Error::Usage(_))));
    assert!(matches!(m.plan("../x", "en"), Err(Error::Usage(_))));
}

#[test]
fn broken_entries_are_refused_and_leave_nothing() {
    let (server, url) = serve();
    let cache = fresh_dir("broken");
    let m = models(&url, &cache, false);
    match m.get("de", "en") {
        Err(e @ Error::Hash { .. }) => assert!(
            e.to_string().contains("model.deen.intgemm.alphas.bin"),
            "{e}"
        ),
        other => panic!("wrong hash: {:?}", other.map(|_| ())),
    }
    assert_clean(&cache, "de-en");
    match m.get("en", "fr") {
        Err(Error::Size {
            expected, actual, ..
        }) => assert!(actual < expected, "{actual} {expected}"),
        other => panic!("truncated: {:?}", other.map(|_| ())),
    }
    assert_clean(&cache, "en-fr");
    match m.get("en", "it") {
        Err(Error::Status { status: 404, url }) => assert!(url.ends_with("gone.zst"), "{url}"),
        other => panic!("missing: {:?}", other.map(|_| ())),
    }
    assert_clean(&cache, "en-it");
    match m.get("en", "ja") {
        Err(e @ Error::Hash { .. }) => assert!(e.to_string().contains("vocab.enja.spm"), "{e}"),
        other => panic!("wrong decompressed hash: {:?}", other.map(|_| ())),
    }
    assert_clean(&cache, "en-ja");
    // A 404 is not retried; a truncated file is asked for again from where it stopped.
    let gone = server
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("gone.zst"))
        .count();
    assert_eq!(gone, 1);
    assert!(m.cache().installed().is_empty());

    // A network that keeps failing: the error says so, the partial download stays for the
    // next run, which resumes it with Range (then the stand-in files fail to convert, and
    // everything goes).
    let model = junk_records("en", "ko").remove(0);
    let path = format!(
        "/attachments/{}",
        model.0["attachment"]["location"].as_str().unwrap()
    );
    server.drop_always(&path, 5_000);
    match m.get("en", "ko") {
        Err(e @ Error::Network { .. }) => assert!(e.to_string().contains("4 attempts"), "{e}"),
        other => panic!("failing network: {:?}", other.map(|_| ())),
    }
    let part = cache.join(".partial/en-ko-1.0/model.enko.intgemm.alphas.bin.part");
    let kept = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    assert!(kept > 0 && kept < model.1.len() as u64, "{kept}");
    assert!(!cache.join("en-ko").exists());
    server.heal(&path);
    let before = server.requests().len();
    match models(&url, &cache, false).get("en", "ko") {
        Err(Error::Convert { .. }) => {}
        other => panic!("stand-in files: {:?}", other.map(|_| ())),
    }
    let resumed = server.requests()[before..]
        .iter()
        .find(|r| r.path == path)
        .cloned();
    assert_eq!(
        resumed.and_then(|r| r.range),
        Some(format!("bytes={kept}-"))
    );
    assert_clean(&cache, "en-ko");
    // The catalogue server itself missing: a clear error naming the URL.
    let bad = models(
        &format!(
            "{}/v1/buckets/main/collections/nothing/records",
            server.base()
        ),
        &cache,
        false,
    );
    match bad.list(None) {
        Err(Error::Status { status: 404, url }) => assert!(url.contains("nothing"), "{url}"),
        other => panic!("no catalogue: {other:?}"),
    }
}
