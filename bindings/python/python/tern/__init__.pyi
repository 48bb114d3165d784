"""Type stubs of the ``tern`` package (the native module ``tern._tern`` and its exceptions)."""

import os
from typing import Any, Dict, Iterator, List, Optional, Tuple, TypedDict, Union

__version__: str

class TernError(Exception): ...
class ModelError(TernError): ...
class SettingError(TernError, ValueError): ...
class LanguageError(SettingError): ...
class TranslationError(TernError): ...
class CatalogueError(TernError): ...
class MarkupError(TernError, ValueError): ...

class Stream(Iterator[str]):
    """The text pieces of one translation, as they are decoded; they join to the text
    ``Translator.translate`` gives."""

    def __iter__(self) -> "Stream": ...
    def __next__(self) -> str: ...

class Attention(TypedDict):
    """One source sentence's attention (``Translator.attention``). Weights are nested lists
    ``[layer][head][row][col]``; each row is a distribution (sums to 1) over source pieces."""

    source: List[str]
    """Source pieces: the language token first on multilingual models, EOS last."""
    target: List[str]
    """Generated pieces, EOS included."""
    translation: str
    """This sentence's translation."""
    cross_attention: List[List[List[List[float]]]]
    """Decoder cross-attention: rows = target pieces, columns = source pieces."""
    encoder_attention: Optional[List[List[List[List[float]]]]]
    """Encoder self-attention (source x source) with ``encoder=True``, else ``None``."""
    alignment: List[Tuple[int, int]]
    """Hard word alignment, ``(source word, target word)`` pairs, sorted (Bergamot's rule)."""
    soft_alignment: List[List[float]]
    """Rows = target pieces, columns = source pieces: the model's trained alignment head
    where it has one, else the mean of every layer and head."""
    source_words: List[Optional[int]]
    """The word of each source piece (``None`` for EOS and language tokens)."""
    target_words: List[Optional[int]]
    """The word of each target piece (``None`` for EOS and language tokens)."""
    aligned_head: Optional[Tuple[int, int]]
    """The (layer, head) trained to align, if the model has one."""

class Translator:
    """A model loaded from a GGUF file (written by tern's ``convert``).

    Every ``Translator`` on one file shares one memory map of it in the process; settings are
    each ``Translator``'s own. Unset settings take the model file's defaults. Raises
    ``FileNotFoundError`` (or another ``OSError``) for a file that cannot be opened,
    ``ModelError`` for one that is not a usable model, ``SettingError`` (a ``ValueError``) for a
    setting out of range and ``LanguageError`` for a missing or unknown language code.
    ``intra_threads`` threads work on each sentence (its int8 products and larger attentions
    are split over them; the output is the same as with one).
    """

    def __init__(
        self,
        path: Union[str, "os.PathLike[str]"],
        *,
        threads: int = 1,
        beam: Optional[int] = None,
        max_len: Optional[int] = None,
        max_src_len: Optional[int] = None,
        batch: Optional[int] = None,
        source_lang: Optional[str] = None,
        target_lang: Optional[str] = None,
        truncate: bool = True,
        intra_threads: Optional[int] = None,
    ) -> None: ...
    def translate(self, text: str) -> str:
        """Translates one line; the GIL is released while it runs."""
    def translate_batch(self, lines: List[str]) -> List[str]:
        """Translates lines on ``threads`` threads; one output per line, in order."""
    def translate_stream(self, text: str) -> Stream:
        """Translates one line on a thread of its own, yielding text as it is decoded."""
    def attention(self, text: str, encoder: bool = False) -> List[Attention]:
        """Translates one line and returns what each source sentence's translation attended
        to, in order (with the encoder's self-attention when ``encoder``); the translations
        are those ``translate`` gives. The GIL is released while it runs."""
    def translate_html(self, html: str) -> str:
        """Translates an HTML fragment, keeping its markup on the translated words; raises
        ``MarkupError`` (a ``ValueError``) for a fragment that is not well-formed."""
    @property
    def info(self) -> Dict[str, Any]:
        """Architecture (``spec``, ``dimensions``), ``hyperparameters``, ``languages``,
        ``tensors`` and the ``memory`` plan (``workspace_bytes`` per thread...) for these
        settings; ``report`` is what ``tern inspect`` prints."""
    @property
    def path(self) -> str:
        """Canonical path of the model file."""
    @property
    def threads(self) -> int: ...
    @property
    def _model_id(self) -> int: ...

class Route:
    """Models by language: Firefox's catalogue through tern's cache (as ``tern translate
    --from es --to ru``): a cached model, else one fetched (size and sha256 checked, converted,
    cached), else two through English. Raises ``CatalogueError`` when there is no route, or
    offline without the models."""

    def __init__(
        self,
        source: str,
        target: str,
        *,
        cache_dir: Optional[Union[str, os.PathLike]] = None,
        catalogue: Optional[str] = None,
        offline: bool = False,
        threads: int = 1,
        beam: Optional[int] = None,
        max_len: Optional[int] = None,
        max_src_len: Optional[int] = None,
        batch: Optional[int] = None,
    ) -> None: ...
    @property
    def route(self) -> str:
        """The languages in order: ``"es -> en -> ru"``."""
    def translate(self, text: str) -> str: ...
    def translate_batch(self, lines: List[str]) -> List[str]: ...

def _loaded_models() -> Dict[str, int]:
    """Models loaded in this process: canonical path -> number of holders of its map."""
