"""``index_sources``: incremental, resumable indexing of folders and JSONL files.

A run scans the sources, compares each unit's content digest with the state of the index,
removes units that disappeared, and (re)indexes new and changed ones in batches. Batches are
added to the vector indexes one by one and committed together (indexes saved, then the
state) at checkpoints, so a run killed at any moment loses at most the work since the last
checkpoint, and the next run redoes exactly that.

Saving rewrites each index's files whole, so saving after every batch would write O(n²)
bytes over a large corpus. A checkpoint is due once the unsaved chunks reach ``batch_size``
or ``CHECKPOINT_GROWTH`` of the index, whichever is more: small indexes still save every
batch, and on a large one all saves together write at most about 10x the final index while
a kill costs at most a tenth of the index to re-encode.
"""

from __future__ import annotations

import itertools
import logging
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.collection.collection import Collection
from adapters.collection.format import writer_lock
from adapters.collection.indexing.backends import ChunkEncoder, EncoderBackend, Feed, LocalEncoder
from adapters.collection.indexing.chunking import chunk_text
from adapters.collection.indexing.readers import UnreadableFileError
from adapters.collection.indexing.setup import IndexOptions, migrate_old, open_or_create
from adapters.collection.indexing.sources import Document, Unit, check_sources, scan_sources
from retrieval.errors import ConfigError, IndexCorruptError

logger = logging.getLogger(__name__)

PAUSE_ENV = "RETRIEVAL_INDEX_PAUSE_AFTER_BATCH"
"""Seconds to sleep after each checkpoint: lets tests kill a run between commits."""

CHECKPOINT_GROWTH = 0.1
"""Unsaved chunks, as a fraction of the index, that make a checkpoint due (module doc)."""


@dataclass
class IndexReport:
    """What one run did."""

    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    chunks: int = 0
    """Chunks embedded and written by this run."""
    tokens: int = 0
    """Model tokens embedded by this run."""
    total_chunks: int = 0
    """Chunks in the index after the run."""
    skipped: list[str] = field(default_factory=list)
    """Why each unreadable file or malformed record was skipped."""
    ignored: int = 0
    """Files of types that are not indexed."""
    seconds: float = 0.0
    execution: dict[str, Any] = field(default_factory=dict)
    """How the chunks were encoded: ``{"encoder": "local", "device"}`` or ``{"encoder":
    "ray", "address", "actors", "gpus_per_actor", "windows", "shards", "shard_size"}``."""
    migrated: str | None = None
    """What a 0.1 folder converted to a collection by this run was (None: nothing)."""


@dataclass
class _Prepared:
    unit: Unit
    ids: list[str]
    texts: list[Any]
    """Chunk texts (or page images for a multi-modal model)."""
    metadata: list[dict[str, Any]]
    tokens: int = 0


def index_sources(
    sources: Sequence[str | Path],
    index_dir: str | Path,
    *,
    model: str | None = None,
    kind: str | None = None,
    chunk_tokens: int | None = None,
    chunk_overlap: int | None = None,
    batch_size: int = 256,
    device: str = "auto",
    progress: bool = True,
    config: str | Path | None = None,
    page_images: int | None = None,
    backend: EncoderBackend | None = None,
) -> IndexReport:
    """Bring the collection at ``index_dir`` in line with ``sources`` (module docstring).

    ``model`` / ``kind`` / chunking default to the collection's own settings, or for a new
    one to the embedded all-MiniLM-L6-v2, ``hybrid`` (``multivector`` for an image model)
    and 200-token chunks overlapping by 40. ``batch_size`` is the number of chunks embedded
    and added together (saved at checkpoints). ``config`` is a pipeline TOML; explicit
    arguments override it. ``backend`` encodes elsewhere (``adapters.ray.RayBackend``);
    the collection comes out the same. A 0.1 index folder is converted first.
    """
    started = time.perf_counter()
    if batch_size < 1:
        msg = f"batch size must be a positive number of chunks; got {batch_size}."
        raise ConfigError(msg)
    check_sources(list(sources))
    options = IndexOptions(model, kind, chunk_tokens, chunk_overlap, config, page_images)
    folder = Path(index_dir)
    with writer_lock(folder):
        migrated = migrate_old(folder)
        collection = open_or_create(folder, options, device)
        try:
            report = _run(sources, collection, batch_size, device, progress, backend)
        finally:
            collection.close()
    report.migrated = migrated
    for reason in report.skipped:
        logger.warning("skipped %s", reason)
    report.seconds = time.perf_counter() - started
    return report


