//! tern in WebAssembly: `cargo xtask wasm` builds the npm package (`target/tern-wasm/pkg`), `cargo xtask wasm --test`
//! also checks it in Node and in headless Chromium against native tern's text, and
//! `cargo xtask web` serves the demo page.
//!
//! The package is `crates/tern-wasm` built for `wasm32-unknown-unknown`
//! with `simd128` (profile `wasm`), wasm-bindgen's glue (`--target web`, which Node loads too),
//! and the hand-written files of `crates/tern-wasm/js`: a Web Worker and its promise client,
//! the Node entry point and TypeScript types.

use crate::{bin, build_release, cargo, convert_model, ensure_apt, ensure_target, fetch_model};
use crate::{have, opt, root, run};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-unknown-unknown";
/// The CLI must be the exact version of the `wasm-bindgen` crate (crates/tern-wasm pins it).
const WASM_BINDGEN: &str = "0.2.130";
/// Largest module we ship (the issue's budget: Bergamot's is 5.2 MB).
const MAX_MODULE_BYTES: u64 = 1 << 20;
/// npm packages of the tests and the bench, installed together in `target/tern-wasm/node`:
/// playwright-core drives the system's Chromium (no browser download); Mozilla's own wasm
/// engine is the bench's peer.
const NPM: [(&str, &str); 2] = [
    ("playwright-core", "1.65.2"),
    ("@browsermt/bergamot-translator", "0.4.9"),
];

/// Where the package, the demo site and the npm tools go (not `target/wasm`: that is Cargo's
/// directory for profile `wasm`, which `cargo clean --profile wasm` empties).
fn out() -> PathBuf {
    root().join("target/tern-wasm")
}

/// `cargo xtask wasm [--test]`.
pub fn wasm(args: &[String]) -> Result<()> {
    let pkg = build()?;
    if args.iter().any(|a| a == "--test") {
        test(&pkg)?;
    }
    Ok(())
}

/// The wasm-bindgen CLI of the pinned version, installed under `target/tools` if missing.
fn wasm_bindgen() -> Result<PathBuf> {
    let tools = root().join("target/tools");
    let exe = tools.join("bin/wasm-bindgen");
    let version = Command::new(&exe)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if !version.contains(WASM_BINDGEN) {
        run(Command::new("cargo")
            .args(["install", "--quiet", "--root"])
            .arg(&tools)
            .args(["wasm-bindgen-cli", "--version", WASM_BINDGEN])
            // Without TLS (only its test runner downloads), and unoptimized: it runs for under
            // a second on our module, and the optimized build took 90 s more of CI.
            .args(["--no-default-features", "--debug"]))?;
    }
    Ok(exe)
}

/// Builds the package into `target/tern-wasm/pkg` and returns that directory.
pub fn build() -> Result<PathBuf> {
    ensure_target(TARGET)?;
    run(cargo().args([
        "build",
        "--quiet",
        "-p",
        "tern-wasm",
        "--target",
        TARGET,
        "--profile",
        "wasm",
    ]))?;
    let module = root().join("target/wasm32-unknown-unknown/wasm/tern_wasm.wasm");
    let pkg = out().join("pkg");
    if pkg.exists() {
        std::fs::remove_dir_all(&pkg)?;
    }
    run(Command::new(wasm_bindgen()?)
        .args([
            "--target",
            "web",
            "--remove-name-section",
            "--remove-producers-section",
        ])
        .args(["--out-name", "tern_wasm", "--out-dir"])
        .arg(&pkg)
        .arg(&module))?;
    let js = root().join("crates/tern-wasm/js");
    for entry in std::fs::read_dir(&js)? {
        let p = entry?.path();
        std::fs::copy(&p, pkg.join(p.file_name().context("a file name")?))?;
    }
    std::fs::write(pkg.join("package.json"), package_json()?)?;
    let size = std::fs::metadata(pkg.join("tern_wasm_bg.wasm"))?.len();
    eprintln!(
        "xtask: wasm package in {} (module {:.0} KiB)",
        pkg.display(),
        size as f64 / 1024.0
    );
    if size > MAX_MODULE_BYTES {
        bail!("the wasm module is {size} bytes, over the {MAX_MODULE_BYTES}-byte budget");
    }
    Ok(pkg)
}

