#!/usr/bin/env python3
"""Makes the small T5 conformance fixtures and records Hugging Face's outputs on them.

Both are `T5ForConditionalGeneration` checkpoints (model_type "t5": pre-norm RMS norms without
bias, no position embeddings but a learned relative position bias, no biases, no embedding
scaling, no 1/sqrt(d_kv) in attention) laid out like the hub repos they imitate, each with its own
joint en+pt+de SentencePiece unigram model (nmt_nfkc; T5's layout <pad> 0, </s> 1, <unk> 2, no
<s>) trained on the Debian gettext text of models/make_spm.py:

  t5-tiny       like google-t5/t5-small (T5 v1.0): ReLU feed-forward (wi, wo), tied output layer
                with the decoder output scaled by d_model ** -0.5 before it; 2+2 layers,
                d_model 64, 4 heads of d_kv 16.
  flan-t5-tiny  like google/flan-t5-small (T5 v1.1 / flan-T5): gated-gelu feed-forward
                (wi_0, wi_1, wo; HF's gelu_new, the tanh approximation), an untied output layer
                (lm_head.weight in the checkpoint, config tie_word_embeddings false, no output
                scaling); 3 encoder and 2 decoder layers, d_model 64, 4 heads of d_kv 12 (so the
                attention width 48 is not d_model, as flan-t5-small's 6 * 64 = 384 != 512).

  Files: config.json generation_config.json model.safetensors spiece.model tokenizer.json
  tokenizer_config.json special_tokens_map.json. The tokenizer is transformers' T5Tokenizer built
  from spiece.model (100 sentinels <extra_id_99> ... <extra_id_0> after the pieces, in that
  order, as T5's); config vocab_size is len(tokenizer) rounded up to a multiple of 128, so the
  embedding has rows no token id reaches (t5-small: 32128 > 32100). model.safetensors holds
  shared.weight (and lm_head.weight when untied), not encoder/decoder.embed_tokens, as the hub's.
  config.json is written in the hub's form (tie_word_embeddings, no transformers-5-only
  scale_decoder_outputs: transformers 5 forces tie_word_embeddings true in memory and keeps the
  file's value as scale_decoder_outputs, and its save_pretrained would drop an untied lm_head).

Weights: random from a fixed seed, then trained (make_marian_fixture.train: Adam, one thread,
fixed seeds) on en->pt and en->de at once, with T5's task prefixes in the source text
("translate English to Portuguese: ", "translate English to German: "): the prefix alone decides
the output language. Labels are the target pieces + </s>; T5 shifts them right itself (decoder
start = <pad> = 0).

Recorded with transformers' own tokenizer and model.generate on the reloaded checkpoint (f32), for
every sentence of make_marian_fixture.SENTENCES in both directions (entries interleaved: entry 2k
is sentence k en->pt, 2k+1 is sentence k en->de; `source` is the prefixed text, what a user types):
  expected.json       the schema of the Marian fixtures' (no src_lang / tgt_lang: the languages are
                      in the text); see the "conventions" block it contains
  logits.safetensors  s<i>: raw logits of the first steps of entry i under teacher forcing on
                      d<i> (decoder inputs [0, ...]); t<i>: argmax of the raw logits at every
                      step of teacher forcing on the greedy path

    python models/make_t5_fixture.py [NAME...]   # needs torch, transformers, sentencepiece, protobuf
    python models/make_t5_fixture.py --record-only   # re-record HF outputs, keep the weights

The outputs are committed; tern's tests only read them.
"""
import json
import os
import shutil
import sys
import tempfile
from types import SimpleNamespace

import numpy as np
import sentencepiece as spm
import torch
import transformers
from safetensors.torch import save_file
from transformers import AutoModelForSeq2SeqLM, GenerationConfig, T5Config, T5ForConditionalGeneration, T5Tokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_marian_fixture  # noqa: E402  (train, SENTENCES, lengths)
import make_spm  # noqa: E402  (the Debian gettext parallel text)
from make_m2m100_fixture import corpus, hub_json  # noqa: E402
from make_marian_fixture import LOGIT_STEPS, MAX_LENGTH, SENTENCES, SHORT_MAX_LENGTH  # noqa: E402

