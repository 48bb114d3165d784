//! Timing harness for engine comparisons: generates exactly `--tokens` target tokens from given
//! source ids, the way CTranslate2 is timed when fed token strings (no tokenizer in the loop).
//! `cargo xtask bench` runs it next to CTranslate2 on the same checkpoint.
//!
//!     cargo run --release -p tern --example generate_ids -- model.gguf --ids 5,9,13,0 \
//!         [--tokens 64] [--batch 1] [--threads 1] [--intra-threads 1] [--runs 7] [--warmup 2]
//!         [--separate]
//!     cargo run --release -p tern --example generate_ids -- --bandwidth [--threads 1]
//!     cargo run --release -p tern --example generate_ids -- --roofline
//!
//! Prints one `key: value` line per figure: the median seconds of a call that generates
//! `tokens` for each of `batch` sentences (split over `threads` threads, one workspace each;
//! each thread decodes its share as one batch, or with `--separate` one sentence at a time),
//! tokens/s, the median of 1-token calls (encoder + first step), the weight bytes one
//! generated token reads, and the first output id of the full calls. A multilingual model (NLLB,
//! M2M100) decodes into the file's default languages (`convert --source-lang/--target-lang`): the
//! source-language token must be the first of `--ids` (given as is), the target-language token
//! is forced as the first output, one of the `tokens`. `--bandwidth` prints one core's read
//! bandwidth instead (median of 5 passes summing a 1 GiB buffer in 2 MiB pages, as the model
//! is mapped), the figure the batch-1 bound divides by; with `--threads N`, that of N cores
//! reading at once (what a product split over N threads can stream).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use tern_core::decode::{Hypothesis, Options};
use tern_core::plan::Limits;

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}: cannot parse {v:?}"))
        })
        .unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Seconds of each of 5 passes summing a buffer of `words` u64 of this thread's own, each pass
/// started when every thread waiting on `start` is ready. The buffer is advised into 2 MiB
/// pages, as `Translator::open` advises the model's map: with 4 KiB pages the same loop read
/// about 10% slower on one core of the Zen 4 VM (24.7-29.4 against 27.9-31.6 GB/s, alternating
/// runs, 2026-12-07), and a bound measured so would flatter the engine.
fn read_passes(words: usize, start: &std::sync::Barrier) -> Vec<f64> {
    let mut buf = memmap2::MmapMut::map_anon(words * 8).expect("a buffer for the bandwidth probe");
    #[cfg(target_os = "linux")]
    let _ = buf.advise(memmap2::Advice::HugePage);
    buf.fill(1);
    (0..5)
        .map(|_| {
            start.wait();
            let t = Instant::now();
            // Four independent sums so the adds do not bound the loop.
            let mut s = [0u64; 4];
            for c in buf.chunks_exact(32) {
                for (a, b) in s.iter_mut().zip(c.chunks_exact(8)) {
                    *a = a.wrapping_add(u64::from_ne_bytes(b.try_into().unwrap_or_default()));
                }
            }
            std::hint::black_box(s);
            t.elapsed().as_secs_f64()
        })
        .collect()
}

/// The read bandwidth of `threads` cores at once, in bytes/s: each sums a buffer of its own
/// (1 GiB in all), the threads starting each of 5 passes together; a pass takes as long as its
/// slowest thread, and the median pass counts. With 1 thread, one core's: the figure the
/// batch-1 bound divides by.
fn bandwidth(threads: usize) -> f64 {
    let threads = threads.max(1);
    let words = (1usize << 27) / threads;
    let start = std::sync::Barrier::new(threads);
    let times: Vec<Vec<f64>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| s.spawn(|| read_passes(words, &start)))
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a bandwidth thread panicked"))
            .collect()
    });
    let passes = (0..5)
        .map(|p| times.iter().map(|t: &Vec<f64>| t[p]).fold(0.0, f64::max))
        .collect();
    (words * threads * 8) as f64 / median(passes)
}

/// The roofline line: this core's int8 peak with the best table's instruction mix
/// (`kernels::avx512::peak_probe` for the VNNI table, else `kernels::avx2::peak_probe`) and
/// what that table's `matmul_i8` reaches on an encoder-shaped product of OPUS-MT (32 tokens x
/// 512 -> 2048, the first FFN layer), weights in cache after the first call. Medians of 7.
fn roofline() {
    // As the engine picks.
    let k = tern::env_kernels();
    let median_of = |f: &mut dyn FnMut()| {
        let v = (0..7)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64()
            })
            .collect();
        median(v)
    };
    #[cfg(target_arch = "x86_64")]
    {
        use tern_core::kernels::{avx2, avx512};
        let (probe, mix): (fn(usize) -> Option<i32>, &str) = match k.name {
            "avx512vnni" => (avx512::peak_probe, "dpbusd"),
            _ => (avx2::peak_probe, "maddubs + madd + add"),
        };
        let rounds = 1 << 17;
        let secs = median_of(&mut || {
            std::hint::black_box(probe(std::hint::black_box(rounds)));
        });
        if probe(1).is_some() {
            println!(
                "int8 peak GMAC/s: {:.1}",
                (rounds * 2048) as f64 / secs / 1e9
            );
            println!("int8 peak mix: {mix}");
        }
    }
    let (m, kk, n) = (32, 512, 2048);
    let xq: Vec<i8> = (0..m * kk).map(|i| (i * 7 % 255) as u8 as i8).collect();
    let wq: Vec<i8> = (0..n * kk).map(|i| (i * 13 % 251) as u8 as i8).collect();
    let (xs, ws) = (vec![0.01f32; m], vec![0.02f32; n]);
    let mut y = vec![0f32; m * n];
    let secs = median_of(&mut || {
        for _ in 0..20 {
            (k.matmul_i8)(&xq, &xs, &wq, &ws, &mut y, m, kk, n);
        }
        std::hint::black_box(&y);
    });
    println!("kernels: {}", k.name);
    println!(
        "encoder GEMM GMAC/s: {:.1}",
        (20 * m * kk * n) as f64 / secs / 1e9
    );
}

