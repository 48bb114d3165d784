//! The decoding loops' tests, on a small random model.
#![allow(clippy::unwrap_used)]

extern crate alloc;
use crate::decode::{self, Options, Special};
use crate::error::Error;
use crate::gguf::write::{GgufWriter, MetaValue};
use crate::gguf::Gguf;
use crate::gguf::TensorType;
use crate::kernels::Kernels;
use crate::model::names;
use crate::model::names::*;
use crate::model::spec::*;
use crate::model::{Activation, Rows, Seq2Seq, Transformer};
use crate::plan::Limits;
use alloc::vec;
use alloc::vec::Vec;

/// Deterministic pseudo-random numbers in [-1, 1).
pub(crate) struct Rng(u64);
impl Rng {
    pub(crate) fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
    fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.next() * scale).collect()
    }
}

/// A random post-norm model (vocab 40, d 16, 2+2 layers, HF Marian's shape) with weights stored as `ty`.
pub(crate) fn synthetic(ty: TensorType) -> Vec<u8> {
    let (v, d, f) = (40u32, 16u32, 24u32);
    let mut w = GgufWriter::new();
    let stack = |heads| Stack {
        layers: 2,
        heads,
        ffn_dim: f as usize,
        final_norm: false,
    };
    let spec = Spec {
        vocab_size: v as usize,
        source_vocab_size: v as usize,
        d_model: d as usize,
        max_positions: 64,
        encoder: stack(4),
        decoder: stack(2),
        decoder_cell: DecoderCell::SelfAttention,
        decoder_start: DecoderStart::Token,
        activation: Activation::Silu,
        ffn_gated: false,
        norm: NormKind::Layer,
        norm_eps: 1e-5,
        sublayer: Sublayer::POST_NORM,
        encoder_kv: KvInput::Normed,
        embedding_scale: libm::sqrtf(d as f32),
        embedding_norm: false,
        positions: Positions::SinusoidalHf,
        position_offset: 0,
        attention_scale: AttentionScale::InvSqrtHeadDim,
        head_dim: None,
        relative_bias: None,
        output: Output::Tied,
        output_scale: 1.0,
    };
    spec.write(&mut w, "test");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let matrix = |w: &mut GgufWriter, base: &str, rows: u32, cols: u32, rng: &mut Rng| {
        let data = rng.vec((rows * cols) as usize, 0.6);
        let dims = [u64::from(cols), u64::from(rows)];
        let name = alloc::format!("{base}.weight");
        match ty {
            TensorType::F16 => {
                let b: Vec<u8> = data
                    .iter()
                    .flat_map(|x| half::f16::from_f32(*x).to_le_bytes())
                    .collect();
                w.tensor_bytes(&name, &dims, TensorType::F16, &b);
            }
            TensorType::I8 => {
                let mut q = Vec::new();
                let mut scales = Vec::new();
                for row in data.chunks(cols as usize) {
                    let s = row.iter().fold(0f32, |a, x| a.max(x.abs())) / 127.0;
                    q.extend(row.iter().map(|x| libm::roundf(x / s) as i8 as u8));
                    scales.push(s);
                }
                w.tensor_bytes(&name, &dims, TensorType::I8, &q);
                w.tensor_f32(&alloc::format!("{base}.scale"), &[u64::from(rows)], &scales);
            }
            _ => w.tensor_f32(&name, &dims, &data),
        }
        let bias = rng.vec(rows as usize, 0.1);
        w.tensor_f32(&alloc::format!("{base}.bias"), &[u64::from(rows)], &bias);
    };
    matrix(&mut w, names::TOKEN_EMBD, v, d, &mut rng);
    let bias = rng.vec(v as usize, 1.0);
    w.tensor_f32(names::OUTPUT_BIAS, &[u64::from(v)], &bias);
    let norm = |w: &mut GgufWriter, base: &str, rng: &mut Rng| {
        let g: Vec<f32> = rng.vec(d as usize, 0.2).iter().map(|x| 1.0 + x).collect();
        w.tensor_f32(&alloc::format!("{base}.weight"), &[u64::from(d)], &g);
        let b = rng.vec(d as usize, 0.1);
        w.tensor_f32(&alloc::format!("{base}.bias"), &[u64::from(d)], &b);
    };
    for i in 0..2 {
        for t in [ENC_ATTN_Q, ENC_ATTN_K, ENC_ATTN_V, ENC_ATTN_O] {
            matrix(&mut w, &names::name(t, i, ""), d, d, &mut rng);
        }
        matrix(&mut w, &names::name(ENC_FFN_UP, i, ""), f, d, &mut rng);
        matrix(&mut w, &names::name(ENC_FFN_DOWN, i, ""), d, f, &mut rng);
        norm(&mut w, &names::name(ENC_ATTN_NORM, i, ""), &mut rng);
        norm(&mut w, &names::name(ENC_FFN_NORM, i, ""), &mut rng);
        for t in [
            DEC_ATTN_Q,
            DEC_ATTN_K,
            DEC_ATTN_V,
            DEC_ATTN_O,
            DEC_CROSS_Q,
            DEC_CROSS_K,
            DEC_CROSS_V,
            DEC_CROSS_O,
        ] {
            matrix(&mut w, &names::name(t, i, ""), d, d, &mut rng);
        }
        matrix(&mut w, &names::name(DEC_FFN_UP, i, ""), f, d, &mut rng);
        matrix(&mut w, &names::name(DEC_FFN_DOWN, i, ""), d, f, &mut rng);
        for t in [DEC_ATTN_NORM, DEC_CROSS_NORM, DEC_FFN_NORM] {
            norm(&mut w, &names::name(t, i, ""), &mut rng);
        }
    }
    w.to_bytes()
}

