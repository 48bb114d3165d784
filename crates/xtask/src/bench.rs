//! `cargo xtask bench`: tern next to its peers in one run on this machine. Bergamot on
//! Firefox's en->pt model and FLORES sentences; CTranslate2 on OPUS-MT-, NLLB-200-distilled-600M-
//! and t5-small-shaped checkpoints both engines load (and tern on two threads per sentence
//! against one; the roofline line). Medians of repeated runs, ratios printed;
//! `--only bergamot|ct2|nllb|t5|wasm` (wasm: `wasm.rs`, tern's wasm package against Mozilla's in
//! Node).

use crate::{bin, build_release, cargo, convert_model, fetch_model, opt, root, run};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn bench(args: &[String]) -> Result<()> {
    match opt(args, "--only").map(String::as_str) {
        None => {
            bergamot(args)?;
            ct2(args)?;
            nllb(args)?;
            t5(args)?;
            crate::wasm::bench(args)
        }
        Some("bergamot") => bergamot(args),
        Some("ct2") => ct2(args),
        Some("nllb") => nllb(args),
        Some("t5") => t5(args),
        Some("wasm") => crate::wasm::bench(args),
        Some(o) => bail!("--only {o}: bergamot, ct2, nllb, t5 or wasm"),
    }
}

/// Runs `cmd` under `/usr/bin/time -v`: its stdout and stderr, and its peak RSS in MB.
fn timed_run(cmd: &Command, input: Option<&Path>) -> Result<(String, f64)> {
    let mut full = Command::new("/usr/bin/time");
    full.arg("-v").arg(cmd.get_program()).args(cmd.get_args());
    if let Some(dir) = cmd.get_current_dir() {
        full.current_dir(dir);
    }
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => full.env(k, v),
            None => full.env_remove(k),
        };
    }
    if let Some(i) = input {
        full.stdin(std::fs::File::open(i)?);
    }
    let out = full.output().with_context(|| format!("running {cmd:?}"))?;
    let err = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!("{cmd:?} failed: {err}");
    }
    let rss_kb = err
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|v| v.trim().parse::<f64>().ok())
        .context("no peak RSS from /usr/bin/time")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &err;
    Ok((text, rss_kb / 1024.0))
}

/// One timed run: sentences/s as the engine reports it (model loading excluded) and the peak
/// RSS.
fn timed(cmd: &mut Command, input: Option<&Path>, pattern: &str) -> Result<(f64, f64)> {
    let (text, rss) = timed_run(cmd, input)?;
    let rate = text
        .lines()
        .find(|l| l.contains(pattern))
        .and_then(|l| {
            l.split(" sent/s")
                .next()?
                .rsplit(' ')
                .next()?
                .parse::<f64>()
                .ok()
        })
        .with_context(|| format!("no `{pattern}` rate in the output of {cmd:?}: {text}"))?;
    Ok((rate, rss))
}

/// The text of a `key: value` line's value, trimmed.
fn value<'t>(text: &'t str, key: &str) -> Option<&'t str> {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(": "))
        .map(str::trim)
}

/// The number of a `key: value` line.
fn field(text: &str, key: &str) -> Result<f64> {
    value(text, key)
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no `{key}:` in {text}"))
}

/// The fastest of repeated rates. Other work on a shared machine only slows a run, so the best
/// is the least disturbed: the bench prints ratios of bests next to ratios of medians.
fn best(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::MIN, f64::max)
}

/// What a ratio of bests is, said where one is printed.
pub const BEST_NOTE: &str = "the fastest run of each, least disturbed by other load";

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Sentences per batch for tern's batched run against Bergamot's batched mode: on FLORES en->pt
/// 8, 16 and 32 are within a few percent of each other (since the shortlisted rows and the
/// next sentence's encoder keys are read ahead, 2026-12-07), 64 slower (each sentence's
/// logits, keys and candidate rows spill out of L2).
const TERN_BATCH: &str = "8";