/// package.json: the workspace's version, ES modules, the worker client for browsers and the
/// module itself for Node.
fn package_json() -> Result<String> {
    let cargo_toml = std::fs::read_to_string(root().join("Cargo.toml"))?;
    let version = cargo_toml
        .lines()
        .find_map(|l| l.strip_prefix("version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .context("workspace version in Cargo.toml")?;
    Ok(format!(
        r#"{{
  "name": "tern-wasm",
  "version": "{version}",
  "description": "tern: on-device translation with quantized Transformer models, in WebAssembly",
  "license": "MIT OR Apache-2.0",
  "type": "module",
  "main": "./index.js",
  "types": "./index.d.ts",
  "exports": {{
    ".": {{
      "node": {{ "types": "./node.d.ts", "default": "./node.js" }},
      "default": {{ "types": "./index.d.ts", "default": "./index.js" }}
    }},
    "./worker.js": "./worker.js",
    "./wasm": {{ "types": "./tern_wasm.d.ts", "default": "./tern_wasm.js" }},
    "./tern_wasm_bg.wasm": "./tern_wasm_bg.wasm"
  }},
  "files": ["*.js", "*.d.ts", "tern_wasm_bg.wasm", "README.md"],
  "sideEffects": ["./node.js"]
}}
"#
    ))
}

/// The demo site: the page, its script and the package; `model` (if any) as `model.gguf`.
fn site(pkg: &Path, model: Option<&Path>) -> Result<PathBuf> {
    let site = out().join("site");
    if site.exists() {
        std::fs::remove_dir_all(&site)?;
    }
    std::fs::create_dir_all(site.join("pkg"))?;
    for name in ["index.html", "demo.js"] {
        std::fs::copy(
            root().join("crates/tern-wasm/web").join(name),
            site.join(name),
        )?;
    }
    for entry in std::fs::read_dir(pkg)? {
        let p = entry?.path();
        std::fs::copy(
            &p,
            site.join("pkg").join(p.file_name().context("a file name")?),
        )?;
    }
    if let Some(m) = model {
        std::fs::copy(m, site.join("model.gguf"))
            .with_context(|| format!("copying {}", m.display()))?;
    }
    Ok(site)
}

/// Serves `dir` on 127.0.0.1:`port` (0: any free port) from a background thread; returns the
/// base URL.
fn serve(dir: PathBuf, port: u16) -> Result<String> {
    let server = tiny_http::Server::http(("127.0.0.1", port))
        .map_err(|e| anyhow::anyhow!("cannot listen on port {port}: {e}"))?;
    let addr = server
        .server_addr()
        .to_ip()
        .context("an IP address to serve on")?;
    std::thread::spawn(move || {
        for req in server.incoming_requests() {
            let path = req
                .url()
                .split(['?', '#'])
                .next()
                .unwrap_or("/")
                .to_string();
            let rel = path.trim_start_matches('/');
            let rel = if rel.is_empty() { "index.html" } else { rel };
            // Only files under `dir`: no `..` walks out of it (checked before anything is read).
            let inside = !rel.split(['/', '\\']).any(|c| c == ".." || c.is_empty());
            let file = dir.join(rel);
            let bytes = if inside {
                std::fs::read(&file).ok()
            } else {
                None
            };
            let response = match bytes {
                Some(bytes) => {
                    let mime = match file.extension().and_then(|e| e.to_str()) {
                        Some("html") => "text/html; charset=utf-8",
                        Some("js") => "text/javascript; charset=utf-8",
                        Some("wasm") => "application/wasm",
                        Some("json") => "application/json",
                        Some("ts") => "text/plain; charset=utf-8",
                        _ => "application/octet-stream",
                    };
                    tiny_http::Response::from_data(bytes).with_header(
                        tiny_http::Header::from_bytes(&b"Content-Type"[..], mime.as_bytes())
                            .expect("a valid header"),
                    )
                }
                _ => tiny_http::Response::from_string("not found").with_status_code(404),
            };
            let _ = req.respond(response);
        }
    });
    Ok(format!("http://{addr}"))
}

/// `cargo xtask web [--model FILE] [--port N]`: builds the package and serves the demo page
/// until interrupted. Without `--model`, Firefox's en->pt model is fetched and converted.
pub fn web(args: &[String]) -> Result<()> {
    let pkg = build()?;
    let model = match opt(args, "--model") {
        Some(m) => PathBuf::from(m),
        None => firefox_model()?,
    };
    let port = match opt(args, "--port") {
        Some(p) => p.parse().with_context(|| format!("--port {p}"))?,
        None => 8000,
    };
    let url = serve(site(&pkg, Some(&model))?, port)?;
    println!("tern demo: {url}/?model=model.gguf (Ctrl-C stops it)");
    loop {
        std::thread::park();
    }
}

/// Firefox's en->pt model as `target/demo/enpt.gguf`.
fn firefox_model() -> Result<PathBuf> {
    build_release()?;
    convert_model(&fetch_model(&["enpt".to_string()])?, "enpt")
}

