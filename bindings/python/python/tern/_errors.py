"""tern's exceptions. Defined in Python so that a class can have two bases: a bad setting is a
``TernError`` and, like any bad argument in Python, a ``ValueError``."""


class TernError(Exception):
    """Base class of the errors tern raises (a missing or unreadable file is an ``OSError``
    instead: ``FileNotFoundError``, ``PermissionError``, ``IsADirectoryError``...)."""


class ModelError(TernError):
    """The file is not a model tern can load: not GGUF, damaged, or of an unsupported kind."""


class SettingError(TernError, ValueError):
    """A setting outside its valid range (``beam=0``, ``threads=0``...); the message is the
    one the ``tern`` CLI and the C API give for the same mistake."""


class LanguageError(SettingError):
    """A multilingual model (NLLB, M2M100) without a language it needs, or with a code it does
    not know; the message lists the model's codes."""


class MarkupError(TernError, ValueError):
    """An HTML fragment that is not well-formed (``Translator.translate_html``); the message
    says where: ``bad HTML at byte 2: ...``."""


class CatalogueError(TernError):
    """Models by language (``tern.Route``): no route, offline without the models, a download
    that failed or did not match the catalogue's hash."""


class TranslationError(TernError):
    """A line that could not be translated (``translate_batch`` says which line)."""
