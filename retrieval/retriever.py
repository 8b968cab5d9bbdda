"""``Retriever``: first stage(s) -> rescore -> fusion -> rerank stages, one metadata filter for all.

    from retrieval import Fusion, IndexStage, RerankStage, RescoreStage, Retriever

    retriever = Retriever(
        [IndexStage("dense", minilm, faiss_index, "dense", depth=100),
         IndexStage("sparse", splade, sparse_index, "sparse", depth=100)],
        rescore=[RescoreStage("maxsim", minilm, token_index, "multivector")],
        rerank=[RerankStage("ce", cross_encoder, top_n=20)],
    )  # fusion: retrieval.fusion.DEFAULT_FUSION unless given
    hits = retriever.search("what is a shock wave?", k=10, filter={"lang": "en"})
    hits[0].id, hits[0].score, hits[0].metadata, hits[0].scores
    # 'd42', 3.1, {'lang': 'en', ...},
    # {'dense': 0.71, 'sparse': 12.0, 'maxsim': 17.3, 'zscore': 2.41, 'ce': 3.1}

The pipeline, for a batch of queries:

1. every distinct ``QueryEncoder`` encodes the batch once (stages sharing an encoder share
   the forward pass, rescore stages included);
2. every first stage searches its index for ``max(depth, k)`` candidates **with the filter**;
3. every rescore stage gives each candidate (the union of the first stages' lists) its own
   index's exact score (``score_ids``), dropping none;
4. with more than one score per candidate list (several first stages, or any rescore stage),
   ``Fusion`` merges them (a stage's list holds the candidates it scored); with one, its list
   passes through;
5. each rerank stage scores all current candidates and keeps its best ``top_n``;
6. the best ``k`` are returned.

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

from retrieval.checks import as_rescore, as_tuple, check_queries, check_query, check_scores
from retrieval.errors import ConfigError
from retrieval.filters import CompiledFilter, Filter, compile_filter
from retrieval.fusion import DEFAULT_FUSION, Fusion, FusionMethod
from retrieval.stages import IndexStage, RerankStage, RescoreStage, check_positive
from retrieval.types import Hit


@dataclass(frozen=True)
class RankedHit(Hit):
    """A Retriever result: a ``Hit`` (caller's id, final score, stored metadata) plus the score
    every stage gave it. ``score`` is the last stage's score (the fusion score when no rerank
    stage ran), so a result list is sorted by ``score``."""

    scores: dict[str, float] = field(default_factory=dict)
    """Scores by stage name in pipeline order, e.g. ``{"dense": .71, "maxsim": 17.3, "zscore":
    2.41}``; a first stage that did not return this item has no entry, the fusion score is
    under ``Fusion.label`` (``rrf``, ``dbsf``, ``minmax``, ``zscore``, ``weighted``)."""

    @property
    def kind(self) -> str:
        """What ``score`` is: the name of the stage that gave it (the last entry of
        ``scores``), e.g. ``maxsim`` or ``rrf``; ``""`` when no stage scored this hit."""
        return next(reversed(self.scores), "")

    def describe_score(self) -> str:
        """The final score with its kind, for people: ``2.41 (zscore)``, ``17.3 (maxsim)``."""
        return format_score(self.score, self.kind)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready ``{"id", "score", "kind", "metadata", "scores"}``."""
        return {
            "id": self.id,
            "score": self.score,
            "kind": self.kind,
            "metadata": dict(self.metadata),
            "scores": dict(self.scores),
        }


def format_score(score: float, kind: str = "") -> str:
    """``score`` to 4 significant digits, with its kind in brackets when known."""
    text = f"{score:.4g}"
    return f"{text} ({kind})" if kind else text


