//! Bad input from users: broken checkpoints given to `convert`, and hostile text given to
//! `tern translate`. Each gets a clear error (or, for text, a translation per line) and nothing
//! is lost or left half-written.

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A copy of a checkpoint directory (small files copied, so each case can damage its own).
fn copy_dir(from: &Path, name: &str) -> PathBuf {
    let to = tern_e2e::scratch().join("bad-input").join(name);
    let _ = std::fs::remove_dir_all(&to);
    std::fs::create_dir_all(&to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        if e.path().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
    to
}

/// Rewrites `model.safetensors` in `dir` through `edit(name, dtype, shape, data)`, which may
/// drop a tensor (None) or change it.
fn rewrite_tensors(
    dir: &Path,
    edit: impl Fn(&str, Dtype, Vec<usize>, Vec<u8>) -> Option<(Dtype, Vec<usize>, Vec<u8>)>,
) {
    let path = dir.join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut kept: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, t) in st.tensors() {
        if let Some((d, s, b)) = edit(&name, t.dtype(), t.shape().to_vec(), t.data().to_vec()) {
            kept.push((name, d, s, b));
        }
    }
    let views: Vec<(String, TensorView<'_>)> = kept
        .iter()
        .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    std::fs::write(&path, safetensors::serialize(views, &None).unwrap()).unwrap();
}

/// Sets element 3 of one f32 tensor to `v`.
fn poison(dir: &Path, target: &'static str, v: f32) {
    rewrite_tensors(dir, |name, d, s, mut b| {
        if name == target {
            assert_eq!(d, Dtype::F32, "the fixture stores f32");
            b[12..16].copy_from_slice(&v.to_le_bytes());
        }
        Some((d, s, b))
    });
}

/// Runs `convert` on `dir`; it must fail with a message containing `want`, and leave neither the
/// output file nor a temporary file behind.
fn convert_fails(dir: &Path, args: &[&str], want: &str) {
    let out_dir = dir.join("out");
    let _ = std::fs::remove_dir_all(&out_dir);
    std::fs::create_dir_all(&out_dir).unwrap();
    let out = out_dir.join("model.gguf");
    let (ok, _, stderr) = tern_e2e::run(
        Command::new(tern_e2e::bin("convert"))
            .args(args)
            .arg(dir)
            .arg("-o")
            .arg(&out),
        b"",
    );
    assert!(!ok, "convert accepted {}", dir.display());
    assert!(
        stderr.contains(want),
        "{}: expected an error naming {want:?}, got: {stderr}",
        dir.display()
    );
    let left: Vec<_> = std::fs::read_dir(&out_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "convert left {left:?} behind");
}

/// Generation settings transformers applies and tern does not are reported, not dropped:
/// `convert` warns of each and the file lists them (`tern inspect` shows the list).
#[test]
fn convert_reports_generation_settings_it_does_not_apply() {
    let d = copy_dir(&tern_e2e::marian_fixtures()[0], "generation-not-applied");
    let path = d.join("generation_config.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    v["encoder_no_repeat_ngram_size"] = 3.into();
    v["min_new_tokens"] = 4.into();
    v["repetition_penalty"] = 1.0.into(); // the neutral value: not reported
    v["no_repeat_ngram_size"] = 2.into(); // applied: not reported
    std::fs::write(&path, v.to_string()).unwrap();
    let out = d.join("model.gguf");
    let (ok, _, stderr) = tern_e2e::run(
        Command::new(tern_e2e::bin("convert"))
            .args(["--int8", "--force"])
            .arg(&d)
            .arg("-o")
            .arg(&out),
        b"",
    );
    assert!(ok, "{stderr}");
    for setting in ["encoder_no_repeat_ngram_size = 3", "min_new_tokens = 4"] {
        assert!(
            stderr.contains(&format!(
                "generation config sets {setting}, which tern does not apply"
            )),
            "{stderr}"
        );
    }
    assert!(!stderr.contains("repetition_penalty"), "{stderr}");
    assert!(
        !stderr.contains("which tern does not apply: no_repeat"),
        "{stderr}"
    );
    let (ok, stdout, stderr) = tern_e2e::run(
        Command::new(tern_e2e::bin("tern")).arg("inspect").arg(&out),
        b"",
    );
    assert!(ok, "{stderr}");
    let stdout = String::from_utf8_lossy(&stdout);
    assert!(
        stdout.contains(
            r#"generation.not_applied = ["encoder_no_repeat_ngram_size = 3", "min_new_tokens = 4"]"#
        ),
        "{stdout}"
    );
}

#[test]
fn convert_refuses_broken_hf_checkpoints() {
    let fixture = &tern_e2e::marian_fixtures()[0];
    let up = "model.encoder.layers.0.fc1.weight";

    let d = copy_dir(fixture, "missing-tensor");
    rewrite_tensors(&d, |n, dt, s, b| (n != up).then_some((dt, s, b)));
    convert_fails(&d, &["--int8"], up);

    let d = copy_dir(fixture, "shape-mismatch");
    rewrite_tensors(&d, |n, dt, s, b| {
        if n != up {
            return Some((dt, s, b));
        }
        // One row fewer: a tensor from a different model size.
        let row = s[1] * 4;
        Some((dt, vec![s[0] - 1, s[1]], b[..b.len() - row].to_vec()))
    });
    convert_fails(&d, &["--int8"], "has shape");

    let d = copy_dir(fixture, "unknown-activation");
    let cfg = std::fs::read_to_string(d.join("config.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&cfg).unwrap();
    v["activation_function"] = "mish".into();
    std::fs::write(d.join("config.json"), v.to_string()).unwrap();
    convert_fails(&d, &[], "unknown activation_function \"mish\"");

    // Found by the checkpoint fuzzer: a config the converter read but the engine refuses
    // (5 heads do not divide d_model 64) must fail at conversion, not on the device.
    let d = copy_dir(fixture, "heads-do-not-divide");
    let cfg = std::fs::read_to_string(d.join("config.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&cfg).unwrap();
    v["encoder_attention_heads"] = 5.into();
    std::fs::write(d.join("config.json"), v.to_string()).unwrap();
    convert_fails(&d, &["--int8"], "transformer.encoder.heads");

    let d = copy_dir(fixture, "nan");
    poison(&d, up, f32::NAN);
    convert_fails(&d, &["--int8"], "non-finite value (NaN)");
    let d = copy_dir(fixture, "inf");
    poison(
        &d,
        "model.decoder.layers.0.self_attn.q_proj.weight",
        f32::INFINITY,
    );
    convert_fails(&d, &["--fp16"], "non-finite value (inf)");

    let d = copy_dir(fixture, "truncated-safetensors");
    let st = std::fs::read(d.join("model.safetensors")).unwrap();
    std::fs::write(d.join("model.safetensors"), &st[..st.len() * 2 / 3]).unwrap();
    convert_fails(&d, &["--int8"], "not a valid safetensors file");

    let d = copy_dir(fixture, "bad-json");
    let cfg = std::fs::read(d.join("config.json")).unwrap();
    std::fs::write(d.join("config.json"), &cfg[..cfg.len() / 2]).unwrap();
    convert_fails(&d, &["--int8"], "config.json is not valid JSON");

    // Found by the checkpoint fuzz target: a token id outside the vocabulary used to convert
    // into a file the engine then refused.
    let d = copy_dir(fixture, "bad-token-id");
    let gen = std::fs::read_to_string(d.join("generation_config.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&gen).unwrap();
    v["bad_words_ids"] = serde_json::json!([[3718]]);
    std::fs::write(d.join("generation_config.json"), v.to_string()).unwrap();
    convert_fails(&d, &["--int8"], "bad_words_ids = 3718 is not a token id");

    let d = copy_dir(fixture, "no-vocabulary");
    std::fs::remove_file(d.join("source.spm")).unwrap();
    convert_fails(&d, &["--int8"], "source.spm");

    // BART's byte-level tokenizer: settings tern would not run as HF does, and broken tables.
    let bart = &tern_e2e::bart_fixtures()[0];
    let edit_json = |d: &Path, file: &str, edit: &dyn Fn(&mut serde_json::Value)| {
        let mut v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(d.join(file)).unwrap()).unwrap();
        edit(&mut v);
        std::fs::write(d.join(file), v.to_string()).unwrap();
    };
    let d = copy_dir(bart, "bart-prefix-space");
    edit_json(&d, "tokenizer_config.json", &|v| {
        v["add_prefix_space"] = true.into()
    });
    convert_fails(&d, &[], "add_prefix_space");
    let d = copy_dir(bart, "bart-merge-out-of-vocabulary");
    edit_json(&d, "tokenizer.json", &|v| {
        v["model"]["merges"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!(["q", "zzz"]))
    });
    convert_fails(
        &d,
        &[],
        "a merge joins pieces, or makes one, that the vocabulary lacks",
    );
    let d = copy_dir(bart, "bart-bad-merges-txt");
    std::fs::remove_file(d.join("tokenizer.json")).unwrap();
    std::fs::write(d.join("merges.txt"), "#version: 0.2\nĠ t h\n").unwrap();
    convert_fails(&d, &[], "merges.txt line 2");
    let d = copy_dir(bart, "bart-normalizer");
    edit_json(&d, "tokenizer.json", &|v| {
        v["normalizer"] = serde_json::json!({"type": "NFC"})
    });
    convert_fails(&d, &[], "not BART's byte-level setup");
}

#[test]
fn convert_refuses_broken_marian_models() {
    let real = tern_e2e::downloaded("enpt");
    let file = |d: &Path, suffix: &str| {
        std::fs::read_dir(d)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().ends_with(suffix))
            .unwrap()
    };

    let d = copy_dir(&real, "marian-truncated");
    let model = file(&d, ".bin");
    let model = if model.to_string_lossy().contains("lex.") {
        file(&d, "alphas.bin")
    } else {
        model
    };
    let bytes = std::fs::read(&model).unwrap();
    std::fs::write(&model, &bytes[..bytes.len() / 2]).unwrap();
    convert_fails(&d, &[], "is not a valid Marian model: truncated");

    let d = copy_dir(&real, "marian-shortlist");
    let lex = file(&d, "s2t.bin");
    let mut bytes = std::fs::read(&lex).unwrap();
    let at = bytes.len() - 5;
    bytes[at] ^= 1;
    std::fs::write(&lex, &bytes).unwrap();
    convert_fails(&d, &[], "checksum");
}

/// Lines nobody planned for; the 100k-character ones exercise the over-long path.
fn hostile_lines() -> Vec<Vec<u8>> {
    let long_text =
        "The river rose after the storm, and the old bridge closed for a week. ".repeat(1430);
    vec![
        b"A normal sentence to start with.".to_vec(),
        b"".to_vec(),
        b"NUL\0in the\0middle".to_vec(),
        b"\x07bell, \x1b[31mANSI escape\x1b[0m, tab\tand\x0bvertical tab, form\x0cfeed".to_vec(),
        b"invalid \xff\xfe UTF-8 \xc3( here".to_vec(),
        "Mixed scripts: Tokyo 東京, Москва, القاهرة, नई दिल्ली, 👩‍👩‍👧 e\u{301}\u{301}".into(),
        "\u{feff}\u{200b}\u{202e}reversed\u{202c} and a line\u{2028}separator".into(),
        b"   \t  ".to_vec(),
        long_text.as_bytes()[..100_000].to_vec(),
        "a".repeat(100_000).into_bytes(),
        "\u{fffd}".repeat(2000).into_bytes(),
        b"Last line.".to_vec(),
    ]
}

/// Translates the hostile lines with the CLI: exit 0, one output line per input line, plain
/// sentences still translated, warnings on stderr, no control characters leaking into the
/// line structure.
fn hostile_text(model: &Path, extra: &[&str]) -> (Vec<String>, String) {
    let lines = hostile_lines();
    let mut input = lines.join(&b'\n');
    input.extend_from_slice(b"\r\n"); // a CRLF ending too
    let (ok, stdout, stderr) = tern_e2e::run(
        Command::new(tern_e2e::bin("tern"))
            .args(["translate", "--beam", "1", "-m"])
            .arg(model)
            .args(extra),
        &input,
    );
    assert!(ok, "tern failed: {stderr}");
    let out = String::from_utf8(stdout).expect("tern writes UTF-8");
    let got: Vec<String> = out.split('\n').map(str::to_owned).collect();
    assert_eq!(
        got.last().map(String::as_str),
        Some(""),
        "output ends with a newline"
    );
    let got = got[..got.len() - 1].to_vec();
    assert_eq!(got.len(), lines.len(), "one output line per input line");
    assert!(stderr.contains("line 5: invalid UTF-8"), "{stderr}");
    for (i, (line, o)) in lines.iter().zip(&got).enumerate() {
        assert!(
            !o.contains('\r'),
            "line {}: carriage return in the output",
            i + 1
        );
        if line.iter().all(u8::is_ascii_whitespace) {
            assert_eq!(o.trim(), "", "line {}: blank in, blank out", i + 1);
        }
    }
    assert!(!got[0].is_empty() && !got[11].is_empty());
    (got, stderr)
}

#[test]
fn hostile_text_with_a_tiny_model() {
    let fixture = &tern_e2e::marian_fixtures()[0];
    let model = tern_e2e::scratch().join("bad-input-fixture.gguf");
    std::fs::write(
        &model,
        tern_e2e::convert(fixture, tern_convert::Precision::Int8),
    )
    .unwrap();
    let (_, stderr) = hostile_text(&model, &["--max-src-len", "64", "--threads", "2"]);
    // HF models cut over-long lines to --max-src-len and say which.
    for n in [9, 10] {
        assert!(
            stderr.contains(&format!("line {n}: longer than --max-src-len")),
            "line {n} is reported as cut: {stderr}"
        );
    }
}

#[test]
fn hostile_text_with_the_real_model() {
    let real = tern_e2e::downloaded("enpt");
    let model = tern_e2e::scratch().join("bad-input-enpt.gguf");
    std::fs::write(
        &model,
        tern_convert::build(&real, None, true).expect("converts"),
    )
    .unwrap();
    let (got, stderr) = hostile_text(&model, &["--threads", "2"]);
    // Bergamot models split the long line into sentences and translate all of them.
    let sentences = got[8].matches('.').count();
    assert!(
        sentences > 1000,
        "the 100k-character line is translated whole ({sentences} sentences)"
    );
    assert!(!stderr.contains("line 9"), "{stderr}");
}
