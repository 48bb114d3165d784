#!/usr/bin/env python3
"""CTranslate2's side of `cargo xtask bench`: the same measurement as tern's
`examples/generate_ids.rs`, printing the same `key: value` lines.

Generates exactly --tokens target tokens (greedy) for --batch copies of one source sentence
given as token ids (fed to CTranslate2 as the token strings "t{id}", "</s>" for 0; see
make_opus_shape.py), --threads intra-op threads, one translator. Median of --runs calls after
--warmup calls; also the median of 1-token calls (encoder + first step).

    python models/bench_ct2.py CT2_DIR --ids 5,9,0 [--tokens 64] [--batch 1] [--threads 1]
"""

import argparse
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
    a = ap.parse_args()
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(a.threads)
    import ctranslate2

    ids = [int(i) for i in a.ids.split(",")]
    source = ["</s>" if i == 0 else f"t{i}" for i in ids]
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
        )
        for r in res:
            got = len(r.hypotheses[0])
            assert got == n, f"generated {got} tokens, not {n}"

    def timed(n):
        for _ in range(a.warmup):
            call(n)
        v = []
        for _ in range(a.runs):
            t = time.perf_counter()
            call(n)
            v.append(time.perf_counter() - t)
        return statistics.median(v)

    full = timed(a.tokens)
    first = timed(1)
    print(f"compute type: {tr.compute_type}")
    print(f"median s: {full:.6f}")
    print(f"median s 1-token call: {first:.6f}")
    print(f"tok/s: {a.batch * a.tokens / full:.2f}")
    print(f"ms/step est: {(full - first) / max(a.tokens - 1, 1) * 1e3:.3f}")


if __name__ == "__main__":
    main()
