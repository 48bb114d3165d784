// The demo page: loads a model into a TernWorker and translates as you type. Only the newest
// text's translation is shown; `#target` carries the source it translates in `data-source`
// (tests wait on it).
import { TernWorker } from "./pkg/index.js";

const $ = (id) => document.getElementById(id);
const status = (text, error = false) => {
  $("status").textContent = text;
  $("status").className = error ? "error" : "";
};

let worker = null;
let wanted = 0; // the newest translation request; older answers are dropped
let loading = 0; // the newest load; an older one that finishes later is thrown away

// `sameModel`: only the languages changed, so the menus keep their choices.
async function load(model, label, sameModel = false) {
  const mine = ++loading;
  ++wanted; // answers from the old worker are stale now
  $("source").disabled = true;
  status(`Loading ${label}...`);
  if (!sameModel) resetLanguages();
  const started = performance.now();
  worker?.terminate();
  worker = null;
  try {
    const w = await TernWorker.create(model, languageOptions());
    if (mine !== loading) {
      w.terminate();
      return;
    }
    worker = w;
    const info = w.info;
    showLanguages(info.languages);
    const mb = (info.modelBytes / 1e6).toFixed(1);
    const ms = Math.round(performance.now() - started);
    status(`Ready: ${label} (${mb} MB, kernels ${info.kernels}, loaded in ${ms} ms).`);
    $("source").disabled = false;
    $("source").focus();
    translate();
  } catch (e) {
    if (mine === loading) status(`${label}: ${e.message}`, true);
  }
}

function languageOptions() {
  if ($("languages").hidden) return {};
  return { sourceLang: $("source-lang").value, targetLang: $("target-lang").value };
}

function resetLanguages() {
  $("languages").hidden = true;
  for (const id of ["source-lang", "target-lang"]) $(id).replaceChildren();
}

function showLanguages(codes) {
  if (!codes.length || !$("languages").hidden) return;
  for (const id of ["source-lang", "target-lang"]) {
    $(id).replaceChildren(...codes.map((c) => new Option(c, c)));
  }
  $("target-lang").selectedIndex = Math.min(1, codes.length - 1);
  $("languages").hidden = false;
}

async function translate() {
  if (!worker) return;
  const text = $("source").value;
  const mine = ++wanted;
  const started = performance.now();
  try {
    const out = await worker.translate(text);
    if (mine !== wanted) return;
    $("target").textContent = out;
    $("target").dataset.source = text;
    if (text.trim()) status(`Translated in ${Math.round(performance.now() - started)} ms.`);
  } catch (e) {
    if (mine !== wanted) return;
    $("target").textContent = "";
    $("target").dataset.source = text;
    status(e.message, true);
  }
}

let timer = 0;
$("source").addEventListener("input", () => {
  clearTimeout(timer);
  timer = setTimeout(translate, 150);
});
// The model's source: a chosen file, else the URL. Languages are set when a model loads, so a
// change of language loads the same model again with the new pair.
function loadChosen(sameModel) {
  const file = $("model-file").files[0];
  if (file) file.arrayBuffer().then((b) => load(b, file.name, sameModel));
  else if ($("model-url").value) load($("model-url").value, $("model-url").value, sameModel);
  else status("Choose a model file or give its URL.", true);
}
$("load").addEventListener("click", () => loadChosen(false));
for (const id of ["source-lang", "target-lang"]) {
  $(id).addEventListener("change", () => loadChosen(true));
}

// `?model=URL` loads a model at once (`cargo xtask web --model FILE` links it so).
const fromQuery = new URLSearchParams(location.search).get("model");
if (fromQuery) {
  $("model-url").value = fromQuery;
  load(fromQuery, fromQuery);
}
