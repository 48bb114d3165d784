//! Plans the firmware at build time, with the host engine (tern-core with `std`):
//!
//! - reads the model (`TERN_MODEL`, a `.gguf` from `convert`), checks it loads, and copies it
//!   next to the build for `include_bytes!`;
//! - sizes the workspace from the memory plan for the limits (`TERN_MAX_SRC`, `TERN_MAX_TGT`,
//!   `TERN_BEAM`) and picks the board's memory regions for weights and RAM; a model or a plan
//!   that does not fit the board stops the build here, saying how much is needed;
//! - translates the sentences (`TERN_SENTENCES`, one per line) on the host: the firmware must
//!   produce the same text.

use std::fmt::Write as _;
use std::path::PathBuf;
use tern_core::engine::Engine;
use tern_core::kernels::Kernels;
use tern_core::plan::Limits;

/// Bytes kept for the stack (the forward pass keeps its arrays in the workspace; this is call
/// frames and small locals, measured under 16 KiB with margin).
const STACK_BYTES: u64 = 64 * 1024;
/// Bytes kept in a weights region shared with code.
const CODE_BYTES: u64 = 512 * 1024;
/// Longest sentence, in bytes, the firmware accepts (sizes the tokenizer scratch).
const MAX_TEXT_BYTES: usize = 512;
/// Output text buffer.
const MAX_OUT_BYTES: usize = 1024;

struct Board {
    feature: &'static str,
    name: &'static str,
    /// Regions the weights may go in, first that fits wins.
    weights: &'static [&'static str],
    /// Regions RAM (data, bss: the workspace; stack) may go in, first that fits wins.
    ram: &'static [&'static str],
    /// Core clock SysTick counts (QEMU's value for the QEMU boards).
    cpu_hz: u64,
}

const BOARDS: &[Board] = &[
    Board {
        feature: "BOARD_MPS2_AN500",
        name: "mps2-an500",
        weights: &["FLASH", "PSRAM"],
        ram: &["SRAM"],
        cpu_hz: 25_000_000,
    },
    Board {
        feature: "BOARD_MPS3_AN547",
        name: "mps3-an547",
        weights: &["QSPI", "DDR"],
        ram: &["ISRAM", "DDR"],
        cpu_hz: 32_000_000,
    },
    Board {
        feature: "BOARD_STM32H743",
        name: "stm32h743",
        weights: &["FLASH"],
        ram: &["AXISRAM"],
        cpu_hz: 400_000_000,
    },
];

fn env(name: &str) -> Option<String> {
    println!("cargo:rerun-if-env-changed={name}");
    std::env::var(name).ok().filter(|s| !s.is_empty())
}

fn env_usize(name: &str, default: usize) -> usize {
    env(name).map_or(default, |v| {
        v.parse()
            .unwrap_or_else(|_| fail(&format!("{name}={v} is not a number")))
    })
}

fn fail(msg: &str) -> ! {
    eprintln!("error: {msg}");
    panic!("{msg}");
}

/// `NAME : ORIGIN = 0x..., LENGTH = 4M` lines of a memory.x.
fn regions(memory_x: &str) -> Vec<(String, u64)> {
    let number = |s: &str| -> u64 {
        let s = s.trim();
        let (digits, mult) = match s.chars().last() {
            Some('K') => (&s[..s.len() - 1], 1 << 10),
            Some('M') => (&s[..s.len() - 1], 1 << 20),
            Some('G') => (&s[..s.len() - 1], 1 << 30),
            _ => (s, 1),
        };
        let v = match digits.strip_prefix("0x") {
            Some(h) => u64::from_str_radix(h, 16),
            None => digits.parse(),
        };
        v.unwrap_or_else(|_| fail(&format!("memory.x: bad number {s:?}"))) * mult
    };
    memory_x
        .lines()
        .filter_map(|l| {
            let (name, rest) = l.split_once(':')?;
            let len = rest.split("LENGTH").nth(1)?.trim_start_matches([' ', '=']);
            Some((name.trim().to_string(), number(len)))
        })
        .collect()
}

