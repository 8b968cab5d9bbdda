"""``Retriever``: first stage(s) -> fusion -> rerank stages, one metadata filter for all.

    from retrieval import Fusion, IndexStage, RerankStage, Retriever

    retriever = Retriever(
        [IndexStage("dense", minilm, faiss_index, "dense", depth=100),
         IndexStage("sparse", splade, sparse_index, "sparse", depth=100)],
        fusion=Fusion("rrf", rrf_k=60),
        rerank=[RerankStage("maxsim", maxsim_reranker, top_n=20)],
    )
    hits = retriever.search("what is a shock wave?", k=10, filter={"lang": "en"})
    hits[0].id, hits[0].score, hits[0].metadata, hits[0].scores
    # 'd42', 17.3, {'lang': 'en', ...},
    # {'dense': 0.71, 'sparse': 12.0, 'rrf': 0.032, 'maxsim': 17.3}

The pipeline, for a batch of queries:

1. every distinct ``QueryEncoder`` encodes the batch once (stages sharing an encoder share
   the forward pass);
2. every first stage searches its index for ``max(depth, k)`` candidates **with the filter**;
3. with several first stages, ``Fusion`` merges the lists (RRF by default); with one, its list
   passes through;
4. each rerank stage scores all current candidates and keeps its best ``top_n``;
5. the best ``k`` are returned.

The filter is enforced at every stage: indexes receive it, and the Retriever re-checks each
candidate's metadata before fusion and before reranking, so no stage ever sees (or returns) an
item that does not match, even with an index that ignored the filter. A candidate whose index
returned no metadata therefore fails any non-empty filter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from retrieval.errors import ConfigError
from retrieval.filters import CompiledFilter, Filter, compile_filter
from retrieval.fusion import Fusion, FusionMethod
from retrieval.stages import IndexStage, RerankStage, check_positive
from retrieval.types import Hit


@dataclass(frozen=True)
class RankedHit(Hit):
    """A Retriever result: a ``Hit`` (caller's id, final score, stored metadata) plus the score
    every stage gave it. ``score`` is the last stage's score (the fusion score when no rerank
    stage ran), so a result list is sorted by ``score``."""

    scores: dict[str, float] = field(default_factory=dict)
    """Scores by stage name in pipeline order, e.g. ``{"dense": .71, "sparse": 12.0, "rrf":
    .032, "maxsim": 17.3}``; a first stage that did not return this item has no entry, the
    fusion score is under the fusion method's name (``rrf`` / ``weighted``)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready ``{"id", "score", "metadata", "scores"}``."""
        return {
            "id": self.id,
            "score": self.score,
            "metadata": dict(self.metadata),
            "scores": dict(self.scores),
        }


