//! Attention against Hugging Face: on every fixture, tern's cross-attention (every layer and
//! head) and encoder self-attention, teacher-forced on tern's own greedy output, are within 1e-5
//! of what transformers' `output_attentions` gives on that output
//! (`models/record_hf_attention.py` recorded it in each fixture's attention.safetensors). And the
//! library's and CLI's views of them: one JSON object per source sentence, Pharaoh alignments,
//! heatmaps that parse.

use serde_json::Value;
use std::path::Path;
use tern_convert::Precision;
use tern_core::decode::{self, Options};
use tern_core::model::Seq2Seq;
use tern_core::plan::Limits;
use tern_e2e::ids;

/// A tensor's shape and values.
type Tensor = (Vec<usize>, Vec<f32>);

/// Tensors `c<i>` / `e<i>` of a fixture's attention.safetensors: (i, cross, encoder).
fn recorded(dir: &Path) -> Vec<(usize, Tensor, Tensor)> {
    let bytes = std::fs::read(dir.join("attention.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let read = |name: &str| {
        let t = st.tensor(name).unwrap();
        let v = t
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        (t.shape().to_vec(), v)
    };
    let mut sentences: Vec<usize> = st
        .names()
        .iter()
        .filter_map(|n| n.strip_prefix('c')?.parse().ok())
        .collect();
    sentences.sort_unstable();
    sentences
        .into_iter()
        .map(|i| (i, read(&format!("c{i}")), read(&format!("e{i}"))))
        .collect()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn f32_attention_within_1e5_of_hf_on_every_layer_and_head() {
    let dirs: Vec<_> = tern_e2e::marian_fixtures()
        .into_iter()
        .chain(tern_e2e::m2m100_fixtures())
        .chain(tern_e2e::t5_fixtures())
        .chain(tern_e2e::bart_fixtures())
        .collect();
    let (mut checked, mut worst) = (0, 0f32);
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let expected: Value =
            serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
        let t = tern::Translator::from_bytes(&tern_e2e::convert(dir, Precision::F32)).unwrap();
        let e = t.engine();
        let max_len = expected["generation"]["max_length"].as_u64().unwrap() as usize - 1;
        let limits = Limits {
            max_src: 512.min(e.model.max_positions()),
            max_tgt: 128.min(e.model.max_positions()),
            beam: 1,
            batch: 1,
        };
        let mut ws = vec![0u8; decode::workspace_bytes(&e.model, &limits)];
        for (i, (cs, cross_hf), (es, enc_hf)) in recorded(dir) {
            let s = &expected["sentences"][i];
            let langs = e
                .languages(s["src_lang"].as_str(), s["tgt_lang"].as_str())
                .unwrap();
            let src = ids(&s["source_ids"]);
            // tern's own greedy output, which must be HF's (the recording's decoder inputs).
            let mut out = vec![0u32; limits.max_tgt];
            let hyp = e
                .generate_to(
                    &mut ws,
                    &limits,
                    &Options::greedy(max_len),
                    &langs,
                    &src,
                    &mut out,
                )
                .unwrap();
            let output = &out[..hyp.len];
            assert_eq!(
                output,
                &ids(&s["greedy_ids"])[..],
                "{name} #{i}: greedy ids"
            );
            let sizes = e.model.attention_sizes(src.len(), output.len());
            let (mut cross, mut enc) = (vec![0f32; sizes.cross], vec![0f32; sizes.encoder]);
            e.attention(
                &mut ws,
                &limits,
                &langs,
                &src,
                output,
                &mut cross,
                Some(&mut enc),
            )
            .unwrap();
            let (dec, encs) = (&e.model.spec.decoder, &e.model.spec.encoder);
            assert_eq!(
                cs,
                [dec.layers, dec.heads, output.len(), src.len()],
                "{name} #{i}"
            );
            assert_eq!(
                es,
                [encs.layers, encs.heads, src.len(), src.len()],
                "{name} #{i}"
            );
            let (dc, de) = (max_diff(&cross, &cross_hf), max_diff(&enc, &enc_hf));
            assert!(
                dc <= 1e-5,
                "{name} #{i}: cross-attention differs from HF by {dc}"
            );
            assert!(
                de <= 1e-5,
                "{name} #{i}: encoder attention differs from HF by {de}"
            );
            checked += 1;
            worst = worst.max(dc).max(de);
        }
    }
    eprintln!("{checked} sentences; largest difference from HF: {worst:e}");
    assert!(checked >= 4 * 8, "only {checked} sentences recorded");
}

/// A fixture converted for a CLI test: each test has its own file (`test`), since rewriting a
/// file another test has mapped would pull it from under that test.
fn cli_model(name: &str, test: &str) -> std::path::PathBuf {
    let path = tern_e2e::scratch().join(format!("attention-{test}-{name}.gguf"));
    let dir = tern_e2e::root().join("models/fixtures").join(name);
    std::fs::write(&path, tern_e2e::convert(&dir, Precision::F32)).unwrap();
    path
}

fn tern_cmd() -> std::process::Command {
    std::process::Command::new(tern_e2e::bin("tern"))
}

/// Words of pieces as `tern::attention::words` counts them, specials excluded.
fn word_count(words: &[Option<usize>]) -> usize {
    words.iter().flatten().max().map_or(0, |w| w + 1)
}

#[test]
fn cli_writes_one_json_object_per_sentence_and_pharaoh_alignments() {
    for (name, langs) in [
        ("marian-tiny-en-de", &[][..]),
        (
            "nllb-tiny",
            &["--source-lang", "eng_Latn", "--target-lang", "por_Latn"][..],
        ),
    ] {
        let model = cli_model(name, "json");
        let json = tern_e2e::scratch().join(format!("attention-{name}.jsonl"));
        let input = "Where is the train station?\n\nThe cat is sleeping on the warm windowsill.\n";
        let (ok, plain, err) = tern_e2e::run(
            tern_cmd()
                .arg("translate")
                .arg("-m")
                .arg(&model)
                .args(langs),
            input.as_bytes(),
        );
        assert!(ok, "{err}");
        let (ok, out, err) = tern_e2e::run(
            tern_cmd()
                .arg("translate")
                .arg("-m")
                .arg(&model)
                .args(langs)
                .arg("--alignment")
                .arg("--attention")
                .arg(&json),
            input.as_bytes(),
        );
        assert!(ok, "{name}: {err}");
        let out = String::from_utf8(out).unwrap();
        let plain = String::from_utf8(plain).unwrap();
        let lines: Vec<&str> = input.lines().collect();
        assert_eq!(out.lines().count(), lines.len());
        // The library's view, to compare the CLI's JSON and alignments with.
        let t = tern::Translator::open(&model)
            .unwrap()
            .with_settings(tern::Settings {
                source_lang: langs.get(1).map(|s| s.to_string()),
                target_lang: langs.get(3).map(|s| s.to_string()),
                ..Default::default()
            });
        let mut session = t.session();
        let records: Vec<Value> = std::fs::read_to_string(&json)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            records.len(),
            2,
            "{name}: one object per non-blank sentence"
        );
        let mut record = records.iter();
        for (n, ((line, got), plain)) in
            lines.iter().zip(out.lines()).zip(plain.lines()).enumerate()
        {
            let (text, pairs) = got.split_once(" ||| ").expect("translation ||| alignment");
            assert_eq!(
                text, plain,
                "{name}: same translation with and without --alignment"
            );
            let (o, maps) = session.translate_attended(line, false).unwrap();
            assert_eq!(o.text, text);
            let mut want = Vec::new();
            for a in &maps {
                want.extend(a.word_alignment());
                let r = record.next().unwrap();
                assert_eq!(r["line"], n + 1);
                assert_eq!(r["source"], serde_json::json!(a.source));
                assert_eq!(r["target"], serde_json::json!(a.target));
                assert_eq!(a.source.last().map(String::as_str), Some("</s>"));
                let cross = &r["cross_attention"];
                let values: Vec<f32> = cross
                    .as_array()
                    .unwrap()
                    .iter()
                    .flat_map(|l| l.as_array().unwrap())
                    .flat_map(|h| h.as_array().unwrap())
                    .flat_map(|t| t.as_array().unwrap())
                    .map(|v| v.as_f64().unwrap() as f32)
                    .collect();
                assert_eq!(
                    values, a.cross.values,
                    "{name}: JSON numbers read back exactly"
                );
                assert_eq!(cross[0][0].as_array().unwrap().len(), a.target.len());
                assert_eq!(cross[0][0][0].as_array().unwrap().len(), a.source.len());
                for (s, t) in a.word_alignment() {
                    assert!(s < word_count(&a.source_words) && t < word_count(&a.target_words));
                }
            }
            assert_eq!(
                pairs,
                tern::attention::pharaoh(&want),
                "{name} line {}",
                n + 1
            );
            assert_eq!(pairs.is_empty(), line.is_empty());
        }
        if name == "nllb-tiny" {
            // Language tokens are in the pieces but in no word.
            let r = &records[0];
            assert_eq!(r["source"][0], "eng_Latn");
            assert_eq!(r["target"][0], "por_Latn");
        }
    }
}

