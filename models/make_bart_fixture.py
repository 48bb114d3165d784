#!/usr/bin/env python3
"""Makes the small BART conformance fixture and records Hugging Face's outputs on it.

  bart-tiny  a `BartForConditionalGeneration` checkpoint (model_type "bart") laid out like
             facebook/bart-base and the DistilBART summarizers: post-norm blocks, learned
             positions offset by 2, layernorm_embedding, no final norms, exact GELU, no embedding
             scaling (scale_embedding false), tied output layer with final_logits_bias; 3 encoder
             and 2 decoder layers, d_model 64, 4 heads, feed-forward 128, 128 positions.

Tokenizer: a byte-level BPE (GPT-2 / RoBERTa's scheme: bytes mapped to printable characters,
'Ġ' for the space, GPT-2's split regex, no normalizer, add_prefix_space false) trained with the
`tokenizers` library on the en+pt+de Debian gettext text of models/make_spm.py, in BART's layout:
<s> 0, <pad> 1, </s> 2, <unk> 3, then the learned tokens (the 256 byte symbols and the merges) by
falling frequency in the training text, as fairseq's dictionary orders them (so a token's id is not
its merge rank: bart-base has "." 4, "Ġthe" 5), and <mask> last (bart-base: 50264).
  vocab.json, merges.txt  as the hub has them (merges.txt starts with "#version: 0.2")
  tokenizer.json, tokenizer_config.json  transformers' own save of BartTokenizer (in transformers
                          5 an alias of RobertaTokenizer, so tokenizer_class "RobertaTokenizer")
                          built from vocab.json + merges.txt, with <mask> lstrip as the hub's
  special_tokens_map.json the hub's (transformers 5 no longer writes one)
config vocab_size is len(tokenizer) exactly (bart-base: 50265).

Weights: random from a fixed seed with a visible final_logits_bias, then trained
(make_marian_fixture.train: Adam, one thread, fixed seeds) on the en->pt pairs of the gettext text
that fit its 32-id truncation (a truncated label would teach the model to stop after 30 pieces;
at Adam's 2e-3 this post-norm model ignored its source and learnt 3 outputs, at 1e-3 it does not).
Labels are tokenizer(text_target=...) = <s> pieces </s>; BART shifts them right itself (decoder
start </s> = 2), so the decoder learns to put <s> first, which generate also forces
(generation_config.json's forced_bos_token_id 0, as bart-base's).

Recorded with transformers' own tokenizer and model.generate on the reloaded checkpoint (f32, one
thread; make_t5_fixture.generate_entries), for every sentence of make_marian_fixture.SENTENCES,
en->pt only (entry i is SENTENCES[i]; `source` is the plain sentence, no language codes):
  expected.json       the schema of the T5 fixtures' expected.json; see the "conventions" block
                      it contains
  logits.safetensors  s<i>: raw logits of the first steps of entry i under teacher forcing on
                      d<i> (decoder inputs [2, 0, ...]); t<i>: argmax of the raw logits at every
                      step of teacher forcing on the greedy path

    python models/make_bart_fixture.py [NAME...]   # needs torch, transformers, tokenizers
    python models/make_bart_fixture.py --record-only   # re-record HF outputs, keep the weights

models/record_generation_settings.py records its settings on it too, and
models/bytelevel_reference.py the tokenizer's reference outputs. The outputs are committed;
tern's tests only read them.
"""
import collections
import json
import os
import shutil
import sys
import tempfile

import numpy as np
import tokenizers
import torch
import transformers
from safetensors.torch import save_file
from tokenizers import ByteLevelBPETokenizer, Tokenizer, models, pre_tokenizers, trainers
from transformers import (AddedToken, AutoModelForSeq2SeqLM, BartConfig, BartForConditionalGeneration,
                          BartTokenizer, GenerationConfig)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_marian_fixture  # noqa: E402  (train, SENTENCES, lengths)
from make_m2m100_fixture import corpus, hub_json  # noqa: E402
from make_marian_fixture import LOGIT_STEPS, MAX_LENGTH, SENTENCES, SHORT_MAX_LENGTH  # noqa: E402
from make_t5_fixture import GEN_ARGS, generate_entries  # noqa: E402

