// Times Mozilla's own WebAssembly engine, the npm package @browsermt/bergamot-translator
// (0.4.9), in Node on a Firefox model, so tern's wasm build can be compared with it:
//   node tests/wasm/bench-bergamot.mjs --node-dir DIR --model-dir DIR --input FILE --rounds R [--out FILE]
// DIR/node_modules holds the package; the model dir holds Firefox's model.*.intgemm.alphas.bin,
// lex.*.s2t.bin and vocab.*.spm. Prints JSON lines: the load times, one per round and mode
// ("one": a translate call per line, "batch": every line in one call), then the batched text.
import { appendFileSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import vm from "node:vm";

const { values: args } = parseArgs({
  options: {
    "node-dir": { type: "string" },
    "model-dir": { type: "string" },
    input: { type: "string" },
    rounds: { type: "string", default: "1" },
    out: { type: "string" },
  },
});
for (const name of ["node-dir", "model-dir", "input"]) {
  if (!args[name]) throw new Error(`--${name} is required`);
}
const rounds = Number(args.rounds);
if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a positive integer, not ${args.rounds}`);

if (args.out) writeFileSync(args.out, "");
const emit = (record) => {
  const line = JSON.stringify({ engine: "bergamot-wasm", ...record });
  if (args.out) appendFileSync(args.out, line + "\n");
  else console.log(line);
};

const workerDir = join(args["node-dir"], "node_modules/@browsermt/bergamot-translator/worker");
const wasmBytes = readFileSync(join(workerDir, "bergamot-translator-worker.wasm"));

// The same names translator-worker.js links when Firefox's native `mozIntGemm` is not asked
// for (its default): marian imports its int8 GEMM from a "wasm_gemm" module, and the binary
// exports its own intgemm build under these fallback names.
const GEMM_TO_FALLBACK = {
  int8_prepare_a: "int8PrepareAFallback",
  int8_prepare_b: "int8PrepareBFallback",
  int8_prepare_b_from_transposed: "int8PrepareBFromTransposedFallback",
  int8_prepare_b_from_quantized_transposed: "int8PrepareBFromQuantizedTransposedFallback",
  int8_prepare_bias: "int8PrepareBiasFallback",
  int8_multiply_and_add_bias: "int8MultiplyAndAddBiasFallback",
  int8_select_columns_of_b: "int8SelectColumnsOfBFallback",
};

// The glue is an Emscripten web/worker build with no Node branch, so, as the package's own
// Node shim does, define a global `Module` and evaluate the script in the global scope. The
// instantiateWasm hook hands it the binary read from disk (the glue would fetch it by URL).
let started = performance.now();
const Module = await new Promise((resolve, reject) => {
  const emscripten = {
    // Keep stdout for the JSON lines.
    print: (text) => console.error(text),
    printErr: (text) => console.error(text),
    instantiateWasm(info, accept) {
      // Lazy, because .asm (the exports) only exists once the instance does.
      const wasmGemm = Object.fromEntries(
        Object.entries(GEMM_TO_FALLBACK).map(([name, fallback]) => [name, (...a) => emscripten.asm[fallback](...a)]),
      );
      WebAssembly.instantiate(wasmBytes, { ...info, wasm_gemm: wasmGemm })
        .then(({ instance, module }) => accept(instance, module))
        .catch(reject);
      return {};
    },
    onRuntimeInitialized: () => resolve(emscripten),
  };
  globalThis.Module = emscripten;
  const gluePath = join(workerDir, "bergamot-translator-worker.js");
  vm.runInThisContext(readFileSync(gluePath, "utf8"), { filename: gluePath });
});
const moduleSeconds = (performance.now() - started) / 1000;

// As translator-worker.js's loadTranslationModel: its defaults and its forced overrides, except
// max-length-factor, which is 2.5 in the model's own config (the package forces 2.0). The
// shortlist is not named here: passing lex.50.50's bytes is what selects it (50 and 50 are
// baked into that binary file). workspace 128 is the package's, not the yml's 2000.
const config = `
beam-size: 1
normalize: 1.0
word-penalty: 0
cpu-threads: 0
gemm-precision: int8shiftAlphaAll
skip-cost: true
alignment: soft
quiet: true
quiet-translation: true
max-length-break: 128
mini-batch-words: 1024
workspace: 128
max-length-factor: 2.5
`;

const files = readdirSync(args["model-dir"]);
const modelFile = (pattern) => {
  const found = files.filter((name) => pattern.test(name));
  if (found.length !== 1) throw new Error(`want one ${pattern} in ${args["model-dir"]}, found ${found.length}`);
  return join(args["model-dir"], found[0]);
};
// Marian reads the weights in place with vector loads, hence the package's alignments.
const aligned = (path, alignment) => {
  const bytes = readFileSync(path);
  const memory = new Module.AlignedMemory(bytes.byteLength, alignment);
  memory.getByteArrayView().set(bytes);
  return memory;
};

started = performance.now();
const vocabs = new Module.AlignedMemoryList();
vocabs.push_back(aligned(modelFile(/^vocab\..*\.spm$/), 64));
const model = new Module.TranslationModel(
  config,
  aligned(modelFile(/^model\..*\.intgemm\.alphas\.bin$/), 256),
  aligned(modelFile(/^lex\..*\.s2t\.bin$/), 64),
  vocabs,
  null, // no quality-estimation model
);
// cacheSize 0 (the package's default) so later rounds translate again instead of looking up.
const service = new Module.BlockingService({ cacheSize: 0 });
const modelSeconds = (performance.now() - started) / 1000;

const translate = (texts) => {
  const input = new Module.VectorString();
  const options = new Module.VectorResponseOptions();
  for (const text of texts) {
    input.push_back(text);
    options.push_back({ alignment: false, html: false, qualityScores: false });
  }
  const responses = service.translate(model, input, options);
  input.delete();
  options.delete();
  const out = texts.map((_, i) => responses.get(i).getTranslatedText());
  responses.delete();
  return out;
};

const lines = readFileSync(args.input, "utf8").replace(/\n$/, "").split("\n");

// Marian builds the graph and prepares the int8 weights on the first translation, not in
// the TranslationModel constructor, so that first call is timed as part of loading.
started = performance.now();
translate([lines[0]]);
const firstSeconds = (performance.now() - started) / 1000;

emit({
  load: { module: moduleSeconds, model: modelSeconds, firstTranslate: firstSeconds },
  wasmBytes: wasmBytes.length,
  // Node has no WebAssembly.mozIntGemm (a Firefox-only builtin), and the package only uses
  // it when asked to, so the GEMM is the intgemm compiled into the binary.
  gemm: "wasm-fallback",
  mozIntGemm: typeof WebAssembly.mozIntGemm === "function",
});

for (let round = 1; round <= rounds; round++) {
  started = performance.now();
  for (const line of lines) translate([line]);
  emit({ mode: "one", round, seconds: (performance.now() - started) / 1000, lines: lines.length });
}
let translations;
for (let round = 1; round <= rounds; round++) {
  started = performance.now();
  translations = translate(lines);
  emit({ mode: "batch", round, seconds: (performance.now() - started) / 1000, lines: lines.length });
}
emit({ translations });

model.delete();
service.delete();
