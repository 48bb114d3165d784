#!/usr/bin/env python3
"""A tiny Marian-toolkit (SSRU) model cut out of Firefox's en->pt one, for format tests.

Takes the float .npz that models/marian_bin_to_npz.py writes from the real model and keeps the
first 64 features of every matrix, 4 heads, an FFN of 128, one encoder and one decoder layer,
and the first 2000 vocabulary rows, with models/fixtures/spm/en.spm (2000 pieces) as its
vocabulary. Its translations mean nothing; they are deterministic, which is all the format test
(tests/format.rs) needs: a file made from this by an older `convert` must translate exactly as a
fresh conversion does.

    python models/make_marian_nmt_tiny.py FLOAT_NPZ_DIR OUT_DIR
"""
import os
import shutil
import sys

import numpy as np

D, FFN, HEADS, VOCAB = 64, 128, 4, 2000
src, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
z = np.load(os.path.join(src, "model.float.npz"))
arrays = {}
for name in z.files:
    if name == "special:model.yml":
        continue
    if any(name.startswith(p) for p in ("encoder_l", "decoder_l")) and not (
        name.startswith("encoder_l1_") or name.startswith("decoder_l1_")
    ):
        continue
    a = z[name]
    if name == "Wemb":
        a = a[:VOCAB, :D]
    elif name == "decoder_ff_logit_out_b":
        a = a[:, :VOCAB]
    elif "ffn_W1" in name:
        a = a[:D, :FFN]
    elif "ffn_W2" in name:
        a = a[:FFN, :D]
    elif "ffn_b1" in name:
        a = a[:, :FFN]
    elif a.ndim == 2 and a.shape[0] == 1:
        a = a[:, :D]
    else:
        a = a[:D, :D]
    arrays[name] = np.ascontiguousarray(a, dtype="<f4")
yml = bytes(z["special:model.yml"]).decode()
lines = []
for line in yml.splitlines():
    key = line.split(":")[0]
    repl = {"dim-emb": D, "transformer-dim-ffn": FFN, "transformer-heads": HEADS, "enc-depth": 1,
            "dec-depth": 1}
    if key in repl:
        line = f"{key}: {repl[key]}"
    elif line.strip() == "- 32000":
        line = line.replace("32000", str(VOCAB))
    lines.append(line)
arrays["special:model.yml"] = np.frombuffer(("\n".join(lines) + "\n").encode() + b"\0", dtype=np.int8)
np.savez(os.path.join(out, "model.tiny.npz"), **arrays)
here = os.path.dirname(os.path.abspath(__file__))
shutil.copy(os.path.join(here, "fixtures", "spm", "en.spm"), os.path.join(out, "vocab.spm"))
sys.stderr.write(f"wrote {len(arrays)} arrays to {out}/model.tiny.npz\n")