FIXTURES = {
    "t5-tiny": dict(kind="t5", spm_vocab=2700, seed=5151, d_model=64, d_kv=16, d_ff=128, num_layers=2,
                    num_decoder_layers=2, num_heads=4, feed_forward_proj="relu", tie_word_embeddings=True,
                    steps=6000, lr=2e-3),
    "flan-t5-tiny": dict(kind="flan-t5", spm_vocab=2300, seed=1111, d_model=64, d_kv=12, d_ff=96, num_layers=3,
                         num_decoder_layers=2, num_heads=4, feed_forward_proj="gated-gelu",
                         tie_word_embeddings=False, steps=6000, lr=2e-3),
}
PREFIXES = {"pt": "translate English to Portuguese: ", "de": "translate English to German: "}
DIRECTIONS = ["pt", "de"]
LOGIT_ENTRIES = 8  # s<i>/d<i> for the first 8 entries: sentences 0-3, both directions
PAD, EOS, UNK = 0, 1, 2
DECODER_START = PAD
EXTRA_IDS = 100
MODEL_MAX_LENGTH = 512  # the hub tokenizers' (and config n_positions); T5 itself has no position limit
# What record passes to generate (greedy: num_beams 1; beam: 4, all 4 returned); the rest comes
# from the checkpoint's generation_config.json.
GEN_ARGS = dict(max_length=MAX_LENGTH, length_penalty=1.0, early_stopping=False, do_sample=False)


def train_spm(out, lines, vocab):
    """Joint unigram model in T5's layout, as spiece.model."""
    make_spm.train(lines, os.path.join(out, "spiece"), vocab, model_type="unigram", pad_id=PAD, eos_id=EOS,
                   unk_id=UNK, bos_id=-1)
    os.replace(os.path.join(out, "spiece.spm"), os.path.join(out, "spiece.model"))
    return os.path.join(out, "spiece.model")


def tokenizer_files(out):
    """tokenizer.json and tokenizer_config.json as transformers 5 writes them for a T5Tokenizer
    converted from spiece.model (without this run's facts), and the hub's special_tokens_map.json."""
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(os.path.join(out, "spiece.model"), tmp)
        tok = T5Tokenizer.from_pretrained(tmp, extra_ids=EXTRA_IDS)
    tok.model_max_length = MODEL_MAX_LENGTH
    tok.save_pretrained(out)
    path = os.path.join(out, "tokenizer_config.json")
    cfg = json.load(open(path, encoding="utf-8"))
    for k in ("is_local", "local_files_only"):  # facts about this run, not the tokenizer
        cfg.pop(k, None)
    hub_json(path, cfg)
    hub_json(os.path.join(out, "special_tokens_map.json"), {
        "additional_special_tokens": [f"<extra_id_{i}>" for i in range(EXTRA_IDS)],
        "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"})


def load_tokenizer(out):
    return T5Tokenizer.from_pretrained(out)


def check_layout(tok, out):
    """T5's id layout, and HF's source ids against sentencepiece's (pieces + [</s>])."""
    sp = spm.SentencePieceProcessor(model_file=os.path.join(out, "spiece.model"))
    n = sp.get_piece_size()
    assert (sp.pad_id(), sp.eos_id(), sp.unk_id(), sp.bos_id()) == (PAD, EOS, UNK, -1)
    assert len(tok) == n + EXTRA_IDS, (len(tok), n)
    assert tok.convert_tokens_to_ids(["<pad>", "</s>", "<unk>"]) == [PAD, EOS, UNK]
    assert tok.convert_tokens_to_ids([f"<extra_id_{i}>" for i in range(EXTRA_IDS)]) == \
        list(range(n + EXTRA_IDS - 1, n - 1, -1))
    assert all(tok.convert_ids_to_tokens(i) == sp.id_to_piece(i) for i in range(n))
    differ = []
    for text in SENTENCES:
        for tgt in DIRECTIONS:
            source = PREFIXES[tgt] + text
            if tok(source)["input_ids"] != sp.encode(source) + [EOS]:
                differ.append(source)
    return differ


