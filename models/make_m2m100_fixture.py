#!/usr/bin/env python3
"""Makes the small M2M100, NLLB and mBART-50 conformance fixtures and records Hugging Face's outputs.

Both are `M2M100ForConditionalGeneration` checkpoints (pre-norm, sinusoidal positions with
fairseq's offset of 2, ReLU, scaled embeddings, tied output layer) laid out like the hub repos
they imitate, each with its own joint en+pt+de SentencePiece BPE model (nmt_nfkc, fairseq's
layout <unk> 0, <s> 1, </s> 2) trained on the Debian gettext text of models/make_spm.py:

  m2m100-tiny  like facebook/m2m100_418M: M2M100Tokenizer; vocab.json is a fairseq dictionary
               (<s> 0, <pad> 1, </s> 2, <unk> 3, then the pieces by falling corpus frequency, so
               NOT in the .model's order); the 100 language tokens __af__ ... __zu__ follow it
               (id len(vocab.json) + index); tokenizer_config.json and special_tokens_map.json as
               the hub's (written by transformers 4.x: the language tokens are listed as
               additional_special_tokens, which transformers 5 needs to treat them as special).
               Files: config.json generation_config.json model.safetensors
               sentencepiece.bpe.model vocab.json tokenizer_config.json special_tokens_map.json
  nllb-tiny    like facebook/nllb-200-distilled-600M: NllbTokenizer (tokenizers backend); ids are
               the .model's plus one (fairseq_offset; the .model's <unk>/<s>/</s> become 3/0/2),
               then the 202 codes ace_Arab ... zul_Latn, then <mask> (the hub's order).
               Files: config.json generation_config.json model.safetensors
               sentencepiece.bpe.model tokenizer.json tokenizer_config.json special_tokens_map.json
  mbart50-tiny like facebook/mbart-large-50-many-to-many-mmt: `MBartForConditionalGeneration`
               (pre-norm, learned positions offset by 2, layernorm_embedding, final norms, GELU,
               scaled embeddings, tied output with final_logits_bias); its SentencePiece model is
               a unigram one, as mBART's (XLM-R's) "sentencepiece.bpe.model" is despite its name;
               MBart50Tokenizer: ids as NLLB's (the .model's plus one), then the 52 codes ar_AR
               ... sl_SI, then <mask>; the hub's generation config (forced_eos_token_id 2).
               Files: as nllb-tiny's

Weights: random from a fixed seed, then trained (make_marian_fixture.train: Adam, one thread,
fixed seeds) on en->pt and en->de at once, each example with its own source and target language
codes, so the output language is decided by the forced first decoder token. The loss ignores the
language token itself (fairseq's --ignore-prefix-size 1): generate always forces it.

Recorded with transformers' own tokenizer and model.generate on the reloaded checkpoint, for every
sentence of make_marian_fixture.SENTENCES in both directions (entries interleaved: entry 2k is
sentence k en->pt, 2k+1 is sentence k en->de):
  expected.json       the schema of the Marian fixtures' plus src_lang / tgt_lang /
                      forced_bos_token_id per entry; see the "conventions" block it contains
  logits.safetensors  s<i>: raw logits of the first steps of entry i under teacher forcing on
                      d<i> (decoder inputs [2, lang, ...]); t<i>: argmax of the raw logits at
                      every step of teacher forcing on the greedy path

    python models/make_m2m100_fixture.py [NAME...]   # needs torch, transformers, sentencepiece, protobuf
    python models/make_m2m100_fixture.py --record-only   # re-record HF outputs, keep the weights

The outputs are committed; tern's tests only read them.
"""
import collections
import json
import os
import random
import shutil
import sys
import tempfile

import numpy as np
import sentencepiece as spm
import torch
import transformers
from safetensors.torch import save_file
from transformers import (AddedToken, AutoModelForSeq2SeqLM, GenerationConfig, M2M100Config,
                          M2M100ForConditionalGeneration, M2M100Tokenizer, MBart50Tokenizer, MBartConfig,
                          MBartForConditionalGeneration, NllbTokenizer)
from transformers.models.m2m_100.tokenization_m2m_100 import FAIRSEQ_LANGUAGE_CODES as M2M_CODES
from transformers.models.mbart50.tokenization_mbart50 import FAIRSEQ_LANGUAGE_CODES as MBART50_CODES
from transformers.models.nllb.tokenization_nllb import FAIRSEQ_LANGUAGE_CODES as NLLB_CODES

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_marian_fixture  # noqa: E402  (train, unpad, SENTENCES, lengths)
import make_spm  # noqa: E402  (the Debian gettext parallel text)
from make_marian_fixture import LOGIT_STEPS, MAX_LENGTH, SENTENCES, SHORT_MAX_LENGTH  # noqa: E402

