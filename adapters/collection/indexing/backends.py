"""Where an indexing run's chunks are encoded: the one seam between ``retrieval index`` and
``retrieval index --ray``.

The indexer (``adapters.collection.indexing.build``) prepares chunks, then asks a
``ChunkEncoder`` for their vectors as a stream of pieces in chunk order, and adds them batch
by batch (saving at checkpoints) through the same code whichever encoder produced them - so
state, metadata, snippets and crash safety do not depend on the encoder.

* ``LocalEncoder``: this process, one ``Encoder`` call per ``EMBED_SLICE`` chunks, lazily
  (one batch at a time).
* An ``EncoderBackend`` opens another for a run: ``adapters.ray.RayBackend`` encodes a
  window of many batches at once on a Ray Data actor pool into embedding shards, which the
  stream then reads back.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from adapters.collection.encoders import Encoded, Encoder, slice_encoded
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


class EncoderBackend(Protocol):
    """Makes the ``ChunkEncoder`` of one indexing run (checks its options when built)."""

    def open(self, collection: Any, progress: bool) -> ChunkEncoder:
        """The encoder for a run over ``collection`` (an ``adapters.collection.Collection``)."""
        ...


class LocalEncoder:
    """Encodes in this process with the collection's ``Encoder``."""

    window = 0

    def __init__(self, encoder: Encoder, device: str) -> None:
        self.encoder = encoder
        self.device = device

    def encode(self, ids: list[str], texts: list[Any]) -> Iterator[Piece]:
        for start in range(0, len(texts), EMBED_SLICE):
            stop = start + EMBED_SLICE
            yield ids[start:stop], self.encoder.documents(texts[start:stop])

    def describe(self) -> dict[str, Any]:
        return {"encoder": "local", "device": self.device}

    def __enter__(self) -> LocalEncoder:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


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
