"""Records the reference Bergamot engine's word alignments and HTML translations.

usage: python models/record_bergamot_attention.py BERGAMOT_DIR
  BERGAMOT_DIR: set up by ../shared/peers/bergamot/setup.sh (a CPython 3.10 venv with the
  bergamot 0.4.5 wheel, and models/enpt, models/pten with the Firefox tiny models). Any Python
  can start it: it re-runs itself under BERGAMOT_DIR/venv/bin/python. It needs g++ and pip
  (pybind11 2.9.2 headers go into a temporary directory, or set PYBIND11_INCLUDE).
Each model runs from its directory's config.intgemm8bitalpha.yml (as record_bergamot.py does) plus
the `alignment: soft` Firefox adds (without it Marian computes no attention and HTML mode aborts),
one input per call. int8 results depend on the CPU's intgemm path (these came from an AVX2 machine).
Writes:
  models/samples/bergamot/enpt.alignments.jsonl  20 one-sentence lines of en.txt
  models/samples/bergamot/pten.alignments.jsonl  10 one-sentence lines of pt.txt
    one JSON object per line: source, target (texts); source_tokens, target_tokens ([begin, end)
    byte ranges of the SentencePiece pieces as Bergamot annotates them, leading space included,
    the last one the empty EOS range); soft ([target token][source token] = P(s|t), rows and
    columns include EOS: Marian's head 0 cross-attention of the last decoder layer, post-softmax,
    float32 values written as exact doubles);
    argmax ([t, s] with s the first maximum of row t, for t < last; the EOS row -> source EOS);
    hard ([t, s] as Bergamot's HTML::hardAlignments derives it for text without markup: argmax,
    then each subword continuing a word takes the source of the word's last subword, EOS -> EOS).
  models/samples/bergamot/<pair>.float.alignments.jsonl  the same for the model dequantized to a
    float .npz (as for <pair>.float.expected; needs numpy: NUMPY_PYTHON, default target/py)
  models/samples/bergamot/enpt.html.expected     html.en.txt translated with HTML=True
  models/samples/bergamot/enpt.float.html.expected  the same with the float model
`response.alignments` is unusable from Python in the 0.4.5 wheel (PYBIND11_MAKE_OPAQUE without a
binding), so a ten-line pybind11 module registers that vector type in the shared pybind11 registry.
"""
import glob, json, os, subprocess, sys, sysconfig, tempfile

here = os.path.dirname(os.path.abspath(__file__))
berg = os.path.abspath(sys.argv[1])
samples = os.path.join(here, "samples", "bergamot")
venv_python = os.path.join(berg, "venv", "bin", "python")
if os.path.realpath(sys.prefix) != os.path.realpath(os.path.join(berg, "venv")):
    os.execv(venv_python, [venv_python, os.path.abspath(__file__)] + sys.argv[1:])

# import the native module directly: the package's __init__ tries to reach a model repository online
sys.path.insert(0, glob.glob(os.path.join(berg, "venv/lib/python3.*/site-packages/bergamot"))[0])
import _bergamot as B

# The wheel was built by GCC 10 (C++ ABI 1014) with pybind11 v2.9.0-37 (internals v4); a module built
# the same way shares its type registry, so `Response.alignments` finds this binding.
HELPER = r"""
#include <pybind11/pybind11.h>
#include <vector>
namespace py = pybind11;
using Alignments = std::vector<std::vector<std::vector<float>>>;
PYBIND11_MODULE(bergamot_alignments, m) {
  py::class_<Alignments>(m, "Alignments", py::module_local(false))
      .def("tolist", [](const Alignments &a) {
        py::list out;
        for (auto &sentence : a) {
          py::list rows;
          for (auto &row : sentence) {
            py::list r;
            for (float x : row) r.append(py::float_(x));
            rows.append(r);
          }
          out.append(rows);
        }
        return out;
      });
}
"""


def build_helper(tmp):
    include = os.environ.get("PYBIND11_INCLUDE")
    if not include:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "--target", os.path.join(tmp, "pb"), "pybind11==2.9.2"], check=True)
        include = os.path.join(tmp, "pb", "pybind11", "include")
    src = os.path.join(tmp, "bergamot_alignments.cpp")
    with open(src, "w") as f:
        f.write(HELPER)
    out = os.path.join(tmp, "bergamot_alignments" + sysconfig.get_config_var("EXT_SUFFIX"))
    subprocess.run(["g++", "-O1", "-shared", "-fPIC", "-std=c++14", "-fabi-version=14",
                    "-D_GLIBCXX_USE_CXX11_ABI=0", '-DPYBIND11_BUILD_ABI="_cxxabi1014"',
                    "-I" + include, "-I" + sysconfig.get_paths()["include"], src, "-o", out], check=True)
    sys.path.insert(0, tmp)
    import bergamot_alignments  # noqa: F401  (registers the type)


def load(svc, pair, d=None):
    # The model directory's config with absolute paths, plus what Firefox adds: alignment: soft.
    d = d or os.path.join(berg, "models", pair)
    with open(os.path.join(d, "config.intgemm8bitalpha.yml"), encoding="utf-8") as f:
        yml = f.read()
    for name in os.listdir(d):
        yml = yml.replace(" " + name + "\n", " " + os.path.join(d, name) + "\n")
    yml = yml.replace("relative-paths: true", "relative-paths: false")
    return svc.modelFromConfig(yml.rstrip("\n") + "\nalignment: soft\n")


