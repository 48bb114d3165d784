#!/usr/bin/env python3
"""An NLLB-200-distilled-600M shaped M2M100 checkpoint with random weights, for speed comparisons.

Both tern (`convert --int8 --source-lang eng_Latn --target-lang por_Latn`) and CTranslate2
(`ct2-transformers-converter --quantization int8`) load the directory this writes, so the engines
run the same weights. The shape is facebook/nllb-200-distilled-600M's: M2M100ForConditionalGeneration,
d_model 1024, 12+12 layers, 16 heads, FFN 4096, vocabulary 256206, ReLU, scaled embeddings,
pre-norm, sinusoidal positions (max_position_embeddings 1024), tied output layer, decoder start
2 (</s>), pad 1, eos 2. Timing does not depend on the weight values (random, fixed seed).

Tokenizer: no real NLLB tokenizer can be downloaded here, so this builds a synthetic one with the
full vocabulary and the hub's id layout. sentencepiece.bpe.model is a SentencePiece BPE ModelProto
written directly with protobuf (the normalizer of a tiny trained model; nmt_nfkc): <unk> 0, <s> 1,
</s> 2, then the pieces "t4" ... "t256000" (sentencepiece id j holds "t{j+1}"). NllbTokenizer's
ids are the .model's plus one (fairseq_offset; <s> 0, <pad> 1, </s> 2, <unk> 3), so model id i
is the piece "t{i}" for 4 <= i <= 256000; then the 202 language codes ace_Arab ... zul_Latn at
256001... (eng_Latn 256047, por_Latn 256141), <mask> 256203, and two ids (256204, 256205) that
the tokenizer does not know (fairseq's madeupwords; CTranslate2 names them madeupword0/1).
transformers converts the .model into tokenizer.json (what tern's convert and transformers 5
read); CTranslate2's converter takes the vocabulary from it. The benchmark feeds token ids (tern)
or the same ids' token strings (CTranslate2) directly, so the pieces never tokenize text.

Also writes bench_ids.txt: `key: value` lines with the ids the benchmark uses (the source and
target language tokens, EOS, the range of ordinary pieces).

Needs torch, transformers, sentencepiece (with protobuf), safetensors. About 2.4 GB on disk
(f32) and a minute or two.

    python models/make_nllb_shape.py OUT_DIR [--seed 1234] [--tiny]
"""

import argparse
import io
import json
import os
import shutil
import tempfile

import sentencepiece as spm
import torch
from sentencepiece import sentencepiece_model_pb2 as pb
from transformers import AddedToken, GenerationConfig, M2M100Config, M2M100ForConditionalGeneration, NllbTokenizer
from transformers.models.nllb.tokenization_nllb import FAIRSEQ_LANGUAGE_CODES

SHAPES = {
    # spm: pieces in sentencepiece.bpe.model (the hub's has 256000); vocab = spm + 1 + 202 + 1 + 2.
    "nllb-600M": dict(d_model=1024, layers=12, heads=16, ffn=4096, spm=256000, madeup=2),
    # Same structure, small enough to check the pipeline in seconds.
    "tiny": dict(d_model=64, layers=2, heads=4, ffn=128, spm=2000, madeup=2),
}
PAD, BOS, EOS, UNK = 1, 0, 2, 3
SRC_LANG, TGT_LANG = "eng_Latn", "por_Latn"


def spm_model(path, n):
    """A SentencePiece BPE model with n pieces: <unk> <s> </s> then "t4" ... "t{n}"."""
    # Train a tiny BPE model only for a realistic trainer_spec / normalizer_spec, then replace
    # its pieces (training a 256k-piece model would take long and need matching text).
    text = [" ".join(f"t{(k * 13 + j * 7) % 300}" for j in range(10)) for k in range(200)]
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(text), model_writer=buf, vocab_size=100, model_type="bpe",
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, minloglevel=2)
    m = pb.ModelProto()
    m.ParseFromString(buf.getvalue())
    del m.pieces[:]
    kind = pb.ModelProto.SentencePiece
    for piece, t in (("<unk>", kind.UNKNOWN), ("<s>", kind.CONTROL), ("</s>", kind.CONTROL)):
        p = m.pieces.add()
        p.piece, p.score, p.type = piece, 0.0, t
    for j in range(3, n):
        p = m.pieces.add()
        p.piece, p.score = f"t{j + 1}", -float(j - 3)  # BPE scores: merge order
    m.trainer_spec.vocab_size = n
    with open(path, "wb") as f:
        f.write(m.SerializeToString())
    sp = spm.SentencePieceProcessor(model_file=path)
    assert sp.get_piece_size() == n and sp.id_to_piece(n - 1) == f"t{n}" and sp.unk_id() == 0


