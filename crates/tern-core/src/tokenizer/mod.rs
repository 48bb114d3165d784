//! SentencePiece unigram tokenizer (placeholder signatures until the real one lands).
use crate::error::{Error, Result};
use crate::gguf::Gguf;

pub struct Tokenizer<'a> {
    _g: core::marker::PhantomData<&'a ()>,
}

impl<'a> Tokenizer<'a> {
    pub fn from_gguf(_g: &Gguf<'a>) -> Result<Self> {
        Err(Error::BadTokenizer("not implemented"))
    }
    pub fn vocab_size(&self) -> usize {
        0
    }
    pub const fn encode_scratch_bytes(max_text_bytes: usize) -> usize {
        max_text_bytes
    }
    pub fn encode(&self, _text: &str, _scratch: &mut [u8], _out: &mut [u32]) -> Result<usize> {
        Err(Error::BadTokenizer("not implemented"))
    }
    pub fn decode(&self, _ids: &[u32], _out: &mut [u8]) -> Result<usize> {
        Err(Error::BadTokenizer("not implemented"))
    }
}
impl<'a> Tokenizer<'a> {
    pub fn piece(&self, _id: u32) -> Option<&'a str> {
        None
    }
}
