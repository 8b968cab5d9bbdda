"""Crash-safe index folders: generation files, checksums and a manifest written last.

Layout of a folder::

    manifest.json               the commit record: format version, kind, dim, metric, count,
                                config, state and the files of the current generation
    vectors.g000007.faiss       component files, one set per generation, never overwritten
    metadata.g000007.sqlite

``IndexFolder.commit`` writes every component of the next generation under a new name (temp
file, fsync, rename), then replaces ``manifest.json`` the same way; that rename is the commit
point. A crash before it leaves the previous manifest pointing at the previous generation,
which is still intact; files of an interrupted commit are swept by the next one. Opening
checks the manifest and each file's size and SHA-256. Nothing is pickled.

One process writes a folder at a time. Another process opening the folder while a commit
sweeps old files may see them vanish and should retry.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.errors import ConfigError, IndexCorruptError, IndexFormatError, IndexNotFoundError

FORMAT_VERSION = 2
"""Newest folder format this version reads. A kind writes the oldest format that describes
its files (1; 2 for ``SparseIndex``'s term-major postings), so older releases keep opening
every folder whose files they know and refuse, with an upgrade hint, the ones they do not."""
MANIFEST_NAME = "manifest.json"
_GENERATION_FILE = re.compile(r"^[a-z0-9_]+\.g\d{6,}\.[a-z0-9]+$")
_TEMP_PREFIX = ".tmp-"

Writer = Callable[[Path], None]
"""Writes one component to the path it is given (a fresh file in the index folder)."""


@dataclass(frozen=True)
class FileEntry:
    """One component file of a committed generation."""

    path: str
    """File name inside the folder."""
    bytes: int
    """Size in bytes; a shorter file is reported as truncated."""
    sha256: str
    """Hex SHA-256 of the whole file."""


@dataclass(frozen=True)
class Manifest:
    """The commit record of an index folder (``manifest.json``)."""

    kind: str
    """Which index wrote the folder: ``faiss``, ``sparse``, ``exact``, ..."""
    dim: int
    """Vector dimension (the vocabulary size for sparse indexes)."""
    metric: str
    """Similarity the index ranks by (``cosine``, ``ip``, ``l2``, ``dot``)."""
    count: int
    """Number of live items at commit time."""
    generation: int = 0
    """Incremented by every commit; names this commit's files."""
    format_version: int = 1
    """Folder format; a newer one than ``FORMAT_VERSION`` is refused on open."""
    config: dict[str, Any] = field(default_factory=dict)
    """The index's creation config (JSON)."""
    state: dict[str, Any] = field(default_factory=dict)
    """Index-specific state needed to reopen it (JSON), e.g. whether IVF is trained."""
    files: dict[str, FileEntry] = field(default_factory=dict)
    """Component name -> file of this generation."""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True, allow_nan=False) + "\n"

    @classmethod
    def from_json(cls, text: str, source: Path) -> Manifest:
        """Parse and type-check a manifest; anything off is an ``IndexCorruptError``."""
        try:
            raw = json.loads(text)
            files = {name: FileEntry(**entry) for name, entry in raw.pop("files").items()}
            manifest = cls(files=files, **raw)
        except (ValueError, TypeError, KeyError, AttributeError) as err:
            msg = (
                f"{source} is unreadable or incomplete ({type(err).__name__}: {err}). The "
                "index folder is damaged: restore it from a backup or rebuild the index."
            )
            raise IndexCorruptError(msg) from err
        if not isinstance(manifest.format_version, int) or not isinstance(manifest.count, int):
            msg = f"{source} has malformed fields (format_version / count must be integers)."
            raise IndexCorruptError(msg)
        return manifest


