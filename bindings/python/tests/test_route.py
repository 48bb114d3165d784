"""`tern.Route`: models by language against a local catalogue in Firefox's format (no
internet), serving Mozilla's real en->pt and pt->en models; a pivot equals the two models run
by hand."""

import hashlib
import http.server
import json
import os
import threading
from pathlib import Path

import pytest
import tern


class _Catalogue(http.server.BaseHTTPRequestHandler):
    files: dict = {}
    requests: list = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        _Catalogue.requests.append(self.path)
        body = _Catalogue.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _records(downloads: Path, pair: str, src: str, trg: str) -> list:
    out = []
    for kind, name in (
        ("model", f"model.{pair}.intgemm.alphas.bin"),
        ("vocab", f"vocab.{pair}.spm"),
        ("lex", f"lex.50.50.{pair}.s2t.bin"),
    ):
        data = (downloads / pair / name).read_bytes()
        name = name.replace(pair, src + trg)
        location = f"main-workspace/translations-models/{src}{trg}-{name}"
        _Catalogue.files[f"/attachments/{location}"] = data
        out.append({
            "id": f"{src}{trg}-{name}", "name": name, "fromLang": src, "toLang": trg,
            "version": "1.0", "fileType": kind, "filter_expression": "",
            "attachment": {
                "hash": hashlib.sha256(data).hexdigest(), "size": len(data), "filename": name,
                "location": location, "mimetype": "application/octet-stream",
            },
        })
    return out


@pytest.fixture(scope="module")
def catalogue(root: Path):
    downloads = root / "models/downloads"
    for pair in ("enpt", "pten"):
        if not (downloads / pair / ".tern-source").exists():
            pytest.fail(f"run `cargo xtask fetch-model {pair}` (cargo xtask test does)")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Catalogue)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    records = _records(downloads, "enpt", "en", "pt") + _records(downloads, "pten", "pt", "en")
    # A stand-in en->es (the en->pt files again): pt->es goes through English.
    records += _records(downloads, "enpt", "en", "es")
    url = "/v1/buckets/main/collections/translations-models/records"
    _Catalogue.files[url] = json.dumps({"data": records}).encode()
    caps = {"capabilities": {"attachments": {"base_url": base + "/attachments/"}}}
    _Catalogue.files["/v1/"] = json.dumps(caps).encode()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield base + url
    server.shutdown()


def test_route_pivots_through_english(catalogue, tmp_path, model):
    cache = tmp_path / "cache"
    with pytest.raises(tern.CatalogueError, match="offline"):
        tern.Route("pt", "es", cache_dir=cache, catalogue=catalogue, offline=True)
    r = tern.Route("pt", "es", cache_dir=cache, catalogue=catalogue, threads=2)
    assert r.route == "pt -> en -> es"
    pten = next(cache.glob("pt-en/*/model.gguf"))
    first, second = tern.Translator(str(pten)), tern.Translator(model)
    lines = ["O tempo está bom hoje.", "Onde fica a estação de comboios?", ""]
    by_hand = [second.translate(first.translate(line)) for line in lines]
    assert [r.translate(line) for line in lines] == by_hand
    assert r.translate_batch(lines) == by_hand
    # Cached: offline works, without a request.
    before = len(_Catalogue.requests)
    again = tern.Route("pt", "es", cache_dir=cache, catalogue=catalogue, offline=True)
    assert again.translate(lines[0]) == by_hand[0]
    assert len(_Catalogue.requests) == before
    with pytest.raises(tern.CatalogueError, match="no route"):
        tern.Route("xx", "yy", cache_dir=cache, catalogue=catalogue)
    with pytest.raises(tern.SettingError, match="beam must be between 1 and 64, not 0"):
        tern.Route("pt", "es", cache_dir=cache, catalogue=catalogue, beam=0)
