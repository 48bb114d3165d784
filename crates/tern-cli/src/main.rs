//! The `tern` command: translate lines, convert checkpoints, inspect model files.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use tern::{inspect, Settings, Translator};

#[derive(Parser)]
#[command(
    name = "tern",
    version,
    about = "Quantized encoder-decoder translation on edge devices"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Translate one sentence per line (stdin or --input) to one line each (stdout or --output).
    Translate {
        #[command(flatten)]
        source: ModelArgs,
        #[arg(short, long)]
        input: Option<PathBuf>,
        #[arg(short, long)]
        output: Option<PathBuf>,
        #[command(flatten)]
        limits: LimitArgs,
        /// Sentences are spread over this many threads (order is kept).
        #[arg(long, default_value_t = 1, value_parser = |s: &str| tern::THREADS.parse(s))]
        threads: usize,
        /// Print the translation time and sentences/s to stderr (model loading excluded).
        #[arg(long)]
        stats: bool,
        /// Write each translation as it is decoded (word by word; with a beam, when its search
        /// ends), one line at a time.
        #[arg(long, conflicts_with_all = ["threads", "batch"])]
        stream: bool,
        /// Write what each source sentence's translation attended to, as JSON Lines: its
        /// source and target pieces and the cross-attention [layer][head][target][source].
        #[arg(long, value_name = "FILE", conflicts_with_all = ["threads", "batch", "stream"])]
        attention: Option<PathBuf>,
        /// After each translation, its word alignment in Pharaoh format (`translation |||
        /// 0-0 1-2 ...`, source word first): from the head a Firefox model was trained to
        /// align with, else from the average cross-attention.
        #[arg(long, conflicts_with_all = ["threads", "batch", "stream"])]
        alignment: bool,
        /// Each line is an HTML fragment: translate its text and keep its markup (inline tags
        /// on the aligned words, block tags between blocks), as Firefox does.
        #[arg(long, conflicts_with_all = ["threads", "batch", "stream", "attention", "alignment"])]
        html: bool,
    },
    /// Draw what a model attends to while translating a sentence, as an SVG heatmap (or an
    /// HTML page with hover values, for an output ending in .html).
    Attention {
        #[command(flatten)]
        source: ModelArgs,
        /// The sentence to translate.
        text: String,
        /// The picture to write (.svg, or .html for a page).
        #[arg(short, long)]
        output: PathBuf,
        /// Every layer and head (a grid of layers x heads), not just their average.
        #[arg(long)]
        all: bool,
        /// The encoder's self-attention (source pieces against source pieces) instead.
        #[arg(long = "self", conflicts_with = "aligned")]
        self_attention: bool,
        /// Only the head the model was trained to align with (Firefox models: the last
        /// decoder layer's first head, what Bergamot places markup with).
        #[arg(long, conflicts_with = "all")]
        aligned: bool,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Convert a checkpoint to a tern model file (the same as the `convert` command).
    Convert(tern_convert::cli::Args),
    /// Mozilla's Firefox Translations models by language: list and fetch them.
    Models {
        #[command(subcommand)]
        cmd: ModelsCmd,
    },
    /// Show a model's architecture, hyperparameters, tensors and memory plan.
    Inspect {
        model: PathBuf,
        #[command(flatten)]
        limits: LimitArgs,
        /// Also check every byte against the file's CRC-32 (a damaged copy fails, exit 1).
        #[arg(long)]
        verify: bool,
    },
}

/// A model file, or a Firefox Translations pair.
#[derive(clap::Args)]
struct ModelArgs {
    /// Model file (GGUF, from `convert`); or give --from and --to.
    #[arg(short, long, required_unless_present = "from", conflicts_with_all = ["from", "to"])]
    model: Option<PathBuf>,
    /// Source language of a Firefox Translations model (`en`, `es`...): the model comes from
    /// the cache, fetched on first use; without a direct model, through English.
    #[arg(long, requires = "to")]
    from: Option<String>,
    /// Target language (with --from).
    #[arg(long, requires = "from")]
    to: Option<String>,
    #[command(flatten)]
    store: StoreArgs,
}

