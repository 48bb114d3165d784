//! A whole model file, damaged the ways a power cut or a bad flash write damages it: truncated
//! at every offset of its header, metadata and tensor table (and every 4 KiB after), and with a
//! byte flipped at every offset of that region (and every 4 KiB after). Loading must answer
//! with a typed error or a working engine, never a panic; a truncation before the tensor data
//! must be an error; and a damaged file that still loads must translate or error cleanly, and
//! fail `verify` (its CRC-32).

use tern_core::engine::Engine;
use tern_core::kernels::Kernels;
use tern_core::plan::Limits;

/// Loads `bytes` and, if that works, translates one sentence with a small plan.
/// `file` must be 8-byte aligned, as a mapped or flashed file is.
fn load_and_use(file: &[u8]) -> Result<(), tern_core::Error> {
    let e = Engine::load(file, Kernels::best())?;
    let limits = Limits {
        max_src: 16,
        max_tgt: 6,
        beam: 2,
        batch: 1,
    };
    let opts = e.options(&limits);
    let mut ws = vec![0u8; e.workspace_bytes(&limits, 64)];
    let mut out = vec![0u8; 512];
    e.translate(
        &mut ws,
        &limits,
        &opts,
        "The weather is nice today.",
        &mut out,
    )
    .map(|_| ())
}

#[test]
fn hf_fixture_model_survives_truncations_and_flips() {
    let dir = tern_e2e::root().join("models/fixtures/marian-tiny-en-de");
    walk(&tern_e2e::convert(&dir, tern_convert::Precision::Int8));
}

/// The same for a byte-level BPE model (BART: merges, byte and added-token tables).
#[test]
fn byte_level_fixture_model_survives_truncations_and_flips() {
    let dir = tern_e2e::root().join("models/fixtures/bart-tiny");
    walk(&tern_e2e::convert(&dir, tern_convert::Precision::Int8));
}

/// The real Firefox en->pt model (int8, SSRU, shortlist): 22 MB, every header byte and every
/// 4 KiB of data.
#[test]
fn bergamot_model_survives_truncations_and_flips() {
    let dir = tern_e2e::downloaded("enpt");
    walk(&tern_convert::build(&dir, None, true).expect("converts"));
}

fn walk(bytes: &[u8]) {
    let n = bytes.len();
    let intact = tern_e2e::aligned(bytes);
    load_and_use(&tern_core::plan::as_bytes(&intact)[..n]).expect("the intact file works");
    let data_start = tern_core::gguf::Gguf::parse(&tern_core::plan::as_bytes(&intact)[..n])
        .unwrap()
        .data_offset();
    let offsets: Vec<usize> = (0..data_start)
        .chain((data_start..n).step_by(4096))
        .collect();
    // Each core (up to four) walks its share of the offsets, on its own copy.
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get().min(4));
    let counts: Vec<(usize, usize)> = std::thread::scope(|scope| {
        let walkers: Vec<_> = (0..threads)
            .map(|t| {
                let mine = offsets.iter().copied().skip(t).step_by(threads);
                let intact = &intact;
                scope.spawn(move || damage_each(intact.clone(), n, data_start, mine))
            })
            .collect();
        walkers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let errors: usize = counts.iter().map(|c| c.0).sum();
    let loaded: usize = counts.iter().map(|c| c.1).sum();
    eprintln!("{} offsets: {errors} truncations rejected, {loaded} flipped files still loaded and translated", offsets.len());
    assert!(
        errors >= data_start,
        "every truncation inside the header is an error"
    );
}

/// Truncates the file at each offset, then flips the byte there, loading and using each damaged
/// file; returns how many truncations were rejected and how many flipped files loaded.
/// One aligned copy (`store`), damaged and repaired in place: a 22 MB model is not copied per
/// offset.
fn damage_each(
    mut store: Vec<u64>,
    n: usize,
    data_start: usize,
    offsets: impl Iterator<Item = usize>,
) -> (usize, usize) {
    let (mut errors, mut loaded) = (0, 0);
    for at in offsets {
        let file = tern_core::plan::as_bytes(&store);
        match std::panic::catch_unwind(|| load_and_use(&file[..at])) {
            Err(_) => panic!("truncation at {at} panicked"),
            Ok(Err(_)) => errors += 1,
            Ok(Ok(())) => assert!(
                at >= data_start,
                "a file cut at {at}, inside its header, loaded"
            ),
        }
        tern_core::plan::as_bytes_mut(&mut store)[at] ^= 0xA5;
        let file = tern_core::plan::as_bytes(&store);
        match std::panic::catch_unwind(|| load_and_use(&file[..n])) {
            Err(_) => panic!("byte flip at {at} panicked"),
            Ok(Ok(())) => {
                loaded += 1;
                // What loads is still caught by the checksum (checked where it is cheap: small
                // files, and header flips of big ones).
                if n < 4 << 20 || at < data_start {
                    let g = tern_core::gguf::Gguf::parse(&file[..n]).expect("it loaded");
                    assert!(
                        matches!(
                            g.verify(),
                            Err(tern_core::Error::ChecksumMismatch { .. }) | Ok(false)
                        ),
                        "flip at {at} passed verification"
                    );
                }
            }
            Ok(Err(_)) => {}
        }
        tern_core::plan::as_bytes_mut(&mut store)[at] ^= 0xA5;
    }
    (errors, loaded)
}
