#!/usr/bin/env python3
"""A t5-small shaped T5 checkpoint with random weights, for speed comparisons.

Both tern (`convert --int8`) and CTranslate2 (`ct2-transformers-converter --quantization int8`)
load the directory this writes, so the engines run the same weights. The shape is t5-small's:
T5ForConditionalGeneration, d_model 512, 6+6 layers, 8 heads of d_kv 64, FFN 2048 (ReLU),
vocabulary 32128 (32000 SentencePiece pieces, 100 sentinels, 28 rows of padding), 32 relative
position buckets up to distance 128, tied embeddings with the output rescaled by d_model^-0.5,
pad 0 (also the decoder start), eos 1, unk 2. Timing does not depend on the weight values
(random, fixed seed).

Tokenizer: no real T5 tokenizer can be downloaded here, so spiece.model is a SentencePiece
unigram ModelProto written directly with protobuf (the normalizer of a tiny trained model):
<pad> 0, </s> 1, <unk> 2, then the pieces "t3" ... "t31999" (id j holds "t{j}"); T5Tokenizer
adds <extra_id_99> ... <extra_id_0> at 32000..32099. The benchmark feeds token ids (tern) or the
same ids' token strings (CTranslate2) directly, so the pieces never tokenize text.

Also writes bench_ids.txt: `key: value` lines with the ids the benchmark uses.

Needs torch, transformers, sentencepiece (with protobuf), safetensors.

    python models/make_t5_shape.py OUT_DIR [--seed 1234] [--tiny]
"""

import argparse
import io
import os
import shutil
import tempfile

import sentencepiece as spm
import torch
from sentencepiece import sentencepiece_model_pb2 as pb
from transformers import GenerationConfig, T5Config, T5ForConditionalGeneration, T5Tokenizer

SHAPES = {
    "t5-small": dict(d_model=512, layers=6, heads=8, d_kv=64, ffn=2048, spm=32000, vocab=32128),
    # Same structure, small enough to check the pipeline in seconds.
    "tiny": dict(d_model=64, layers=2, heads=4, d_kv=16, ffn=128, spm=2000, vocab=2176),
}
PAD, EOS, UNK = 0, 1, 2


def spm_model(path, n):
    """A SentencePiece unigram model with n pieces: <pad> </s> <unk> then "t3" ... "t{n-1}"."""
    # Train a tiny model only for a realistic trainer_spec / normalizer_spec, then replace its
    # pieces (training a 32k-piece model would need matching text).
    text = [" ".join(f"t{(k * 13 + j * 7) % 300}" for j in range(10)) for k in range(200)]
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(text), model_writer=buf, vocab_size=100, model_type="unigram",
        pad_id=PAD, eos_id=EOS, unk_id=UNK, bos_id=-1, minloglevel=2)
    m = pb.ModelProto()
    m.ParseFromString(buf.getvalue())
    del m.pieces[:]
    kind = pb.ModelProto.SentencePiece
    for piece, t in (("<pad>", kind.CONTROL), ("</s>", kind.CONTROL), ("<unk>", kind.UNKNOWN)):
        p = m.pieces.add()
        p.piece, p.score, p.type = piece, 0.0, t
    for j in range(3, n):
        p = m.pieces.add()
        p.piece, p.score = f"t{j}", -float(j) / n - 1.0
    m.trainer_spec.vocab_size = n
    with open(path, "wb") as f:
        f.write(m.SerializeToString())
    sp = spm.SentencePieceProcessor(model_file=path)
    assert sp.get_piece_size() == n and sp.id_to_piece(n - 1) == f"t{n - 1}" and sp.unk_id() == UNK


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--tiny", action="store_true", help="the small shape, for a quick check")
    a = ap.parse_args()
    shape = SHAPES["tiny" if a.tiny else "t5-small"]
    os.makedirs(a.out, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        spm_model(os.path.join(tmp, "spiece.model"), shape["spm"])
        # transformers converts spiece.model into tokenizer.json (what tern's convert, CTranslate2's
        # converter and transformers 5 read).
        tok = T5Tokenizer.from_pretrained(tmp, extra_ids=100)
        tok.model_max_length = 512
        tok.save_pretrained(a.out)
        if not os.path.exists(os.path.join(a.out, "spiece.model")):
            shutil.copy(os.path.join(tmp, "spiece.model"), a.out)
    tok = T5Tokenizer.from_pretrained(a.out)
    n = shape["spm"]
    assert len(tok) == n + 100, len(tok)
    assert tok.convert_tokens_to_ids(["<pad>", "</s>", "<unk>", "t3", f"t{n - 1}", "<extra_id_0>"]) == [
        PAD, EOS, UNK, 3, n - 1, n + 99]
    config = T5Config(
        vocab_size=shape["vocab"], d_model=shape["d_model"], d_kv=shape["d_kv"], d_ff=shape["ffn"],
        num_layers=shape["layers"], num_decoder_layers=shape["layers"], num_heads=shape["heads"],
        relative_attention_num_buckets=32, relative_attention_max_distance=128, dropout_rate=0.1,
        layer_norm_epsilon=1e-6, feed_forward_proj="relu", tie_word_embeddings=True, pad_token_id=PAD,
        eos_token_id=EOS, decoder_start_token_id=PAD, n_positions=512,
        architectures=["T5ForConditionalGeneration"],
    )
    torch.manual_seed(a.seed)
    model = T5ForConditionalGeneration(config).eval()
    model.generation_config = GenerationConfig(decoder_start_token_id=PAD, eos_token_id=EOS, pad_token_id=PAD)
    model.save_pretrained(a.out, safe_serialization=True)
    with open(os.path.join(a.out, "bench_ids.txt"), "w") as f:
        f.write(f"eos id: {EOS}\nfirst piece id: 3\nlast piece id: {n - 1}\nvocab size: {config.vocab_size}\n")
    print(f"{a.out}: {sum(p.numel() for p in model.parameters()) / 1e6:.1f} M parameters, vocabulary "
          f"{config.vocab_size}")


if __name__ == "__main__":
    main()
