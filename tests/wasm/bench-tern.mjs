// tern's wasm package timed in Node the way bench-bergamot.mjs times Bergamot's: model loading
// and a warm-up line apart, then the lines one per call and all in one call, for R rounds. Run by
// `cargo xtask bench --only wasm`:
//   node tests/wasm/bench-tern.mjs --pkg DIR --model FILE --input FILE --rounds R [--batch B] [--text FILE]
// Prints JSON lines: {"engine":"tern-wasm","mode":"one"|"batch","round":k,"seconds":s,"lines":n};
// --text FILE gets the batched call's translations, one per line.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const { values: a } = parseArgs({
  options: {
    pkg: { type: "string" },
    model: { type: "string" },
    input: { type: "string" },
    rounds: { type: "string", default: "3" },
    batch: { type: "string", default: "32" },
    text: { type: "string" },
  },
});
const { Translator } = await import(pathToFileURL(join(a.pkg, "node.js")).href);
const lines = readFileSync(a.input, "utf8").replace(/\n$/, "").split("\n");
const emit = (o) => console.log(JSON.stringify({ engine: "tern-wasm", ...o }));

let t0 = performance.now();
const bytes = readFileSync(a.model);
const one = new Translator(bytes);
emit({ mode: "load", seconds: (performance.now() - t0) / 1000, kernels: one.kernels });
const batched = new Translator(bytes, { batch: Number(a.batch) });
// V8 compiles wasm quickly first and optimizes it while it runs: one warm-up line each, as
// bench-bergamot.mjs gives Bergamot (whose first call also builds its graph).
t0 = performance.now();
one.translate(lines[0]);
batched.translateBatch(lines.slice(0, 1));
emit({ mode: "warm-up", seconds: (performance.now() - t0) / 1000 });

let out = [];
for (let round = 1; round <= Number(a.rounds); round++) {
  t0 = performance.now();
  for (const line of lines) one.translate(line);
  emit({ mode: "one", round, seconds: (performance.now() - t0) / 1000, lines: lines.length });
  t0 = performance.now();
  out = batched.translateBatch(lines);
  emit({ mode: "batch", round, seconds: (performance.now() - t0) / 1000, lines: lines.length });
}
if (a.text) writeFileSync(a.text, out.join("\n") + "\n");