def fsync_dir(path: Path) -> None:
    """Make renames inside ``path`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 8 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(8 << 20):
            digest.update(block)
    return digest.hexdigest()


def atomic_write(path: Path, write: Writer, *, unique_temp: bool = False) -> FileEntry:
    """Write ``path`` all-or-nothing: ``write`` fills a temp file, which is fsynced and renamed.

    ``unique_temp`` gives every call its own temp name, for writers that may race on one path
    (a retried task and a presumed-dead worker): whichever rename lands last wins."""
    if unique_temp:
        temp = path.with_name(f"{_TEMP_PREFIX}{uuid.uuid4().hex}-{path.name}")
    else:
        temp = path.with_name(_TEMP_PREFIX + path.name)
        temp.unlink(missing_ok=True)
    try:
        write(temp)
        with temp.open("rb+") as handle:
            os.fsync(handle.fileno())
        entry = FileEntry(path.name, temp.stat().st_size, sha256_file(temp))
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return entry


class IndexFolder:
    """An index folder on disk: reads and validates its manifest, commits new generations."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    @classmethod
    def create(cls, path: str | os.PathLike[str], opener: str) -> IndexFolder:
        """Make (or reuse an empty) folder for a new index; refuse one that holds an index."""
        folder = cls(path)
        if (folder.path / MANIFEST_NAME).exists():
            msg = (
                f"{folder.path} already holds an index. Open it with {opener}({str(path)!r}) "
                "or choose another path."
            )
            raise ConfigError(msg)
        if folder.path.exists() and not folder.path.is_dir():
            msg = f"Index path {folder.path} exists and is not a folder."
            raise ConfigError(msg)
        folder.path.mkdir(parents=True, exist_ok=True)
        return folder

    def read_manifest(self, kind: str, creator: str, *, verify: bool = True) -> Manifest:
        """Load and validate the manifest of a ``kind`` index and, with ``verify``, every
        file's size and checksum. ``creator`` names the call that makes such an index."""
        source = self.path / MANIFEST_NAME
        if not source.is_file():
            msg = (
                f"No index at {self.path}: {MANIFEST_NAME} is missing (never created, or the "
                f"first save never completed). Create one with {creator}({str(self.path)!r})."
            )
            raise IndexNotFoundError(msg)
        manifest = Manifest.from_json(source.read_text(encoding="utf-8"), source)
        if manifest.format_version > FORMAT_VERSION:
            msg = (
                f"{self.path} was written by a newer retrieval-toolkit (format version "
                f"{manifest.format_version}; this version reads up to {FORMAT_VERSION}). "
                "Upgrade: pip install -U retrieval-toolkit."
            )
            raise IndexFormatError(msg)
        if manifest.kind != kind:
            msg = (
                f"{self.path} holds a {manifest.kind!r} index, not a {kind!r} one; open it with "
                "the class that created it."
            )
            raise IndexFormatError(msg)
        for entry in manifest.files.values():
            self._check_file(entry, verify=verify)
        return manifest

    def file(self, manifest: Manifest, name: str) -> Path:
        """Path of component ``name`` in the committed generation."""
        if name not in manifest.files:
            msg = f"{self.path / MANIFEST_NAME} lists no {name!r} file; the folder is damaged."
            raise IndexCorruptError(msg)
        return self.path / manifest.files[name].path

    def commit(self, manifest: Manifest, writers: Mapping[str, tuple[str, Writer]]) -> Manifest:
        """Write the components (``name -> (suffix, writer)``) as generation
        ``manifest.generation + 1``, then the manifest, then sweep older files."""
        generation = manifest.generation + 1
        files = {
            name: atomic_write(self.path / f"{name}.g{generation:06d}.{suffix}", write)
            for name, (suffix, write) in writers.items()
        }
        committed = replace(manifest, generation=generation, files=files)
        text = committed.to_json()
        atomic_write(self.path / MANIFEST_NAME, lambda path: _write_text(path, text))
        self._sweep({entry.path for entry in files.values()})
        return committed

    def _check_file(self, entry: FileEntry, *, verify: bool) -> None:
        path = self.path / entry.path
        if not path.is_file():
            msg = (
                f"Index file {path} listed in {MANIFEST_NAME} is missing; restore the folder "
                "from a backup or rebuild the index."
            )
            raise IndexCorruptError(msg)
        size = path.stat().st_size
        if size != entry.bytes:
            msg = (
                f"Index file {path} is truncated or altered: {size} bytes, the manifest says "
                f"{entry.bytes}. Restore the folder from a backup or rebuild the index."
            )
            raise IndexCorruptError(msg)
        if verify and sha256_file(path) != entry.sha256:
            msg = (
                f"Index file {path} does not match its SHA-256 checksum (corrupted on disk). "
                "Restore the folder from a backup or rebuild the index."
            )
            raise IndexCorruptError(msg)

    def _sweep(self, keep: set[str]) -> None:
        """Delete files of older generations and leftovers of interrupted commits."""
        for child in self.path.iterdir():
            stale = _GENERATION_FILE.match(child.name) or child.name.startswith(_TEMP_PREFIX)
            if stale and child.name not in keep and child.is_file():
                child.unlink(missing_ok=True)


def npy_writer(array: np.ndarray) -> Writer:
    """A ``Writer`` that saves ``array`` as ``.npy`` (never pickled)."""

    def write(path: Path) -> None:
        with path.open("wb") as handle:
            np.save(handle, array, allow_pickle=False)

    return write


def read_npy(path: Path) -> np.ndarray:
    """Load an ``.npy`` component; an unreadable file is an ``IndexCorruptError``."""
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        msg = f"Index file {path} is unreadable ({err}). Restore the folder or rebuild the index."
        raise IndexCorruptError(msg) from err


def _write_text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
