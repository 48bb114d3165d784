#!/usr/bin/env python3
"""Hugging Face's byte-level BPE tokenizer (BART / RoBERTa / GPT-2's scheme) on hard cases and
FLORES lines, recorded as reference outputs for tern's byte-level tokenizer test.

    python models/bytelevel_reference.py DIR [--flores ../shared/testsets/flores200-devtest]

DIR holds a BART-style tokenizer: vocab.json + merges.txt, and transformers' tokenizer.json /
tokenizer_config.json (models/fixtures/bart-tiny, made by models/make_bart_fixture.py). The
tokenizer is transformers' BartTokenizer.from_pretrained(DIR) (transformers 5: RobertaTokenizer on
the `tokenizers` library). Writes DIR/tokenizer_reference.json, one text per line (the layout of
models/tokenizer_reference.py's reference.json):

  texts        for each text: the hard cases of tokenizer_reference.HARD and BYTE_LEVEL_HARD
               (`text` given), then the first 100 FLORES devtest lines of eng_Latn, por_Latn and
               deu_Latn, referenced by language and line number only (`flores`, `line`: no FLORES
               text is committed); `ids` = tok(text)["input_ids"] (<s> ... </s>), `decoded` =
               tok.decode(ids, skip_special_tokens=True) for hard cases (for FLORES lines its 64-bit
               FNV-1a hash of the UTF-8 bytes, `decoded_fnv`), `decoded_raw` = tok.decode(ids) (the
               specials kept) for hard cases; `vocab_merges_ids` where a BartTokenizer built from
               vocab.json + merges.txt + tokenizer_config.json alone (no tokenizer.json, no
               special_tokens_map.json) gives other ids: only on " <mask>", whose space
               tokenizer.json's and special_tokens_map.json's <mask> (lstrip, as the hub's) takes
               and tokenizer_config.json's plain "<mask>" leaves as a token
  decode_only  id lists that split UTF-8 characters across tokens or hold stray bytes and special
               tokens: `ids`, `decoded` (skip_special_tokens=True) and `decoded_raw`

Needs transformers (v5) and tokenizers.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile

import tokenizers
import transformers
from transformers import BartTokenizer
from transformers.convert_slow_tokenizer import bytes_to_unicode

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from tokenizer_reference import FLORES_LINES, HARD, LANGS, fnv1a, texts  # noqa: E402

# What GPT-2's pre-tokenizer regex ('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|
# \s+(?!\S)|\s+) and the byte mapping make hard: lowercase-only contractions, a space that joins
# the next word only when it is one plain U+0020, whitespace runs (the last space goes to the next
# word), the classes' edges (combining marks are not \p{L}; Ⓐ is a symbol with the Alphabetic
# property; Ⅻ and ² are \p{N}), Unicode whitespace (U+00A0, U+2028, U+0085, U+3000) against
# format characters that are not whitespace (U+200B, U+FEFF, U+00AD), multi-byte characters split
# into byte tokens, and special tokens typed in the text.
BYTE_LEVEL_HARD = [
    "I'm, you're, he'll, she'd, it's, we've, don't, 'S ' s",
    "I'M YOU'RE HE'LL SHE'D IT'S WE'VE DON'T",
    "rock 'n' roll, the '90s, 'quoted', ''double'', dogs' bones'",
    "'",
    "''",
    " '",
    "' ",
    "a  b   c    d\t\te",
    "two spaces before  words  and at the end  ",
    "three at the end   ",
    "  \n\n  x",
    "\n",
    "\r\n\r\nx\r\n",
    "\tindented\ttabs\t\t",
    " \t x",
    "non\xa0breaking\xa0\xa0space \xa0x\xa0",
    "ideographic\u3000space\u3000",
    "line\u2028separator\u2029paragraph\x85next",
    "zero\u200bwidth\ufeffbom soft\xadhyphen",
    "123,456.78",
    "1234567890 12 345 6789 -42 +3.5e-7 v2.0-beta_1 abc123def",
    "½ ² ³ Ⅻ ⅻ ١٢٣ ४५६",
    "?!... !!! ??? ... -- --- (a) [b] {c} #hash @at $5 100% a&b",
    "Hello?!... world!!!",
    "__init__ snake_case CamelCase kebab-case path/to/file.txt",
    "e\u0301",
    "cafe\u0301 re\u0301sume\u0301 nai\u0308ve",
    "ⒶⒷⒸ Ⓐb aⒶ ⓐⓑ",
    "ǅemal ǈubljana ᾼ",
    "東京は日本の首都です。中文，한국어",
    "\u1100\u1161\u11a8 한",
    "مرحبا بالعالم",
    "नमस्ते दुनिया हिन्दी",
    "ภาษาไทย",
    "עִבְרִית",
    "👨\u200d👩\u200d👧\u200d👦 family",
    "🏳️\u200d🌈 👍🏽 🇵🇹🇩🇪",
    "x😀y 😀😀",
    "\x00\x01\x7f control",
    "Fill the <mask> here",
    "text <s> with </s> specials <pad> and <unk>",
    "<mask>",
]


def byte_ids(tok):
    """The id of each byte's symbol (all 256 are in a byte-level vocabulary)."""
    symbol = bytes_to_unicode()
    return [tok.convert_tokens_to_ids(symbol[b]) for b in range(256)]