FIXTURES = {
    "bart-tiny": dict(bpe_vocab=2000, seed=7070, d_model=64, encoder_layers=3, decoder_layers=2, heads=4, ffn=128,
                      max_pos=128, steps=5000, lr=1e-3),
}
BOS, PAD, EOS, UNK = 0, 1, 2, 3
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]
MASK = "<mask>"
DECODER_START = EOS
LOGIT_ENTRIES = 8  # s<i>/d<i> for the first 8 entries (sentences 0-7)
TRAIN_TOKENS = 32  # make_marian_fixture.train truncates sources and labels to this many ids
# generation_config.json as bart-base's, without what changes the output there (num_beams 4,
# no_repeat_ngram_size 3, early_stopping true): forced <s> first, forced </s> at max_length.
HUB_GENERATION = dict(bos_token_id=BOS, decoder_start_token_id=DECODER_START, eos_token_id=EOS,
                      forced_bos_token_id=BOS, forced_eos_token_id=EOS, pad_token_id=PAD)


def train_bpe(out, lines, vocab_size):
    """Byte-level BPE in BART's layout: vocab.json (<s> <pad> </s> <unk>, the learned tokens by
    falling frequency in `lines`, <mask> last) and merges.txt (the merges in rank order). Returns
    the merges and how many learned tokens the text never uses (bytes it lacks)."""
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tk.train_from_iterator(lines, trainer)
    model = json.loads(tk.to_str())["model"]
    assert [model["vocab"][s] for s in SPECIALS] == [BOS, PAD, EOS, UNK]
    counts = collections.Counter()
    for enc in tk.encode_batch(lines):
        counts.update(enc.ids)
    token = {i: t for t, i in model["vocab"].items()}
    learned = sorted((i for i in token if i >= len(SPECIALS)), key=lambda i: (-counts[i], i))
    vocab = {s: i for i, s in enumerate(SPECIALS)}
    for i in learned:
        vocab[token[i]] = len(vocab)
    vocab[MASK] = len(vocab)
    with open(os.path.join(out, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(out, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        f.writelines(f"{a} {b}\n" for a, b in model["merges"])
    return model["merges"], sum(counts[i] == 0 for i in learned)


def tokenizer_files(out, max_pos):
    """tokenizer.json and tokenizer_config.json as transformers writes them for a BartTokenizer
    built from vocab.json + merges.txt (without this run's facts), and the hub's
    special_tokens_map.json. <mask> strips the space before it, as the hub's (transformers 4's
    RobertaTokenizer made it lstrip; transformers 5's no longer does)."""
    with tempfile.TemporaryDirectory() as tmp:
        for f in ("vocab.json", "merges.txt"):
            shutil.copy(os.path.join(out, f), tmp)
        tok = BartTokenizer.from_pretrained(
            tmp, mask_token=AddedToken(MASK, lstrip=True, rstrip=False, normalized=False, special=True))
    tok.model_max_length = max_pos
    tok.save_pretrained(out)
    path = os.path.join(out, "tokenizer_config.json")
    cfg = json.load(open(path, encoding="utf-8"))
    for k in ("is_local", "local_files_only"):  # facts about this run, not the tokenizer
        cfg.pop(k, None)
    hub_json(path, cfg)
    hub_json(os.path.join(out, "special_tokens_map.json"), {
        "bos_token": "<s>", "cls_token": "<s>", "eos_token": "</s>",
        "mask_token": {"content": MASK, "lstrip": True, "normalized": False, "rstrip": False, "single_word": False},
        "pad_token": "<pad>", "sep_token": "</s>", "unk_token": "<unk>"})


def load_tokenizer(out):
    return BartTokenizer.from_pretrained(out)


def check_layout(tok, out):
    """BART's id layout; tokenizer.json's vocabulary and merges are vocab.json's and merges.txt's;
    and HF's source ids are [<s>] + the pieces of the `tokenizers` library's ByteLevelBPETokenizer
    read from vocab.json + merges.txt (GPT-2's scheme, no prefix space) + [</s>]. Returns the
    sentences where they differ."""
    vocab = json.load(open(os.path.join(out, "vocab.json"), encoding="utf-8"))
    merges = open(os.path.join(out, "merges.txt"), encoding="utf-8").read().splitlines()
    assert merges[0] == "#version: 0.2"
    assert len(tok) == len(vocab) and tok.get_vocab() == vocab, (len(tok), len(vocab))
    assert tok.convert_tokens_to_ids(SPECIALS + [MASK]) == [BOS, PAD, EOS, UNK, len(vocab) - 1]
    assert (tok.bos_token_id, tok.pad_token_id, tok.eos_token_id, tok.unk_token_id) == (BOS, PAD, EOS, UNK)
    tj = json.load(open(os.path.join(out, "tokenizer.json"), encoding="utf-8"))
    assert tj["model"]["vocab"] == vocab
    assert [" ".join(m) if isinstance(m, list) else m for m in tj["model"]["merges"]] == merges[1:]
    bpe = ByteLevelBPETokenizer(os.path.join(out, "vocab.json"), os.path.join(out, "merges.txt"))
    return [text for text in SENTENCES if tok(text)["input_ids"] != [BOS] + bpe.encode(text).ids + [EOS]]


def hub_config(model):
    """config.json in the hub's form: transformers' own, sorted, float32, with bart-base's forced
    ids."""
    with tempfile.TemporaryDirectory() as tmp:
        model.config.save_pretrained(tmp)
        c = json.load(open(os.path.join(tmp, "config.json"), encoding="utf-8"))
    c["architectures"] = ["BartForConditionalGeneration"]
    c["dtype"] = "float32"
    c["forced_bos_token_id"] = BOS
    c["forced_eos_token_id"] = EOS
    return dict(sorted(c.items()))


def make(name, cfg):
    out = os.path.join(HERE, "fixtures", name)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    lines, pairs = corpus()
    merges, unused = train_bpe(out, lines, cfg["bpe_vocab"])
    tokenizer_files(out, cfg["max_pos"])
    tok = load_tokenizer(out)
    differ = check_layout(tok, out)
    print(f"{name}: tokenizer {type(tok).__name__}, {len(tok)} ids ({len(merges)} merges, {unused} learned tokens "
          f"unused in the training text); HF source ids differ from [<s>] + ByteLevelBPETokenizer's + [</s>] on "
          f"{len(differ)} sentences {differ}", file=sys.stderr)
    config = BartConfig(
        vocab_size=len(tok), d_model=cfg["d_model"], encoder_layers=cfg["encoder_layers"],
        decoder_layers=cfg["decoder_layers"], encoder_attention_heads=cfg["heads"],
        decoder_attention_heads=cfg["heads"], encoder_ffn_dim=cfg["ffn"], decoder_ffn_dim=cfg["ffn"],
        activation_function="gelu",
        max_position_embeddings=cfg["max_pos"], scale_embedding=False,
        dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, classifier_dropout=0.0, encoder_layerdrop=0.0,
        decoder_layerdrop=0.0, init_std=0.02, pad_token_id=PAD, bos_token_id=BOS, eos_token_id=EOS,
        decoder_start_token_id=DECODER_START, forced_bos_token_id=BOS, forced_eos_token_id=EOS,
        tie_word_embeddings=True, use_cache=True,
    )
    # Only pairs that fit train's truncation: a truncated label still ends with </s> (after 30
    # pieces), which would teach the model to stop there whatever the source.
    src_len = [len(ids) for ids in tok([a for a, _ in pairs["pt"]])["input_ids"]]
    tgt_len = [len(ids) for ids in tok([b for _, b in pairs["pt"]])["input_ids"]]
    examples = [p for p, n, m in zip(pairs["pt"], src_len, tgt_len) if max(n, m) <= TRAIN_TOKENS]
    print(f"{name}: {len(examples)} of {len(pairs['pt'])} en-pt pairs fit {TRAIN_TOKENS} ids", file=sys.stderr)
    torch.manual_seed(cfg["seed"])
    model = BartForConditionalGeneration(config)
    make_marian_fixture.train(model, tok, examples, dict(cfg, src="en", tgt="pt"), PAD)
    model.generation_config = GenerationConfig(**HUB_GENERATION)
    model.save_pretrained(out, safe_serialization=True)
    hub_json(os.path.join(out, "config.json"), hub_config(model))
    record(name, cfg)


def record(name, cfg):
    """Runs HF on the saved checkpoint and writes expected.json and logits.safetensors."""
    out = os.path.join(HERE, "fixtures", name)
    torch.set_num_threads(1)
    # Reload exactly what a user would download.
    model = AutoModelForSeq2SeqLM.from_pretrained(out, dtype=torch.float32).eval()
    assert type(model) is BartForConditionalGeneration and model.config.model_type == "bart"
    assert model.lm_head.weight.data_ptr() == model.model.shared.weight.data_ptr(), "lm_head is not tied"
    assert not model.config.scale_embedding and model.model.encoder.embed_tokens.embed_scale == 1.0
    bias = model.final_logits_bias[0]
    assert bias.abs().max() > 0.1 and bias[PAD] == 0, "final_logits_bias lost on reload"
    gen = model.generation_config
    assert {k: getattr(gen, k) for k in HUB_GENERATION} == HUB_GENERATION, gen
    # Nothing else that changes the output (transformers 5 leaves what the file does not set None).
    assert all(getattr(gen, k) in (None, v) for k, v in dict(num_beams=1, no_repeat_ngram_size=0, min_length=0,
                                                             length_penalty=1.0, bad_words_ids=None).items()), gen
    tok = load_tokenizer(out)
    differ = check_layout(tok, out)
    vocab = model.config.vocab_size
    assert vocab == len(tok)

    # generate forces <s> first (forced_bos_token_id) and </s> as the last id max_length allows
    # (forced_eos_token_id): those ids score 0 in HF's beam score.
    def forced(ids):
        return [0] + ([len(ids) - 1] if len(ids) == MAX_LENGTH - 1 else [])

    entries, tensors, st = generate_entries(model, tok, SENTENCES, DECODER_START, EOS, PAD, UNK, LOGIT_ENTRIES,
                                            forced)
    for e in entries:
        for ids in [e["greedy_ids"], e["beam4_ids"], e["short_greedy_ids"]] + [
                n["ids"] for n in e["beam4_nbest"] + e["short_beam4_nbest"]]:
            assert ids[0] == BOS, ids
            assert ids[-1] == EOS or len(ids) < MAX_LENGTH - 1, "max_length cut without the forced </s>"
        assert e["short_greedy_ids"][-1] == EOS and all(n["ids"][-1] == EOS for n in e["short_beam4_nbest"])
    lossless = sum(tok.decode(e["source_ids"], skip_special_tokens=True) == e["source"] for e in entries)
    mask_id = len(tok) - 1
    expected = {
        "generator": "models/make_bart_fixture.py",
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "tokenizers": tokenizers.__version__,
        "tokenizer_class": type(tok).__name__,
        "seed": cfg["seed"], "training_steps": cfg["steps"],
        "generation": {"num_beams": 4, "max_length": MAX_LENGTH, "length_penalty": 1.0, "early_stopping": False,
                       "passed_to_generate": dict(GEN_ARGS),
                       "not_set": "generation_config.json's forced_bos_token_id 0 and forced_eos_token_id 2 apply "
                                  "(not passed; bart-base has them): the first id is <s>, an output cut by "
                                  "max_length ends with </s>; no bad_words_ids, no no_repeat_ngram_size, no "
                                  "min_length (bart-base's no_repeat_ngram_size 3 and num_beams 4 are left out)"},
        "conventions": {
            "entries": "sentences[i] is SENTENCES[i] en->pt (one direction; the model knows no other); `source` "
                       "is the plain sentence: no language tokens, no prefix",
            "source_ids": "tokenizer(source)['input_ids']: [<s>] (0) + the byte-level BPE pieces + [</s>] (2); "
                          "no space is added before the first word (add_prefix_space false): 'Hi' and ' Hi' "
                          "differ",
            "vocabulary": f"ids 0, 1, 2, 3 are <s>, <pad>, </s>, <unk>; ids 4..{mask_id - 1} the learned tokens "
                          "(the 256 byte symbols and the merges' results, by falling frequency in the training "
                          "text as fairseq's dictionary: an id is not a merge rank; merges.txt's line order is the "
                          f"rank), <mask> is {mask_id}, the last; len(tokenizer) and config vocab_size are both "
                          f"{vocab}; <unk> is never produced by the tokenizer (every byte has a token)",
            "decoder_start": "decoder_start_token_id 2 (= </s>; generation_config.json and config.json), "
                             "bos_token_id 0, pad_token_id 1, eos_token_id 2, forced_bos_token_id 0, "
                             "forced_eos_token_id 2",
            "ids": "greedy_ids, beam4_ids, n-best ids and short ids are generate's output without the decoder "
                   "start token (</s>, id 2), cut after the first </s> (generate fills the rest of a finished beam "
                   "with <pad>, 1): the FIRST id is always <s> (0), forced by forced_bos_token_id (the model "
                   "also learnt it: its labels start with <s>); the last id is </s> (2) both when the output "
                   "ended and when max_length cut it (forced_eos_token_id forces </s> as the last id max_length "
                   "allows; every short output ends so)",
            "max_length": "counts the decoder start token: at most max_length - 1 recorded ids, <s> and the "
                          "forced </s> included",
            "text": "tokenizer.decode(ids, skip_special_tokens=True): <s>, </s>, <pad>, <unk>, <mask> are dropped, "
                    "then the ByteLevel decoder maps the remaining tokens' characters back to bytes and reads them "
                    "as UTF-8 (invalid sequences become U+FFFD); nothing is stripped or added: a leading 'Ġ' "
                    "gives a leading space; clean_up_tokenization_spaces is false (transformers 5's default; "
                    "tokenizer_config.json does not set it, and transformers 5 ignores it for BPE models "
                    "anyway), so ' .' stays ' .'; decoding source_ids gives the source back exactly "
                    f"({lossless}/{len(entries)} here)",
            "beam4_score": "HF's sequences_scores: sum of log_softmax of the raw logits of the recorded ids except "
                           "the forced ones (the first <s>, and a </s> at position max_length - 2, which score 0: "
                           "the processors run after log_softmax), divided by len(ids) ** length_penalty, len(ids) "
                           "counting <s> and </s> and not the start token; checked here against teacher forcing, "
                           f"largest difference {max(st.score_err):.2e}",
            "logits": f"s<i>: raw logits (all {vocab} rows; final_logits_bias included; no processors, nothing "
                      "forced) of the first logit_steps steps of entry i under teacher forcing on d<i> = [2, 0, "
                      "greedy ids...]; s<i>[0] predicts the <s> that generate forces; t<i>: argmax of the raw "
                      "logits at every step on the greedy path ([2] + greedy_ids[:-1])",
            "model": "BART (bart-base): post-norm blocks (x = LayerNorm(x + sublayer(x))), no final encoder or "
                     "decoder norm; token embedding not scaled (scale_embedding false) plus learned positions "
                     "(embed_positions rows offset by 2: position p uses row p + 2), then layernorm_embedding; "
                     "exact (erf) GELU feed-forward; attention with biases and 1/sqrt(head_dim); output layer tied "
                     "to model.shared.weight, plus final_logits_bias (a [1, vocab_size] buffer, nonzero here, 0 "
                     "at <pad>)",
            "checkpoint": "config.json as transformers writes it, keys sorted, dtype float32, architectures "
                          "BartForConditionalGeneration; model.safetensors as transformers' save_pretrained "
                          "writes it: model.shared.weight (no encoder/decoder.embed_tokens.weight, no "
                          "lm_head.weight) and final_logits_bias",
            "tokenizer": f"BartTokenizer (transformers {transformers.__version__}: an alias of RobertaTokenizer, "
                         "tokenizers backend) built from vocab.json + merges.txt: tokenizer.json has no normalizer, "
                         "pre_tokenizer ByteLevel(add_prefix_space false, use_regex true: GPT-2's split regex), "
                         "BPE without dropout, unk_token or fusing, post_processor RobertaProcessing (<s> ... </s>), "
                         "decoder ByteLevel; the special tokens are matched in the text before that (<mask> "
                         "with lstrip)",
        },
        "source_ids_differ_from_bpe_files": differ,
        "short_max_length": SHORT_MAX_LENGTH,
        "logit_steps": LOGIT_STEPS,
        "logit_entries": LOGIT_ENTRIES,
        "sentences": entries,
    }
    with open(os.path.join(out, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, ensure_ascii=False, indent=1)
    save_file(tensors, os.path.join(out, "logits.safetensors"))
    size = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
    print(f"{name}: vocab {len(tok)}, {size / 1e6:.2f} MB (model.safetensors "
          f"{os.path.getsize(os.path.join(out, 'model.safetensors')) / 1e6:.2f} MB); source lengths "
          f"{min(st.src_lengths)}-{max(st.src_lengths)}; greedy lengths {sorted(st.lengths)}; {st.hit_max} hit "
          f"max_length; top1-top2 logit gap: median over steps {np.median(st.step_gaps):.3f}, smallest per entry "
          f"{min(st.min_gaps):.3f} (median {np.median(st.min_gaps):.3f}); mean share of the most frequent token "
          f"{np.mean(st.repeats):.2f}; {len(set(tuple(s['greedy_ids']) for s in entries))} distinct greedy outputs "
          f"of {len(entries)}; beam best differs from greedy on "
          f"{sum(e['beam4_ids'] != e['greedy_ids'] for e in entries)}; {st.unk_outputs} entries with <unk> in an "
          f"output; HF source ids differ from the BPE files' on {len(differ)}; sources decoded back exactly "
          f"{lossless}/{len(entries)}; beam score check {max(st.score_err):.2e}", file=sys.stderr)


if __name__ == "__main__":
    args = sys.argv[1:]
    step = record if "--record-only" in args else make
    for name in [a for a in args if not a.startswith("--")] or FIXTURES:
        step(name, FIXTURES[name])