def _run(
    sources: Sequence[str | Path],
    collection: Collection,
    batch_size: int,
    device: str,
    progress: bool,
    backend: EncoderBackend | None,
) -> IndexReport:
    scan = scan_sources(list(sources), images=bool(collection.manifest.encoder.get("images")))
    report = IndexReport(ignored=scan.ignored, skipped=list(scan.skipped))
    encoder = collection.encoder
    chunk_encoder = (
        LocalEncoder(encoder, device) if backend is None else backend.open(collection, progress)
    )
    with chunk_encoder:
        known = collection.state.units()
        keys = {unit.key for unit in scan.units}
        gone = [key for key in known if key not in keys]
        todo = [u for u in scan.units if not _current(known.get(u.key), u.digest)]
        report.unchanged = len(scan.units) - len(todo)
        if gone:
            collection.delete([i for key in gone for i in known[key].all_ids()])
            collection.save(forget=gone)
            report.removed = len(gone)
        _index_units(collection, chunk_encoder, todo, known, batch_size, progress, report)
        report.total_chunks = len(collection)
    collection.sweep_pages()
    report.execution = chunk_encoder.describe()
    return report


def _current(state: Any, digest: str) -> bool:
    return state is not None and state.done and state.digest == digest


def _index_units(
    collection: Collection,
    encoder: ChunkEncoder,
    todo: list[Unit],
    known: dict[str, Any],
    batch_size: int,
    progress: bool,
    report: IndexReport,
) -> None:
    """Prepare units into batches of about ``batch_size`` chunks, encode them a window
    (``encoder.window`` chunks) at a time, add them batch by batch, and commit at
    checkpoints (module doc)."""
    if not todo:
        return
    tokenizer = collection.encoder.llm.get_tokenizer()
    pause = float(os.environ.get(PAUSE_ENV, "0") or 0)
    unsaved = _Unsaved()
    with _Progress(len(todo), progress, report) as bar:
        batches = _batches(todo, tokenizer, collection, batch_size, report, bar)
        for window in _windows(batches, encoder.window):
            ids = [i for batch, _ in window for p in batch for i in p.ids]
            texts = [t for batch, _ in window for p in batch for t in p.texts]
            feed = Feed(encoder.encode(ids, texts))
            for batch, full in window:
                _add_batch(collection, feed, batch, known, report, bar, unsaved)
                if unsaved.chunks >= max(batch_size, CHECKPOINT_GROWTH * len(collection)):
                    _checkpoint(collection, unsaved)
                    if pause and full:
                        time.sleep(pause)
        _checkpoint(collection, unsaved)


@dataclass
class _Unsaved:
    """Batches added since the last checkpoint: their units are pending in the state until
    ``_checkpoint`` saves the collection and marks them done in the same commit."""

    done: dict[str, tuple[str, list[str], int]] = field(default_factory=dict)
    chunks: int = 0


def _checkpoint(collection: Collection, unsaved: _Unsaved) -> None:
    if not unsaved.done:
        return
    collection.save(done=unsaved.done)
    unsaved.done, unsaved.chunks = {}, 0


_Batch = tuple[list["_Prepared"], bool]
"""Prepared units added together, and whether the batch reached ``batch_size``."""


def _batches(
    todo: list[Unit],
    tokenizer: Any,
    collection: Collection,
    batch_size: int,
    report: IndexReport,
    bar: _Progress,
) -> Iterator[_Batch]:
    batch: list[_Prepared] = []
    for unit in todo:
        prepared = _prepare(unit, tokenizer, collection, report)
        if prepared is None:
            bar.advance(1)
            continue
        batch.append(prepared)
        if sum(len(p.ids) for p in batch) >= batch_size:
            yield batch, True
            batch = []
    if batch:
        yield batch, False


def _windows(batches: Iterator[_Batch], size: int) -> Iterator[list[_Batch]]:
    """Consecutive batches holding at least ``size`` chunks (one batch when ``size`` is 0)."""
    window: list[_Batch] = []
    for batch in batches:
        window.append(batch)
        if sum(len(p.ids) for b, _ in window for p in b) >= size:
            yield window
            window = []
    if window:
        yield window


