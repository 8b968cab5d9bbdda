"""Pipeline-level evaluation: build a collection (or rerank a run, or open a collection built
earlier), search every judged query, and measure quality with pytrec-eval together with
encode time, query latency, index size and peak memory."""

from __future__ import annotations

import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.collection import Collection, PipelineConfig
from adapters.evaluation.beir import BeirDataset
from adapters.evaluation.metrics import evaluate_run
from adapters.evaluation.trec import Run
from retrieval.errors import ConfigError
from retrieval.hybrid import fusion_from
from retrieval.types import Hit


@dataclass
class EvalResult:
    """Everything ``retrieval eval`` reports for one (data set, pipeline)."""

    dataset: str
    pipeline: str
    metrics: dict[str, float]
    """``ndcg@10``, ``recall@100``, ``mrr@10``, ``map`` (pytrec-eval means)."""
    latency_ms: dict[str, float]
    """``p50`` / ``p95`` of one query's end-to-end time (encode + search + rerank)."""
    index_bytes: int
    """Bytes of the saved index folder (0 when reranking a run: nothing is indexed)."""
    peak_rss_bytes: int
    """Peak resident memory of this process so far (models included)."""
    encode_s: float
    """Seconds spent encoding the documents (and building indexes); 0 for a collection
    opened with ``--index`` (built earlier)."""
    queries: int
    documents: int
    run: Run = field(default_factory=dict, repr=False)
    """The results, ``{query_id: hits}``, for a TREC run file."""
    index: str | None = None
    """The collection evaluated with ``--index`` (None: built by this run)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "pipeline": self.pipeline,
            "metrics": self.metrics,
            "latency_ms": self.latency_ms,
            "index_bytes": self.index_bytes,
            "peak_rss_bytes": self.peak_rss_bytes,
            "encode_s": round(self.encode_s, 3),
            "queries": self.queries,
            "documents": self.documents,
            "index": self.index,
        }


def describe(config: PipelineConfig, rerank_run: str | None) -> str:
    """A one-line pipeline label, e.g. ``hybrid model=... depth=100 -> maxsim rescore ...``."""
    parts: list[str] = [config.pipeline]
    if config.pipeline != "sparse":
        parts.append(f"model={_short(config.model)}")
    if config.pipeline in ("sparse", "hybrid") and config.sparse_model:
        parts.append(f"sparse_model={_short(config.sparse_model)}")
    if config.pipeline == "hybrid":
        fusion = fusion_from(config.fusion, rrf_k=config.rrf_k, weights=config.weights)
        sparse = "+sparse" if config.sparse_model else ""
        if rerank_run:  # the run's candidates and scores take the first stages' place
            parts.append(f"run+dense{sparse} -> maxsim -> {fusion.describe()}")
        else:
            first = f"dense+bm25{sparse} depth={config.depth}"
            parts.append(f"{first} -> maxsim rescore -> {fusion.describe()}")
    parts += [f"{r.label}@{r.top_n or 'all'}" for r in config.rerank]
    if rerank_run:
        parts.append(f"reranking {Path(rerank_run).name}")
    return " ".join(parts)


def _short(model: str) -> str:
    """A model's last path parts: ``all-MiniLM-L6-v2``, ``cognition/model``."""
    path = Path(model)
    if path.name in ("model", "models", "") and path.parent.name:
        return f"{path.parent.name}/{path.name}"
    return path.name or model


def evaluate_pipeline(
    dataset: BeirDataset,
    config: PipelineConfig,
    *,
    k: int = 100,
    rerank_run: Run | None = None,
    rerank_run_name: str | None = None,
    workdir: str | Path | None = None,
) -> EvalResult:
    """Evaluate ``config`` on ``dataset``: full retrieval, or reranking ``rerank_run``."""
    if k < 1:
        msg = f"--k must be a positive number of results per query; got {k}."
        raise ConfigError(msg)
    with tempfile.TemporaryDirectory(dir=workdir) as scratch:
        if rerank_run is None:
            pipeline = Collection(config, path=Path(scratch) / "index")
            start = time.perf_counter()
            pipeline.add(dataset.doc_ids, dataset.doc_texts)
            pipeline.save()
            encode_s = time.perf_counter() - start
            run, latencies = _search_all(pipeline.retriever, dataset, k)
            index_bytes, n_docs = pipeline.index_bytes(), len(dataset.doc_ids)
        else:
            run, latencies, encode_s, n_docs = _rerank_all(config, dataset, rerank_run, k)
            index_bytes = 0
    return EvalResult(
        dataset=dataset.name,
        pipeline=describe(config, rerank_run_name),
        metrics=evaluate_run(dataset.qrels, run),
        latency_ms=percentiles(latencies),
        index_bytes=index_bytes,
        peak_rss_bytes=peak_rss_bytes(),
        encode_s=encode_s,
        queries=len(dataset.query_ids),
        documents=n_docs,
        run=run,
    )


