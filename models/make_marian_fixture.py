#!/usr/bin/env python3
"""Makes the small MarianMT conformance fixtures and records Hugging Face's outputs on them.

Each fixture is a directory laid out like a Hugging Face hub OPUS-MT repository (config.json,
generation_config.json, model.safetensors, source.spm, target.spm, vocab.json,
tokenizer_config.json). The SentencePiece models are the real ones in models/fixtures/spm (made by
models/make_spm.py); vocab.json is their joint vocabulary laid out as OPUS-MT's ("</s>" 0,
"<unk>" 1, the pieces, "<pad>" last).

Weights: random from a fixed seed with a random `final_logits_bias`, then trained for a few
thousand small steps on the Debian gettext parallel text the SentencePiece models come from (see
`train`: pure random weights give near-ties and repetition, which tests little).

Recorded with transformers' own MarianTokenizer and MarianMTModel.generate:
  expected.json       source ids, greedy and beam-4 ids/text/score/n-best for every sentence
  logits.safetensors  s<i>: raw logits of the first steps of sentence i under teacher forcing on
                      d<i> (decoder inputs); t<i>: argmax of the raw logits at every step of
                      teacher forcing on the greedy path (top-1 agreement tests)

    python models/make_marian_fixture.py [NAME...]   # needs torch, transformers, sentencepiece
    python models/make_marian_fixture.py --record-only   # re-record HF outputs, keep the weights

The outputs are committed; tern's tests (tests/conformance.rs) only read them.
"""
import json
import os
import random
import shutil
import sys

import numpy as np
import torch
import transformers
from safetensors.torch import save_file
from transformers import GenerationConfig, MarianConfig, MarianMTModel, MarianTokenizer
import sentencepiece as spm

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_spm  # noqa: E402  (the Debian gettext parallel text)

HERE = os.path.dirname(os.path.abspath(__file__))
SPM = os.path.join(HERE, "fixtures", "spm")

FIXTURES = {
    "marian-tiny-en-de": dict(src="en", tgt="de", seed=1234, d_model=64, encoder_layers=2, decoder_layers=2,
                              heads=4, ffn=128, activation="swish", max_pos=128, steps=3000, lr=2e-3),
    "marian-small-en-pt": dict(src="en", tgt="pt", seed=4321, d_model=96, encoder_layers=3, decoder_layers=1,
                               heads=6, ffn=160, activation="gelu", max_pos=256, steps=4000, lr=1e-3),
}
MAX_LENGTH = 40
SHORT_MAX_LENGTH = 8
LOGIT_STEPS = 6
LOGIT_SENTENCES = 6

SENTENCES = [
    "Hi.",
    "Thank you very much.",
    "Where is the train station?",
    "The cat is sleeping on the warm windowsill.",
    "Please close the door when you leave the room.",
    "I would like a cup of coffee with milk and no sugar.",
    "The museum opens at nine o'clock and closes at six in the evening.",
    "She has lived in Lisbon for three years, and she speaks Portuguese quite well now.",
    "Our neighbours are planning a small party in the garden next Saturday afternoon.",
    "The new bridge across the river will be finished before the end of the year, according to the city council.",
    "Can you help me find a pharmacy that is open on Sundays?",
    "Scientists have discovered a new species of frog in the rainforest.",
    "The children were playing football in the park until it started to rain.",
    "Do not forget to water the plants while I am away on holiday.",
    "The price of bread has risen by ten percent since last spring.",
    "He read the letter twice before he understood what it really meant.",
    "Our train was delayed by forty minutes because of a signal failure near the border.",
    "Good morning!",
    "Is this seat taken?",
    "The committee will publish its final report on 3 March 2027.",
    "Temperatures are expected to reach 35 degrees on Thursday.",
    "My grandmother keeps her old photographs in a wooden box under the bed.",
    "Although the film was long, nobody in the cinema wanted to leave before the end.",
    "The software update fixes several security problems and improves battery life.",
    "We walked along the beach and collected shells until the sun went down.",
    "The café on the corner serves the best croissants in town.",
    "A naïve question can sometimes lead to a surprising answer.",
    "\"Stop!\" she shouted, but the bus had already left.",
    "The recipe needs 250 g of flour, 2 eggs and 100 ml of milk.",
    "Why are you laughing?",
    "The library will be closed for renovation from July to September.",
    "Every evening the fishermen bring their boats back to the small harbour.",
    "The doctor said that I should rest for a few days and drink plenty of water.",
    "Translation models can run on small devices without a network connection.",
    "It is   raining again,\tso we will stay at home.",
    "  Leading and trailing spaces should not matter.  ",
    "Mr. Smith's dog barked at the postman — again.",
    "The orchestra played Beethoven's Ninth Symphony in front of ten thousand people, and the audience stood up to applaud for more than five minutes after the last note.",
    "OK",
    "What time does the last bus to the airport leave tonight?",
    "The old lighthouse has guided ships safely into the bay for more than two hundred years.",
    "Please send me the documents by e-mail before Friday.",
]


