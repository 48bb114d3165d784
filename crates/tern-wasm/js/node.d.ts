export { checkKernels, Translator } from "./tern_wasm.js";
export type { TranslatorOptions, TernError } from "./tern_wasm.js";
