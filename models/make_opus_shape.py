#!/usr/bin/env python3
"""An OPUS-MT en-de shaped MarianMT checkpoint with random weights, for speed comparisons.

Both tern (`convert --int8`) and CTranslate2 (`ct2-transformers-converter --quantization int8`)
load the directory this writes, so the engines run the same weights. The shape is
Helsinki-NLP/opus-mt-en-de's: d_model 512, 6+6 layers, 8 heads, FFN 2048, vocabulary 58101,
swish, tied embeddings, sinusoidal positions. Timing does not depend on the weight values.

Vocabulary: 0 "</s>", 1 "<unk>", i "t{i}" for 2 <= i <= V-2, V-1 "<pad>" (OPUS-MT's layout:
pad is also the decoder start token and its embedding row is zero). The benchmark feeds token
ids (tern) or token strings "t{i}" (CTranslate2) directly; the SentencePiece models exist only
because MarianTokenizer and `convert` need a source.spm / target.spm.

Needs torch, transformers, sentencepiece, safetensors.

    python models/make_opus_shape.py OUT_DIR [--seed 1234] [--tiny]
"""

import argparse
import io
import json
import os

import sentencepiece as spm
import torch
from transformers import GenerationConfig, MarianConfig, MarianMTModel, MarianTokenizer

SHAPES = {
    "opus-mt": dict(d_model=512, layers=6, heads=8, ffn=2048, vocab=58101),
    # Same structure, small enough to check the pipeline in seconds.
    "tiny": dict(d_model=64, layers=2, heads=4, ffn=128, vocab=1000),
}


def config(shape):
    v = shape["vocab"]
    return MarianConfig(
        vocab_size=v,
        decoder_vocab_size=v,
        d_model=shape["d_model"],
        encoder_layers=shape["layers"],
        decoder_layers=shape["layers"],
        encoder_attention_heads=shape["heads"],
        decoder_attention_heads=shape["heads"],
        encoder_ffn_dim=shape["ffn"],
        decoder_ffn_dim=shape["ffn"],
        max_position_embeddings=512,
        activation_function="swish",
        scale_embedding=True,
        share_encoder_decoder_embeddings=True,
        tie_word_embeddings=True,
        static_position_embeddings=True,
        pad_token_id=v - 1,
        decoder_start_token_id=v - 1,
        eos_token_id=0,
        bos_token_id=0,
        forced_eos_token_id=0,
        architectures=["MarianMTModel"],
    )


def tokenizer_files(out, vocab_size):
    pad = vocab_size - 1
    vocab = {"</s>": 0, "<unk>": 1, **{f"t{i}": i for i in range(2, pad)}, "<pad>": pad}
    with open(os.path.join(out, "vocab.json"), "w") as f:
        json.dump(vocab, f)
    # A small unigram model over "t<number>" words (tern reads unigram models only).
    text = [" ".join(f"t{2 + (k * 13 + j * 7) % 300}" for j in range(10)) for k in range(500)]
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(text),
        model_writer=buf,
        vocab_size=200,
        model_type="unigram",
        unk_id=1,
        eos_id=0,
        bos_id=-1,
        pad_id=-1,
        minloglevel=2,
    )
    for name in ("source.spm", "target.spm"):
        with open(os.path.join(out, name), "wb") as f:
            f.write(buf.getvalue())
    tok = MarianTokenizer(
        source_spm=os.path.join(out, "source.spm"),
        target_spm=os.path.join(out, "target.spm"),
        vocab=os.path.join(out, "vocab.json"),
        source_lang="en",
        target_lang="de",
    )
    tok.save_pretrained(out)
    assert tok.eos_token_id == 0 and tok.pad_token_id == pad
    assert tok.convert_tokens_to_ids("t57") == 57


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--tiny", action="store_true", help="the small shape, for a quick check")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    cfg = config(SHAPES["tiny" if a.tiny else "opus-mt"])
    torch.manual_seed(a.seed)
    model = MarianMTModel(cfg).eval()
    with torch.no_grad():
        model.get_input_embeddings().weight[cfg.pad_token_id].zero_()
    model.save_pretrained(a.out, safe_serialization=True)
    GenerationConfig(
        bad_words_ids=[[cfg.pad_token_id]],
        decoder_start_token_id=cfg.pad_token_id,
        eos_token_id=0,
        forced_eos_token_id=0,
        pad_token_id=cfg.pad_token_id,
        max_length=512,
        num_beams=4,
    ).save_pretrained(a.out)
    tokenizer_files(a.out, cfg.vocab_size)
    print(f"{a.out}: {sum(p.numel() for p in model.parameters()) / 1e6:.1f} M parameters")


if __name__ == "__main__":
    main()