pub(crate) fn aligned(bytes: &[u8]) -> Vec<u64> {
    let mut v = vec![0u64; bytes.len().div_ceil(8)];
    crate::plan::as_bytes_mut(&mut v)[..bytes.len()].copy_from_slice(bytes);
    v
}

const SPECIAL: Special = Special {
    decoder_start: 39,
    eos: 0,
    suppress: Some(39),
    forced_eos: true,
    forced_first: None,
};

fn run(bytes: &[u8], beam: usize, src: &[u32]) -> (Vec<u32>, f32) {
    run_min(bytes, beam, src, 0)
}

fn run_min(bytes: &[u8], beam: usize, src: &[u32], min_len: usize) -> (Vec<u32>, f32) {
    let store = aligned(bytes);
    let g = Gguf::parse(&crate::plan::as_bytes(&store)[..bytes.len()]).unwrap();
    let m = Transformer::from_gguf(&g, Kernels::best()).unwrap();
    let limits = Limits {
        max_src: 16,
        max_tgt: 12,
        beam,
        batch: 1,
    };
    let mut ws = vec![0u8; decode::workspace_bytes(&m, &limits)];
    let mut out = vec![0u32; 12];
    let opts = Options {
        beam,
        max_len: 12,
        length_penalty: 1.0,
        early_stopping: false,
        min_len,
        no_repeat_ngram: 0,
    };
    let h = decode::generate(&m, &mut ws, &limits, src, &SPECIAL, &opts, &mut out).unwrap();
    out.truncate(h.len);
    (out, h.score)
}

#[test]
fn greedy_is_deterministic_and_ends_within_the_limit() {
    let bytes = synthetic(TensorType::F32);
    let (a, _) = run(&bytes, 1, &[5, 9, 13, 0]);
    let (b, _) = run(&bytes, 1, &[5, 9, 13, 0]);
    assert_eq!(a, b);
    assert!(!a.is_empty() && a.len() <= 12);
    assert!(!a.contains(&39), "suppressed token generated");
    assert!(
        a[..a.len() - 1].iter().all(|&t| t != 0),
        "EOS only at the end"
    );
    let (c, _) = run(&bytes, 1, &[7, 7, 2, 0]);
    assert_ne!(a, c, "output does not depend on the input");
}

