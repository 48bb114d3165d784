//! `cargo xtask python`: builds the `tern` Python package (`bindings/python`, one abi3 wheel
//! for CPython >= 3.9) into `target/wheels/` with maturin, installs the wheel into a fresh venv
//! and runs its pytest tests there, with the Ray example's test (`examples/ray`): translations
//! equal to the `tern` CLI's on Firefox's real en->pt model and the NLLB fixture.

use crate::{bin, build_release, convert_model, fetch_model, py_env, root, run};
use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::Command;

/// The wheel builder, installed into the `target/py` venv.
const MATURIN: &str = "maturin==1.16.0";

pub fn python(args: &[String]) -> Result<()> {
    if let Some(a) = args.first() {
        bail!("xtask python takes no arguments (got {a:?}); pytest options: run target/py-wheel/bin/python -m pytest yourself");
    }
    let build_python = py_env()?;
    let stamp = root().join("target/py/.tern-maturin");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(MATURIN) {
        run(Command::new(&build_python).args(["-m", "pip", "install", "--quiet", MATURIN]))?;
        std::fs::write(&stamp, MATURIN)?;
    }

    // What the tests compare with: the CLI, the real model, and a multilingual fixture.
    build_release()?;
    let enpt = convert_model(&fetch_model(&["enpt".to_string()])?, "enpt")?;
    // `tern.Route` pivots pt -> en -> es through a local catalogue of the real files.
    fetch_model(&["pten".to_string()])?;
    let nllb = convert_model(&root().join("models/fixtures/nllb-tiny"), "nllb-tiny")?;

    let wheels = root().join("target/wheels");
    std::fs::create_dir_all(&wheels)?;
    let is_ours = |p: &PathBuf| {
        p.file_name().is_some_and(|n| {
            let n = n.to_string_lossy();
            n.starts_with("tern_translate-") && n.ends_with(".whl")
        })
    };
    for old in list(&wheels)?.into_iter().filter(is_ours) {
        std::fs::remove_file(old)?;
    }
    let t0 = std::time::Instant::now();
    run(Command::new(&build_python)
        .current_dir(root())
        .args(["-m", "maturin", "build", "--release", "--locked", "-m"])
        .arg(root().join("bindings/python/Cargo.toml"))
        .arg("-o")
        .arg(&wheels)
        .arg("-i")
        .arg(&build_python))?;
    let built: Vec<PathBuf> = list(&wheels)?.into_iter().filter(is_ours).collect();
    let [wheel] = built.as_slice() else {
        bail!(
            "expected one tern wheel in {}, found {built:?}",
            wheels.display()
        );
    };
    let name = wheel.file_name().unwrap_or_default().to_string_lossy();
    if !name.contains("-cp39-abi3-") {
        bail!("{name} is not an abi3 wheel for CPython >= 3.9");
    }
    eprintln!(
        "xtask: built {} in {:.0} s",
        wheel.display(),
        t0.elapsed().as_secs_f64()
    );

    // A fresh venv with nothing but the wheel and the test tools: what a user's `pip install` gets.
    let venv = root().join("target/py-wheel");
    if venv.exists() {
        std::fs::remove_dir_all(&venv).with_context(|| format!("removing {}", venv.display()))?;
    }
    run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    let python = venv.join("bin/python");
    let t0 = std::time::Instant::now();
    run(Command::new(&python)
        .args(["-m", "pip", "install", "--quiet"])
        .arg(wheel)
        .arg("-r")
        .arg(root().join("bindings/python/requirements-test.txt"))
        .arg("-r")
        .arg(root().join("examples/ray/requirements.txt")))?;
    eprintln!(
        "xtask: installed the wheel, pytest and Ray into {} in {:.0} s",
        venv.display(),
        t0.elapsed().as_secs_f64()
    );
    run(Command::new(&python)
        // Not the repository root: `import tern` must find the installed wheel.
        .current_dir(root().join("target"))
        .args(["-m", "pytest", "-v", "-s", "-p", "no:cacheprovider"])
        .arg(root().join("bindings/python/tests"))
        .arg(root().join("examples/ray"))
        .env("TERN_MODEL", &enpt)
        .env("TERN_NLLB_MODEL", &nllb)
        .env("TERN_CLI", bin("tern"))
        .env("TERN_ROOT", root()))
}

fn list(dir: &std::path::Path) -> Result<Vec<PathBuf>> {
    Ok(std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect())
}
