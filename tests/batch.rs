//! The batched decoder (`Settings::batch`, `decode::generate_batch`): sentences decoded together
//! must come out as each does alone, and as Hugging Face's greedy search on the fixtures.

use serde_json::Value;
use tern_convert::Precision;

fn fixture(dir: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap()
}

fn translator(bytes: &[u8], batch: Option<usize>) -> tern::Translator {
    tern::Translator::from_bytes(bytes)
        .unwrap()
        .with_settings(tern::Settings {
            beam: Some(1),
            batch,
            ..Default::default()
        })
}

fn texts(t: &tern::Translator, lines: &[String], threads: usize) -> Vec<String> {
    t.translate_batch(lines, threads)
        .into_iter()
        .map(|r| r.expect("translates").text)
        .collect()
}

#[test]
fn batches_match_hugging_face_greedy_and_one_at_a_time() {
    for dir in tern_e2e::marian_fixtures() {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let f = fixture(&dir);
        let sentences = f["sentences"].as_array().unwrap();
        let mut lines: Vec<String> = sentences
            .iter()
            .map(|s| s["source"].as_str().unwrap().to_owned())
            .collect();
        // Blank lines keep their place and translate to nothing.
        lines.insert(3, String::new());
        lines.insert(7, "   ".into());
        for precision in [Precision::F32, Precision::Int8] {
            let bytes = tern_e2e::convert(&dir, precision);
            let alone = texts(&translator(&bytes, None), &lines, 1);
            assert_eq!(alone[3], "");
            assert_eq!(alone[7], "");
            for (batch, threads) in [(8, 1), (5, 2), (64, 1)] {
                let t = translator(&bytes, Some(batch));
                assert_eq!(t.plan().0.batch, batch);
                let got = texts(&t, &lines, threads);
                assert_eq!(got.len(), lines.len());
                for (i, (g, a)) in got.iter().zip(&alone).enumerate() {
                    assert_eq!(
                        g, a,
                        "{name} {precision:?} batch {batch}: line {i} {:?}",
                        lines[i]
                    );
                }
            }
            if precision == Precision::F32 {
                // Beyond agreeing with itself: the batched text is HF's greedy text.
                let got = texts(&translator(&bytes, Some(16)), &lines, 1);
                let mut got = got.into_iter();
                for (i, s) in sentences.iter().enumerate() {
                    if i == 3 || i == 6 {
                        got.next(); // the blank lines inserted above
                    }
                    let want = s["greedy_text"].as_str().unwrap();
                    assert_eq!(got.next().unwrap(), want, "{name}: {:?}", s["source"]);
                }
            }
        }
    }
}

#[test]
fn over_long_lines_in_a_batch_are_cut_like_alone() {
    let dir = &tern_e2e::marian_fixtures()[0];
    let bytes = tern_e2e::convert(dir, Precision::Int8);
    let settings = |batch| tern::Settings {
        beam: Some(1),
        batch,
        max_src_len: Some(6),
        truncate: true,
        ..Default::default()
    };
    let lines: Vec<String> = [
        "Hi.",
        "This sentence is much longer than six tokens of source text.",
        "",
        "Yes.",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let alone = tern::Translator::from_bytes(&bytes)
        .unwrap()
        .with_settings(settings(None))
        .translate_batch(&lines, 1);
    let batched = tern::Translator::from_bytes(&bytes)
        .unwrap()
        .with_settings(settings(Some(4)))
        .translate_batch(&lines, 1);
    for (a, b) in alone.into_iter().zip(batched) {
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a, b);
    }
    // Without truncation, the long line is an error and the others still translate.
    let strict = tern::Translator::from_bytes(&bytes)
        .unwrap()
        .with_settings(tern::Settings {
            truncate: false,
            ..settings(Some(4))
        })
        .translate_batch(&lines, 1);
    assert!(matches!(strict[1], Err(tern::Error::TooLong { .. })));
    assert!(strict[0].is_ok() && strict[2].is_ok() && strict[3].is_ok());
}
