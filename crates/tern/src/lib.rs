//! tern on a host: open a GGUF model (memory-mapped) and translate.