/// tern against Bergamot on Firefox's en->pt model, same sentences, same machine, one run:
/// the median of `--rounds` runs of each (alternating), one thread.
fn bergamot(args: &[String]) -> Result<()> {
    let rounds: usize = opt(args, "--rounds")
        .map_or(Ok(3), |r| r.parse())
        .context("--rounds")?;
    let flores = root().join("../shared/testsets/flores200-devtest/eng_Latn.devtest");
    let src = opt(args, "--src").map_or(flores, PathBuf::from);
    let berg = match opt(args, "--bergamot") {
        Some(d) => PathBuf::from(d),
        None => {
            let setup = root().join("../shared/peers/bergamot/setup.sh");
            if !setup.exists() {
                bail!("no Bergamot: give --bergamot DIR (set up by bergamot's setup.sh)");
            }
            let dir = root().join("target/peers/bergamot");
            run(Command::new("bash").arg(&setup).arg(&dir))?;
            dir
        }
    };
    let dir = fetch_model(&["enpt".to_string()])?;
    build_release()?;
    let model = convert_model(&dir, "enpt")?;
    let lines = std::fs::read_to_string(&src)?.lines().count();
    let (mut tern, mut one, mut all) = (vec![], vec![], vec![]);
    let (mut tern_rss, mut one_rss, mut all_rss) = (vec![], vec![], vec![]);
    let (mut tern_b, mut tern_b_rss) = (vec![], vec![]);
    let (mut tern_i, mut tern_i_rss) = (vec![], vec![]);
    for r in 0..rounds {
        eprintln!(
            "xtask: bench round {} of {rounds} ({lines} sentences)",
            r + 1
        );
        // One sentence at a time, then the batched decoder (same output, TERN_BATCH at a time),
        // then one sentence at a time on two threads.
        let tern_run = |batch: &str, intra: &str| {
            timed(
                Command::new(bin("tern"))
                    .args([
                        "translate",
                        "--stats",
                        "--threads",
                        "1",
                        "--batch",
                        batch,
                        "--intra-threads",
                        intra,
                        "-m",
                    ])
                    .arg(&model)
                    .arg("-i")
                    .arg(&src),
                None,
                "tern:",
            )
        };
        let (t, m) = tern_run("1", "1")?;
        tern.push(t);
        tern_rss.push(m);
        let (t, m) = tern_run(TERN_BATCH, "1")?;
        tern_b.push(t);
        tern_b_rss.push(m);
        let (t, m) = tern_run("1", "2")?;
        tern_i.push(t);
        tern_i_rss.push(m);
        let py = berg.join("venv/bin/python");
        let script = berg.join("translate.py");
        let models = berg.join("models/enpt");
        let (t, m) = timed(
            Command::new(&py)
                .arg(&script)
                .arg(&models)
                .arg("--one-by-one"),
            Some(&src),
            "bergamot:",
        )?;
        one.push(t);
        one_rss.push(m);
        let (t, m) = timed(
            Command::new(&py).arg(&script).arg(&models),
            Some(&src),
            "bergamot:",
        )?;
        all.push(t);
        all_rss.push(m);
    }
    let bests = [&tern, &one, &all, &tern_b, &tern_i].map(|v| best(v));
    let (t, o, a) = (median(tern), median(one), median(all));
    let tb = median(tern_b);
    let ti = median(tern_i);
    println!(
        "en->pt, {lines} sentences, 1 thread (one row: 2), medians of {rounds} runs (model loading excluded):"
    );
    println!("| engine | sentences/s | peak RSS |");
    println!("|---|---|---|");
    println!(
        "| tern, one sentence per call | {t:.1} | {:.0} MB |",
        median(tern_rss)
    );
    println!(
        "| tern, batched (--batch {TERN_BATCH}) | {tb:.1} | {:.0} MB |",
        median(tern_b_rss)
    );
    println!(
        "| tern, one sentence per call, 2 threads on it (--intra-threads 2) | {ti:.1} | {:.0} MB |",
        median(tern_i_rss)
    );
    println!(
        "| Bergamot, one sentence per call | {o:.1} | {:.0} MB |",
        median(one_rss)
    );
    println!(
        "| Bergamot, all lines in one call | {a:.1} | {:.0} MB |",
        median(all_rss)
    );
    println!(
        "tern / Bergamot one per call: {:.2}x; tern batched / Bergamot batched: {:.2}x",
        t / o,
        tb / a
    );
    println!(
        "tern one sentence at a time, 2 threads on it / 1 thread: {:.2}x (target 1.7x)",
        ti / t
    );
    let [t, o, a, tb, ti] = bests;
    println!(
        "best runs ({BEST_NOTE}): one per call {:.2}x, batched {:.2}x, 2 threads / 1 {:.2}x",
        t / o,
        tb / a,
        ti / t
    );
    Ok(())
}

