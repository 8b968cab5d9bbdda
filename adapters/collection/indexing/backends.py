"""Where an indexing run's chunks are encoded: the one seam between ``retrieval index`` and
``retrieval index --ray``.

The indexer (``adapters.collection.indexing.build``) prepares chunks, then asks a
``ChunkEncoder`` for
their vectors as a stream of pieces in chunk order, and adds them batch by batch (saving at
checkpoints) through the same code whichever encoder produced them - so state, metadata,
snippets and crash safety do not depend on the encoder.

* ``LocalEncoder``: this process, one ``Embedder`` call per ``EMBED_SLICE`` chunks, lazily
  (one batch at a time).
* ``adapters.ray.indexing.RayEncoder``: a window of many batches is encoded
  at once by a Ray Data actor pool into embedding shards, which the stream then reads back.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from adapters.collection.embedder import Embedder, Encoded, slice_encoded
from retrieval.errors import ConfigError

EMBED_SLICE = 64
"""Chunks per embedding call (per shard with Ray): small enough for a lively progress bar,
large enough for efficient batches."""

Piece = tuple[list[str], Encoded]
"""Consecutive chunk ids and their vectors."""


class ChunkEncoder(Protocol):
    """Encodes the chunks of an indexing run; a context manager around the run."""

    window: int
    """Chunks prepared ahead and handed to ``encode`` together (0: one batch)."""

    def encode(self, ids: list[str], texts: list[Any]) -> Iterator[Piece]:
        """Vectors of ``texts`` as pieces whose ids, concatenated, are exactly ``ids``."""
        ...

    def describe(self) -> dict[str, Any]:
        """How the run encoded (the ``execution`` entry of the ``--json`` report)."""
        ...

    def __enter__(self) -> ChunkEncoder: ...

    def __exit__(self, *exc: object) -> None: ...


class LocalEncoder:
    """Encodes in this process with the run's ``Embedder``."""

    window = 0

    def __init__(self, embedder: Embedder, device: str) -> None:
        self.embedder = embedder
        self.device = device

    def encode(self, ids: list[str], texts: list[Any]) -> Iterator[Piece]:
        for start in range(0, len(texts), EMBED_SLICE):
            stop = start + EMBED_SLICE
            yield ids[start:stop], self.embedder.documents(texts[start:stop])

    def describe(self) -> dict[str, Any]:
        return {"encoder": "local", "device": self.device}

    def __enter__(self) -> LocalEncoder:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def check_encoder_options(
    ray: str | None, ray_actors: int | None, ray_shards: str | Path | None, device: str
) -> None:
    """Refuse option mixes before anything is read or written."""
    if ray is None:
        for flag, value in (("--ray-actors", ray_actors), ("--ray-shards", ray_shards)):
            if value is not None:
                msg = f"{flag} applies to Ray encoding only; add --ray ADDRESS (or --ray local)."
                raise ConfigError(msg)
        return
    from adapters.ray.indexing import check_ray_options

    check_ray_options(ray, ray_actors, device)


def make_encoder(
    embedder: Embedder,
    model: str,
    index_dir: Path,
    device: str,
    ray: str | None,
    ray_actors: int | None,
    ray_shards: str | Path | None,
    progress: bool,
) -> ChunkEncoder:
    """``LocalEncoder``, or ``RayEncoder`` when ``ray`` (an address) is given."""
    if ray is None:
        return LocalEncoder(embedder, device)
    from adapters.ray.indexing import RayEncoder

    return RayEncoder.for_run(embedder, model, index_dir, device, ray, ray_actors, ray_shards,
                              progress)  # fmt: skip


class Feed:
    """Hands out a piece stream in runs of ``n`` items, splitting pieces at run ends (a Ray
    shard may straddle two batches)."""

    def __init__(self, pieces: Iterator[Piece]) -> None:
        self._pieces = pieces
        self._left: Piece | None = None

    def take(self, n: int) -> Iterator[Piece]:
        """Pieces holding the next ``n`` items, in order."""
        while n > 0:
            ids, encoded = self._left if self._left is not None else self._next()
            self._left = None
            total = len(ids)
            if total > n:
                self._left = (ids[n:], slice_encoded(encoded, n, total, total))
                ids, encoded = ids[:n], slice_encoded(encoded, 0, n, total)
            n -= len(ids)
            yield ids, encoded

    def _next(self) -> Piece:
        try:
            return next(self._pieces)
        except StopIteration:
            msg = "The encoder returned fewer chunks than it was given; re-run the command."
            raise ConfigError(msg) from None
