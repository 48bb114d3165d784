"""The `tern` package as a user gets it: the wheel installed into a fresh venv."""

import gc
import os
import re
import sys
import threading
import time
from pathlib import Path

import pytest

import tern


def test_installed_wheel_is_tested():
    # Not a source tree on sys.path: the package under test is the installed wheel.
    assert Path(tern.__file__).resolve().is_relative_to(Path(sys.prefix).resolve()), tern.__file__
    assert tern._tern.__file__.endswith(".abi3.so"), tern._tern.__file__
    here = Path(tern.__file__).parent
    assert (here / "py.typed").exists()
    assert (here / "__init__.pyi").exists()
    assert re.fullmatch(r"\d+\.\d+\.\d+", tern.__version__)


def cli_translate(cli, model, lines, *flags):
    code, out, err = cli(["translate", "-m", model, *flags], "\n".join(lines) + "\n")
    assert code == 0, err
    got = out.split("\n")
    assert got[-1] == "", out
    return got[:-1]


def test_translate_equals_cli(cli, model, sentences):
    expected = cli_translate(cli, model, sentences)
    assert len(expected) == len(sentences)
    assert expected[3] == "" and expected[4].strip() == ""
    assert sum(1 for e in expected if e.strip()) == len(sentences) - 2
    t = tern.Translator(model)
    assert t.translate_batch(sentences) == expected
    for line, want in list(zip(sentences, expected))[:12]:
        assert t.translate(line) == want


def test_threads_and_batch_keep_order_and_text(cli, model, sentences):
    expected = cli_translate(cli, model, sentences)
    # Lines of very different lengths, so that a batched or threaded run that reordered them
    # could not give the same list.
    lines = sentences + sentences[::-1]
    want = expected + expected[::-1]
    assert tern.Translator(model, threads=2).translate_batch(lines) == want
    assert tern.Translator(model, threads=2, batch=8).translate_batch(lines) == want
    assert cli_translate(cli, model, lines, "--threads", "2", "--batch", "8") == want
    assert tern.Translator(model).translate_batch([]) == []


def test_beam_and_limits_equal_cli(cli, model, sentences):
    lines = sentences[:20]
    for flags, kwargs in [
        (["--beam", "4"], {"beam": 4}),
        (["--max-len", "6"], {"max_len": 6}),
        (["--max-src-len", "5"], {"max_src_len": 5}),
        (["--intra-threads", "2"], {"intra_threads": 2}),
    ]:
        expected = cli_translate(cli, model, lines, *flags)
        assert tern.Translator(model, **kwargs).translate_batch(lines) == expected, flags
    # The limits do something: short outputs differ from the defaults'.
    assert tern.Translator(model, max_len=6).translate_batch(lines) != cli_translate(
        cli, model, lines
    )


def test_stream_pieces_join_to_translation(model, sentences):
    t = tern.Translator(model)
    several = 0
    for line in sentences[:30]:
        pieces = list(t.translate_stream(line))
        assert all(isinstance(p, str) and p for p in pieces), pieces
        assert "".join(pieces) == t.translate(line)
        several += len(pieces) > 1
    # Text arrives as it is decoded, not all at the end.
    nonblank = sum(1 for line in sentences[:30] if line.strip())
    assert several >= nonblank * 2 // 3, (several, nonblank)
    stream = t.translate_stream(sentences[0])
    assert iter(stream) is stream
    assert "".join(stream) == t.translate(sentences[0])
    assert next(stream, None) is None  # stays exhausted
    # An abandoned stream is harmless.
    next(t.translate_stream(sentences[1]))