def ranges(text, sentence):
    return [[text.wordAsByteRange(sentence, w).begin, text.wordAsByteRange(sentence, w).end]
            for w in range(text.numWords(sentence))]


def is_continuation(prev, cur):
    # HTML::isContinuation with the default continuationDelimiters "\n ,.(){}[]"
    delims = b"\n ,.(){}[]"
    return bool(prev) and bool(cur) and cur[0] not in delims and prev[-1] not in delims


def hard_alignment(soft, target_pieces):
    # HTML::hardAlignments (bergamot-translator v0.4.5 src/translator/html.cpp:752-809) for a
    # response without markup: every tag stack is empty, so `extends` always holds.
    n = len(soft)
    hard = [max(range(len(row)), key=lambda s: (row[s], -s)) for row in soft[:n - 1]]
    argmax = list(hard)
    for t in range(1, n - 1):
        if is_continuation(target_pieces[t - 1], target_pieces[t]):
            i = t
            while True:
                hard[i] = hard[t]
                if i == 0 or not is_continuation(target_pieces[i - 1], target_pieces[i]):
                    break
                i -= 1
    eos = len(soft[0]) - 1
    return [[t, s] for t, s in enumerate(argmax + [eos])], [[t, s] for t, s in enumerate(hard + [eos])]


def float_model(pair, tmp):
    """The model dequantized to a float .npz (models/marian_bin_to_npz.py, run by NUMPY_PYTHON,
    default target/py/bin/python), with a gemm-precision float32 config, as record_bergamot.py
    makes it for <pair>.float.expected."""
    model_dir = os.path.join(berg, "models", pair)
    out = os.path.join(tmp, pair + "-float")
    py = os.environ.get("NUMPY_PYTHON", os.path.join(here, "..", "target", "py", "bin", "python"))
    subprocess.run([py, os.path.join(here, "marian_bin_to_npz.py"), model_dir, out], check=True)
    cfg = os.path.join(out, "config.intgemm8bitalpha.yml")
    with open(cfg, encoding="utf-8") as f:
        yml = f.read()
    model = next(n for n in os.listdir(model_dir) if n.startswith("model") and n.endswith(".bin"))
    yml = yml.replace(model, "model.float.npz").replace("int8shiftAlphaAll", "float32")
    with open(cfg, "w", encoding="utf-8") as f:
        f.write(yml)
    return out


def record_alignments(svc, pair, src_file, count, model_dir=None, suffix=""):
    model = load(svc, pair, model_dir)
    opts = B.ResponseOptions(alignment=True, qualityScores=False, HTML=False)
    with open(os.path.join(samples, src_file), encoding="utf-8") as f:
        lines = f.read().splitlines()
    # <pair>.expected came from a CPU whose int8 kernels round differently; compare with this CPU.
    plain = svc.modelFromConfigPath(os.path.join(model_dir or os.path.join(berg, "models", pair),
                                                 "config.intgemm8bitalpha.yml"))
    no_align = B.ResponseOptions(alignment=False, qualityScores=False, HTML=False)
    records = []
    for line in lines:
        r = svc.translate(model, B.VectorString([line]), opts)[0]
        if r.source.numSentences() != 1:
            continue  # two sentences give two matrices; keep the format one matrix per line
        plain_text = svc.translate(plain, B.VectorString([line]), no_align)[0].target.text
        assert r.target.text == plain_text, "alignment: soft changed the translation"
        soft = r.alignments.tolist()[0]
        src, tgt = ranges(r.source, 0), ranges(r.target, 0)
        assert len(soft) == len(tgt) and all(len(row) == len(src) for row in soft)
        assert all(abs(sum(row) - 1) < 1e-4 for row in soft)
        pieces = [r.target.text.encode("utf-8")[b:e] for b, e in tgt]
        argmax, hard = hard_alignment(soft, pieces)
        records.append({"source": r.source.text, "target": r.target.text, "source_tokens": src,
                        "target_tokens": tgt, "soft": soft, "argmax": argmax, "hard": hard})
        if len(records) == count:
            break
    with open(os.path.join(samples, pair + suffix + ".alignments.jsonl"), "w", encoding="utf-8") as f:
        for rec in records:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    sys.stderr.write(f"{pair}{suffix}: {len(records)} alignments recorded\n")


def record_html(svc, model_dir=None, suffix=""):
    model = load(svc, "enpt", model_dir)
    opts = B.ResponseOptions(alignment=True, qualityScores=False, HTML=True)
    with open(os.path.join(samples, "html.en.txt"), encoding="utf-8") as f:
        lines = f.read().splitlines()
    out = []
    for line in lines:
        text = svc.translate(model, B.VectorString([line]), opts)[0].target.text
        assert "\n" not in text, "HTML output spans lines: %r" % text
        out.append(text)
    with open(os.path.join(samples, "enpt" + suffix + ".html.expected"), "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")
    sys.stderr.write(f"enpt{suffix}: {len(out)} HTML fragments recorded\n")


with tempfile.TemporaryDirectory() as tmp:
    build_helper(tmp)
    svc = B.Service(B.ServiceConfig(numWorkers=1, cacheSize=0, logLevel="off"))
    record_alignments(svc, "enpt", "en.txt", 20)
    record_alignments(svc, "pten", "pt.txt", 10)
    for pair, src, count in (("enpt", "en.txt", 20), ("pten", "pt.txt", 10)):
        record_alignments(svc, pair, src, count, float_model(pair, tmp), ".float")
    record_html(svc)
    record_html(svc, os.path.join(tmp, "enpt-float"), ".float")
