import type { TranslatorOptions } from "./tern_wasm.js";
export type { TranslatorOptions } from "./tern_wasm.js";

/** A failed call. */
export class TernError extends Error {
  name: "TernError";
  code: "setting" | "language" | "markup" | "model" | "translation";
}

/** What a loaded model is. */
export interface ModelInfo {
  /** Language codes (empty for a model of one language pair). */
  languages: string[];
  /** Kernel table: "simd128" or "scalar". */
  kernels: string;
  /** Bytes of the model file. */
  modelBytes: number;
}

/** tern in a Web Worker: every call is answered by a promise, off the main thread. */
export class TernWorker {
  info: ModelInfo | null;
  constructor(workerUrl?: URL | string);
  /** Starts a worker and loads `model` (a URL the worker fetches, or the file's bytes). */
  static create(model: string | URL | ArrayBuffer, options?: TranslatorOptions, workerUrl?: URL | string): Promise<TernWorker>;
  load(model: string | URL | ArrayBuffer, options?: TranslatorOptions): Promise<ModelInfo>;
  /** Translates text line by line. */
  translate(text: string): Promise<string>;
  /** Translates an array of lines in one call. */
  translateBatch(lines: string[]): Promise<string[]>;
  terminate(): void;
}
