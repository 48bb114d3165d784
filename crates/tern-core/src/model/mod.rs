//! One generic encoder-decoder Transformer, described by the file.
//!
//! - [`spec`]: what a model is, as data (read from the metadata keys of [`keys`]).
//! - [`weights`]: the tensors, borrowed from the file, found through [`names`].
//! - [`layers`]: norms, linear layers, attention, the FFN, positions.
//! - `encoder.rs` / `decoder.rs`: one encoder layer, one decoder layer, and the stacks.
//! - [`state`]: the per-request buffers, laid out once for the plan and the carving.
//! - [`seq2seq`]: the contract the decoding loops drive.
//!
//! A family (HF Marian, the Marian toolkit's SSRU models, M2M100, NLLB) is a spec and a tensor
//! naming in `convert`; nothing here is written for one family.

pub mod attention;
mod decoder;
mod encoder;
pub mod keys;
pub mod layers;
pub mod names;
pub mod seq2seq;
pub mod spec;
pub mod state;
pub mod weights;

pub use layers::Activation;
pub use seq2seq::{Rows, Seq2Seq};
pub use spec::Spec;

use crate::error::Result;
use crate::gguf::Gguf;
use crate::kernels::Kernels;
use crate::plan::{Carver, Limits, Sizer};
use layers::Linear;
use state::{Dims, State};
use weights::{Cell, Weights};

/// Candidates per sentence a host copies ([`Transformer::copy_candidate_rows`]): over 99% of
/// FLORES devtest's sentences have fewer with Firefox's models (median 920, longest 2280); a
/// longer list reads the rest in place.
pub const COPIED_ROWS: usize = 2048;

/// The most bytes of copied rows one workspace plans (a batch of sentences shares them): 16 MiB,
/// so that a large batch on many threads does not multiply them unchecked. With Firefox's
/// models (264 bytes a row with its scale and bias) a batch of up to 31 sentences copies
/// [`COPIED_ROWS`] each; a batch of 64, 992.
pub const COPIED_BYTES_MAX: usize = 16 << 20;

/// Most layers per stack a model may have (capacity of the layer arrays).
pub const MAX_LAYERS: usize = 48;

/// A model: its spec, its weights (borrowed from the file) and the kernels it runs on.
#[derive(Debug, Clone)]
pub struct Transformer<'a> {
    pub spec: Spec,
    pub weights: Weights<'a>,
    pub kernels: Kernels,
    /// Candidates per sentence whose int8 output rows a plan copies side by side (see
    /// [`Transformer::copy_candidate_rows`]); 0 unless asked.
    copied_rows: usize,
}

impl<'a> Transformer<'a> {
    /// Reads the spec and resolves every tensor it calls for.
    pub fn from_gguf(g: &Gguf<'a>, kernels: Kernels) -> Result<Self> {
        let spec = Spec::from_gguf(g)?;
        let weights = Weights::load(g, &spec)?;
        let mut model = Transformer {
            spec,
            weights,
            kernels,
            copied_rows: 0,
        };
        if model.streams_weights() {
            model.kernels = kernels.streaming();
        }
        Ok(model)
    }

    /// The kernel table the model runs on.
    pub fn kernels(&self) -> &Kernels {
        &self.kernels
    }

    /// Plans from now on copy the int8 output rows of up to `rows` shortlist candidates per
    /// sentence side by side when it is encoded (`rows x d_model` bytes of workspace a
    /// sentence, and 8 bytes a row for scales and biases; at most [`COPIED_BYTES_MAX`] for a
    /// whole batch), and each decoder step reads them as one dense matrix in address order.
    /// Without the copy a shortlisted step gathers its rows from all over the output matrix:
    /// on Firefox's tiny models ~1000 rows of 256 bytes from 8 MB, half the output layer's
    /// time. The same scores either way. A host's choice (`tern` asks for [`COPIED_ROWS`]);
    /// the default, 0, keeps a microcontroller's plan as it was. Nothing changes for models
    /// without a shortlist or with float output weights.
    pub fn copy_candidate_rows(&mut self, rows: usize) {
        self.copied_rows = rows;
    }

