// The demo page in headless Chromium: loads the model from a URL, types sentences and reads
// the translations, which must be native tern's; a missing model is a shown error, not a hang.
// Run by `cargo xtask wasm --test`:
//   node tests/wasm/browser.mjs URL INPUT EXPECTED NODE_DIR MODEL   (NODE_DIR has playwright-core)
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const [url, inputPath, expectedPath, nodeDir, modelPath] = process.argv.slice(2);
const { chromium } = createRequire(join(nodeDir, "package.json"))("playwright-core");
const lines = (path) => readFileSync(path, "utf8").replace(/\n$/, "").split("\n");
const input = lines(inputPath);
const expected = lines(expectedPath);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  // The flags this machine's closed network needs (no background connections).
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
const problems = [];
try {
  const page = await browser.newPage();
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => m.type() === "error" && problems.push(`console: ${m.text()}`));

  await page.goto(`${url}/?model=model.gguf`);
  await page.waitForFunction(() => /^Ready|error/.test(document.getElementById("status").className + document.getElementById("status").textContent), null, { timeout: 120_000 });
  const status = await page.textContent("#status");
  assert.match(status, /^Ready: model.gguf .*kernels simd128/, status);

  const source = page.locator("#source");
  const shown = async (text) => {
    await page.waitForFunction((t) => document.getElementById("target").dataset.source === t, text, { timeout: 60_000 });
    return page.textContent("#target");
  };
  // The first sentence typed key by key (translated as it is typed), the others pasted.
  const started = Date.now();
  await source.pressSequentially(input[0], { delay: 2 });
  assert.equal(await shown(input[0]), expected[0], `line 1: ${input[0]}`);
  for (let i = 1; i < input.length; i++) {
    await source.fill(input[i]);
    assert.equal(await shown(input[i]), expected[i], `line ${i + 1}: ${input[i]}`);
  }
  await source.fill(input.join("\n"));
  assert.equal(await shown(input.join("\n")), expected.join("\n"), "all lines at once");
  const ms = Date.now() - started;

  // The same model from the file picker (read by the page, moved to the worker).
  await page.setInputFiles("#model-file", modelPath);
  await page.click("#load");
  await page.waitForFunction(() => /^Ready: \S+\.gguf/.test(document.getElementById("status").textContent), null, { timeout: 120_000 });
  await source.fill(input[1]);
  assert.equal(await shown(input[1]), expected[1], "after loading from the file picker");
  await page.setInputFiles("#model-file", []);

  // The worker client's promises, straight from the package: a translation sent while a load
  // is still fetching runs on the new model; a failed load keeps the model; a terminated
  // worker rejects.
  const protocol = await page.evaluate(async (line) => {
    const { TernWorker } = await import("./pkg/index.js");
    const w = new TernWorker();
    const [info, first] = await Promise.all([w.load("model.gguf"), w.translate(line)]);
    const failed = await w.load("missing.gguf").then(() => "loaded", (e) => `${e.name} ${e.code}`);
    const again = await w.translate(line);
    w.terminate();
    const after = await w.translate(line).then(() => "answered", (e) => e.message);
    return { kernels: info.kernels, first, failed, again, after, info: w.info.kernels };
  }, input[0]);
  assert.deepEqual(protocol, {
    kernels: "simd128",
    first: expected[0],
    failed: "TernError model",
    again: expected[0],
    after: "tern worker terminated",
    info: "simd128",
  });

  // A model URL that does not exist: the page says so.
  await page.fill("#model-url", "missing.gguf");
  await page.click("#load");
  await page.waitForFunction(() => document.getElementById("status").className === "error", null, { timeout: 30_000 });
  assert.match(await page.textContent("#status"), /missing\.gguf: HTTP 404/);
  assert.deepEqual(problems.filter((p) => !/404/.test(p)), []);
  console.log(`chromium: ${input.length} typed lines equal to native tern (${ms} ms)`);
} finally {
  await browser.close();
}
