//! Tensor names: the one table shared by the converter (which writes them) and the models (which
//! read them). `{}` stands for the layer index. A linear layer `X` is stored as `X.weight`
//! (rows = output features), optional `X.bias`, and for int8 `X.scale` (one f32 per row).

/// Token embedding (vocab x d_model); also the output projection when tied.
pub const TOKEN_EMBD: &str = "token_embd";
/// Decoder token embedding, only when it differs from the encoder's.
pub const DEC_TOKEN_EMBD: &str = "dec.token_embd";
/// Output projection (vocab x d_model), only when not tied to an embedding.
pub const OUTPUT: &str = "output";
/// Output bias (`final_logits_bias` in HF): a plain vector, full name.
pub const OUTPUT_BIAS: &str = "output.bias";

pub const ENC_ATTN_Q: &str = "enc.{}.attn_q";
pub const ENC_ATTN_K: &str = "enc.{}.attn_k";
pub const ENC_ATTN_V: &str = "enc.{}.attn_v";
pub const ENC_ATTN_O: &str = "enc.{}.attn_o";
pub const ENC_ATTN_NORM: &str = "enc.{}.attn_norm";
pub const ENC_FFN_UP: &str = "enc.{}.ffn_up";
pub const ENC_FFN_DOWN: &str = "enc.{}.ffn_down";
pub const ENC_FFN_NORM: &str = "enc.{}.ffn_norm";
/// The gate of a gated FFN (`act(x W_gate) * x W_up`).
pub const ENC_FFN_GATE: &str = "enc.{}.ffn_gate";
/// Relative position bias tables (T5), `buckets x heads` f32, one per stack.
pub const ENC_REL_BIAS: &str = "enc.rel_bias";
pub const DEC_REL_BIAS: &str = "dec.rel_bias";
/// Learned position tables (rows: max positions plus the offset).
pub const ENC_POS_EMBD: &str = "enc.pos_embd";
pub const DEC_POS_EMBD: &str = "dec.pos_embd";

/// Pre-norm models: the norms of sublayer inputs; the norms of the embeddings
/// (`layernorm_embedding`) and of a stack's output.
pub const ENC_ATTN_PRE_NORM: &str = "enc.{}.attn_pre_norm";
pub const ENC_FFN_PRE_NORM: &str = "enc.{}.ffn_pre_norm";
pub const DEC_ATTN_PRE_NORM: &str = "dec.{}.attn_pre_norm";
pub const DEC_RNN_PRE_NORM: &str = "dec.{}.rnn_pre_norm";
pub const DEC_CROSS_PRE_NORM: &str = "dec.{}.cross_pre_norm";
pub const DEC_FFN_PRE_NORM: &str = "dec.{}.ffn_pre_norm";
pub const ENC_EMB_NORM: &str = "enc.emb_norm";
pub const DEC_EMB_NORM: &str = "dec.emb_norm";
pub const ENC_OUT_NORM: &str = "enc.output_norm";
pub const DEC_OUT_NORM: &str = "dec.output_norm";

pub const DEC_ATTN_Q: &str = "dec.{}.attn_q";
pub const DEC_ATTN_K: &str = "dec.{}.attn_k";
pub const DEC_ATTN_V: &str = "dec.{}.attn_v";
pub const DEC_ATTN_O: &str = "dec.{}.attn_o";
pub const DEC_ATTN_NORM: &str = "dec.{}.attn_norm";
/// SSRU decoder cell (Marian-toolkit models): candidate `W`, forget gate `Wf`/`bf`, and the
/// norm after its residual.
pub const DEC_RNN_W: &str = "dec.{}.rnn_w";
pub const DEC_RNN_WF: &str = "dec.{}.rnn_wf";
pub const DEC_RNN_NORM: &str = "dec.{}.rnn_norm";
pub const DEC_CROSS_Q: &str = "dec.{}.cross_q";
pub const DEC_CROSS_K: &str = "dec.{}.cross_k";
pub const DEC_CROSS_V: &str = "dec.{}.cross_v";
pub const DEC_CROSS_O: &str = "dec.{}.cross_o";
pub const DEC_CROSS_NORM: &str = "dec.{}.cross_norm";
pub const DEC_FFN_UP: &str = "dec.{}.ffn_up";
pub const DEC_FFN_DOWN: &str = "dec.{}.ffn_down";
pub const DEC_FFN_NORM: &str = "dec.{}.ffn_norm";
pub const DEC_FFN_GATE: &str = "dec.{}.ffn_gate";

/// Suffixes of the parts of a linear or norm layer.
pub const WEIGHT: &str = ".weight";
pub const BIAS: &str = ".bias";
pub const SCALE: &str = ".scale";
/// Static activation scale of an int8 matrix's input (one f32), when the model has one.
pub const ACT_SCALE: &str = ".act_scale";

/// A full tensor name: `template` with `{}` replaced by `layer`, then `suffix`.
pub type Name = heapless::String<96>;

/// Builds a tensor name. Names longer than [`Name`]'s capacity are cut (no table name is).
pub fn name(template: &str, layer: u32, suffix: &str) -> Name {
    use core::fmt::Write;
    let mut out = Name::new();
    let mut parts = template.splitn(2, "{}");
    let _ = out.push_str(parts.next().unwrap_or(""));
    if let Some(rest) = parts.next() {
        let _ = write!(out, "{layer}");
        let _ = out.push_str(rest);
    }
    let _ = out.push_str(suffix);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn names() {
        assert_eq!(
            super::name(super::DEC_CROSS_K, 11, super::SCALE).as_str(),
            "dec.11.cross_k.scale"
        );
        assert_eq!(
            super::name(super::TOKEN_EMBD, 0, super::WEIGHT).as_str(),
            "token_embd.weight"
        );
    }
}