/// What the CTranslate2 comparisons install: the peer, and what makes and converts the
/// checkpoints (protobuf: make_nllb_shape.py writes a SentencePiece model with it).
const PEER_PACKAGES: [&str; 6] = [
    "ctranslate2",
    "transformers",
    "torch",
    "sentencepiece",
    "safetensors",
    "protobuf",
];

/// The Python with CTranslate2, transformers, torch, sentencepiece and protobuf: `--python`,
/// else `$TERN_PEER_PYTHON`, else a venv made under `target/peers/ct2/venv` (PyPI's torch is
/// large); a venv made before a package was added gets it.
fn peer_python(args: &[String]) -> Result<PathBuf> {
    if let Some(p) = opt(args, "--python")
        .cloned()
        .or_else(|| std::env::var("TERN_PEER_PYTHON").ok())
    {
        return Ok(PathBuf::from(p));
    }
    let venv = root().join("target/peers/ct2/venv");
    let py = venv.join("bin/python");
    if !py.exists() {
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
    }
    let has_all = Command::new(&py)
        .args([
            "-c",
            "import ctranslate2, transformers, torch, sentencepiece, safetensors, google.protobuf",
        ])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_all {
        run(Command::new(&py)
            .args(["-m", "pip", "install", "--quiet"])
            .args(PEER_PACKAGES))?;
    }
    Ok(py)
}

/// `n` pseudo-random ids in `lo..=hi` (a fixed xorshift sequence).
fn random_ids(n: usize, lo: u32, hi: u32) -> Vec<u32> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            lo + (x % u64::from(hi - lo + 1)) as u32
        })
        .collect()
}

/// The random-weight HF checkpoint `models/<script>` makes under `target/peers/ct2/<name>` and
/// its CTranslate2 int8 conversion next to it (each made once, kept; `last` is the file the
/// script writes last, so an interrupted run is made again).
fn checkpoints(py: &Path, script: &str, name: &str, last: &str) -> Result<(PathBuf, PathBuf)> {
    let dir = root().join("target/peers/ct2");
    let hf = dir.join(name);
    if !hf.join(last).exists() {
        run(Command::new(py)
            .arg(root().join("models").join(script))
            .arg(&hf))?;
    }
    let ct2_model = dir.join(format!("{name}-ct2-int8"));
    if !ct2_model.join("model.bin").exists() {
        let conv = py.with_file_name("ct2-transformers-converter");
        run(Command::new(&conv)
            .arg("--model")
            .arg(&hf)
            .arg("--output_dir")
            .arg(&ct2_model)
            .args(["--quantization", "int8", "--force"]))?;
    }
    Ok((hf, ct2_model))
}

/// How the single-pair workloads make both engines do the same work.
const EXACT_64: &str = "both: EOS masked until 64 tokens (tern min_len, CTranslate2 \
                        min_decoding_length), 64 decoder steps each";

/// One tern-against-CTranslate2 workload: a checkpoint both load and the sentence both decode.
struct Workload {
    /// The table's heading: the shape and the sentence.
    title: String,
    /// tern's file (int8).
    tern_model: PathBuf,
    /// CTranslate2's int8 directory.
    ct2_model: PathBuf,
    /// Source ids, EOS included: tern's `--ids`; CTranslate2 gets the token strings its
    /// vocabulary has at the same ids.
    ids: Vec<u32>,
    /// The first target token both are made to output (NLLB's target language): tern's file's
    /// default target language, CTranslate2's `target_prefix`; checked in every run.
    forced: Option<u32>,
    /// How the engines are made to do equal work, printed with the table.
    method: String,
}

/// tern against CTranslate2 int8 on an OPUS-MT en-de shaped MarianMT with random weights that
/// both load from the same checkpoint: 32 source tokens -> exactly 64 target tokens, greedy.
fn ct2(args: &[String]) -> Result<()> {
    let py = peer_python(args)?;
    let (hf, ct2_model) = checkpoints(
        &py,
        "make_opus_shape.py",
        "opus-mt-shape",
        "model.safetensors",
    )?;
    build_release()?;
    let tern_model = convert_model(&hf, "opus-mt-shape")?;
    // 31 pieces (ids 2..=V-2), then EOS (0).
    let mut ids = random_ids(31, 2, 58099);
    ids.push(0);
    versus_ct2(
        args,
        &py,
        &Workload {
            title: "OPUS-MT en-de shape (d512, 6+6 layers, vocab 58101, random weights), 32 -> 64 \
                    tokens, greedy"
                .into(),
            tern_model,
            ct2_model,
            ids,
            forced: None,
            method: EXACT_64.into(),
        },
    )?;
    roofline()
}

