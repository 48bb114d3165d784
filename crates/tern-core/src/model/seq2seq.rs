//! The contract the decoding loops drive: encode each sentence once, then step every row
//! (beams, and sentences of a batch) one position at a time.

use crate::error::Result;
use crate::kernels::Kernels;
use crate::plan::Limits;

/// An encoder-decoder model as the decoding loops see it.
///
/// The workspace is the caller's: [`state_bytes`](Seq2Seq::state_bytes) says how much for given
/// limits, and [`state`](Seq2Seq::state) carves it, once per request, into the model's typed
/// state. `encode` fills one sentence's slot with the encoder's results (cross-attention keys
/// and values), then `step` runs one decoder position for every row at once, so each weight is
/// read once per step however many rows there are.
pub trait Seq2Seq {
    /// The per-request state, carved from the workspace.
    type State<'w>;
    /// Output vocabulary size.
    fn vocab_size(&self) -> usize;
    /// The kernels it runs on (the decoding loops use their `exp`).
    fn kernels(&self) -> &Kernels;
    /// Longest sequence the positions support.
    fn max_positions(&self) -> usize;
    /// Bytes of model state for these limits.
    fn state_bytes(&self, limits: &Limits) -> usize;
    /// Carves the state for `limits` from `ws` (at least [`state_bytes`](Self::state_bytes)).
    fn state<'w>(&self, limits: &Limits, ws: &'w mut [u8]) -> Result<Self::State<'w>>;
    /// Runs the encoder over `src` (ids, EOS included) into sentence slot `sentence`
    /// (`< limits.batch`).
    fn encode(&self, state: &mut Self::State<'_>, sentence: usize, src: &[u32]) -> Result<()>;
    /// The output ids sentence `sentence`'s logits can be finite at (sorted ascending), for
    /// models that score a shortlist; `None`: the whole vocabulary.
    fn candidates<'s>(&self, state: &'s Self::State<'_>, sentence: usize) -> Option<&'s [u32]>;
    /// One decoder step at position `pos` for the rows of `rows` (see [`Rows`]). Writes
    /// `rows.tokens.len() x vocab` logits (with `rows.sparse`, a model with
    /// [`candidates`](Seq2Seq::candidates) writes only theirs: see [`Rows::sparse`]).
    fn step(
        &self,
        state: &mut Self::State<'_>,
        rows: &Rows,
        pos: usize,
        logits: &mut [f32],
    ) -> Result<()>;
}

/// The rows of one decoder step. Row `r` feeds `tokens[r]`, cross-attends to the encoder output
/// of sentence `sentences[r]`, and writes its keys and values (or cell state) at position `pos`
/// of cache slot `slots[r]`; its earlier positions `s < pos` are in slot
/// `anc[slots[r] * max_tgt + s]`. Slots number `limits.rows()`.
#[derive(Debug, Clone, Copy)]
pub struct Rows<'a> {
    pub tokens: &'a [u32],
    pub slots: &'a [u32],
    pub sentences: &'a [u32],
    pub anc: &'a [u32],
    /// The caller reads only the candidates' logits. A model with
    /// [`candidates`](Seq2Seq::candidates) then writes only those, in their order, at the start
    /// of each row (`logits[r * vocab + j]` is candidate `j`'s): a batch's rows are not
    /// scattered over 128 KB each and gathered back. Models without write every logit.
    pub sparse: bool,
}

/// `0, 1, 2, ...`: the slots of beams 0..n.
const IDENTITY: [u32; 64] = {
    let mut a = [0u32; 64];
    let mut i = 0;
    while i < 64 {
        a[i] = i as u32;
        i += 1;
    }
    a
};

impl<'a> Rows<'a> {
    /// The beams of sentence 0, beam `b` in slot `b` (at most 64; more fail the step's checks).
    pub fn beams(tokens: &'a [u32], anc: &'a [u32]) -> Self {
        let n = tokens.len().min(64);
        Rows {
            tokens,
            slots: &IDENTITY[..n],
            sentences: &[0; 64][..n],
            anc,
            sparse: false,
        }
    }
}