#[test]
fn a_batch_decodes_each_sentence_as_it_would_alone() {
    // Sentences of different lengths, finishing at different steps, in one batch (in two
    // orders): each must come out exactly as decoded alone. Int8 is integer math per row;
    // f32 rows run through the same kernels in a different grouping.
    for ty in [TensorType::I8, TensorType::F32] {
        let bytes = synthetic(ty);
        // Two sources whose translations end early (at different steps where possible),
        // then sources of other lengths that run to the limit.
        let cands: Vec<Vec<u32>> = (1..38u32).map(|a| vec![a, (a * 7) % 38 + 1, 0]).collect();
        let mut early: Vec<&Vec<u32>> = cands
            .iter()
            .filter(|s| run(&bytes, 1, s).0.len() < 12)
            .collect();
        early.sort_by_key(|s| run(&bytes, 1, s).0.len());
        let (a, b) = (early[0].clone(), early[early.len() - 1].clone());
        let owned = [
            a,
            vec![5, 9, 13, 0],
            b,
            vec![3, 4, 5, 6, 7, 8, 0],
            vec![2, 0],
        ];
        let srcs: Vec<&[u32]> = owned.iter().map(|s| &s[..]).collect();
        let alone: Vec<Vec<u32>> = srcs.iter().map(|s| run(&bytes, 1, s).0).collect();
        assert!(
            alone.iter().any(|a| a.len() < 12),
            "some sentence ends early"
        );
        assert!(alone.iter().any(|a| a.len() != alone[0].len()));
        let store = aligned(&bytes);
        let g = Gguf::parse(&crate::plan::as_bytes(&store)[..bytes.len()]).unwrap();
        let m = Transformer::from_gguf(&g, Kernels::best()).unwrap();
        let limits = Limits {
            max_src: 16,
            max_tgt: 12,
            beam: 1,
            batch: 6,
        };
        let mut ws = vec![0u8; decode::workspace_bytes(&m, &limits)];
        let opts = Options::greedy(12);
        for order in [[0, 1, 2, 3, 4], [3, 2, 4, 0, 1]] {
            let batch: Vec<&[u32]> = order.iter().map(|&i| srcs[i]).collect();
            let mut out = vec![0u32; 5 * 12];
            let mut hyps = [decode::Hypothesis { len: 0, score: 0.0 }; 5];
            decode::generate_batch(
                &m,
                &mut ws,
                &limits,
                &batch,
                &SPECIAL,
                (&opts, &|_| 12),
                &mut out,
                &mut hyps,
            )
            .unwrap();
            for (j, &i) in order.iter().enumerate() {
                let got = &out[j * 12..j * 12 + hyps[j].len];
                assert_eq!(got, &alone[i][..], "{ty:?}: sentence {i} at batch row {j}");
            }
        }
        // Each sentence stops at its own cap (Marian's length factor gives one per source),
        // with the forced EOS there, as alone: a long neighbour does not lengthen it.
        let caps = [12, 3, 7, 2, 5];
        let mut out = vec![0u32; 5 * 12];
        let mut hyps = [decode::Hypothesis { len: 0, score: 0.0 }; 5];
        decode::generate_batch(
            &m,
            &mut ws,
            &limits,
            &srcs,
            &SPECIAL,
            (&opts, &|i| caps[i]),
            &mut out,
            &mut hyps,
        )
        .unwrap();
        for (i, src) in srcs.iter().enumerate() {
            let mut one = vec![0u32; 12];
            let alone_limits = Limits { batch: 1, ..limits };
            let h = decode::generate(
                &m,
                &mut ws,
                &alone_limits,
                src,
                &SPECIAL,
                &Options::greedy(caps[i]),
                &mut one,
            )
            .unwrap();
            assert_eq!(
                &out[i * 12..i * 12 + hyps[i].len],
                &one[..h.len],
                "{ty:?}: sentence {i}, cap {}",
                caps[i]
            );
            assert!(hyps[i].len <= caps[i]);
        }
        // More sentences than planned is an error, not a panic.
        let mut out = vec![0u32; 7 * 12];
        let mut hyps = [decode::Hypothesis { len: 0, score: 0.0 }; 7];
        let seven = [srcs[0]; 7];
        assert!(decode::generate_batch(
            &m,
            &mut ws,
            &limits,
            &seven,
            &SPECIAL,
            (&opts, &|_| 12),
            &mut out,
            &mut hyps
        )
        .is_err());
    }
}

