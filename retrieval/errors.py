"""The toolkit's exception hierarchy.

Every error a user can trigger says what was wrong, shows the offending value and names the
fix. Exceptions subclass the built-in type a caller would naturally catch (``ValueError`` for
bad input, ``FileNotFoundError`` for missing models, ``ImportError`` for missing extras), so
code written against vLLM or sentence-transformers keeps working.
"""

from __future__ import annotations


class RetrievalError(Exception):
    """Base class of every error raised by the toolkit."""


class ConfigError(RetrievalError, ValueError):
    """A configuration or request value is invalid."""


class InputTooLongError(ConfigError):
    """An input has more tokens than the model accepts and truncation was not requested."""


class ModelNotFoundError(RetrievalError, FileNotFoundError):
    """A model name or path could not be resolved to a local folder."""


class UnsafeModelError(RetrievalError, PermissionError):
    """Loading the model would execute code or unpickle data the caller did not allow."""


class DeviceUnavailableError(RetrievalError, RuntimeError):
    """The requested device (e.g. ``cuda``) does not exist on this machine."""


class MissingDependencyError(RetrievalError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f"{package!r} is not installed. Install it with: "
            f'pip install "retrieval-toolkit[{extra}]"'
        )
        self.package = package
        self.extra = extra


class FilterError(ConfigError):
    """A metadata filter uses an unknown operator or a value the operator cannot take."""


class IndexNotFoundError(RetrievalError, FileNotFoundError):
    """A folder holds no committed index (no ``manifest.json``)."""


class IndexCorruptError(RetrievalError, ValueError):
    """An index folder is damaged: unreadable manifest, missing, truncated or altered files."""


class IndexFormatError(RetrievalError, ValueError):
    """An index was written in a format this version cannot read (newer, or another kind)."""