FIXTURES = {
    "m2m100-tiny": dict(kind="m2m100", codes={"en": "en", "pt": "pt", "de": "de"}, spm_vocab=3000,
                        seed=2024, d_model=64, encoder_layers=2, decoder_layers=2, heads=4, ffn=128,
                        max_pos=128, steps=5000, lr=2e-3),
    "nllb-tiny": dict(kind="nllb", codes={"en": "eng_Latn", "pt": "por_Latn", "de": "deu_Latn"}, spm_vocab=2500,
                      seed=4202, d_model=96, encoder_layers=3, decoder_layers=1, heads=6, ffn=160,
                      max_pos=256, steps=5000, lr=1e-3),
    "mbart50-tiny": dict(kind="mbart50", codes={"en": "en_XX", "pt": "pt_XX", "de": "de_DE"}, spm_vocab=2500,
                         seed=5050, d_model=64, encoder_layers=2, decoder_layers=2, heads=4, ffn=128,
                         max_pos=128, steps=5000, lr=2e-3),
}
DIRECTIONS = [("en", "pt"), ("en", "de")]
LOGIT_ENTRIES = 8  # s<i>/d<i> for the first 8 entries: sentences 0-3, both directions
PAD, BOS, EOS, UNK = 1, 0, 2, 3

# Generation settings of the hub repos (generation_config.json; what generate uses by default).
HUB_GENERATION = {
    "m2m100": dict(bos_token_id=0, decoder_start_token_id=2, early_stopping=True, eos_token_id=2, max_length=200,
                   num_beams=5, pad_token_id=1),
    "nllb": dict(bos_token_id=0, decoder_start_token_id=2, eos_token_id=2, max_length=200, pad_token_id=1),
    "mbart50": dict(bos_token_id=0, decoder_start_token_id=2, early_stopping=True, eos_token_id=2,
                    forced_eos_token_id=2, max_length=200, num_beams=5, pad_token_id=1),
}


def corpus():
    """The en, de and pt sides of the gettext catalogs (as make_spm.main reads them), and the pairs."""
    de = make_spm.catalogs("de")
    pt = make_spm.catalogs("pt") + make_spm.catalogs("pt_BR")
    en = sorted({k for k, _ in de} | {k for k, _ in pt})
    return en + [v for _, v in de] + sorted({v for _, v in pt}), {"de": de, "pt": pt}


def train_spm(out, lines, vocab, model_type="bpe"):
    """Joint model in fairseq's layout, as sentencepiece.bpe.model (BPE; mBART's is unigram)."""
    make_spm.train(lines, os.path.join(out, "bpe"), vocab, model_type=model_type, unk_id=0, bos_id=1, eos_id=2,
                   pad_id=-1)
    os.replace(os.path.join(out, "bpe.spm"), os.path.join(out, "sentencepiece.bpe.model"))
    return os.path.join(out, "sentencepiece.bpe.model")


def hub_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=2)
        f.write("\n")


def m2m100_tokenizer_files(out, model_file, lines, max_pos):
    """vocab.json as a fairseq dictionary (pieces by falling frequency in the text), and the hub's
    tokenizer_config.json / special_tokens_map.json."""
    sp = spm.SentencePieceProcessor(model_file=model_file)
    counts = collections.Counter()
    for ids in sp.encode(lines):
        counts.update(ids)
    pieces = [i for i in range(sp.get_piece_size()) if not (sp.is_control(i) or sp.is_unknown(i))]
    pieces.sort(key=lambda i: (-counts[i], i))
    vocab = {"<s>": BOS, "<pad>": PAD, "</s>": EOS, "<unk>": UNK}
    for i in pieces:
        vocab[sp.id_to_piece(i)] = len(vocab)
    hub_json(os.path.join(out, "vocab.json"), vocab)
    langs = [f"__{c}__" for c in M2M_CODES["m2m100"]]
    hub_json(os.path.join(out, "special_tokens_map.json"), {
        "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "sep_token": "</s>", "pad_token": "<pad>",
        "additional_special_tokens": langs})
    hub_json(os.path.join(out, "tokenizer_config.json"), {
        "src_lang": None, "tgt_lang": None, "bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>",
        "unk_token": "<unk>", "pad_token": "<pad>", "language_codes": "m2m100", "num_madeup_words": 8,
        "additional_special_tokens": langs, "model_max_length": max_pos, "tokenizer_class": "M2M100Tokenizer"})


