"""Quality gates of the multi-stage pipeline on real data (issue 8), through the toolkit's own
Retriever, indexes, encoders and rerankers; metrics by pytrec-eval.

* Cranfield (full-corpus retrieval): dense MiniLM, SPLADE-tiny, MaxSim over MiniLM tokens,
  and hybrids (RRF / weighted) - each against the reference nDCG@10 of ../shared/data/README.md.
* TREC DL19 (reranking BM25 top-100): BM25's own order, then dense / SPLADE / MaxSim / hybrid
  rerankers over the same candidates.

Documents are encoded once per model (MiniLM's token states give the dense vector and the
MaxSim tokens from one pass) and optionally cached in ``--cache`` (npy files). Latency is one
query end to end (query encoding + search + fusion/rerank), measured query by query.

    .venv/bin/python benchmarks/eval_quality.py --cache /tmp/eval-cache --json-out out.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

from eval_common import (  # noqa: E402
    SHARED_DATA,
    build_indexes,
    encode_cached,
    folder_bytes,
    load_encoders,
)

from adapters.collection import (  # noqa: E402
    DenseEncoder,
    DocumentEmbeddings,
    EmbeddingReranker,
    ScoreFusionReranker,
)
from adapters.evaluation import evaluate_run, load_beir, percentiles, read_run  # noqa: E402
from adapters.evaluation.runner import peak_rss_bytes  # noqa: E402
from retrieval import IndexStage, RerankStage, Retriever  # noqa: E402

REFERENCE = {  # ../shared/data/README.md, nDCG@10
    ("cranfield", "dense"): 0.506,
    ("cranfield", "maxsim"): 0.542,
    ("cranfield", "sparse"): 0.497,
    ("trec-dl19", "bm25"): 0.5058,
    ("trec-dl19", "dense"): 0.642,
    ("trec-dl19", "maxsim"): 0.657,
    ("trec-dl19", "sparse"): 0.675,
}
GATES = {  # issue 8
    ("cranfield", "dense"): 0.501,
    ("cranfield", "maxsim"): 0.537,
    ("cranfield", "sparse"): 0.492,
    ("trec-dl19", "dense"): 0.637,
    ("trec-dl19", "sparse"): 0.670,
    ("trec-dl19", "bm25"): 0.5058,
}


PIPELINES = (
    "dense",
    "sparse",
    "maxsim",
    "hybrid-rrf(dense+sparse+maxsim)",
    "hybrid-rrf(dense+sparse)",
    "hybrid-weighted(dense+sparse+maxsim)",
)


def _latency(fn: Any, queries: list[str], limit: int) -> dict[str, float]:
    times = []
    for query in queries[:limit]:
        start = time.perf_counter()
        fn(query)
        times.append((time.perf_counter() - start) * 1000)
    return percentiles(times)


def cranfield(
    tok: Any, spl: Any, cache: Path | None, latency_queries: int, wanted: set[str]
) -> list[dict]:
    ds = load_beir(SHARED_DATA / "cranfield")
    needs_tokens = any(("dense" in w or "maxsim" in w) for w in wanted)
    tok_docs, tok_s = (
        encode_cached(tok, "cranfield-minilm-tokens", ds.doc_texts, cache)
        if needs_tokens
        else (None, 0.0)
    )
    spl_docs, spl_s = encode_cached(spl, "cranfield-splade256", ds.doc_texts, cache)
    print(f"cranfield encoded: minilm tokens {tok_s:.0f}s, splade {spl_s:.0f}s", flush=True)
    if tok_docs is not None:
        # The dense vector from the token pass is the model's own MEAN-pooled embedding:
        sample = DenseEncoder(tok.llm).encode_documents(ds.doc_texts[:16])["dense"]
        agreement = float(np.min(np.sum(sample * tok_docs["dense"][:16], axis=1)))
        assert agreement >= 0.9999, agreement
    with tempfile.TemporaryDirectory() as scratch:
        idx = build_indexes(ds.doc_ids, tok_docs, spl_docs, Path(scratch))
        sizes = {name: folder_bytes(Path(scratch) / name) for name in idx}
        if tok_docs is None:
            pipelines = {"sparse": Retriever(IndexStage("sparse", spl, idx["sparse"], "sparse"))}
            return [
                _row("cranfield", n, r, ds, sizes, latency_queries) for n, r in pipelines.items()
            ]
        stage = {
            "dense": IndexStage("dense", tok, idx["dense"], "dense", depth=100),
            "sparse": IndexStage("sparse", spl, idx["sparse"], "sparse", depth=100),
            "maxsim": IndexStage("maxsim", tok, idx["maxsim"], "multivector", depth=100),
        }
        pipelines = {
            "dense": Retriever(stage["dense"]),
            "sparse": Retriever(stage["sparse"]),
            "maxsim": Retriever(stage["maxsim"]),
            "hybrid-rrf(dense+sparse+maxsim)": Retriever(list(stage.values()), fusion="rrf"),
            "hybrid-rrf(dense+sparse)": Retriever([stage["dense"], stage["sparse"]], fusion="rrf"),
            "hybrid-weighted(dense+sparse+maxsim)": Retriever(
                list(stage.values()), fusion="weighted"
            ),
        }
        pipelines = {n: r for n, r in pipelines.items() if n in wanted}
        return [_row("cranfield", n, r, ds, sizes, latency_queries) for n, r in pipelines.items()]


def _row(
    dataset: str, name: str, retriever: Retriever, ds: Any, sizes: dict, latency_queries: int
) -> dict:
    hits = retriever.search_batch(ds.query_texts, k=100)
    metrics = evaluate_run(ds.qrels, dict(zip(ds.query_ids, hits, strict=True)))
    parts = [s.name for s in retriever.stages]
    row = {
        "dataset": dataset,
        "pipeline": name,
        "metrics": metrics,
        "latency_ms": _latency(
            lambda q, r=retriever: r.search(q, k=100), ds.query_texts, latency_queries
        ),
        "index_bytes": sum(sizes[p] for p in parts),
    }
    print(json.dumps(row), flush=True)
    return row


def dl19(tok: Any, spl: Any, cache: Path | None, latency_queries: int) -> list[dict]:
    ds = load_beir(SHARED_DATA / "trec-dl19")
    bm25 = read_run(SHARED_DATA / "trec-dl19" / "bm25.run")
    candidates = [bm25.get(q, []) for q in ds.query_ids]
    needed = list(dict.fromkeys(h.id for hits in candidates for h in hits))
    texts = ds.texts_by_id()
    doc_texts = [texts[d] for d in needed]
    rows = [{"dataset": "trec-dl19", "pipeline": "bm25", "metrics": evaluate_run(ds.qrels, bm25)}]
    print(json.dumps(rows[-1]), flush=True)
    tok_docs, tok_s = encode_cached(tok, "dl19-minilm-tokens", doc_texts, cache)
    spl_docs, spl_s = encode_cached(spl, "dl19-splade256", doc_texts, cache)
    print(f"dl19 encoded: minilm tokens {tok_s:.0f}s, splade {spl_s:.0f}s", flush=True)
    tok_store, spl_store = DocumentEmbeddings(tok, texts), DocumentEmbeddings(spl, texts)
    tok_store.put(needed, tok_docs)
    spl_store.put(needed, spl_docs)
    stage = {
        "dense": RerankStage("dense", EmbeddingReranker(tok, "dense", tok_store)),
        "sparse": RerankStage("sparse", EmbeddingReranker(spl, "sparse", spl_store)),
        "maxsim": RerankStage("maxsim", EmbeddingReranker(tok, "multivector", tok_store)),
    }
    fuse = RerankStage("rrf", ScoreFusionReranker(["dense", "sparse", "maxsim"]))
    fuse2 = RerankStage("rrf", ScoreFusionReranker(["dense", "sparse"]))
    pipelines = {
        "dense": Retriever(rerank=stage["dense"]),
        "sparse": Retriever(rerank=stage["sparse"]),
        "maxsim": Retriever(rerank=stage["maxsim"]),
        "hybrid-rrf(dense+sparse+maxsim)": Retriever(rerank=[*stage.values(), fuse]),
        "hybrid-rrf(dense+sparse)": Retriever(rerank=[stage["dense"], stage["sparse"], fuse2]),
    }
    by_query = dict(zip(ds.query_texts, candidates, strict=True))
    for name, retriever in pipelines.items():
        hits = retriever.rerank_batch(ds.query_texts, candidates, source="bm25")
        metrics = evaluate_run(ds.qrels, dict(zip(ds.query_ids, hits, strict=True)))
        latency = _latency(
            lambda q, r=retriever: r.rerank(q, by_query[q], source="bm25"),
            ds.query_texts,
            latency_queries,
        )
        rows.append(
            {"dataset": "trec-dl19", "pipeline": name, "metrics": metrics, "latency_ms": latency}
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def table(rows: list[dict]) -> str:
    lines = [
        "| dataset | pipeline | nDCG@10 | ref | gate | R@100 | MRR@10 | MAP | p50 ms | p95 ms "
        "| index |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        m, key = row["metrics"], (row["dataset"], row["pipeline"])
        lat = row.get("latency_ms", {})
        gate = GATES.get(key)
        verdict = "" if gate is None else ("pass" if round(m["ndcg@10"], 4) >= gate else "FAIL")
        lines.append(
            f"| {row['dataset']} | {row['pipeline']} | {m['ndcg@10']:.4f} "
            f"| {REFERENCE.get(key, '')} | {'' if gate is None else f'>= {gate} {verdict}'} "
            f"| {m['recall@100']:.4f} | {m['mrr@10']:.4f} | {m['map']:.4f} "
            f"| {lat.get('p50', float('nan')):.1f} | {lat.get('p95', float('nan')):.1f} "
            f"| {row.get('index_bytes', 0) / 2**20:.1f} MiB |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, help="folder caching document representations")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--latency-queries", type=int, default=50)
    parser.add_argument("--only", choices=("cranfield", "trec-dl19"))
    parser.add_argument("--json-out", type=Path)
    parser.add_argument(
        "--pipelines",
        default=",".join(PIPELINES),
        help=f"comma-separated subset of {','.join(PIPELINES)} (encodes only what they need)",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    tok, spl = load_encoders()
    rows: list[dict] = []
    if args.only in (None, "trec-dl19"):
        rows += dl19(tok, spl, args.cache, args.latency_queries)
    if args.only in (None, "cranfield"):
        wanted = set(args.pipelines.split(","))
        rows += cranfield(tok, spl, args.cache, args.latency_queries, wanted)
    print(table(rows))
    print(f"peak RSS {peak_rss_bytes() / 2**20:.0f} MiB, torch threads {torch.get_num_threads()}")
    if args.json_out:
        args.json_out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
