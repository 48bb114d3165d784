//! `cargo xtask firmware`: builds every firmware example and runs it under QEMU, comparing its
//! translations with the host engine's; exits non-zero on any difference.
//!
//! - Cortex-M (`firmware/cortex-m`): the fixture model on mps2-an500 (Cortex-M7; scalar and DSP
//!   kernels) and mps3-an547 (Cortex-M55; scalar, Helium, DSP), the NLLB and T5 fixtures and
//!   Firefox's real en->pt model (from DDR) on mps3-an547; the firmware itself compares with the host engine's translations
//!   recorded at build time and exits 0 only if all are equal. The STM32H743 layout is built,
//!   and two plans that do not fit their board must fail to build with a message.
//! - Raspberry Pi (`firmware/rpi`): tern-core's and tern's tests and the `tern-pi` example under
//!   qemu-aarch64 as a Pi 4 (cortex-a72) and a Pi 5 (cortex-a76), and under qemu-arm (32-bit,
//!   cortex-a7 as in a Pi 2; a Pi 3/4 running 32-bit Raspberry Pi OS runs the same binary);
//!   the example's translations must equal the x86 `tern` CLI's. The Hugging Face conformance
//!   tests run under emulation too: in CI a share per CPU (see `conformance_on`), with `--full`
//!   all of them on every CPU.

use crate::{
    bin, build_release, convert_model, convert_model_with, ensure_apt, ensure_target, fetch_model,
    have, root, run,
};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const CORTEX_M_TARGETS: &[&str] = &["thumbv7em-none-eabihf", "thumbv8m.main-none-eabihf"];
const PI_TARGETS: &[&str] = &["aarch64-unknown-linux-gnu", "armv7-unknown-linux-gnueabihf"];
/// Debian packages: QEMU for both families, cross linkers and C libraries for the Pi.
const APT: &[&str] = &[
    "qemu-system-arm",
    "qemu-user",
    "gcc-aarch64-linux-gnu",
    "gcc-arm-linux-gnueabihf",
    "libc6-dev-arm64-cross",
    "libc6-dev-armhf-cross",
];
/// The runs the hand-written Helium kernels are compared on, each with LLVM's vectorization of
/// the scalar table on the same model.
const LLVM_FIXTURE: &str = "M55, Helium (LLVM)";
const HAND_FIXTURE: &str = "M55, Helium (hand)";
const LLVM_FIREFOX: &str = "M55, Helium (LLVM), Firefox en->pt from DDR";
const HAND_FIREFOX: &str = "M55, Helium (hand), Firefox en->pt from DDR";
const HELIUM_PAIRS: &[(&str, &str, &str)] = &[
    ("fixture", LLVM_FIXTURE, HAND_FIXTURE),
    ("Firefox en->pt", LLVM_FIREFOX, HAND_FIREFOX),
];
/// Limits of the Pi comparison (the same on x86 and under emulation).
const PI_LIMITS: &[&str] = &["--beam", "2", "--max-len", "48", "--max-src-len", "48"];

/// Installs what the firmware needs if it is missing: rustup targets, Debian packages (as
/// root, or with sudo), defmt-print.
fn install() -> Result<()> {
    for t in CORTEX_M_TARGETS.iter().chain(PI_TARGETS) {
        ensure_target(t)?;
    }
    ensure_apt(APT)?;
    if !have("defmt-print") {
        run(Command::new("cargo").args(["install", "defmt-print", "--locked"]))?;
    }
    Ok(())
}

/// One Cortex-M build.
struct Build<'a> {
    board: &'a str,
    target: &'a str,
    features: &'a str,
    cpu: Option<&'a str>,
    model: &'a Path,
    env: &'a [(&'a str, &'a str)],
}

impl Build<'_> {
    fn target_dir(&self) -> PathBuf {
        let cpu = self.cpu.map_or(String::new(), |c| format!("-{c}"));
        root().join(format!("target/firmware/{}{cpu}", self.target))
    }

    fn command(&self) -> Command {
        let mut c = Command::new("cargo");
        c.current_dir(root().join("firmware/cortex-m"))
            .args(["build", "--release", "--target", self.target, "--features"])
            .arg(format!("board-{}{}", self.board, self.features))
            .arg("--target-dir")
            .arg(self.target_dir())
            .env("TERN_MODEL", self.model)
            .env_remove("RUSTFLAGS");
        if let Some(cpu) = self.cpu {
            c.env("RUSTFLAGS", format!("-C target-cpu={cpu}"));
        }
        for (k, v) in self.env {
            c.env(k, v);
        }
        c
    }

    fn elf(&self) -> PathBuf {
        self.target_dir()
            .join(self.target)
            .join("release/tern-cortex-m")
    }
}