def nllb_tokenizer_files(out, max_pos):
    """tokenizer.json and tokenizer_config.json as transformers writes them, converted from the
    .model; the language codes after the pieces and <mask> last, as in the hub's tokenizer.json."""
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(os.path.join(out, "sentencepiece.bpe.model"), tmp)
        tok = NllbTokenizer.from_pretrained(tmp, src_lang="eng_Latn", extra_special_tokens=list(NLLB_CODES),
                                            mask_token=None)
    tok.add_special_tokens({"mask_token": AddedToken("<mask>", lstrip=True, normalized=True, special=True)})
    save_hub_tokenizer(tok, out, max_pos, NLLB_CODES)


def mbart50_tokenizer_files(out, max_pos):
    """tokenizer.json and tokenizer_config.json as transformers writes them for MBart50Tokenizer,
    converted from the .model (its codes and <mask> after the pieces)."""
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(os.path.join(out, "sentencepiece.bpe.model"), tmp)
        tok = MBart50Tokenizer.from_pretrained(tmp, src_lang="en_XX")
    save_hub_tokenizer(tok, out, max_pos, MBART50_CODES)


def save_hub_tokenizer(tok, out, max_pos, codes):
    """Saves `tok` as the hub repos have it: transformers' files without this run's facts, and
    special_tokens_map.json listing the language `codes`."""
    tok.model_max_length = max_pos
    tok.save_pretrained(out)
    path = os.path.join(out, "tokenizer_config.json")
    cfg = json.load(open(path, encoding="utf-8"))
    for k in ("is_local", "local_files_only"):  # facts about this run, not the tokenizer
        cfg.pop(k, None)
    hub_json(path, cfg)
    hub_json(os.path.join(out, "special_tokens_map.json"), {
        "additional_special_tokens": list(codes), "bos_token": "<s>", "cls_token": "<s>", "eos_token": "</s>",
        "mask_token": {"content": "<mask>", "lstrip": True, "normalized": True, "rstrip": False, "single_word": False},
        "pad_token": "<pad>", "sep_token": "</s>", "unk_token": "<unk>"})


def load_tokenizer(out, cfg):
    cls = {"m2m100": M2M100Tokenizer, "nllb": NllbTokenizer, "mbart50": MBart50Tokenizer}[cfg["kind"]]
    return cls.from_pretrained(out)


def lang_token(cfg, lang):
    code = cfg["codes"][lang]
    return f"__{code}__" if cfg["kind"] == "m2m100" else code


def sentencepiece_ids(tok, cfg, out):
    """A function giving the source ids fairseq (and tern) compute for (text, language):
    sentencepiece's segmentation, mapped to model ids as the hub tokenizers lay them out."""
    sp = spm.SentencePieceProcessor(model_file=os.path.join(out, "sentencepiece.bpe.model"))
    if cfg["kind"] == "m2m100":
        vocab = json.load(open(os.path.join(out, "vocab.json"), encoding="utf-8"))
        piece_id = lambda i: vocab.get(sp.id_to_piece(i), UNK)  # noqa: E731
    else:
        piece_id = lambda i: UNK if sp.is_unknown(i) else i + 1  # noqa: E731
    return lambda text, lang: ([tok.convert_tokens_to_ids(lang_token(cfg, lang))]
                               + [piece_id(i) for i in sp.encode(text)] + [EOS])


def check_layout(tok, cfg, out):
    """The id layout of the hub's tokenizers, and HF's source ids against sentencepiece's."""
    sp = spm.SentencePieceProcessor(model_file=os.path.join(out, "sentencepiece.bpe.model"))
    if cfg["kind"] == "m2m100":
        vocab = json.load(open(os.path.join(out, "vocab.json"), encoding="utf-8"))
        codes = [f"__{c}__" for c in M2M_CODES["m2m100"]]
        assert len(tok) == len(vocab) + len(codes), (len(tok), len(vocab))
        base, piece_id = len(vocab), lambda i: vocab.get(sp.id_to_piece(i), UNK)
    else:
        codes = list(NLLB_CODES if cfg["kind"] == "nllb" else MBART50_CODES)
        base = sp.get_piece_size() + 1
        assert len(tok) == base + len(codes) + 1 and tok.convert_tokens_to_ids("<mask>") == len(tok) - 1
        piece_id = lambda i: UNK if sp.is_unknown(i) else i + 1  # noqa: E731
    assert tok.convert_tokens_to_ids(codes) == list(range(base, base + len(codes)))
    assert set(tok.convert_tokens_to_ids(codes)) <= set(tok.all_special_ids), "language tokens are not special"
    differ = []
    spm_ids = sentencepiece_ids(tok, cfg, out)
    for text in SENTENCES:
        tok.src_lang = cfg["codes"]["en"]
        if tok(text)["input_ids"] != spm_ids(text, "en"):
            differ.append(text)
    return differ


