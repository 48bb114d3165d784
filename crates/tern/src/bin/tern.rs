//! The `tern` command: translate lines, inspect model files.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::io::{BufWriter, Read, Write};
use std::path::PathBuf;
use tern::{inspect, Settings, Translator};

#[derive(Parser)]
#[command(
    name = "tern",
    version,
    about = "Quantized encoder-decoder translation on edge devices"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Translate one sentence per line (stdin or --input) to one line each (stdout or --output).
    Translate {
        /// Model file (GGUF, from `convert`).
        #[arg(short, long)]
        model: PathBuf,
        #[arg(short, long)]
        input: Option<PathBuf>,
        #[arg(short, long)]
        output: Option<PathBuf>,
        #[command(flatten)]
        limits: LimitArgs,
        /// Sentences are spread over this many threads (order is kept).
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Print the translation time and sentences/s to stderr (model loading excluded).
        #[arg(long)]
        stats: bool,
    },
    /// Show a model's architecture, hyperparameters, tensors and memory plan.
    Inspect {
        model: PathBuf,
        #[command(flatten)]
        limits: LimitArgs,
        /// Also check every byte against the file's CRC-32 (a damaged copy fails, exit 1).
        #[arg(long)]
        verify: bool,
    },
}

#[derive(clap::Args)]
struct LimitArgs {
    /// Beam size (default: the model's).
    #[arg(long)]
    beam: Option<usize>,
    /// Most target tokens per sentence, EOS included.
    #[arg(long, alias = "max-tgt-len")]
    max_len: Option<usize>,
    /// Most source tokens per sentence, EOS included; longer lines are cut (with a warning).
    #[arg(long)]
    max_src_len: Option<usize>,
    /// Sentences decoded together, greedy only (default 1): faster on many lines, same output.
    /// Batches are formed from sentences sorted by length.
    #[arg(long)]
    batch: Option<usize>,
    /// Source language of a multilingual model (NLLB: eng_Latn; M2M100: en); default: the file's.
    #[arg(long)]
    source_lang: Option<String>,
    /// Target language of a multilingual model (NLLB: por_Latn; M2M100: pt); default: the file's.
    #[arg(long)]
    target_lang: Option<String>,
}

impl LimitArgs {
    fn settings(&self) -> Settings {
        Settings {
            beam: self.beam,
            max_len: self.max_len,
            max_src_len: self.max_src_len,
            truncate: true,
            batch: self.batch,
            source_lang: self.source_lang.clone(),
            target_lang: self.target_lang.clone(),
        }
    }
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        eprintln!("tern: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Inspect {
            model,
            limits,
            verify,
        } => {
            let t = Translator::open(&model)
                .with_context(|| format!("loading {}", model.display()))?
                .with_settings(limits.settings());
            print!("{}", inspect::report(t.engine(), &t.plan().0));
            if verify {
                let checked = t
                    .verify()
                    .with_context(|| format!("verifying {}", model.display()))?;
                if checked {
                    println!("checksum: ok (CRC-32 of all {} bytes)", t.bytes().len());
                } else {
                    println!("checksum: none in this file (convert it again to add one)");
                }
            }
            Ok(())
        }
        Cmd::Translate {
            model,
            input,
            output,
            limits,
            threads,
            stats,
        } => {
            let t = Translator::open(&model)
                .with_context(|| format!("loading {}", model.display()))?
                .with_settings(limits.settings());
            // A multilingual model without its languages, or with a code it lacks, fails before
            // reading any input, listing the model's codes.
            let langs = t.languages()?;
            t.engine().check_languages(&langs).map_err(|e| {
                anyhow::anyhow!(
                    "{e}; this model's language codes are: {}",
                    tern::language_list(t.engine())
                )
            })?;
            let mut raw = Vec::new();
            match &input {
                Some(p) => {
                    raw = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?
                }
                None => {
                    std::io::stdin()
                        .lock()
                        .read_to_end(&mut raw)
                        .context("reading stdin")?;
                }
            }
            let lines = split_lines(&raw);
            let started = std::time::Instant::now();
            let out: Box<dyn Write> = match &output {
                Some(p) => Box::new(
                    std::fs::File::create(p)
                        .with_context(|| format!("creating {}", p.display()))?,
                ),
                None => Box::new(std::io::stdout().lock()),
            };
            let mut out = BufWriter::new(out);
            // Chunks keep memory bounded on long inputs while every thread has work (and, when
            // batching, enough sentences to sort into batches of similar length).
            let chunk = 64.max(16 * t.plan().0.batch) * threads.max(1);
            for (c, lines) in lines.chunks(chunk).enumerate() {
                for (i, r) in t.translate_batch(lines, threads).into_iter().enumerate() {
                    let n = c * chunk + i + 1;
                    let text = match r {
                        Ok(o) => {
                            if o.truncated {
                                eprintln!("tern: line {n}: longer than --max-src-len tokens; translated its beginning only");
                            }
                            o.text
                        }
                        Err(e) => {
                            eprintln!("tern: line {n}: {e}; wrote an empty line");
                            String::new()
                        }
                    };
                    // One output line per input line, whatever the text holds.
                    writeln!(out, "{}", text.replace(['\n', '\r'], " "))?;
                }
            }
            out.flush()?;
            if stats {
                let secs = started.elapsed().as_secs_f64();
                eprintln!(
                    "tern: {} sentences in {secs:.3} s = {:.1} sent/s (threads={threads}, batch={}, kernels={})",
                    lines.len(),
                    lines.len() as f64 / secs,
                    t.plan().0.batch,
                    t.engine().model.kernels().name
                );
            }
            Ok(())
        }
    }
}

/// Lines of the input: `\n`-separated, `\r\n` accepted; invalid UTF-8 is replaced (with a warning).
fn split_lines(raw: &[u8]) -> Vec<String> {
    let mut v = Vec::new();
    for (i, line) in raw.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match std::str::from_utf8(line) {
            Ok(s) => v.push(s.to_owned()),
            Err(_) => {
                eprintln!("tern: line {}: invalid UTF-8, replaced with U+FFFD", i + 1);
                v.push(String::from_utf8_lossy(line).into_owned());
            }
        }
    }
    if raw.is_empty() || raw.ends_with(b"\n") {
        v.pop();
    }
    v
}