/// The roofline line: the encoder's int8 GEMM (OPUS-MT's first FFN layer, 32 tokens) against
/// this core's int8 peak (`generate_ids --roofline`).
fn roofline() -> Result<()> {
    let exe = root().join("target/release/examples/generate_ids");
    let text = timed_run(Command::new(&exe).arg("--roofline"), None)?.0;
    let gemm = field(&text, "encoder GEMM GMAC/s")?;
    let kernels = value(&text, "kernels").unwrap_or("?");
    let mix = value(&text, "int8 peak mix").unwrap_or("?");
    match field(&text, "int8 peak GMAC/s") {
        Ok(peak) => println!(
            "roofline, 1 core: the encoder's int8 GEMM (32 x 512 -> 2048, {kernels}) {gemm:.1} \
             GMAC/s = {:.0}% of this core's int8 peak {peak:.1} GMAC/s ({mix} from L1)",
            100.0 * gemm / peak
        ),
        Err(_) => println!(
            "roofline, 1 core: the encoder's int8 GEMM (32 x 512 -> 2048, {kernels}) {gemm:.1} \
             GMAC/s (no peak probe for this CPU)"
        ),
    }
    Ok(())
}

/// tern against CTranslate2 int8 on an NLLB-200-distilled-600M shaped M2M100 with random weights
/// (models/make_nllb_shape.py): the source-language token + 30 pieces + EOS -> exactly 64 target
/// tokens, the target-language token forced first, greedy.
fn nllb(args: &[String]) -> Result<()> {
    let py = peer_python(args)?;
    let (hf, ct2_model) = checkpoints(&py, "make_nllb_shape.py", "nllb-shape", "bench_ids.txt")?;
    let meta = bench_ids(&hf, "make_nllb_shape.py")?;
    let text = |key: &str| -> Result<String> {
        value(&meta, key)
            .map(str::to_string)
            .with_context(|| format!("no `{key}:` in bench_ids.txt"))
    };
    let id = |key: &str| -> Result<u32> { Ok(field(&meta, key)? as u32) };
    let (src_lang, tgt_lang) = (text("source language")?, text("target language")?);
    let (src_id, tgt_id) = (id("source language id")?, id("target language id")?);
    build_release()?;
    let tern_model = root().join("target/demo/nllb-shape.gguf");
    std::fs::create_dir_all(root().join("target/demo"))?;
    run(Command::new(bin("convert"))
        .args(["--int8", "--quiet", "--source-lang", &src_lang])
        .args(["--target-lang", &tgt_lang])
        .arg(&hf)
        .arg("-o")
        .arg(&tern_model)
        .arg("--force"))?;
    let mut ids = vec![src_id];
    ids.extend(random_ids(30, id("first piece id")?, id("last piece id")?));
    ids.push(id("eos id")?);
    versus_ct2(
        args,
        &py,
        &Workload {
            title: format!(
                "NLLB-200-distilled-600M shape (d1024, 12+12 layers, 16 heads, FFN 4096, vocab \
                 {}, random weights), {src_lang} + 30 pieces + </s> = 32 -> 64 tokens \
                 ({tgt_lang} forced first + 63), greedy",
                field(&meta, "vocab size")?
            ),
            tern_model,
            ct2_model,
            ids,
            forced: Some(tgt_id),
            method: format!(
                "both get the same 32 ids ({src_lang} = {src_id} first); both output {tgt_lang} \
                 = {tgt_id} first (tern: the file's default target language, convert \
                 --target-lang; CTranslate2: target_prefix=[[\"{tgt_lang}\"]]), checked in every \
                 run; it counts among the 64 tokens and costs a full decoder step with the \
                 output layer in both; EOS masked until 64 (tern min_len, CTranslate2 \
                 min_decoding_length)"
            ),
        },
    )
}

