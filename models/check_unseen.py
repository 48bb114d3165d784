#!/usr/bin/env python3
"""Checks issue 2's "done when" on checkpoints this repository has never seen: builds MarianMT
checkpoints with other sizes, activations and fresh SentencePiece models, converts each with
`convert` (f32) and compares `tern translate` greedy output with Hugging Face's, line by line.

Nothing here is committed output: every run trains new SentencePiece models (vocabulary sizes
unlike the fixtures') on the Debian gettext text and draws new weights (random, scaled up, with
a random final_logits_bias so that the outputs vary), saves them as a hub checkpoint would be,
and runs both engines on real sentences (FLORES devtest from ../shared when present, else the
fixture sentences).

    cargo build --release -p tern -p tern-convert
    python models/check_unseen.py [--seed N] [--lines 40]   # needs torch, transformers

Exits 1 if any line differs.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import sentencepiece as spm
import torch
from transformers import GenerationConfig, MarianConfig, MarianMTModel, MarianTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import make_marian_fixture  # noqa: E402
import make_spm  # noqa: E402

# Sizes and settings unlike both fixtures (d_model 64/96, 2+2 / 3+1 layers, swish/gelu, vocab
# 2000 per side): other widths, head sizes, depths, activations, vocabularies and directions;
# one without embedding scaling and one with an untied output layer.
VARIANTS = [
    dict(src="en", tgt="de", vocab=3000, d_model=128, heads=8, enc=3, dec=2, ffn=256, act="relu",
         scale_embedding=True, tied=True, max_pos=256),
    dict(src="pt", tgt="en", vocab=1500, d_model=80, heads=5, enc=1, dec=3, ffn=200, act="gelu_new",
         scale_embedding=False, tied=True, max_pos=192),
    dict(src="de", tgt="en", vocab=2500, d_model=192, heads=3, enc=2, dec=2, ffn=384, act="swish",
         scale_embedding=True, tied=False, max_pos=512),
]
MAX_LENGTH = 64


def sentences(lang, n):
    code = {"en": "eng_Latn", "de": "deu_Latn", "pt": "por_Latn"}[lang]
    path = os.path.join(ROOT, "..", "shared", "testsets", "flores200-devtest", f"{code}.devtest")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            return [line.rstrip("\n") for line in f][:n]
    return make_marian_fixture.SENTENCES[:n]


def corpus(lang):
    de, pt = make_spm.catalogs("de"), make_spm.catalogs("pt") + make_spm.catalogs("pt_BR")
    return {"en": sorted({k for k, _ in de} | {k for k, _ in pt}), "de": [v for _, v in de],
            "pt": sorted({v for _, v in pt})}[lang]


def build(out, v, seed):
    for side in ("src", "tgt"):
        make_spm.train(corpus(v[side]), os.path.join(out, f"{side}"), v["vocab"])
    os.replace(os.path.join(out, "src.spm"), os.path.join(out, "source.spm"))
    os.replace(os.path.join(out, "tgt.spm"), os.path.join(out, "target.spm"))
    vocab = make_marian_fixture.joint_vocab(spm.SentencePieceProcessor(model_file=os.path.join(out, "source.spm")),
                                            spm.SentencePieceProcessor(model_file=os.path.join(out, "target.spm")))
    with open(os.path.join(out, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    pad = vocab["<pad>"]
    config = MarianConfig(
        vocab_size=len(vocab), decoder_vocab_size=len(vocab), d_model=v["d_model"],
        encoder_layers=v["enc"], decoder_layers=v["dec"], encoder_attention_heads=v["heads"],
        decoder_attention_heads=v["heads"], encoder_ffn_dim=v["ffn"], decoder_ffn_dim=v["ffn"],
        activation_function=v["act"], max_position_embeddings=v["max_pos"],
        scale_embedding=v["scale_embedding"], share_encoder_decoder_embeddings=True,
        tie_word_embeddings=v["tied"], pad_token_id=pad, eos_token_id=0, decoder_start_token_id=pad,
        forced_eos_token_id=0, dropout=0.0, attention_dropout=0.0, activation_dropout=0.0,
    )
    torch.manual_seed(seed)
    model = MarianMTModel(config).eval()
    with torch.no_grad():
        # Scaled-up random weights: default init gives near-ties and one repeated token.
        for name, p in model.named_parameters():
            if p.dim() == 2 and "embed_positions" not in name:
                p.normal_(0.0, 1.5 / v["d_model"] ** 0.5)
        model.final_logits_bias.normal_(0.0, 1.0)
        model.final_logits_bias[0, pad] = 0.0
    model.generation_config = GenerationConfig(
        bad_words_ids=[[pad]], decoder_start_token_id=pad, eos_token_id=0, forced_eos_token_id=0,
        max_length=MAX_LENGTH, num_beams=1, pad_token_id=pad)
    model.save_pretrained(out, safe_serialization=True)
    tok = MarianTokenizer(source_spm=os.path.join(out, "source.spm"), target_spm=os.path.join(out, "target.spm"),
                          vocab=os.path.join(out, "vocab.json"), source_lang=v["src"], target_lang=v["tgt"])
    tok.save_pretrained(out)


def check(v, seed, lines, bin_dir):
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = os.path.join(tmp, "ckpt")
        os.makedirs(ckpt)
        build(ckpt, v, seed)
        model = MarianMTModel.from_pretrained(ckpt).eval()
        tok = MarianTokenizer.from_pretrained(ckpt)
        # Lines the model's positions can hold (tern would cut longer ones, with a warning).
        text = [s for s in sentences(v["src"], 2 * lines) if len(tok(s)["input_ids"]) <= v["max_pos"]][:lines]
        want = []
        for s in text:
            enc = tok(s, return_tensors="pt")
            with torch.no_grad():
                ids = model.generate(**enc, num_beams=1, max_length=MAX_LENGTH, do_sample=False)[0]
            want.append(tok.decode(ids, skip_special_tokens=True))
        gguf = os.path.join(tmp, "model.gguf")
        subprocess.run([os.path.join(bin_dir, "convert"), "-q", ckpt, "-o", gguf], check=True, stdout=subprocess.DEVNULL)
        src = os.path.join(tmp, "src.txt")
        with open(src, "w", encoding="utf-8") as f:
            f.write("\n".join(text) + "\n")
        got = subprocess.run([os.path.join(bin_dir, "tern"), "translate", "-m", gguf, "-i", src, "--beam", "1",
                              "--max-len", str(MAX_LENGTH - 1)],
                             check=True, capture_output=True, text=True).stdout.split("\n")[:len(text)]
    name = (f"{v['src']}-{v['tgt']} d{v['d_model']} h{v['heads']} {v['enc']}+{v['dec']} ffn{v['ffn']} "
            f"{v['act']} vocab {len(tok)} {'tied' if v['tied'] else 'untied'}")
    return compare(name, want, got, f"{len(set(want))} distinct outputs")


def compare(name, want, got, detail):
    """Prints how many of tern's lines (`got`) equal HF's (`want`), with `detail`, and the first
    three that differ; True when all are equal. The other check_unseen_*.py scripts use it too."""
    bad = [(i, w, g) for i, (w, g) in enumerate(zip(want, got)) if w != g]
    print(f"{name}: {len(want) - len(bad)}/{len(want)} lines equal to HF ({detail})")
    for i, w, g in bad[:3]:
        print(f"  line {i}:\n    HF:   {w}\n    tern: {g}")
    return not bad


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--lines", type=int, default=40)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    ok = all([check(v, args.seed + i, args.lines, args.bin) for i, v in enumerate(VARIANTS)])
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
