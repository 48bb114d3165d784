"""The Ray example on a local Ray instance (2 CPUs): FLORES-200 devtest English (or, without
../shared, the sample sentences), translated with 1 and then 2 actors, equal line for line to
`tern translate`'s output; prints the throughput of each. Run by `cargo xtask python`, which
sets TERN_MODEL, TERN_CLI and TERN_ROOT."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import translate_file as example  # noqa: E402


def env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run these tests with `cargo xtask python`")
    return value


@pytest.fixture(scope="module")
def ray_local():
    import ray

    # The actors' processes import this example's module: put its folder on their path.
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        runtime_env={"env_vars": {"PYTHONPATH": str(HERE)}},
    )
    yield
    ray.shutdown()


def source(root: Path) -> Path:
    flores = root.parent / "shared/testsets/flores200-devtest/eng_Latn.devtest"
    return flores if flores.exists() else root / "models/samples/en.txt"


def cli_translate(src: Path, dst: Path) -> float:
    started = time.perf_counter()
    p = subprocess.run(
        [env("TERN_CLI"), "translate", "-m", env("TERN_MODEL"), "-i", str(src), "-o", str(dst)],
        capture_output=True,
        check=False,
    )
    assert p.returncode == 0, p.stderr.decode()
    return time.perf_counter() - started


def test_split_lines_as_the_cli():
    assert example.split_lines(b"") == []
    assert example.split_lines(b"\n") == [""]
    assert example.split_lines(b"a\r\nb\n\n c") == ["a", "b", "", " c"]
    assert example.split_lines(b"x\xffy\n") == ["x\ufffdy"]
    assert example.split_lines("a\u2028b\x85c\rd\n".encode()) == ["a\u2028b\x85c\rd"]


def test_ranges_give_every_line_once(tmp_path):
    """However the file is cut into byte ranges, their lines are the file's, each once."""
    for raw in [
        b"",
        b"\n",
        b"\n\n",
        b"one",
        b"one\n",
        b"a\r\nbb\n\nccc\xff\n  \nlast",
        "caf\u00e9 \u2028 x\nz\n".encode(),
    ]:
        path = tmp_path / "f.txt"
        path.write_bytes(raw)
        want = example.split_lines(raw)
        for step in range(1, len(raw) + 2):
            got = []
            for start in range(0, len(raw), step):
                got += example.read_range(str(path), start, min(start + step, len(raw)))
            assert got == want, (raw, step)


def test_script_keeps_every_line(tmp_path):
    """The command-line script, with its own local Ray: empty, blank, CRLF and invalid UTF-8
    lines, a U+2028 inside a line and no final newline give one output line each, as the CLI.
    (Before the test that starts Ray in this process, so that this one starts its own.)"""
    root = Path(env("TERN_ROOT"))
    samples = (root / "models/samples/en.txt").read_bytes().split(b"\n")[:6]
    raw = b"\n".join(
        [samples[0], b"", samples[1] + b"\r", b"   ", b"caf\xe9 " + samples[2],
         samples[3].replace(b" ", "\u2028".encode(), 1)] + samples[4:6]
    ).rstrip(b"\n")
    src = tmp_path / "tricky.txt"
    src.write_bytes(raw)
    expected = tmp_path / "cli.txt"
    cli_translate(src, expected)
    out = tmp_path / "ray.txt"
    p = subprocess.run(
        [sys.executable, str(HERE / "translate_file.py"), "--model", env("TERN_MODEL"),
         "--input", str(src), "--output", str(out), "--actors", "2", "--num-cpus", "2",
         "--batch-size", "3"],
        capture_output=True,
        check=False,
    )
    assert p.returncode == 0, p.stderr.decode()[-4000:]
    assert "lines/s (2 actors x 1 threads)" in p.stderr.decode()
    assert out.read_bytes() == expected.read_bytes()
    assert len(out.read_bytes().split(b"\n")) == len(raw.split(b"\n")) + 1


def test_flores_with_1_and_2_actors_equals_cli(ray_local, tmp_path):
    root = Path(env("TERN_ROOT"))
    src = source(root)
    expected = tmp_path / "cli.txt"
    cli_seconds = cli_translate(src, expected)
    want = expected.read_text(encoding="utf-8").split("\n")
    n = len(src.read_bytes().split(b"\n")) - 1
    assert len(want) == n + 1 and want[-1] == ""
    print(f"\n{src.name}: {n} lines; tern CLI, 1 thread: {n / cli_seconds:.1f} lines/s")
    rates = {}
    for actors in (1, 2):
        out = tmp_path / f"ray-{actors}.txt"
        stats = example.translate_file(str(src), str(out), env("TERN_MODEL"), actors=actors)
        got = out.read_text(encoding="utf-8").split("\n")
        assert stats["lines"] == n
        assert len(got) == len(want)
        assert [i for i, (a, b) in enumerate(zip(got, want)) if a != b] == []
        rates[actors] = stats["lines_per_second"]
        print(
            f"Ray Data, {actors} actor(s) x 1 thread: {stats['lines']} lines in "
            f"{stats['seconds']:.1f} s = {stats['lines_per_second']:.1f} lines/s"
        )
    print(f"2 actors / 1 actor: {rates[2] / rates[1]:.2f}x")
