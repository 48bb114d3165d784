// The npm package in Node against native tern: every line's text, the same text for the
// whole input at once, batched, with the scalar kernels; and a TernError of the right code for
// each kind of bad input. Run by `cargo xtask wasm --test` (which writes the native text):
//   node tests/wasm/node.mjs PKG MODEL INPUT EXPECTED
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [pkg, modelPath, inputPath, expectedPath] = process.argv.slice(2);
const { checkKernels, Translator } = await import(pathToFileURL(join(pkg, "node.js")).href);
// The simd128 table against the scalar one on awkward shapes (cargo test cannot run wasm).
assert.equal(checkKernels(), "simd128");
const lines = (path) => readFileSync(path, "utf8").replace(/\n$/, "").split("\n");
const input = lines(inputPath);
const expected = lines(expectedPath);
assert.equal(input.length, expected.length, "native tern gave one line per input line");
const bytes = readFileSync(modelPath);

const t = new Translator(bytes);
assert.equal(t.kernels, "simd128");
assert.equal(t.modelBytes, bytes.length);
let started = performance.now();
input.forEach((line, i) => assert.equal(t.translate(line), expected[i], `line ${i + 1}: ${line}`));
const oneByOne = performance.now() - started;
assert.equal(t.translate(input.join("\n")), expected.join("\n"), "the whole input at once");

started = performance.now();
assert.deepEqual(t.translateBatch(input), expected, "translateBatch, one at a time");
const batched = new Translator(bytes, { batch: 16 });
// Batching changes speed, never text: each sentence stops at its own length cap.
assert.deepEqual(batched.translateBatch(input), expected, "translateBatch, batch 16");
const batchMs = performance.now() - started;

const scalar = new Translator(bytes, { kernels: "scalar" });
assert.equal(scalar.kernels, "scalar");
for (let i = 0; i < 6; i++) assert.equal(scalar.translate(input[i]), expected[i], `scalar, line ${i + 1}`);

// Bad input: a TernError with a code, and the translator still works after it.
const fails = (f, code, pattern) =>
  assert.throws(f, (e) => {
    assert.equal(e.name, "TernError", String(e));
    assert.equal(e.code, code, e.message);
    if (pattern) assert.match(e.message, pattern);
    return true;
  });
fails(() => new Translator(new Uint8Array([1, 2, 3])), "model");
fails(() => new Translator(bytes.subarray(0, 4096)), "model");
fails(() => new Translator(bytes, { beam: 0 }), "setting", /^beam must be between 1 and 64, not 0$/);
fails(() => new Translator(bytes, { beam: 1.5 }), "setting", /beam/);
fails(() => new Translator(bytes, { beam: "4" }), "setting", /beam/);
fails(() => new Translator(bytes, { bema: 4 }), "setting", /unknown option "bema"/);
fails(() => new Translator(bytes, { kernels: "avx9" }), "setting", /avx9/);
fails(() => new Translator(bytes, "fast"), "setting", /object/);
fails(() => new Translator(bytes, { targetLang: "por_Latn" }), "language");
fails(() => t.translateBatch(["one", "two\nthree"]), "setting", /^line 2/);
// (A line that fails to translate is a "translation" error: Firefox's models translate an
// over-long sentence in pieces instead, so the Rust tests check that kind on another model.)
assert.equal(t.translate(input[0]), expected[0], "still translates after errors");
for (const x of [t, batched, scalar]) x.free();

console.log(
  `node: ${input.length} lines equal to native tern (one per call ${oneByOne.toFixed(0)} ms, ` +
    `batched ${batchMs.toFixed(0)} ms; module ${(readFileSync(join(pkg, "tern_wasm_bg.wasm")).length / 1024).toFixed(0)} KiB)`,
);