/// The `key: value` lines `script` wrote next to the checkpoint `hf`: the ids a workload uses.
fn bench_ids(hf: &Path, script: &str) -> Result<String> {
    std::fs::read_to_string(hf.join("bench_ids.txt"))
        .with_context(|| format!("{}: made by {script}", hf.display()))
}

/// tern against CTranslate2 int8 on a t5-small shaped T5 with random weights
/// (models/make_t5_shape.py): 31 pieces + EOS -> exactly 64 target tokens, greedy.
fn t5(args: &[String]) -> Result<()> {
    let py = peer_python(args)?;
    let (hf, ct2_model) = checkpoints(&py, "make_t5_shape.py", "t5-shape", "bench_ids.txt")?;
    let meta = bench_ids(&hf, "make_t5_shape.py")?;
    let id = |key: &str| -> Result<u32> { Ok(field(&meta, key)? as u32) };
    build_release()?;
    let tern_model = convert_model(&hf, "t5-shape")?;
    let mut ids = random_ids(31, id("first piece id")?, id("last piece id")?);
    ids.push(id("eos id")?);
    versus_ct2(
        args,
        &py,
        &Workload {
            title: format!(
                "t5-small shape (d512, 6+6 layers, 8 heads of 64, FFN 2048, relative position \
                 bias, vocab {}, random weights), 32 -> 64 tokens, greedy",
                field(&meta, "vocab size")?
            ),
            tern_model,
            ct2_model,
            ids,
            forced: None,
            method: EXACT_64.into(),
        },
    )
}

