//! Shared helpers for the end-to-end tests: where the repo and fixtures are, converting fixture
//! checkpoints once per test run, and finding the CLI binaries.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the repo")
        .to_path_buf()
}

/// Fixture checkpoints made by `models/make_marian_fixture.py` (directories with expected.json).
pub fn marian_fixtures() -> Vec<PathBuf> {
    let v = fixtures_of("marian");
    assert!(!v.is_empty(), "no Marian fixtures under models/fixtures");
    v
}

/// Fixture checkpoints made by `models/make_m2m100_fixture.py` (M2M100, NLLB and mBART-50:
/// the multilingual ones).
pub fn m2m100_fixtures() -> Vec<PathBuf> {
    let mut v = fixtures_of("m2m_100");
    v.extend(fixtures_of("mbart"));
    assert!(
        !v.is_empty(),
        "no M2M100 / NLLB fixtures under models/fixtures"
    );
    v
}

/// Fixture checkpoints made by `models/make_t5_fixture.py` (T5 v1.0 and flan-T5 shaped).
pub fn t5_fixtures() -> Vec<PathBuf> {
    let v = fixtures_of("t5");
    assert!(!v.is_empty(), "no T5 fixtures under models/fixtures");
    v
}

/// Fixture checkpoints made by `models/make_bart_fixture.py` (BART / DistilBART shaped).
pub fn bart_fixtures() -> Vec<PathBuf> {
    let v = fixtures_of("bart");
    assert!(!v.is_empty(), "no BART fixtures under models/fixtures");
    v
}

/// Fixture directories (with expected.json) whose config.json says `model_type`.
fn fixtures_of(model_type: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("models/fixtures"))
        .expect("models/fixtures exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("expected.json").exists())
        .filter(|p| {
            std::fs::read(p.join("config.json"))
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .is_some_and(|c| c["model_type"] == model_type)
        })
        .collect();
    v.sort();
    v
}

/// A model file copied into 8-byte-aligned words, as a mapped or flashed file is aligned (the
/// core engine reads it in place): the first `bytes.len()` bytes of
/// `tern_core::plan::as_bytes(&words)`.
pub fn aligned(bytes: &[u8]) -> Vec<u64> {
    let mut words = vec![0u64; bytes.len().div_ceil(8)];
    tern_core::plan::as_bytes_mut(&mut words)[..bytes.len()].copy_from_slice(bytes);
    words
}

/// Scratch directory for converted models and CLI outputs.
pub fn scratch() -> PathBuf {
    let d = root().join("target/tern-tests");
    std::fs::create_dir_all(&d).expect("create target/tern-tests");
    d
}

/// Converts a fixture checkpoint (in process, through the converter library).
pub fn convert(dir: &Path, precision: tern_convert::Precision) -> Vec<u8> {
    tern_convert::build(dir, Some(precision), true)
        .unwrap_or_else(|e| panic!("converting {}: {e:#}", dir.display()))
}

/// A real Firefox model's directory under `models/downloads` (`enpt`, `pten`), fetched by
/// `cargo xtask fetch-model`; panics with that command when it is missing.
pub fn downloaded(pair: &str) -> PathBuf {
    let dir = root().join("models/downloads").join(pair);
    assert!(
        dir.join(".tern-source").exists(),
        "{} is missing: run `cargo xtask fetch-model {pair}` (cargo xtask test does)",
        dir.display()
    );
    dir
}

/// Path of a workspace binary (`tern`, `convert`), built once per test run.
pub fn bin(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        // As `cargo xtask` and a shell build them: a test's CARGO_PKG_* and CARGO_MANIFEST_*,
        // which ring's build script watches, would rebuild TLS and the CLI here and in the next
        // build.
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if key.starts_with("CARGO_PKG_") || key.starts_with("CARGO_MANIFEST_") {
                cargo.env_remove(&*key);
            }
        }
        let status = cargo
            .current_dir(root())
            .args([
                "build",
                "--quiet",
                "--release",
                "-p",
                "tern-cli",
                "-p",
                "tern-convert",
                "--bins",
            ])
            .status()
            .expect("run cargo build");
        assert!(status.success(), "building the CLI binaries failed");
    });
    root().join("target/release").join(name)
}

/// The Python with the reference libraries (sentencepiece, gguf-py): `$TERN_PYTHON`, else the
/// venv `cargo xtask py-env` makes under `target/py`. Panics with the fix when neither exists:
/// these comparisons are the point of the tests, so they never silently pass without it.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("TERN_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = root().join("target/py/bin/python");
    assert!(
        venv.exists(),
        "no reference Python: run `cargo xtask test` (or `cargo xtask py-env`, or set TERN_PYTHON)"
    );
    venv
}

/// Runs a script from `models/` with [`python`], feeding `input` on stdin; returns stdout.
pub fn run_python(script: &str, args: &[&std::ffi::OsStr], input: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = Command::new(python())
        .arg(root().join("models").join(script))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run python");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().expect("python output");
    writer
        .join()
        .expect("writer thread")
        .expect("write to python");
    assert!(
        out.status.success(),
        "{script} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// FLORES-200 devtest lines from the shared test sets, if this machine has them
/// (`../shared/testsets/flores200-devtest/<lang>.devtest` next to the repo).
pub fn flores(lang: &str) -> Option<Vec<String>> {
    let p = root()
        .join("../shared/testsets/flores200-devtest")
        .join(format!("{lang}.devtest"));
    std::fs::read_to_string(p)
        .ok()
        .map(|s| s.lines().map(str::to_string).collect())
}

/// Runs a command with `stdin`; (success, stdout, stderr).
pub fn run(cmd: &mut Command, stdin: &[u8]) -> (bool, Vec<u8>, String) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut pipe = child.stdin.take().unwrap();
    let input = stdin.to_vec();
    // Written from a thread: a large input must not deadlock against a full stdout pipe.
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    (
        out.status.success(),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Asserts that `output`, the translation of HTML fragment `input`, is well-formed (tern's
/// reader accepts it), has every element of the input (opened and closed at least once) and
/// each of its void tags, comments and kept contents as often as the input.
pub fn assert_markup_kept(input: &str, output: &str) {
    let source = tern::markup::parse(input).unwrap();
    tern::markup::parse(output).unwrap_or_else(|e| panic!("{output:?} is malformed: {e}"));
    for el in &source.elements {
        assert!(
            output.contains(&el.open) && output.contains(&el.close),
            "{output:?} lost {}",
            el.open
        );
    }
    for m in &source.markers {
        assert_eq!(
            output.matches(&m.html).count(),
            input.matches(&m.html).count(),
            "{output:?}: {}",
            m.html
        );
    }
}

/// A JSON array of token ids (expected.json's `source_ids`, `greedy_ids`...).
pub fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}
