#!/usr/bin/env python3
"""Measures the two int8 weight schemes tern could use, on the fixture checkpoints' matrices.

  per-row: symmetric int8, one f32 scale per output row (what tern stores; CTranslate2's scheme)
  Q8_0:    ggml's blocks of 32 int8 with one f16 scale per block

Prints, per scheme, the relative reconstruction error ||W - deq(q(W))|| / ||W|| over all
matrices and the bytes per weight. (Kernel speed: per-row keeps one i32 accumulator per row and
one float multiply per output; Q8_0 needs a float multiply-add per 32 weights. See
docs/gguf-format.md.)

    python models/int8_scheme.py [checkpoint dirs...]
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


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    dirs = sys.argv[1:] or sorted(glob.glob(os.path.join(here, "fixtures", "marian-*")))
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


if __name__ == "__main__":
    main()
