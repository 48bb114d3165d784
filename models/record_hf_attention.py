#!/usr/bin/env python3
"""Records Hugging Face's attention weights on the committed conformance fixtures.

For each fixture (models/fixtures/{marian-tiny-en-de, marian-small-en-pt, m2m100-tiny, nllb-tiny,
mbart50-tiny, t5-tiny, flan-t5-tiny, bart-tiny},
made by models/make_marian_fixture.py, models/make_m2m100_fixture.py, models/make_t5_fixture.py and
models/make_bart_fixture.py)
and each recorded sentence
i of its expected.json, the checkpoint (float32, eager attention, eval mode) is teacher-forced on
the greedy path HF's generate took:

  input_ids          = source_ids
  decoder_input_ids  = [decoder_start_token_id] + greedy_ids[:-1]

greedy_ids never hold the decoder start token (Marian, T5: <pad>; M2M100 / NLLB: </s>, id 2); for
M2M100 / NLLB their first id is the forced target-language token, so the decoder input is
[2, lang, ...] and row 0 is the step that predicted (was forced to) the language token. The
script checks that the teacher-forced argmax gives greedy_ids back (with generate's processors:
Marian's <pad> ban and forced EOS at max_length, M2M100's forced language token).

  attention.safetensors
    c<i>  cross-attention, float32 [decoder layers, heads, T, S], T = len(greedy_ids),
          S = len(source_ids): row t is the distribution over source positions at the step
          that predicted greedy_ids[t]
    e<i>  encoder self-attention, float32 [encoder layers, heads, S, S]
    metadata: transformers / torch versions, generator, the sentences recorded and the convention

All sentences are recorded if the file stays under MAX_BYTES, else the first FALLBACK_SENTENCES
(for M2M100 / NLLB: sentences 0-3, both directions). Every row is checked to sum to 1 (1e-5).

    python models/record_hf_attention.py [NAME...]   # needs torch, transformers, safetensors

The outputs are committed; tern's tests only read them.
"""
import json
import os
import sys

import torch
import transformers
from safetensors.torch import save_file
from transformers import AutoModelForSeq2SeqLM

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = ["marian-tiny-en-de", "marian-small-en-pt", "m2m100-tiny", "nllb-tiny", "mbart50-tiny", "t5-tiny",
            "flan-t5-tiny", "bart-tiny"]
MAX_BYTES = 300_000
FALLBACK_SENTENCES = 8
ROW_SUM_TOL = 1e-5


def check_greedy(logits, greedy, config, generation, max_length):
    """The teacher-forced argmax, after generate's logit processors, must give greedy_ids back:
    otherwise the decoder inputs are not what generate fed."""
    logits = logits.clone()
    if config.model_type == "marian":
        logits[:, config.pad_token_id] = float("-inf")  # bad_words_ids [[pad]]
    elif config.model_type != "t5":  # T5: nothing forced, the task prefix picks the language
        logits[0] = float("-inf")  # forced_bos_token_id: the target-language token (BART: <s>)
        logits[0, greedy[0]] = 0.0
    # forced_eos_token_id (Marian's and mBART's generation configs) at the last step
    if generation.forced_eos_token_id is not None and len(greedy) == max_length - 1:
        logits[-1] = float("-inf")
        logits[-1, generation.forced_eos_token_id] = 0.0
    got = logits.argmax(-1).tolist()
    assert got == greedy, (got, greedy)


def stacks(config):
    """(layers, heads) of the decoder and of the encoder (T5Config names them its own way)."""
    if config.model_type == "t5":
        return (config.num_decoder_layers, config.num_heads), (config.num_layers, config.num_heads)
    return ((config.decoder_layers, config.decoder_attention_heads),
            (config.encoder_layers, config.encoder_attention_heads))


def record(name):
    out = os.path.join(HERE, "fixtures", name)
    expected = json.load(open(os.path.join(out, "expected.json"), encoding="utf-8"))
    model = AutoModelForSeq2SeqLM.from_pretrained(out, attn_implementation="eager").float().eval()
    config = model.config
    start = config.decoder_start_token_id
    assert start == model.generation_config.decoder_start_token_id, (start, model.generation_config)
    max_length = expected["generation"]["max_length"]
    tensors = {}
    for i, s in enumerate(expected["sentences"]):
        src, greedy = s["source_ids"], s["greedy_ids"]
        assert greedy and greedy[0] != start, "greedy_ids must not hold the decoder start token"
        if "forced_bos_token_id" in s:
            assert greedy[0] == s["forced_bos_token_id"], "greedy_ids must start with the language token"
        dec_in = [start] + greedy[:-1]
        with torch.no_grad():
            o = model(input_ids=torch.tensor([src]), decoder_input_ids=torch.tensor([dec_in]),
                      output_attentions=True, return_dict=True)
        check_greedy(o.logits[0], greedy, config, model.generation_config, max_length)
        cross = torch.stack([a[0] for a in o.cross_attentions]).float().contiguous()
        enc = torch.stack([a[0] for a in o.encoder_attentions]).float().contiguous()
        T, S = len(greedy), len(src)
        (dl, dh), (el, eh) = stacks(config)
        assert cross.shape == (dl, dh, T, S), cross.shape
        assert enc.shape == (el, eh, S, S), enc.shape
        for t in (cross, enc):
            err = (t.sum(-1) - 1).abs().max().item()
            assert err <= ROW_SUM_TOL, f"{name} sentence {i}: a row sums to 1 +- {err:.2e}"
        tensors[f"c{i}"], tensors[f"e{i}"] = cross, enc
    n = len(expected["sentences"])
    if sum(t.numel() * 4 for t in tensors.values()) + 200 * len(tensors) > MAX_BYTES:
        n = min(n, FALLBACK_SENTENCES)
        tensors = {k: v for k, v in tensors.items() if int(k[1:]) < n}
    metadata = {
        "generator": "models/record_hf_attention.py",
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "sentences": f"expected.json sentences 0..{n - 1} (of {len(expected['sentences'])})",
        "convention": "teacher forcing on decoder_input_ids = [decoder_start_token_id] + greedy_ids[:-1] "
                      f"(decoder_start_token_id {start}); c<i> [decoder layers, heads, len(greedy_ids), "
                      "len(source_ids)], e<i> [encoder layers, heads, len(source_ids), len(source_ids)]; "
                      "float32, eager attention, no padding",
    }
    path = os.path.join(out, "attention.safetensors")
    save_file(tensors, path, metadata=metadata)
    shapes = [tuple(tensors[f"c{i}"].shape) for i in range(n)]
    print(f"{name}: {n}/{len(expected['sentences'])} sentences; c<i> [L, H, T, S] from {min(shapes)} to "
          f"{max(shapes, key=lambda x: x[2] * x[3])}, e<i> [{stacks(config)[1][0]}, "
          f"{stacks(config)[1][1]}, S, S]; {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    torch.set_num_threads(1)
    for name in sys.argv[1:] or FIXTURES:
        record(name)