def evaluate_collection(
    dataset: BeirDataset,
    collection: Collection,
    *,
    k: int = 100,
    options: Mapping[str, Any] | None = None,
) -> EvalResult:
    """Evaluate a collection built earlier (``retrieval eval DATASET --index DIR``) on the
    data set's judged queries: its own pipeline (``options`` override search settings), chunk
    hits aggregated to document ids (``metadata["doc_id"]``, else the chunk id) by their best
    chunk's score. The corpus is not read: the collection is what is measured."""
    if k < 1:
        msg = f"--k must be a positive number of results per query; got {k}."
        raise ConfigError(msg)
    retriever = collection.retriever_with(options) if options else collection.retriever
    run, latencies = _search_all(retriever, dataset, k, by_document=len(collection))
    units = collection.state.count_done()
    return EvalResult(
        dataset=dataset.name,
        pipeline=describe(collection.config.replace(**dict(options or {})), None),
        metrics=evaluate_run(dataset.qrels, run),
        latency_ms=percentiles(latencies),
        index_bytes=collection.index_bytes(),
        peak_rss_bytes=peak_rss_bytes(),
        encode_s=0.0,
        queries=len(dataset.query_ids),
        documents=units or len(collection),
        run=run,
        index=str(collection.path),
    )


def _search_all(
    retriever: Any, dataset: BeirDataset, k: int, by_document: int = 0
) -> tuple[Run, list[float]]:
    """Search every judged query; with ``by_document`` (the number of chunks), chunk hits
    become document hits (best chunk per document), asking for more chunks until ``k``
    documents are found or every chunk has been seen."""
    run: Run = {}
    latencies = []
    retriever.search(dataset.query_texts[0], k=k) if dataset.query_texts else None  # warm-up
    for qid, text in zip(dataset.query_ids, dataset.query_texts, strict=True):
        start = time.perf_counter()
        if by_document:
            run[qid] = _documents(retriever, text, k, by_document)
        else:
            run[qid] = list(retriever.search(text, k=k))
        latencies.append((time.perf_counter() - start) * 1000)
    return run, latencies


def _documents(retriever: Any, query: str, k: int, total: int) -> list[Hit]:
    depth = k
    while True:
        best: dict[str, Hit] = {}
        hits = retriever.search(query, k=min(depth, total))
        for hit in hits:  # best first: a document's first chunk is its best
            doc_id = str(hit.metadata.get("doc_id", hit.id))
            best.setdefault(doc_id, Hit(doc_id, hit.score))
        if len(best) >= k or len(hits) < min(depth, total) or depth >= total:
            return list(best.values())[:k]
        depth *= 4


def _rerank_all(
    config: PipelineConfig, dataset: BeirDataset, rerank_run: Run, k: int
) -> tuple[Run, list[float], float, int]:
    texts = dataset.texts_by_id()
    candidates = {q: rerank_run.get(q, []) for q in dataset.query_ids}
    needed = list(dict.fromkeys(h.id for hits in candidates.values() for h in hits))
    missing = [d for d in needed if d not in texts]
    if missing:
        msg = (
            f"The run names {len(missing)} documents absent from the corpus (e.g. "
            f"{missing[0]!r}); rerank a run made on this corpus."
        )
        raise ConfigError(msg)
    pipeline = Collection(config)
    start = time.perf_counter()
    pipeline.put_documents(needed, [texts[d] for d in needed])
    encode_s = time.perf_counter() - start
    reranker = pipeline.candidate_reranker()
    run: Run = {}
    latencies = []
    for qid, text in zip(dataset.query_ids, dataset.query_texts, strict=True):
        start = time.perf_counter()
        run[qid] = list(reranker.rerank(text, candidates[qid], k=k, source="run"))
        latencies.append((time.perf_counter() - start) * 1000)
    return run, latencies, encode_s, len(needed)


def percentiles(latencies: Sequence[float]) -> dict[str, float]:
    """``p50`` / ``p95`` in milliseconds (inclusive method; 0 for no queries)."""
    if not latencies:
        return {"p50": 0.0, "p95": 0.0}
    if len(latencies) == 1:
        return {"p50": round(latencies[0], 3), "p95": round(latencies[0], 3)}
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return {"p50": round(cuts[49], 3), "p95": round(cuts[94], 3)}


def peak_rss_bytes() -> int:
    """Peak resident set size of this process (``ru_maxrss``: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def format_table(result: EvalResult) -> str:
    """The one-table human report."""
    built = f"- (built earlier: {result.index})" if result.index else f"{result.encode_s:.1f}"
    rows = [
        ("dataset", f"{result.dataset} ({result.queries} queries, {result.documents} docs)"),
        ("pipeline", result.pipeline),
        *((name, f"{value:.4f}") for name, value in result.metrics.items()),
        ("encode + index (s)", built),
        ("latency p50 (ms)", f"{result.latency_ms['p50']:.1f}"),
        ("latency p95 (ms)", f"{result.latency_ms['p95']:.1f}"),
        ("index size", _size(result.index_bytes) if result.index_bytes else "- (reranking)"),
        ("peak RSS", _size(result.peak_rss_bytes)),
    ]
    width = max(len(name) for name, _ in rows)
    line = "-" * (width + 2 + max(len(v) for _, v in rows))
    body = [f"{name:<{width}}  {value}" for name, value in rows]
    return "\n".join([line, *body[:2], line, *body[2:], line])


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{n} B"
        value /= 1024
    return f"{n} B"