def joint_vocab(src_sp, tgt_sp):
    """OPUS-MT's vocab.json layout: </s> 0, <unk> 1, then the pieces of both models, <pad> last."""
    vocab = {"</s>": 0, "<unk>": 1}
    for sp in (src_sp, tgt_sp):
        for i in range(sp.get_piece_size()):
            if sp.is_control(i) or sp.is_unknown(i):
                continue
            vocab.setdefault(sp.id_to_piece(i), len(vocab))
    vocab["<pad>"] = len(vocab)
    return vocab


def train(model, tok, pairs, cfg, pad):
    """Adam on teacher-forced cross-entropy over (source, target) pairs, from the random init.

    Purely random weights, however scaled, give near-ties at most steps and outputs that repeat
    one token (with tied embeddings a decoder tends to predict its own input): a weak test of
    the decoding loops, and one where int8's normal ~1% logit error flips the top-1 token often.
    A few thousand small steps give peaked distributions with clear margins and EOS at varied
    lengths, like a real model (the translations stay poor; they only need to be deterministic).
    One thread, fixed seeds: the same machine and torch version give the same weights."""
    torch.set_num_threads(1)
    rng = random.Random(cfg["seed"])
    torch.manual_seed(cfg["seed"])
    g = torch.Generator().manual_seed(cfg["seed"] + 1)
    if hasattr(model, "final_logits_bias"):  # Marian's; M2M100 / NLLB have none
        with torch.no_grad():
            # A visible final_logits_bias (a buffer, not trained), so the converter's bias path is tested.
            model.final_logits_bias.copy_(0.5 * torch.randn(model.final_logits_bias.shape, generator=g))
            model.final_logits_bias[0, pad] = 0.0
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    model.train()
    for step in range(cfg["steps"]):
        batch = rng.sample(pairs, 32)
        enc = tok([a for a, _ in batch], text_target=[b for _, b in batch], return_tensors="pt",
                  padding=True, truncation=True, max_length=32)
        labels = enc["labels"]
        labels[labels == pad] = -100
        # Explicit decoder inputs if the tokenizer gives them (make_m2m100_fixture: labels that ignore
        # a position the decoder must still see); else HF shifts the labels right.
        extra = {k: enc[k] for k in ("decoder_input_ids",) if k in enc}
        loss = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], labels=labels, **extra).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        if step % 500 == 0 or step == cfg["steps"] - 1:
            print(f"  {cfg['src']}-{cfg['tgt']} step {step}: loss {loss.item():.3f}", file=sys.stderr)
    model.eval()


def unpad(beam, pad):
    """HF beam output as [{ids, score}], without the decoder start token and trailing pads."""
    nbest = []
    for seq, score in zip(beam.sequences.tolist(), beam.sequences_scores.tolist()):
        seq = seq[1:]
        while seq and seq[-1] == pad:
            seq.pop()
        nbest.append({"ids": seq, "score": score})
    return nbest


