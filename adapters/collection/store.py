"""The document index folder: settings, indexing state and one vector index per component.

```
DIR/
  index.json      IndexSettings (model, kind, chunking, widths) + format version
  state.sqlite    source units -> content digest and chunk ids (adapters.collection.state)
  dense/          indexes.FaissIndex (cosine; flat unless dense_index)     kinds dense, hybrid
  tokens/         adapters.pipeline.MaxSimIndex (exact), or late_interaction.PlaidIndex
                  with multivector_index = "plaid"                         multivector, hybrid
  sparse/         indexes.SparseIndex                                      kind sparse
```

Every component holds the same chunk ids with the same metadata, so each one answers on its
own and filters work everywhere.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from adapters.collection.embedder import COMPONENTS, Encoded, check_kind
from adapters.collection.state import IndexState
from retrieval.errors import ConfigError, IndexCorruptError, IndexFormatError, IndexNotFoundError
from retrieval.storage import atomic_write

SETTINGS_FILE = "index.json"
STATE_FILE = "state.sqlite"
FORMAT = 1


@dataclass(frozen=True)
class IndexSettings:
    """How a document index was built; fixed when the index is created."""

    model: str
    """Model name or folder, as given (``retrieval index --model``)."""
    kind: str
    """``dense | sparse | multivector | hybrid``."""
    chunk_tokens: int = 200
    """Tokens per chunk (model limit minus its special tokens at most)."""
    chunk_overlap: int = 40
    """Tokens shared by consecutive chunks of one document."""
    dim: int = 0
    """Dense / token vector width (0 for sparse)."""
    vocab_size: int = 0
    """Sparse vocabulary size (0 for dense kinds)."""
    one_pass: bool = False
    """Hybrid only: dense and token vectors come from one forward pass."""
    images: bool = False
    """A multi-modal model: image files and PDF pages are indexed as images."""
    dense_index: str = "flat"
    """FAISS kind of the dense component: ``flat | ivf | hnsw | ivfpq | sq8``."""
    multivector_index: str = "exact"
    """Token component: ``exact`` (MaxSim over every token) or ``plaid`` (PlaidIndex)."""
    plaid: dict[str, Any] = field(default_factory=dict)
    """Extra ``PlaidIndex.create`` options."""
    search: dict[str, Any] = field(default_factory=dict)
    """Search settings from a pipeline TOML (``depth``, ``fusion``, ``rrf_k``, ``weights``,
    ``rerank``), used by ``retrieval search`` unless overridden there."""
    format: int = FORMAT

    @classmethod
    def from_json(cls, path: Path) -> IndexSettings:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            known = {f.name for f in fields(cls)}
            return cls(**{k: v for k, v in raw.items() if k in known})
        except (OSError, ValueError, TypeError) as err:
            msg = f"{path} is unreadable ({err}); rebuild the index into a new folder."
            raise IndexCorruptError(msg) from err


class DocumentIndex:
    """Chunks with their vectors and metadata in one folder; opened for indexing or search."""

    def __init__(self, path: Path, settings: IndexSettings, parts: dict[str, Any]) -> None:
        self.path = path
        self.settings = settings
        self.parts = parts
        """Component name -> vector index (``dense``, ``tokens``, ``sparse``)."""
        self.state = IndexState(path / STATE_FILE)

    @classmethod
    def exists(cls, path: str | Path) -> bool:
        return (Path(path) / SETTINGS_FILE).is_file()

    @classmethod
    def create(cls, path: str | Path, settings: IndexSettings) -> DocumentIndex:
        folder = Path(path)
        if folder.exists() and not folder.is_dir():
            msg = f"--index {folder} exists and is not a folder; choose a folder path."
            raise ConfigError(msg)
        if folder.is_dir() and not cls.exists(folder):
            _clear_unfinished(folder)
        others = [c for c in folder.iterdir() if c.name != LOCK_FILE] if folder.is_dir() else []
        if others and not cls.exists(folder):
            msg = (
                f"--index {folder} is a non-empty folder without an index; choose an empty or "
                "new folder (the index must not mix with other files)."
            )
            raise ConfigError(msg)
        check_kind(settings.kind)
        folder.mkdir(parents=True, exist_ok=True)
        parts = {name: _create_part(folder / name, name, settings) for name in _parts(settings)}
        text = json.dumps(asdict(settings), indent=2) + "\n"
        # index.json last: a folder without it is not an index yet, and is created afresh.
        atomic_write(folder / SETTINGS_FILE, lambda p: _write_text(p, text))
        return cls(folder, settings, parts)

    @classmethod
    def open(cls, path: str | Path) -> DocumentIndex:
        folder = Path(path)
        if not cls.exists(folder):
            msg = (
                f"No document index at {folder} ({SETTINGS_FILE} is missing). Build one with: "
                f"retrieval index SOURCE --index {folder}"
            )
            raise IndexNotFoundError(msg)
        settings = IndexSettings.from_json(folder / SETTINGS_FILE)
        if not isinstance(settings.format, int) or settings.format > FORMAT:
            msg = (
                f"{folder} was written by a newer retrieval-toolkit (document index format "
                f"{settings.format!r}; this version reads up to {FORMAT}). Upgrade: "
                "pip install -U retrieval-toolkit."
            )
            raise IndexFormatError(msg)
        parts = {name: _open_part(folder / name, name, settings) for name in _parts(settings)}
        return cls(folder, settings, parts)

    def __len__(self) -> int:
        """Number of indexed chunks."""
        return len(next(iter(self.parts.values())))

    def add(
        self, ids: Sequence[str], encoded: Encoded, metadata: Sequence[Mapping[str, Any]]
    ) -> None:
        """Upsert chunks into every component."""
        inputs = {"dense": encoded.dense, "tokens": encoded.tokens, "sparse": encoded.sparse}
        for name, part in self.parts.items():
            part.add(list(ids), inputs[name], list(metadata))

    def delete(self, ids: Sequence[str]) -> None:
        for part in self.parts.values():
            part.delete(list(ids))

    def save(self) -> None:
        for part in self.parts.values():
            part.save()

    def close(self) -> None:
        self.state.close()


LOCK_FILE = ".lock"
_OWN_NAMES = frozenset({"dense", "tokens", "sparse", STATE_FILE, f"{STATE_FILE}-wal",
                        f"{STATE_FILE}-shm", f".tmp-{SETTINGS_FILE}", LOCK_FILE})  # fmt: skip


@contextlib.contextmanager
def writer_lock(folder: Path) -> Iterator[None]:
    """Hold the index folder's single-writer lock (``flock``: released by the OS when the
    process dies, so a killed run never leaves a stale lock)."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; one writer is the caller's job
        yield
        return
    if folder.exists() and not folder.is_dir():
        msg = f"--index {folder} exists and is not a folder; choose a folder path."
        raise ConfigError(msg)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / LOCK_FILE).open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            msg = (
                f"Another `retrieval index` is writing {folder} right now; wait for it to "
                "finish (or stop it: the next run resumes where it stopped)."
            )
            raise ConfigError(msg) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _clear_unfinished(folder: Path) -> None:
    """Remove what a creation killed before writing ``index.json`` left behind (and only
    that: a folder holding anything else is refused by the caller)."""
    children = list(folder.iterdir())
    if not children or any(child.name not in _OWN_NAMES for child in children):
        return
    for child in children:
        if child.name == LOCK_FILE:
            continue
        if child.is_dir():
            shutil.rmtree(child)
        else:
            child.unlink()


