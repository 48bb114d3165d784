"""`Translator.attention` (what a translation attended to) and `Translator.translate_html`."""

import pytest

import tern


def check_weights(weights, layers, heads, rows, cols):
    """`weights` is [layer][head][row][col] of the given sizes, each row a distribution."""
    assert len(weights) == layers
    for layer in weights:
        assert len(layer) == heads
        for head in layer:
            assert len(head) == rows
            for row in head:
                assert len(row) == cols
                assert all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in row), row
                assert abs(sum(row) - 1.0) < 1e-5, sum(row)


def check_sentence(a, dims, encoder):
    keys = {
        "source",
        "target",
        "translation",
        "cross_attention",
        "encoder_attention",
        "alignment",
        "soft_alignment",
        "source_words",
        "target_words",
        "aligned_head",
    }
    assert set(a) == keys
    src, tgt = a["source"], a["target"]
    assert src and tgt and all(isinstance(p, str) for p in src + tgt)
    assert isinstance(a["translation"], str)
    dec, enc = dims["decoder"], dims["encoder"]
    check_weights(a["cross_attention"], dec["layers"], dec["heads"], len(tgt), len(src))
    if encoder:
        check_weights(a["encoder_attention"], enc["layers"], enc["heads"], len(src), len(src))
    else:
        assert a["encoder_attention"] is None
    soft = a["soft_alignment"]
    assert len(soft) == len(tgt)
    for row in soft:
        assert len(row) == len(src)
        assert abs(sum(row) - 1.0) < 1e-5
    assert len(a["source_words"]) == len(src)
    assert len(a["target_words"]) == len(tgt)
    n_src = max((w for w in a["source_words"] if w is not None), default=-1) + 1
    n_tgt = max((w for w in a["target_words"] if w is not None), default=-1) + 1
    pairs = a["alignment"]
    assert pairs == sorted(set(pairs))
    for s, t in pairs:
        assert 0 <= s < n_src and 0 <= t < n_tgt, (s, t, n_src, n_tgt)
    head = a["aligned_head"]
    assert head is None or (0 <= head[0] < dec["layers"] and 0 <= head[1] < dec["heads"])


def test_attention_shapes_and_translation(model, sentences):
    t = tern.Translator(model)
    dims = t.info["dimensions"]
    checked = 0
    for line in [s for s in sentences if s.strip()][:6]:
        maps = t.attention(line)
        assert isinstance(maps, list) and maps
        for a in maps:
            check_sentence(a, dims, encoder=False)
        if len(maps) == 1:
            assert maps[0]["translation"] == t.translate(line)
            checked += 1
    assert checked > 0
    # The source's last piece is EOS, a special piece of no word.
    a = t.attention("Hello world.")[0]
    assert a["source_words"][-1] is None and a["source_words"][0] == 0
    # A real model aligns most target words to a source word.
    n_tgt = max(w for w in a["target_words"] if w is not None) + 1
    assert len({t for _, t in a["alignment"]}) >= n_tgt / 2, a
    assert a["translation"] == t.translate("Hello world.")
    assert t.attention("") == []


def test_attention_of_several_sentences(model):
    t = tern.Translator(model)
    line = "The weather is nice today. I would like to go for a walk in the park."
    maps = t.attention(line)
    assert len(maps) == 2
    assert " ".join(a["translation"] for a in maps) == t.translate(line)


def test_encoder_attention(model):
    t = tern.Translator(model)
    dims = t.info["dimensions"]
    [a] = t.attention("The cat sat on the mat.", encoder=True)
    check_sentence(a, dims, encoder=True)
    [b] = t.attention("The cat sat on the mat.", True)
    assert b["encoder_attention"] == a["encoder_attention"]
    assert b["cross_attention"] == a["cross_attention"]


def test_attention_of_a_multilingual_model(nllb_model):
    t = tern.Translator(nllb_model, source_lang="eng_Latn", target_lang="por_Latn")
    line = "Hello world."
    maps = t.attention(line, encoder=True)
    assert len(maps) == 1
    a = maps[0]
    check_sentence(a, t.info["dimensions"], encoder=True)
    # The language token comes first and belongs to no word.
    assert a["source"][0] == "eng_Latn" and a["source_words"][0] is None
    assert a["translation"] == t.translate(line)


def test_translate_html(model):
    t = tern.Translator(model)
    out = t.translate_html("Hello <b>world</b>.")
    assert out.count("<b>") == 1 and out.count("</b>") == 1, out
    assert out.index("<b>") < out.index("</b>")
    assert out.replace("<b>", "").replace("</b>", "").strip()
    assert t.translate_html("Hello world.") == t.translate("Hello world.")
    nested = t.translate_html("<p>The <i>red</i> house.</p><p>A <b>big</b> dog.</p>")
    for tag in ["<p>", "</p>", "<i>", "</i>", "<b>", "</b>"]:
        assert tag in nested, nested


def test_malformed_html_raises_markup_error(model):
    t = tern.Translator(model)
    with pytest.raises(tern.MarkupError) as e:
        t.translate_html("a <b>x</i>")
    assert "byte" in str(e.value)
    assert isinstance(e.value, ValueError) and isinstance(e.value, tern.TernError)
    assert issubclass(tern.MarkupError, ValueError)
    # The translator still works afterwards.
    assert t.translate_html("<b>Yes.</b>").startswith("<b>")


def test_bad_argument_types(model):
    t = tern.Translator(model)
    with pytest.raises(TypeError):
        t.attention(3)
    with pytest.raises(TypeError):
        t.attention(None)
    with pytest.raises(TypeError):
        t.attention("Hello.", encoder="yes")
    with pytest.raises(TypeError):
        t.attention("Hello.", False, 3)
    with pytest.raises(TypeError):
        t.translate_html(None)
    with pytest.raises(TypeError):
        t.translate_html(b"<b>Hello</b>")
    with pytest.raises(TypeError):
        t.translate_html()