fn output(cmd: &mut Command) -> Result<Output> {
    eprintln!("xtask: running {cmd:?}");
    cmd.output()
        .with_context(|| format!("could not start {cmd:?}"))
}

/// What a QEMU run reported.
struct Report {
    what: String,
    per_token: String,
    seconds: f64,
}

fn cortex_m(fixture: &Path, nllb: &Path, t5: &Path, enpt: &Path) -> Result<Vec<Report>> {
    // T5 is told the task in the text: its sentences carry the prefix.
    let t5_sentences = root().join("firmware/cortex-m/sentences-t5.txt");
    let t5_sentences = t5_sentences.to_string_lossy();
    let t5_env = [("TERN_SENTENCES", &*t5_sentences)];
    let runs = [
        (
            "M7, scalar",
            Build {
                board: "mps2-an500",
                target: CORTEX_M_TARGETS[0],
                features: "",
                cpu: None,
                model: fixture,
                env: &[],
            },
        ),
        (
            "M7, DSP (SMLAD)",
            Build {
                board: "mps2-an500",
                target: CORTEX_M_TARGETS[0],
                features: ",dsp",
                cpu: None,
                model: fixture,
                env: &[],
            },
        ),
        (
            "M55, scalar (no MVE)",
            Build {
                board: "mps3-an547",
                target: CORTEX_M_TARGETS[1],
                features: "",
                cpu: None,
                model: fixture,
                env: &[],
            },
        ),
        (
            "M55, DSP (SMLAD)",
            Build {
                board: "mps3-an547",
                target: CORTEX_M_TARGETS[1],
                features: ",dsp",
                cpu: Some("cortex-m55"),
                model: fixture,
                env: &[],
            },
        ),
        (
            LLVM_FIXTURE,
            Build {
                board: "mps3-an547",
                target: CORTEX_M_TARGETS[1],
                features: "",
                cpu: Some("cortex-m55"),
                model: fixture,
                env: &[],
            },
        ),
        (
            HAND_FIXTURE,
            Build {
                board: "mps3-an547",
                target: CORTEX_M_TARGETS[1],
                features: ",helium",
                cpu: Some("cortex-m55"),
                model: fixture,
                env: &[],
            },
        ),
        (
            "M55, Helium (hand), NLLB fixture eng_Latn->por_Latn",
            Build {
                board: "mps3-an547",
                target: CORTEX_M_TARGETS[1],
                features: ",helium",
                cpu: Some("cortex-m55"),
                model: nllb,
                env: &[],
            },
        ),
        (
            "M55, Helium (hand), T5 fixture (task prefix)",
            Build {
                board: "mps3-an547",
                target: CORTEX_M_TARGETS[1],
                features: ",helium",
                cpu: Some("cortex-m55"),
                model: t5,
                env: &t5_env,
            },
        ),
        (
            LLVM_FIREFOX,
            Build {
                board: "mps3-an547",
                target: CORTEX_M_TARGETS[1],
                features: "",
                cpu: Some("cortex-m55"),
                model: enpt,
                env: &[],
            },
        ),
        (
            HAND_FIREFOX,
            Build {
                board: "mps3-an547",
                target: CORTEX_M_TARGETS[1],
                features: ",helium",
                cpu: Some("cortex-m55"),
                model: enpt,
                env: &[],
            },
        ),
    ];
    let mut reports = Vec::new();
    for (what, b) in &runs {
        run(&mut b.command())?;
        let started = std::time::Instant::now();
        let out = output(
            Command::new("timeout")
                .arg("900")
                .arg(root().join("firmware/cortex-m/qemu.sh"))
                .arg(b.board)
                .arg(b.elf()),
        )?;
        let seconds = started.elapsed().as_secs_f64();
        let log = String::from_utf8_lossy(&out.stdout);
        eprint!("{log}{}", String::from_utf8_lossy(&out.stderr));
        if !out.status.success() || !log.contains("all equal to the host engine") {
            bail!(
                "{} ({what}) did not reproduce the host engine's translations",
                b.board
            );
        }
        let per_token = log
            .lines()
            .find_map(|l| l.split(" tokens generated, ").nth(1))
            .and_then(|s| s.split(' ').next())
            .unwrap_or("?")
            .to_string();
        reports.push(Report {
            what: format!("{} {what}", b.board),
            per_token,
            seconds,
        });
    }

    // A real board: builds (flashing needs the board; see firmware/cortex-m/README.md).
    let h7 = |env: &'static [(&'static str, &'static str)], model: &Path| -> Command {
        Build {
            board: "stm32h743",
            target: CORTEX_M_TARGETS[0],
            features: ",dsp",
            cpu: None,
            model,
            env,
        }
        .command()
    };
    run(&mut h7(&[], fixture))?;
    // Plans that do not fit must stop the build, saying what is needed.
    for (mut cmd, want) in [
        (
            h7(
                &[
                    ("TERN_MAX_SRC", "128"),
                    ("TERN_MAX_TGT", "128"),
                    ("TERN_BEAM", "4"),
                ],
                fixture,
            ),
            "of RAM",
        ),
        (
            Build {
                board: "mps2-an500",
                target: CORTEX_M_TARGETS[0],
                features: "",
                cpu: None,
                model: enpt,
                env: &[],
            }
            .command(),
            "does not fit mps2-an500",
        ),
    ] {
        let out = output(&mut cmd)?;
        let err = String::from_utf8_lossy(&out.stderr);
        let line = err.lines().find(|l| l.contains(want));
        match (out.status.success(), line) {
            (false, Some(l)) => eprintln!(
                "xtask: refused at build time, as it should be: {}",
                l.trim()
            ),
            _ => bail!("a plan that does not fit was not refused with {want:?}:\n{err}"),
        }
    }
    Ok(reports)
}