#[test]
fn min_len_generates_exactly_that_many_tokens() {
    let bytes = synthetic(TensorType::F32);
    for beam in [1, 3] {
        // A source whose free translation stops early, so the minimum changes something.
        let src = (1..38)
            .map(|a| [a, (a * 7) % 38 + 1, 0])
            .find(|src| run(&bytes, beam, src).0.len() < 12)
            .expect("some source ends before 12 tokens");
        let (t, _) = run_min(&bytes, beam, &src, 12);
        assert_eq!(t.len(), 12, "beam {beam}: {t:?}");
        assert!(!t.contains(&0), "EOS before min_len (beam {beam}): {t:?}");
    }
}

#[test]
fn beam_scores_match_teacher_forced_rescoring() {
    // The beam's caches are reached through ancestry rows; rescoring its output one token at
    // a time in a single slot must give the same log-probabilities.
    let bytes = synthetic(TensorType::F32);
    for src in [[5u32, 9, 13, 0], [7, 7, 2, 0], [1, 2, 3, 0]] {
        let (greedy, _) = run(&bytes, 1, &src);
        assert!(!greedy.is_empty());
        for beam in [2, 4] {
            let (hyp, score) = run(&bytes, beam, &src);
            // HF 5.x: divided by the generated length, the final token included.
            let want = sequence_logprob(&bytes, &src, &hyp) / hyp.len() as f32;
            assert!(
                (score - want).abs() < 1e-4,
                "beam {beam}: score {score} vs rescored {want} for {hyp:?}"
            );
        }
    }
}

/// Sum of log-probabilities of `tgt` under teacher forcing, with the same logits processing.
fn sequence_logprob(bytes: &[u8], src: &[u32], tgt: &[u32]) -> f32 {
    let store = aligned(bytes);
    let g = Gguf::parse(&crate::plan::as_bytes(&store)[..bytes.len()]).unwrap();
    let m = Transformer::from_gguf(&g, Kernels::best()).unwrap();
    let limits = Limits {
        max_src: 16,
        max_tgt: 12,
        beam: 1,
        batch: 1,
    };
    let mut ws = vec![0u8; m.state_bytes(&limits)];
    let mut state = m.state(&limits, &mut ws).unwrap();
    m.encode(&mut state, 0, src).unwrap();
    let mut logits = vec![0f32; 40];
    let anc = vec![0u32; 12];
    let mut prev = SPECIAL.decoder_start;
    let mut total = 0.0;
    for (pos, &t) in tgt.iter().enumerate() {
        m.step(&mut state, &Rows::beams(&[prev], &anc), pos, &mut logits)
            .unwrap();
        let max = logits.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        let lse = max + libm::logf(logits.iter().map(|v| libm::expf(v - max)).sum());
        crate::decode::process_logits(&mut logits, &SPECIAL, pos, &Options::greedy(12));
        total += if logits[t as usize] == 0.0 && pos + 1 == 12 {
            0.0
        } else {
            logits[t as usize] - lse
        };
        prev = t;
    }
    total
}

#[test]
fn quantized_weights_stay_close_to_f32() {
    let src = [5u32, 9, 13, 21, 0];
    let logits = |ty| {
        let bytes = synthetic(ty);
        let store = aligned(&bytes);
        let g = Gguf::parse(&crate::plan::as_bytes(&store)[..bytes.len()]).unwrap();
        let m = Transformer::from_gguf(&g, Kernels::best()).unwrap();
        let limits = Limits {
            max_src: 8,
            max_tgt: 4,
            beam: 1,
            batch: 1,
        };
        let mut ws = vec![0u8; m.state_bytes(&limits)];
        let mut state = m.state(&limits, &mut ws).unwrap();
        m.encode(&mut state, 0, &src).unwrap();
        let mut out = vec![0f32; 40];
        m.step(&mut state, &Rows::beams(&[39], &[0; 4]), 0, &mut out)
            .unwrap();
        out
    };
    let base = logits(TensorType::F32);
    let scale = base.iter().fold(0f32, |a, v| a.max(v.abs()));
    for (ty, tol) in [(TensorType::F16, 2e-3), (TensorType::I8, 5e-2)] {
        let q = logits(ty);
        let err = q
            .iter()
            .zip(&base)
            .fold(0f32, |a, (x, y)| a.max((x - y).abs()))
            / scale;
        assert!(err < tol, "{ty:?}: relative error {err}");
    }
}

