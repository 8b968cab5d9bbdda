"""The MaxSim kernel: groups of queries outside, chunks of whole documents inside.

For one chunk, one GEMM multiplies the query tokens with the chunk's document tokens into a
reused buffer; every query token then takes its maximum per document. On CPU that maximum is
``numpy.maximum.reduceat`` over contiguous runs: single-threaded, so it never waits at an
OpenMP barrier (on the shared 2-core dev box ``scatter_reduce`` ran 14-55x slower with 2
threads than with 1). On GPU it is a ``scatter_reduce`` over token owners.

The CPU layout depends on the number of query tokens (measured on the idle 2-core box, one
chunk of 33k document tokens, 2 threads). Wide, ``queries @ chunk.T`` ``(q, tokens)``: each
row's per-document maxima are cheap (0.6 ms for 32 query tokens), but MKL splits a GEMM with
few rows poorly (9.5 ms). Tall, ``chunk @ queries.T`` ``(tokens, q)``: the GEMM runs 1.7x
faster (5.5 ms), while ``reduceat`` over axis 0 costs 1.9 ms at 32 query tokens but grows
faster than the GEMM saves (11.9 ms at 64). So one ColBERT query (up to
``TALL_QUERY_TOKENS``) goes tall, 1.4x faster per chunk, and groups of queries go wide.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from retrieval.multivector import MultiVectorEmbeddings

TALL_QUERY_TOKENS = 32
"""Up to this many query tokens in a pass, the CPU product is laid out tall (module doc)."""

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


class DocumentChunks:
    """One pass plan over packed documents, reused by every query group: host offsets, the
    chunk ranges, and one score buffer (fresh multi-MiB blocks would page-fault per chunk).

    ``use_scatter`` picks the GPU reduction; it defaults to ``True`` off the CPU only.
    """

    def __init__(
        self, docs: MultiVectorEmbeddings, chunk_tokens: int, use_scatter: bool | None = None
    ) -> None:
        self.vectors = docs.vectors
        self.offsets = docs.offsets.cpu().numpy()
        self.chunk_tokens = chunk_tokens
        self.ranges = list(document_chunks(self.offsets, chunk_tokens))
        device = docs.vectors.device
        self.use_scatter = device.type != "cpu" if use_scatter is None else use_scatter
        self._buffer = torch.empty(0, device=device)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter(self.ranges)

    def maxima(self, packed: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        """Max over each document's tokens for documents ``start:stop``.

        ``packed`` ``(q_tokens, dim)`` in the compute dtype -> ``(q_tokens, n_docs)``; the
        columns of empty documents are 0.
        """
        lo, hi = int(self.offsets[start]), int(self.offsets[stop])
        if hi - lo > self.chunk_tokens:  # one document over the budget: running max in slices
            return _running_max(packed, self.vectors[lo:hi], self.chunk_tokens)[:, None]
        chunk = self.vectors[lo:hi].to(packed.dtype)
        lengths = np.diff(self.offsets[start : stop + 1])
        starts = self.offsets[start:stop] - lo
        tall = not self.use_scatter and packed.shape[0] <= TALL_QUERY_TOKENS
        scratch = self._scratch(packed, hi - lo, tall)
        if tall:  # (chunk tokens, q_tokens)
            sims = torch.mm(chunk, packed.T, out=scratch)
            return _reduceat_max(sims.T, starts, lengths)
        sims = torch.mm(packed, chunk.T, out=scratch)  # (q_tokens, chunk tokens)
        if self.use_scatter:
            return _scatter_max(sims, torch.from_numpy(lengths).to(sims.device))
        return _reduceat_max(sims, starts, lengths)

    def _scratch(self, packed: torch.Tensor, tokens: int, tall: bool) -> torch.Tensor:
        """A ``(tokens, q_tokens)`` (tall) or ``(q_tokens, tokens)`` view of the reused
        buffer, grown when a pass needs more."""
        rows = packed.shape[0]
        if self._buffer.numel() < rows * tokens or self._buffer.dtype != packed.dtype:
            size = rows * max(tokens, self.chunk_tokens)
            self._buffer = torch.empty(size, dtype=packed.dtype, device=packed.device)
        view = self._buffer[: rows * tokens]
        return view.view(tokens, rows) if tall else view.view(rows, tokens)


def _reduceat_max(sims: torch.Tensor, starts: np.ndarray, lengths: np.ndarray) -> torch.Tensor:
    """CPU segment max: ``(q_tokens, tokens)`` -> ``(q_tokens, n_docs)``, 0 for empty docs.

    ``sims`` may be the transposed view of a tall product; numpy then reduces over its
    contiguous axis. ``starts`` are the documents' first columns; ``reduceat`` needs strictly
    increasing in-range starts, so empty documents are left out of it and filled with 0.
    """
    rows = sims.numpy()
    filled = lengths > 0
    if filled.all():
        return torch.from_numpy(np.maximum.reduceat(rows, starts, axis=1))
    best = np.zeros((rows.shape[0], len(lengths)), dtype=rows.dtype)
    if filled.any():
        best[:, filled] = np.maximum.reduceat(rows, starts[filled], axis=1)
    return torch.from_numpy(best)


def _scatter_max(sims: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """GPU segment max: ``(q_tokens, tokens)`` -> ``(q_tokens, n_docs)``, 0 for empty docs."""
    n_docs = len(lengths)
    owner = torch.repeat_interleave(
        torch.arange(n_docs, device=sims.device), lengths, output_size=sims.shape[1]
    )
    best = sims.new_full((sims.shape[0], n_docs), -torch.inf)
    best.scatter_reduce_(1, owner[None, :].expand_as(sims), sims, "amax")
    return best.masked_fill_(lengths[None, :] == 0, 0.0)


def _running_max(packed: torch.Tensor, doc: torch.Tensor, chunk_tokens: int) -> torch.Tensor:
    """``(q_tokens,)`` max similarity over a long ``(n_tokens, dim)`` document, in slices."""
    best: torch.Tensor | None = None
    for lo in range(0, doc.shape[0], chunk_tokens):
        part = (packed @ doc[lo : lo + chunk_tokens].to(packed.dtype).T).amax(dim=1)
        best = part if best is None else torch.maximum(best, part)
    if best is None:  # unreachable: callers pass only documents longer than chunk_tokens
        msg = "internal error: _running_max called on an empty document"
        raise RuntimeError(msg)
    return best
