//! Project tasks, run as `cargo xtask <task>` (alias in `.cargo/config.toml`).
//!
//! - `test`: everything CI runs: installs what it needs (rustup targets, a Python venv with
//!   gguf-py), runs all tests, checks the `no_std` core builds for Cortex-M.
//! - `demo`: the main job: builds a model and translates sentences with the CLI.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

const NO_STD_TARGET: &str = "thumbv7em-none-eabihf";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("check-no-std") => check_no_std(),
        Some("py-env") => py_env().map(|p| println!("{}", p.display())),
        Some("demo") => demo(&args[1..]),
        _ => {
            eprintln!("usage: cargo xtask <test|demo [--checkpoint DIR] [--input FILE]|check-no-std|py-env>");
            std::process::exit(2)
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).expect("xtask lives in crates/xtask").into()
}

fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("xtask: running {cmd:?}");
    let status = cmd.status().with_context(|| format!("could not start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

/// Installs a rustup target if it is missing.
fn ensure_target(target: &str) -> Result<()> {
    let out = Command::new("rustup").args(["target", "list", "--installed"]).output()?;
    if !String::from_utf8_lossy(&out.stdout).lines().any(|l| l.trim() == target) {
        run(Command::new("rustup").args(["target", "add", target]))?;
    }
    Ok(())
}

/// A Python venv under `target/py` with the packages the tests use to cross-check tern against
/// reference implementations (gguf-py reads our files; sentencepiece checks token ids).
fn py_env() -> Result<PathBuf> {
    let venv = root().join("target/py");
    let python = venv.join("bin/python");
    let stamp = venv.join(".tern-requirements");
    let requirements = std::fs::read_to_string(root().join("models/requirements-test.txt"))?;
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(requirements.as_str()) {
        if !python.exists() {
            run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
        }
        run(Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "-r"])
            .arg(root().join("models/requirements-test.txt")))?;
        std::fs::write(&stamp, requirements)?;
    }
    Ok(python)
}

fn check_no_std() -> Result<()> {
    ensure_target(NO_STD_TARGET)?;
    run(cargo().args(["build", "--release", "-p", "tern-core", "--target", NO_STD_TARGET]))
}

fn test() -> Result<()> {
    let python = py_env()?;
    check_no_std()?;
    run(cargo().args(["test", "--workspace", "--all-features"]).env("TERN_PYTHON", &python))?;
    Ok(())
}

/// The main job: converts a checkpoint to int8, shows its memory plan and translates sentences
/// with the `tern` CLI. Default: the fixture checkpoint (random weights, so the output is not a
/// real translation: it shows the pipeline); `--checkpoint DIR` takes any HF MarianMT directory.
fn demo(args: &[String]) -> Result<()> {
    let opt = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map(PathBuf::from);
    let checkpoint = opt("--checkpoint").unwrap_or_else(|| root().join("models/fixtures/marian-tiny-en-de"));
    let input = opt("--input").unwrap_or_else(|| root().join("models/samples/en.txt"));
    run(cargo().args(["build", "--quiet", "--release", "-p", "tern", "-p", "tern-convert", "--bins"]))?;
    let bin = |name: &str| root().join("target/release").join(name);
    let dir = root().join("target/demo");
    std::fs::create_dir_all(&dir)?;
    let model = dir.join("model.gguf");
    run(Command::new(bin("convert")).arg("--int8").arg(&checkpoint).arg("-o").arg(&model).arg("--force"))?;
    run(Command::new(bin("tern")).arg("inspect").arg(&model))?;
    eprintln!("xtask: translating {}", input.display());
    run(Command::new(bin("tern")).args(["translate", "--threads", "2", "-m"]).arg(&model).arg("--input").arg(&input))?;
    eprintln!("xtask: the same through the library (crates/tern/examples/translate.rs)");
    let first = std::fs::read_to_string(&input)?.lines().take(2).map(str::to_string).collect::<Vec<_>>();
    run(cargo().args(["run", "--quiet", "--release", "-p", "tern", "--example", "translate", "--"]).arg(&model).args(&first))
}
