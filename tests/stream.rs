//! Streaming (`Session::translate_stream`, `tern translate --stream`): the pieces handed out
//! while decoding concatenate to exactly the translation, and greedy search hands them out word
//! by word, before the sentence ends.

use tern_convert::Precision;
use tern_e2e::root;

/// A line and, for multilingual models, its languages.
type Line = (String, Option<String>, Option<String>);

/// Streams every line and checks the pieces against `translate`'s text; returns how many lines
/// (of those with at least three words) came in more than one piece.
fn check(name: &str, t: &tern::Translator, beam: usize, lines: &[Line]) -> (usize, usize) {
    let (mut long, mut gradual) = (0, 0);
    for (line, source_lang, target_lang) in lines {
        let settings = tern::Settings {
            beam: Some(beam),
            source_lang: source_lang.clone(),
            target_lang: target_lang.clone(),
            ..Default::default()
        };
        let want = t.translate_batch_with(&settings, &[line], 1).remove(0);
        let want = want.expect("translates").text;
        let mut pieces: Vec<String> = Vec::new();
        let got = t
            .session_with(settings)
            .translate_stream(line, &mut |p| pieces.push(p.to_owned()))
            .expect("streams");
        assert_eq!(got.text, want, "{name}: {line:?}");
        assert_eq!(pieces.concat(), want, "{name}: {line:?}: {pieces:?}");
        assert!(pieces.iter().all(|p| !p.is_empty()), "{name}: empty piece");
        if want.split_whitespace().count() >= 3 {
            long += 1;
            gradual += usize::from(pieces.len() > 1);
        }
    }
    (long, gradual)
}

fn fixture_lines(dir: &std::path::Path) -> Vec<Line> {
    let f: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
    let lang = |s: &serde_json::Value, k: &str| s[k].as_str().map(str::to_owned);
    f["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let source = s["source"].as_str().unwrap().to_owned();
            (source, lang(s, "src_lang"), lang(s, "tgt_lang"))
        })
        .collect()
}

#[test]
fn fixtures_stream_their_exact_text() {
    let mut dirs = tern_e2e::marian_fixtures();
    dirs.extend(tern_e2e::m2m100_fixtures());
    dirs.extend(tern_e2e::t5_fixtures());
    dirs.extend(tern_e2e::bart_fixtures());
    for dir in dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let lines = fixture_lines(&dir);
        for precision in [Precision::F32, Precision::Int8] {
            let t = tern::Translator::from_bytes(&tern_e2e::convert(&dir, precision)).unwrap();
            let (long, gradual) = check(&name, &t, 1, &lines);
            assert_eq!(
                gradual, long,
                "{name}: greedy output not streamed word by word"
            );
            check(&name, &t, 3, &lines);
        }
    }
}

/// The real Firefox model: FLORES (or the samples), including multi-sentence lines, whose text
/// between sentences is streamed too.
#[test]
fn firefox_model_streams_its_exact_text() {
    let dir = tern_e2e::downloaded("enpt");
    let bytes = tern_convert::build(&dir, None, true).expect("converts");
    let t = tern::Translator::from_bytes(&bytes).unwrap();
    let mut lines: Vec<String> = tern_e2e::flores("eng_Latn")
        .map(|l| l.into_iter().take(150).collect())
        .unwrap_or_else(|| {
            std::fs::read_to_string(root().join("models/samples/en.txt"))
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect()
        });
    lines.push("It rained.  Then the sun came out! Did you see it?".into());
    lines.push(String::new());
    let lines: Vec<Line> = lines.into_iter().map(|l| (l, None, None)).collect();
    let (long, gradual) = check("enpt", &t, 1, &lines);
    assert!(long > 0);
    assert_eq!(gradual, long, "greedy output not streamed word by word");
    check("enpt beam 4", &t, 4, &lines[..40.min(lines.len())]);
}

#[test]
fn settings_are_checked_with_one_message() {
    let bad = tern::Settings {
        beam: Some(1000),
        ..Default::default()
    };
    let e = bad.validate().unwrap_err();
    assert_eq!(e.to_string(), "beam must be between 1 and 64, not 1000");
    for s in [
        tern::Settings {
            batch: Some(0),
            ..Default::default()
        },
        tern::Settings {
            max_len: Some(0),
            ..Default::default()
        },
        tern::Settings {
            max_src_len: Some(0),
            ..Default::default()
        },
    ] {
        assert!(matches!(s.validate(), Err(tern::Error::BadSetting(_))));
    }
    assert!(tern::Settings::default().validate().is_ok());
    assert!(tern::THREADS.check(0).is_err());
    assert_eq!(tern::THREADS.check(2).unwrap(), 2);
    assert_eq!(
        tern::BEAM.parse("x").unwrap_err(),
        "beam must be a whole number between 1 and 64"
    );
}