fn kib(b: u64) -> String {
    format!("{:.1} KiB", b as f64 / 1024.0)
}

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let here = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let chosen: Vec<&Board> = BOARDS
        .iter()
        .filter(|b| std::env::var(format!("CARGO_FEATURE_{}", b.feature)).is_ok())
        .collect();
    let [board] = chosen[..] else {
        fail("choose exactly one board: --features board-mps2-an500, board-mps3-an547 or board-stm32h743");
    };

    let model_path = env("TERN_MODEL").map(PathBuf::from).unwrap_or_else(|| {
        fail("set TERN_MODEL to a model made by `convert` (`cargo xtask firmware` makes one)")
    });
    println!("cargo:rerun-if-changed={}", model_path.display());
    let bytes = std::fs::read(&model_path)
        .unwrap_or_else(|e| fail(&format!("reading {}: {e}", model_path.display())));
    // The engine reads in place: give it an aligned copy, as the flash image will be.
    let mut store = vec![0u64; bytes.len().div_ceil(8)];
    tern_core::plan::as_bytes_mut(&mut store)[..bytes.len()].copy_from_slice(&bytes);
    let file = &tern_core::plan::as_bytes_mut(&mut store)[..bytes.len()];
    let engine = Engine::load(file, Kernels::best())
        .unwrap_or_else(|e| fail(&format!("{}: {e}", model_path.display())));
    std::fs::write(out.join("model.gguf"), &bytes).unwrap();

    let limits = Limits {
        max_src: env_usize("TERN_MAX_SRC", 48),
        max_tgt: env_usize("TERN_MAX_TGT", 48),
        beam: env_usize("TERN_BEAM", 2),
        batch: 1,
    };
    let workspace = engine.workspace_bytes(&limits, MAX_TEXT_BYTES);

    // Memory: the board's map plus the regions chosen for this model and plan.
    let memory_x = here.join("boards").join(board.name).join("memory.x");
    println!("cargo:rerun-if-changed={}", memory_x.display());
    let map = std::fs::read_to_string(&memory_x).unwrap();
    let sizes = regions(&map);
    let size = |r: &str| sizes.iter().find(|(n, _)| n == r).map_or(0, |(_, s)| *s);
    let weights_need = bytes.len() as u64 + 32;
    let weights_region = board
        .weights
        .iter()
        .find(|r| {
            let room = size(r).saturating_sub(if **r == "FLASH" { CODE_BYTES } else { 0 });
            weights_need <= room
        })
        .unwrap_or_else(|| {
            fail(&format!(
                "the model ({}, {}) does not fit {}: its weight regions {:?} hold {}",
                model_path.display(),
                kib(weights_need),
                board.name,
                board.weights,
                board
                    .weights
                    .iter()
                    .map(|r| kib(size(r)))
                    .collect::<Vec<_>>()
                    .join(" / ")
            ))
        });
    let ram_need = (workspace + MAX_OUT_BYTES) as u64 + STACK_BYTES;
    let ram_region = board
        .ram
        .iter()
        .find(|r| ram_need <= size(r))
        .unwrap_or_else(|| {
            fail(&format!(
                "{} needs {} of RAM ({} bytes: a {}-byte workspace for max source {}, max target {}, \
                 beam {}; output {} bytes; stack {} bytes), but {} has at most {} in {:?}. Lower \
                 TERN_MAX_SRC / TERN_MAX_TGT / TERN_BEAM or use a board with more RAM.",
                model_path.display(),
                kib(ram_need),
                ram_need,
                workspace,
                limits.max_src,
                limits.max_tgt,
                limits.beam,
                MAX_OUT_BYTES,
                STACK_BYTES,
                board.name,
                kib(board.ram.iter().map(|r| size(r)).max().unwrap_or(0)),
                board.ram
            ))
        });
    let mut linker = map.clone();
    writeln!(linker, "REGION_ALIAS(\"WEIGHTS\", {weights_region});").unwrap();
    writeln!(linker, "REGION_ALIAS(\"RAM\", {ram_region});").unwrap();
    linker.push_str(
        "SECTIONS\n{\n  .weights : ALIGN(32)\n  {\n    KEEP(*(.weights .weights.*));\n  } > WEIGHTS\n}\nINSERT AFTER .rodata;\n",
    );
    std::fs::write(out.join("memory.x"), linker).unwrap();
    println!("cargo:rustc-link-search={}", out.display());
    // Here rather than in .cargo/config.toml, so RUSTFLAGS (e.g. -C target-cpu) can be added.
    println!("cargo:rustc-link-arg=-Tlink.x");
    println!("cargo:rustc-link-arg=-Tdefmt.x");

    // The host's translations of the sentences, to compare against.
    let sentences_path = env("TERN_SENTENCES")
        .map(PathBuf::from)
        .unwrap_or_else(|| here.join("sentences.txt"));
    println!("cargo:rerun-if-changed={}", sentences_path.display());
    let sentences = std::fs::read_to_string(&sentences_path).unwrap();
    let opts = engine.options(&limits);
    let mut ws = vec![0u8; workspace];
    let mut text = vec![0u8; MAX_OUT_BYTES];
    let mut table = String::new();
    for s in sentences.lines().filter(|l| !l.trim().is_empty()) {
        if s.len() > MAX_TEXT_BYTES {
            fail(&format!("sentence longer than {MAX_TEXT_BYTES} bytes: {s}"));
        }
        let t = engine
            .translate(&mut ws, &limits, &opts, s, &mut text)
            .unwrap_or_else(|e| fail(&format!("host translation of {s:?}: {e}")));
        let expected = std::str::from_utf8(&text[..t.text_len]).unwrap();
        writeln!(table, "    ({s:?}, {expected:?}),").unwrap();
    }

    let name = model_path.file_name().unwrap().to_string_lossy();
    let plan = format!(
        "/// Written by build.rs from {model}.\n\
         pub const BOARD: &str = {board:?};\n\
         pub const MODEL_NAME: &str = {name:?};\n\
         pub const MODEL_BYTES: usize = {model_bytes};\n\
         pub const WORKSPACE_BYTES: usize = {workspace};\n\
         pub const MAX_OUT_BYTES: usize = {MAX_OUT_BYTES};\n\
         pub const CPU_HZ: u64 = {hz};\n\
         pub const WEIGHTS_REGION: &str = {weights_region:?};\n\
         pub const RAM_REGION: &str = {ram_region:?};\n\
         pub const LIMITS: Limits = Limits {{ max_src: {src}, max_tgt: {tgt}, beam: {beam}, batch: 1 }};\n\
         /// (source, the host engine's translation)\n\
         pub const SENTENCES: &[(&str, &str)] = &[\n{table}];\n",
        model = model_path.display(),
        board = board.name,
        model_bytes = bytes.len(),
        hz = board.cpu_hz,
        src = limits.max_src,
        tgt = limits.max_tgt,
        beam = limits.beam,
    );
    std::fs::write(out.join("plan.rs"), plan).unwrap();
    println!(
        "cargo:warning=tern: {} on {}: weights {} in {weights_region}, workspace {} + stack in {ram_region}",
        name,
        board.name,
        kib(bytes.len() as u64),
        kib(workspace as u64)
    );
}
