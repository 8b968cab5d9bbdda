"""The stages a ``Retriever`` runs: first stages (an encoder + an index), rescore stages and
rerank stages.

A first stage encodes the query batch (through a ``QueryEncoder``), picks one representation
(``"dense"``, ``"sparse"``, ``"multivector"``) and searches an ``Index`` with it. A rescore
stage gives every candidate the exact score of another index (``score_ids``) before fusion.
A rerank stage asks a ``Reranker`` to score the current candidates and keeps the best
``top_n``.
Stage names label the per-stage scores on every hit (``hit.scores[name]``), so they must be
unique within a Retriever.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

from retrieval.errors import ConfigError
from retrieval.protocols import Index, QueryEncoder, Reranker

Representation = Literal["dense", "sparse", "multivector"]
REPRESENTATIONS: tuple[str, ...] = get_args(Representation)


@dataclass(frozen=True, eq=False)
class IndexStage:
    """A first stage: ``index.search_batch(encoder.encode_queries(q)[representation], depth)``.

    >>> IndexStage("dense", encoder, FaissIndex.create(dim=384), depth=100)  # doctest: +SKIP
    """

    name: str
    """Label of this stage's score on every hit (``hit.scores[name]``), e.g. ``"dense"``."""
    encoder: QueryEncoder
    """Produces the query representations; share one encoder object between stages that
    read different outputs of one forward pass (BGE-M3) so it runs once per batch."""
    index: Index
    """Any index with the shared protocol (FaissIndex, SparseIndex, PlaidIndex, ...)."""
    representation: str = "dense"
    """Which output of ``encoder.encode_queries`` this index takes (a key of that mapping;
    ``dense | sparse | multivector`` by convention)."""
    depth: int = 100
    """Candidates this stage returns per query (raised to the ``k`` asked when smaller)."""

    def __post_init__(self) -> None:
        check_name(self.name)
        check_positive("depth", self.depth, f"IndexStage {self.name!r}")
        if not callable(getattr(self.encoder, "encode_queries", None)):
            msg = (
                f"IndexStage {self.name!r}: encoder {type(self.encoder).__name__} has no "
                "encode_queries(queries) method (see retrieval.QueryEncoder)."
            )
            raise ConfigError(msg)
        if not callable(getattr(self.index, "search_batch", None)):
            msg = (
                f"IndexStage {self.name!r}: index {type(self.index).__name__} has no "
                "search_batch(queries, k, filter) method (see retrieval.Index)."
            )
            raise ConfigError(msg)


@dataclass(frozen=True, eq=False)
class RescoreStage:
    """A rescore stage: ``index.score_ids(encoder.encode_queries(q)[representation], ids)``
    gives every candidate this index's exact score, and keeps every candidate.

    The index already holds the documents' vectors (a MaxSim token index beside a dense
    first stage), so nothing is re-encoded; the Retriever then fuses this score with the
    first stages' scores.

    >>> RescoreStage("maxsim", encoder, token_index)  # doctest: +SKIP
    """

    name: str
    """Label of this stage's score on every hit (``hit.scores[name]``), e.g. ``"maxsim"``."""
    encoder: QueryEncoder
    """Produces the query representations (shared with a first stage: encoded once)."""
    index: Any
    """An index with ``score_ids(queries, ids)`` (MaxSimIndex, PlaidIndex)."""
    representation: str = "multivector"
    """Which output of ``encoder.encode_queries`` the index scores with."""

    def __post_init__(self) -> None:
        check_name(self.name)
        if not callable(getattr(self.encoder, "encode_queries", None)):
            msg = (
                f"RescoreStage {self.name!r}: encoder {type(self.encoder).__name__} has no "
                "encode_queries(queries) method (see retrieval.QueryEncoder)."
            )
            raise ConfigError(msg)
        if not callable(getattr(self.index, "score_ids", None)):
            msg = (
                f"RescoreStage {self.name!r}: index {type(self.index).__name__} cannot score "
                "given ids (no score_ids(queries, ids) method)."
            )
            raise ConfigError(msg)


@dataclass(frozen=True, eq=False)
class RerankStage:
    """A rerank stage: score every incoming candidate, keep the best ``top_n``."""

    name: str
    """Label of this stage's score on every hit it scored (``hit.scores[name]``)."""
    reranker: Reranker
    """Scores ``(query, candidate)`` pairs; higher is better."""
    top_n: int | None = None
    """How many candidates survive this stage (``None``: all, re-sorted). The next stage (or
    the caller's ``k``) sees at most this many, so ``top_n`` is the next stage's depth."""

    def __post_init__(self) -> None:
        check_name(self.name)
        if self.top_n is not None:
            check_positive("top_n", self.top_n, f"RerankStage {self.name!r}")
        if not callable(getattr(self.reranker, "score", None)):
            msg = (
                f"RerankStage {self.name!r}: reranker {type(self.reranker).__name__} has no "
                "score(queries, candidates) method (see retrieval.Reranker)."
            )
            raise ConfigError(msg)


def check_name(name: str) -> None:
    """A stage name is a non-empty string."""
    if not isinstance(name, str) or not name:
        msg = f"A stage name must be a non-empty string; got {name!r}."
        raise ConfigError(msg)


def check_positive(what: str, value: object, where: str) -> int:
    """``value`` as a positive int, or a ConfigError naming it."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        msg = f"{where}: {what} must be a positive integer; got {value!r}."
        raise ConfigError(msg)
    return value
