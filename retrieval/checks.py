"""Input checks of the Retriever: queries, stage lists and the scores a stage returns."""

from __future__ import annotations

from collections.abc import Sequence, Sized
from typing import Any

import numpy as np

from retrieval.errors import ConfigError
from retrieval.stages import RerankStage, RescoreStage


def check_scores(
    stage: RerankStage | RescoreStage,
    scored: Sequence[Sequence[float]],
    candidates: Sequence[Sized],
) -> list[np.ndarray]:
    """One finite float64 array per query, one score per candidate (each query's candidate
    list, of any item type: only counted) - or a ConfigError."""
    if len(scored) != len(candidates):
        msg = (
            f"Reranker {stage.name!r} returned {len(scored)} score lists for "
            f"{len(candidates)} queries."
        )
        raise ConfigError(msg)
    out = []
    for i, (scores, hits) in enumerate(zip(scored, candidates, strict=True)):
        array = np.asarray(
            scores.detach().cpu() if hasattr(scores, "detach") else scores, np.float64
        ).reshape(-1)
        if len(array) != len(hits) or not np.isfinite(array).all():
            msg = (
                f"Reranker {stage.name!r} gave query {i} {len(array)} scores for {len(hits)} "
                "candidates (or non-finite scores); it must score every candidate."
            )
            raise ConfigError(msg)
        out.append(array)
    return out


def check_query(query: Any) -> str:
    """``query`` if it is a string."""
    if not isinstance(query, str):
        msg = f"A query must be a string; got {type(query).__name__}. Use search_batch for lists."
        raise ConfigError(msg)
    return query


def check_queries(queries: Any) -> list[str]:
    """``queries`` as a list of strings (a single string is an error, not a batch)."""
    if isinstance(queries, str):
        msg = f"search_batch takes a list of queries; got the single string {queries!r}."
        raise ConfigError(msg)
    out = list(queries)
    for query in out:
        if not isinstance(query, str):
            msg = f"Every query must be a string; got {type(query).__name__} ({query!r})."
            raise ConfigError(msg)
    return out


def as_rescore(value: Any) -> tuple[RescoreStage | RerankStage, ...]:
    """Rescore stages: ``RescoreStage``s, or ``RerankStage``s that keep every candidate."""
    items = (value,) if isinstance(value, RescoreStage | RerankStage) else tuple(value)
    for item in items:
        if not isinstance(item, RescoreStage | RerankStage):
            msg = f"rescore must hold RescoreStage objects; got {type(item).__name__}."
            raise ConfigError(msg)
        if isinstance(item, RerankStage) and item.top_n is not None:
            msg = (
                f"Rescore stage {item.name!r} has top_n={item.top_n}: a rescore stage keeps "
                "every candidate for fusion; put a stage that cuts in rerank=."
            )
            raise ConfigError(msg)
    return items


def as_tuple(value: Any, kind: type, what: str) -> tuple[Any, ...]:
    """``value`` (one ``kind`` or several) as a tuple of ``kind``."""
    items = (value,) if isinstance(value, kind) else tuple(value)
    for item in items:
        if not isinstance(item, kind):
            msg = f"{what} must hold {kind.__name__} objects; got {type(item).__name__}."
            raise ConfigError(msg)
    return items