/// Node.js and npm (Debian's, if the machine has none).
fn ensure_node() -> Result<()> {
    if !(have("node") && have("npm")) {
        ensure_apt(&["nodejs", "npm"])?;
    }
    Ok(())
}

/// Node and headless Chromium, each against native tern's text on the same lines.
fn test(pkg: &Path) -> Result<()> {
    ensure_node()?;
    let model = firefox_model()?;
    let work = out().join("test");
    std::fs::create_dir_all(&work)?;
    // Real sentences, a multi-sentence line, a blank one and non-Latin text.
    let mut lines = std::fs::read_to_string(root().join("models/samples/bergamot/en.txt"))?;
    lines.push_str(
        "\nIt rained. The streets were wet, and nobody went out.\n\nCafé, naïve, 東京 😀\n",
    );
    let input = work.join("input.txt");
    std::fs::write(&input, &lines)?;
    // Native tern's text (the CLI, one line at a time).
    let native = Command::new(bin("tern"))
        .args(["translate", "-m"])
        .arg(&model)
        .stdin(std::fs::File::open(&input)?)
        .output()?;
    if !native.status.success() {
        bail!(
            "native tern failed: {}",
            String::from_utf8_lossy(&native.stderr)
        );
    }
    let expected = work.join("expected.txt");
    std::fs::write(&expected, &native.stdout)?;
    let tests = root().join("tests/wasm");
    run(Command::new("node")
        .arg(tests.join("node.mjs"))
        .args([pkg, &model, &input, &expected]))?;

    ensure_apt(&["chromium"])?;
    let node = node_packages()?;
    let url = serve(site(pkg, Some(&model))?, 0)?;
    run(Command::new("node")
        .arg(tests.join("browser.mjs"))
        .arg(&url)
        .args([&input, &expected, &node, &model])
        .env("CHROMIUM", "/usr/bin/chromium"))
}

/// `target/tern-wasm/node`, with [`NPM`]'s packages (all in one `npm install`: without a
/// package.json, npm removes what a later install does not name).
fn node_packages() -> Result<PathBuf> {
    let node = out().join("node");
    let installed = |name: &str, version: &str| {
        std::fs::read_to_string(node.join("node_modules").join(name).join("package.json"))
            .is_ok_and(|p| p.contains(&format!("\"version\": \"{version}\"")))
    };
    if !NPM.iter().all(|(n, v)| installed(n, v)) {
        std::fs::create_dir_all(&node)?;
        run(Command::new("npm")
            .current_dir(&node)
            .args(["install", "--no-save", "--no-audit", "--no-fund"])
            .args(NPM.iter().map(|(n, v)| format!("{n}@{v}"))))?;
    }
    Ok(node)
}

