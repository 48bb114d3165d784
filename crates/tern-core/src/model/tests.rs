//! The shared blocks' own tests.

use super::layers::{add_sinusoidal_positions, Activation, RowPositions};
use crate::error::Error;
use crate::kernels::scalar::{ordered_sum, ordered_sum_of};
use crate::kernels::Kernels;

#[test]
fn ordered_sum_is_dots_order() {
    // Same bits as `dot` with ones (the documented order), for lengths with and without a
    // tail, on values whose sum depends on the order.
    let x: heapless::Vec<f32, 300> = (0..300)
        .map(|i| (i as f32 * 0.731).sin() * 10f32.powi(i % 7 - 3))
        .collect();
    let ones = [1f32; 300];
    for n in [0, 5, 16, 37, 256, 300] {
        let s = ordered_sum(n, |i| x[i]);
        assert_eq!(
            s.to_bits(),
            crate::kernels::scalar::dot(&x[..n], &ones[..n]).to_bits()
        );
        // The slice walk (norms) sums in the same order.
        assert_eq!(ordered_sum_of(&x[..n], |v| v).to_bits(), s.to_bits());
        let squares = ordered_sum(n, |i| x[i] * x[i]);
        assert_eq!(
            ordered_sum_of(&x[..n], |v| v * v).to_bits(),
            squares.to_bits()
        );
    }
    let y = [1.0f32, 2.0, 3.0];
    assert_eq!(ordered_sum(3, |i| y[i] * y[i]), 14.0);
}

#[test]
fn positions_match_hf_layout() {
    // HF: out[p, i] = sin(p / 10000^(2i/d)) for i < d/2, cos(...) after.
    let mut x = [0f32; 6];
    add_sinusoidal_positions(&mut x, 6, RowPositions::All(3));
    let d = 6.0f64;
    for i in 0..3 {
        let a = 3.0 / 10000f64.powf(2.0 * i as f64 / d);
        assert_eq!(x[i], a.sin() as f32);
        assert_eq!(x[3 + i], a.cos() as f32);
    }
}

#[test]
fn positions_of_a_block_are_each_rows_own() {
    // A block's rows get what each gets alone: consecutive (the encoder) or all at one
    // position (a decoder step), in both sinusoid layouts.
    use super::layers::add_fairseq_positions;
    let k = Kernels::best();
    let d = 10;
    let one = |pos: usize, fairseq: bool| {
        let mut row = [0.25f32; 10];
        match fairseq {
            true => add_fairseq_positions(&k, &mut row, d, RowPositions::From(pos)),
            false => add_sinusoidal_positions(&mut row, d, RowPositions::From(pos)),
        }
        row
    };
    for fairseq in [false, true] {
        for at in [RowPositions::From(5), RowPositions::All(7)] {
            let mut block = [0.25f32; 30];
            match fairseq {
                true => add_fairseq_positions(&k, &mut block, d, at),
                false => add_sinusoidal_positions(&mut block, d, at),
            }
            for (r, row) in block.chunks_exact(d).enumerate() {
                let pos = match at {
                    RowPositions::From(first) => first + r,
                    RowPositions::All(pos) => pos,
                };
                let want = one(pos, fairseq);
                assert!(row
                    .iter()
                    .zip(&want)
                    .all(|(a, b)| a.to_bits() == b.to_bits()));
            }
        }
    }
}

#[test]
fn activations() {
    let mut x = [-1.0f32, 0.0, 2.0];
    Activation::Silu.apply(&Kernels::best(), &mut x);
    assert!(
        (x[0] - (-0.268_941_4)).abs() < 1e-6 && x[1] == 0.0 && (x[2] - 1.761_594_2).abs() < 1e-6
    );
    let mut x = [1.0f32];
    Activation::Gelu.apply(&Kernels::best(), &mut x);
    assert!((x[0] - 0.841_344_7).abs() < 1e-6);
    // Both GELUs against libm's erf and tanh over [-10, 10], and their limits.
    let xs: heapless::Vec<f32, 401> = (0..401).map(|i| (i as f32 - 200.0) / 20.0).collect();
    let (mut g, mut gt) = (xs.clone(), xs.clone());
    Activation::Gelu.apply(&Kernels::best(), &mut g);
    Activation::GeluTanh.apply(&Kernels::best(), &mut gt);
    for ((&v, &a), &b) in xs.iter().zip(&g).zip(&gt) {
        let exact = 0.5 * v * (1.0 + libm::erff(v * core::f32::consts::FRAC_1_SQRT_2));
        let tanh = 0.5 * v * (1.0 + libm::tanhf(0.797_884_6 * (v + 0.044_715 * v * v * v)));
        assert!(
            (a - exact).abs() <= 1e-6 * v.abs().max(1.0),
            "gelu({v}) = {a}, not {exact}"
        );
        assert!(
            (b - tanh).abs() <= 1e-6 * v.abs().max(1.0),
            "gelu_tanh({v}) = {b}, not {tanh}"
        );
    }
    let mut big = [-1e4f32, 1e4];
    Activation::GeluTanh.apply(&Kernels::best(), &mut big);
    assert_eq!(big, [-0.0, 1e4]);
    let mut big = [-1e4f32, 1e4];
    Activation::Gelu.apply(&Kernels::best(), &mut big);
    assert_eq!(big, [-0.0, 1e4]);
    assert_eq!(Activation::from_name("tanh"), Err(Error::UnknownActivation));
}

