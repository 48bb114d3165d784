//! `cargo xtask capi`: tern's C API (`crates/tern-c`).
//!
//! - checks the committed header is what cbindgen makes of the source (`--bless` rewrites it);
//! - builds the host libraries and installs them under `target/capi/`: `include/tern.h`,
//!   `lib/libtern.a`, `lib/libtern.so`, `lib/pkgconfig/tern.pc`;
//! - builds `examples/c/translate.c` with `cc` and pkg-config (shared and static) and checks its
//!   output equals `tern translate`'s on the same input (the fixture model and Firefox's en->pt
//!   model; default settings, threads and batches, and streamed piece by piece);
//! - builds the C firmware `firmware/cortex-m-c` with the Arm GNU toolchain against the no_std
//!   static library (Cortex-M55, the hand-written Helium kernels), its workspace sized by a host-side call of the size
//!   query, and runs it under QEMU mps3-an547: every translation must equal the host engine's.

use crate::{
    bin, build_release, cargo, convert_model, ensure_apt, ensure_target, fetch_model, root, run,
};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const M55_TARGET: &str = "thumbv8m.main-none-eabihf";
/// Debian packages: the Arm GNU toolchain (with newlib, for C firmware that wants a libc) and
/// QEMU.
const APT: &[&str] = &[
    "gcc-arm-none-eabi",
    "libnewlib-arm-none-eabi",
    "qemu-system-arm",
    "pkg-config",
];
/// The C firmware's limits: those of the Rust firmware (`firmware/cortex-m/build.rs`).
const FIRMWARE_LIMITS: [&str; 3] = ["48", "48", "2"];

fn capi_dir() -> PathBuf {
    root().join("target/capi")
}

pub fn capi(args: &[String]) -> Result<()> {
    let bless = args.iter().any(|a| a == "--bless");
    // `cargo xtask test` has run the header test with the workspace's tests; run alone, with
    // another feature set, it rebuilt tern for 167 s of CI.
    if !args.iter().any(|a| a == "--header-tested") {
        header(bless)?;
    }
    install_libs()?;
    example()?;
    firmware()?;
    eprintln!("xtask capi: the C example equals the CLI, the C firmware equals the host engine");
    Ok(())
}

/// Checks (or with `bless`, rewrites) `crates/tern-c/include/tern.h`.
fn header(bless: bool) -> Result<()> {
    let mut c = cargo();
    c.args(["test", "--quiet", "-p", "tern-c", "--test", "header"]);
    if bless {
        c.env("TERN_BLESS", "1");
    }
    run(&mut c)
}

/// Builds the host libraries and puts them, the header and a pkg-config file in `target/capi`.
pub fn install_libs() -> Result<()> {
    run(cargo().args(["build", "--quiet", "--release", "-p", "tern-c"]))?;
    let dir = capi_dir();
    let (inc, lib) = (dir.join("include"), dir.join("lib"));
    std::fs::create_dir_all(&inc)?;
    std::fs::create_dir_all(lib.join("pkgconfig"))?;
    std::fs::copy(
        root().join("crates/tern-c/include/tern.h"),
        inc.join("tern.h"),
    )?;
    let release = root().join("target/release");
    for (from, to) in [("libtern_c.a", "libtern.a"), ("libtern_c.so", "libtern.so")] {
        std::fs::copy(release.join(from), lib.join(to))
            .with_context(|| format!("copying {from}"))?;
    }
    let version = env!("CARGO_PKG_VERSION");
    std::fs::write(
        lib.join("pkgconfig/tern.pc"),
        format!(
            "prefix={}\nincludedir=${{prefix}}/include\nlibdir=${{prefix}}/lib\n\n\
             Name: tern\nDescription: int8/fp16 encoder-decoder translation engine (C API)\n\
             Version: {version}\nCflags: -I${{includedir}}\nLibs: -L${{libdir}} -ltern\n\
             Libs.private: -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc\n",
            dir.display()
        ),
    )?;
    eprintln!(
        "xtask capi: {} (include/tern.h, lib/libtern.a, lib/libtern.so, lib/pkgconfig/tern.pc)",
        dir.display()
    );
    Ok(())
}

