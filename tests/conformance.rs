//! Conformance with Hugging Face transformers on the fixture checkpoints that
//! `models/make_marian_fixture.py` (MarianMT), `models/make_m2m100_fixture.py` (M2M100, NLLB,
//! mBART-50), `models/make_t5_fixture.py` (T5, flan-T5) and `models/make_bart_fixture.py` (BART)
//! made and recorded (`expected.json`, `logits.safetensors`): tokenization, f32 logits, greedy
//! and beam-4 ids, text, scores and n-best; fp16 and int8 within the tolerances in
//! `docs/gguf-format.md`, with top-1 agreement under teacher forcing. Multilingual entries name
//! their languages (`src_lang`, `tgt_lang`): the source-language token leads the source and the
//! target-language token is forced first, as HF's `forced_bos_token_id`.

use serde_json::Value;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use tern_convert::Precision;
use tern_core::decode::Special;
use tern_core::decode::{self, beam, Options};
use tern_core::engine::{Engine, Languages};
use tern_core::model::Seq2Seq;
use tern_core::plan::Limits;
use tern_e2e::ids;

struct Fixture {
    name: String,
    expected: Value,
    logits: Vec<u8>,
}

impl Fixture {
    fn load(dir: &Path) -> Fixture {
        Fixture {
            name: dir.file_name().unwrap().to_string_lossy().into_owned(),
            expected: serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap())
                .unwrap(),
            logits: std::fs::read(dir.join("logits.safetensors")).unwrap(),
        }
    }
    fn sentences(&self) -> &Vec<Value> {
        self.expected["sentences"].as_array().unwrap()
    }
    fn gen(&self, key: &str) -> &Value {
        &self.expected["generation"][key]
    }
    /// Tensor `name` of logits.safetensors as f32 or i64 values.
    fn tensor(&self, name: &str) -> Option<(Vec<usize>, Vec<f64>)> {
        let st = safetensors::SafeTensors::deserialize(&self.logits).unwrap();
        let t = st.tensor(name).ok()?;
        let d = t.data();
        let v: Vec<f64> = match t.dtype() {
            safetensors::Dtype::F32 => d
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
                .collect(),
            safetensors::Dtype::I64 => d
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f64)
                .collect(),
            safetensors::Dtype::I32 => d
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes(c.try_into().unwrap()) as f64)
                .collect(),
            other => panic!("{name}: unexpected dtype {other:?}"),
        };
        Some((t.shape().to_vec(), v))
    }
}

/// Every fixture.
fn fixtures() -> Vec<Fixture> {
    let mut dirs = tern_e2e::marian_fixtures();
    dirs.extend(tern_e2e::m2m100_fixtures());
    dirs.extend(tern_e2e::t5_fixtures());
    dirs.extend(tern_e2e::bart_fixtures());
    dirs.iter().map(|d| Fixture::load(d)).collect()
}

/// Runs `check` on every fixture, the fixtures shared among the cores (up to four): under QEMU
/// a test's fixtures one after another took minutes.
fn each_fixture(check: impl Fn(&Fixture) + Sync) {
    let fixtures = fixtures();
    let next = AtomicUsize::new(0);
    let cores = std::thread::available_parallelism().map_or(1, |t| t.get().min(4));
    std::thread::scope(|scope| {
        for _ in 0..cores.min(fixtures.len()) {
            scope.spawn(|| {
                while let Some(f) = fixtures.get(next.fetch_add(1, Ordering::Relaxed)) {
                    check(f);
                }
            });
        }
    });
}

/// The languages of an entry (none for single-pair models).
fn langs(e: &Engine<'_>, s: &Value) -> Languages {
    e.languages(s["src_lang"].as_str(), s["tgt_lang"].as_str())
        .unwrap()
}

/// The special tokens of an entry's request: its target language forced first.
fn special(e: &Engine<'_>, s: &Value) -> Special {
    e.special_for(&langs(e, s)).unwrap()
}

/// The fixture converted at `precision`, loaded into an aligned buffer.
fn model(dir_name: &str, precision: Precision) -> tern::Translator {
    let dir = tern_e2e::root().join("models/fixtures").join(dir_name);
    tern::Translator::from_bytes(&tern_e2e::convert(&dir, precision)).unwrap()
}

fn limits(e: &Engine<'_>, beam: usize) -> Limits {
    Limits {
        max_src: 512.min(e.model.max_positions()),
        max_tgt: 128.min(e.model.max_positions()),
        beam,
        batch: 1,
    }
}

