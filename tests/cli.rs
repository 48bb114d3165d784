//! The `convert` and `tern` commands as a user runs them.

use std::process::Command;

fn run(cmd: &mut Command, stdin: &[u8]) -> (bool, String, String) {
    let (ok, out, err) = tern_e2e::run(cmd, stdin);
    (ok, String::from_utf8_lossy(&out).into_owned(), err)
}

#[test]
fn convert_then_translate_and_inspect() {
    let fixture = &tern_e2e::marian_fixtures()[0];
    let dir = tern_e2e::scratch();
    let model = dir.join("cli-int8.gguf");
    let _ = std::fs::remove_file(&model);
    let convert = tern_e2e::bin("convert");
    let tern = tern_e2e::bin("tern");

    let (ok, stdout, stderr) = run(
        Command::new(&convert)
            .arg("--int8")
            .arg(fixture)
            .arg("-o")
            .arg(&model),
        b"",
    );
    assert!(ok, "convert failed: {stderr}");
    assert!(
        stdout.contains("memory plan"),
        "convert prints the memory summary: {stdout}"
    );
    assert!(
        stdout.contains("i8"),
        "summary lists int8 tensors: {stdout}"
    );

    // Refuses to overwrite without --force, and leaves the file intact.
    let before = std::fs::read(&model).unwrap();
    let (ok, _, stderr) = run(
        Command::new(&convert)
            .arg("--int8")
            .arg(fixture)
            .arg("-o")
            .arg(&model),
        b"",
    );
    assert!(!ok && stderr.contains("--force"), "{stderr}");
    assert_eq!(std::fs::read(&model).unwrap(), before);
    let (ok, _, stderr) = run(
        Command::new(&convert)
            .arg("--int8")
            .arg(fixture)
            .arg("-o")
            .arg(&model)
            .arg("--force"),
        b"",
    );
    assert!(ok, "{stderr}");

    // inspect prints the same memory figures as convert.
    let (ok, inspect, stderr) = run(Command::new(&tern).arg("inspect").arg(&model), b"");
    assert!(ok, "{stderr}");
    assert!(inspect.contains("architecture: transformer"), "{inspect}");
    assert!(inspect.contains("spec (marian):"), "{inspect}");
    assert!(inspect.contains("sublayers: post-norm"), "{inspect}");
    let plan = |s: &str| {
        s.lines()
            .find(|l| l.contains("workspace in all"))
            .map(str::to_owned)
    };
    assert_eq!(plan(&inspect), plan(&stdout));

    // One output line per input line, in order, the same as the library and with any thread count.
    let input =
        "Hello world.\n\nThe cat sits on the mat.\n   \nA broken line.\nLast line without newline";
    let mut bytes = input.as_bytes().to_vec();
    let pos = bytes.iter().position(|&b| b == b'A').unwrap() + 2;
    bytes.insert(pos, 0xff); // invalid UTF-8
    let (ok, one, stderr1) = run(
        Command::new(&tern)
            .args(["translate", "--beam", "1", "-m"])
            .arg(&model),
        &bytes,
    );
    assert!(ok, "{stderr1}");
    assert!(stderr1.contains("invalid UTF-8"), "{stderr1}");
    let lines: Vec<&str> = one.lines().collect();
    assert_eq!(lines.len(), 6, "{one:?}");
    assert_eq!(lines[1], "");
    assert_eq!(lines[3], "");
    let (ok, two, _) = run(
        Command::new(&tern)
            .args(["translate", "--beam", "1", "--threads", "2", "-m"])
            .arg(&model),
        &bytes,
    );
    assert!(ok);
    assert_eq!(one, two);
    let t = tern::Translator::open(&model)
        .unwrap()
        .with_settings(tern::Settings {
            beam: Some(1),
            ..Default::default()
        });
    assert_eq!(lines[0], t.translate("Hello world.").unwrap());
    assert_eq!(lines[2], t.translate("The cat sits on the mat.").unwrap());

    // --input / --output files.
    let (inp, outp) = (dir.join("cli-in.txt"), dir.join("cli-out.txt"));
    std::fs::write(&inp, &bytes).unwrap();
    let (ok, _, _) = run(
        Command::new(&tern)
            .args(["translate", "--beam", "1", "-m"])
            .arg(&model)
            .arg("--input")
            .arg(&inp)
            .arg("--output")
            .arg(&outp),
        b"",
    );
    assert!(ok);
    assert_eq!(std::fs::read_to_string(&outp).unwrap(), one);

    // --verify: the file's CRC-32 holds; one weight byte changed still loads, but fails it.
    let (ok, out, stderr) = run(
        Command::new(&tern)
            .arg("inspect")
            .arg("--verify")
            .arg(&model),
        b"",
    );
    assert!(ok && out.contains("checksum: ok"), "{out}{stderr}");
    let damaged = dir.join("cli-damaged.gguf");
    let mut bytes = std::fs::read(&model).unwrap();
    let at = bytes.len() - 100;
    bytes[at] ^= 0x10;
    std::fs::write(&damaged, &bytes).unwrap();
    let (ok, _, _) = run(Command::new(&tern).arg("inspect").arg(&damaged), b"");
    assert!(ok, "a changed weight is structurally valid");
    let (ok, _, stderr) = run(
        Command::new(&tern)
            .arg("inspect")
            .arg("--verify")
            .arg(&damaged),
        b"",
    );
    assert!(!ok && stderr.contains("checksum mismatch"), "{stderr}");

    // A file that is not a model: a clear error and a non-zero exit.
    let bogus = dir.join("cli-bogus.gguf");
    std::fs::write(&bogus, b"not a model at all").unwrap();
    let (ok, _, stderr) = run(Command::new(&tern).arg("inspect").arg(&bogus), b"");
    assert!(!ok && stderr.contains("not a GGUF file"), "{stderr}");
}

