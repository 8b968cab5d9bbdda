"""MaxSim, the ColBERT late-interaction score, as a pure function of two embedding sets.

``score(q, d) = sum_i max_j <q_i, d_j>`` over query tokens ``i`` and document tokens ``j``
(``reduce="mean"`` divides by the number of query tokens: BGE-M3's colbert score). Inputs
are assumed L2-normalized already; nothing here renormalizes.

The fast path never pads the corpus: documents stay packed (``MultiVectorEmbeddings``), and
each pass multiplies one chunk of at most ``chunk_tokens`` document tokens with the tokens
of a group of queries (one GEMM), then takes the per-document maximum of each row by the
offsets (``late_interaction._chunks``). Scratch memory is ``chunk_tokens x query tokens
per pass`` scores, whatever the corpus size. ``maxsim_reference`` is the plain loop the
tests compare against.

An empty document (0 tokens) scores 0: the max over no tokens is taken as 0 for every
query token, so it ranks below any document with a positive similarity.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

import numpy as np
import torch

from late_interaction._chunks import DocumentChunks, query_groups
from retrieval.errors import ConfigError
from retrieval.multivector import MultiVectorEmbeddings, as_multivector

Reduce = Literal["sum", "mean"]
REDUCTIONS: tuple[str, ...] = get_args(Reduce)

DEFAULT_CHUNK_TOKENS = 32768
"""Document tokens per GEMM. Few, large GEMMs matter on small shared CPUs: each chunk costs
a handful of OpenMP barriers, and with other processes on the cores a barrier can wait a
whole scheduler slice (measured on the loaded 2-core dev box: 32768 ran 1.4-1.8x faster
than 8192 with 2 threads, and no slower with 1). Scratch is ``chunk_tokens x query tokens`` scores:
4 MiB for one 32-token query, 32 MiB for a full group of queries in ``maxsim_matrix``."""

QueryLike = torch.Tensor | np.ndarray
DocumentsLike = MultiVectorEmbeddings | Sequence[QueryLike] | torch.Tensor | np.ndarray


def maxsim(
    query: QueryLike,
    documents: DocumentsLike,
    *,
    reduce: Reduce = "sum",
    query_mask: torch.Tensor | None = None,
    chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
) -> torch.Tensor:
    """MaxSim of one query against every document.

    ``query`` ``(q_tokens, dim)``; ``documents`` packed or a list of ``(n_i, dim)``;
    ``query_mask`` ``(q_tokens,)`` bool, ``False`` drops that query token (it neither adds to
    the sum nor counts for ``mean``). Returns ``(n_docs,)`` float32 scores on the documents'
    device; an empty document scores 0. ``chunk_tokens`` bounds the document tokens per GEMM
    and so the scratch memory (``chunk_tokens x q_tokens`` scores); it does not change results.

    >>> q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    >>> maxsim(q, [torch.tensor([[1.0, 0.0], [0.6, 0.8]]), torch.zeros(0, 2)])
    tensor([1.8000, 0.0000])
    """
    docs = as_multivector(documents)
    tokens = _as_query(query, docs, "query")
    if query_mask is not None:
        tokens = _apply_mask(tokens, query_mask)
    return _score([tokens], docs, reduce, chunk_tokens)[0]


def maxsim_matrix(
    queries: MultiVectorEmbeddings | Sequence[QueryLike] | torch.Tensor,
    documents: DocumentsLike,
    *,
    reduce: Reduce = "sum",
    chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
) -> torch.Tensor:
    """MaxSim of every query against every document: ``(n_queries, n_docs)`` float32.

    ``queries`` is a list of ``(q_i, dim)`` (lengths may differ), a packed container, or a
    ``(n_queries, q_tokens, dim)`` tensor of fixed-length queries. Several queries share each
    pass over the documents, so the corpus is read once per group, not once per query.
    """
    docs = as_multivector(documents)
    tokens = [_as_query(q, docs, f"query {i}") for i, q in enumerate(_query_list(queries))]
    return _score(tokens, docs, reduce, chunk_tokens)


def gather_documents(
    tokens: np.ndarray, offsets: np.ndarray, rows: np.ndarray
) -> MultiVectorEmbeddings:
    """Documents ``rows`` of a packed ``(total_tokens, dim)`` array (document ``i`` is
    ``tokens[offsets[i]:offsets[i + 1]]``) as a new packed container, in the order given: the
    candidates a reranker scores, copied once (one memcpy per document: 2-3x faster than a
    per-token fancy index on the dev box)."""
    starts, ends = offsets[rows].tolist(), offsets[rows + 1].tolist()
    lengths = np.array([e - s for s, e in zip(starts, ends, strict=True)], np.int64)
    packed = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    parts = [tokens[s:e] for s, e in zip(starts, ends, strict=True)]
    vectors = np.concatenate(parts) if parts else tokens[:0].copy()
    return MultiVectorEmbeddings(torch.from_numpy(vectors), torch.from_numpy(packed))


def maxsim_rows(
    query: QueryLike, tokens: np.ndarray, offsets: np.ndarray, rows: np.ndarray
) -> np.ndarray:
    """MaxSim (``sum``) of one ``(q_tokens, dim)`` query with documents ``rows`` of a packed
    float32 CPU token array: the rescoring of a few candidates (``score_ids``).

    Each candidate is multiplied with the query where it lies (a view, one small BLAS
    product per document): gathering the candidates into one tall array first cost more
    than the products - a fresh 40 MB array per query for 150 Cranfield abstracts is page
    faults and a memory copy - and measured 2.9x slower on the AMD dev box (23.9 vs 8.1 ms
    for 150 documents of 100-280 tokens; benchmarks/maxsim_rescore.py). Empty documents
    score 0. Returns ``(len(rows),)`` float32.
    """
    out = np.zeros(len(rows), np.float32)
    if not len(rows):
        return out
    q = torch.as_tensor(query).detach().to("cpu", torch.float32).numpy()
    query_t = np.ascontiguousarray(q.T)
    starts, ends = offsets[rows].tolist(), offsets[rows + 1].tolist()
    for i, (start, end) in enumerate(zip(starts, ends, strict=True)):
        if end > start:
            out[i] = (tokens[start:end] @ query_t).max(axis=0).sum()
    return out


def maxsim_reference(
    query: QueryLike, documents: DocumentsLike, reduce: Reduce = "sum"
) -> torch.Tensor:
    """The definition, one document at a time in float64: ``(q_tokens, dim)`` -> ``(n_docs,)``.

    Slow and obviously correct; the tests hold the fast path to it. Returns float32 on CPU.
    """
    _check_reduce(reduce)
    docs = as_multivector(documents)
    _as_query(query, docs, "query")  # same validation and messages as the fast path
    q = torch.as_tensor(query).detach().cpu().double()
    scores = []
    for doc in docs:
        if len(doc) == 0:
            scores.append(0.0)
            continue
        best = (q @ doc.cpu().double().T).max(dim=1).values  # (q_tokens,)
        total = best.sum().item()
        scores.append(total / len(q) if reduce == "mean" else total)
    return torch.tensor(scores, dtype=torch.float32)


def _score(
    queries: list[torch.Tensor], docs: MultiVectorEmbeddings, reduce: str, chunk_tokens: int
) -> torch.Tensor:
    """``(n_queries, n_docs)`` float32: query groups outside, document chunks inside."""
    _check_reduce(reduce)
    if chunk_tokens < 1:
        msg = f"chunk_tokens must be a positive number of document tokens; got {chunk_tokens}."
        raise ConfigError(msg)
    device = docs.vectors.device
    scores = torch.zeros(len(queries), len(docs), dtype=torch.float32, device=device)
    if not queries or not len(docs):
        return scores
    chunks = DocumentChunks(docs, chunk_tokens)
    for first, last in query_groups([len(q) for q in queries]):
        group = queries[first:last]
        packed = torch.cat(group)  # (group tokens, dim)
        owner = _owner_matrix([len(q) for q in group], reduce, device)
        for start, stop in chunks:
            best = chunks.maxima(packed, start, stop)  # (group tokens, chunk docs)
            scores[first:last, start:stop] = owner @ best.float()
    return scores


def _owner_matrix(lengths: list[int], reduce: str, device: torch.device) -> torch.Tensor:
    """``(n_group_queries, group tokens)`` float32 weights turning token maxima into scores.

    Row ``k`` is 1 on query ``k``'s tokens (``1 / q_k`` for ``mean``) and 0 elsewhere, so
    one small matmul sums each query's tokens.
    """
    owner = torch.zeros(len(lengths), sum(lengths), dtype=torch.float32)
    column = 0
    for k, n in enumerate(lengths):
        owner[k, column : column + n] = 1.0 / n if reduce == "mean" else 1.0
        column += n
    return owner.to(device)


def _as_query(query: object, docs: MultiVectorEmbeddings, what: str) -> torch.Tensor:
    """Validate one query: ``(q_tokens, dim)``, non-empty, finite, same dim as ``docs``.

    Returned on the documents' device in the compute dtype (see ``_compute_dtype``).
    """
    tensor = query if isinstance(query, torch.Tensor) else torch.as_tensor(np.asarray(query))
    shape = tuple(tensor.shape)
    if tensor.ndim != 2:
        msg = (
            f"{what} must have shape (q_tokens, dim); got shape {shape}. "
            "Reshape a single vector to (1, dim)."
        )
        raise ConfigError(msg)
    if shape[0] == 0:
        msg = f"{what} has no tokens (shape {shape}); MaxSim needs at least one query token."
        raise ConfigError(msg)
    if len(docs) and shape[1] != docs.dim:
        msg = (
            f"{what} has dim {shape[1]} (shape {shape}) but the documents have dim {docs.dim} "
            f"(packed shape {tuple(docs.vectors.shape)}). Encode queries and documents with "
            "the same model (and Matryoshka size)."
        )
        raise ConfigError(msg)
    tensor = tensor.detach().to(docs.vectors.device, _compute_dtype(docs.vectors))
    if not bool(torch.isfinite(tensor).all()):
        msg = f"{what} contains NaN or infinite values; check the encoder output."
        raise ConfigError(msg)
    return tensor


def _query_list(queries: object) -> list[object]:
    """Split a batch of queries into items without packing (each is validated on its own)."""
    if isinstance(queries, MultiVectorEmbeddings):
        return list(queries.to_list())
    if isinstance(queries, torch.Tensor | np.ndarray):
        return list(queries) if queries.ndim == 3 else [queries]
    if isinstance(queries, Sequence) and not isinstance(queries, str | bytes):
        return list(queries)
    msg = (
        f"Cannot read queries from {type(queries).__name__}. Pass a list of (q_tokens, dim) "
        "tensors, a (n_queries, q_tokens, dim) tensor or a MultiVectorEmbeddings."
    )
    raise ConfigError(msg)


def _apply_mask(tokens: torch.Tensor, query_mask: torch.Tensor) -> torch.Tensor:
    """Keep the query tokens where ``query_mask`` ``(q_tokens,)`` is True."""
    mask = torch.as_tensor(query_mask, device=tokens.device)
    if mask.dtype != torch.bool or tuple(mask.shape) != (tokens.shape[0],):
        msg = (
            f"query_mask must be a bool tensor of shape ({tokens.shape[0]},) matching the "
            f"query's tokens; got shape {tuple(mask.shape)} and dtype {mask.dtype}."
        )
        raise ConfigError(msg)
    if not bool(mask.any()):
        msg = "query_mask keeps no query token; at least one must be True."
        raise ConfigError(msg)
    return tokens[mask]


def _compute_dtype(vectors: torch.Tensor) -> torch.dtype:
    """GEMM dtype: the stored one on GPU and for float64; float32 for fp16/bf16 on CPU,
    where half-precision matmul has no fast kernel."""
    if vectors.device.type == "cpu" and vectors.dtype not in (torch.float32, torch.float64):
        return torch.float32
    return vectors.dtype


def _check_reduce(reduce: str) -> None:
    if reduce not in REDUCTIONS:
        msg = f"Unknown reduce {reduce!r}. Valid: {', '.join(REDUCTIONS)}."
        raise ConfigError(msg)