/// A thread's workspace, output and pool.
type State = (Vec<u8>, Vec<u32>, Option<tern::pool::Pool>);

fn main() -> Result<(), tern::Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--bandwidth") {
        let threads = arg(&args, "--threads", 1);
        println!("read GB/s: {:.2}", bandwidth(threads) / 1e9);
        return Ok(());
    }
    if args.iter().any(|a| a == "--roofline") {
        roofline();
        return Ok(());
    }
    let path = args
        .first()
        .expect("usage: generate_ids MODEL --ids 5,9,0 ...");
    let ids: Vec<u32> = arg(&args, "--ids", String::new())
        .split(',')
        .map(|s| s.trim().parse().expect("--ids: comma-separated token ids"))
        .collect();
    let tokens: usize = arg(&args, "--tokens", 64);
    let batch: usize = arg(&args, "--batch", 1);
    let threads: usize = arg(&args, "--threads", 1);
    // Threads on each sentence (a pool per thread above, as a session keeps one).
    let intra: usize = arg(&args, "--intra-threads", 1);
    let runs: usize = arg(&args, "--runs", 7);
    let warmup: usize = arg(&args, "--warmup", 2);
    let separate = args.iter().any(|a| a == "--separate");
    let share = if separate { 1 } else { batch.div_ceil(threads) };

    // `--copy`: read the file into anonymous memory instead of mapping it (to see what page
    // size and page-cache mapping cost against the same weights in ordinary memory).
    let t = if args.iter().any(|a| a == "--copy") {
        let bytes = std::fs::read(path).map_err(|source| tern::Error::Io {
            path: path.clone(),
            source,
        })?;
        tern::Translator::from_bytes(&bytes)?
    } else {
        tern::Translator::open(path)?
    };
    let e = t.engine();
    let limits = Limits {
        max_src: ids.len(),
        max_tgt: tokens,
        beam: 1,
        batch: share,
    };
    let ws_bytes = tern_core::decode::workspace_bytes(&e.model, &limits);
    // One workspace and output buffer per thread, made before any timing.
    let mut states: Vec<State> = (0..threads)
        .map(|_| {
            let pool = (intra > 1).then(|| tern::pool::Pool::new(intra));
            (vec![0u8; ws_bytes], vec![0u32; share * tokens], pool)
        })
        .collect();

    // Every sentence of the batch generates exactly `n` tokens (EOS not allowed before).
    let call = |states: &mut [State], n: usize| -> Result<(), tern::Error> {
        let opts = Options {
            min_len: n,
            ..Options::greedy(n)
        };
        let next = AtomicUsize::new(0);
        let results: Vec<Result<(), tern::Error>> = std::thread::scope(|s| {
            let workers: Vec<_> = states
                .iter_mut()
                .map(|(ws, out, pool)| {
                    let next = &next;
                    let ids = &ids;
                    s.spawn(move || -> Result<(), tern::Error> {
                        tern::pool::install(pool.as_ref(), || {
                            if !separate {
                                // This thread's share of the sentences, decoded together.
                                let start = next.fetch_add(share, Ordering::Relaxed).min(batch);
                                let k = (batch - start).min(share);
                                if k == 0 {
                                    return Ok(());
                                }
                                let srcs = vec![&ids[..]; k];
                                let mut hyps = vec![Hypothesis { len: 0, score: 0.0 }; k];
                                e.generate_batch(
                                    ws,
                                    &limits,
                                    (&opts, &|_| opts.max_len),
                                    &e.languages,
                                    &srcs,
                                    out,
                                    &mut hyps,
                                )?;
                                for h in &hyps {
                                    assert_eq!(h.len, n, "generated {} tokens, not {n}", h.len);
                                }
                                return Ok(());
                            }
                            while next.fetch_add(1, Ordering::Relaxed) < batch {
                                let h = e.generate(ws, &limits, &opts, ids, out)?;
                                assert_eq!(h.len, n, "generated {} tokens, not {n}", h.len);
                            }
                            Ok(())
                        })
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().expect("worker panicked"))
                .collect()
        });
        results.into_iter().collect()
    };
    let time = |states: &mut [State], n: usize| -> Result<f64, tern::Error> {
        for _ in 0..warmup {
            call(states, n)?;
        }
        let mut v = Vec::new();
        for _ in 0..runs {
            let start = Instant::now();
            call(states, n)?;
            v.push(start.elapsed().as_secs_f64());
        }
        Ok(median(v))
    };
    let full = time(&mut states, tokens)?;
    let first_out = states[0].1[0];
    let first = time(&mut states, 1)?;
    println!("kernels: {}", e.model.kernels().name);
    println!("workspace bytes per thread: {ws_bytes}");
    println!("weight bytes per token: {}", e.model.bytes_per_token());
    if let (Some(src), Some(tgt)) = (e.languages.source, e.languages.target) {
        println!("languages: source {src}, target {tgt} (forced first)");
    }
    println!("first source id: {}", ids[0]);
    println!("first output id: {first_out}");
    println!("median s: {full:.6}");
    println!("median s 1-token call: {first:.6}");
    println!("tok/s: {:.2}", (batch * tokens) as f64 / full);
    println!(
        "ms/step est: {:.3}",
        (full - first) / (tokens - 1).max(1) as f64 * 1e3
    );
    Ok(())
}