/// A multilingual model: languages from the command line or from the file, and a clear error
/// listing the model's codes when one is missing or unknown (before any input is read).
#[test]
fn multilingual_languages_from_flags_or_file() {
    let fixture = tern_e2e::root().join("models/fixtures/nllb-tiny");
    let dir = tern_e2e::scratch();
    let (plain, defaults) = (dir.join("cli-nllb.gguf"), dir.join("cli-nllb-en-pt.gguf"));
    let convert = tern_e2e::bin("convert");
    let tern = tern_e2e::bin("tern");
    let convert_with = |out: &std::path::Path, args: &[&str]| {
        let (ok, _, err) = run(
            Command::new(&convert)
                .args(["--int8", "--force", "-q"])
                .args(args)
                .arg(&fixture)
                .arg("-o")
                .arg(out),
            b"",
        );
        assert!(ok, "{err}");
    };
    convert_with(&plain, &[]);
    convert_with(
        &defaults,
        &["--source-lang", "eng_Latn", "--target-lang", "por_Latn"],
    );
    let (ok, _, err) = run(
        Command::new(&convert)
            .args(["--int8", "--force", "--target-lang", "xx_Latn"])
            .arg(&fixture)
            .arg("-o")
            .arg(dir.join("cli-nllb-bad.gguf")),
        b"",
    );
    assert!(
        !ok && err.contains("unknown language \"xx_Latn\"") && err.contains("por_Latn"),
        "{err}"
    );

    let text = b"The cat is sleeping on the warm windowsill.\nGood morning!\n";
    let translate = |model: &std::path::Path, args: &[&str]| {
        run(
            Command::new(&tern)
                .arg("translate")
                .arg("-m")
                .arg(model)
                .args(args),
            text,
        )
    };
    for (args, want) in [
        (&[][..], "needs a source language"),
        (
            &["--source-lang", "eng_Latn"][..],
            "needs a target language",
        ),
        (
            &["--source-lang", "eng_Latn", "--target-lang", "xx_Latn"][..],
            "unknown target language \"xx_Latn\"",
        ),
    ] {
        let (ok, out, err) = translate(&plain, args);
        assert!(!ok && out.is_empty(), "{args:?}: {out}");
        assert!(
            err.contains(want) && err.contains("deu_Latn"),
            "{args:?}: {err}"
        );
    }
    let pt = &["--source-lang", "eng_Latn", "--target-lang", "por_Latn"][..];
    let (ok, by_flags, err) = translate(&plain, pt);
    assert!(ok, "{err}");
    assert_eq!(by_flags.lines().count(), 2);
    assert!(by_flags.lines().all(|l| !l.is_empty()), "{by_flags}");
    // The file's defaults give the same; a flag overrides them.
    let (ok, by_file, err) = translate(&defaults, &[]);
    assert!(ok, "{err}");
    assert_eq!(by_file, by_flags);
    let (ok, de, err) = translate(&defaults, &["--target-lang", "deu_Latn"]);
    assert!(ok, "{err}");
    assert_ne!(de, by_flags);
}