def test_info(cli, model):
    t = tern.Translator(model, beam=4, max_len=64, threads=2)
    info = t.info
    assert info["architecture"] == "transformer"
    assert info["dimensions"]["d_model"] > 0
    assert info["dimensions"]["encoder"]["layers"] >= 1
    assert info["dimensions"]["shortlist"] is True  # Firefox's model has one
    assert "d_model" in info["spec"]
    hp = info["hyperparameters"]
    assert hp["general.architecture"] == "transformer"
    assert all(not isinstance(v, list) or len(v) <= 16 for v in hp.values())
    memory = info["memory"]
    assert memory["beam"] == 4 and memory["max_len"] == 64 and memory["threads"] == 2
    assert memory["file_bytes"] == os.path.getsize(model)
    assert memory["ram_bytes"] == 2 * memory["workspace_bytes"] + memory["file_bytes"]
    # The same figures as `tern inspect` with the same settings.
    code, out, err = cli(["inspect", model, "--beam", "4", "--max-len", "64"])
    assert code == 0, err
    assert info["report"] == out
    ws = re.search(r"workspace in all \(per thread\):.*\((\d+) bytes\)", out)
    assert ws and int(ws.group(1)) == memory["workspace_bytes"], out
    assert info["tensors"]["i8"][0] > 0
    # Settings change the plan.
    assert tern.Translator(model, beam=1).info["memory"]["workspace_bytes"] < memory[
        "workspace_bytes"
    ]


def test_multilingual_equals_cli(cli, nllb_model, sentences):
    lines = sentences[:12]
    for target in ["por_Latn", "deu_Latn"]:
        flags = ["--source-lang", "eng_Latn", "--target-lang", target]
        expected = cli_translate(cli, nllb_model, lines, *flags)
        t = tern.Translator(nllb_model, source_lang="eng_Latn", target_lang=target)
        assert t.translate_batch(lines) == expected
    info = tern.Translator(nllb_model, source_lang="eng_Latn", target_lang="por_Latn").info
    assert {"eng_Latn", "por_Latn", "deu_Latn"} <= set(info["languages"])


def test_missing_and_bad_files(tmp_path):
    missing = tmp_path / "nope.gguf"
    with pytest.raises(FileNotFoundError) as e:
        tern.Translator(missing)
    assert e.value.errno == 2 and e.value.filename == str(missing)
    with pytest.raises(IsADirectoryError, match="is a directory"):
        tern.Translator(tmp_path)
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"GGUF" + bytes(200))
    with pytest.raises(tern.ModelError) as e:
        tern.Translator(junk)
    assert isinstance(e.value, tern.TernError) and str(e.value)
    text = tmp_path / "text.gguf"
    text.write_text("not a model\n")
    with pytest.raises(tern.ModelError):
        tern.Translator(text)


@pytest.mark.parametrize(
    "kwargs, flags",
    [
        ({"beam": 1000}, ["--beam", "1000"]),
        ({"beam": 0}, ["--beam", "0"]),
        ({"batch": 0}, ["--batch", "0"]),
        ({"max_len": 0}, ["--max-len", "0"]),
        ({"max_src_len": 0}, ["--max-src-len", "0"]),
        ({"threads": 0}, ["--threads", "0"]),
        ({"intra_threads": 0}, ["--intra-threads", "0"]),
    ],
)
def test_bad_settings_are_value_errors_with_the_cli_message(cli, model, kwargs, flags):
    with pytest.raises(ValueError) as e:
        tern.Translator(model, **kwargs)
    assert isinstance(e.value, tern.SettingError) and isinstance(e.value, tern.TernError)
    message = str(e.value)
    name, value = next(iter(kwargs.items()))
    assert message.startswith(f"{name} must be between 1 and "), message
    assert message.endswith(f", not {value}"), message
    code, _, err = cli(["translate", "-m", model, *flags], "Hello.\n")
    assert code == 2, err
    assert message in err, (message, err)


