#!/usr/bin/env python3
"""CTranslate2's side of `cargo xtask bench`: the same measurement as tern's
`examples/generate_ids.rs`, printing the same `key: value` lines.

Generates exactly --tokens target tokens (greedy) for --batch copies of one source sentence
given as token ids, --threads intra-op threads, one translator. The ids are fed to CTranslate2
as the token strings its converted vocabulary (shared_vocabulary.json / .txt in CT2_DIR) has at
those ids, which are the checkpoint's ids, as tern uses them; without a vocabulary file, "t{id}"
and "</s>" for 0 (make_opus_shape.py's layout). --target-prefix ID forces the first target token
(`target_prefix`, as NLLB's target language is given to CTranslate2): the prefix counts among
the --tokens (CTranslate2 returns it as the hypothesis' first token and runs a full decoder step,
output layer included, for it, as tern does for its forced first token). Median of --runs calls
after --warmup calls; also the median of 1-token calls (encoder + first step).

    python models/bench_ct2.py CT2_DIR --ids 5,9,0 [--tokens 64] [--batch 1] [--threads 1] \
        [--target-prefix ID]
"""

import argparse
import json
import os
import statistics
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("--ids", required=True)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--compute-type", default="int8")
    ap.add_argument("--target-prefix", type=int, help="token id forced as the first target token")
    a = ap.parse_args()
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(a.threads)
    import ctranslate2

    vocab = vocabulary(a.model)
    ids = [int(i) for i in a.ids.split(",")]
    source = [vocab[i] if vocab else "</s>" if i == 0 else f"t{i}" for i in ids]
    prefix = None
    if a.target_prefix is not None:
        prefix = [[vocab[a.target_prefix]]] * a.batch
    tr = ctranslate2.Translator(
        a.model,
        device="cpu",
        compute_type=a.compute_type,
        inter_threads=1,
        intra_threads=a.threads,
    )

    def call(n):
        res = tr.translate_batch(
            [source] * a.batch,
            beam_size=1,
            min_decoding_length=n,
            max_decoding_length=n,
            max_batch_size=a.batch,
            target_prefix=prefix,
        )
        for r in res:
            got = len(r.hypotheses[0])
            assert got == n, f"generated {got} tokens, not {n}"
            if prefix:
                assert r.hypotheses[0][0] == prefix[0][0], r.hypotheses[0][:3]
        return res

    def timed(n):
        for _ in range(a.warmup):
            last[0] = call(n)
        v = []
        for _ in range(a.runs):
            t = time.perf_counter()
            last[0] = call(n)
            v.append(time.perf_counter() - t)
        return statistics.median(v)

    last = [None]
    full = timed(a.tokens)
    out0 = last[0][0].hypotheses[0][0]  # the first output token of the full calls
    first = timed(1)
    print(f"compute type: {tr.compute_type}")
    print(f"first source token: {source[0]}")
    if vocab:
        print(f"first output id: {vocab.index(out0)}")
        print(f"first output token: {out0}")
    print(f"median s: {full:.6f}")
    print(f"median s 1-token call: {first:.6f}")
    print(f"tok/s: {a.batch * a.tokens / full:.2f}")
    print(f"ms/step est: {(full - first) / max(a.tokens - 1, 1) * 1e3:.3f}")


def vocabulary(model_dir):
    """CTranslate2's target vocabulary (shared with the source for these models), or None."""
    for name in ("shared_vocabulary.json", "target_vocabulary.json"):
        path = os.path.join(model_dir, name)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                return json.load(f)
    for name in ("shared_vocabulary.txt", "target_vocabulary.txt"):
        path = os.path.join(model_dir, name)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                return [line.rstrip("\n") for line in f]
    return None


if __name__ == "__main__":
    main()