class _Progress:
    """tqdm over documents (docs/s and ETA) with the embedding rate in tokens/s."""

    def __init__(self, total: int, enabled: bool, report: IndexReport) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, unit="doc", file=sys.stderr, disable=not enabled)
        self.report = report
        self.started = time.perf_counter()
        self.tokens = 0

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()

    def embedded(self, tokens: int, documents: int) -> None:
        self.tokens += tokens
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        self.bar.set_postfix_str(f"{self.tokens / elapsed:,.0f} tok/s", refresh=False)
        self.advance(documents)

    def advance(self, documents: int) -> None:
        self.bar.update(documents)


def _prepare(
    unit: Unit, tokenizer: Any, collection: Collection, report: IndexReport
) -> _Prepared | None:
    try:
        documents = unit.load()
    except UnreadableFileError as err:
        report.skipped.append(str(err))
        return None
    chunking = collection.manifest.chunking or {}
    size, overlap = chunking.get("chunk_tokens", 200), chunking.get("chunk_overlap", 40)
    out = _Prepared(unit, [], [], [])
    for doc in documents:
        if doc.image is not None:  # a page image for a multi-modal model: one item, no text
            out.texts.append(doc.image)
            meta = dict(doc.metadata, doc_id=doc.id)
            if doc.page is not None:
                meta["page"] = doc.page
            out.metadata.append(meta)
            continue
        for chunk in chunk_text(doc.text, tokenizer, size, overlap):
            out.texts.append(chunk.text)
            out.tokens += chunk.n_tokens
            out.metadata.append(_chunk_metadata(doc, chunk.start, chunk.end))
    n = len(out.texts)
    out.ids = [unit.doc_id] if n == 1 else [f"{unit.doc_id}#{i}" for i in range(n)]
    for i, (chunk_id, item, meta) in enumerate(zip(out.ids, out.texts, out.metadata, strict=True)):
        meta["chunk"] = i
        if not isinstance(item, str):
            thumbnail = collection.save_page_image(chunk_id, item)
            if thumbnail is not None:
                meta["thumbnail"] = thumbnail
    return out


def _chunk_metadata(doc: Document, start: int, end: int) -> dict[str, Any]:
    meta = dict(doc.metadata)
    meta.update(doc_id=doc.id, start=start, end=end)
    if doc.page is not None:
        meta["page"] = doc.page
    return meta


def _add_batch(
    collection: Collection,
    feed: Feed,
    batch: list[_Prepared],
    known: dict[str, Any],
    report: IndexReport,
    bar: _Progress,
    unsaved: _Unsaved,
) -> None:
    """Add one batch: pending ids -> drop old chunks -> add new (saved at the checkpoint)."""
    collection.state.begin({p.unit.key: p.ids for p in batch})
    stale = [i for p in batch if p.unit.key in known for i in known[p.unit.key].all_ids()]
    if stale:
        collection.delete(stale)
    ids = [i for p in batch for i in p.ids]
    texts = [t for p in batch for t in p.texts]
    metadata = [m for p in batch for m in p.metadata]
    # Units are counted done once their last chunk is embedded.
    ends = list(itertools.accumulate(len(p.ids) for p in batch))
    counted = start = 0
    for piece_ids, encoded in feed.take(len(ids)):
        stop = start + len(piece_ids)
        if piece_ids != ids[start:stop]:
            msg = f"The encoder returned chunk {piece_ids[0]!r} out of order; re-run the command."
            raise IndexCorruptError(msg)
        collection.add(piece_ids, texts[start:stop], metadata[start:stop], encoded=encoded)
        report.tokens += encoded.n_tokens
        finished = sum(1 for end in ends if end <= stop)
        bar.embedded(encoded.n_tokens, finished - counted)
        counted, start = finished, stop
    bar.advance(len(batch) - counted)  # units without any chunk (empty files)
    unsaved.done.update({p.unit.key: (p.unit.digest, p.ids, p.tokens) for p in batch})
    unsaved.chunks += len(ids)
    report.chunks += len(ids)
    for p in batch:
        if p.unit.key in known and known[p.unit.key].digest is not None:
            report.updated += 1
        else:
            report.added += 1
