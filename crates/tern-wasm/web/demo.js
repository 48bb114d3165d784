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
let wanted = 0; // the newest request; older answers are dropped

async function load(model, label) {
  $("source").disabled = true;
  status(`Loading ${label}...`);
  const started = performance.now();
  try {
    worker?.terminate();
    worker = null;
    worker = await TernWorker.create(model, languageOptions());
    const info = worker.info;
    showLanguages(info.languages);
    const mb = (info.modelBytes / 1e6).toFixed(1);
    const ms = Math.round(performance.now() - started);
    status(`Ready: ${label} (${mb} MB, kernels ${info.kernels}, loaded in ${ms} ms).`);
    $("source").disabled = false;
    $("source").focus();
    translate();
  } catch (e) {
    status(`${label}: ${e.message}`, true);
  }
}

function languageOptions() {
  if ($("languages").hidden) return {};
  return { sourceLang: $("source-lang").value, targetLang: $("target-lang").value };
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
$("load").addEventListener("click", () => {
  const file = $("model-file").files[0];
  if (file) file.arrayBuffer().then((b) => load(b, file.name));
  else if ($("model-url").value) load($("model-url").value, $("model-url").value);
  else status("Choose a model file or give its URL.", true);
});
for (const id of ["source-lang", "target-lang"]) {
  $(id).addEventListener("change", () => $("load").click());
}

// `?model=URL` loads a model at once (`cargo xtask web --model FILE` links it so).
const fromQuery = new URLSearchParams(location.search).get("model");
if (fromQuery) {
  $("model-url").value = fromQuery;
  load(fromQuery, fromQuery);
}