fn encode(e: &Engine<'_>, s: &Value) -> Vec<u32> {
    let text = s["source"].as_str().unwrap();
    let mut scratch = vec![0; e.tokenizer.encode_scratch_bytes(text.len())];
    let mut ids = vec![0; e.tokenizer.max_tokens(text.len())];
    let n = e
        .encode(&langs(e, s), text, &mut scratch, &mut ids)
        .unwrap();
    ids.truncate(n);
    ids
}

fn decode_text(e: &Engine<'_>, ids: &[u32]) -> String {
    let mut out = vec![0u8; ids.len() * 64 + 64];
    let n = e.tokenizer.decode(ids, &mut out).unwrap();
    String::from_utf8(out[..n].to_vec()).unwrap()
}

/// Raw logits for every step of teacher forcing `inputs`.
fn forced_logits(e: &Engine<'_>, src: &[u32], inputs: &[u32]) -> Vec<Vec<f32>> {
    let lim = limits(e, 1);
    let mut ws = vec![0u8; decode::workspace_bytes(&e.model, &lim)];
    let mut rows = Vec::new();
    decode::teacher_force(&e.model, &mut ws, &lim, src, inputs, |_, l| {
        rows.push(l.to_vec());
        Ok(())
    })
    .unwrap();
    rows
}

fn options(f: &Fixture, beam: usize) -> Options {
    options_to(f, beam, f.gen("max_length").as_u64().unwrap() as usize)
}

fn options_to(f: &Fixture, beam: usize, max_length: usize) -> Options {
    Options {
        beam,
        // HF's max_length counts the decoder start token.
        max_len: max_length - 1,
        length_penalty: f.gen("length_penalty").as_f64().unwrap_or(1.0) as f32,
        early_stopping: f.gen("early_stopping").as_bool().unwrap_or(false),
        min_len: 0,
        no_repeat_ngram: 0,
    }
}

fn argmax(row: &[f32]) -> usize {
    row.iter()
        .enumerate()
        .fold(0, |b, (i, &v)| if v > row[b] { i } else { b })
}

/// Source ids equal HF's, except where transformers 5's NLLB tokenizer (the `tokenizers`
/// library's BPE, not sentencepiece's) segments differently: the fixture script lists those
/// entries, and `tests/tokenizer.rs` checks tern against sentencepiece on them.
#[test]
fn source_ids_equal_hf_tokenizer() {
    each_fixture(|f| {
        let t = model(&f.name, Precision::F32);
        let e = t.engine();
        let differ: Vec<&Value> = f.expected["source_ids_differ_from_sentencepiece"]
            .as_array()
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        let (mut same, mut known) = (0, 0);
        for s in f.sentences() {
            let got = encode(e, s);
            if differ.contains(&&s["source"]) && got != ids(&s["source_ids"]) {
                known += 1;
                continue;
            }
            assert_eq!(got, ids(&s["source_ids"]), "{}: {:?}", f.name, s["source"]);
            same += 1;
        }
        eprintln!("{}: {same} source id lists equal to HF's, {known} where HF's NLLB tokenizer differs from sentencepiece", f.name);
        assert!(
            known * 20 <= same,
            "{}: too many tokenizer differences",
            f.name
        );
    });
}

#[test]
fn f32_logits_within_1e4_of_hf() {
    each_fixture(|f| {
        let t = model(&f.name, Precision::F32);
        let e = t.engine();
        let mut checked = 0;
        for (i, s) in f.sentences().iter().enumerate() {
            let Some((shape, want)) = f.tensor(&format!("s{i}")) else {
                continue;
            };
            let (_, inputs) = f.tensor(&format!("d{i}")).unwrap();
            let inputs: Vec<u32> = inputs.iter().map(|&x| x as u32).collect();
            let got = forced_logits(e, &ids(&s["source_ids"]), &inputs);
            let v = shape[1];
            for (step, row) in got.iter().enumerate() {
                let want = &want[step * v..(step + 1) * v];
                let scale = want.iter().fold(0f64, |m, x| m.max(x.abs()));
                let err = row
                    .iter()
                    .zip(want)
                    .fold(0f64, |m, (a, b)| m.max((*a as f64 - b).abs()));
                assert!(
                    err <= 1e-4 * scale,
                    "{} sentence {i} step {step}: max |tern - hf| = {err:.3e}, scale {scale:.3}",
                    f.name
                );
            }
            checked += 1;
        }
        assert!(
            checked >= 5,
            "{}: only {checked} sentences with logits",
            f.name
        );
    });
}

