//! `tern inspect` and the converter's summary: what a model file holds and the memory it needs.

use std::collections::BTreeMap;
use std::fmt::Write;
use tern_core::decode;
use tern_core::engine::Engine;
use tern_core::gguf::Value;
use tern_core::model::Seq2Seq;
use tern_core::plan::Limits;

/// Human-readable size.
pub fn size(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.2} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

/// The report: metadata, tensors by type, and the memory plan for `limits`.
pub fn report(e: &Engine, limits: &Limits) -> String {
    let g = &e.gguf;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "file: {} (GGUF v{}, {} tensors, {} metadata keys)",
        size(g.bytes().len()),
        g.version(),
        g.n_tensors(),
        g.n_metadata()
    );
    let _ = writeln!(
        s,
        "architecture: {}",
        g.str("general.architecture").unwrap_or("?")
    );
    let family = g.str("transformer.family").unwrap_or("format 1");
    let _ = writeln!(s, "spec ({family}):\n{}", e.model.spec);
    match &e.model.weights.ends.shortlist {
        Some(l) => {
            let _ = writeln!(
                s,
                "  lexical shortlist: the {} most frequent words + up to {} per source word{}; at most {} of {} output rows scored for a {}-token sentence",
                l.first,
                l.best,
                if l.shared { " + the source words" } else { "" },
                l.capacity(limits.max_src),
                e.model.spec.vocab_size,
                limits.max_src
            );
        }
        None => {
            let _ = writeln!(s, "  no shortlist: every output row is scored");
        }
    }
    let _ = writeln!(s, "hyperparameters and settings:");
    for (k, v) in g.metadata() {
        let shown = match v {
            Value::Str(x) => format!("{x:?}"),
            Value::Array(a) if a.len() > 16 => format!("[{} values]", a.len()),
            Value::Array(a) => format!(
                "{:?}",
                a.iter()
                    .map(|v| match v {
                        Value::Str(x) => x.to_string(),
                        v => v
                            .as_f64()
                            .map_or_else(|| format!("{v:?}"), |f| f.to_string()),
                    })
                    .collect::<Vec<_>>()
            ),
            Value::Bool(b) => b.to_string(),
            other => other
                .as_f64()
                .map_or_else(|| format!("{other:?}"), |f| f.to_string()),
        };
        if !k.starts_with("tokenizer.") || shown.len() < 60 {
            let _ = writeln!(s, "  {k} = {shown}");
        }
    }
    let mut by_type: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for t in g.tensors() {
        let kind = if t.name.starts_with("tokenizer.") {
            "tokenizer"
        } else {
            t.ty.name()
        };
        let e = by_type.entry(kind).or_default();
        e.0 += 1;
        e.1 += t.data.len();
    }
    let _ = writeln!(s, "tensors:");
    for (ty, (n, bytes)) in &by_type {
        let _ = writeln!(s, "  {ty:>9}: {n:>4} tensors, {}", size(*bytes));
    }
    let algorithm = match e.tokenizer.algorithm() {
        tern_core::tokenizer::Algorithm::Unigram => "SentencePiece unigram",
        tern_core::tokenizer::Algorithm::Bpe => "SentencePiece BPE",
        tern_core::tokenizer::Algorithm::ByteLevelBpe => "byte-level BPE",
    };
    let _ = writeln!(
        s,
        "tokenizer: {algorithm}, {} pieces in the model vocabulary",
        e.tokenizer.vocab_size()
    );
    let state = e.model.state_bytes(limits);
    let search = decode::search_bytes(limits, e.model.vocab_size());
    let ws = e.workspace_bytes(limits, limits.max_src * 16);
    let _ = writeln!(
        s,
        "memory plan for max source {} tokens, max target {} tokens, beam {}, batch {}:",
        limits.max_src, limits.max_tgt, limits.beam, limits.batch
    );
    let _ = writeln!(s, "  model state (caches, activations): {}", size(state));
    // The shortlist's rows a host copies side by side (`Transformer::copy_candidate_rows`);
    // a microcontroller's plan, and the C engine API's, have none.
    let mut uncopied = e.model.clone();
    uncopied.copy_candidate_rows(0);
    let copies = state - uncopied.state_bytes(limits).min(state);
    if copies > 0 {
        let _ = writeln!(s, "    of which candidate rows copied:  {}", size(copies));
    }
    let _ = writeln!(s, "  search (logits, beams):            {}", size(search));
    let _ = writeln!(
        s,
        "  workspace in all (per thread):     {}  ({} bytes)",
        size(ws),
        ws
    );
    let kernels = e.model.kernels();
    let streamed = match (e.model.streams_weights(), kernels.matmul_i8_streaming) {
        (false, _) => String::new(),
        (true, Some(_)) => format!(
            " (more than caches hold: {}'s streaming product)",
            kernels.name
        ),
        (true, None) => " (more than caches hold)".to_string(),
    };
    let _ = writeln!(
        s,
        "  weights read per generated token:  {}{streamed}",
        size(e.model.bytes_per_token())
    );
    let flash = match copies {
        0 => "workspace alone with weights in flash".to_string(),
        _ => format!(
            "with weights in flash, the workspace without copied rows ({})",
            size(ws - copies)
        ),
    };
    let _ = writeln!(
        s,
        "  RAM needed: workspace + the mapped file on a host ({}); {flash}",
        size(ws + g.bytes().len())
    );
    s
}
