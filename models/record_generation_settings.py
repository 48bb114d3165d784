#!/usr/bin/env python3
"""Records Hugging Face's outputs under the generation settings tern applies from a checkpoint's
`generation_config.json` beyond the fixtures' defaults: `no_repeat_ngram_size` and `min_length`, and
on bart-tiny also a summarizer's `length_penalty` 2.0 and `early_stopping` true.

For each fixture (t5-tiny, marian-tiny-en-de, bart-tiny: single-pair models, no language token
forced first; bart-tiny's generation_config.json forces <s> first, as bart-base's, and it stays in
the ids as in its expected.json) and each sentence of its expected.json, `generate` runs on the
committed checkpoint with SETTINGS added to the fixture's own generation arguments, greedy and
beam 4 (4 returned), and writes `generation_settings.json` next to it:

  settings    the values (what tests/conformance.rs writes into a copy's generation_config.json
              before converting it, so they reach tern through the file)
  sentences   per entry: greedy_ids, beam4_nbest [{ids, score}] in expected.json's conventions
              (no decoder start token; cut after the first </s>, trailing <pad> dropped)

The tiny models repeat themselves on long sentences, so the n-gram ban changes many outputs; the
minimum length changes the short ones. The script counts both against the plain outputs.

    python models/record_generation_settings.py [NAME...]   # needs torch, transformers

The outputs are committed; tern's tests only read them.
"""
import json
import os
import sys

import torch
import transformers
from transformers import AutoModelForSeq2SeqLM

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = ["t5-tiny", "marian-tiny-en-de", "bart-tiny"]
SETTINGS = {"no_repeat_ngram_size": 3, "min_length": 12}
# bart-tiny gets the shape of a summarizer's settings (facebook/bart-large-cnn: 4 beams,
# length_penalty 2.0, early_stopping true, no_repeat_ngram_size 3, min_length 56 of max_length 142).
SETTINGS_OF = {"bart-tiny": dict(SETTINGS, length_penalty=2.0, early_stopping=True)}


def clean(seq, start, eos, pad):
    """generate's output as expected.json records ids: no start token, nothing after </s>."""
    assert seq[0] == start, seq
    seq = seq[1:]
    if eos in seq:
        seq = seq[:seq.index(eos) + 1]
    while seq and seq[-1] == pad:
        seq.pop()
    return seq


def record(name):
    out = os.path.join(HERE, "fixtures", name)
    expected = json.load(open(os.path.join(out, "expected.json"), encoding="utf-8"))
    model = AutoModelForSeq2SeqLM.from_pretrained(out).float().eval()
    gen = model.generation_config
    start, eos, pad = gen.decoder_start_token_id, gen.eos_token_id, gen.pad_token_id
    g = expected["generation"]
    settings = SETTINGS_OF.get(name, SETTINGS)
    args = dict(dict(max_length=g["max_length"], length_penalty=g["length_penalty"],
                     early_stopping=g["early_stopping"], do_sample=False), **settings)
    entries, changed_greedy, changed_beam = [], 0, 0
    for s in expected["sentences"]:
        assert "forced_bos_token_id" not in s, "single-pair fixtures only"
        enc = {"input_ids": torch.tensor([s["source_ids"]])}
        with torch.no_grad():
            greedy = model.generate(**enc, num_beams=1, **args)[0].tolist()
            beam = model.generate(**enc, num_beams=4, num_return_sequences=4, output_scores=True,
                                  return_dict_in_generate=True, **args)
        greedy = clean(greedy, start, eos, pad)
        nbest = [{"ids": clean(seq, start, eos, pad), "score": score}
                 for seq, score in zip(beam.sequences.tolist(), beam.sequences_scores.tolist())]
        changed_greedy += greedy != s["greedy_ids"]
        changed_beam += nbest[0]["ids"] != s["beam4_ids"]
        entries.append({"source": s["source"], "greedy_ids": greedy, "beam4_nbest": nbest})
    conventions = ("ids as expected.json's (no decoder start token, cut after the first </s>, no trailing "
                   "<pad>); beam4_nbest is generate's 4 returned sequences, best first, with "
                   "sequences_scores; min_length counts the decoder start token (HF's "
                   "MinLengthLogitsProcessor on the decoder input ids)")
    if gen.forced_bos_token_id is not None:
        conventions += (f"; generation_config.json's forced_bos_token_id {gen.forced_bos_token_id} applies: it is "
                        "every output's first id, and min_length counts it too")
    doc = {
        "generator": "models/record_generation_settings.py",
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "settings": settings,
        "passed_to_generate": args,
        "conventions": conventions,
        "changed_by_the_settings": {"greedy": changed_greedy, "beam4_best": changed_beam,
                                    "of": len(entries)},
        "sentences": entries,
    }
    with open(os.path.join(out, "generation_settings.json"), "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{name}: {len(entries)} entries; the settings change {changed_greedy} greedy outputs and "
          f"{changed_beam} beam-4 best outputs")


if __name__ == "__main__":
    torch.set_num_threads(1)
    for name in sys.argv[1:] or FIXTURES:
        record(name)
