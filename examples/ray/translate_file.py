#!/usr/bin/env python3
"""Translate a large text file on a Ray cluster with tern: one sentence per line in, one
translation per line out, in order, exactly as ``tern translate`` does.

    python translate_file.py --model enpt.gguf --input big.en.txt --output big.pt.txt --actors 8

The driver cuts the file into byte ranges; Ray Data reads each range on a worker and splits it
into lines as the ``tern`` CLI does (at ``\\n``, ``\\r\\n`` accepted, invalid UTF-8 replaced by
U+FFFD; a line belongs to the range it starts in), and ``map_batches`` hands batches of lines
to a pool of ``--actors`` actors. Each actor holds one ``tern.Translator``: the model file is
memory-mapped by each actor process, and the operating system's page cache holds one copy of
its pages per node, however many actors map it (a 17 MB model costs 17 MB of RAM per node, plus
one workspace per translating thread). The driver writes the translations to ``--output`` in
input order (``preserve_order``), streaming, so the output never has to fit in memory at once.

On a multi-node cluster (see README.md beside this file): start Ray on every node, put the
model file at the same path on every node (``--model``), make the input readable from every
node (a shared file system, or a URI pyarrow opens: ``s3://...``, ``gs://...``), and run this script on the head node (or with ``--address``).
"""

import argparse
import os
import sys
import time
from typing import Any, Dict, List

import numpy as np


def split_lines(data: bytes) -> List[str]:
    """The lines of a file as ``tern translate`` reads them."""
    lines = data.split(b"\n")
    if not data or data.endswith(b"\n"):
        lines.pop()
    return [
        (line[:-1] if line.endswith(b"\r") else line).decode("utf-8", errors="replace")
        for line in lines
    ]


def _open(path: str):
    """A seekable binary file: a local path, or any URI pyarrow's file systems open."""
    if "://" in path:
        import pyarrow.fs

        fs, inner = pyarrow.fs.FileSystem.from_uri(path)
        return fs.open_input_file(inner)
    return open(path, "rb")


def file_size(path: str) -> int:
    if "://" in path:
        import pyarrow.fs

        fs, inner = pyarrow.fs.FileSystem.from_uri(path)
        return fs.get_file_info(inner).size
    return os.path.getsize(path)


def read_range(path: str, start: int, end: int) -> List[str]:
    """The lines that start in bytes ``[start, end)`` of the file, each read to its end."""
    base = max(start - 1, 0)
    with _open(path) as f:
        f.seek(base)
        data = f.read(end - base)
        # The last line that starts before `end` runs on to its newline (or the file's end).
        while data and not data.endswith(b"\n"):
            more = f.read(1 << 16)
            if not more:
                break
            cut = more.find(b"\n")
            data += more if cut < 0 else more[: cut + 1]
            if cut >= 0:
                break
    if start > 0:
        # A line starts after each newline: skip the one that started before `start`.
        cut = data.find(b"\n")
        if cut < 0 or base + cut + 1 >= end:
            return []
        data = data[cut + 1 :]
    return split_lines(data)


def _range_lines(row: Dict[str, Any]) -> List[Dict[str, Any]]:
    return [{"text": line} for line in read_range(row["path"], row["start"], row["end"])]


