//! `convert`: turns a translation checkpoint into one self-contained tern GGUF file (weights,
//! hyperparameters, generation defaults, tokenizer), then prints what `tern inspect` prints.
//!
//!     convert --int8 <hf-checkpoint-dir> -o model.gguf

use clap::Parser;

/// The same as `tern convert`.
#[derive(Parser)]
#[command(
    name = "convert",
    version,
    about = "Convert a translation model (Hugging Face MarianMT, M2M100, NLLB, or Marian/Bergamot) to a tern GGUF file"
)]
struct Cli {
    #[command(flatten)]
    args: tern_convert::cli::Args,
}

fn main() {
    if let Err(e) = tern_convert::cli::run(Cli::parse().args) {
        eprintln!("convert: {e:#}");
        std::process::exit(1);
    }
}