    fn dims(&self, limits: &Limits) -> Dims {
        let ends = &self.weights.ends;
        let int8 = matches!(ends.output.data, crate::kernels::MatrixData::I8 { .. });
        let per_row = self.spec.d_model + 8;
        let budget = COPIED_BYTES_MAX / (limits.batch.max(1) * per_row);
        let copied = if int8 {
            self.copied_rows.min(budget)
        } else {
            0
        };
        Dims::new(&self.spec, ends.shortlist.as_ref(), limits, copied)
    }

    /// Whether the weights read per token outgrow the caches
    /// ([`STREAMING_BYTES`](crate::kernels::STREAMING_BYTES)): such a model runs its table's
    /// products for streamed weights ([`Kernels::streaming`]).
    pub fn streams_weights(&self) -> bool {
        self.bytes_per_token() > crate::kernels::STREAMING_BYTES
    }

    /// Bytes of weights read per generated token at batch 1 (what bounds speed): every decoder
    /// layer but the cross-attention keys and values (computed once per sentence), and the
    /// output rows of a typical shortlist (the whole vocabulary without one).
    pub fn bytes_per_token(&self) -> usize {
        let lin = |l: &Linear| l.w.bytes() + l.b.map_or(0, |b| b.len() * 4);
        let dec: usize = self
            .weights
            .decoder
            .iter()
            .map(|l| {
                let cell = match &l.cell {
                    Cell::SelfAttention(a) => lin(&a.q) + lin(&a.k) + lin(&a.v) + lin(&a.o),
                    Cell::Ssru { w, wf } => lin(w) + lin(wf),
                };
                let ffn = lin(&l.ffn.up) + lin(&l.ffn.down) + l.ffn.gate.as_ref().map_or(0, lin);
                cell + lin(&l.cross.q) + lin(&l.cross.o) + ffn
            })
            .sum();
        let out = &self.weights.ends.output;
        let rows = self
            .weights
            .ends
            .shortlist
            .map_or(self.spec.vocab_size, |s| s.capacity(16));
        dec + out.bytes() / self.spec.vocab_size * rows
    }
}

impl Seq2Seq for Transformer<'_> {
    type State<'w> = State<Carver<'w>>;

    fn vocab_size(&self) -> usize {
        self.spec.vocab_size
    }

    fn kernels(&self) -> &Kernels {
        &self.kernels
    }

    fn max_positions(&self) -> usize {
        self.spec.max_positions
    }

    fn state_bytes(&self, limits: &Limits) -> usize {
        let mut s = Sizer::default();
        // A sizer cannot fail.
        let _ = State::lay_out(&mut s, self.dims(limits));
        s.bytes()
    }

    fn state<'w>(&self, limits: &Limits, ws: &'w mut [u8]) -> Result<State<Carver<'w>>> {
        limits.check(self.spec.max_positions)?;
        let st = State::lay_out(&mut Carver::new(ws), self.dims(limits))?;
        // Nothing is encoded yet: a step before `encode` is refused, whatever the bytes held.
        st.src_len.fill(0);
        st.n_cands.fill(0);
        Ok(st)
    }

    fn encode(&self, st: &mut State<Carver<'_>>, sentence: usize, src: &[u32]) -> Result<()> {
        self.encode_into(st, sentence, src, None)
    }

    fn candidates<'s>(&self, st: &'s State<Carver<'_>>, sentence: usize) -> Option<&'s [u32]> {
        self.weights.ends.shortlist?;
        let n = *st.n_cands.get(sentence)? as usize;
        let start = sentence * st.dims.cands;
        st.cands.get(start..start + n)
    }

    fn step(
        &self,
        st: &mut State<Carver<'_>>,
        rows: &Rows,
        pos: usize,
        logits: &mut [f32],
    ) -> Result<()> {
        self.step_into(st, rows, pos, logits, None)
    }
}

#[cfg(test)]
mod tests;