def padded_vocab(n):
    """len(tokenizer) rounded up to a multiple of 128, as t5-small's 32100 -> 32128."""
    return -(-n // 128) * 128


def hub_config(model, cfg):
    """config.json in the hub's form: transformers' own, with tie_word_embeddings as the file
    states it (no scale_decoder_outputs), and the hub's decoder_start_token_id, n_positions and
    translation task prefixes."""
    with tempfile.TemporaryDirectory() as tmp:
        model.config.save_pretrained(tmp)
        c = json.load(open(os.path.join(tmp, "config.json"), encoding="utf-8"))
    c.pop("scale_decoder_outputs", None)
    c["architectures"] = ["T5ForConditionalGeneration"]
    c["dtype"] = "float32"
    c["tie_word_embeddings"] = cfg["tie_word_embeddings"]
    c["decoder_start_token_id"] = DECODER_START
    c["n_positions"] = MODEL_MAX_LENGTH
    c["task_specific_params"] = {f"translation_en_to_{t}": {"prefix": PREFIXES[t]} for t in ("de", "pt")}
    return dict(sorted(c.items()))


def save_checkpoint(model, cfg, out):
    """model.safetensors as the hub has it: shared.weight, lm_head.weight only when untied, no
    encoder/decoder.embed_tokens (they are shared.weight)."""
    sd = model.state_dict()
    drop = {"encoder.embed_tokens.weight", "decoder.embed_tokens.weight"}
    if cfg["tie_word_embeddings"]:
        drop.add("lm_head.weight")
        assert model.lm_head.weight.data_ptr() == model.shared.weight.data_ptr()
    else:
        assert not torch.equal(sd["lm_head.weight"], sd["shared.weight"])
    save_file({k: v.contiguous() for k, v in sd.items() if k not in drop}, os.path.join(out, "model.safetensors"),
              metadata={"format": "pt"})
    hub_json(os.path.join(out, "config.json"), hub_config(model, cfg))
    # generation_config.json as the hub's (no forced_eos_token_id, no bad_words_ids).
    GenerationConfig(decoder_start_token_id=DECODER_START, eos_token_id=EOS, pad_token_id=PAD).save_pretrained(out)


def make(name, cfg):
    out = os.path.join(HERE, "fixtures", name)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    lines, pairs = corpus()
    train_spm(out, lines, cfg["spm_vocab"])
    tokenizer_files(out)
    tok = load_tokenizer(out)
    differ = check_layout(tok, out)
    print(f"{name}: tokenizer {type(tok).__name__}, {len(tok)} ids; HF source ids differ from sentencepiece's on "
          f"{len(differ)} sources {differ}", file=sys.stderr)
    config = T5Config(
        vocab_size=padded_vocab(len(tok)), d_model=cfg["d_model"], d_kv=cfg["d_kv"], d_ff=cfg["d_ff"],
        num_layers=cfg["num_layers"], num_decoder_layers=cfg["num_decoder_layers"], num_heads=cfg["num_heads"],
        relative_attention_num_buckets=32, relative_attention_max_distance=128, dropout_rate=0.0,
        layer_norm_epsilon=1e-6, initializer_factor=1.0, feed_forward_proj=cfg["feed_forward_proj"],
        tie_word_embeddings=cfg["tie_word_embeddings"], pad_token_id=PAD, eos_token_id=EOS,
        decoder_start_token_id=DECODER_START, use_cache=True,
    )
    assert config.scale_decoder_outputs == cfg["tie_word_embeddings"]
    torch.manual_seed(cfg["seed"])
    model = T5ForConditionalGeneration(config)
    if not cfg["tie_word_embeddings"]:
        # transformers 5 ties lm_head to shared whatever the config says: give it its own matrix
        # (std d_model ** -0.5: unscaled decoder output, logits of order 1 at the start).
        g = torch.Generator().manual_seed(cfg["seed"] + 2)
        model.lm_head.weight = torch.nn.Parameter(
            torch.randn(model.lm_head.weight.shape, generator=g) * cfg["d_model"] ** -0.5)
    examples = [(PREFIXES[tgt] + a, b) for tgt in DIRECTIONS for a, b in pairs[tgt]]
    make_marian_fixture.train(model, tok, examples, dict(cfg, src="en", tgt="pt+de"), PAD)
    save_checkpoint(model, cfg, out)
    record(name, cfg)


def unpad(beam, start=DECODER_START, eos=EOS, pad=PAD):
    """HF beam output as [{ids, score}], without the decoder start token and the filler after the
    first </s>. T5's filler is </s>, not <pad>: transformers 5's beam search fills finished rows
    with `pad_token_id or eos_token_id`, and T5's pad id 0 is falsy (a checkpoint whose pad id is
    not 0 gets <pad>)."""
    nbest = []
    for seq, score in zip(beam.sequences.tolist(), beam.sequences_scores.tolist()):
        assert seq[0] == start
        seq = seq[1:]
        if eos in seq:
            assert all(t in (eos, pad) for t in seq[seq.index(eos):]), seq
            seq = seq[:seq.index(eos) + 1]
        assert pad not in seq, seq
        nbest.append({"ids": seq, "score": score})
    return nbest


def gap_stats(logits):
    top = logits.topk(2, dim=-1).values
    return (top[:, 0] - top[:, 1]).tolist()


def generate_entries(model, tok, sources, start, eos, pad, unk, logit_entries, forced=lambda ids: ()):
    """HF's outputs on every text of `sources` (the model reloaded, f32, one thread), in
    expected.json's schema: the entries [{source, source_ids, greedy_ids, greedy_text, beam4_ids,
    beam4_text, beam4_score, beam4_nbest, short_greedy_ids, short_beam4_nbest}], the tensors of
    logits.safetensors (s<i>/d<i> for the first `logit_entries` entries, t<i> for all) and the
    statistics the makers print. Ids are generate's without the decoder start token `start`, cut
    after the first `eos`; texts are tokenizer.decode(ids, skip_special_tokens=True).
    `forced(ids)` gives the positions of `ids` that generate forced (a logits processor set every
    other score to -inf and the forced one to 0, so its log-prob is not in HF's beam score): none
    for T5; make_bart_fixture's <s> first and </s> at max_length."""
    vocab = model.config.vocab_size
    entries, tensors = [], {}
    st = SimpleNamespace(lengths=[], src_lengths=[], hit_max=0, min_gaps=[], step_gaps=[], repeats=[], score_err=[],
                         unk_outputs=0)
    for i, source in enumerate(sources):
        enc = tok(source, return_tensors="pt")
        with torch.no_grad():
            greedy = model.generate(**enc, num_beams=1, **GEN_ARGS)[0].tolist()
            beam = model.generate(**enc, num_beams=4, num_return_sequences=4, output_scores=True,
                                  return_dict_in_generate=True, **GEN_ARGS)
            short = model.generate(**enc, num_beams=4, num_return_sequences=4, output_scores=True,
                                   return_dict_in_generate=True, **dict(GEN_ARGS, max_length=SHORT_MAX_LENGTH))
            greedy_short = model.generate(**enc, num_beams=1, **dict(GEN_ARGS, max_length=SHORT_MAX_LENGTH))[0]
        assert greedy[0] == start
        greedy = greedy[1:]
        assert pad not in greedy, "greedy output with <pad> after the start token"
        greedy_short = greedy_short.tolist()[1:]
        nbest = unpad(beam, start, eos, pad)
        short = unpad(short, start, eos, pad)
        # Teacher forcing on the greedy path: every step's raw logits.
        dec_in = [start] + greedy[:-1]
        with torch.no_grad():
            logits = model(**enc, decoder_input_ids=torch.tensor([dec_in])).logits[0]
            assert logits.shape[-1] == vocab
            # The beam score as HF computes it: log-probs of every id summed (forced ids score 0),
            # over len(ids).
            best = nbest[0]["ids"]
            lp = model(**enc, decoder_input_ids=torch.tensor([[start] + best[:-1]])).logits[0]
            lp = lp.log_softmax(-1)
        skip = set(forced(best))
        st.score_err.append(abs(sum(lp[t, best[t]].item() for t in range(len(best)) if t not in skip) / len(best)
                                - nbest[0]["score"]))
        gaps = gap_stats(logits)
        st.step_gaps.extend(gaps)
        st.min_gaps.append(min(gaps))
        tensors[f"t{i}"] = logits.argmax(-1).to(torch.int32).contiguous()
        if i < logit_entries:
            steps = min(LOGIT_STEPS, len(dec_in))
            tensors[f"d{i}"] = torch.tensor(dec_in[:steps], dtype=torch.int32)
            tensors[f"s{i}"] = logits[:steps].contiguous().float()
        st.lengths.append(len(greedy))
        st.src_lengths.append(enc["input_ids"].shape[1])
        st.hit_max += greedy[-1:] != [eos] or len(greedy) == MAX_LENGTH - 1
        st.repeats.append(max(greedy.count(t) for t in set(greedy)) / len(greedy))
        st.unk_outputs += unk in greedy or unk in best
        entries.append({
            "source": source,
            "source_ids": enc["input_ids"][0].tolist(),
            "greedy_ids": greedy,
            "greedy_text": tok.decode(greedy, skip_special_tokens=True),
            "beam4_ids": best,
            "beam4_text": tok.decode(best, skip_special_tokens=True),
            "beam4_score": nbest[0]["score"],
            "beam4_nbest": nbest,
            "short_greedy_ids": greedy_short,
            "short_beam4_nbest": short,
        })
    return entries, tensors, st


def record(name, cfg):
    """Runs HF on the saved checkpoint and writes expected.json and logits.safetensors."""
    out = os.path.join(HERE, "fixtures", name)
    torch.set_num_threads(1)
    # Reload exactly what a user would download.
    model = AutoModelForSeq2SeqLM.from_pretrained(out, dtype=torch.float32).eval()
    assert type(model) is T5ForConditionalGeneration and model.config.model_type == "t5"
    assert model.config.scale_decoder_outputs == cfg["tie_word_embeddings"]
    tied = model.lm_head.weight.data_ptr() == model.shared.weight.data_ptr()
    assert tied == cfg["tie_word_embeddings"], "lm_head tying differs from the config"
    tok = load_tokenizer(out)
    differ = check_layout(tok, out)
    vocab = model.config.vocab_size
    assert vocab > len(tok) and vocab % 128 == 0

    # Entry 2k is sentence k en->pt, 2k+1 the same sentence en->de.
    sources = [PREFIXES[tgt] + text for text in SENTENCES for tgt in DIRECTIONS]
    entries, tensors, st = generate_entries(model, tok, sources, DECODER_START, EOS, PAD, UNK, LOGIT_ENTRIES)
    n_pieces = len(tok) - EXTRA_IDS
    untied = not cfg["tie_word_embeddings"]
    expected = {
        "generator": "models/make_t5_fixture.py",
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "tokenizers": __import__("tokenizers").__version__,
        "sentencepiece": spm.__version__,
        "tokenizer_class": type(tok).__name__,
        "seed": cfg["seed"], "training_steps": cfg["steps"],
        "task_prefixes": PREFIXES,
        "generation": {"num_beams": 4, "max_length": MAX_LENGTH, "length_penalty": 1.0, "early_stopping": False,
                       "passed_to_generate": dict(GEN_ARGS),
                       "not_set": "no forced_eos_token_id, no bad_words_ids, no no_repeat_ngram_size: an output "
                                  "cut by max_length does not end with </s>"},
        "conventions": {
            "entries": "sentences[2k] is SENTENCES[k] en->pt, sentences[2k+1] the same sentence en->de; `source` "
                       "is the text a user types, T5's task prefix + the sentence (task_prefixes); there are no "
                       "language tokens and nothing is forced: the prefix alone picks the output language",
            "source_ids": "tokenizer(source)['input_ids']: the pieces + [</s>] (1); no BOS (T5 has none), "
                          "no prefix token",
            "vocabulary": f"ids 0, 1, 2 are <pad>, </s>, <unk> (spiece.model's own: pad_id 0, eos_id 1, unk_id 2, "
                          f"bos_id -1); ids below {n_pieces} are spiece.model's ids unchanged; the sentinels "
                          f"follow in reverse: <extra_id_99> is {n_pieces}, <extra_id_0> is {n_pieces + 99}; "
                          f"len(tokenizer) is {len(tok)}, config vocab_size {vocab}: rows {len(tok)}..{vocab - 1} "
                          "of the embedding (and of the logits) belong to no token",
            "decoder_start": "decoder_start_token_id 0 (= <pad>; generation_config.json and config.json), "
                             "pad_token_id 0, eos_token_id 1",
            "ids": "greedy_ids, beam4_ids, n-best ids and short ids are generate's output without the decoder "
                   "start token (<pad>, id 0), cut after the first </s>: generate fills the rest of a finished "
                   "beam with </s> (1), not <pad> (transformers 5 fills with `pad_token_id or eos_token_id`, and "
                   "T5's pad id 0 is falsy); the last id is </s> (1) when the output ended, not when max_length "
                   "cut it",
            "max_length": "counts the decoder start token: at most max_length - 1 recorded ids",
            "text": "tokenizer.decode(ids, skip_special_tokens=True): </s>, <pad>, <unk> and the sentinels are "
                    "dropped first, then tokenizers' Metaspace decoder (prepend_scheme always) turns every '▁' "
                    "into a space and drops the first remaining piece's leading '▁' only; nothing else is "
                    "stripped: a '▁' piece before a dropped <unk> keeps its space, a trailing one at the end "
                    "(sentencepiece's decode would give ' ⁇ ' there); clean_up_tokenization_spaces is false "
                    "(transformers 5's default; tokenizer_config.json does not set it), so ' .' stays ' .'",
            "beam4_score": "HF's sequences_scores: sum of log_softmax of the raw logits of every recorded id "
                           "(none is forced), divided by len(ids) ** length_penalty, len(ids) counting </s> and "
                           "not the start token; checked here against teacher forcing, largest difference "
                           f"{max(st.score_err):.2e}",
            "logits": f"s<i>: raw logits (all {vocab} rows, the padding rows too; no processors) of the first "
                      "logit_steps steps of entry i under teacher forcing on d<i> = [0] + greedy ids...; "
                      "t<i>: argmax of the raw logits at every step on the greedy path ([0] + greedy_ids[:-1])",
            "model": (
                "T5 v1.1 / flan-T5: feed_forward_proj gated-gelu, FF(x) = wo(gelu_new(wi_0 x) * wi_1 x) with "
                "gelu_new the tanh approximation; tie_word_embeddings false: lm_head.weight is its own matrix "
                "and the decoder output goes to it unscaled; the encoder and decoder embed with shared.weight"
                if untied else
                "T5 v1.0: feed_forward_proj relu, FF(x) = wo(relu(wi x)); tie_word_embeddings true (the "
                "checkpoint has no lm_head.weight): logits = shared.weight . (final decoder norm output "
                "* d_model ** -0.5)") + (
                "; both stacks: token embedding not scaled, no position embeddings; pre-norm blocks with T5's "
                "RMS norm (x * rsqrt(mean(x^2) + layer_norm_epsilon) * weight; no mean, no bias) and a final "
                "norm per stack; no biases in any linear; attention scores q.k without 1/sqrt(d_kv), plus a "
                "learned relative position bias [relative_attention_num_buckets, num_heads] held by block 0's "
                "self-attention of each stack and added in every layer's self-attention (not in "
                "cross-attention); encoder buckets bidirectional (16 per side: exact distances below 8, then "
                "log-spaced up to relative_attention_max_distance), decoder buckets causal (32: exact below "
                "16, then log-spaced); attention width num_heads * d_kv, "
                f"here {cfg['num_heads'] * cfg['d_kv']} with d_model {cfg['d_model']}"),
            "checkpoint": "config.json in the hub's form (tie_word_embeddings as stated, no scale_decoder_outputs; "
                          "transformers 5 reads tie_word_embeddings false as scale_decoder_outputs false and "
                          "loads lm_head.weight untied); model.safetensors has shared.weight"
                          + (" and lm_head.weight" if untied else "")
                          + " and no encoder/decoder.embed_tokens.weight, as the hub's",
            "tokenizer": "T5Tokenizer (tokenizers backend) converted from spiece.model by transformers "
                         f"{transformers.__version__}: tokenizer.json's normalizer is spiece.model's precompiled "
                         "nmt_nfkc charsmap alone, its pre_tokenizer WhitespaceSplit then Metaspace('▁', "
                         "prepend_scheme always, split): every whitespace-separated word gets '▁' (there is no "
                         "`legacy` option in transformers 5's T5Tokenizer); post_processor appends </s>",
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
    pt_de = sum(entries[j]["greedy_ids"] != entries[j + 1]["greedy_ids"] for j in range(0, len(entries), 2))
    print(f"{name}: vocab {len(tok)} (config {vocab}), {size / 1e6:.2f} MB (model.safetensors "
          f"{os.path.getsize(os.path.join(out, 'model.safetensors')) / 1e6:.2f} MB); source lengths "
          f"{min(st.src_lengths)}-{max(st.src_lengths)}; greedy lengths {sorted(st.lengths)}; {st.hit_max} hit "
          f"max_length; top1-top2 logit gap: median over steps {np.median(st.step_gaps):.3f}, smallest per entry "
          f"{min(st.min_gaps):.3f} (median {np.median(st.min_gaps):.3f}); mean share of the most frequent token "
          f"{np.mean(st.repeats):.2f}; {len(set(tuple(s['greedy_ids']) for s in entries))} distinct greedy outputs "
          f"of {len(entries)}; pt and de differ on {pt_de}/{len(SENTENCES)} sentences; {st.unk_outputs} entries "
          f"with <unk> in an output; HF source ids differ from sentencepiece's on {len(differ)}; beam score check "
          f"{max(st.score_err):.2e}", file=sys.stderr)

if __name__ == "__main__":
    args = sys.argv[1:]
    step = record if "--record-only" in args else make
    for name in [a for a in args if not a.startswith("--")] or FIXTURES:
        step(name, FIXTURES[name])
