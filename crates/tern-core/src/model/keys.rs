//! Metadata keys: the one table shared by the converter (which writes them) and the core (which
//! reads them), as `names.rs` is for tensors. Every key of a format-2 file's architecture is here;
//! `docs/gguf-format.md` says what each means.

/// `general.architecture` of format-2 files: one generic Transformer, described by the keys below.
pub const ARCH: &str = "transformer";
/// The file format revision. Absent: revision 1 (`marian` / `marian_nmt` architectures, read
/// through [`super::spec::Spec::from_gguf`]'s legacy mappings).
pub const FORMAT_VERSION: &str = "tern.format_version";
/// The revision this build writes.
pub const CURRENT_FORMAT: u32 = 2;

/// Where the checkpoint came from (`marian`, `marian_nmt`, `m2m100`, `nllb`): informative only,
/// nothing is computed from it.
pub const FAMILY: &str = "transformer.family";
pub const VOCAB_SIZE: &str = "transformer.vocab_size";
/// The encoder's vocabulary when it is not the decoder's (Firefox's split-vocabulary models:
/// CJK pairs); absent: the same as `VOCAB_SIZE`.
pub const SOURCE_VOCAB_SIZE: &str = "transformer.source_vocab_size";
pub const D_MODEL: &str = "transformer.d_model";
pub const MAX_POSITIONS: &str = "transformer.max_positions";
pub const ENCODER_LAYERS: &str = "transformer.encoder.layers";
pub const ENCODER_HEADS: &str = "transformer.encoder.heads";
pub const ENCODER_FFN_DIM: &str = "transformer.encoder.ffn_dim";
/// The encoder stack's output is normed (`enc.output_norm`).
pub const ENCODER_FINAL_NORM: &str = "transformer.encoder.final_norm";
pub const DECODER_LAYERS: &str = "transformer.decoder.layers";
pub const DECODER_HEADS: &str = "transformer.decoder.heads";
pub const DECODER_FFN_DIM: &str = "transformer.decoder.ffn_dim";
pub const DECODER_FINAL_NORM: &str = "transformer.decoder.final_norm";
/// `self_attention` or `ssru`.
pub const DECODER_CELL: &str = "transformer.decoder.cell";
/// The first decoder input: `token` (the decoder start token's embedding) or `zeros`.
pub const DECODER_START: &str = "transformer.decoder.start";
/// HF activation names: `relu`, `gelu`, `gelu_new`, `swish`.
pub const ACTIVATION: &str = "transformer.ffn.activation";
/// `act(x W_gate) * (x W_up)` instead of `act(x W_up)`.
pub const FFN_GATED: &str = "transformer.ffn.gated";
/// `layer` (mean and variance, weight and bias) or `rms`.
pub const NORM: &str = "transformer.norm";
pub const NORM_EPS: &str = "transformer.norm_eps";
/// Operations before a sublayer: `n` (pre-norm) or empty.
pub const SUBLAYER_PRE: &str = "transformer.sublayer.pre";
/// Operations after it: `a` residual, `n` norm, in order (`an`: post-norm).
pub const SUBLAYER_POST: &str = "transformer.sublayer.post";
/// What the encoder's self-attention keys and values read: `normed` (the pre-norm's output, as
/// the query) or `raw` (the layer input: the Marian toolkit).
pub const ENCODER_KV: &str = "transformer.encoder.kv_input";
/// Token embeddings are multiplied by this (`sqrt(d_model)` or 1).
pub const EMBEDDING_SCALE: &str = "transformer.embedding.scale";
/// A norm after embeddings and positions (`layernorm_embedding`).
pub const EMBEDDING_NORM: &str = "transformer.embedding.norm";
/// `sinusoidal_hf`, `sinusoidal_fairseq`, `learned` or `none`.
pub const POSITIONS: &str = "transformer.positions";
/// Position `p` of a sequence reads position `p + offset` (fairseq's padding offset).
pub const POSITION_OFFSET: &str = "transformer.position_offset";
/// `inv_sqrt_head_dim` or `none` (T5).
pub const ATTENTION_SCALE: &str = "transformer.attention.scale";
/// Each head's width when it is not `d_model / heads` (T5's `d_kv`); absent: `d_model / heads`.
pub const HEAD_DIM: &str = "transformer.attention.head_dim";
/// T5's relative position bias: its buckets and the distance the last one starts at; absent:
/// no bias (tables `enc.rel_bias` / `dec.rel_bias`, `buckets x heads`).
pub const RELATIVE_BUCKETS: &str = "transformer.relative_bias.buckets";
pub const RELATIVE_MAX_DISTANCE: &str = "transformer.relative_bias.max_distance";
/// `tied` (the decoder embedding) or `untied` (`output.weight`).
pub const OUTPUT: &str = "transformer.output";
/// The decoder output is multiplied by this before the output projection.
pub const OUTPUT_SCALE: &str = "transformer.output.scale";

/// Generation: a token forced as the first generated one whatever the request (HF
/// `forced_bos_token_id`); a request's target language replaces it.
pub const FORCED_FIRST: &str = "generation.forced_bos_token_id";
/// Generation settings of the checkpoint that transformers applies and tern does not, as
/// `key = value` strings (`convert` warns of each; `tern inspect` lists them): a file says what
/// it leaves out rather than dropping it silently.
pub const GENERATION_NOT_APPLIED: &str = "generation.not_applied";
/// Generation: the fewest decoder positions, the start token included (HF `min_length`): EOS is
/// impossible before; absent or 0: no minimum.
pub const MIN_LENGTH: &str = "generation.min_length";
/// Generation: no n-gram of this size occurs twice among the decoder inputs (HF
/// `no_repeat_ngram_size`); absent or 0: off.
pub const NO_REPEAT_NGRAM: &str = "generation.no_repeat_ngram_size";
/// Default source and target language codes (as the tokenizer spells them) for multilingual
/// models, stored by `convert --source-lang/--target-lang`.
pub const SOURCE_LANG: &str = "tern.source_lang";
pub const TARGET_LANG: &str = "tern.target_lang";
