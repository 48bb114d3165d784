//! Text as it is decoded: turns the growing token list of one translation into pieces of text
//! that later tokens cannot change, so a caller can show a translation while it is produced.
//!
//! Detokenizing is not append-only: a byte-fallback character needs all its byte tokens, and HF
//! checkpoints' clean-up joins a space with what follows (`" ."` becomes `"."`). So a piece is
//! handed out only up to the last whitespace before the last word, and only if the text decoded
//! now still starts with everything handed out before. [`TextStream::finish`] hands out the rest
//! of the final text; the pieces then concatenate to it.
// Bytes from a model: no index may panic (clippy enforces it; tests may index).
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use crate::error::Result;
use crate::tokenizer::Tokenizer;

/// The pieces of one translation's text, in a caller-owned buffer.
pub struct TextStream<'b> {
    /// Text handed out so far (`emitted` bytes), then room to decode into.
    handed: &'b mut [u8],
    decoded: &'b mut [u8],
    emitted: usize,
}

impl<'b> TextStream<'b> {
    /// Buffer bytes for translations of up to `max_text_bytes` bytes of text.
    pub const fn bytes_for(max_text_bytes: usize) -> usize {
        2 * max_text_bytes
    }

    /// A stream over `buf` ([`bytes_for`](Self::bytes_for) the longest text expected).
    pub fn new(buf: &'b mut [u8]) -> Self {
        let (handed, decoded) = buf.split_at_mut(buf.len() / 2);
        TextStream {
            handed,
            decoded,
            emitted: 0,
        }
    }

    /// Bytes handed out so far.
    pub fn emitted(&self) -> usize {
        self.emitted
    }

    /// After a step: hands `on_piece` the text of `ids` (the tokens so far) that later tokens
    /// cannot change and that was not handed out before.
    pub fn update(
        &mut self,
        tokenizer: &Tokenizer,
        ids: &[u32],
        on_piece: &mut dyn FnMut(&str),
    ) -> Result<()> {
        let n = tokenizer.decode(ids, self.decoded)?;
        let text = self.decoded.get(..n).unwrap_or_default();
        let stable = stable_len(text);
        self.hand_out(stable, on_piece);
        Ok(())
    }

    /// At the end: hands out the rest of the final text of `ids`. Returns whether the pieces
    /// concatenate to it (they always have on every model and sentence tested; `false` would
    /// mean an earlier piece was changed by a later token).
    pub fn finish(
        &mut self,
        tokenizer: &Tokenizer,
        ids: &[u32],
        on_piece: &mut dyn FnMut(&str),
    ) -> Result<bool> {
        let n = tokenizer.decode(ids, self.decoded)?;
        Ok(self.hand_out(n, on_piece))
    }

    /// Hands out `decoded[emitted..upto]` if `decoded` still starts with what was handed out.
    fn hand_out(&mut self, upto: usize, on_piece: &mut dyn FnMut(&str)) -> bool {
        let from = self.emitted;
        let (Some(text), Some(before)) = (self.decoded.get(..upto), self.handed.get(..from)) else {
            return upto >= from;
        };
        if !text.starts_with(before) {
            return false;
        }
        let Some(new) = text.get(from..).filter(|n| !n.is_empty()) else {
            return true;
        };
        let Ok(piece) = core::str::from_utf8(new) else {
            return true;
        };
        let Some(keep) = self.handed.get_mut(from..upto) else {
            return false;
        };
        keep.copy_from_slice(new);
        self.emitted = upto;
        on_piece(piece);
        true
    }
}

/// Length of the text no later token can change: everything before the whitespace that
/// precedes the last word (0 when there is no whitespace yet).
fn stable_len(text: &[u8]) -> usize {
    let Some(last_space) = text.iter().rposition(|b| b.is_ascii_whitespace()) else {
        return 0;
    };
    let mut start = last_space;
    while start > 0 && text.get(start - 1).is_some_and(u8::is_ascii_whitespace) {
        start -= 1;
    }
    start
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_text_ends_before_the_last_word() {
        assert_eq!(stable_len(b""), 0);
        assert_eq!(stable_len(b"Hello"), 0);
        assert_eq!(stable_len(b"Hello wor"), 5);
        assert_eq!(stable_len(b"Hello world  "), 11);
        assert_eq!(stable_len(b"a b  c"), 3);
    }
}