class Retriever:
    """Composes first stages, rescore stages, fusion and rerank stages through protocols (any
    encoder, index or reranker that follows ``retrieval.protocols``). Thread-safe as far as
    its parts are.

    ``stages``: first stages (at least one for ``search``; none is fine for ``rerank``).
    ``rescore``: stages that score every candidate without dropping any, before fusion:
    ``RescoreStage`` (an index's exact score by id) or a ``RerankStage`` with ``top_n=None``
    (any reranker). ``fusion``: a ``Fusion`` or a method name (``"rrf"`` / ``"weighted"``),
    used when a candidate list carries more than one stage's scores (default:
    ``retrieval.fusion.DEFAULT_FUSION``, agreement-weighted z-scores). ``rerank``: rerank
    stages, run in order after fusion. ``retrieval.hybrid`` builds the default hybrid.
    ``fuse_candidates``: ``rerank`` fuses the given candidates' own scores (a run's BM25
    scores, say) as one more stage, named by ``source``, as a search fuses its first stages'
    scores (candidates given as bare ids, or all with one score, carry none).
    """

    def __init__(
        self,
        stages: Sequence[IndexStage] | IndexStage = (),
        *,
        fusion: Fusion | FusionMethod = DEFAULT_FUSION,
        rescore: Sequence[RescoreStage | RerankStage] | RescoreStage | RerankStage = (),
        rerank: Sequence[RerankStage] | RerankStage = (),
        fuse_candidates: bool = False,
    ) -> None:
        self.fuse_candidates = bool(fuse_candidates)
        self.stages: tuple[IndexStage, ...] = as_tuple(stages, IndexStage, "stages")
        self.rescore_stages: tuple[RescoreStage | RerankStage, ...] = as_rescore(rescore)
        self.rerank_stages: tuple[RerankStage, ...] = as_tuple(rerank, RerankStage, "rerank")
        self.fusion = fusion if isinstance(fusion, Fusion) else Fusion(method=fusion)
        names = self._stage_names()
        duplicate = next((n for n in names if names.count(n) > 1), None)
        if duplicate is not None:
            msg = f"Two stages are named {duplicate!r}; stage names label scores, make them unique."
            raise ConfigError(msg)
        if self._fuses(len(self.stages)) and self.fusion.label in names:
            msg = (
                f"Stage name {self.fusion.label!r} labels the fusion score of this Retriever; "
                "choose another stage name."
            )
            raise ConfigError(msg)

    def __repr__(self) -> str:
        first = ", ".join(f"{s.name}(depth={s.depth})" for s in self.stages)
        if not self.stages and self.fuse_candidates:
            first = "candidates"
        rescored = "".join(f" -> {s.name}(all)" for s in self.rescore_stages)
        later = ", ".join(f"{s.name}(top_n={s.top_n})" for s in self.rerank_stages)
        fused = f" -> {self.fusion.label}" if self._fuses(len(self.stages)) else ""
        return f"Retriever([{first}]{rescored}{fused} -> [{later}])"

    def _stage_names(self) -> list[str]:
        return [s.name for s in (*self.stages, *self.rescore_stages, *self.rerank_stages)]

    def _fuses(self, n_first: int) -> bool:
        """Whether candidates carry several stages' scores to fuse."""
        return n_first + len(self.rescore_stages) > 1

    @property
    def score_kind(self) -> str:
        """What a search result's ``score`` is: the last stage's name (a rerank stage, the
        fusion label, or the only first / rescore stage), e.g. ``zscore`` or ``maxsim``."""
        if self.rerank_stages:
            return self.rerank_stages[-1].name
        if self._fuses(len(self.stages)):
            return self.fusion.label
        only = (*self.stages, *self.rescore_stages)
        return only[0].name if only else ""

    # -- public API ----------------------------------------------------------------------
    def search(self, query: str, k: int = 10, filter: Filter | None = None) -> list[RankedHit]:
        """The best ``k`` hits for one query text, among items matching ``filter``."""
        return self.search_batch([check_query(query)], k, filter)[0]

    def search_batch(
        self, queries: Sequence[str], k: int = 10, filter: Filter | None = None
    ) -> list[list[RankedHit]]:
        """``search`` for each query of a batch (encoded together), one shared ``filter``."""
        queries = check_queries(queries)
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
        encoded: dict[int, Mapping[str, Any]] = {}
        per_stage = self._first_stages(queries, k, filter, encoded)
        lists = [
            {
                name: [h for h in found[i] if _matches(h, compiled)]
                for name, found in per_stage.items()
            }
            for i in range(len(queries))
        ]
        candidates = [_union(each, alone=not self._fuses(1)) for each in lists]
        candidates = self._rescore_and_fuse(queries, candidates, lists, encoded)
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
        """Run the rescore (+ fusion) and rerank stages over given candidates (e.g. a BM25
        run) for one query."""
        return self.rerank_batch([check_query(query)], [candidates], k, filter, source=source)[0]

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
        scores are kept under ``hit.scores[source]`` (and fused only with
        ``fuse_candidates``). ``k=None`` returns every survivor.
        """
        queries = check_queries(queries)
        if len(candidates) != len(queries):
            msg = f"rerank got {len(queries)} queries but {len(candidates)} candidate lists."
            raise ConfigError(msg)
        limit = None if k is None else check_positive("k", k, "rerank")
        compiled = compile_filter(filter)
        lists = [
            [h for h in (_as_ranked(c, source) for c in hits) if _matches(h, compiled)]
            for hits in candidates
        ]
        if self.fuse_candidates and source in self._stage_names():
            msg = (
                f"source={source!r} names a stage of this Retriever too; name the candidates' "
                "scores otherwise (e.g. source='run')."
            )
            raise ConfigError(msg)
        given = [self._given_scores(hits, source) for hits in lists]
        lists = self._rescore_and_fuse(queries, lists, given, {})
        return self._rerank(queries, lists, limit)

    def _given_scores(self, hits: list[RankedHit], source: str) -> dict[str, list[Hit]]:
        """The candidates' own scores as a first stage's list (when they are fused)."""
        scores = [h.scores[source] for h in hits]
        if not self.fuse_candidates or len(set(scores)) < 2:
            return {}
        return {source: [Hit(h.id, s) for h, s in zip(hits, scores, strict=True)]}

    # -- pipeline steps ------------------------------------------------------------------
    @staticmethod
    def _encode(
        encoder: Any, queries: list[str], encoded: dict[int, Mapping[str, Any]], stage: Any
    ) -> Any:
        """``encoder``'s output for ``stage.representation`` (each encoder runs once)."""
        key = id(encoder)
        if key not in encoded:
            encoded[key] = encoder.encode_queries(queries)
        outputs = encoded[key]
        if stage.representation not in outputs:
            msg = (
                f"Stage {stage.name!r} wants the {stage.representation!r} representation "
                f"but its encoder gives {sorted(outputs)}; set representation= to one."
            )
            raise ConfigError(msg)
        return outputs[stage.representation]

    def _first_stages(
        self,
        queries: list[str],
        k: int,
        filter: Filter | None,
        encoded: dict[int, Mapping[str, Any]],
    ) -> dict[str, list[list[Hit]]]:
        """Encode once per distinct encoder, then search every first stage."""
        results: dict[str, list[list[Hit]]] = {}
        for stage in self.stages:
            batch = self._encode(stage.encoder, queries, encoded, stage)
            lists = stage.index.search_batch(batch, k=max(stage.depth, k), filter=filter)
            if len(lists) != len(queries):
                msg = f"Stage {stage.name!r} gave {len(lists)} lists for {len(queries)} queries."
                raise ConfigError(msg)
            results[stage.name] = [list(hits) for hits in lists]
        return results

    def _rescore_and_fuse(
        self,
        queries: list[str],
        candidates: list[list[RankedHit]],
        lists: list[dict[str, list[Hit]]],
        encoded: dict[int, Mapping[str, Any]],
    ) -> list[list[RankedHit]]:
        """Give every candidate each rescore stage's score, then fuse all stages' scores."""
        rankings = [dict(each) for each in lists]
        for stage in self.rescore_stages:
            if isinstance(stage, RescoreStage):
                batch = self._encode(stage.encoder, queries, encoded, stage)
                ids = [[h.id for h in hits] for hits in candidates]
                scored: Sequence[Any] = stage.index.score_ids(batch, ids)
            else:
                scored = stage.reranker.score(queries, candidates)
            checked = check_scores(stage, scored, candidates)
            candidates = [
                _apply_scores(stage.name, hits, scores, None)
                for hits, scores in zip(candidates, checked, strict=True)
            ]
            for ranking, hits in zip(rankings, candidates, strict=True):
                ranking[stage.name] = [Hit(h.id, h.scores[stage.name]) for h in hits]
        return [
            self._fuse(hits, ranking) if self._fuses(len(first)) else hits
            for hits, ranking, first in zip(candidates, rankings, lists, strict=True)
        ]

    def _fuse(self, hits: list[RankedHit], rankings: dict[str, list[Hit]]) -> list[RankedHit]:
        by_id = {h.id: h for h in hits}
        label = self.fusion.label
        return [
            RankedHit(i, score, by_id[i].metadata, {**by_id[i].scores, label: score})
            for i, score in self.fusion.fuse(rankings)
        ]

    def _rerank(
        self, queries: list[str], candidates: list[list[RankedHit]], k: int | None
    ) -> list[list[RankedHit]]:
        for stage in self.rerank_stages:
            scored = stage.reranker.score(queries, candidates)
            checked = check_scores(stage, scored, candidates)
            candidates = [
                _apply_scores(stage.name, hits, scores, stage.top_n)
                for hits, scores in zip(candidates, checked, strict=True)
            ]
        return [hits[:k] if k is not None else hits for hits in candidates]


