#!/usr/bin/env python3
"""Trains the small SentencePiece models used by tern's fixtures.

The training text is real parallel text that ships on any Debian machine: the English message ids
and their German / Portuguese translations in the gettext catalogs under /usr/share/locale. The
models are trained with the `sentencepiece` library's defaults for Marian (unigram, nmt_nfkc
normalization through the precompiled charsmap), so they exercise everything a real OPUS-MT
tokenizer does.

    python models/make_spm.py [--out models/fixtures/spm] [--vocab 2000] [--type unigram|bpe]

`--type unigram` (the default) writes en.spm, de.spm, pt.spm and corpus statistics
(PROVENANCE.json). `--type bpe` writes BPE models in the layout of M2M100 / NLLB (fairseq's
sentencepiece: <unk> 0, <s> 1, </s> 2): bpe-en.spm, bpe-de.spm (with user-defined symbols, which
BPE keeps whole) and bpe-pt.spm (with byte fallback), plus bpe-en-unused.spm, bpe-en.spm with
some merged pieces marked UNUSED (sentencepiece then resegments them), and PROVENANCE-bpe.json.
The outputs are committed; re-running on another machine may give slightly different pieces
(other installed catalogs).
"""
import argparse
import gettext
import glob
import json
import os
import re
import tempfile

import sentencepiece as spm

FORMAT = re.compile(r"%[-+ #0-9.*]*[a-zA-Z]|\{[^}]*\}|&|_(?=\w)")


def clean(s):
    """One line of prose: no format specifiers, no accelerator marks, single spaces."""
    s = FORMAT.sub("", s)
    return " ".join(s.split())


def catalogs(lang):
    pairs = {}
    for path in sorted(glob.glob(f"/usr/share/locale/{lang}/LC_MESSAGES/*.mo")):
        try:
            with open(path, "rb") as f:
                cat = gettext.GNUTranslations(f)._catalog
        except Exception:
            continue
        for k, v in cat.items():
            if isinstance(k, str) and k and isinstance(v, str) and v:
                for ks, vs in zip(k.split("\n"), v.split("\n")):
                    ks, vs = clean(ks), clean(vs)
                    if len(ks) > 3 and len(vs) > 3:
                        pairs[ks] = vs
    return sorted(pairs.items())


def train(lines, prefix, vocab, **extra):
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
        corpus = f.name
    try:
        args = dict(
            model_type="unigram",
            # Marian's layout: </s> = 0, <unk> = 1, no <s>, no pad in the spm itself.
            eos_id=0,
            unk_id=1,
            bos_id=-1,
            pad_id=-1,
        )
        args.update(extra)
        spm.SentencePieceTrainer.train(
            input=corpus,
            model_prefix=prefix,
            vocab_size=vocab,
            character_coverage=0.9995,
            normalization_rule_name="nmt_nfkc",
            input_sentence_size=200000,
            shuffle_input_sentence=False,
            num_threads=1,
            minloglevel=2,
            **args,
        )
    finally:
        os.unlink(corpus)
    os.replace(prefix + ".model", prefix + ".spm")
    os.unlink(prefix + ".vocab")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "fixtures", "spm"))
    ap.add_argument("--vocab", type=int, default=2000)
    ap.add_argument("--type", choices=["unigram", "bpe"], default="unigram")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    de = catalogs("de")
    pt = catalogs("pt") + catalogs("pt_BR")
    en = sorted({k for k, _ in de} | {k for k, _ in pt})
    if args.type == "bpe":
        return make_bpe(args, en, de, pt)
    stats = {"generator": "models/make_spm.py", "sentencepiece": spm.__version__, "vocab_size": args.vocab}
    for name, lines in [("en", en), ("de", [v for _, v in de]), ("pt", sorted({v for _, v in pt}))]:
        train(lines, os.path.join(args.out, name), args.vocab)
        stats[name + "_lines"] = len(lines)
    with open(os.path.join(args.out, "PROVENANCE.json"), "w") as f:
        json.dump(stats, f, indent=1)
        f.write("\n")


def mark_unused(src, dst, every=7):
    """Copies a model with every `every`-th merged (multi-character) normal piece made UNUSED."""
    from sentencepiece import sentencepiece_model_pb2 as pb

    m = pb.ModelProto()
    with open(src, "rb") as f:
        m.ParseFromString(f.read())
    merged = [p for p in m.pieces if p.type == pb.ModelProto.SentencePiece.NORMAL and len(p.piece) > 1]
    for p in merged[::every]:
        p.type = pb.ModelProto.SentencePiece.UNUSED
    with open(dst, "wb") as f:
        f.write(m.SerializeToString())
    return len(merged[::every])


def make_bpe(args, en, de, pt):
    # fairseq / M2M100 / NLLB layout: <unk> 0, <s> 1, </s> 2, no pad.
    layout = dict(model_type="bpe", unk_id=0, bos_id=1, eos_id=2, pad_id=-1)
    stats = {"generator": "models/make_spm.py --type bpe", "sentencepiece": spm.__version__, "vocab_size": args.vocab}
    jobs = [
        ("bpe-en", en, {}),
        ("bpe-de", [v for _, v in de], {"user_defined_symbols": ["->", "@@", "<sep>"]}),
        ("bpe-pt", sorted({v for _, v in pt}), {"byte_fallback": True}),
    ]
    for name, lines, extra in jobs:
        train(lines, os.path.join(args.out, name), args.vocab, **layout, **extra)
        stats[name + "_lines"] = len(lines)
    stats["bpe-en-unused_pieces"] = mark_unused(
        os.path.join(args.out, "bpe-en.spm"), os.path.join(args.out, "bpe-en-unused.spm")
    )
    with open(os.path.join(args.out, "PROVENANCE-bpe.json"), "w") as f:
        json.dump(stats, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
