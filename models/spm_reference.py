"""Reference SentencePiece outputs for tern's tokenizer tests.

usage: python models/spm_reference.py MODEL.spm < texts.json > reference.json

Reads a JSON list of strings; writes, for each, the ids and pieces the `sentencepiece` library
encodes it to and the text it decodes those ids back to. The Rust tests (tests/tokenizer.rs)
run this with the venv `cargo xtask py-env` makes and compare tern's output with it.
"""
import json
import sys

import sentencepiece as spm


def main() -> None:
    sp = spm.SentencePieceProcessor(model_file=sys.argv[1])
    texts = json.load(sys.stdin)
    out = []
    for t in texts:
        ids = sp.encode(t)
        out.append({"ids": ids, "pieces": sp.encode(t, out_type=str), "decoded": sp.decode(ids)})
    json.dump(out, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