#[test]
fn cli_draws_heatmaps_that_parse() {
    let model = cli_model("marian-tiny-en-de", "svg");
    let dir = tern_e2e::scratch();
    let t = tern::Translator::open(&model).unwrap();
    let sentence = "Please close the door when you leave the room.";
    let (_, maps) = t.session().translate_attended(sentence, true).unwrap();
    let a = &maps[0];
    for (flags, file, panels, rows) in [
        (&[][..], "attention-avg.svg", 1, a.target.len()),
        (
            &["--all"][..],
            "attention-all.svg",
            a.cross.layers * a.cross.heads,
            a.target.len(),
        ),
        (
            &["--self", "--all"][..],
            "attention-self.svg",
            2 * 4,
            a.source.len(),
        ),
        (&[][..], "attention-page.html", 1, a.target.len()),
    ] {
        let path = dir.join(file);
        let (ok, out, err) = tern_e2e::run(
            tern_cmd()
                .arg("attention")
                .arg("-m")
                .arg(&model)
                .arg(sentence)
                .arg("-o")
                .arg(&path)
                .args(flags),
            b"",
        );
        assert!(ok, "{file}: {err}");
        assert_eq!(String::from_utf8(out).unwrap().trim(), a.text);
        let doc = std::fs::read_to_string(&path).unwrap();
        let svg = match file.ends_with(".html") {
            true => &doc[doc.find("<svg").unwrap()..doc.rfind("</svg>").unwrap() + 6],
            false => &doc[..],
        };
        let xml = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("{file}: {e}"));
        let has = |n: &roxmltree::Node, class: &str| n.attribute("class") == Some(class);
        let count = |class: &str| xml.descendants().filter(|n| has(n, class)).count();
        assert_eq!(count("panel"), panels, "{file}");
        assert_eq!(count("cell"), panels * rows * a.source.len(), "{file}");
        assert_eq!(count("row"), panels * rows, "{file}");
        assert_eq!(count("col"), panels * a.source.len(), "{file}");
        // The darkest cell of the average is the average's largest weight.
        if panels == 1 && !flags.contains(&"--self") {
            let avg = a.cross.average();
            let best = avg.iter().cloned().fold(0f32, f32::max);
            let label = format!("{best:.3}");
            let title = xml
                .descendants()
                .filter(|n| has(n, "cell"))
                .filter_map(|n| n.first_element_child()?.text())
                .any(|t| t.ends_with(&label));
            assert!(title, "{file}: no cell titled {label}");
        }
    }
}

