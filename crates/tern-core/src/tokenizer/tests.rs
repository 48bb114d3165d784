//! Unit tests on a hand-built vocabulary; the comparison with the `sentencepiece` library on
//! real models and text lives in `tests/tokenizer.rs`.
