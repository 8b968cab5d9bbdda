"""Grid mode: quality x latency x memory of pipeline settings side by side, on Cranfield.

Sweeps, over the same encoded corpus and queries (documents and queries are encoded once;
``--cache`` reuses eval_quality.py's document cache):

* rerank depth: dense first stage keeping ``depth`` candidates -> exact MaxSim rerank;
* fusion: RRF with several constants vs weighted fusion (min-max / z-score) of
  dense + sparse + MaxSim, and the default hybrid (``retrieval.hybrid``);
* PLAID (``late_interaction.PlaidIndex``): nbits x ncells, vs the exact MaxSim index.

Latency here is retrieval only (queries are pre-encoded, so the model forward, identical for
every row, is left out): p50 / p95 over single-query calls. Memory is the index size on disk
and the process peak RSS after the row. nDCG@10 by pytrec-eval.

    .venv/bin/python benchmarks/eval_grid.py --cache /tmp/eval-cache --threads 1

``--fusion`` runs the fusion / cascade study of fusion_grid.py on Cranfield and DL19 instead
(issue 19; see BENCHMARKS.md, "Fusion and cascades").
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

from eval_common import (  # noqa: E402
    SHARED_DATA,
    build_indexes,
    encode_cached,
    folder_bytes,
    load_encoders,
)

from adapters.evaluation import evaluate_run, load_beir, percentiles  # noqa: E402
from adapters.evaluation.runner import peak_rss_bytes  # noqa: E402
from adapters.pipeline import DocumentEmbeddings, EmbeddingReranker  # noqa: E402
from retrieval import Fusion, IndexStage, RerankStage, Retriever  # noqa: E402
from retrieval.filters import Filter  # noqa: E402
from retrieval.hybrid import HybridPart, hybrid_retriever  # noqa: E402


class Precomputed:
    """A QueryEncoder serving representations computed once (keyed by query text)."""

    def __init__(self, texts: Sequence[str], encoded: Mapping[str, Any]) -> None:
        self.kinds = tuple(encoded)
        self.row = {t: i for i, t in enumerate(texts)}
        self.encoded = encoded

    def encode_queries(self, queries: Sequence[str]) -> dict[str, Any]:
        rows = [self.row[q] for q in queries]
        out: dict[str, Any] = {}
        for kind, value in self.encoded.items():
            if kind == "dense":
                out[kind] = value[rows]
            elif kind == "sparse":
                out[kind] = [value[i] for i in rows]
            else:
                out[kind] = [value[i] for i in rows]
        return out


class Knobs:
    """An index whose ``search_batch`` always gets extra keyword knobs (PLAID ncells)."""

    def __init__(self, index: Any, **knobs: Any) -> None:
        self.index, self.knobs = index, knobs

    def search_batch(self, queries: Any, k: int = 10, filter: Filter | None = None) -> Any:
        return self.index.search_batch(queries, k, filter, **self.knobs)


def measure(
    name: str, retriever: Retriever, ds: Any, index_bytes: int, limit: int, k: int = 100
) -> dict:
    """Quality of ``k`` results per query (a first stage's depth is raised to ``k``, so
    depth rows ask for ``k = depth``: their Recall@100 counts only ``depth`` results)."""
    hits = retriever.search_batch(ds.query_texts, k=k)
    metrics = evaluate_run(ds.qrels, dict(zip(ds.query_ids, hits, strict=True)))
    times = []
    for query in ds.query_texts[:limit]:
        start = time.perf_counter()
        retriever.search(query, k=k)
        times.append((time.perf_counter() - start) * 1000)
    row = {
        "setting": name,
        "ndcg@10": round(metrics["ndcg@10"], 4),
        "recall@100": round(metrics["recall@100"], 4),
        "latency_ms": percentiles(times),
        "index_mib": round(index_bytes / 2**20, 1),
        "peak_rss_mib": round(peak_rss_bytes() / 2**20),
    }
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--latency-queries", type=int, default=100)
    parser.add_argument("--no-plaid", action="store_true")
    parser.add_argument("--plaid-only", action="store_true", help="only the PLAID rows")
    parser.add_argument("--json-out", type=Path)
    parser.add_argument(
        "--fusion",
        action="store_true",
        help="the fusion / cascade study and the default hybrid through Pipeline "
        "(fusion_grid.py) on cranfield and trec-dl19 instead",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.fusion:
        from fusion_grid import build_views, door_rows, markdown, study

        tok, spl = load_encoders()
        rows = study(build_views(SHARED_DATA, args.cache, tok, spl), None)
        rows += door_rows(SHARED_DATA, args.cache)
        print(markdown(rows))
        if args.json_out:
            args.json_out.write_text(json.dumps(rows, indent=1))
        return
    ds = load_beir(SHARED_DATA / "cranfield")
    tok, spl = load_encoders()
    tok_docs, _ = encode_cached(tok, "cranfield-minilm-tokens", ds.doc_texts, args.cache)
    spl_docs, _ = encode_cached(spl, "cranfield-splade256", ds.doc_texts, args.cache)
    q_tok = Precomputed(ds.query_texts, tok.encode_queries(ds.query_texts))
    q_spl = Precomputed(ds.query_texts, spl.encode_queries(ds.query_texts))
    rows, limit = [], args.latency_queries
    with tempfile.TemporaryDirectory() as scratch:
        idx = build_indexes(ds.doc_ids, tok_docs, spl_docs, Path(scratch))
        size = {name: folder_bytes(Path(scratch) / name) for name in idx}
        dense = IndexStage("dense", q_tok, idx["dense"], "dense", depth=100)
        sparse = IndexStage("sparse", q_spl, idx["sparse"], "sparse", depth=100)
        maxsim = IndexStage("maxsim", q_tok, idx["maxsim"], "multivector", depth=100)
        store = DocumentEmbeddings(tok)
        store.put(ds.doc_ids, tok_docs)
        rerank = RerankStage("maxsim", EmbeddingReranker(q_tok, "multivector", store))
        if args.plaid_only:
            rows += plaid_rows(ds, tok_docs, q_tok, Path(scratch), limit)
            print(table(rows))
            return
        rows.append(measure("dense only", Retriever(dense), ds, size["dense"], limit))
        rows.append(measure("exact MaxSim only", Retriever(maxsim), ds, size["maxsim"], limit))
        for depth in (10, 20, 50, 100):
            first = IndexStage("dense", q_tok, idx["dense"], "dense", depth=depth)
            retriever = Retriever(first, rerank=rerank)
            mem = size["dense"] + size["maxsim"]
            name = f"dense@{depth} -> MaxSim rerank"
            rows.append(measure(name, retriever, ds, mem, limit, k=depth))
        all_bytes = sum(size.values())
        for rrf_k in (10.0, 60.0, 100.0):
            fusion = Fusion("rrf", rrf_k=rrf_k)
            retriever = Retriever([dense, sparse, maxsim], fusion=fusion)
            rows.append(
                measure(f"RRF k={rrf_k:g} (dense+sparse+maxsim)", retriever, ds, all_bytes, limit)
            )
        for norm in ("minmax", "zscore"):
            fusion = Fusion("weighted", normalize=norm)
            retriever = Retriever([dense, sparse, maxsim], fusion=fusion)
            rows.append(
                measure(f"weighted {norm} (dense+sparse+maxsim)", retriever, ds, all_bytes, limit)
            )
        parts = [
            HybridPart("dense", q_tok, idx["dense"], "dense"),
            HybridPart("sparse", q_spl, idx["sparse"], "sparse"),
            HybridPart("maxsim", q_tok, idx["maxsim"], "multivector"),
        ]
        name = "default hybrid: dense+sparse@100 -> MaxSim rescore -> agreement z-scores"
        rows.append(measure(name, hybrid_retriever(parts), ds, all_bytes, limit))
        name = "default hybrid without sparse: dense@100 -> MaxSim rescore -> z-scores"
        without = hybrid_retriever([parts[0], parts[2]])
        rows.append(measure(name, without, ds, size["dense"] + size["maxsim"], limit))
        if not args.no_plaid:
            rows += plaid_rows(ds, tok_docs, q_tok, Path(scratch), limit)
    print(table(rows))
    if args.json_out:
        args.json_out.write_text(json.dumps(rows, indent=1))


def plaid_rows(ds: Any, tok_docs: Any, q_tok: Any, scratch: Path, limit: int) -> list[dict]:
    from late_interaction import PlaidIndex

    rows = []
    dim = tok_docs["multivector"][0].shape[1]
    for nbits in (2, 4):
        folder = scratch / f"plaid{nbits}"
        start = time.perf_counter()
        index = PlaidIndex.create(folder, dim=dim, nbits=nbits)
        index.add(ds.doc_ids, tok_docs["multivector"])
        index.save()
        build_s = time.perf_counter() - start
        for ncells in (1, 2, 4, 8):
            stage = IndexStage("plaid", q_tok, Knobs(index, ncells=ncells), "multivector")
            name = f"PLAID nbits={nbits} ncells={ncells} (build {build_s:.0f}s)"
            rows.append(measure(name, Retriever(stage), ds, folder_bytes(folder), limit))
    return rows


def table(rows: list[dict]) -> str:
    lines = [
        "| setting | nDCG@10 | R@100 | p50 ms | p95 ms | index MiB | peak RSS MiB |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['setting']} | {r['ndcg@10']:.4f} | {r['recall@100']:.4f} "
        f"| {r['latency_ms']['p50']:.1f} | {r['latency_ms']['p95']:.1f} | {r['index_mib']} "
        f"| {r['peak_rss_mib']} |"
        for r in rows
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
