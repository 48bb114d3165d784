//! The library in a few lines: open a model file and translate, one sentence and a batch.
//!
//!     cargo run --release -p tern --example translate -- model.gguf "Hello world." "How are you?"
//!
//! `cargo xtask demo` runs it on the model it converts.

fn main() -> Result<(), tern::Error> {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_else(|| "model.gguf".into());
    let sentences: Vec<String> = args.collect();

    let translator = tern::Translator::open(&path)?;
    if let Some(first) = sentences.first() {
        println!("{first} => {}", translator.translate(first)?);
    }
    // A batch, spread over two threads, each with its own workspace; the order is kept.
    for (src, out) in sentences
        .iter()
        .zip(translator.translate_batch(&sentences, 2))
    {
        println!("{src} => {}", out?.text);
    }
    Ok(())
}