#[test]
fn cli_refuses_what_it_cannot_draw() {
    let model = cli_model("marian-tiny-en-de", "refuse");
    let out = tern_e2e::scratch().join("attention-blank.svg");
    let (ok, _, err) = tern_e2e::run(
        tern_cmd()
            .arg("attention")
            .arg("-m")
            .arg(&model)
            .arg("  ")
            .arg("-o")
            .arg(&out),
        b"",
    );
    assert!(!ok && err.contains("blank"), "{err}");
    // An HF model has no head trained to align.
    let (ok, _, err) = tern_e2e::run(
        tern_cmd()
            .arg("attention")
            .arg("-m")
            .arg(&model)
            .arg("Hi.")
            .arg("--aligned")
            .arg("-o")
            .arg(&out),
        b"",
    );
    assert!(!ok && err.contains("no head trained to align"), "{err}");
    let (ok, _, err) = tern_e2e::run(
        tern_cmd()
            .arg("translate")
            .arg("-m")
            .arg(&model)
            .args(["--attention", "/nonexistent-dir/a.jsonl"]),
        b"Hi.\n",
    );
    assert!(!ok && err.contains("/nonexistent-dir/a.jsonl"), "{err}");
    let (ok, _, err) = tern_e2e::run(
        tern_cmd()
            .arg("translate")
            .arg("-m")
            .arg(&model)
            .args(["--alignment", "--threads", "2"]),
        b"Hi.\n",
    );
    assert!(!ok && err.contains("cannot be used with"), "{err}");
    // A malformed fragment is said, and its line left empty; the others are translated.
    let (ok, out, err) = tern_e2e::run(
        tern_cmd()
            .arg("translate")
            .arg("-m")
            .arg(&model)
            .arg("--html"),
        b"a <b>x</i>\nThe <b>cat</b> is sleeping.\n",
    );
    assert!(
        ok && err.contains("line 1: bad HTML at byte 6: </i> closes <b>"),
        "{err}"
    );
    let out = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "");
    assert!(
        lines[1].contains("<b>") && lines[1].contains("</b>"),
        "{out}"
    );
}

/// `--html` on an HF model (alignments from the average of its heads): well-formed output that
/// keeps every element, and the words of the plain translation.
#[test]
fn html_on_an_hf_model_keeps_every_element() {
    let model = cli_model("marian-tiny-en-de", "html");
    let t = tern::Translator::open(&model).unwrap();
    let mut session = t.session();
    for html in [
        "The <b>cat</b> is sleeping on the <i>warm</i> windowsill.",
        "<a href=\"/x\">Thank you</a> very much.<br>Where is the <em>train station</em>?",
        "Please close the door &amp; leave.<!-- note -->",
    ] {
        let got = session.translate_html(html).unwrap().text;
        tern_e2e::assert_markup_kept(html, &got);
        let source = tern::markup::parse(html).unwrap();
        // The words are the blocks' plain translations.
        let words = |s: &str| -> String {
            tern::markup::parse(s)
                .unwrap()
                .text
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        };
        let plain: Vec<String> = source
            .blocks()
            .iter()
            .map(|b| session.translate(&source.text[b.clone()]).unwrap().text)
            .collect();
        // (A block tag separates blocks; their words do not run together.)
        assert_eq!(
            words(&got.replace("<br>", " ")),
            words(&plain.join(" ")),
            "{html}"
        );
    }
}