/// Whether the Hugging Face conformance tests run emulated on `cpu`, and which are skipped
/// there; `None`: none. `full` (`cargo xtask firmware --full`): every test on every CPU.
///
/// Emulated, these took most of CI's time, so CI runs on each CPU what only it can show. The
/// searches' own logic (beam 4, length cuts, generation settings) has no kernel of its own and
/// is left to the native run. The A76 runs every fixture in f32 through its SDOT build; its
/// quantized models are checked by the unit tests' exact `kernels::check` against the scalar
/// table. The A72's float code is the A76's, and its plain NEON int8 table is checked the same
/// way; `tern-pi` then runs the int8 fixture and Firefox's model on it against x86's output.
/// The 32-bit A7 runs its unit tests, and `tern-pi` checks it the same way: its int8 table is
/// the scalar one, and its float code the A72's built for 32 bits.
fn conformance_on(cpu: &str, full: bool) -> Option<&'static [&'static str]> {
    const SEARCHES: [&str; 3] = [
        "f32_beam4_ids_text_and_scores_equal_hf",
        "f32_outputs_cut_by_max_length_equal_hf",
        "generation_settings_from_the_checkpoint_give_hf_outputs",
    ];
    const SEARCHES_AND_INT8: [&str; 4] = [
        SEARCHES[0],
        SEARCHES[1],
        SEARCHES[2],
        "quantized_models_stay_close_to_hf",
    ];
    match (full, cpu) {
        (true, _) => Some(&[]),
        (false, "cortex-a76") => Some(&SEARCHES_AND_INT8),
        (false, _) => None,
    }
}