fn search(e: &Engine<'_>, f: &Fixture, s: &Value, beam: usize) -> (Vec<u32>, f32) {
    search_with(e, &options(f, beam), s)
}

/// Searches from the entry's recorded source ids, in its languages.
fn search_with(e: &Engine<'_>, opts: &Options, s: &Value) -> (Vec<u32>, f32) {
    let opts = *opts;
    let beam = opts.beam;
    let lim = limits(e, beam);
    let mut ws = vec![0u8; decode::workspace_bytes(&e.model, &lim)];
    let mut out = vec![0u32; lim.max_tgt];
    let src = ids(&s["source_ids"]);
    let hyp = e
        .generate_to(&mut ws, &lim, &opts, &langs(e, s), &src, &mut out)
        .unwrap();
    (out[..hyp.len].to_vec(), hyp.score)
}

#[test]
fn f32_greedy_ids_and_text_equal_hf() {
    each_fixture(|f| {
        let t = model(&f.name, Precision::F32);
        let e = t.engine();
        for s in f.sentences() {
            let (got, _) = search(e, f, s, 1);
            assert_eq!(
                got,
                ids(&s["greedy_ids"]),
                "{}: greedy ids of {:?}",
                f.name,
                s["source"]
            );
            assert_eq!(
                decode_text(e, &got),
                s["greedy_text"].as_str().unwrap(),
                "{}: greedy text",
                f.name
            );
        }
    });
}

