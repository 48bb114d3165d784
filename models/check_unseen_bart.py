#!/usr/bin/env python3
"""Checks BART support on checkpoints this repository has never seen: builds
`BartForConditionalGeneration` checkpoints with other sizes, depths, activations, position
tables and fresh byte-level BPE tokenizers, converts each with `convert` (f32) and compares
`tern translate` output with Hugging Face's `generate` (greedy, or --beam N), line by line.

Nothing here is committed output: every run trains new byte-level BPE tokenizers (vocabulary
sizes unlike the fixture's) on the Debian gettext text, lays them out as the hub's BART
tokenizer files (models/make_bart_fixture.py does the layout), draws new weights (random, scaled
trains them briefly on the gettext en->pt pairs; see `build`), saves them as the hub has BART checkpoints (bart-base's forced
<s> first and </s> at max_length), and runs both engines on real sentences (FLORES devtest from
../shared when present, else the fixture sentences), in English, Portuguese or German: a byte
-level tokenizer reads any text.

Unlike the fixture (bart-tiny: d64 4 heads 3+2 ffn128 gelu, 128 positions, no embedding
scaling, 2001 ids): a DistilBART-like shallow decoder under a deeper encoder, other widths and
head sizes, relu and gelu_new, scaled embeddings (scale_embedding true, as some BART-family
checkpoints set), other position-table sizes, and embedding rows beyond the tokenizer's ids.

    cargo build --release -p tern-cli -p tern-convert
    python models/check_unseen_bart.py [--seed N] [--lines 40] [--beam 4]   # needs torch, transformers, tokenizers
    python models/check_unseen_bart.py --hf-only   # builds and runs HF only (no tern binaries)

Exits 1 if any line differs.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import torch
from transformers import BartConfig, BartForConditionalGeneration, GenerationConfig

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import check_unseen  # noqa: E402  (FLORES sentences, the line comparison)
import make_marian_fixture  # noqa: E402  (train)
import make_bart_fixture as fx  # noqa: E402  (byte-level BPE training, the hub tokenizer and config layout)

VARIANTS = [
    dict(bpe_vocab=2600, d_model=96, heads=6, enc=4, dec=1, ffn=192, act="gelu", scale_embedding=False,
         max_pos=256, extra_rows=0, lang="en", steps=1500, lr=5e-4),
    dict(bpe_vocab=1500, d_model=80, heads=5, enc=2, dec=3, ffn=160, act="relu", scale_embedding=True,
         max_pos=160, extra_rows=7, lang="pt", steps=600),
    dict(bpe_vocab=3200, d_model=48, heads=3, enc=3, dec=2, ffn=100, act="gelu_new", scale_embedding=False,
         max_pos=200, extra_rows=0, lang="de", steps=800),
]
MAX_LENGTH = 64  # HF's max_length: counts the decoder start token
TERN_MAX_LEN = MAX_LENGTH - 1  # tern's --max-len: generated tokens


def build(out, v, seed, lines, pairs):
    fx.train_bpe(out, lines, v["bpe_vocab"])
    fx.tokenizer_files(out, v["max_pos"])
    tok = fx.load_tokenizer(out)
    fx.check_layout(tok, out)
    config = BartConfig(
        vocab_size=len(tok) + v["extra_rows"], d_model=v["d_model"], encoder_layers=v["enc"],
        decoder_layers=v["dec"], encoder_attention_heads=v["heads"], decoder_attention_heads=v["heads"],
        encoder_ffn_dim=v["ffn"], decoder_ffn_dim=v["ffn"], activation_function=v["act"],
        max_position_embeddings=v["max_pos"], scale_embedding=v["scale_embedding"], dropout=0.0,
        attention_dropout=0.0, activation_dropout=0.0, pad_token_id=fx.PAD, bos_token_id=fx.BOS,
        eos_token_id=fx.EOS, decoder_start_token_id=fx.DECODER_START, forced_bos_token_id=fx.BOS,
        forced_eos_token_id=fx.EOS, tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = BartForConditionalGeneration(config)
    # A short training run (random weights of a post-norm, tied model repeat one token and never
    # end): enough for varied outputs of varied lengths.
    fit = [(a, b) for a, b in pairs if max(len(tok(a)["input_ids"]), len(tok(b)["input_ids"])) <= fx.TRAIN_TOKENS]
    make_marian_fixture.train(model, tok, fit, dict(seed=seed, steps=v["steps"], lr=v.get("lr", 1e-3), src="en",
                                                    tgt="pt"), fx.PAD)
    model.generation_config = GenerationConfig(**fx.HUB_GENERATION)
    model.save_pretrained(out, safe_serialization=True)
    fx.hub_json(os.path.join(out, "config.json"), fx.hub_config(model))
    return tok


def check(v, seed, lines, bin_dir, corpus, beam=1):
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = os.path.join(tmp, "ckpt")
        os.makedirs(ckpt)
        tok = build(ckpt, v, seed, *corpus)
        model = BartForConditionalGeneration.from_pretrained(ckpt).eval()
        text = check_unseen.sentences(v["lang"], lines)
        want, ended = [], 0
        for s in text:
            enc = tok(s, return_tensors="pt")
            with torch.no_grad():
                ids = model.generate(**enc, num_beams=beam, max_length=MAX_LENGTH, do_sample=False)[0].tolist()
            ended += fx.EOS in ids[1:-1] or len(ids) < MAX_LENGTH
            want.append(tok.decode(ids, skip_special_tokens=True))
        name = (f"beam {beam}: BART d{v['d_model']} {v['heads']} heads {v['enc']}+{v['dec']} ffn{v['ffn']} "
                f"{v['act']} scale_embedding {v['scale_embedding']} positions {v['max_pos']} ids {len(tok)} rows "
                f"{len(tok) + v['extra_rows']} ({v['lang']} text)")
        detail = f"{len(set(want))} distinct outputs, {ended} ended before max_length"
        if bin_dir is None:
            print(f"{name}: HF only: {len(text)} lines, {detail}; first: {want[0][:100]!r}")
            return True
        gguf = os.path.join(tmp, "model.gguf")
        subprocess.run([os.path.join(bin_dir, "convert"), "-q", ckpt, "-o", gguf], check=True, stdout=subprocess.DEVNULL)
        src = os.path.join(tmp, "src.txt")
        with open(src, "w", encoding="utf-8") as f:
            f.write("\n".join(text) + "\n")
        got = subprocess.run([os.path.join(bin_dir, "tern"), "translate", "-m", gguf, "-i", src, "--beam", str(beam),
                              "--max-len", str(TERN_MAX_LEN)],
                             check=True, capture_output=True, text=True).stdout.split("\n")[:len(text)]
    return check_unseen.compare(name, want, got, detail)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--lines", type=int, default=40)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release"))
    ap.add_argument("--hf-only", action="store_true", help="build the checkpoints and run HF only")
    ap.add_argument("--beam", type=int, default=1, help="beam size for both engines")
    ap.add_argument("--variant", type=int, action="append", help="check only these VARIANTS (0-based)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    lines, pairs = fx.corpus()
    corpus = (lines, pairs["pt"])
    bin_dir = None if args.hf_only else args.bin
    ok = all([check(v, args.seed + i, args.lines, bin_dir, corpus, args.beam) for i, v in enumerate(VARIANTS)
              if args.variant is None or i in args.variant])
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
