"""Sources to index: a folder of files, a single file, a BEIR ``corpus.jsonl`` or a JSONL of
``{"id", "text", "metadata"}`` records.

Scanning yields ``Unit``s, the grain of incremental indexing: one per file of a folder, one per
record of a JSONL. A unit has a stable ``key`` (absolute file path, or ``path::id`` for a
record), a ``digest`` of its content (SHA-256) and loads its ``Document``s lazily, so a re-run
reads only new or changed files.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.collection.indexing.readers import (
    FOLDER_SUFFIXES,
    IMAGE_SUFFIXES,
    PDF_SUFFIXES,
    UnreadableFileError,
    read_images,
    read_pages,
)
from retrieval.errors import ConfigError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Document:
    """Text to chunk and index, with the metadata every chunk of it carries."""

    id: str
    """Document id: ``<folder name>/<path inside it>`` for a folder's files, the file name
    for a file given alone, the record's id for JSONL."""
    text: str
    page: int | None = None
    """1-based PDF page (the text is that page's); None otherwise."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """At least ``source`` (the file path) for files; a record's own metadata for JSONL."""
    image: Any = None
    """For multi-modal models: the image (a PIL image; ``text`` is then empty)."""


@dataclass(frozen=True)
class Unit:
    """One incrementally tracked item: a file or a JSONL record."""

    key: str
    doc_id: str
    """The id its chunks are named after (unique across the sources of one index)."""
    digest: str
    load: Callable[[], list[Document]]
    """Reads the unit; raises ``UnreadableFileError`` when it cannot."""


@dataclass
class Scan:
    """What ``scan_sources`` found."""

    units: list[Unit] = field(default_factory=list)
    ignored: int = 0
    """Files in source folders with a type that is not indexed."""
    skipped: list[str] = field(default_factory=list)
    """Reasons for records that could not be parsed (malformed JSONL lines)."""


def check_sources(sources: list[str | Path]) -> None:
    """Fail early, naming the fix, when a source does not exist."""
    for source in sources:
        if not Path(source).exists():
            msg = (
                f"Source {str(source)!r} does not exist. Give a folder of .txt/.md/.html/.pdf "
                'files, a BEIR corpus.jsonl or a JSONL of {"id", "text", "metadata"}.'
            )
            raise ConfigError(msg)


def scan_sources(sources: list[str | Path], *, images: bool = False) -> Scan:
    """Every unit of every source, in a stable order; ids must be unique across sources.
    ``images``: for a multi-modal model, image files are indexed too and PDFs as page images."""
    check_sources(sources)
    scan = Scan()
    suffixes = FOLDER_SUFFIXES + (IMAGE_SUFFIXES if images else ())
    for source in sources:
        path = Path(source)
        if path.is_dir():
            _scan_folder(path, scan, suffixes, images)
        elif path.suffix.lower() == ".jsonl":
            _scan_jsonl(path, scan)
        elif path.suffix.lower() in suffixes:
            scan.units.append(_file_unit(path, path.name, images))
        else:
            msg = (
                f"Cannot index {str(source)!r}: unknown file type {path.suffix!r}. Valid: a "
                f"folder, .jsonl, {', '.join(suffixes)}."
            )
            raise ConfigError(msg)
    _check_unique(scan.units)
    return scan


def _scan_folder(folder: Path, scan: Scan, suffixes: tuple[str, ...], images: bool) -> None:
    # Ids start with the folder's own name ("docs/intro.md"), so folders indexed side by side
    # (and files given alone, named by their file name) rarely collide.
    prefix = folder.resolve().name
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts) or not path.is_file():
            continue  # hidden files and folders (.git, editor swap files) are never content
        if path.suffix.lower() in suffixes:
            scan.units.append(_file_unit(path, f"{prefix}/{relative.as_posix()}", images))
        else:
            scan.ignored += 1


def _file_unit(path: Path, doc_id: str, images: bool = False) -> Unit:
    absolute = path.resolve()
    try:
        digest = hashlib.sha256(absolute.read_bytes()).hexdigest()
    except OSError as err:
        # Still a unit: loading fails the same way and the run counts it as skipped.
        digest = f"unreadable:{err.errno}"

    def load() -> list[Document]:
        source = {"source": str(absolute)}
        if images and absolute.suffix.lower() in IMAGE_SUFFIXES + PDF_SUFFIXES:
            return [
                Document(doc_id, "", page, dict(source), image)
                for page, image in read_images(absolute)
            ]
        return [Document(doc_id, text, page, dict(source)) for page, text in read_pages(absolute)]

    return Unit(str(absolute), doc_id, digest, load)


def _scan_jsonl(path: Path, scan: Scan) -> None:
    absolute = path.resolve()
    for number, line in _lines(absolute):
        try:
            record = json.loads(line)
            doc = _record_document(record)
        except (ValueError, TypeError) as err:
            scan.skipped.append(f"{absolute}:{number}: {err}")
            continue
        digest = hashlib.sha256(line.encode("utf-8")).hexdigest()
        scan.units.append(Unit(f"{absolute}::{doc.id}", doc.id, digest, _loaded(doc)))


def _loaded(doc: Document) -> Callable[[], list[Document]]:
    return lambda: [doc]


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    try:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if line.strip():
                    yield number, line
    except (OSError, UnicodeDecodeError) as err:
        msg = f"{path}: cannot read this JSONL file ({err}). Check the path and that it is UTF-8."
        raise UnreadableFileError(msg) from err


def _record_document(record: Any) -> Document:
    """A BEIR record ``{"_id", "title", "text"}`` or ``{"id", "text", "metadata"}``."""
    if not isinstance(record, dict):
        msg = f"expected a JSON object, got {type(record).__name__}"
        raise TypeError(msg)
    raw_id = record.get("_id", record.get("id"))
    text = record.get("text")
    if raw_id is None or not isinstance(text, str):
        msg = 'a record needs "id" (or BEIR "_id") and a string "text"'
        raise ValueError(msg)
    metadata = dict(record.get("metadata") or {})
    title = record.get("title")
    if isinstance(title, str) and title:
        metadata.setdefault("title", title)
        text = f"{title}\n{text}"
    return Document(str(raw_id), text, None, metadata)


def _check_unique(units: list[Unit]) -> None:
    seen: dict[str, str] = {}
    for unit in units:
        if unit.doc_id in seen:
            msg = (
                f"Document id {unit.doc_id!r} comes from both {seen[unit.doc_id]} and "
                f"{unit.key}; ids must be unique in one index (rename one, or index them "
                "into separate folders)."
            )
            raise ConfigError(msg)
        seen[unit.doc_id] = unit.key
