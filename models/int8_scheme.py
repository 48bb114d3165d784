#!/usr/bin/env python3
"""Measures the two int8 weight schemes tern could use, on the fixture checkpoints' matrices.

  per-row: symmetric int8, one f32 scale per output row (what tern stores; CTranslate2's scheme)
  Q8_0:    ggml's blocks of 32 int8 with one f16 scale per block

Prints, per scheme, the relative reconstruction error ||W - deq(q(W))|| / ||W|| over all
matrices and the bytes per weight. (Kernel speed: per-row keeps one i32 accumulator per row and
one float multiply per output; Q8_0 needs a float multiply-add per 32 weights. See
docs/gguf-format.md.)

With --agreement (needs torch and transformers) it also runs Hugging Face's model with every
matrix (the tied embedding/output one included) fake-quantized under each scheme, and with the
activations entering each matrix product in f32, int8 per row (what tern does at run time) or
int8 per block of 32, and prints the top-1 agreement with the f32 model under teacher forcing on
the fixture's recorded greedy paths: the number tests/conformance.rs measures for tern. It shows
what any engine using that scheme gets, so tern's own figure can be compared with it.

    python models/int8_scheme.py [--agreement] [checkpoint dirs...]
"""
import glob
import os
import sys

import numpy as np
from safetensors.numpy import load_file


def per_row(w):
    s = np.abs(w).max(axis=1, keepdims=True) / 127.0
    s[s == 0] = 1.0
    return np.clip(np.round(w / s), -127, 127) * s


def q8_0(w):
    rows, cols = w.shape
    pad = (-cols) % 32
    b = np.pad(w, ((0, 0), (0, pad))).reshape(rows, -1, 32)
    s = (np.abs(b).max(axis=2, keepdims=True) / 127.0).astype(np.float16).astype(np.float32)
    s[s == 0] = 1.0
    return (np.clip(np.round(b / s), -127, 127) * s).reshape(rows, -1)[:, :cols]


def agreement(d):
    """Teacher-forced top-1 agreement of fake-quantized copies of the checkpoint in `d` with it."""
    import json

    import torch
    import torch.nn.functional as F
    from transformers import AutoModelForSeq2SeqLM

    def rows(x):
        s = x.abs().amax(dim=-1, keepdim=True) / 127.0
        s[s == 0] = 1.0
        return torch.clamp(torch.round(x / s), -127, 127) * s

    def blocks(x):
        cols = x.shape[-1]
        b = F.pad(x, (0, (-cols) % 32)).reshape(*x.shape[:-1], -1, 32)
        s = (b.abs().amax(dim=-1, keepdim=True) / 127.0).half().float()
        s[s == 0] = 1.0
        return (torch.clamp(torch.round(b / s), -127, 127) * s).reshape(*x.shape[:-1], -1)[..., :cols]

    quant = {"f32": lambda x: x, "per-row": rows, "Q8_0": blocks}
    expected = json.load(open(os.path.join(d, "expected.json"), encoding="utf-8"))["sentences"]
    reference = AutoModelForSeq2SeqLM.from_pretrained(d).eval()
    start = reference.config.decoder_start_token_id
    for weights, acts in [("per-row", "f32"), ("per-row", "per-row"), ("Q8_0", "f32"), ("Q8_0", "per-row"),
                          ("Q8_0", "Q8_0"), ("f32", "per-row"), ("f32", "Q8_0")]:
        model = AutoModelForSeq2SeqLM.from_pretrained(d).eval()
        with torch.no_grad():
            linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
            for m in linears:
                if m is not model.lm_head:  # tied: quantized with the embedding below
                    m.weight.data = quant[weights](m.weight.data)
            emb = model.get_input_embeddings()
            emb.weight.data = quant[weights](emb.weight.data)
            for m in linears:
                m.forward = lambda x, m=m: F.linear(quant[acts](x), m.weight, m.bias)
            agree = total = 0
            for s in expected:
                src = torch.tensor([s["source_ids"]])
                dec = torch.tensor([[start] + s["greedy_ids"][:-1]])
                a = model(input_ids=src, decoder_input_ids=dec).logits[0].argmax(-1)
                b = reference(input_ids=src, decoder_input_ids=dec).logits[0].argmax(-1)
                agree += int((a == b).sum())
                total += len(a)
        print(f"  weights {weights:7} activations {acts:7}: top-1 agreement {agree}/{total} = {100 * agree / total:.2f}%")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    args = [a for a in sys.argv[1:] if a != "--agreement"]
    dirs = args or sorted(os.path.dirname(p) for p in glob.glob(os.path.join(here, "fixtures", "*", "expected.json")))
    for d in dirs:
        mats = [w for w in load_file(os.path.join(d, "model.safetensors")).values() if w.ndim == 2 and min(w.shape) >= 32]
        num = {"per-row": 0.0, "Q8_0": 0.0}
        den = sum(float((w.astype(np.float64) ** 2).sum()) for w in mats)
        for w in mats:
            w = w.astype(np.float32)
            num["per-row"] += float(((w - per_row(w)).astype(np.float64) ** 2).sum())
            num["Q8_0"] += float(((w - q8_0(w)).astype(np.float64) ** 2).sum())
        n = sum(w.size for w in mats)
        rows = sum(w.shape[0] for w in mats)
        print(f"{os.path.basename(d)}: {len(mats)} matrices, {n} weights")
        print(f"  per-row int8: rel. error {np.sqrt(num['per-row'] / den):.2e}, {(n + 4 * rows) / n:.3f} bytes/weight")
        print(f"  Q8_0:         rel. error {np.sqrt(num['Q8_0'] / den):.2e}, {34 / 32:.3f} bytes/weight")
        if "--agreement" in sys.argv[1:]:
            agreement(d)


if __name__ == "__main__":
    main()
