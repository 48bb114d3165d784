#!/usr/bin/env python3
"""Hugging Face M2M100 / NLLB tokenizer fixtures and their reference outputs for tests/tokenizer.rs.

    python models/tokenizer_reference.py [--flores ../shared/testsets/flores200-devtest]

Builds an M2M100Tokenizer and an NllbTokenizer from models/fixtures/spm/bpe-en.spm (a BPE model in
fairseq's layout) and saves them as the hub does, without the .spm copy (the Rust test puts
bpe-en.spm next to them as sentencepiece.bpe.model):

  fixtures/tok-m2m100/  vocab.json (a fairseq dictionary: <s> <pad> </s> <unk>, then the pieces in
                        a shuffled order, a few left out so they map to <unk>), tokenizer_config.json,
                        special_tokens_map.json
  fixtures/tok-nllb/    tokenizer.json, tokenizer_config.json (transformers' own save)

and reference.json in each: for each text (hard cases, and FLORES devtest lines referenced by
language and line number only, so no FLORES text is committed), HF's `tok(text)["input_ids"]`
with src_lang set, the same ids through the sentencepiece library with fairseq's id mapping
(`spm_ids`, only where they differ: what the model was trained on, and what transformers v4's
slow tokenizers return), and HF's `decode(ids, skip_special_tokens=True)` of the target-side ids
`[lang] + pieces + [</s>]` (for FLORES lines its 64-bit FNV-1a hash).
Needs transformers (v5: NLLB is tokenizers-backed), sentencepiece and protobuf.
"""
import argparse
import json
import os
import random
import shutil
import tempfile

import sentencepiece as spm
import transformers
from transformers import M2M100Tokenizer, NllbTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
SPM = os.path.join(HERE, "fixtures", "spm", "bpe-en.spm")
HARD = [
    "",
    " ",
    "   leading and trailing   ",
    "runs   of\t\tspaces\u3000and\xa0nbsp",
    "tab\tnew\nline\r\nreturn",
    "café naïve façade Ångström",
    "cafe\u0301 nai\u0308ve",
    "ﬁnance ① ㍿ Ⅻ ｆｕｌｌｗｉｄｔｈ",
    "東京は日本の首都です。中文测试，한국어 텍스트",
    "😀 emoji 👍🏽 family 👨‍👩‍👧 flags 🇵🇹🇩🇪",
    "😀😀😀",
    "«Quotes» “curly” ‘single’ — dashes – and … ellipsis",
    "Hello , world . It 's a test !",
    "numbers 3.14159, 1,000,000 and 2026-11-24",
    "x",
    "x ",
]
LANGS = {"eng_Latn": "en", "por_Latn": "pt", "deu_Latn": "de"}
FLORES_LINES = 100


def hub_json(path, obj, indent=1):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=indent)
        f.write("\n")


def reference_json(path, ref):
    """One text per line."""
    with open(path, "w", encoding="utf-8") as f:
        f.write('{"transformers": %s, "texts": [\n' % json.dumps(transformers.__version__))
        f.write(",\n".join(json.dumps(e, ensure_ascii=False) for e in ref))
        f.write("\n]}\n")


def texts(flores, hard=HARD):
    """The hard cases (as English), then FLORES_LINES lines of each language of LANGS."""
    out = [{"text": t, "lang": "eng_Latn"} for t in hard]
    for lang in LANGS:
        path = os.path.join(flores, f"{lang}.devtest")
        if not os.path.exists(path):
            raise SystemExit(f"{path} is missing (pass --flores)")
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()[:FLORES_LINES]
        out += [{"flores": lang, "line": i, "text": t, "lang": lang} for i, t in enumerate(lines)]
    return out


