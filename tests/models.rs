//! `tern models list|fetch` and `tern translate --from --to` as a user runs them, against a
//! local Remote Settings server (no internet) serving Mozilla's real en->pt and pt->en tiny
//! models (`cargo xtask fetch-model enpt|pten`) in the catalogue's format.

use std::path::Path;
use std::process::Command;
use tern_models::testing::{pair_records, Packing, Server};

fn run(cmd: &mut Command, stdin: &[u8]) -> (bool, String, String) {
    let (ok, out, err) = tern_e2e::run(cmd, stdin);
    (ok, String::from_utf8_lossy(&out).into_owned(), err)
}

/// zstd records (as Firefox's collection has them) for `src`->`trg` holding `pair`'s files.
fn records(pair: &str, src: &str, trg: &str) -> Vec<(serde_json::Value, Vec<u8>)> {
    pair_records(&tern_e2e::downloaded(pair), pair, src, trg, Packing::Zstd)
}

fn tern(args: &[&str], cache: &Path, url: &str) -> Command {
    let mut c = Command::new(tern_e2e::bin("tern"));
    c.args(args)
        .arg("--cache-dir")
        .arg(cache)
        .arg("--catalogue")
        .arg(url);
    c
}

#[test]
fn models_list_fetch_and_translate_by_language() {
    let server = Server::start();
    let mut all = records("enpt", "en", "pt");
    all.extend(records("pten", "pt", "en"));
    // A stand-in en->es (the en->pt files again), so that pt->es goes through English.
    all.extend(records("enpt", "en", "es"));
    server.publish("translations-models-v2", &all);
    let url = server.records_url("translations-models-v2");
    let cache = tern_e2e::scratch().join("models-cache");
    let _ = std::fs::remove_dir_all(&cache);

    let (ok, out, err) = run(&mut tern(&["models", "list"], &cache, &url), b"");
    assert!(ok, "models list: {err}");
    assert!(out.contains("en\tpt\t1.0\ttiny\t"), "{out}");
    assert!(out.contains("pt\ten\t1.0\ttiny\t"), "{out}");
    let (ok, out, _) = run(&mut tern(&["models", "list", "es"], &cache, &url), b"");
    assert!(
        ok && out.contains("en\tes") && !out.contains("en\tpt"),
        "{out}"
    );

    let (ok, out, err) = run(
        &mut tern(&["models", "fetch", "en", "pt"], &cache, &url),
        b"",
    );
    assert!(ok, "models fetch: {err}");
    let model = cache.join("en-pt/1.0/model.gguf");
    assert_eq!(out.trim(), model.display().to_string());
    assert!(model.is_file());
    let (ok, out, _) = run(
        &mut tern(&["models", "list", "--offline"], &cache, &url),
        b"",
    );
    assert!(
        ok && out.contains("en\tpt\t1.0") && !out.contains("pt\ten"),
        "{out}"
    );

    // By language: the cached model, the same output as the file itself.
    let input = b"Hello, how are you?\nThe cat sleeps on the sofa.\n";
    let requests = server.requests().len();
    let (ok, by_lang, err) = run(
        &mut tern(&["translate", "--from", "en", "--to", "pt"], &cache, &url),
        input,
    );
    assert!(ok, "translate --from en --to pt: {err}");
    assert!(err.contains("en -> pt"), "the route on stderr: {err}");
    assert_eq!(
        server.requests().len(),
        requests,
        "a cached model needs no request"
    );
    let (ok, by_file, err) = run(
        Command::new(tern_e2e::bin("tern"))
            .arg("translate")
            .arg("-m")
            .arg(&model),
        input,
    );
    assert!(ok, "{err}");
    assert_eq!(by_lang, by_file);
    assert_eq!(by_lang.lines().count(), 2);

    // Pivot, fetched on first use: pt -> en -> es, the same as the two models by hand.
    let input = "Olá, como vai?\nO gato dorme no sofá.\n";
    let (ok, pivot, err) = run(
        &mut tern(&["translate", "--from", "pt", "--to", "es"], &cache, &url),
        input.as_bytes(),
    );
    assert!(ok, "translate --from pt --to es: {err}");
    assert!(err.contains("pt -> en -> es"), "the route on stderr: {err}");
    let (_, english, _) = run(
        Command::new(tern_e2e::bin("tern"))
            .arg("translate")
            .arg("-m")
            .arg(cache.join("pt-en/1.0/model.gguf")),
        input.as_bytes(),
    );
    let (_, by_hand, _) = run(
        Command::new(tern_e2e::bin("tern"))
            .arg("translate")
            .arg("-m")
            .arg(cache.join("en-es/1.0/model.gguf")),
        english.as_bytes(),
    );
    assert_eq!(pivot, by_hand);
    let (ok, streamed, err) = run(
        &mut tern(
            &["translate", "--from", "pt", "--to", "es", "--stream"],
            &cache,
            &url,
        ),
        input.as_bytes(),
    );
    assert!(ok, "{err}");
    assert_eq!(streamed, pivot);

    // Offline without the model: a clear error naming the pair; nothing written.
    let empty = tern_e2e::scratch().join("models-cache-empty");
    let _ = std::fs::remove_dir_all(&empty);
    let (ok, _, err) = run(
        &mut tern(
            &["translate", "--from", "en", "--to", "pt", "--offline"],
            &empty,
            &url,
        ),
        b"Hi.\n",
    );
    assert!(
        !ok && err.contains("offline") && err.contains("en->pt"),
        "{err}"
    );
    assert!(!empty.join("en-pt").exists());

    // -m and --from are alternatives; one is needed.
    let (ok, _, err) = run(
        Command::new(tern_e2e::bin("tern")).args([
            "translate",
            "-m",
            "x.gguf",
            "--from",
            "en",
            "--to",
            "pt",
        ]),
        b"",
    );
    assert!(!ok && err.contains("cannot be used with"), "{err}");
    let (ok, _, err) = run(Command::new(tern_e2e::bin("tern")).args(["translate"]), b"");
    assert!(!ok && err.contains("required"), "{err}");
}