def tokenizer_files(out, n):
    """sentencepiece.bpe.model, and tokenizer.json / tokenizer_config.json / special_tokens_map.json
    as transformers converts and saves them (the codes after the pieces, <mask> last, as the hub's)."""
    spm_model(os.path.join(out, "sentencepiece.bpe.model"), n)
    codes = list(FAIRSEQ_LANGUAGE_CODES)
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(os.path.join(out, "sentencepiece.bpe.model"), tmp)
        tok = NllbTokenizer.from_pretrained(tmp, src_lang=SRC_LANG, extra_special_tokens=codes, mask_token=None)
    tok.add_special_tokens({"mask_token": AddedToken("<mask>", lstrip=True, normalized=True, special=True)})
    tok.model_max_length = 1024
    tok.save_pretrained(out)
    with open(os.path.join(out, "special_tokens_map.json"), "w", encoding="utf-8") as f:
        json.dump({"additional_special_tokens": codes, "bos_token": "<s>", "cls_token": "<s>", "eos_token": "</s>",
                   "mask_token": {"content": "<mask>", "lstrip": True, "normalized": True, "rstrip": False,
                                  "single_word": False},
                   "pad_token": "<pad>", "sep_token": "</s>", "unk_token": "<unk>"}, f, indent=2)
    # Reload as a user would and check the hub's layout.
    tok = NllbTokenizer.from_pretrained(out)
    base = n + 1
    assert len(tok) == base + len(codes) + 1, len(tok)
    assert tok.convert_tokens_to_ids(codes) == list(range(base, base + len(codes)))
    assert tok.convert_tokens_to_ids(["<s>", "<pad>", "</s>", "<unk>", "t4", f"t{n}", "<mask>"]) == [
        BOS, PAD, EOS, UNK, 4, n, base + len(codes)]
    return tok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--tiny", action="store_true", help="the small shape, for a quick check")
    a = ap.parse_args()
    shape = SHAPES["tiny" if a.tiny else "nllb-600M"]
    os.makedirs(a.out, exist_ok=True)
    tok = tokenizer_files(a.out, shape["spm"])
    config = M2M100Config(
        vocab_size=len(tok) + shape["madeup"], d_model=shape["d_model"],
        encoder_layers=shape["layers"], decoder_layers=shape["layers"],
        encoder_attention_heads=shape["heads"], decoder_attention_heads=shape["heads"],
        encoder_ffn_dim=shape["ffn"], decoder_ffn_dim=shape["ffn"],
        activation_function="relu", max_position_embeddings=1024, scale_embedding=True,
        dropout=0.1, attention_dropout=0.1, activation_dropout=0.0, encoder_layerdrop=0.0, decoder_layerdrop=0.0,
        init_std=0.02, pad_token_id=PAD, bos_token_id=BOS, eos_token_id=EOS, decoder_start_token_id=EOS,
        tie_word_embeddings=True, use_cache=True, tokenizer_class="NllbTokenizer",
        architectures=["M2M100ForConditionalGeneration"],
    )
    torch.manual_seed(a.seed)
    model = M2M100ForConditionalGeneration(config).eval()
    model.generation_config = GenerationConfig(bos_token_id=BOS, decoder_start_token_id=EOS, eos_token_id=EOS,
                                               max_length=200, pad_token_id=PAD)
    model.save_pretrained(a.out, safe_serialization=True)
    src, tgt = tok.convert_tokens_to_ids([SRC_LANG, TGT_LANG])
    with open(os.path.join(a.out, "bench_ids.txt"), "w") as f:
        f.write(f"source language: {SRC_LANG}\nsource language id: {src}\n"
                f"target language: {TGT_LANG}\ntarget language id: {tgt}\n"
                f"eos id: {EOS}\nfirst piece id: 4\nlast piece id: {shape['spm']}\nvocab size: {config.vocab_size}\n")
    print(f"{a.out}: {sum(p.numel() for p in model.parameters()) / 1e6:.1f} M parameters, vocabulary "
          f"{config.vocab_size}; {SRC_LANG} = {src}, {TGT_LANG} = {tgt}")


if __name__ == "__main__":
    main()
