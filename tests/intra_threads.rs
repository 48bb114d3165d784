//! Threads for each sentence (`Settings::intra_threads`): the int8 products of a sentence,
//! split over its session's pool, must give the text of one thread: greedy, beam 4, batched
//! and streamed, on the real Firefox model (shortlist, SSRU decoder) and on an int8 fixture of
//! each family (whole-vocabulary output layers).

use serde_json::Value;
use tern::{Settings, Translator};
use tern_convert::Precision;

fn texts(t: &Translator, settings: &Settings, lines: &[String]) -> Vec<String> {
    t.translate_batch_with(settings, lines, 1)
        .into_iter()
        .map(|r| r.expect("translates").text)
        .collect()
}

/// `t` gives the same text with 2 and 3 threads per sentence as with one, for each search.
fn same_as_one_thread(name: &str, t: &Translator, base: Settings, lines: &[String]) {
    let searches = [
        ("greedy", Some(1), None),
        ("beam 4", Some(4), None),
        ("batch 4", Some(1), Some(4)),
    ];
    for (search, beam, batch) in searches {
        let one = Settings {
            beam,
            batch,
            ..base.clone()
        };
        let want = texts(t, &one, lines);
        // Three threads on two cores too: slower, never different.
        let counts: &[usize] = if search == "greedy" { &[2, 3] } else { &[2] };
        for &threads in counts {
            let many = Settings {
                intra_threads: Some(threads),
                ..one.clone()
            };
            assert_eq!(
                texts(t, &many, lines),
                want,
                "{name}, {search}, {threads} threads per sentence"
            );
        }
    }
    // Streamed: the pieces as they come, with the pool installed for the whole sentence.
    let mut session = t.session_with(Settings {
        intra_threads: Some(2),
        beam: Some(1),
        ..base.clone()
    });
    let want = texts(
        t,
        &Settings {
            beam: Some(1),
            ..base
        },
        lines,
    );
    for (line, want) in lines.iter().zip(&want) {
        let mut streamed = String::new();
        session
            .translate_stream(line, &mut |p| streamed.push_str(p))
            .expect("translates");
        assert_eq!(&streamed, want, "{name}, streamed");
    }
}

#[test]
fn firefox_model_translates_as_with_one_thread() {
    let dir = tern_e2e::downloaded("enpt");
    let t = Translator::from_bytes(&tern_convert::build(&dir, None, true).expect("converts"))
        .expect("loads");
    let samples = tern_e2e::root().join("models/samples/bergamot/en.txt");
    let mut lines: Vec<String> = std::fs::read_to_string(samples)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    if let Some(flores) = tern_e2e::flores("eng_Latn") {
        lines.extend(flores.into_iter().take(30));
    }
    same_as_one_thread("Firefox en->pt", &t, Settings::default(), &lines);
}

#[test]
fn int8_fixtures_translate_as_with_one_thread() {
    let families = [
        tern_e2e::marian_fixtures(),
        tern_e2e::m2m100_fixtures(),
        tern_e2e::t5_fixtures(),
        tern_e2e::bart_fixtures(),
    ];
    for dir in families.iter().map(|f| &f[0]) {
        let expected: Value =
            serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
        let sentences = expected["sentences"].as_array().unwrap();
        let lines: Vec<String> = sentences
            .iter()
            .map(|s| s["source"].as_str().unwrap().to_owned())
            .collect();
        let lang = |key: &str| sentences[0][key].as_str().map(String::from);
        let base = Settings {
            source_lang: lang("src_lang"),
            target_lang: lang("tgt_lang"),
            ..Settings::default()
        };
        let t = Translator::from_bytes(&tern_e2e::convert(dir, Precision::Int8)).unwrap();
        let name = dir.file_name().unwrap().to_string_lossy();
        same_as_one_thread(&name, &t, base, &lines);
    }
}
