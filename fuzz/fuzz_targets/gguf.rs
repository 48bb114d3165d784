//! Any bytes as a model file: the reader and the model/tokenizer loaders must answer with a
//! typed error or a usable engine, never a panic. Seeds: the fixture models converted by
//! `cargo xtask fuzz` (fuzz/corpus/gguf).
#![no_main]
use libfuzzer_sys::fuzz_target;
use tern_core::engine::Engine;
use tern_core::kernels::Kernels;

fuzz_target!(|data: &[u8]| {
    // The engine reads in place and needs 32-byte alignment, as an mmap gives.
    let mut store = vec![0u64; data.len().div_ceil(8) + 4];
    let off = {
        let bytes = tern_core::plan::as_bytes_mut(&mut store);
        let off = bytes.as_ptr().align_offset(32);
        bytes[off..off + data.len()].copy_from_slice(data);
        off
    };
    check(&tern_core::plan::as_bytes(&store)[off..off + data.len()]);
});

fn check(file: &[u8]) {
    if let Ok(g) = tern_core::gguf::Gguf::parse(file) {
        for (k, v) in g.metadata() {
            let _ = (k.len(), v.as_u64(), v.as_f64());
        }
        for t in g.tensors() {
            let _ = (t.name.len(), t.n_elements(), t.rows_cols(), t.data.len());
        }
    }
    if let Ok(e) = Engine::load(file, Kernels::best()) {
        // A loadable file translates a short sentence within a small plan, or errors.
        let limits = tern_core::plan::Limits { max_src: 16, max_tgt: 8, beam: 2, batch: 1 };
        let opts = e.options(&limits);
        let mut ws = vec![0u8; e.workspace_bytes(&limits, 64)];
        let mut out = vec![0u8; 256];
        let _ = e.translate(&mut ws, &limits, &opts, "Hello world.", &mut out);
    }
}