/// The Pi: unit tests and the Hugging Face conformance tests under emulation, then `tern-pi`
/// against the x86 CLI.
fn rpi(fixture: &Path, enpt: &Path, full: bool) -> Result<Vec<Report>> {
    let sentences = root().join("firmware/cortex-m/sentences.txt");
    let samples = root().join("models/samples/bergamot/en.txt");
    let text = std::fs::read_to_string(&samples)?;
    let input = root().join("target/firmware/pi-input.txt");
    std::fs::create_dir_all(input.parent().unwrap_or(&root()))?;
    let mut lines: Vec<&str> = text.lines().take(8).collect();
    let fixed = std::fs::read_to_string(&sentences)?;
    lines.extend(fixed.lines());
    std::fs::write(&input, lines.join("\n") + "\n")?;

    let mut reports = Vec::new();
    for target in PI_TARGETS {
        let cpus: &[&str] = if target.starts_with("aarch64") {
            &["cortex-a72", "cortex-a76"]
        } else {
            &["cortex-a7"]
        };
        for cpu in cpus {
            // The engine's own tests, then through the `tern` library the fixtures' outputs
            // against Hugging Face's as on x86; run under qemu-user by the runner in
            // .cargo/config.toml.
            run(Command::new("cargo")
                .current_dir(root())
                .args(["test", "--release", "--target", target])
                .args(["-p", "tern-core", "-p", "tern", "--lib", "--tests"])
                .env("QEMU_CPU", cpu))?;
            if let Some(skipped) = conformance_on(cpu, full) {
                let mut cmd = Command::new("cargo");
                cmd.current_dir(root())
                    .args(["test", "--release", "--target", target])
                    .args(["-p", "tern-e2e", "--test", "conformance", "--"])
                    .env("QEMU_CPU", cpu);
                for t in skipped {
                    cmd.args(["--skip", t]);
                }
                run(&mut cmd)?;
            }
        }
        run(Command::new("cargo")
            .current_dir(root().join("firmware/rpi"))
            .args(["build", "--release", "--target", target]))?;
        let exe = root()
            .join("firmware/rpi/target")
            .join(target)
            .join("release/tern-pi");
        for (name, model) in [("fixture", fixture), ("Firefox en->pt", enpt)] {
            let want = output(
                Command::new(bin("tern"))
                    .args(["translate", "-m"])
                    .arg(model)
                    .args(PI_LIMITS)
                    .stdin(std::fs::File::open(&input)?),
            )?;
            if !want.status.success() {
                bail!("tern on x86: {}", String::from_utf8_lossy(&want.stderr));
            }
            for cpu in cpus {
                let qemu = if target.starts_with("aarch64") {
                    ("qemu-aarch64", "/usr/aarch64-linux-gnu")
                } else {
                    ("qemu-arm", "/usr/arm-linux-gnueabihf")
                };
                let started = std::time::Instant::now();
                let got = output(
                    Command::new(qemu.0)
                        .args(["-L", qemu.1, "-cpu", cpu])
                        .arg(&exe)
                        .arg("-m")
                        .arg(model)
                        .args(PI_LIMITS)
                        .arg("--stats")
                        .stdin(std::fs::File::open(&input)?),
                )?;
                let seconds = started.elapsed().as_secs_f64();
                let err = String::from_utf8_lossy(&got.stderr);
                if !got.status.success() {
                    bail!("tern-pi on {target} ({cpu}): {err}");
                }
                if got.stdout != want.stdout {
                    bail!(
                        "tern-pi on {target} ({cpu}) with the {name} model differs from x86:\n{}\nvs\n{}",
                        String::from_utf8_lossy(&got.stdout),
                        String::from_utf8_lossy(&want.stdout)
                    );
                }
                let kernels = err
                    .lines()
                    .find_map(|l| l.strip_prefix("tern-pi: kernels "))
                    .unwrap_or("?");
                // The kernels each CPU must get: a Pi 5's dot product, a Pi 4's plain NEON.
                let expected = match *cpu {
                    "cortex-a76" => "neon-dotprod",
                    "cortex-a72" => "neon",
                    _ => "scalar",
                };
                if kernels != expected {
                    bail!("tern-pi on {cpu} ran {kernels} kernels, expected {expected}");
                }
                eprintln!(
                    "xtask: tern-pi on {target} ({cpu}, {kernels} kernels), {name}: {} lines equal to x86",
                    lines.len()
                );
                reports.push(Report {
                    what: format!("{target} {cpu}, {name}"),
                    per_token: format!("{} lines equal", lines.len()),
                    seconds,
                });
            }
        }
    }
    Ok(reports)
}

pub fn firmware(args: &[String]) -> Result<()> {
    let full = args.iter().any(|a| a == "--full");
    install()?;
    build_release()?;
    let fixture = convert_model(
        &root().join("models/fixtures/marian-tiny-en-de"),
        "fixture-en-de",
    )?;
    // A multilingual fixture, its languages stored in the file (the firmware translates with
    // the file's defaults).
    let nllb = convert_model_with(
        &root().join("models/fixtures/nllb-tiny"),
        "fixture-nllb",
        &["--source-lang", "eng_Latn", "--target-lang", "por_Latn"],
    )?;
    let t5 = convert_model(&root().join("models/fixtures/t5-tiny"), "fixture-t5")?;
    let enpt = convert_model(&fetch_model(&["enpt".to_string()])?, "enpt")?;
    let mut reports = cortex_m(&fixture, &nllb, &t5, &enpt)?;
    reports.extend(rpi(&fixture, &enpt, full)?);
    eprintln!("\nxtask firmware: every output equals the host engine's");
    eprintln!("{:<58} {:>22} {:>9}", "run", "instructions/token", "wall s");
    for r in &reports {
        eprintln!("{:<58} {:>22} {:>9.1}", r.what, r.per_token, r.seconds);
    }
    for (model, llvm, hand) in HELIUM_PAIRS {
        let count = |what: &str| {
            reports
                .iter()
                .find(|r| r.what.ends_with(&format!(" {what}")))
                .and_then(|r| r.per_token.parse::<f64>().ok())
        };
        if let (Some(l), Some(h)) = (count(llvm), count(hand)) {
            eprintln!(
                "Helium by hand, {model}: {:.2}x fewer instructions per generated token than LLVM's",
                l / h
            );
        }
    }
    Ok(())
}