class MultiDirection:
    """A tokenizer for make_marian_fixture.train whose "sources" are (src, tgt, text): sets the
    tokenizer's src_lang / tgt_lang per example, so one batch mixes directions. The label of the
    language token is made padding (ignored by the loss); the decoder inputs, given explicitly,
    keep it."""

    def __init__(self, tok, cfg):
        self.tok, self.cfg = tok, cfg

    def __call__(self, sources, text_target, max_length, **_):
        ins, labels, dec_in = [], [], []
        for (src, tgt, text), target in zip(sources, text_target):
            self.tok.src_lang = self.cfg["codes"][src]
            self.tok.tgt_lang = self.cfg["codes"][tgt]
            e = self.tok(text, text_target=target, truncation=True, max_length=max_length)
            ins.append(e["input_ids"])
            labels.append([PAD] + e["labels"][1:])  # [lang, pieces, </s>] with lang ignored
            dec_in.append([EOS] + e["labels"][:-1])  # [</s>, lang, pieces]: the decoder sees the language

        def pad(rows):
            n = max(map(len, rows))
            return torch.tensor([r + [PAD] * (n - len(r)) for r in rows])

        input_ids = pad(ins)
        return {"input_ids": input_ids, "attention_mask": (input_ids != PAD).long(), "labels": pad(labels),
                "decoder_input_ids": pad(dec_in)}


def make(name, cfg):
    out = os.path.join(HERE, "fixtures", name)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    lines, pairs = corpus()
    model_file = train_spm(out, lines, cfg["spm_vocab"], "unigram" if cfg["kind"] == "mbart50" else "bpe")
    if cfg["kind"] == "m2m100":
        m2m100_tokenizer_files(out, model_file, lines, cfg["max_pos"])
    elif cfg["kind"] == "nllb":
        nllb_tokenizer_files(out, cfg["max_pos"])
    else:
        mbart50_tokenizer_files(out, cfg["max_pos"])
    tok = load_tokenizer(out, cfg)
    differ = check_layout(tok, cfg, out)
    print(f"{name}: tokenizer {type(tok).__name__}, {len(tok)} ids; HF source ids differ from sentencepiece's on "
          f"{len(differ)} sentences {differ}", file=sys.stderr)
    mbart = cfg["kind"] == "mbart50"
    config = (MBartConfig if mbart else M2M100Config)(
        vocab_size=len(tok), d_model=cfg["d_model"], encoder_layers=cfg["encoder_layers"],
        decoder_layers=cfg["decoder_layers"], encoder_attention_heads=cfg["heads"],
        decoder_attention_heads=cfg["heads"], encoder_ffn_dim=cfg["ffn"], decoder_ffn_dim=cfg["ffn"],
        activation_function="gelu" if mbart else "relu", max_position_embeddings=cfg["max_pos"],
        scale_embedding=True,
        dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, encoder_layerdrop=0.0, decoder_layerdrop=0.0,
        init_std=0.02, pad_token_id=PAD, bos_token_id=BOS, eos_token_id=EOS, decoder_start_token_id=EOS,
        tie_word_embeddings=True, use_cache=True,
    )
    if cfg["kind"] == "nllb":
        config.tokenizer_class = "NllbTokenizer"
    if mbart:
        config.tokenizer_class = "MBart50Tokenizer"
    torch.manual_seed(cfg["seed"])
    model = (MBartForConditionalGeneration if mbart else M2M100ForConditionalGeneration)(config)
    examples = [((src, tgt, a), b) for src, tgt in DIRECTIONS for a, b in pairs[tgt]]
    make_marian_fixture.train(model, MultiDirection(tok, cfg), examples, dict(cfg, src="en", tgt="pt+de"), PAD)
    model.generation_config = GenerationConfig(**HUB_GENERATION[cfg["kind"]])
    model.save_pretrained(out, safe_serialization=True)
    record(name, cfg)


