#!/usr/bin/env python3
"""Checks T5 support on checkpoints this repository has never seen: builds
`T5ForConditionalGeneration` checkpoints with other sizes, head widths, depths, FFNs, bucket
counts and fresh SentencePiece unigram models, converts each with `convert` (f32) and compares
`tern translate` output with Hugging Face's `generate` (greedy, or --beam N), line by line.

Nothing here is committed output: every run trains new unigram models (vocabulary sizes unlike
the fixtures') on the Debian gettext text, lays them out as the hub's T5Tokenizer files
(models/make_t5_fixture.py does the layout), draws new weights (random, scaled up, RMS norm
weights random too; see `build`), saves them as the hub has T5 checkpoints, and runs both engines
on real sentences with T5's task prefix (FLORES devtest from ../shared when present, else the
fixture sentences).

Unlike the fixtures (t5-tiny: d64 4x16 2+2 relu tied, 32 buckets up to 128; flan-t5-tiny: d64
4x12 3+2 gated-gelu untied): heads wider than d_model / heads and narrower, 1 to 4 layers a
stack (the decoder never deeper than the encoder: transformers 5's generate sizes its cache by
the encoder's depth), gated-silu, 8 and 16 buckets with other distances (so the log-spaced buckets start at 2
and 4 and saturate within the sentences), one config without n_positions, and embedding rows
beyond the tokenizer's ids as the hub's (t5-small: 32128 rows for 32100 ids).

    cargo build --release -p tern-cli -p tern-convert
    python models/check_unseen_t5.py [--seed N] [--lines 40] [--beam 4]   # needs torch, transformers
    python models/check_unseen_t5.py --hf-only   # builds and runs HF only (no tern binaries)

Exits 1 if any line differs.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import torch
from transformers import T5Config, T5ForConditionalGeneration

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import check_unseen  # noqa: E402  (FLORES sentences, the line comparison)
import make_t5_fixture as fx  # noqa: E402  (unigram training, the hub tokenizer and checkpoint layout)

VARIANTS = [
    dict(spm_vocab=1800, d_model=96, num_heads=6, d_kv=24, num_layers=3, num_decoder_layers=1, d_ff=192,
         feed_forward_proj="relu", tie_word_embeddings=True, buckets=16, max_distance=64, tgt="de"),
    dict(spm_vocab=3100, d_model=80, num_heads=5, d_kv=8, num_layers=3, num_decoder_layers=3, d_ff=160,
         feed_forward_proj="gated-gelu", tie_word_embeddings=False, buckets=32, max_distance=128, tgt="pt"),
    dict(spm_vocab=2200, d_model=48, num_heads=3, d_kv=16, num_layers=4, num_decoder_layers=2, d_ff=80,
         feed_forward_proj="gated-silu", tie_word_embeddings=True, buckets=8, max_distance=20, tgt="de",
         no_n_positions=True),
]
MAX_LENGTH = 64  # HF's max_length: counts the decoder start token
TERN_MAX_LEN = MAX_LENGTH - 1  # tern's --max-len: generated tokens


def build(out, v, seed, lines):
    fx.train_spm(out, lines, v["spm_vocab"])
    fx.tokenizer_files(out)
    tok = fx.load_tokenizer(out)
    fx.check_layout(tok, out)
    config = T5Config(
        vocab_size=fx.padded_vocab(len(tok)), d_model=v["d_model"], d_kv=v["d_kv"], d_ff=v["d_ff"],
        num_layers=v["num_layers"], num_decoder_layers=v["num_decoder_layers"], num_heads=v["num_heads"],
        relative_attention_num_buckets=v["buckets"], relative_attention_max_distance=v["max_distance"],
        dropout_rate=0.0, layer_norm_epsilon=1e-6, feed_forward_proj=v["feed_forward_proj"],
        tie_word_embeddings=v["tie_word_embeddings"], pad_token_id=fx.PAD, eos_token_id=fx.EOS,
        decoder_start_token_id=fx.DECODER_START,
    )
    torch.manual_seed(seed)
    model = T5ForConditionalGeneration(config).eval()
    if not v["tie_word_embeddings"]:
        model.lm_head.weight = torch.nn.Parameter(torch.empty_like(model.lm_head.weight))
    special = sorted(set(tok.all_special_ids) - {fx.EOS}) + list(range(len(tok), config.vocab_size))
    with torch.no_grad():
        # Scaled-up random weights (default init gives near-ties and one repeated token); the
        # relative position bias large enough to move the attention.
        for name, p in model.named_parameters():
            if "relative_attention_bias" in name:
                p.normal_(0.0, 2.0)
            elif p.dim() == 2:
                p.normal_(0.0, (4.5 if name.endswith(".o.weight") or ".wo." in name else 1.5) / p.shape[1] ** 0.5)
            elif name == "decoder.final_layer_norm.weight":
                p.normal_(0.0, 1.0)
            else:
                p.normal_(1.0, 0.2)
        rows = (model.shared.weight, model.lm_head.weight)
        for w in {id(w): w for w in rows}.values():  # once when tied
            w[special] *= 0.3
            w[fx.EOS] *= 2.5
    fx.save_checkpoint(model, v, out)
    if v.get("no_n_positions"):
        path = os.path.join(out, "config.json")
        cfg = fx.json.load(open(path, encoding="utf-8"))
        cfg.pop("n_positions", None)
        fx.hub_json(path, cfg)
    return tok


def check(v, seed, lines, bin_dir, corpus, beam=1):
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = os.path.join(tmp, "ckpt")
        os.makedirs(ckpt)
        tok = build(ckpt, v, seed, corpus)
        model = T5ForConditionalGeneration.from_pretrained(ckpt).eval()
        prefix = fx.PREFIXES[v["tgt"]]
        text = [prefix + s for s in check_unseen.sentences("en", lines)]
        want, ended = [], 0
        for s in text:
            enc = tok(s, return_tensors="pt")
            with torch.no_grad():
                ids = model.generate(**enc, num_beams=beam, max_length=MAX_LENGTH, do_sample=False)[0].tolist()
            ended += fx.EOS in ids
            want.append(tok.decode(ids, skip_special_tokens=True))
        name = (f"beam {beam}: T5 d{v['d_model']} {v['num_heads']}x{v['d_kv']} {v['num_layers']}+"
                f"{v['num_decoder_layers']} ffn{v['d_ff']} {v['feed_forward_proj']} "
                f"{'tied' if v['tie_word_embeddings'] else 'untied'} buckets {v['buckets']}/{v['max_distance']} "
                f"ids {len(tok)} rows {fx.padded_vocab(len(tok))}")
        if bin_dir is None:
            print(f"{name}: HF only: {len(text)} lines, {len(set(want))} distinct outputs, {ended} ended before "
                  f"max_length; first: {want[0][:100]!r}")
            return True
        gguf = os.path.join(tmp, "model.gguf")
        subprocess.run([os.path.join(bin_dir, "convert"), "-q", ckpt, "-o", gguf], check=True, stdout=subprocess.DEVNULL)
        src = os.path.join(tmp, "src.txt")
        with open(src, "w", encoding="utf-8") as f:
            f.write("\n".join(text) + "\n")
        got = subprocess.run([os.path.join(bin_dir, "tern"), "translate", "-m", gguf, "-i", src, "--beam", str(beam),
                              "--max-len", str(TERN_MAX_LEN)],
                             check=True, capture_output=True, text=True).stdout.split("\n")[:len(text)]
    return check_unseen.compare(name, want, got, f"{len(set(want))} distinct outputs, {ended} ended before "
                                f"max_length")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--lines", type=int, default=40)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release"))
    ap.add_argument("--hf-only", action="store_true", help="build the checkpoints and run HF only")
    ap.add_argument("--beam", type=int, default=1, help="beam size for both engines")
    args = ap.parse_args()
    torch.set_num_threads(1)
    corpus, _ = fx.corpus()
    bin_dir = None if args.hf_only else args.bin
    ok = all([check(v, args.seed + i, args.lines, bin_dir, corpus, args.beam) for i, v in enumerate(VARIANTS)])
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
