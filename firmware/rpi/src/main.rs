//! `tern-pi`: translates lines as they arrive, for a Raspberry Pi in a pipeline or as a
//! co-process: each input line is answered by one output line, flushed at once, so another
//! program can write a sentence and read its translation back. The model is memory-mapped:
//! a 20 MB model costs page cache, not heap, and starts in milliseconds.
//!
//!     tern-pi -m enpt.gguf < in.txt > out.txt
//!     tern-pi -m enpt.gguf --stats          # per-line timing on stderr

use anyhow::{Context, Result};
use clap::Parser;
use std::io::{BufRead, Write};
use std::time::Instant;

#[derive(Parser)]
#[command(
    version,
    about = "Translate lines with a tern model, one answer per line, flushed"
)]
struct Args {
    /// Model file made by `convert`.
    #[arg(short, long)]
    model: std::path::PathBuf,
    /// Beam size (default: the model's).
    #[arg(long)]
    beam: Option<usize>,
    /// Most target tokens, EOS included.
    #[arg(long)]
    max_len: Option<usize>,
    /// Most source tokens, EOS included; longer lines are cut, with a warning.
    #[arg(long)]
    max_src_len: Option<usize>,
    /// Print each line's time and the kernels used on stderr.
    #[arg(long)]
    stats: bool,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let t = tern::Translator::open(&args.model)
        .with_context(|| format!("loading {}", args.model.display()))?
        .with_settings(tern::Settings {
            beam: args.beam,
            max_len: args.max_len,
            max_src_len: args.max_src_len,
            truncate: true,
            ..Default::default()
        });
    if args.stats {
        eprintln!("tern-pi: kernels {}", t.engine().model.kernels().name);
    }
    // One workspace for the whole run: nothing is allocated per sentence by the engine.
    let mut session = t.session();
    let stdin = std::io::stdin().lock();
    let mut out = std::io::stdout().lock();
    for (n, line) in stdin.split(b'\n').enumerate() {
        let raw = line.context("reading stdin")?;
        let raw = raw.strip_suffix(b"\r").unwrap_or(&raw);
        let text = String::from_utf8_lossy(raw);
        let started = Instant::now();
        let translated = match session.translate(&text) {
            Ok(o) => {
                if o.truncated {
                    eprintln!(
                        "tern-pi: line {}: too long; translated its beginning",
                        n + 1
                    );
                }
                o.text
            }
            Err(e) => {
                eprintln!("tern-pi: line {}: {e}; wrote an empty line", n + 1);
                String::new()
            }
        };
        writeln!(out, "{}", translated.replace(['\n', '\r'], " "))?;
        out.flush()?;
        if args.stats {
            eprintln!(
                "tern-pi: line {}: {:.1} ms",
                n + 1,
                started.elapsed().as_secs_f64() * 1e3
            );
        }
    }
    Ok(())
}