def decode_only_lists(tok):
    """Id lists decoding meets only when a model generates them: characters split across byte
    tokens, incomplete and invalid UTF-8, and special tokens in odd places."""
    b = byte_ids(tok)
    enc = lambda text: tok(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    s, pad, e, unk, mask = (tok.convert_tokens_to_ids(t) for t in ("<s>", "<pad>", "</s>", "<unk>", "<mask>"))
    return [
        [b[0xC3], b[0xA9]],  # "é" as two byte tokens
        [b[0xC3]],  # a lead byte alone
        [b[0xC3]] + enc(" ok"),  # a lead byte before ASCII
        [b[0xA9]] + enc("a"),  # a continuation byte alone
        [b[0xF0], b[0x9F], b[0x98]],  # three of the four bytes of 😀
        [b[0xF0], b[0x9F], b[0x98], b[0x80]],  # all four
        [b[0xE6], b[0x9D]] + enc("東"),  # an incomplete 3-byte character, then a whole one
        [b[0xFF], b[0xFE], b[0xC0], b[0x80]],  # bytes never valid in UTF-8, an overlong NUL
        [b[0xED], b[0xA0], b[0x80]],  # an encoded surrogate
        [s] + enc("Olá") + [e],
        enc("Olá") + [e] + enc(" mundo") + [pad, pad],
        [b[0xC3], e, b[0xA9]],  # a special token inside a character
        [s, unk] + enc(" x") + [mask] + enc(" y") + [e],
        enc(" leading and trailing "),
        [b[0x20], b[0x20]] + enc("x") + [b[0x0A]],
        [],
    ]


def write(path, tok, entries, decode_only):
    """One text per line, as tokenizer_reference.reference_json, plus the decode-only lists."""
    with open(path, "w", encoding="utf-8") as f:
        f.write('{"transformers": %s, "tokenizers": %s, "tokenizer_class": %s, "texts": [\n'
                % (json.dumps(transformers.__version__), json.dumps(tokenizers.__version__),
                   json.dumps(type(tok).__name__)))
        f.write(",\n".join(json.dumps(e, ensure_ascii=False) for e in entries))
        f.write('\n], "decode_only": [\n')
        f.write(",\n".join(json.dumps(e, ensure_ascii=False) for e in decode_only))
        f.write("\n]}\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", help="a directory with vocab.json, merges.txt and transformers' tokenizer files")
    ap.add_argument("--flores", default=os.path.join(HERE, "..", "..", "shared", "testsets", "flores200-devtest"))
    args = ap.parse_args()
    tok = BartTokenizer.from_pretrained(args.dir)
    # The same tokenizer from vocab.json + merges.txt + tokenizer_config.json alone (the hub's older
    # repos have no tokenizer.json).
    with tempfile.TemporaryDirectory() as tmp:
        for f in ("vocab.json", "merges.txt", "tokenizer_config.json"):
            if os.path.exists(os.path.join(args.dir, f)):
                shutil.copy(os.path.join(args.dir, f), tmp)
        plain = BartTokenizer.from_pretrained(tmp)
    assert plain.get_vocab() == tok.get_vocab()

    entries, lossless, flores, differ = [], 0, 0, []
    for c in texts(args.flores, HARD + BYTE_LEVEL_HARD):
        ids = tok(c["text"])["input_ids"]
        decoded = tok.decode(ids, skip_special_tokens=True)
        assert ids[0] == tok.bos_token_id and ids[-1] == tok.eos_token_id, ids
        assert tok.unk_token_id not in ids or "<unk>" in c["text"], c["text"]
        if "flores" in c:
            e = {"flores": c["flores"], "line": c["line"], "ids": ids,
                 "decoded_fnv": "%016x" % fnv1a(decoded.encode("utf-8"))}
            flores += 1
        else:
            e = {"text": c["text"], "ids": ids, "decoded": decoded, "decoded_raw": tok.decode(ids)}
        plain_ids = plain(c["text"])["input_ids"]
        if plain_ids != ids:
            e["vocab_merges_ids"] = plain_ids
            differ.append(c["text"])
        lossless += decoded == c["text"]
        entries.append(e)
    assert len(entries) == len(HARD) + len(BYTE_LEVEL_HARD) + FLORES_LINES * len(LANGS), len(entries)
    decode_only = [{"ids": ids, "decoded": tok.decode(ids, skip_special_tokens=True), "decoded_raw": tok.decode(ids)}
                   for ids in decode_only_lists(tok)]
    path = os.path.join(args.dir, "tokenizer_reference.json")
    write(path, tok, entries, decode_only)
    replaced = sum("\ufffd" in d["decoded"] for d in decode_only)
    print(f"{path}: {len(entries)} texts ({flores} FLORES lines), {lossless} decoded back to the text exactly "
          f"(the others hold special tokens' text or lose the space before <mask>); the tokenizer from "
          f"vocab.json + merges.txt + tokenizer_config.json alone differs on {len(differ)} {differ}; "
          f"{len(decode_only)} decode-only id "
          f"lists, {replaced} decoded with U+FFFD", file=sys.stderr)


if __name__ == "__main__":
    main()