def _union(lists: dict[str, list[Hit]], *, alone: bool) -> list[RankedHit]:
    """One query's first-stage lists -> one candidate list with each stage's score; a single
    list that nothing will fuse keeps its order and score (``alone``)."""
    if len(lists) == 1 and alone:
        ((name, hits),) = lists.items()
        return [RankedHit(h.id, h.score, dict(h.metadata), {name: h.score}) for h in hits]
    first_seen: dict[str, Hit] = {}
    stage_scores: dict[str, dict[str, float]] = {}
    for name, hits in lists.items():
        for hit in hits:
            first_seen.setdefault(hit.id, hit)
            stage_scores.setdefault(hit.id, {})[name] = hit.score
    return [
        RankedHit(i, hit.score, dict(hit.metadata), stage_scores[i])
        for i, hit in first_seen.items()
    ]


def _apply_scores(
    name: str, hits: list[RankedHit], scores: np.ndarray, top_n: int | None
) -> list[RankedHit]:
    """Re-sort ``hits`` by ``scores`` (stable: ties keep the incoming order), keep ``top_n``."""
    order = np.argsort(-scores, kind="stable")[:top_n]
    return [
        RankedHit(
            hits[i].id,
            float(scores[i]),
            hits[i].metadata,
            {**hits[i].scores, name: float(scores[i])},
        )
        for i in order.tolist()
    ]


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