/// Invalid options are refused once, up front, by the argument parser (status 2, the valid
/// range said), for `tern translate`, `tern inspect` and `convert` alike.
#[test]
fn bad_options_are_refused_before_any_work() {
    let model = tern_e2e::scratch().join("cli-options.gguf");
    std::fs::write(
        &model,
        tern_e2e::convert(
            &tern_e2e::marian_fixtures()[0],
            tern_convert::Precision::Int8,
        ),
    )
    .unwrap();
    let tern = tern_e2e::bin("tern");
    let lines = b"One.\nTwo.\nThree.\n";
    for (flag, value, said) in [
        ("--beam", "1000", "beam must be between 1 and 64, not 1000"),
        ("--beam", "0", "beam must be between 1 and 64, not 0"),
        (
            "--threads",
            "0",
            "threads must be between 1 and 1024, not 0",
        ),
        ("--batch", "0", "batch must be between 1 and 64, not 0"),
        ("--max-len", "0", "max_len must be between 1 and"),
        ("--max-src-len", "0", "max_src_len must be between 1 and"),
        (
            "--beam",
            "two",
            "beam must be a whole number between 1 and 64",
        ),
    ] {
        let out = Command::new(&tern)
            .args(["translate", "-m"])
            .arg(&model)
            .args([flag, value])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {stderr}");
        assert!(out.stdout.is_empty(), "{flag} {value}");
        assert_eq!(stderr.matches(said).count(), 1, "{flag} {value}: {stderr}");
        if flag != "--threads" {
            let inspect = Command::new(&tern)
                .arg("inspect")
                .arg(&model)
                .args([flag, value])
                .output()
                .unwrap();
            assert_eq!(inspect.status.code(), Some(2), "inspect {flag} {value}");
        }
    }
    let out = Command::new(tern_e2e::bin("convert"))
        .arg(&tern_e2e::marian_fixtures()[0])
        .args(["-o", "/dev/null", "--beam", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("beam must be between 1 and 64, not 0"));

    // A directory as the model: one clear sentence, said once.
    let (ok, _, stderr) = run(
        Command::new(&tern)
            .args(["translate", "-m"])
            .arg(tern_e2e::scratch()),
        lines,
    );
    assert!(!ok);
    assert_eq!(stderr.matches("is a directory").count(), 1, "{stderr}");

    // A reader that goes away early: the output ends quietly, as for any Unix filter.
    let many = "A sentence to translate.\n".repeat(2000);
    let mut child = Command::new(&tern)
        .args(["translate", "-m"])
        .arg(&model)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::{BufRead, Write};
        child
            .stdin
            .take()
            .unwrap()
            .write_all(many.as_bytes())
            .unwrap();
        let mut first = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(!first.is_empty());
    } // stdout closed here
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "status {:?}: {stderr}", out.status);
    assert!(stderr.is_empty(), "{stderr}");
}

/// `--stream` writes the same lines as a normal run; `tern convert` writes the same file as
/// `convert`.
#[test]
fn stream_and_tern_convert() {
    let fixture = &tern_e2e::marian_fixtures()[0];
    let dir = tern_e2e::scratch();
    let (a, b) = (
        dir.join("cli-convert-a.gguf"),
        dir.join("cli-convert-b.gguf"),
    );
    let (ok, _, stderr) = run(
        Command::new(tern_e2e::bin("convert"))
            .args(["--int8", "-q", "--force"])
            .arg(fixture)
            .arg("-o")
            .arg(&a),
        b"",
    );
    assert!(ok, "{stderr}");
    let tern = tern_e2e::bin("tern");
    let (ok, stdout, stderr) = run(
        Command::new(&tern)
            .args(["convert", "--int8", "-q", "--force"])
            .arg(fixture)
            .arg("-o")
            .arg(&b),
        b"",
    );
    assert!(ok && stdout.contains("memory plan"), "{stderr}");
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());

    let input = "How are you?\n\nThe weather is nice today. I like it.\nhello\n";
    for extra in [&[][..], &["--beam", "3"][..]] {
        let plain = run(
            Command::new(&tern)
                .args(["translate", "-m"])
                .arg(&a)
                .args(extra),
            input.as_bytes(),
        );
        let streamed = run(
            Command::new(&tern)
                .args(["translate", "--stream", "-m"])
                .arg(&a)
                .args(extra),
            input.as_bytes(),
        );
        assert!(plain.0 && streamed.0, "{} {}", plain.2, streamed.2);
        assert_eq!(plain.1.lines().count(), 4);
        assert_eq!(streamed.1, plain.1);
    }
    let (ok, _, stderr) = run(
        Command::new(&tern)
            .args(["translate", "--stream", "--threads", "2", "-m"])
            .arg(&a),
        b"x\n",
    );
    assert!(!ok && stderr.contains("--threads"), "{stderr}");
}
