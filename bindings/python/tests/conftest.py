"""Shared fixtures: the models and the `tern` CLI the package is compared with.

`cargo xtask python` sets TERN_MODEL (Firefox's real en->pt model, converted), TERN_NLLB_MODEL
(the NLLB fixture, converted), TERN_CLI (the release `tern` binary) and TERN_ROOT. Without
them the tests fail, saying so: they never pass without having run.
"""

import os
import subprocess
from pathlib import Path

import pytest


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run these tests with `cargo xtask python`")
    return value


def read_lines(path: Path) -> list:
    """Lines as the CLI splits them: at `\\n`, with `\\r\\n` accepted."""
    text = path.read_bytes().decode("utf-8", errors="replace")
    if not text:
        return []
    lines = (text[:-1] if text.endswith("\n") else text).split("\n")
    return [line[:-1] if line.endswith("\r") else line for line in lines]


@pytest.fixture(scope="session")
def model() -> str:
    return _env("TERN_MODEL")


@pytest.fixture(scope="session")
def nllb_model() -> str:
    return _env("TERN_NLLB_MODEL")


@pytest.fixture(scope="session")
def root() -> Path:
    return Path(_env("TERN_ROOT"))


@pytest.fixture(scope="session")
def cli():
    """Runs `tern ARGS` with `stdin`; returns (exit status, stdout, stderr)."""
    binary = _env("TERN_CLI")

    def run(args, stdin: str = ""):
        p = subprocess.run(
            [binary, *map(str, args)],
            input=stdin.encode(),
            capture_output=True,
            check=False,
        )
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    return run


@pytest.fixture(scope="session")
def sentences(root: Path) -> list:
    """English lines: FLORES-200 devtest's first 120 when ../shared is there, else the samples;
    with an empty line and a blank one (they give empty output)."""
    flores = root.parent / "shared/testsets/flores200-devtest/eng_Latn.devtest"
    if flores.exists():
        lines = read_lines(flores)[:120]
    else:
        lines = read_lines(root / "models/samples/en.txt")
    return lines[:3] + ["", "   "] + lines[3:]