class Retriever:
    """Composes first stages, fusion and rerank stages through protocols (any encoder, index
    or reranker that follows ``retrieval.protocols``). Thread-safe as far as its parts are.

    ``stages``: first stages (at least one for ``search``; none is fine for ``rerank``).
    ``fusion``: a ``Fusion`` or a method name (``"rrf"`` / ``"weighted"``), used when there
    are several first stages. ``rerank``: rerank stages, run in order.
    """

    def __init__(
        self,
        stages: Sequence[IndexStage] | IndexStage = (),
        *,
        fusion: Fusion | FusionMethod = "rrf",
        rerank: Sequence[RerankStage] | RerankStage = (),
    ) -> None:
        self.stages: tuple[IndexStage, ...] = _as_tuple(stages, IndexStage, "stages")
        self.rerank_stages: tuple[RerankStage, ...] = _as_tuple(rerank, RerankStage, "rerank")
        self.fusion = fusion if isinstance(fusion, Fusion) else Fusion(method=fusion)
        names = [s.name for s in self.stages] + [s.name for s in self.rerank_stages]
        duplicate = next((n for n in names if names.count(n) > 1), None)
        if duplicate is not None:
            msg = f"Two stages are named {duplicate!r}; stage names label scores, make them unique."
            raise ConfigError(msg)
        if len(self.stages) > 1 and self.fusion.method in names:
            msg = (
                f"Stage name {self.fusion.method!r} labels the fusion score of this Retriever; "
                "choose another stage name."
            )
            raise ConfigError(msg)

    def __repr__(self) -> str:
        first = ", ".join(f"{s.name}(depth={s.depth})" for s in self.stages)
        later = ", ".join(f"{s.name}(top_n={s.top_n})" for s in self.rerank_stages)
        fused = f" -> {self.fusion.method}" if len(self.stages) > 1 else ""
        return f"Retriever([{first}]{fused} -> [{later}])"

    # -- public API ----------------------------------------------------------------------
    def search(self, query: str, k: int = 10, filter: Filter | None = None) -> list[RankedHit]:
        """The best ``k`` hits for one query text, among items matching ``filter``."""
        return self.search_batch([_check_query(query)], k, filter)[0]

    def search_batch(
        self, queries: Sequence[str], k: int = 10, filter: Filter | None = None
    ) -> list[list[RankedHit]]:
        """``search`` for each query of a batch (encoded together), one shared ``filter``."""
        queries = _check_queries(queries)
        k = check_positive("k", k, "search")
        if not self.stages:
            msg = (
                "This Retriever has no first stage: give stages=[IndexStage(...)], or call "
                "rerank(...) with candidates of your own."
            )
            raise ConfigError(msg)
        compiled = compile_filter(filter)
        if not queries:
            return []
        per_stage = self._first_stages(queries, k, filter)
        candidates = [
            self._merge({name: lists[i] for name, lists in per_stage.items()}, compiled)
            for i in range(len(queries))
        ]
        return self._rerank(queries, candidates, k)

    def rerank(
        self,
        query: str,
        candidates: Sequence[Hit | str],
        k: int | None = None,
        filter: Filter | None = None,
        *,
        source: str = "candidates",
    ) -> list[RankedHit]:
        """Run only the rerank stages over given candidates (e.g. a BM25 run) for one query."""
        return self.rerank_batch([_check_query(query)], [candidates], k, filter, source=source)[0]

    def rerank_batch(
        self,
        queries: Sequence[str],
        candidates: Sequence[Sequence[Hit | str]],
        k: int | None = None,
        filter: Filter | None = None,
        *,
        source: str = "candidates",
    ) -> list[list[RankedHit]]:
        """Rerank ``candidates[i]`` (hits, or bare ids scored 0) for ``queries[i]``.

        Candidates failing ``filter`` are dropped before any stage sees them; their incoming
        scores are kept under ``hit.scores[source]``. ``k=None`` returns every survivor.
        """
        queries = _check_queries(queries)
        if len(candidates) != len(queries):
            msg = f"rerank got {len(queries)} queries but {len(candidates)} candidate lists."
            raise ConfigError(msg)
        limit = None if k is None else check_positive("k", k, "rerank")
        compiled = compile_filter(filter)
        lists = [
            [h for h in (_as_ranked(c, source) for c in hits) if _matches(h, compiled)]
            for hits in candidates
        ]
        return self._rerank(queries, lists, limit)

    # -- pipeline steps ------------------------------------------------------------------
    def _first_stages(
        self, queries: list[str], k: int, filter: Filter | None
    ) -> dict[str, list[list[Hit]]]:
        """Encode once per distinct encoder, then search every first stage."""
        encoded: dict[int, Mapping[str, Any]] = {}
        results: dict[str, list[list[Hit]]] = {}
        for stage in self.stages:
            key = id(stage.encoder)
            if key not in encoded:
                encoded[key] = stage.encoder.encode_queries(queries)
            outputs = encoded[key]
            if stage.representation not in outputs:
                msg = (
                    f"Stage {stage.name!r} wants the {stage.representation!r} representation "
                    f"but its encoder gives {sorted(outputs)}; set representation= to one."
                )
                raise ConfigError(msg)
            lists = stage.index.search_batch(
                outputs[stage.representation], k=max(stage.depth, k), filter=filter
            )
            if len(lists) != len(queries):
                msg = f"Stage {stage.name!r} gave {len(lists)} lists for {len(queries)} queries."
                raise ConfigError(msg)
            results[stage.name] = [list(hits) for hits in lists]
        return results

    def _merge(
        self, lists: dict[str, list[Hit]], compiled: CompiledFilter | None
    ) -> list[RankedHit]:
        """One query's first-stage lists -> one candidate list (fused when several)."""
        lists = {name: [h for h in hits if _matches(h, compiled)] for name, hits in lists.items()}
        if len(lists) == 1:
            ((name, hits),) = lists.items()
            return [RankedHit(h.id, h.score, dict(h.metadata), {name: h.score}) for h in hits]
        first_seen: dict[str, Hit] = {}
        stage_scores: dict[str, dict[str, float]] = {}
        for name, hits in lists.items():
            for hit in hits:
                first_seen.setdefault(hit.id, hit)
                stage_scores.setdefault(hit.id, {})[name] = hit.score
        label = self.fusion.method
        return [
            RankedHit(
                doc_id,
                score,
                dict(first_seen[doc_id].metadata),
                {**stage_scores[doc_id], label: score},
            )
            for doc_id, score in self.fusion.fuse(lists)
        ]

    def _rerank(
        self, queries: list[str], candidates: list[list[RankedHit]], k: int | None
    ) -> list[list[RankedHit]]:
        for stage in self.rerank_stages:
            scored = stage.reranker.score(queries, candidates)
            checked = _check_scores(stage, scored, candidates)
            candidates = [
                _apply_scores(stage, hits, scores)
                for hits, scores in zip(candidates, checked, strict=True)
            ]
        return [hits[:k] if k is not None else hits for hits in candidates]