class TernTranslate:
    """A Ray Data actor: one ``tern.Translator``, kept for every batch the actor gets."""

    def __init__(self, model: str, threads: int, settings: Dict[str, Any]):
        import tern  # imported on the worker: the package must be installed on every node

        self.translator = tern.Translator(model, threads=threads, **settings)

    def __call__(self, batch: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        lines = [str(x) for x in batch["text"]]
        out = self.translator.translate_batch(lines)
        return {"text": np.array(out, dtype=object)}


def translate_file(
    input_path: str,
    output_path: str,
    model: str,
    actors: int = 2,
    threads: int = 1,
    batch_size: int = 64,
    **settings: Any,
) -> Dict[str, float]:
    """Translates ``input_path`` into ``output_path`` on the Ray cluster this process is
    connected to (``ray.init`` first). Returns the line count, seconds and lines per second."""
    import ray

    ctx = ray.data.DataContext.get_current()
    # Output lines in input order, whichever actor finished first.
    ctx.execution_options.preserve_order = True
    started = time.perf_counter()
    # Byte ranges, one block each (a block goes to one actor): about 8 per actor, so that the
    # actors share the work evenly, of 4 KiB to 32 MiB.
    size = file_size(input_path)
    if size == 0:
        open(output_path, "w").close()
        return {"lines": 0, "seconds": 0.0, "lines_per_second": 0.0}
    step = min(max(size // (8 * actors), 4096), 32 << 20)
    ranges = [
        {"path": input_path, "start": s, "end": min(s + step, size)} for s in range(0, size, step)
    ]
    ds = ray.data.from_items(ranges, override_num_blocks=max(len(ranges), 1))
    # Reading and splitting are light: they reserve no CPU, so that they run even when the
    # actors hold every CPU of the cluster (they would wait for one forever), and run a few at
    # a time (without a CPU to wait for, Ray would start a process for each range at once).
    ds = ds.flat_map(
        _range_lines, num_cpus=0, compute=ray.data.TaskPoolStrategy(size=max(1, min(actors, 8)))
    )
    ds = ds.map_batches(
        TernTranslate,
        fn_constructor_kwargs={"model": model, "threads": threads, "settings": settings},
        batch_size=batch_size,
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=threads,
        batch_format="numpy",
    )
    tmp = output_path + ".part"
    n = 0
    with open(tmp, "w", encoding="utf-8", newline="\n") as out:
        for batch in ds.iter_batches(batch_size=1024, batch_format="numpy"):
            for text in batch["text"]:
                # One output line per input line, whatever the text holds (as the CLI).
                out.write(str(text).replace("\n", " ").replace("\r", " ") + "\n")
                n += 1
    os.replace(tmp, output_path)
    seconds = time.perf_counter() - started
    return {"lines": n, "seconds": seconds, "lines_per_second": n / seconds if seconds else 0.0}


def main(argv: List[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="GGUF model file (same path on every node)")
    p.add_argument("--input", required=True, help="text file, one sentence per line")
    p.add_argument("--output", required=True, help="translations, one per input line")
    p.add_argument("--actors", type=int, default=2, help="translating actors (default 2)")
    p.add_argument("--threads", type=int, default=1, help="threads per actor (default 1)")
    p.add_argument("--batch-size", type=int, default=64, help="lines per batch an actor gets")
    p.add_argument("--address", default=None, help="Ray cluster address (default: auto)")
    p.add_argument("--num-cpus", type=int, default=None, help="CPUs of a new local Ray")
    p.add_argument("--beam", type=int)
    p.add_argument("--batch", type=int, help="sentences tern decodes together (greedy)")
    p.add_argument("--max-len", type=int)
    p.add_argument("--max-src-len", type=int)
    p.add_argument("--source-lang")
    p.add_argument("--target-lang")
    a = p.parse_args(argv)
    settings = {
        k: v
        for k, v in {
            "beam": a.beam,
            "batch": a.batch,
            "max_len": a.max_len,
            "max_src_len": a.max_src_len,
            "source_lang": a.source_lang,
            "target_lang": a.target_lang,
        }.items()
        if v is not None
    }
    import ray
    import tern

    # Bad settings or a bad model fail here, once, before the cluster does any work.
    tern.Translator(a.model, threads=a.threads, **settings)
    if a.address:
        ray.init(address=a.address)
    else:
        ray.init(num_cpus=a.num_cpus)
    stats = translate_file(
        a.input,
        a.output,
        os.path.abspath(a.model),
        actors=a.actors,
        threads=a.threads,
        batch_size=a.batch_size,
        **settings,
    )
    print(
        f"{stats['lines']} lines in {stats['seconds']:.1f} s = "
        f"{stats['lines_per_second']:.1f} lines/s ({a.actors} actors x {a.threads} threads)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
