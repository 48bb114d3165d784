#!/usr/bin/env python3
"""Checks M2M100 / NLLB / mBART-50 support on checkpoints this repository has never seen: builds
`M2M100ForConditionalGeneration` and `MBartForConditionalGeneration` checkpoints with other sizes,
head counts, depths, activations and fresh SentencePiece models (BPE; unigram for mBART-50), converts each with `convert` (f32) and compares
`tern translate --source-lang S --target-lang T` greedy output with Hugging Face's
(`generate(forced_bos_token_id=<target language token>)`), line by line.

Nothing here is committed output: every run trains new joint BPE models (vocabulary sizes unlike
the fixtures') on the Debian gettext text, lays them out as the hub's M2M100Tokenizer,
NllbTokenizer or MBart50Tokenizer files (models/make_m2m100_fixture.py does the layout), draws new weights (random,
scaled up, LayerNorms random too; see `build`), saves them as a hub checkpoint would be, and runs both engines
on real sentences (FLORES devtest from ../shared when present, else the fixture sentences).

Unlike the fixtures: d_model 48-128, 3 to 8 heads (head sizes 16 and 16-17), 1+3 / 4+2 / 2+2 /
3+1 layers, gelu / relu / gelu_new / swish, scale_embedding off in two, one untied output layer,
and two with more embedding rows than the tokenizer has ids, as the hub models have
(m2m100_418M: 128112 rows for 128104 ids; nllb-200: 256206 for 256204). The mBART-50 ones
(mbart50-tiny: d64 h4 2+2 gelu, scaled embeddings) have other widths and depths, relu and swish,
unscaled embeddings in one, extra rows, and mBART's own generation config (forced </s> at
max_length).

The output language is set by the forced first token, so a wrong --target-lang shows at once;
the source language token is an ordinary input whose embedding is random, so a wrong
--source-lang changes the outputs too. The rows of the special and language tokens are scaled
down so that random weights do not pick them mid-sentence, and </s>'s up so that outputs end at
varied lengths.

    cargo build --release -p tern -p tern-convert
    python models/check_unseen_m2m100.py [--seed N] [--lines 40] [--beam 4]   # needs torch, transformers
    python models/check_unseen_m2m100.py --hf-only   # builds and runs HF only (no tern binaries)

Exits 1 if any line differs.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import torch
from transformers import (GenerationConfig, M2M100Config, M2M100ForConditionalGeneration, MBartConfig,
                          MBartForConditionalGeneration)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import check_unseen  # noqa: E402  (FLORES sentences, the line comparison)
import make_m2m100_fixture as fx  # noqa: E402  (BPE training, the hub tokenizer layouts)

M2M = {"en": "en", "pt": "pt", "de": "de"}
NLLB = {"en": "eng_Latn", "pt": "por_Latn", "de": "deu_Latn"}
MBART50 = {"en": "en_XX", "pt": "pt_XX", "de": "de_DE"}
# The fixtures: m2m100-tiny d64 h4 2+2 ffn128 relu, BPE 3000; nllb-tiny d96 h6 3+1 ffn160 relu, BPE 2500.
VARIANTS = [
    dict(kind="m2m100", codes=M2M, src="en", tgt="de", spm_vocab=1800, d_model=80, heads=5, enc=1, dec=3, ffn=200,
         act="gelu", scale_embedding=False, tied=True, max_pos=192, extra_rows=8),
    dict(kind="nllb", codes=NLLB, src="en", tgt="pt", spm_vocab=3500, d_model=128, heads=8, enc=4, dec=2, ffn=256,
         act="relu", scale_embedding=True, tied=True, max_pos=512, extra_rows=2),
    dict(kind="nllb", codes=NLLB, src="pt", tgt="en", spm_vocab=2200, d_model=48, heads=3, enc=2, dec=2, ffn=96,
         act="gelu_new", scale_embedding=False, tied=True, max_pos=160, extra_rows=0),
    dict(kind="m2m100", codes=M2M, src="de", tgt="pt", spm_vocab=2700, d_model=112, heads=7, enc=3, dec=1, ffn=224,
         act="swish", scale_embedding=True, tied=False, max_pos=256, extra_rows=0),
    dict(kind="mbart50", codes=MBART50, src="en", tgt="pt", spm_vocab=2400, d_model=96, heads=6, enc=3, dec=2,
         ffn=192, act="relu", scale_embedding=True, tied=True, max_pos=256, extra_rows=3),
    dict(kind="mbart50", codes=MBART50, src="de", tgt="en", spm_vocab=1600, d_model=56, heads=7, enc=1, dec=3,
         ffn=112, act="swish", scale_embedding=False, tied=True, max_pos=192, extra_rows=0),
]
MODELS = {"m2m100": (M2M100Config, M2M100ForConditionalGeneration), "nllb": (M2M100Config, M2M100ForConditionalGeneration),
          "mbart50": (MBartConfig, MBartForConditionalGeneration)}
MAX_LENGTH = 64  # HF's max_length: counts the decoder start token (and the forced language token)
# What tern is given as --max-len: target tokens after the decoder start token, the forced language
# token included (HF's max_length - 1); change here if tern counts otherwise.
TERN_MAX_LEN = MAX_LENGTH - 1


def build(out, v, seed, lines):
    model_file = fx.train_spm(out, lines, v["spm_vocab"], "unigram" if v["kind"] == "mbart50" else "bpe")
    if v["kind"] == "m2m100":
        fx.m2m100_tokenizer_files(out, model_file, lines, v["max_pos"])
    elif v["kind"] == "nllb":
        fx.nllb_tokenizer_files(out, v["max_pos"])
    else:
        fx.mbart50_tokenizer_files(out, v["max_pos"])
    tok = fx.load_tokenizer(out, v)
    fx.check_layout(tok, v, out)
    config_class, model_class = MODELS[v["kind"]]
    config = config_class(
        vocab_size=len(tok) + v["extra_rows"], d_model=v["d_model"], encoder_layers=v["enc"], decoder_layers=v["dec"],
        encoder_attention_heads=v["heads"], decoder_attention_heads=v["heads"], encoder_ffn_dim=v["ffn"],
        decoder_ffn_dim=v["ffn"], activation_function=v["act"], max_position_embeddings=v["max_pos"],
        scale_embedding=v["scale_embedding"], tie_word_embeddings=v["tied"], dropout=0.0, attention_dropout=0.0,
        activation_dropout=0.0, encoder_layerdrop=0.0, decoder_layerdrop=0.0, pad_token_id=fx.PAD,
        bos_token_id=fx.BOS, eos_token_id=fx.EOS, decoder_start_token_id=fx.EOS,
    )
    config.tokenizer_class = {"nllb": "NllbTokenizer", "mbart50": "MBart50Tokenizer"}.get(v["kind"])
    torch.manual_seed(seed)
    model = model_class(config).eval()
    special = sorted(set(tok.all_special_ids) - {fx.EOS}) + list(range(len(tok), config.vocab_size))
    with torch.no_grad():
        # Scaled-up random weights: default init gives near-ties and one repeated token.
        # Sublayer outputs (out_proj, fc2) three times larger, so they outweigh the embeddings in the
        # residual stream; the decoder's last LayerNorm weights with mean 0: with a tied output layer
        # and weights of mean 1, random decoders predict their own input token again and again.
        for name, p in model.named_parameters():
            if p.dim() == 2:
                p.normal_(0.0, (4.5 if "out_proj" in name or "fc2" in name else 1.5) / v["d_model"] ** 0.5)
            elif name == "model.decoder.layer_norm.weight":
                p.normal_(0.0, 1.0)
            elif ("layer_norm" in name or "layernorm" in name) and name.endswith("weight"):
                p.normal_(1.0, 0.2)
            else:
                p.normal_(0.0, 0.2)
        rows = (model.get_input_embeddings().weight, model.get_output_embeddings().weight)
        for w in {id(w): w for w in rows}.values():  # once when tied
            w[special] *= 0.3
            w[fx.EOS] *= 1.3
            w[list(range(len(tok), config.vocab_size))] = 0.0  # rows no token uses, as madeupword0000...
    model.generation_config = GenerationConfig(**fx.HUB_GENERATION[v["kind"]])
    model.save_pretrained(out, safe_serialization=True)
    return tok


def check(v, seed, lines, bin_dir, corpus, beam=1):
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = os.path.join(tmp, "ckpt")
        os.makedirs(ckpt)
        build(ckpt, v, seed, corpus)
        model = MODELS[v["kind"]][1].from_pretrained(ckpt).eval()
        tok = fx.load_tokenizer(ckpt, v)
        tok.src_lang = v["codes"][v["src"]]
        forced = tok.convert_tokens_to_ids(fx.lang_token(v, v["tgt"]))
        # Lines the model's positions can hold (tern would cut longer ones, with a warning).
        text = [s for s in check_unseen.sentences(v["src"], 2 * lines)
                if len(tok(s)["input_ids"]) <= v["max_pos"]][:lines]
        # HF is given sentencepiece's source ids, which tern computes (transformers 5's NLLB
        # tokenizer segments some lines differently: counted, not compared).
        spm_ids = fx.sentencepiece_ids(tok, v, ckpt)
        want, ended, tok_differ = [], 0, 0
        for s in text:
            ids = spm_ids(s, v["src"])
            tok_differ += tok(s)["input_ids"] != ids
            enc = {"input_ids": torch.tensor([ids]), "attention_mask": torch.ones(1, len(ids), dtype=torch.long)}
            with torch.no_grad():
                ids = model.generate(**enc, num_beams=beam, max_length=MAX_LENGTH, do_sample=False,
                                     forced_bos_token_id=forced)[0].tolist()
            assert ids[1] == forced
            ended += fx.EOS in ids[2:-1] or len(ids) < MAX_LENGTH  # not mBART's forced </s> at the end
            want.append(tok.decode(ids, skip_special_tokens=True))
        name = (f"beam {beam}: {v['kind']} {v['codes'][v['src']]}->{v['codes'][v['tgt']]} d{v['d_model']} h{v['heads']} "
                f"{v['enc']}+{v['dec']} ffn{v['ffn']} {v['act']} scale_embedding={v['scale_embedding']} "
                f"{'tied' if v['tied'] else 'untied'} ids {len(tok)} rows {len(tok) + v['extra_rows']}")
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
                              "--max-len", str(TERN_MAX_LEN), "--source-lang", v["codes"][v["src"]],
                              "--target-lang", v["codes"][v["tgt"]]],
                             check=True, capture_output=True, text=True).stdout.split("\n")[:len(text)]
    return check_unseen.compare(name, want, got, f"{len(set(want))} distinct outputs, {ended} ended before "
                                f"max_length; HF's tokenizer differs from sentencepiece on {tok_differ}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--lines", type=int, default=40)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release"))
    ap.add_argument("--hf-only", action="store_true", help="build the checkpoints and run HF only")
    ap.add_argument("--beam", type=int, default=1, help="beam size for both engines (the generation "
                    "config's early_stopping and length_penalty apply to both)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    corpus, _ = fx.corpus()
    bin_dir = None if args.hf_only else args.bin
    ok = all([check(v, args.seed + i, args.lines, bin_dir, corpus, args.beam) for i, v in enumerate(VARIANTS)])
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