/// `cargo xtask bench --only wasm`: tern's package against Mozilla's own wasm engine
/// (`@browsermt/bergamot-translator`) in Node, on Firefox's en->pt model and the first 300
/// FLORES devtest sentences (or `--src FILE`): one sentence per call and all in one call, model
/// loading excluded, the two engines alternating round by round. Also checks tern-wasm's text
/// against native tern's.
pub fn bench(args: &[String]) -> Result<()> {
    let rounds: usize = opt(args, "--rounds")
        .map_or(Ok(3), |r| r.parse())
        .context("--rounds")?;
    if rounds == 0 {
        bail!("--rounds must be at least 1");
    }
    ensure_node()?;
    let work = out().join("bench");
    std::fs::create_dir_all(&work)?;
    let src = match opt(args, "--src") {
        Some(f) => PathBuf::from(f),
        None => {
            let flores = root().join("../shared/testsets/flores200-devtest/eng_Latn.devtest");
            let text = std::fs::read_to_string(&flores)
                .with_context(|| format!("{} (or give --src FILE)", flores.display()))?;
            let first: Vec<&str> = text.lines().take(300).collect();
            let path = work.join("input.txt");
            std::fs::write(&path, first.join("\n") + "\n")?;
            path
        }
    };
    let lines = std::fs::read_to_string(&src)?.lines().count();
    let pkg = build()?;
    let model_dir = fetch_model(&["enpt".to_string()])?;
    let model = firefox_model()?;
    let node = node_packages()?;
    let tests = root().join("tests/wasm");
    let seconds = |out: &[u8], mode: &str| -> Result<f64> {
        String::from_utf8_lossy(out)
            .lines()
            .filter(|l| l.contains(&format!("\"mode\":\"{mode}\"")))
            .find_map(|l| {
                let at = l.find("\"seconds\":")? + 10;
                let v: String = l[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == 'e' || *c == '-')
                    .collect();
                v.parse().ok()
            })
            .with_context(|| format!("no {mode} time in the output"))
    };
    let node_run = |cmd: &mut Command| -> Result<Vec<u8>> {
        let o = cmd.output()?;
        if !o.status.success() {
            bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&o.stderr));
        }
        Ok(o.stdout)
    };
    let (mut t1, mut tb, mut b1, mut bb) = (vec![], vec![], vec![], vec![]);
    let tern_text = work.join("tern-wasm.txt");
    for r in 0..rounds {
        eprintln!(
            "xtask: wasm bench round {} of {rounds} ({lines} sentences)",
            r + 1
        );
        let out = node_run(
            Command::new("node")
                .arg(tests.join("bench-tern.mjs"))
                .arg("--pkg")
                .arg(&pkg)
                .arg("--model")
                .arg(&model)
                .arg("--input")
                .arg(&src)
                .arg("--text")
                .arg(&tern_text)
                .args(["--rounds", "1", "--batch", TERN_BATCH]),
        )?;
        t1.push(seconds(&out, "one")?);
        tb.push(seconds(&out, "batch")?);
        let out = node_run(
            Command::new("node")
                .arg(tests.join("bench-bergamot.mjs"))
                .arg("--node-dir")
                .arg(&node)
                .arg("--model-dir")
                .arg(&model_dir)
                .arg("--input")
                .arg(&src)
                .args(["--rounds", "1"]),
        )?;
        b1.push(seconds(&out, "one")?);
        bb.push(seconds(&out, "batch")?);
    }
    // tern-wasm's text (its batched call's) against native tern's, line by line.
    let native = Command::new(bin("tern"))
        .args(["translate", "--threads", "1", "-m"])
        .arg(&model)
        .arg("-i")
        .arg(&src)
        .output()?;
    if !native.status.success() {
        bail!(
            "native tern failed: {}",
            String::from_utf8_lossy(&native.stderr)
        );
    }
    let native = String::from_utf8_lossy(&native.stdout).into_owned();
    let wasm = std::fs::read_to_string(&tern_text)?;
    let same = native
        .lines()
        .zip(wasm.lines())
        .filter(|(a, b)| a == b)
        .count();
    // Times: the best run is the shortest.
    let fastest = |v: &[f64]| lines as f64 / v.iter().copied().fold(f64::MAX, f64::min);
    let bests = [&t1, &tb, &b1, &bb].map(|v| fastest(v));
    let rate = |v: Vec<f64>| lines as f64 / crate::bench::median(v);
    let (t1, tb, b1, bb) = (rate(t1), rate(tb), rate(b1), rate(bb));
    let size = |p: PathBuf| {
        std::fs::metadata(p)
            .map(|m| m.len() as f64 / 1e6)
            .unwrap_or(0.0)
    };
    let tern_mb = size(pkg.join("tern_wasm_bg.wasm"));
    let berg_mb = size(node.join(
        "node_modules/@browsermt/bergamot-translator/worker/bergamot-translator-worker.wasm",
    ));
    println!(
        "en->pt, {lines} sentences, Node {} (V8, wasm simd128), 1 thread, medians of {rounds} \
         rounds (model loading excluded):",
        node_version()
    );
    println!("| engine | one per call, sentences/s | batched, sentences/s | wasm module |");
    println!("|---|---|---|---|");
    println!("| tern-wasm (batch {TERN_BATCH}) | {t1:.1} | {tb:.1} | {tern_mb:.2} MB |");
    println!("| bergamot-wasm 0.4.9 | {b1:.1} | {bb:.1} | {berg_mb:.2} MB |");
    println!("tern-wasm / bergamot-wasm one per call: {:.2}x", t1 / b1);
    println!("tern-wasm / bergamot-wasm batched: {:.2}x", tb / bb);
    println!(
        "best runs ({}): one per call {:.2}x, batched {:.2}x",
        crate::bench::BEST_NOTE,
        bests[0] / bests[2],
        bests[1] / bests[3]
    );
    println!("tern-wasm text equal to native tern's: {same}/{lines} lines");
    Ok(())
}

/// Sentences tern-wasm decodes together in the bench's batched run. In wasm (128-bit products,
/// no prefetch) batches of 1, 8 and 32 ran alike on 300 FLORES lines (2026-12-07, 5.3-6.4 s
/// each, 2 rounds); native tern's bench uses 8.
const TERN_BATCH: &str = "32";

fn node_version() -> String {
    Command::new("node")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}