def _apply_scores(stage: RerankStage, hits: list[RankedHit], scores: np.ndarray) -> list[RankedHit]:
    """Re-sort ``hits`` by ``scores`` (stable: ties keep the incoming order), keep ``top_n``."""
    order = np.argsort(-scores, kind="stable")[: stage.top_n]
    return [
        RankedHit(
            hits[i].id,
            float(scores[i]),
            hits[i].metadata,
            {**hits[i].scores, stage.name: float(scores[i])},
        )
        for i in order.tolist()
    ]


def _check_scores(
    stage: RerankStage, scored: Sequence[Sequence[float]], candidates: list[list[RankedHit]]
) -> list[np.ndarray]:
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


def _matches(hit: Hit, compiled: CompiledFilter | None) -> bool:
    return compiled is None or compiled.matches(hit.metadata)


def _as_ranked(candidate: Hit | str, source: str) -> RankedHit:
    if isinstance(candidate, str):
        return RankedHit(candidate, 0.0, {}, {source: 0.0})
    if not isinstance(candidate, Hit):
        msg = f"A candidate must be a Hit or an id string; got {type(candidate).__name__}."
        raise ConfigError(msg)
    scores = dict(candidate.scores) if isinstance(candidate, RankedHit) else {}
    scores.setdefault(source, candidate.score)
    return RankedHit(candidate.id, candidate.score, dict(candidate.metadata), scores)


def _check_query(query: Any) -> str:
    if not isinstance(query, str):
        msg = f"A query must be a string; got {type(query).__name__}. Use search_batch for lists."
        raise ConfigError(msg)
    return query


def _check_queries(queries: Any) -> list[str]:
    if isinstance(queries, str):
        msg = f"search_batch takes a list of queries; got the single string {queries!r}."
        raise ConfigError(msg)
    out = list(queries)
    for query in out:
        if not isinstance(query, str):
            msg = f"Every query must be a string; got {type(query).__name__} ({query!r})."
            raise ConfigError(msg)
    return out


def _as_tuple(value: Any, kind: type, what: str) -> tuple[Any, ...]:
    items = (value,) if isinstance(value, kind) else tuple(value)
    for item in items:
        if not isinstance(item, kind):
            msg = f"{what} must hold {kind.__name__} objects; got {type(item).__name__}."
            raise ConfigError(msg)
    return items