fn pkg_config(args: &[&str]) -> Result<Vec<String>> {
    let out = Command::new("pkg-config")
        .args(args)
        .arg("tern")
        .env("PKG_CONFIG_PATH", capi_dir().join("lib/pkgconfig"))
        .output()
        .context("pkg-config")?;
    if !out.status.success() {
        bail!("pkg-config: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect())
}

/// Compiles `examples/c/translate.c` twice (against libtern.so and libtern.a).
fn build_example() -> Result<(PathBuf, PathBuf)> {
    let out = capi_dir().join("examples");
    std::fs::create_dir_all(&out)?;
    let src = root().join("examples/c/translate.c");
    let cflags = pkg_config(&["--cflags"])?;
    let shared = out.join("translate");
    run(Command::new("cc")
        .args(["-std=c11", "-O2", "-Wall", "-Wextra", "-Werror"])
        .args(&cflags)
        .arg(&src)
        .args(pkg_config(&["--libs"])?)
        .arg(format!("-Wl,-rpath,{}", capi_dir().join("lib").display()))
        .arg("-o")
        .arg(&shared))?;
    let fixed = out.join("translate-static");
    let mut libs = pkg_config(&["--static", "--libs"])?;
    // Static: the archive itself rather than -ltern (which would pick the shared library).
    libs.retain(|l| l != "-ltern");
    run(Command::new("cc")
        .args(["-std=c11", "-O2", "-Wall", "-Wextra", "-Werror"])
        .args(&cflags)
        .arg(&src)
        .arg(capi_dir().join("lib/libtern.a"))
        .args(libs)
        .arg("-o")
        .arg(&fixed))?;
    Ok((shared, fixed))
}

fn stdout_of(cmd: &mut Command, input: &Path) -> Result<Vec<u8>> {
    eprintln!("xtask: running {cmd:?} < {}", input.display());
    let out = cmd
        .stdin(std::fs::File::open(input)?)
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("could not start {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed with {}", out.status);
    }
    Ok(out.stdout)
}

/// The C example against the CLI.
fn example() -> Result<()> {
    build_release()?;
    let (shared, fixed) = build_example()?;
    let fixture = convert_model(
        &root().join("models/fixtures/marian-tiny-en-de"),
        "fixture-en-de",
    )?;
    let enpt = convert_model(&fetch_model(&["enpt".to_string()])?, "enpt")?;
    // FLORES-like lines (Bergamot's samples), the firmware's sentences, a blank line.
    let mut lines: Vec<String> =
        std::fs::read_to_string(root().join("models/samples/bergamot/en.txt"))?
            .lines()
            .take(20)
            .map(str::to_owned)
            .collect();
    lines.extend(
        std::fs::read_to_string(root().join("firmware/cortex-m/sentences.txt"))?
            .lines()
            .map(str::to_owned),
    );
    lines.push(String::new());
    let input = capi_dir().join("examples/input.txt");
    std::fs::write(&input, lines.join("\n") + "\n")?;
    for model in [&fixture, &enpt] {
        for settings in [
            &[][..],
            &["--threads", "2", "--batch", "4", "--beam", "1"],
            &["--stream"],
        ] {
            // Streaming prints the same text (the CLI without --stream: its output is the
            // reference the pieces must add up to).
            let cli: Vec<&str> = settings
                .iter()
                .copied()
                .filter(|a| *a != "--stream")
                .collect();
            let want = stdout_of(
                Command::new(bin("tern"))
                    .args(["translate", "-m"])
                    .arg(model)
                    .args(&cli),
                &input,
            )?;
            for exe in [&shared, &fixed] {
                let got = stdout_of(Command::new(exe).arg(model).args(settings), &input)?;
                if got != want {
                    bail!(
                        "{} {} {settings:?} differs from `tern translate`:\n{}\nvs\n{}",
                        exe.display(),
                        model.display(),
                        String::from_utf8_lossy(&got),
                        String::from_utf8_lossy(&want)
                    );
                }
            }
            eprintln!(
                "xtask capi: examples/c/translate.c (shared and static) on {} {settings:?}: {} lines equal to `tern translate`",
                model.display(),
                lines.len()
            );
        }
    }
    Ok(())
}

/// Installs the Arm GNU toolchain and QEMU if missing (`apt-get`, as root or through sudo).
fn install() -> Result<()> {
    ensure_target(M55_TARGET)?;
    ensure_apt(APT)
}

/// The C firmware on QEMU's Cortex-M55.
fn firmware() -> Result<()> {
    install()?;
    let here = root().join("firmware/cortex-m-c");
    let out = root().join("target/firmware-c");
    let gen = out.join("gen");
    std::fs::create_dir_all(&gen)?;
    // The no_std static library for the M55 with the hand-written Helium kernels, as the Rust
    // firmware's "M55, Helium (hand)" build.
    run(cargo()
        .args([
            "build",
            "--quiet",
            "--release",
            "-p",
            "tern-c",
            "--no-default-features",
        ])
        .args([
            "--features",
            "panic-handler,helium",
            "--target",
            M55_TARGET,
            "--target-dir",
        ])
        .arg(&out)
        .env("RUSTFLAGS", "-C target-cpu=cortex-m55")
        .env("CARGO_PROFILE_RELEASE_LTO", "fat")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1"))?;
    let lib = out.join(M55_TARGET).join("release/libtern_c.a");

    // The plan, on the host, through the C API: the size query and the host engine's output.
    let model = convert_model(
        &root().join("models/fixtures/marian-tiny-en-de"),
        "fixture-en-de",
    )?;
    let planner = out.join("plan");
    run(Command::new("cc")
        .args(["-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-I"])
        .arg(capi_dir().join("include"))
        .arg(here.join("plan.c"))
        .arg(capi_dir().join("lib/libtern.a"))
        .args(["-lpthread", "-ldl", "-lm", "-o"])
        .arg(&planner))?;
    run(Command::new(&planner)
        .arg(&model)
        .arg(root().join("firmware/cortex-m/sentences.txt"))
        .arg(gen.join("plan.h"))
        .args(FIRMWARE_LIMITS))?;

    let elf = out.join("tern-c-mps3-an547.elf");
    run(Command::new("arm-none-eabi-gcc")
        .args([
            "-mcpu=cortex-m55",
            "-mthumb",
            "-mfloat-abi=hard",
            "-O2",
            "-g",
            "-std=c11",
        ])
        .args([
            "-Wall",
            "-Wextra",
            "-Werror",
            "-ffreestanding",
            "-nostdlib",
            "-nostartfiles",
        ])
        .arg(format!("-DMODEL_PATH=\"{}\"", model.display()))
        .arg("-I")
        .arg(capi_dir().join("include"))
        .arg("-I")
        .arg(&gen)
        .arg("-T")
        .arg(here.join("an547.ld"))
        .args([
            here.join("startup.c"),
            here.join("main.c"),
            here.join("model.S"),
        ])
        .arg(&lib)
        .args(["-lgcc", "-Wl,--gc-sections", "-Wl,-z,noexecstack", "-o"])
        .arg(&elf))?;
    let mut qemu = Command::new("timeout");
    qemu.args([
        "600",
        "qemu-system-arm",
        "-M",
        "mps3-an547",
        "-nographic",
        "-monitor",
        "none",
    ])
    .args([
        "-serial",
        "none",
        "-semihosting-config",
        "enable=on,target=native",
    ])
    .args(["-icount", "shift=0", "-kernel"])
    .arg(&elf);
    eprintln!("xtask: running {qemu:?}");
    let started = std::time::Instant::now();
    let result = qemu.output().context("qemu-system-arm")?;
    // Semihosting's console is QEMU's stderr (stdout with some QEMU versions): read both.
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
    eprint!("{log}");
    if !result.status.success() || !log.contains("all equal to the host engine") {
        bail!(
            "the C firmware on mps3-an547 did not reproduce the host engine's translations ({})",
            result.status
        );
    }
    eprintln!(
        "xtask capi: C firmware on mps3-an547 (Cortex-M55): all equal to the host engine ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