/// The kernel tables the attention tests run on (those this machine has).
const ATTENTION_TABLES: [&str; 6] = [
    "scalar",
    "avx2",
    "avx512vnni",
    "neon",
    "neon-dotprod",
    "wasm-simd128",
];

/// Heads split over parts (in any order, on any number of them) give each head's serial bits:
/// the context, the kept weights, with and without T5's relative bias, for every table here.
#[test]
fn attention_heads_fanned_out_equal_serial() {
    use super::layers::{attend, Keep, PositionBias};
    use super::spec::RelativeBias;
    use crate::kernels::tests::{three_in_reverse, two};
    let wave = |n: usize, seed: f32| -> std::vec::Vec<f32> {
        (0..n).map(|i| (i as f32 * 0.37 + seed).sin()).collect()
    };
    let (heads, d) = if cfg!(miri) { (4, 16) } else { (8, 128) };
    // Below the fan-out's size, above it, and past the parts' stack row (serial again).
    let lens: &[usize] = if cfg!(miri) {
        &[3, 9]
    } else {
        &[3, 130, 300, 1100]
    };
    let rel = RelativeBias {
        buckets: 32,
        max_distance: 128,
    };
    for table in ATTENTION_TABLES.iter().filter_map(|n| Kernels::named(n)) {
        for &n in lens {
            let (q, keys, values) = (wave(d, 0.1), wave(n * d, 0.7), wave(n * d, 1.3));
            let stride = n + 2;
            let run = |k: &Kernels, with_bias: bool| {
                let (mut scores, mut offs) = (std::vec![0f32; n], std::vec![0usize; n]);
                let mut ctx = std::vec![0f32; d];
                let mut kept = std::vec![-1f32; heads * stride];
                let table = wave(rel.buckets * heads, 2.9);
                let mut buckets = std::vec![0u16; n];
                let bias = with_bias.then(|| PositionBias {
                    table: &table,
                    rel,
                    query: n / 2,
                    bidirectional: true,
                    buckets: &mut buckets,
                });
                let keep = Keep {
                    out: &mut kept,
                    head_stride: stride,
                };
                let rows = |s: usize| (s * 7) % n;
                attend(
                    k,
                    &q,
                    &keys,
                    &values,
                    n,
                    rows,
                    heads,
                    0.5,
                    &mut scores,
                    &mut offs,
                    &mut ctx,
                    Some(keep),
                    bias,
                );
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<std::vec::Vec<_>>();
                (bits(&ctx), bits(&kept))
            };
            for with_bias in [false, true] {
                let want = run(&table, with_bias);
                assert!(want.1.iter().any(|&b| b != (-1f32).to_bits()));
                for fan_out in [three_in_reverse as crate::kernels::FanOut, two] {
                    let fanned = Kernels { fan_out, ..table };
                    let got = run(&fanned, with_bias);
                    assert_eq!(got, want, "{} n {n} bias {with_bias}", table.name);
                }
            }
        }
    }
}

/// The encoder's one fan-out for a layer (every row and head an item) gives [`attend`]'s bits
/// for each row, serial or split over parts in any order, on every table here.
#[test]
fn attention_rows_equal_attend_per_row() {
    use super::layers::{attend, attend_rows};
    use crate::kernels::tests::three_in_reverse;
    let wave = |n: usize, seed: f32| -> std::vec::Vec<f32> {
        (0..n).map(|i| (i as f32 * 0.29 + seed).cos()).collect()
    };
    let (heads, w) = if cfg!(miri) { (2, 8) } else { (8, 64) };
    let lens: &[usize] = if cfg!(miri) { &[3] } else { &[1, 7, 40, 300] };
    for table in ATTENTION_TABLES.iter().filter_map(|n| Kernels::named(n)) {
        for &n in lens {
            let (q, keys, values) = (wave(n * w, 0.3), wave(n * w, 1.1), wave(n * w, 2.2));
            let (mut scores, mut offs) = (std::vec![0f32; n], std::vec![0usize; n]);
            let mut want = std::vec![0f32; n * w];
            for t in 0..n {
                let (q, ctx) = (&q[t * w..(t + 1) * w], &mut want[t * w..(t + 1) * w]);
                attend(
                    &table,
                    q,
                    &keys,
                    &values,
                    n,
                    |r| r,
                    heads,
                    0.125,
                    &mut scores,
                    &mut offs,
                    ctx,
                    None,
                    None,
                );
            }
            for fan_out in [
                crate::kernels::serial as crate::kernels::FanOut,
                three_in_reverse,
            ] {
                let k = Kernels { fan_out, ..table };
                let mut got = std::vec![7f32; n * w];
                attend_rows(
                    &k,
                    (&q, w),
                    &keys,
                    &values,
                    n,
                    heads,
                    0.125,
                    &mut scores,
                    &mut offs,
                    &mut got,
                );
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<std::vec::Vec<_>>();
                assert_eq!(bits(&got), bits(&want), "{} n {n}", table.name);
            }
        }
    }
}
