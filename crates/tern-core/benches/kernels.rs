//! Kernel micro-benchmarks: every kernel of the scalar table against the best table for this
//! machine, on the shapes of Firefox's tiny model (d 256, FFN 1536). Throughput is reported per
//! element (int8 GEMV: weight bytes/s, what batch-1 decoding streams; GEMM: multiply-adds/s).
//!
//!     cargo bench -p tern-core --bench kernels

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use tern_core::kernels::{scalar, Kernels};

fn tables() -> Vec<Kernels> {
    let best = Kernels::best();
    if best.name == scalar::KERNELS.name {
        vec![best]
    } else {
        vec![scalar::KERNELS, best]
    }
}

fn data_i8(n: usize, seed: u32) -> Vec<i8> {
    (0..n)
        .map(|i| ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 24) as i8)
        .map(|v| v.max(-127))
        .collect()
}

fn bench(c: &mut Criterion) {
    let (d, ffn) = (256usize, 1536usize);
    let mut g = c.benchmark_group("matmul_i8");
    // Batch-1 decoding: one row against an FFN matrix (1536 x 256 int8 = 384 KiB).
    // Also an OPUS-MT output projection (58101 x 512 int8 = 28 MiB, more than the caches): the
    // streaming rate to compare with the machine's read bandwidth.
    for (m, k, n) in [(1, d, ffn), (1, ffn, d), (32, d, ffn), (1, 512, 58101)] {
        let (x, w) = (data_i8(m * k, 1), data_i8(n * k, 2));
        let (xs, ws) = (vec![0.01f32; m], vec![0.02f32; n]);
        let mut y = vec![0f32; m * n];
        g.throughput(if m == 1 {
            Throughput::Bytes((n * k) as u64)
        } else {
            Throughput::Elements((m * n * k) as u64)
        });
        for t in tables() {
            g.bench_with_input(
                BenchmarkId::new(t.name, format!("{m}x{k}x{n}")),
                &t,
                |b, t| {
                    b.iter(|| {
                        (t.matmul_i8)(black_box(&x), &xs, black_box(&w), &ws, &mut y, m, k, n)
                    })
                },
            );
        }
    }
    g.finish();
    // The shortlisted output layer: ~1000 sorted rows of a 32000 x 256 int8 embedding (8 MiB).
    let mut g = c.benchmark_group("gemv_rows_i8");
    let (x, w) = (data_i8(d, 3), data_i8(32000 * d, 4));
    let ws = vec![0.02f32; 32000];
    let rows: Vec<u32> = (0..1000u32).map(|i| i * 32 + i % 7).collect();
    let mut y = vec![0f32; rows.len()];
    g.throughput(Throughput::Bytes((rows.len() * d) as u64));
    for t in tables() {
        g.bench_function(BenchmarkId::new(t.name, "1000 of 32000x256"), |b| {
            b.iter(|| (t.gemv_rows_i8)(black_box(&x), 0.01, black_box(&w), &ws, &rows, &mut y))
        });
    }
    g.finish();
    // f32 and f16 weights, the encoder's shape (32 rows x 256 -> 1536): gemm and F16C.
    let mut g = c.benchmark_group("matmul_float");
    let (m, k, n) = (32usize, d, ffn);
    let x: Vec<f32> = (0..m * k).map(|i| (i % 13) as f32 * 0.1 - 0.6).collect();
    let w: Vec<f32> = (0..n * k).map(|i| (i % 17) as f32 * 0.05 - 0.4).collect();
    let wh: Vec<half::f16> = w.iter().map(|&v| half::f16::from_f32(v)).collect();
    let mut y = vec![0f32; m * n];
    g.throughput(Throughput::Elements((m * n * k) as u64));
    for t in tables() {
        g.bench_function(BenchmarkId::new(t.name, "f32 32x256x1536"), |b| {
            b.iter(|| (t.matmul_f32)(black_box(&x), black_box(&w), &mut y, m, k, n))
        });
        g.bench_function(BenchmarkId::new(t.name, "f16 32x256x1536"), |b| {
            b.iter(|| (t.matmul_f16)(black_box(&x), black_box(&wh), &mut y, m, k, n))
        });
    }
    g.finish();
    let mut g = c.benchmark_group("float");
    let (a, bv) = (vec![0.5f32; ffn], vec![0.25f32; ffn]);
    g.throughput(Throughput::Elements(ffn as u64));
    for t in tables() {
        g.bench_function(BenchmarkId::new(t.name, "dot 1536"), |b| {
            b.iter(|| (t.dot)(black_box(&a), black_box(&bv)))
        });
        let x = vec![1.7f32; ffn];
        let mut q = vec![0i8; ffn];
        g.bench_function(BenchmarkId::new(t.name, "quantize_static 1536"), |b| {
            b.iter(|| (t.quantize_static)(black_box(&x), &mut q, 7.5))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