def make(name, cfg):
    out = os.path.join(HERE, "fixtures", name)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    src_spm, tgt_spm = os.path.join(SPM, cfg["src"] + ".spm"), os.path.join(SPM, cfg["tgt"] + ".spm")
    vocab = joint_vocab(spm.SentencePieceProcessor(model_file=src_spm), spm.SentencePieceProcessor(model_file=tgt_spm))
    shutil.copy(src_spm, os.path.join(out, "source.spm"))
    shutil.copy(tgt_spm, os.path.join(out, "target.spm"))
    with open(os.path.join(out, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False, indent=1)
    pad = vocab["<pad>"]
    config = MarianConfig(
        vocab_size=len(vocab), decoder_vocab_size=len(vocab), d_model=cfg["d_model"],
        encoder_layers=cfg["encoder_layers"], decoder_layers=cfg["decoder_layers"],
        encoder_attention_heads=cfg["heads"], decoder_attention_heads=cfg["heads"],
        encoder_ffn_dim=cfg["ffn"], decoder_ffn_dim=cfg["ffn"], activation_function=cfg["activation"],
        max_position_embeddings=cfg["max_pos"], scale_embedding=True, share_encoder_decoder_embeddings=True,
        pad_token_id=pad, eos_token_id=0, decoder_start_token_id=pad, forced_eos_token_id=0,
        dropout=0.0, attention_dropout=0.0, activation_dropout=0.0,
    )
    torch.manual_seed(cfg["seed"])
    model = MarianMTModel(config)
    tok = MarianTokenizer(source_spm=src_spm, target_spm=tgt_spm, vocab=os.path.join(out, "vocab.json"),
                          source_lang=cfg["src"], target_lang=cfg["tgt"])
    pairs = make_spm.catalogs(cfg["tgt"]) + (make_spm.catalogs("pt_BR") if cfg["tgt"] == "pt" else [])
    train(model, tok, pairs, cfg, pad)
    gen = GenerationConfig(bad_words_ids=[[pad]], decoder_start_token_id=pad, eos_token_id=0, forced_eos_token_id=0,
                           max_length=MAX_LENGTH, num_beams=4, pad_token_id=pad, renormalize_logits=False)
    model.generation_config = gen
    model.save_pretrained(out, safe_serialization=True)
    tok = MarianTokenizer(source_spm=os.path.join(out, "source.spm"), target_spm=os.path.join(out, "target.spm"),
                          vocab=os.path.join(out, "vocab.json"), source_lang=cfg["src"], target_lang=cfg["tgt"])
    tok.save_pretrained(out)
    record(name, cfg)


def record(name, cfg):
    """Runs HF on the saved checkpoint and writes expected.json and logits.safetensors."""
    out = os.path.join(HERE, "fixtures", name)
    pad = json.load(open(os.path.join(out, "vocab.json"), encoding="utf-8"))["<pad>"]
    # Reload exactly what a user would download.
    model = MarianMTModel.from_pretrained(out).eval()
    tok = MarianTokenizer.from_pretrained(out)

    gen_args = dict(max_length=MAX_LENGTH, length_penalty=1.0, early_stopping=False, do_sample=False)
    sentences, tensors = [], {}
    lengths, hit_max, gaps, repeats, step_gaps = [], 0, [], [], []
    for i, text in enumerate(SENTENCES):
        enc = tok(text, return_tensors="pt")
        with torch.no_grad():
            greedy = model.generate(**enc, num_beams=1, **gen_args)[0].tolist()[1:]
            beam = model.generate(**enc, num_beams=4, num_return_sequences=4, output_scores=True,
                                  return_dict_in_generate=True, **gen_args)
        nbest = unpad(beam, pad)
        # A short limit: outputs cut by max_length end with the forced EOS.
        with torch.no_grad():
            short = model.generate(**enc, num_beams=4, num_return_sequences=4, output_scores=True,
                                   return_dict_in_generate=True, **dict(gen_args, max_length=SHORT_MAX_LENGTH))
            greedy_short = model.generate(**enc, num_beams=1, **dict(gen_args, max_length=SHORT_MAX_LENGTH))[0].tolist()[1:]
        short = unpad(short, pad)
        # Teacher forcing on the greedy path: every step's raw logits.
        dec_in = [pad] + greedy[:-1]
        with torch.no_grad():
            logits = model(**enc, decoder_input_ids=torch.tensor([dec_in])).logits[0]
        top = logits.topk(2, dim=-1).values
        gaps.append(float((top[:, 0] - top[:, 1]).min()))
        step_gaps.extend((top[:, 0] - top[:, 1]).tolist())
        tensors[f"t{i}"] = logits.argmax(-1).to(torch.int32).contiguous()
        if i < LOGIT_SENTENCES:
            steps = min(LOGIT_STEPS, len(dec_in))
            tensors[f"d{i}"] = torch.tensor(dec_in[:steps], dtype=torch.int32)
            tensors[f"s{i}"] = logits[:steps].contiguous().float()
        lengths.append(len(greedy))
        hit_max += greedy[-1:] != [0] or len(greedy) == MAX_LENGTH - 1
        repeats.append(max(greedy.count(t) for t in set(greedy)) / len(greedy))
        sentences.append({
            "source": text,
            "source_ids": enc["input_ids"][0].tolist(),
            "greedy_ids": greedy,
            "greedy_text": tok.decode(greedy, skip_special_tokens=True),
            "beam4_ids": nbest[0]["ids"],
            "beam4_text": tok.decode(nbest[0]["ids"], skip_special_tokens=True),
            "beam4_score": nbest[0]["score"],
            "beam4_nbest": nbest,
            "short_greedy_ids": greedy_short,
            "short_beam4_nbest": short,
        })
    expected = {
        "generator": "models/make_marian_fixture.py",
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "seed": cfg["seed"], "training_steps": cfg["steps"],
        "generation": {"num_beams": 4, "max_length": MAX_LENGTH, "length_penalty": 1.0, "early_stopping": False,
                       "passed_to_generate": {k: v for k, v in gen_args.items()}},
        "short_max_length": SHORT_MAX_LENGTH,
        "logit_steps": LOGIT_STEPS,
        "sentences": sentences,
    }
    with open(os.path.join(out, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, ensure_ascii=False, indent=1)
    save_file(tensors, os.path.join(out, "logits.safetensors"))
    size = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
    print(f"{name}: vocab {pad + 1}, {size / 1e6:.2f} MB; greedy lengths {sorted(lengths)}; "
          f"{hit_max} hit max_length; top1-top2 logit gap: median over steps {np.median(step_gaps):.3f}, "
          f"smallest per sentence {min(gaps):.3f} (median {np.median(gaps):.3f}); "
          f"mean share of the most frequent token {np.mean(repeats):.2f}; "
          f"{len(set(tuple(s['greedy_ids']) for s in sentences))} distinct greedy outputs", file=sys.stderr)


if __name__ == "__main__":
    args = sys.argv[1:]
    step = record if "--record-only" in args else make
    for name in [a for a in args if not a.startswith("--")] or FIXTURES:
        step(name, FIXTURES[name])
