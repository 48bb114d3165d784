//! Shared helpers for the end-to-end tests: where the repo and fixtures are, converting fixture
//! checkpoints once per test run, and finding the CLI binaries.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is inside the repo").to_path_buf()
}

/// Fixture checkpoints made by `models/make_marian_fixture.py` (directories with expected.json).
pub fn marian_fixtures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("models/fixtures"))
        .expect("models/fixtures exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("expected.json").exists() && p.join("config.json").exists())
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no Marian fixtures under models/fixtures");
    v
}

/// Scratch directory for converted models and CLI outputs.
pub fn scratch() -> PathBuf {
    let d = root().join("target/tern-tests");
    std::fs::create_dir_all(&d).expect("create target/tern-tests");
    d
}

/// Converts a fixture checkpoint (in process, through the converter library).
pub fn convert(dir: &Path, precision: tern_convert::Precision) -> Vec<u8> {
    tern_convert::build(dir, precision, true).unwrap_or_else(|e| panic!("converting {}: {e:#}", dir.display()))
}

/// Path of a workspace binary (`tern`, `convert`), built once per test run.
pub fn bin(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(root())
            .args(["build", "--quiet", "--release", "-p", "tern", "-p", "tern-convert", "--bins"])
            .status()
            .expect("run cargo build");
        assert!(status.success(), "building the CLI binaries failed");
    });
    root().join("target/release").join(name)
}