/// A checkpoint saved with `tie_word_embeddings: false` (transformers 5) keeps the encoder's,
/// the decoder's and the output layer's embeddings apart from `model.shared`, which HF then
/// does not read. Here they hold the fixture's embedding and `model.shared` its negation:
/// Hugging Face gives the fixture's greedy outputs on this checkpoint (checked with
/// transformers 5.24), and so must tern. (Found by `models/check_unseen.py`: convert took
/// `model.shared`.)
#[test]
fn untied_checkpoint_reads_the_embeddings_hf_reads() {
    use safetensors::tensor::TensorView;
    let f = &Fixture::load(&tern_e2e::marian_fixtures()[0]);
    let from = tern_e2e::root().join("models/fixtures").join(&f.name);
    let dir = tern_e2e::scratch().join("untied-checkpoint");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(&from).unwrap().flatten() {
        std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
    }
    let bytes = std::fs::read(from.join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let shared = st.tensor("model.shared.weight").unwrap();
    let negated: Vec<u8> = shared
        .data()
        .chunks_exact(4)
        .flat_map(|b| (-f32::from_le_bytes(b.try_into().unwrap())).to_le_bytes())
        .collect();
    let mut views: Vec<(String, TensorView<'_>)> = st
        .tensors()
        .into_iter()
        .filter(|(n, _)| n != "model.shared.weight")
        .collect();
    let shape = shared.shape().to_vec();
    for name in [
        "model.encoder.embed_tokens.weight",
        "model.decoder.embed_tokens.weight",
        "lm_head.weight",
    ] {
        views.push((
            name.into(),
            TensorView::new(shared.dtype(), shape.clone(), shared.data()).unwrap(),
        ));
    }
    views.push((
        "model.shared.weight".into(),
        TensorView::new(shared.dtype(), shape, &negated).unwrap(),
    ));
    std::fs::write(
        dir.join("model.safetensors"),
        safetensors::serialize(views, &None).unwrap(),
    )
    .unwrap();
    let mut config: Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    config["tie_word_embeddings"] = Value::Bool(false);
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_vec(&config).unwrap(),
    )
    .unwrap();

    let t = tern::Translator::from_bytes(&tern_e2e::convert(&dir, Precision::F32)).unwrap();
    let e = t.engine();
    for s in f.sentences() {
        let (got, _) = search(e, f, s, 1);
        assert_eq!(
            got,
            ids(&s["greedy_ids"]),
            "greedy ids of {:?}",
            s["source"]
        );
    }
}

#[test]
fn f32_beam4_ids_text_and_scores_equal_hf() {
    each_fixture(|f| {
        let t = model(&f.name, Precision::F32);
        let e = t.engine();
        for s in f.sentences() {
            let (got, score) = search(e, f, s, 4);
            assert_eq!(
                got,
                ids(&s["beam4_ids"]),
                "{}: beam-4 ids of {:?}",
                f.name,
                s["source"]
            );
            assert_eq!(
                decode_text(e, &got),
                s["beam4_text"].as_str().unwrap(),
                "{}: beam-4 text",
                f.name
            );
            let want = s["beam4_score"].as_f64().unwrap();
            assert!(
                (score as f64 - want).abs() <= 1e-4 * want.abs().max(1.0),
                "{}: beam score {score} vs {want}",
                f.name
            );

            check_nbest(e, f, &options(f, 4), s, &s["beam4_nbest"]);
        }
    });
}

/// A limit of a few tokens: HF forces EOS at the last step and finalizes the beams there.
#[test]
fn f32_outputs_cut_by_max_length_equal_hf() {
    each_fixture(|f| {
        let t = model(&f.name, Precision::F32);
        let e = t.engine();
        let short = f.expected["short_max_length"].as_u64().unwrap() as usize;
        for s in f.sentences() {
            let (greedy, _) = search_with(e, &options_to(f, 1, short), s);
            assert_eq!(
                greedy,
                ids(&s["short_greedy_ids"]),
                "{}: greedy ids (max_length {short}) of {:?}",
                f.name,
                s["source"]
            );
            check_nbest(e, f, &options_to(f, 4, short), s, &s["short_beam4_nbest"]);
        }
    });
}

/// Every finished hypothesis, best first, as HF returns them: ids and scores.
fn check_nbest(e: &Engine<'_>, f: &Fixture, opts: &Options, s: &Value, want: &Value) {
    let src = &ids(&s["source_ids"]);
    let lim = limits(e, opts.beam);
    let mut ws = vec![0u8; decode::workspace_bytes(&e.model, &lim)];
    let mut nbest: Vec<(Vec<u32>, f32)> = Vec::new();
    beam::search(
        &e.model,
        &mut ws,
        &lim,
        src,
        &special(e, s),
        opts,
        |toks, sc| {
            nbest.push((toks.to_vec(), sc));
            Ok(())
        },
    )
    .unwrap();
    nbest.sort_by(|a, b| b.1.total_cmp(&a.1));
    let want: Vec<&Value> = want.as_array().unwrap().iter().collect();
    assert_eq!(nbest.len(), want.len(), "{}: n-best size", f.name);
    for (k, ((toks, sc), w)) in nbest.iter().zip(&want).enumerate() {
        let ws_ = w["score"].as_f64().unwrap();
        assert!(
            (*sc as f64 - ws_).abs() <= 1e-4 * ws_.abs().max(1.0),
            "{}: n-best {k} score {sc} vs {ws_}",
            f.name
        );
        // Equal scores may come in either order; ids must match when scores differ.
        let tie = want
            .iter()
            .filter(|o| (o["score"].as_f64().unwrap() - ws_).abs() < 1e-6)
            .count()
            > 1;
        if !tie {
            assert_eq!(toks, &ids(&w["ids"]), "{}: n-best {k} ids", f.name);
        }
    }
}

/// fp16 and int8 against HF's f32 model: logits error relative to the row's scale (the
/// tolerances documented in docs/gguf-format.md) and top-1 agreement with HF under teacher
/// forcing on HF's greedy path, over every step of every sentence.
#[test]
fn quantized_models_stay_close_to_hf() {
    // int8 is asserted at 96%, below the 99% target: see docs/gguf-format.md ("Accuracy").
    for (precision, tol, min_agree) in [(Precision::F16, 2e-3, 0.99), (Precision::Int8, 5e-2, 0.96)]
    {
        each_fixture(|f| {
            let t = model(&f.name, precision);
            let e = t.engine();
            let (mut agree, mut total, mut worst) = (0usize, 0usize, 0f64);
            for (i, s) in f.sentences().iter().enumerate() {
                let (_, top1) = f.tensor(&format!("t{i}")).unwrap();
                let greedy = ids(&s["greedy_ids"]);
                let mut inputs = vec![e.special.decoder_start];
                inputs.extend(&greedy[..top1.len() - 1]);
                let rows = forced_logits(e, &ids(&s["source_ids"]), &inputs);
                for (row, &want) in rows.iter().zip(&top1) {
                    agree += (argmax(row) == want as usize) as usize;
                    total += 1;
                }
                if let Some((shape, want)) = f.tensor(&format!("s{i}")) {
                    let v = shape[1];
                    let (_, d) = f.tensor(&format!("d{i}")).unwrap();
                    let d: Vec<u32> = d.iter().map(|&x| x as u32).collect();
                    for (step, row) in forced_logits(e, &ids(&s["source_ids"]), &d)
                        .iter()
                        .enumerate()
                    {
                        let want = &want[step * v..(step + 1) * v];
                        let scale = want.iter().fold(0f64, |m, x| m.max(x.abs()));
                        let err = row
                            .iter()
                            .zip(want)
                            .fold(0f64, |m, (a, b)| m.max((*a as f64 - b).abs()));
                        worst = worst.max(err / scale);
                    }
                }
            }
            let rate = agree as f64 / total as f64;
            eprintln!("{} {precision:?}: top-1 agreement {agree}/{total} = {:.2}%, worst logit error {:.2e} of scale", f.name, rate * 100.0, worst);
            assert!(
                rate >= min_agree,
                "{} {precision:?}: top-1 agreement {:.2}% < {:.0}%",
                f.name,
                rate * 100.0,
                min_agree * 100.0
            );
            assert!(
                worst <= tol,
                "{} {precision:?}: logit error {worst:.2e} of scale > {tol:.0e}",
                f.name
            );
        });
    }
}

/// `no_repeat_ngram_size` and `min_length` (and on bart-tiny a summarizer's `length_penalty` 2
/// and `early_stopping`) from a checkpoint's generation_config.json reach the search through the
/// file (convert writes them, the engine's options carry them) and give Hugging Face's outputs: greedy ids and the beam-4 n-best with scores, recorded by
/// `models/record_generation_settings.py` on the single-pair fixtures (the tiny models repeat
/// themselves on long sentences, so the ban changes most outputs there).
#[test]
fn generation_settings_from_the_checkpoint_give_hf_outputs() {
    let mut checked = 0;
    for f in fixtures() {
        let dir = tern_e2e::root().join("models/fixtures").join(&f.name);
        let Ok(bytes) = std::fs::read(dir.join("generation_settings.json")) else {
            continue;
        };
        let rec: Value = serde_json::from_slice(&bytes).unwrap();
        let copy = tern_e2e::scratch().join(format!("generation-settings-{}", f.name));
        let _ = std::fs::remove_dir_all(&copy);
        std::fs::create_dir_all(&copy).unwrap();
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            std::fs::copy(e.path(), copy.join(e.file_name())).unwrap();
        }
        let path = copy.join("generation_config.json");
        let mut gen: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        for (k, v) in rec["settings"].as_object().unwrap() {
            gen[k] = v.clone();
        }
        std::fs::write(&path, gen.to_string()).unwrap();
        let t = tern::Translator::from_bytes(&tern_e2e::convert(&copy, Precision::F32)).unwrap();
        let e = t.engine();
        let settings = &rec["settings"];
        let from_file = e.options(&limits(e, 4));
        let min_length = settings["min_length"].as_u64().unwrap() as usize;
        let ngram = settings["no_repeat_ngram_size"].as_u64().unwrap() as usize;
        let penalty = settings["length_penalty"]
            .as_f64()
            .unwrap_or(f.gen("length_penalty").as_f64().unwrap_or(1.0))
            as f32;
        let early = settings["early_stopping"]
            .as_bool()
            .unwrap_or(f.gen("early_stopping").as_bool().unwrap_or(false));
        assert_eq!(
            (
                from_file.min_len,
                from_file.no_repeat_ngram,
                from_file.length_penalty,
                from_file.early_stopping
            ),
            (min_length - 1, ngram, penalty, early),
            "{}: the file's settings",
            f.name
        );
        for (s, want) in f
            .sentences()
            .iter()
            .zip(rec["sentences"].as_array().unwrap())
        {
            assert_eq!(s["source"], want["source"]);
            for beam in [1, 4] {
                let opts = Options {
                    min_len: from_file.min_len,
                    no_repeat_ngram: from_file.no_repeat_ngram,
                    length_penalty: from_file.length_penalty,
                    early_stopping: from_file.early_stopping,
                    ..options(&f, beam)
                };
                if beam == 1 {
                    let (got, _) = search_with(e, &opts, s);
                    assert_eq!(
                        got,
                        ids(&want["greedy_ids"]),
                        "{}: greedy ids of {:?} with {settings}",
                        f.name,
                        s["source"]
                    );
                } else {
                    check_nbest(e, &f, &opts, s, &want["beam4_nbest"]);
                }
            }
            checked += 1;
        }
    }
    // t5-tiny's 84, marian-tiny-en-de's 42 and bart-tiny's 42 (only Marian's in emulated runs).
    assert!(checked >= 42, "only {checked} entries checked");
}
