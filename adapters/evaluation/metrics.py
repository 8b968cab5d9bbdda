"""Ranking metrics computed by pytrec-eval (trec_eval's own code), never hand-rolled."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence

from retrieval.errors import MissingDependencyError
from retrieval.types import Hit

METRICS: tuple[str, ...] = ("ndcg@10", "recall@100", "mrr@10", "map")
_MEASURES = {"ndcg@10": "ndcg_cut_10", "recall@100": "recall_100", "map": "map"}


def evaluate_run(
    qrels: Mapping[str, Mapping[str, int]], run: Mapping[str, Sequence[Hit]]
) -> dict[str, float]:
    """Mean over the judged queries of nDCG@10, Recall@100, MRR@10 and MAP.

    trec_eval orders each query's documents by score (ties by doc id), so hits must carry
    scores consistent with their order. A judged query missing from ``run`` counts as 0.
    MRR@10 is trec_eval's ``recip_rank`` on each query's top 10.
    """
    try:
        import pytrec_eval
    except ImportError as err:  # an optional dependency (extra "eval"), not a core one
        package = "pytrec-eval-terrier"
        raise MissingDependencyError(package, "eval") from err
    qrels_dict = {q: dict(d) for q, d in qrels.items()}
    full = {q: _scores(run.get(q, [])) for q in qrels_dict}
    top10 = {q: _scores(run.get(q, [])[:10]) for q in qrels_dict}
    measures = {"ndcg_cut.10", "recall.100", "map"}
    per_query = pytrec_eval.RelevanceEvaluator(qrels_dict, measures).evaluate(full)
    reciprocal = pytrec_eval.RelevanceEvaluator(qrels_dict, {"recip_rank"}).evaluate(top10)
    out = {
        name: _mean([per_query.get(q, {}).get(measure, 0.0) for q in qrels_dict])
        for name, measure in _MEASURES.items()
    }
    out["mrr@10"] = _mean([reciprocal.get(q, {}).get("recip_rank", 0.0) for q in qrels_dict])
    return {name: out[name] for name in METRICS}


def _scores(hits: Sequence[Hit]) -> dict[str, float]:
    # pytrec-eval drops a query with an empty ranking; a dummy id keeps it (scored 0).
    return {h.id: float(h.score) for h in hits} or {"\u2205": 0.0}


def _mean(values: list[float]) -> float:
    return float(statistics.mean(values)) if values else 0.0
