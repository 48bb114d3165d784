//! The JavaScript boundary: `Translator` as wasm-bindgen exports it. Values are converted
//! here and nothing else happens; every failure becomes a thrown `TernError` (an `Error` whose
//! `name` is `"TernError"` and `code` says which kind, see [`Failure`]). Rust panics never
//! reach JavaScript as anything but a trap: the core has none on input, and the boundary
//! checks every value before it is used.

use crate::{Failure, Model};
use js_sys::{Object, Reflect, Uint8Array};
use tern::Settings;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_OPTIONS: &'static str = r#"
/** Settings of a `Translator`; every one is optional (the model file's defaults). */
export interface TranslatorOptions {
  /** Source language code as the model spells it (`eng_Latn`, `en`); multilingual models. */
  sourceLang?: string;
  /** Target language code; multilingual models. */
  targetLang?: string;
  /** Beam size, 1..=64 (1: greedy). */
  beam?: number;
  /** Most target tokens. */
  maxLength?: number;
  /** Most source tokens; longer sentences are cut if `truncate`, else refused. */
  maxSourceLength?: number;
  /** Cut over-long sentences instead of failing (default true, as the CLI). */
  truncate?: boolean;
  /** Sentences decoded together by `translateBatch` (greedy models). */
  batch?: number;
  /** Kernel table: "simd128" (the default) or "scalar" (for comparison). */
  kernels?: string;
}

/** What a failed call throws: `code` is "setting", "language", "markup", "model" or "translation". */
export interface TernError extends Error {
  name: "TernError";
  code: "setting" | "language" | "markup" | "model" | "translation";
}
"#;

fn throw(f: Failure) -> JsValue {
    let e = js_sys::Error::new(&f.message);
    e.set_name("TernError");
    // Setting a property on a fresh, unfrozen Error cannot fail.
    let _ = Reflect::set(&e, &"code".into(), &f.kind.into());
    e.into()
}

/// Runs the kernel table this module uses against the scalar one on awkward shapes (lengths
/// that are no multiple of a vector, one row and several): throws a `TernError` naming the
/// first routine that differs. The tests call it; `cargo test` cannot run wasm kernels.
#[wasm_bindgen(js_name = checkKernels)]
pub fn check_kernels() -> Result<String, JsValue> {
    let k = tern::tern_core::kernels::Kernels::best();
    tern::tern_core::kernels::check::compare_with_scalar(&k)
        .map(|()| k.name.to_string())
        .map_err(|m| throw(Failure::new("translation", m.to_string())))
}

fn setting(message: String) -> JsValue {
    throw(Failure::new("setting", message))
}

/// The options object, checked key by key: an unknown key or a value of the wrong type is a
/// `setting` error naming it (a typo is not silently ignored).
fn settings(options: Option<JsValue>) -> Result<(Settings, Option<String>), JsValue> {
    // Over-long sentences are cut, as the CLI does by default (Firefox's models translate them
    // in pieces instead); `truncate: false` makes them an error.
    let mut s = Settings {
        truncate: true,
        ..Settings::default()
    };
    let mut kernels = None;
    let options = match options {
        None => return Ok((s, kernels)),
        Some(v) if v.is_undefined() || v.is_null() => return Ok((s, kernels)),
        Some(v) => v,
    };
    // Any object (also one without Object's prototype, or from another realm).
    if !options.is_object() {
        return Err(setting("options must be an object".into()));
    }
    let obj: &Object = options.unchecked_ref();
    for key in Object::keys(obj).iter() {
        let name = key.as_string().unwrap_or_default();
        let v = Reflect::get(obj, &key)?;
        if v.is_undefined() {
            continue;
        }
        let text = |v: &JsValue| {
            v.as_string()
                .ok_or_else(|| setting(format!("{name} must be a string")))
        };
        let count = |v: &JsValue| match v.as_f64() {
            Some(n) if n >= 0.0 && n.fract() == 0.0 && n <= u32::MAX as f64 => Ok(n as usize),
            _ => Err(setting(format!(
                "{name} must be a whole number of at least 0"
            ))),
        };
        match name.as_str() {
            "sourceLang" => s.source_lang = Some(text(&v)?),
            "targetLang" => s.target_lang = Some(text(&v)?),
            "beam" => s.beam = Some(count(&v)?),
            "maxLength" => s.max_len = Some(count(&v)?),
            "maxSourceLength" => s.max_src_len = Some(count(&v)?),
            "batch" => s.batch = Some(count(&v)?),
            "truncate" => {
                s.truncate = v
                    .as_bool()
                    .ok_or_else(|| setting("truncate must be true or false".into()))?
            }
            "kernels" => kernels = Some(text(&v)?),
            _ => {
                return Err(setting(format!(
                    "unknown option {name:?} (known: sourceLang, targetLang, beam, maxLength, \
                     maxSourceLength, truncate, batch, kernels)"
                )))
            }
        }
    }
    Ok((s, kernels))
}

/// A translation model loaded into WebAssembly memory.
#[wasm_bindgen(js_name = Translator)]
pub struct JsTranslator {
    model: Model,
}

#[wasm_bindgen(js_class = Translator)]
impl JsTranslator {
    /// Loads a model file's bytes (copied once into wasm memory; the array may be reused).
    /// Throws a `TernError` with code `model` if they are not a usable tern model.
    #[wasm_bindgen(constructor)]
    pub fn new(
        model: &Uint8Array,
        #[wasm_bindgen(unchecked_optional_param_type = "TranslatorOptions")] options: Option<
            JsValue,
        >,
    ) -> Result<JsTranslator, JsValue> {
        let (s, kernels) = settings(options)?;
        let len = model.length() as usize;
        let mut words = vec![0u64; len.div_ceil(8)];
        model.copy_to(&mut tern::tern_core::plan::as_bytes_mut(&mut words)[..len]);
        Model::load(words, len, s, kernels.as_deref())
            .map(|model| JsTranslator { model })
            .map_err(throw)
    }

    /// Translates text line by line (each line on its own, line breaks kept).
    pub fn translate(&mut self, text: &str) -> Result<String, JsValue> {
        self.model.translate(text).map_err(throw)
    }

    /// Translates an array of lines in one call (batched with the `batch` option).
    #[wasm_bindgen(js_name = translateBatch)]
    pub fn translate_batch(&mut self, lines: Vec<String>) -> Result<Vec<String>, JsValue> {
        self.model.translate_batch(&lines).map_err(throw)
    }

    /// The model's language codes (empty for a model of one language pair).
    #[wasm_bindgen(getter)]
    pub fn languages(&self) -> Vec<String> {
        self.model.languages()
    }

    /// The kernel table in use.
    #[wasm_bindgen(getter)]
    pub fn kernels(&self) -> String {
        self.model.kernels().to_string()
    }

    /// Bytes of the model file.
    #[wasm_bindgen(getter, js_name = modelBytes)]
    pub fn model_bytes(&self) -> usize {
        self.model.model_bytes()
    }
}
