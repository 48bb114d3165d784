"""Records the reference Bergamot engine's translations of tern's own test sentences.

usage: python models/record_bergamot.py BERGAMOT_DIR
  BERGAMOT_DIR: set up by ../shared/peers/bergamot/setup.sh (a CPython 3.10 venv with the
  bergamot 0.4.5 wheel, and models/enpt, models/pten with the Firefox tiny models).
Writes models/samples/bergamot/{enpt,pten}.expected: one line per input line, one sentence
per call (as an on-device app translates). tests/bergamot.rs compares tern's output with them.
"""
import os, subprocess, sys

here = os.path.dirname(os.path.abspath(__file__))
berg = os.path.abspath(sys.argv[1])
samples = os.path.join(here, "samples", "bergamot")
for pair, src in (("enpt", "en.txt"), ("pten", "pt.txt")):
    with open(os.path.join(samples, src), encoding="utf-8") as f:
        lines = f.read()
    out = subprocess.run(
        [os.path.join(berg, "venv/bin/python"), os.path.join(berg, "translate.py"),
         os.path.join(berg, "models", pair), "--one-by-one"],
        input=lines, capture_output=True, text=True, check=True).stdout
    assert len(out.splitlines()) == len(lines.splitlines()), "Bergamot lost or added lines"
    with open(os.path.join(samples, pair + ".expected"), "w", encoding="utf-8") as f:
        f.write(out if out.endswith("\n") else out + "\n")
    sys.stderr.write(f"{pair}: {len(out.splitlines())} lines recorded\n")