def _write_text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def _parts(settings: IndexSettings) -> tuple[str, ...]:
    return COMPONENTS[check_kind(settings.kind)]


def _create_part(path: Path, name: str, settings: IndexSettings) -> Any:
    if name == "dense":
        from indexes import FaissIndex

        return FaissIndex.create(path, dim=settings.dim, kind=settings.dense_index, metric="cosine")
    if name == "tokens":
        if settings.multivector_index == "plaid":
            from late_interaction import PlaidIndex

            return PlaidIndex.create(path, dim=settings.dim, **settings.plaid)
        from adapters.collection.maxsim_index import MaxSimIndex

        return MaxSimIndex.create(path, dim=settings.dim)
    from indexes import SparseIndex

    return SparseIndex.create(path, vocab_size=settings.vocab_size)


def _open_part(path: Path, name: str, settings: IndexSettings) -> Any:
    if name == "dense":
        from indexes import FaissIndex

        return FaissIndex.open(path, device="cpu")
    if name == "tokens":
        if settings.multivector_index == "plaid":
            from late_interaction import PlaidIndex

            return PlaidIndex.open(path)
        from adapters.collection.maxsim_index import MaxSimIndex

        return MaxSimIndex.open(path)
    from indexes import SparseIndex

    return SparseIndex.open(path)