impl ModelArgs {
    /// The model (or route through English) these arguments name, with `settings`: `-m
    /// model`, or the cached Firefox model(s) from `from` to `to`.
    fn route(&self, settings: Settings) -> Result<tern_models::Route> {
        let route = match (&self.model, &self.from, &self.to) {
            (Some(m), _, _) => tern_models::Route::direct(open(m, settings)?),
            (None, Some(f), Some(to)) => {
                let route = self.store.models()?.open(f, to)?.with_settings(settings);
                eprintln!("tern: {}", route.describe());
                route
            }
            _ => anyhow::bail!("give a model file (-m) or --from and --to"),
        };
        // A multilingual model without its languages, or with a code it lacks, fails before
        // reading any input, listing the model's codes.
        for leg in route.legs() {
            let t = &leg.translator;
            let langs = t.languages()?;
            t.engine().check_languages(&langs).map_err(|e| {
                anyhow::anyhow!(
                    "{e}; this model's language codes are: {}",
                    tern::language_list(t.engine())
                )
            })?;
        }
        Ok(route)
    }
}

/// The one model of a route that attention is read from (a pivot has two: refused).
fn single_model<'r>(route: &'r tern_models::Route, what: &str) -> Result<&'r Translator> {
    match route.legs() {
        [leg] => Ok(&leg.translator),
        _ => anyhow::bail!(
            "{what} needs one model, and {} goes through two ({}); translate each leg with -m",
            route.languages().join("->"),
            route.describe()
        ),
    }
}