#[test]
fn limits_and_workspace_are_checked() {
    let bytes = synthetic(TensorType::F32);
    let store = aligned(&bytes);
    let g = Gguf::parse(&crate::plan::as_bytes(&store)[..bytes.len()]).unwrap();
    let m = Transformer::from_gguf(&g, Kernels::best()).unwrap();
    let limits = Limits {
        max_src: 4,
        max_tgt: 4,
        beam: 1,
        batch: 1,
    };
    let need = decode::workspace_bytes(&m, &limits);
    let mut ws = vec![0u8; need - 1];
    let mut out = [0u32; 4];
    let opts = Options::greedy(4);
    assert!(matches!(
        decode::generate(&m, &mut ws, &limits, &[1, 0], &SPECIAL, &opts, &mut out),
        Err(Error::WorkspaceTooSmall { .. })
    ));
    let mut ws = vec![0u8; need];
    assert!(matches!(
        decode::generate(
            &m,
            &mut ws,
            &limits,
            &[1, 2, 3, 4, 0],
            &SPECIAL,
            &opts,
            &mut out
        ),
        Err(Error::InputTooLong { .. })
    ));
    assert!(matches!(
        decode::generate(&m, &mut ws, &limits, &[99, 0], &SPECIAL, &opts, &mut out),
        Err(Error::BadTokenizer(_))
    ));
    let big = Options::greedy(5);
    assert!(matches!(
        decode::generate(&m, &mut ws, &limits, &[1, 0], &SPECIAL, &big, &mut out),
        Err(Error::BadLimit(_))
    ));
    // Every missing tensor is a typed error naming it.
    let mut wr = GgufWriter::new();
    for (k, v) in g.metadata() {
        if let crate::gguf::Value::Str(s) = v {
            wr.meta(k, MetaValue::Str(s.into()));
        } else if let Some(u) = v.as_u64() {
            wr.meta(k, MetaValue::U32(u as u32));
        } else if let crate::gguf::Value::Bool(b) = v {
            wr.meta(k, MetaValue::Bool(b));
        } else if let crate::gguf::Value::F32(x) = v {
            wr.meta(k, MetaValue::F32(x));
        }
    }
    for t in g.tensors().filter(|t| t.name != "dec.1.cross_v.weight") {
        wr.tensor_bytes(t.name, &t.dims[..t.n_dims], t.ty, t.data);
    }
    let b2 = wr.to_bytes();
    let s2 = aligned(&b2);
    let g2 = Gguf::parse(&crate::plan::as_bytes(&s2)[..b2.len()]).unwrap();
    assert_eq!(
        Transformer::from_gguf(&g2, Kernels::best()).unwrap_err(),
        Error::MissingTensor {
            name: DEC_CROSS_V,
            layer: 1
        }
    );
}

#[test]
fn repeated_ngrams_are_banned_as_hf_bans_them() {
    let banned = |n: usize, generated: &[u32]| -> Vec<usize> {
        let mut l = vec![0f32; 10];
        decode::ban_repeated_ngrams(&mut l, n, 0, generated);
        (0..10).filter(|&t| l[t] == f32::NEG_INFINITY).collect()
    };
    // Inputs 0 5 6 5: the 2-gram (5, 6) was seen, so after 5 comes no 6.
    assert_eq!(banned(2, &[5, 6, 5]), [6]);
    // Trigrams: the last two inputs (6, 5) never started one.
    assert!(banned(3, &[5, 6, 5]).is_empty());
    assert_eq!(banned(3, &[5, 6, 5, 6]), [5]);
    // 1-grams: every input so far, the start token included.
    assert_eq!(banned(1, &[5, 6]), [0, 5, 6]);
    // Fewer inputs than n: nothing to repeat yet; 0: off.
    assert!(banned(4, &[5, 5]).is_empty());
    assert!(banned(0, &[5, 5, 5]).is_empty());
}
