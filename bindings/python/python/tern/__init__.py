"""tern: quantized encoder-decoder translation from a memory-mapped GGUF model file.

    import tern
    t = tern.Translator("enpt.gguf", threads=2)
    t.translate("Hello world.")
    t.translate_batch(["One.", "Two."])
    for piece in t.translate_stream("Hello."):
        print(piece, end="", flush=True)
    t.info["memory"]["workspace_bytes"]
    t.translate_html("Hello <b>world</b>.")
    t.attention("Hello world.")[0]["alignment"]

See docs/python.md in the tern repository.
"""

from ._errors import (
    CatalogueError,
    LanguageError,
    MarkupError,
    ModelError,
    SettingError,
    TernError,
    TranslationError,
)
from ._tern import Route, Stream, Translator, __version__, _loaded_models

__all__ = [
    "Translator",
    "Route",
    "Stream",
    "CatalogueError",
    "TernError",
    "ModelError",
    "SettingError",
    "LanguageError",
    "MarkupError",
    "TranslationError",
    "__version__",
]
