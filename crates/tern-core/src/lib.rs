//! tern-core: the `no_std` engine of tern.
//!
//! Runs quantized encoder-decoder translation models straight from the bytes of a GGUF file
//! (memory-mapped on a host, in flash on a microcontroller), zero-copy, in a caller-owned
//! workspace whose size is known before anything runs.
//!
//! - [`gguf`]: validating zero-copy reader (and, with `alloc`, a writer).
//! - [`tokenizer`]: SentencePiece unigram and BPE encode/decode with the model's id mapping.
//! - [`kernels`]: the kernel table (portable scalar kernels; SIMD ones overlay them).
//! - [`model`]: one Transformer described by the file ([`model::Spec`]).
//! - [`plan`]: the memory plan and workspace carving.
//! - [`decode`]: greedy and beam search in fixed-capacity structures.
//! - [`shortlist`]: lexical shortlists (the output words a sentence may use).
//! - [`stream`]: text as it is decoded (pieces later tokens cannot change).
//! - [`text`]: Bergamot-compatible sentence splitting.
//! - [`pipeline`]: a line of text to the sources the model translates (sentences, over-long input).
#![no_std]
#![forbid(unsafe_op_in_unsafe_fn)]
// No input may make the core panic: errors are values.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::todo,
        clippy::unimplemented
    )
)]
#![warn(missing_docs)]
#![allow(missing_docs)] // TODO(tern): document every public item, then drop this.

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod error;
pub mod gguf;
pub mod tokenizer;

pub use error::{Error, Result};
pub mod decode;
pub mod engine;
pub mod kernels;
pub mod model;
pub mod pipeline;
pub mod plan;
pub mod shortlist;
pub mod stream;
pub mod text;
