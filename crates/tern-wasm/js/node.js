// tern for Node: the wasm module, instantiated from the package's own file.
import { readFileSync } from "node:fs";
import { checkKernels, initSync, Translator } from "./tern_wasm.js";

initSync({ module: readFileSync(new URL("./tern_wasm_bg.wasm", import.meta.url)) });

export { checkKernels, Translator };