def gap_stats(logits):
    top = logits.topk(2, dim=-1).values
    return (top[:, 0] - top[:, 1]).tolist()


def record(name, cfg):
    """Runs HF on the saved checkpoint and writes expected.json and logits.safetensors."""
    out = os.path.join(HERE, "fixtures", name)
    # Reload exactly what a user would download.
    model = AutoModelForSeq2SeqLM.from_pretrained(out).eval()
    tok = load_tokenizer(out, cfg)
    differ = check_layout(tok, cfg, out)

    gen_args = dict(max_length=MAX_LENGTH, length_penalty=1.0, early_stopping=False, do_sample=False)
    entries, tensors = [], {}
    lengths, hit_max, min_gaps, step_gaps, first_gaps, repeats, score_err = [], 0, [], [], [], [], []
    for k, text in enumerate(SENTENCES):
        for src, tgt in DIRECTIONS:
            i = len(entries)
            tok.src_lang = cfg["codes"][src]
            forced = tok.convert_tokens_to_ids(lang_token(cfg, tgt))
            args = dict(gen_args, forced_bos_token_id=forced)
            enc = tok(text, return_tensors="pt")
            with torch.no_grad():
                greedy = model.generate(**enc, num_beams=1, **args)[0].tolist()[1:]
                beam = model.generate(**enc, num_beams=4, num_return_sequences=4, output_scores=True,
                                      return_dict_in_generate=True, **args)
                short = model.generate(**enc, num_beams=4, num_return_sequences=4, output_scores=True,
                                       return_dict_in_generate=True, **dict(args, max_length=SHORT_MAX_LENGTH))
                greedy_short = model.generate(**enc, num_beams=1, **dict(args, max_length=SHORT_MAX_LENGTH))[0]
            greedy_short = greedy_short.tolist()[1:]
            nbest = make_marian_fixture.unpad(beam, PAD)
            short = make_marian_fixture.unpad(short, PAD)
            assert greedy[0] == forced and nbest[0]["ids"][0] == forced
            # Teacher forcing on the greedy path: every step's raw logits.
            dec_in = [EOS] + greedy[:-1]
            with torch.no_grad():
                logits = model(**enc, decoder_input_ids=torch.tensor([dec_in])).logits[0]
                # The beam score as HF computes it: log-probs summed over the steps after the forced
                # language token (which scores 0), over the length of the ids without the start token.
                best = nbest[0]["ids"]
                lp = model(**enc, decoder_input_ids=torch.tensor([[EOS] + best[:-1]])).logits[0].log_softmax(-1)
            score_err.append(abs(sum(lp[t, best[t]].item() for t in range(1, len(best))) / len(best)
                                 - nbest[0]["score"]))
            gaps = gap_stats(logits)
            first_gaps.append(gaps[0])
            step_gaps.extend(gaps[1:])
            min_gaps.append(min(gaps[1:]) if len(gaps) > 1 else float("inf"))
            tensors[f"t{i}"] = logits.argmax(-1).to(torch.int32).contiguous()
            if i < LOGIT_ENTRIES:
                steps = min(LOGIT_STEPS, len(dec_in))
                tensors[f"d{i}"] = torch.tensor(dec_in[:steps], dtype=torch.int32)
                tensors[f"s{i}"] = logits[:steps].contiguous().float()
            lengths.append(len(greedy))
            hit_max += greedy[-1:] != [EOS] or len(greedy) == MAX_LENGTH - 1
            repeats.append(max(greedy[1:].count(t) for t in set(greedy[1:])) / max(1, len(greedy) - 1))
            greedy_text = tok.decode(greedy, skip_special_tokens=True)
            assert greedy_text == tok.decode(greedy[1:], skip_special_tokens=True)
            entries.append({
                "source": text,
                "src_lang": cfg["codes"][src],
                "tgt_lang": cfg["codes"][tgt],
                "forced_bos_token_id": forced,
                "source_ids": enc["input_ids"][0].tolist(),
                "greedy_ids": greedy,
                "greedy_text": greedy_text,
                "beam4_ids": nbest[0]["ids"],
                "beam4_text": tok.decode(nbest[0]["ids"], skip_special_tokens=True),
                "beam4_score": nbest[0]["score"],
                "beam4_nbest": nbest,
                "short_greedy_ids": greedy_short,
                "short_beam4_nbest": short,
            })
    lang_ids = {cfg["codes"][lang]: tok.convert_tokens_to_ids(lang_token(cfg, lang)) for lang in ("en", "pt", "de")}
    expected = {
        "generator": "models/make_m2m100_fixture.py",
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "tokenizers": __import__("tokenizers").__version__,
        "sentencepiece": spm.__version__,
        "tokenizer_class": type(tok).__name__,
        "seed": cfg["seed"], "training_steps": cfg["steps"],
        "language_token_ids": lang_ids,
        "generation": {"num_beams": 4, "max_length": MAX_LENGTH, "length_penalty": 1.0, "early_stopping": False,
                       "passed_to_generate": dict(gen_args, forced_bos_token_id="sentences[i].forced_bos_token_id"),
                       "not_set": ("generation_config.json's forced_eos_token_id 2 applies: an output cut by "
                                   "max_length ends with </s>; no bad_words_ids, no no_repeat_ngram_size"
                                   if cfg["kind"] == "mbart50" else
                                   "no forced_eos_token_id, no bad_words_ids, no no_repeat_ngram_size: an output "
                                   "cut by max_length does not end with </s>")},
        "conventions": {
            "entries": "sentences[2k] is SENTENCES[k] en->pt, sentences[2k+1] the same sentence en->de",
            "source_ids": "tokenizer(text) with src_lang set: [src language token] + pieces + [</s>]",
            "forced_bos_token_id": "tokenizer.convert_tokens_to_ids(target language token), passed to generate",
            "ids": "greedy_ids, beam4_ids, n-best ids and short ids are generate's output without the decoder "
                   "start token (</s>, id 2) and without trailing <pad>: the FIRST id is the forced target "
                   "language token; the last is </s> (2) when the output ended, not when max_length cut it",
            "max_length": "counts the decoder start token: at most max_length - 1 recorded ids, the "
                          "language token included",
            "text": "tokenizer.decode(ids, skip_special_tokens=True): the language token and </s> are not in "
                    "the text (decoding ids[1:] gives the same text)",
            "beam4_score": "HF's sequences_scores: sum of log_softmax of the raw logits of the ids after the "
                           "language token (the forced token scores 0: processors run after log_softmax), "
                           "divided by len(ids) ** length_penalty, len(ids) counting the language token and "
                           "</s>; checked here against teacher forcing, largest difference "
                           f"{max(score_err):.2e}",
            "logits": "s<i>: raw logits (no forcing, no processors) of the first logit_steps steps of entry i "
                      "under teacher forcing on d<i> = [2, language token, greedy ids...]; s<i>[0] predicts the "
                      "language token that generate forces (not trained: a near tie is possible there); "
                      "t<i>: argmax of the raw logits at every step on the greedy path ([2] + greedy_ids[:-1])",
        },
        "source_ids_differ_from_sentencepiece": differ,
        "short_max_length": SHORT_MAX_LENGTH,
        "logit_steps": LOGIT_STEPS,
        "logit_entries": LOGIT_ENTRIES,
        "sentences": entries,
    }
    with open(os.path.join(out, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, ensure_ascii=False, indent=1)
    save_file(tensors, os.path.join(out, "logits.safetensors"))
    size = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
    pt_de = sum(entries[j]["greedy_ids"][1:] != entries[j + 1]["greedy_ids"][1:] for j in range(0, len(entries), 2))
    print(f"{name}: vocab {len(tok)}, {size / 1e6:.2f} MB (model.safetensors "
          f"{os.path.getsize(os.path.join(out, 'model.safetensors')) / 1e6:.2f} MB); greedy lengths {sorted(lengths)}; "
          f"{hit_max} hit max_length; top1-top2 logit gap after the language step: median "
          f"{np.median(step_gaps):.3f}, smallest per entry {min(min_gaps):.3f} (median {np.median(min_gaps):.3f}); "
          f"at the language step: median {np.median(first_gaps):.3f}, smallest {min(first_gaps):.4f}; "
          f"mean share of the most frequent token {np.mean(repeats):.2f}; "
          f"{len(set(tuple(s['greedy_ids']) for s in entries))} distinct greedy outputs of {len(entries)}; "
          f"pt and de differ on {pt_de}/{len(SENTENCES)} sentences; beam score check {max(score_err):.2e}",
          file=sys.stderr)


if __name__ == "__main__":
    args = sys.argv[1:]
    step = record if "--record-only" in args else make
    for name in [a for a in args if not a.startswith("--")] or FIXTURES:
        step(name, FIXTURES[name])
