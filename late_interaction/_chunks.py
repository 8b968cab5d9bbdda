"""How MaxSim walks the data: groups of queries outside, chunks of whole documents inside.

Both planners work on host integers (offsets, lengths) and yield half-open index ranges.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

QUERY_TOKENS_PER_PASS = 256
"""Query tokens multiplied against one document chunk (8 ColBERT queries of 32 tokens): a
wider GEMM runs closer to sgemm peak, and each document chunk is read once per group."""


def document_chunks(offsets: np.ndarray, chunk_tokens: int) -> Iterator[tuple[int, int]]:
    """Ranges ``[start, stop)`` of whole documents holding at most ``chunk_tokens`` tokens.

    ``offsets`` ``(n_docs + 1,)``. A document longer than ``chunk_tokens`` is a range of its
    own (the caller slices it); a run of empty documents is capped at ``chunk_tokens`` too.
    """
    n_docs = len(offsets) - 1
    start = 0
    while start < n_docs:
        limit = offsets[start] + chunk_tokens
        stop = int(np.searchsorted(offsets, limit, side="right")) - 1
        stop = max(min(stop, n_docs, start + chunk_tokens), start + 1)
        yield start, stop
        start = stop


def query_groups(lengths: Sequence[int]) -> Iterator[tuple[int, int]]:
    """Ranges ``[first, last)`` of consecutive queries with at most ``QUERY_TOKENS_PER_PASS``
    tokens together; a longer query forms a group of its own."""
    first, tokens = 0, 0
    for i, n in enumerate(lengths):
        if i > first and tokens + n > QUERY_TOKENS_PER_PASS:
            yield first, i
            first, tokens = i, 0
        tokens += n
    if first < len(lengths):
        yield first, len(lengths)