def test_other_bad_arguments(model):
    with pytest.raises(tern.SettingError, match=r"^beam must be between 1 and \d+, not -3$"):
        tern.Translator(model, beam=-3)
    with pytest.raises(TypeError):
        tern.Translator(model, beam="4")
    with pytest.raises(TypeError):
        tern.Translator(model, 2)  # settings are keyword-only
    t = tern.Translator(model)
    with pytest.raises(TypeError):
        t.translate_batch("one string, not a list of lines")
    with pytest.raises(TypeError):
        t.translate(None)


def test_languages_of_a_multilingual_model(cli, nllb_model):
    with pytest.raises(tern.LanguageError) as e:
        tern.Translator(nllb_model, source_lang="eng_Latn", target_lang="xxx_Latn")
    message = str(e.value)
    assert isinstance(e.value, ValueError)
    assert "xxx_Latn" in message and "por_Latn" in message, message
    code, _, err = cli(
        ["translate", "-m", nllb_model, "--source-lang", "eng_Latn", "--target-lang", "xxx_Latn"],
        "Hello.\n",
    )
    assert code != 0 and message in err, (message, err)
    # The fixture stores no default languages: the source is needed too.
    with pytest.raises(tern.LanguageError) as e:
        tern.Translator(nllb_model, target_lang="por_Latn")
    message = str(e.value)
    assert "source language" in message and "eng_Latn" in message, message
    code, _, err = cli(["translate", "-m", nllb_model, "--target-lang", "por_Latn"], "Hello.\n")
    assert code != 0 and message in err, (message, err)


def test_one_map_per_file_shared_by_translators(model, tmp_path):
    gc.collect()
    canonical = os.path.realpath(model)
    a = tern.Translator(model, beam=1)
    link = tmp_path / "link.gguf"
    link.symlink_to(canonical)
    b = tern.Translator(link, beam=4, threads=2)  # other settings, other path to the file
    assert a._model_id == b._model_id
    assert a.path == b.path == canonical
    assert tern._loaded_models()[canonical] == 2
    if sys.platform.startswith("linux"):
        maps = Path("/proc/self/maps").read_text().splitlines()
        assert sum(1 for m in maps if m.endswith(" " + canonical)) == 1, maps
    # Each keeps its own settings.
    assert a.info["memory"]["beam"] == 1 and b.info["memory"]["beam"] == 4
    del a
    gc.collect()
    assert tern._loaded_models()[canonical] == 1
    del b
    gc.collect()
    assert canonical not in tern._loaded_models()
    if sys.platform.startswith("linux"):
        maps = Path("/proc/self/maps").read_text()
        assert canonical not in maps
    # Loaded again after the last one went away.
    assert tern._loaded_models() == {}
    c = tern.Translator(model)
    assert tern._loaded_models() == {canonical: 1}
    del c


def test_gil_is_released_while_translating(model, sentences):
    t = tern.Translator(model)
    nonblank = [s for s in sentences if s.strip()]
    lines = nonblank * -(-400 // len(nonblank))  # about 400 lines: a second or more
    done = threading.Event()
    span = []

    def work():
        start = time.perf_counter()
        t.translate_batch(lines)
        span.append((start, time.perf_counter()))
        done.set()

    worker = threading.Thread(target=work)
    ticks = []
    worker.start()
    while not done.is_set():
        ticks.append(time.perf_counter())
        time.sleep(0.002)
    worker.join()
    (start, end) = span[0]
    assert end - start > 0.3, "too little work to tell"
    inside = [x for x in ticks if start <= x <= end]
    gaps = [b - a for a, b in zip([start] + inside, inside + [end])]
    # Held, the GIL would stop this thread for the whole call: one gap as long as the call.
    assert max(gaps) < 0.5 * (end - start), (max(gaps), end - start)
    assert len(inside) > 20, len(inside)


def test_two_threads_translate_at_once(model, sentences):
    lines = [s for s in sentences if s.strip()][:40]
    t = tern.Translator(model)
    expected = t.translate_batch(lines)
    results = {}

    def work(i):
        results[i] = [t.translate(line) for line in lines]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert results == {0: expected, 1: expected}
