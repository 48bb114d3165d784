// tern's Web Worker: loads the wasm module and one model, then translates what the page sends,
// so the page's main thread never waits on a translation. Spoken to by `TernWorker` (index.js):
// each request is {id, op, ...}; each reply {id, ok} or {id, error: {name, code, message}};
// requests are answered one at a time, in order.
import init, { Translator } from "./tern_wasm.js";

let translator = null;

async function modelBytes(model) {
  if (typeof model === "string") {
    const response = await fetch(model);
    if (!response.ok) {
      throw Object.assign(new Error(`${model}: HTTP ${response.status} ${response.statusText}`), {
        name: "TernError",
        code: "model",
      });
    }
    return new Uint8Array(await response.arrayBuffer());
  }
  return new Uint8Array(model);
}

const ops = {
  async load({ model, options }) {
    await init();
    const bytes = await modelBytes(model);
    // The new model first: if it fails, the old one stays loaded.
    const next = new Translator(bytes, options ?? {});
    if (translator) translator.free();
    translator = next;
    return {
      languages: translator.languages,
      kernels: translator.kernels,
      modelBytes: translator.modelBytes,
    };
  },
  translate({ text }) {
    return loaded().translate(text);
  },
  translateBatch({ lines }) {
    return loaded().translateBatch(lines);
  },
};

function loaded() {
  if (!translator) {
    throw Object.assign(new Error("no model is loaded yet"), { name: "TernError", code: "setting" });
  }
  return translator;
}

async function answer({ id, op, ...data }) {
  try {
    const run = ops[op];
    if (!run) throw Object.assign(new Error(`unknown request ${op}`), { name: "TernError", code: "setting" });
    self.postMessage({ id, ok: await run(data) });
  } catch (e) {
    self.postMessage({
      id,
      error: { name: e?.name ?? "Error", code: e?.code, message: String(e?.message ?? e) },
    });
  }
}

// One request at a time, in the order they came: a translation sent after a load runs on the
// new model, whatever the load waits for (fetch, compilation).
let queue = Promise.resolve();
self.onmessage = ({ data }) => {
  queue = queue.then(() => answer(data));
};