def fnv1a(b):
    """64-bit FNV-1a: FLORES lines are referenced, not copied, so their decoded text is a hash."""
    h = 0xCBF29CE484222325
    for x in b:
        h = ((h ^ x) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def record(tok, sp, cases, code_of, spm_id):
    out = []
    for c in cases:
        tok.src_lang = code_of(c["lang"])
        ids = tok(c["text"])["input_ids"]
        lang_id = tok.convert_tokens_to_ids(tok.src_lang if not isinstance(tok, M2M100Tokenizer)
                                            else tok.get_lang_token(tok.src_lang))
        spm_ids = [lang_id] + [spm_id(i, p) for i, p in zip(sp.encode(c["text"]), sp.encode(c["text"], out_type=str))] + [tok.eos_token_id]
        target = [lang_id] + spm_ids[1:]
        e = {k: v for k, v in c.items() if k != "text" or "flores" not in c}
        e["ids"] = ids
        if spm_ids != ids:
            e["spm_ids"] = spm_ids
        decoded = tok.decode(target, skip_special_tokens=True)
        if "flores" in c:
            e["decoded_fnv"] = "%016x" % fnv1a(decoded.encode("utf-8"))
        else:
            e["decoded"] = decoded
        out.append(e)
    return out


def m2m100(out, sp, cases):
    os.makedirs(out, exist_ok=True)
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size()) if not (sp.is_control(i) or sp.is_unknown(i))]
    random.Random(7).shuffle(pieces)
    dropped = set(pieces[::97])  # in the .spm but not in the dictionary: HF maps them to <unk>
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for p in pieces:
        if p not in dropped:
            vocab[p] = len(vocab)
    hub_json(os.path.join(out, "vocab.json"), vocab)
    langs = [f"__{c}__" for c in ["af", "am", "ar", "ast", "az", "ba", "be", "bg", "bn", "br", "bs", "ca", "ceb", "cs", "cy", "da", "de", "el", "en", "es", "et", "fa", "ff", "fi", "fr", "fy", "ga", "gd", "gl", "gu", "ha", "he", "hi", "hr", "ht", "hu", "hy", "id", "ig", "ilo", "is", "it", "ja", "jv", "ka", "kk", "km", "kn", "ko", "lb", "lg", "ln", "lo", "lt", "lv", "mg", "mk", "ml", "mn", "mr", "ms", "my", "ne", "nl", "no", "ns", "oc", "or", "pa", "pl", "ps", "pt", "ro", "ru", "sd", "si", "sk", "sl", "so", "sq", "sr", "ss", "su", "sv", "sw", "ta", "th", "tl", "tn", "tr", "uk", "ur", "uz", "vi", "wo", "xh", "yi", "yo", "zh", "zu"]]
    hub_json(os.path.join(out, "special_tokens_map.json"), {
        "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "sep_token": "</s>", "pad_token": "<pad>",
        "additional_special_tokens": langs})
    hub_json(os.path.join(out, "tokenizer_config.json"), {
        "src_lang": None, "tgt_lang": None, "bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>",
        "unk_token": "<unk>", "pad_token": "<pad>", "language_codes": "m2m100", "num_madeup_words": 8,
        "additional_special_tokens": langs, "model_max_length": 1024, "tokenizer_class": "M2M100Tokenizer"})
    with tempfile.TemporaryDirectory() as tmp:
        for f in os.listdir(out):
            if f != "reference.json":
                shutil.copy(os.path.join(out, f), tmp)
        shutil.copy(SPM, os.path.join(tmp, "sentencepiece.bpe.model"))
        tok = M2M100Tokenizer.from_pretrained(tmp)
        ref = record(tok, sp, cases, lambda l: LANGS[l], lambda i, p: vocab.get(p, 3))
    reference_json(os.path.join(out, "reference.json"), ref)


def nllb(out, sp, cases):
    os.makedirs(out, exist_ok=True)
    codes = NllbTokenizer.__init__.__globals__["FAIRSEQ_LANGUAGE_CODES"]
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(SPM, os.path.join(tmp, "sentencepiece.bpe.model"))
        # As the hub's: the codes right after the pieces, <mask> last.
        tok = NllbTokenizer.from_pretrained(tmp, src_lang="eng_Latn", extra_special_tokens=list(codes), mask_token=None)
        from transformers import AddedToken
        tok.add_special_tokens({"mask_token": AddedToken("<mask>", lstrip=True, normalized=True, special=True)})
        tok.save_pretrained(tmp)
        for f in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(os.path.join(tmp, f), out)
        cfg = json.load(open(os.path.join(out, "tokenizer_config.json"), encoding="utf-8"))
        for k in ("is_local", "local_files_only"):
            cfg.pop(k, None)
        hub_json(os.path.join(out, "tokenizer_config.json"), cfg)
        tok = NllbTokenizer.from_pretrained(tmp)
        assert tok.convert_tokens_to_ids("eng_Latn") == sp.get_piece_size() + 1 + codes.index("eng_Latn")
        ref = record(tok, sp, cases, lambda l: l, lambda i, p: 3 if sp.is_unknown(i) else i + 1)
    reference_json(os.path.join(out, "reference.json"), ref)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flores", default=os.path.join(HERE, "..", "..", "shared", "testsets", "flores200-devtest"))
    args = ap.parse_args()
    sp = spm.SentencePieceProcessor(model_file=SPM)
    cases = texts(args.flores)
    m2m100(os.path.join(HERE, "fixtures", "tok-m2m100"), sp, cases)
    nllb(os.path.join(HERE, "fixtures", "tok-nllb"), sp, cases)


if __name__ == "__main__":
    main()