#[derive(Subcommand)]
enum ModelsCmd {
    /// The language pairs in the catalogue (newest version of each); offline, the cached ones.
    List {
        /// Only pairs with this language on either side.
        lang: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Download, verify, convert and cache a pair's model (both through English when there
    /// is no direct one); prints the model files.
    Fetch {
        from: String,
        to: String,
        /// Look for a newer version in the catalogue even when one is cached.
        #[arg(long)]
        update: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Where Firefox Translations models come from and are kept.
#[derive(clap::Args)]
struct StoreArgs {
    /// Never use the network: cached models only.
    #[arg(long)]
    offline: bool,
    /// Cache directory (default: $TERN_CACHE_DIR, else the platform's cache dir + tern/models).
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// Remote Settings records URL (default: $TERN_CATALOGUE, else Mozilla's production
    /// translations-models-v2 collection).
    #[arg(long)]
    catalogue: Option<String>,
}

impl StoreArgs {
    fn models(&self) -> Result<tern_models::Models> {
        Ok(tern_models::Models::new(tern_models::Options {
            catalogue: self.catalogue.clone(),
            cache_dir: self.cache_dir.clone(),
            offline: self.offline,
            progress: true,
            ..Default::default()
        })?)
    }
}

#[derive(clap::Args)]
struct LimitArgs {
    /// Beam size (default: the model's).
    #[arg(long, value_parser = |s: &str| tern::BEAM.parse(s))]
    beam: Option<usize>,
    /// Most target tokens per sentence, EOS included.
    #[arg(long, alias = "max-tgt-len", value_parser = |s: &str| tern::MAX_LEN.parse(s))]
    max_len: Option<usize>,
    /// Most source tokens per sentence, EOS included; longer lines are cut (with a warning).
    #[arg(long, value_parser = |s: &str| tern::MAX_SRC_LEN.parse(s))]
    max_src_len: Option<usize>,
    /// Sentences decoded together, greedy only (default 1): faster on many lines, same output.
    /// Batches are formed from sentences sorted by length.
    #[arg(long, value_parser = |s: &str| tern::BATCH.parse(s))]
    batch: Option<usize>,
    /// Source language of a multilingual model (NLLB: eng_Latn; M2M100: en); default: the file's.
    #[arg(long)]
    source_lang: Option<String>,
    /// Target language of a multilingual model (NLLB: por_Latn; M2M100: pt); default: the file's.
    #[arg(long)]
    target_lang: Option<String>,
    /// Threads for each sentence (default 1): its int8 products are split over them, for the
    /// same output sooner. With --threads, each of those threads has this many.
    #[arg(long, value_parser = |s: &str| tern::INTRA_THREADS.parse(s))]
    intra_threads: Option<usize>,
}

impl LimitArgs {
    fn settings(&self) -> Settings {
        Settings {
            beam: self.beam,
            max_len: self.max_len,
            max_src_len: self.max_src_len,
            truncate: true,
            batch: self.batch,
            source_lang: self.source_lang.clone(),
            target_lang: self.target_lang.clone(),
            intra_threads: self.intra_threads,
        }
    }
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        // A reader that went away (`tern translate ... | head -1`) ends the output, as for any
        // Unix filter: quietly.
        let closed = e.chain().any(|c| {
            c.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
        });
        if closed {
            std::process::exit(0);
        }
        eprintln!("tern: {}", message(&e));
        std::process::exit(1);
    }
}

/// The error and its causes, each said once (tern's errors already include their cause's text,
/// which `{:#}` would repeat).
fn message(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if !text.ends_with(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
    }
    text
}

/// Opens a model; file errors already name the path, format errors get it added.
fn open(model: &Path, settings: Settings) -> Result<Translator> {
    match Translator::open(model) {
        Ok(t) => Ok(t.with_settings(settings)),
        Err(e @ tern::Error::Io { .. }) => Err(e.into()),
        Err(e) => Err(anyhow::Error::new(e).context(format!("loading {}", model.display()))),
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Convert(args) => tern_convert::cli::run(args),
        Cmd::Models { cmd } => run_models(cmd),
        Cmd::Inspect {
            model,
            limits,
            verify,
        } => {
            let t = open(&model, limits.settings())?;
            print!("{}", inspect::report(t.engine(), &t.plan().0));
            if verify {
                let checked = t
                    .verify()
                    .with_context(|| format!("verifying {}", model.display()))?;
                if checked {
                    println!("checksum: ok (CRC-32 of all {} bytes)", t.bytes().len());
                } else {
                    println!("checksum: none in this file (convert it again to add one)");
                }
            }
            Ok(())
        }
        Cmd::Attention {
            source,
            text,
            output,
            all,
            self_attention,
            aligned,
            limits,
        } => {
            let route = source.route(limits.settings())?;
            let t = single_model(&route, "tern attention")?;
            let what = match (all, self_attention, aligned) {
                (_, _, true) => Drawn::Aligned,
                (true, s, _) => Drawn::All { encoder: s },
                (false, s, _) => Drawn::Average { encoder: s },
            };
            draw_attention(t, &text, &output, what)
        }
        Cmd::Translate {
            source,
            input,
            output,
            limits,
            threads,
            stats,
            stream,
            attention,
            alignment,
            html,
        } => {
            let t = source.route(limits.settings())?;
            let attention_out = match &attention {
                Some(p) => Some(
                    std::fs::File::create(p)
                        .with_context(|| format!("creating {}", p.display()))?,
                ),
                None => None,
            };
            if attention_out.is_some() || alignment {
                single_model(&t, "--attention or --alignment")?;
            }
            if html {
                single_model(&t, "--html")?;
            }
            let mut raw = Vec::new();
            match &input {
                Some(p) => {
                    raw = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?
                }
                None => {
                    std::io::stdin()
                        .lock()
                        .read_to_end(&mut raw)
                        .context("reading stdin")?;
                }
            }
            let lines = split_lines(&raw);
            let started = std::time::Instant::now();
            let out: Box<dyn Write> = match &output {
                Some(p) => Box::new(
                    std::fs::File::create(p)
                        .with_context(|| format!("creating {}", p.display()))?,
                ),
                None => Box::new(std::io::stdout().lock()),
            };
            let mut out = BufWriter::new(out);
            if stream {
                translate_streaming(&t, &lines, &mut out)?;
                return Ok(());
            }
            if html {
                return translate_html(single_model(&t, "--html")?, &lines, &mut out);
            }
            if attention_out.is_some() || alignment {
                let t = single_model(&t, "--attention or --alignment")?;
                let json = attention_out.map(BufWriter::new);
                return translate_attended(t, &lines, &mut out, json, alignment);
            }
            // Chunks keep memory bounded on long inputs while every thread has work (and, when
            // batching, enough sentences to sort into batches of similar length).
            let chunk = 64.max(16 * t.first().plan().0.batch) * threads.max(1);
            for (c, lines) in lines.chunks(chunk).enumerate() {
                for (i, r) in t.translate_batch(lines, threads).into_iter().enumerate() {
                    let n = c * chunk + i + 1;
                    let text = match r {
                        Ok(o) => {
                            if o.truncated {
                                eprintln!("tern: line {n}: longer than --max-src-len tokens; translated its beginning only");
                            }
                            o.text
                        }
                        Err(e) => {
                            eprintln!("tern: line {n}: {e}; wrote an empty line");
                            String::new()
                        }
                    };
                    // One output line per input line, whatever the text holds.
                    writeln!(out, "{}", text.replace(['\n', '\r'], " "))?;
                }
            }
            out.flush()?;
            if stats {
                let secs = started.elapsed().as_secs_f64();
                eprintln!(
                    "tern: {} sentences in {secs:.3} s = {:.1} sent/s (threads={threads}, intra-threads={}, batch={}, kernels={})",
                    lines.len(),
                    lines.len() as f64 / secs,
                    limits.intra_threads.unwrap_or(1),
                    t.first().plan().0.batch,
                    t.first().engine().model.kernels().name
                );
            }
            Ok(())
        }
    }
}

/// `tern models list|fetch`.
fn run_models(cmd: ModelsCmd) -> Result<()> {
    match cmd {
        ModelsCmd::List { lang, store } => {
            let models = store.models()?;
            let list = models.list(lang.as_deref())?;
            if let Ok(c) = models.catalogue() {
                for s in &c.skipped {
                    eprintln!("tern: the catalogue's {} is left out: {}", s.what, s.reason);
                }
            }
            println!("from\tto\tversion\tarchitecture\tdownload\tcached");
            for l in &list {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    l.source,
                    l.target,
                    l.version,
                    l.architecture.as_deref().unwrap_or("-"),
                    if store.offline {
                        "-".to_string()
                    } else {
                        tern_models::human_size(l.download_size)
                    },
                    l.installed
                        .as_ref()
                        .map_or("no".to_string(), |p| p.display().to_string())
                );
            }
            if list.is_empty() {
                eprintln!(
                    "tern: no pairs{}",
                    lang.map_or(String::new(), |l| format!(" with {l}"))
                );
            }
            Ok(())
        }
        ModelsCmd::Fetch {
            from,
            to,
            update,
            store,
        } => {
            let models = store.models()?;
            let plan = models.plan(&from, &to)?;
            if plan.len() > 1 {
                let mut langs = vec![plan[0].0.clone()];
                langs.extend(plan.iter().map(|p| p.1.clone()));
                eprintln!(
                    "tern: no direct {from}->{to} model; route {}",
                    langs.join(" -> ")
                );
            }
            for (s, t) in &plan {
                let i = if update {
                    models.update(s, t)?
                } else {
                    models.get(s, t)?
                };
                println!("{}", i.model.display());
            }
            Ok(())
        }
    }
}

/// `--stream`: one line at a time, each piece written (and flushed) as it is decoded.
fn translate_streaming(
    t: &tern_models::Route,
    lines: &[String],
    out: &mut impl Write,
) -> Result<()> {
    let mut session = t.session();
    for (i, line) in lines.iter().enumerate() {
        let mut failed = None;
        let mut write = |piece: &str| {
            if failed.is_none() {
                let piece = piece.replace(['\n', '\r'], " ");
                failed = out
                    .write_all(piece.as_bytes())
                    .and_then(|()| out.flush())
                    .err();
            }
        };
        let result = session.translate_stream(line, &mut write);
        if let Some(e) = failed {
            return Err(e.into());
        }
        match result {
            Ok(o) if o.truncated => eprintln!(
                "tern: line {}: longer than --max-src-len tokens; translated its beginning only",
                i + 1
            ),
            Ok(_) => {}
            Err(e) => eprintln!("tern: line {}: {e}; wrote an empty line", i + 1),
        }
        writeln!(out)?;
        out.flush()?;
    }
    Ok(())
}

/// `--attention` / `--alignment`: one line at a time, each with what its sentences attended to.
fn translate_attended(
    t: &Translator,
    lines: &[String],
    out: &mut impl Write,
    mut json: Option<BufWriter<std::fs::File>>,
    alignment: bool,
) -> Result<()> {
    let mut session = t.session();
    for (i, line) in lines.iter().enumerate() {
        let (text, maps) = match session.translate_attended(line, false) {
            Ok((o, maps)) => {
                if o.truncated {
                    eprintln!("tern: line {}: longer than --max-src-len tokens; translated its beginning only", i + 1);
                }
                (o.text, maps)
            }
            Err(e) => {
                eprintln!("tern: line {}: {e}; wrote an empty line", i + 1);
                (String::new(), Vec::new())
            }
        };
        let text = text.replace(['\n', '\r'], " ");
        if alignment {
            writeln!(
                out,
                "{text} ||| {}",
                tern::attention::pharaoh(&tern::attention::line_word_alignment(&maps))
            )?;
        } else {
            writeln!(out, "{text}")?;
        }
        if let Some(json) = json.as_mut() {
            for a in &maps {
                writeln!(
                    json,
                    r#"{{"line":{},"source":{},"target":{},"translation":{},"cross_attention":{}}}"#,
                    i + 1,
                    serde_json::to_string(&a.source)?,
                    serde_json::to_string(&a.target)?,
                    serde_json::to_string(&a.text)?,
                    json_weights(&a.cross),
                )?;
            }
        }
    }
    if let Some(mut json) = json {
        json.flush()?;
    }
    out.flush()?;
    Ok(())
}

/// Weights as nested JSON arrays `[layer][head][row][col]`, each number the shortest text that
/// reads back as the same f32 (half the size of printing them as f64).
fn json_weights(w: &tern::attention::Weights) -> String {
    let mut out = String::with_capacity(w.values.len() * 12);
    let list = |out: &mut String, n: usize, item: &mut dyn FnMut(&mut String, usize)| {
        out.push('[');
        for i in 0..n {
            if i > 0 {
                out.push(',');
            }
            item(out, i);
        }
        out.push(']');
    };
    list(&mut out, w.layers, &mut |out, l| {
        list(out, w.heads, &mut |out, h| {
            let grid = w.head(l, h);
            list(out, w.rows, &mut |out, r| {
                list(out, w.cols, &mut |out, c| {
                    let v = grid[r * w.cols + c];
                    // JSON has no NaN or infinity; weights never are, but say so if one was.
                    match v.is_finite() {
                        true => out.push_str(&v.to_string()),
                        false => out.push_str("null"),
                    }
                })
            })
        })
    });
    out
}

/// `--html`: each line an HTML fragment, its markup kept.
fn translate_html(t: &Translator, lines: &[String], out: &mut impl Write) -> Result<()> {
    let mut session = t.session();
    for (i, line) in lines.iter().enumerate() {
        let text = match session.translate_html(line) {
            Ok(o) => {
                if o.truncated {
                    eprintln!("tern: line {}: longer than --max-src-len tokens; translated its beginning only", i + 1);
                }
                o.text
            }
            Err(e) => {
                eprintln!("tern: line {}: {e}; wrote an empty line", i + 1);
                String::new()
            }
        };
        writeln!(out, "{}", text.replace(['\n', '\r'], " "))?;
    }
    out.flush()?;
    Ok(())
}

/// What `tern attention` draws.
#[derive(Clone, Copy)]
enum Drawn {
    /// The mean of every layer and head (of the encoder's self-attention with `encoder`).
    Average { encoder: bool },
    /// Every layer and head, a grid of layers x heads.
    All { encoder: bool },
    /// The cross-attention head the model was trained to align with.
    Aligned,
}

/// `tern attention`: the heatmap of one sentence's translation.
fn draw_attention(t: &Translator, text: &str, output: &Path, what: Drawn) -> Result<()> {
    let encoder = matches!(
        what,
        Drawn::Average { encoder: true } | Drawn::All { encoder: true }
    );
    let (translated, maps) = t.session().translate_attended(text, encoder)?;
    let Some(a) = maps.first() else {
        anyhow::bail!("nothing to translate: the text is blank");
    };
    if maps.len() > 1 {
        eprintln!(
            "tern: the text has {} sentences; drawing the first (give one sentence)",
            maps.len()
        );
    }
    let (weights, rows) = match (encoder, &a.encoder) {
        (true, Some(w)) => (w, &a.source),
        _ => (&a.cross, &a.target),
    };
    let stack = if encoder {
        "encoder self-attention"
    } else {
        "cross-attention"
    };
    let average = weights.average();
    let (grids, per_line) = match what {
        Drawn::All { .. } => {
            let grids = (0..weights.layers)
                .flat_map(|l| (0..weights.heads).map(move |h| (l, h)))
                .map(|(l, h)| tern::heatmap::Grid {
                    title: format!("{stack}, layer {} head {}", l + 1, h + 1),
                    weights: weights.head(l, h),
                })
                .collect();
            (grids, weights.heads)
        }
        Drawn::Average { .. } => {
            let grid = tern::heatmap::Grid {
                title: format!("{stack}, average of all layers and heads"),
                weights: &average,
            };
            (vec![grid], 1)
        }
        Drawn::Aligned => {
            let Some((l, h)) = a.aligned_head else {
                anyhow::bail!("this model has no head trained to align (Firefox models do); draw --all or the average");
            };
            let grid = tern::heatmap::Grid {
                title: format!("{stack}, layer {} head {} (trained to align)", l + 1, h + 1),
                weights: weights.head(l, h),
            };
            (vec![grid], 1)
        }
    };
    let page = output
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("html") || e.eq_ignore_ascii_case("htm"));
    let doc = match page {
        true => tern::heatmap::html(&a.source, rows, &grids, per_line)?,
        false => tern::heatmap::svg(&a.source, rows, &grids, per_line)?,
    };
    std::fs::write(output, doc).with_context(|| format!("writing {}", output.display()))?;
    println!("{}", translated.text);
    Ok(())
}

/// Lines of the input: `\n`-separated, `\r\n` accepted; invalid UTF-8 is replaced (with a warning).
fn split_lines(raw: &[u8]) -> Vec<String> {
    let mut v = Vec::new();
    for (i, line) in raw.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match std::str::from_utf8(line) {
            Ok(s) => v.push(s.to_owned()),
            Err(_) => {
                eprintln!("tern: line {}: invalid UTF-8, replaced with U+FFFD", i + 1);
                v.push(String::from_utf8_lossy(line).into_owned());
            }
        }
    }
    if raw.is_empty() || raw.ends_with(b"\n") {
        v.pop();
    }
    v
}
