"""Records the reference Bergamot engine's translations of tern's own test sentences.

usage: python models/record_bergamot.py BERGAMOT_DIR
  BERGAMOT_DIR: set up by ../shared/peers/bergamot/setup.sh (a CPython 3.10 venv with the
  bergamot 0.4.5 wheel, and models/enpt, models/pten with the Firefox tiny models). Run it with
  a Python that has numpy (e.g. target/py/bin/python from `cargo xtask py-env`).
Writes, for each of enpt and pten, one line per input line, one sentence per call:
  models/samples/bergamot/<pair>.expected        the int8 model as Firefox runs it
  models/samples/bergamot/<pair>.float.expected  the same model dequantized to a float .npz
                                                 (models/marian_bin_to_npz.py), gemm-precision float32
  models/samples/bergamot/enpt.prenorm.expected  that float model turned pre-norm
                                                 (models/marian_variant.py): a configuration check
  models/samples/bergamot/enpt.base.expected     a base-shaped model (models/marian_base_variant.py)
  models/samples/bergamot/enpt.split.expected    a split-vocabulary one (models/marian_split_variant.py)
tests/bergamot.rs compares tern's output with them.
"""
import os, subprocess, sys, tempfile

here = os.path.dirname(os.path.abspath(__file__))
berg = os.path.abspath(sys.argv[1])
samples = os.path.join(here, "samples", "bergamot")
runner = os.path.join(berg, "translate.py")


def bergamot(model_dir, config, text):
    # translate.py reads config.intgemm8bitalpha.yml; a float run gets its own directory.
    out = subprocess.run([os.path.join(berg, "venv/bin/python"), runner, model_dir, "--one-by-one"],
                         input=text, capture_output=True, text=True, check=True).stdout
    assert len(out.splitlines()) == len(text.splitlines()), "Bergamot lost or added lines"
    return out if out.endswith("\n") else out + "\n"


for pair, src in (("enpt", "en.txt"), ("pten", "pt.txt")):
    with open(os.path.join(samples, src), encoding="utf-8") as f:
        text = f.read()
    model_dir = os.path.join(berg, "models", pair)
    with open(os.path.join(samples, pair + ".expected"), "w", encoding="utf-8") as f:
        f.write(bergamot(model_dir, None, text))
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, os.path.join(here, "marian_bin_to_npz.py"), model_dir, tmp], check=True)
        cfg = os.path.join(tmp, "config.intgemm8bitalpha.yml")
        with open(cfg, encoding="utf-8") as f:
            yml = f.read()
        model = next(n for n in os.listdir(model_dir) if n.startswith("model") and n.endswith(".bin"))
        yml = yml.replace(model, "model.float.npz").replace("int8shiftAlphaAll", "float32")
        with open(cfg, "w", encoding="utf-8") as f:
            f.write(yml)
        with open(os.path.join(samples, pair + ".float.expected"), "w", encoding="utf-8") as f:
            f.write(bergamot(tmp, None, text))
        if pair == "enpt":
            pre = os.path.join(tmp, "prenorm")
            subprocess.run([sys.executable, os.path.join(here, "marian_variant.py"), tmp, pre], check=True)
            with open(os.path.join(samples, pair + ".prenorm.expected"), "w", encoding="utf-8") as f:
                f.write(bergamot(pre, None, text))
            # Firefox's other variants: a base-shaped model and a split-vocabulary one.
            base = os.path.join(tmp, "base")
            subprocess.run([sys.executable, os.path.join(here, "marian_base_variant.py"), tmp, base], check=True)
            with open(os.path.join(samples, pair + ".base.expected"), "w", encoding="utf-8") as f:
                f.write(bergamot(base, None, text))
            split = os.path.join(tmp, "split")
            subprocess.run([sys.executable, os.path.join(here, "marian_split_variant.py"), tmp, split], check=True)
            cfg = os.path.join(split, "config.intgemm8bitalpha.yml")
            with open(cfg, encoding="utf-8") as f:
                yml = f.read()
            spm = "vocab.%s.spm" % pair
            yml = yml.replace("- " + spm, "- src" + spm, 1).replace("- " + spm, "- trg" + spm, 1)
            lex = next(n for n in os.listdir(model_dir) if n.startswith("lex"))
            yml = yml.replace(lex, "lex.%s.s2t.bin" % pair)
            with open(cfg, "w", encoding="utf-8") as f:
                f.write(yml)
            with open(os.path.join(samples, pair + ".split.expected"), "w", encoding="utf-8") as f:
                f.write(bergamot(split, None, text))
    sys.stderr.write(f"{pair}: recorded\n")