/// Runs a workload: batch 1 on 1 thread and batch 16 on 2 threads; medians of `--runs` calls
/// per process and of `--rounds` processes per engine (alternating); peak RSS of each process;
/// the batch-1 bandwidth bound.
fn versus_ct2(args: &[String], py: &Path, w: &Workload) -> Result<()> {
    let rounds: usize = opt(args, "--rounds")
        .map_or(Ok(3), |r| r.parse())
        .context("--rounds")?;
    let runs = opt(args, "--runs").map_or("7", String::as_str);
    run(cargo().args([
        "build",
        "--quiet",
        "--release",
        "-p",
        "tern",
        "--example",
        "generate_ids",
    ]))?;
    let exe = root().join("target/release/examples/generate_ids");
    let ids = w
        .ids
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let forced = w.forced.map(|f| f.to_string());

    // One core's read bandwidth, and two cores' reading at once (the 2-thread bound).
    let read = |threads: &str| -> Result<f64> {
        let out = timed_run(
            Command::new(&exe).args(["--bandwidth", "--threads", threads]),
            None,
        )?;
        field(&out.0, "read GB/s")
    };
    let (bw_before, bw2_before) = (read("1")?, read("2")?);
    // (batch, threads): at batch 1 on 2 threads tern puts both on the sentence
    // (`--intra-threads 2`), as CTranslate2's intra-op threads do; at batch 16 each of its 2
    // threads decodes 8.
    let configs = [(1usize, 1usize), (1, 2), (16, 2)];
    // Per config: tern and CTranslate2 runs, each (tok/s, ms/step, peak RSS MB).
    let mut got: Vec<[Vec<[f64; 3]>; 2]> = configs.iter().map(|_| [vec![], vec![]]).collect();
    let mut bytes_per_token = 0.0;
    let mut kernels = String::new();
    for r in 0..rounds {
        for (c, &(batch, threads)) in configs.iter().enumerate() {
            eprintln!(
                "xtask: bench ct2 round {} of {rounds}, batch {batch}, {threads} threads",
                r + 1
            );
            let (b, t) = (batch.to_string(), threads.to_string());
            let common = [
                "--ids", &ids, "--tokens", "64", "--batch", &b, "--runs", runs,
            ];
            let mut tern = Command::new(&exe);
            tern.arg(&w.tern_model).args(common);
            match batch {
                1 => tern.args(["--threads", "1", "--intra-threads", &t]),
                _ => tern.args(["--threads", &t]),
            };
            let mut peer = Command::new(py);
            peer.arg(root().join("models/bench_ct2.py"))
                .arg(&w.ct2_model)
                .args(common)
                .args(["--threads", &t]);
            if let Some(f) = &forced {
                peer.args(["--target-prefix", f]);
            }
            // Alternate which engine goes first, so drift on a shared machine hits both.
            let order = if r % 2 == 0 { [0, 1] } else { [1, 0] };
            for e in order {
                let (text, rss) = timed_run(if e == 0 { &tern } else { &peer }, None)?;
                if let Some(f) = w.forced {
                    let first = field(&text, "first output id")?;
                    if first != f64::from(f) {
                        bail!(
                            "{} output {first} first, not {f}: {text}",
                            ["tern", "CTranslate2"][e]
                        );
                    }
                }
                got[c][e].push([field(&text, "tok/s")?, field(&text, "ms/step est")?, rss]);
                if e == 0 {
                    bytes_per_token = field(&text, "weight bytes per token")?;
                    kernels = value(&text, "kernels").unwrap_or("?").to_string();
                }
            }
        }
    }
    let (bw_after, bw2_after) = (read("1")?, read("2")?);
    let bw = bw_before.max(bw_after);
    let bw2 = bw2_before.max(bw2_after);
    let bound_ms = bytes_per_token / (bw * 1e9) * 1e3;
    let bound2_ms = bytes_per_token / (bw2 * 1e9) * 1e3;
    let med = |v: &[[f64; 3]], i: usize| median(v.iter().map(|x| x[i]).collect());

    println!(
        "{}; medians of {runs} calls x {rounds} processes; tern kernels {kernels}:",
        w.title
    );
    println!("equal work: {}", w.method);
    println!("| engine | batch | threads | tok/s | ms/step | peak RSS MB |");
    println!("|---|---|---|---|---|---|");
    for (c, &(batch, threads)) in configs.iter().enumerate() {
        for (e, name) in ["tern int8", "CTranslate2 int8"].iter().enumerate() {
            let v = &got[c][e];
            println!(
                "| {name} | {batch} | {threads} | {:.1} | {:.2} | {:.0} |",
                med(v, 0),
                med(v, 1),
                med(v, 2)
            );
        }
    }
    for (c, &(batch, threads)) in configs.iter().enumerate() {
        println!(
            "tern / CTranslate2 at batch {batch}, {threads} threads: {:.2}x tokens/s, {:.2}x peak RSS",
            med(&got[c][0], 0) / med(&got[c][1], 0),
            med(&got[c][0], 2) / med(&got[c][1], 2)
        );
    }
    println!(
        "tern at batch 1, 2 threads on the sentence / 1 thread: {:.2}x tokens/s (target 1.7x)",
        med(&got[1][0], 0) / med(&got[0][0], 0)
    );
    // What memory alone allows two threads: every weight of a step read by two cores at once.
    // Weights that stay in the last-level cache between steps can beat it.
    println!(
        "2-thread memory bound, batch 1: 2 cores read {bw2:.1} GB/s at once against {bw:.1} for \
         one ({:.2}x); {:.1} MB per token / {bw2:.1} GB/s = {bound2_ms:.2} ms, {:.2}x faster \
         than tern's 1-thread step; tern's 2-thread step {:.2} ms = {:.2}x that bound",
        bw2 / bw,
        bytes_per_token / 1e6,
        med(&got[0][0], 1) / bound2_ms,
        med(&got[1][0], 1),
        med(&got[1][0], 1) / bound2_ms
    );
    let top = |v: &[[f64; 3]]| best(&v.iter().map(|x| x[0]).collect::<Vec<_>>());
    let ratios: Vec<String> = configs
        .iter()
        .enumerate()
        .map(|(c, (batch, threads))| {
            format!(
                "batch {batch}, {threads} threads {:.2}x",
                top(&got[c][0]) / top(&got[c][1])
            )
        })
        .collect();
    println!(
        "best runs ({BEST_NOTE}), tern / CTranslate2 tokens/s: {}",
        ratios.join("; ")
    );
    println!(
        "bandwidth bound, batch 1: {:.1} MB of weights per token / {bw:.1} GB/s read (1 core, best \
         of before/after) = {bound_ms:.2} ms; tern's step {:.2} ms = {:.2}x the bound, \
         CTranslate2's {:.2} ms = {:.2}x",
        bytes_per_token / 1e6,
        med(&got[0][0], 1),
        med(&got[0][0], 1) / bound_ms,
        med(&got[0][1], 1),
        med(&got[0][1], 1) / bound_ms
    );
    Ok(())
}
