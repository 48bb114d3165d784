// tern in the browser: `TernWorker` runs the model in a Web Worker and answers with promises,
// so translating never blocks the page. For Node, or a worker of your own, use the module
// itself: `import init, { Translator } from "tern-wasm/wasm"` (see README.md).

/** A failed call: `code` is "setting", "language", "markup", "model" or "translation". */
export class TernError extends Error {
  constructor(message, code) {
    super(message);
    this.name = "TernError";
    this.code = code;
  }
}

export class TernWorker {
  #worker;
  #next = 0;
  #pending = new Map();
  /** Why the worker can take no more requests (terminated, or it failed), once it cannot. */
  #dead = null;

  /** Info about the loaded model: `languages`, `kernels`, `modelBytes`. */
  info = null;

  constructor(workerUrl = new URL("./worker.js", import.meta.url)) {
    this.#worker = new Worker(workerUrl, { type: "module" });
    this.#worker.onmessage = ({ data }) => {
      const p = this.#pending.get(data.id);
      if (!p) return;
      this.#pending.delete(data.id);
      if ("error" in data) {
        const { name, code, message } = data.error;
        p.reject(name === "TernError" ? new TernError(message, code) : new Error(message));
      } else {
        p.resolve(data.ok);
      }
    };
    this.#worker.onerror = (e) => this.#end(new Error(`tern worker failed: ${e.message ?? e}`));
  }

  /** Rejects what is pending, and every later call, with `err`. */
  #end(err) {
    this.#dead ??= err;
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
  }

  #call(op, args, transfer = []) {
    if (this.#dead) return Promise.reject(this.#dead);
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      try {
        this.#worker.postMessage({ id, op, ...args }, transfer);
      } catch (e) {
        this.#pending.delete(id);
        reject(e);
      }
    });
  }

  /**
   * Starts a worker and loads a model into it: `model` is a URL (relative to the page; fetched
   * by the worker) or the file's bytes (an ArrayBuffer, moved to the worker).
   */
  static async create(model, options = {}, workerUrl) {
    const w = new TernWorker(workerUrl);
    try {
      await w.load(model, options);
    } catch (e) {
      w.terminate();
      throw e;
    }
    return w;
  }

  /** Loads (or replaces) the worker's model. */
  async load(model, options = {}) {
    // A relative URL is the page's, not the worker script's.
    if (typeof model === "string" || model instanceof URL) {
      model = new URL(model, globalThis.location?.href).href;
    }
    const transfer = model instanceof ArrayBuffer ? [model] : [];
    // A failed load keeps the old model (and its info).
    this.info = await this.#call("load", { model, options }, transfer);
    return this.info;
  }

  /** Translates text line by line. */
  translate(text) {
    return this.#call("translate", { text: String(text) });
  }

  /** Translates an array of lines in one call. */
  translateBatch(lines) {
    return this.#call("translateBatch", { lines: Array.from(lines, String) });
  }

  /** Stops the worker; pending and later calls are rejected. */
  terminate() {
    this.#worker.terminate();
    this.#end(new Error("tern worker terminated"));
  }
}
