"""PlaidIndex vs exact MaxSim (and fast-plaid when importable), side by side in one run.

Synthetic: clustered unit tokens (dim 128), documents of 50-150 tokens, queries of 32 tokens
made from one document's tokens plus noise. Real: all-MiniLM-L6-v2 token embeddings of
Cranfield (``../shared/data/cranfield``), L2-normalized, scored as in
``tests/encoders/test_real_quality.py`` (exact MaxSim nDCG@10 reference 0.542).

Reported: recall@10 of PLAID against exact MaxSim's top 10, p50 / p95 latency per query and
their ratio to exact MaxSim (``late_interaction.maxsim`` over the packed corpus, same
threads), index bytes per token, build time and peak RSS. ``--grid`` sweeps the search knobs
(how the defaults were chosen). ``--rescore`` adds the fp16 side store and runs each setting
with and without it; ``recall@10_vs_decoded`` compares with exhaustive MaxSim over the
decompressed tokens (the search stages' own loss, apart from the codec's). ``--sides
none,fp16,int8`` compares the exact side stores on one build (each attached in turn to the
same compressed index; ``none`` scores the decompressed tokens), at the depth derived from the
index and at the fixed ``ndocs=256`` of earlier versions, with total bytes per token (index
plus side store). ``--drift``
measures many small updates from new directions against a fresh build. ``--rss`` measures
the streaming build's peak RSS for several corpus sizes, each in a fresh process.

    .venv/bin/python benchmarks/plaid_search.py --tokens 1000000 --grid
    .venv/bin/python benchmarks/plaid_search.py --cranfield ../shared/data/cranfield
    .venv/bin/python benchmarks/plaid_search.py --rss 250000 500000 1000000
    .venv/bin/python benchmarks/plaid_search.py --drift 200000 --queries 30
    .venv/bin/python benchmarks/plaid_search.py --tokens 1000000 --rescore
    .venv/bin/python benchmarks/plaid_search.py --large 10000000 --queries 30
    .venv/bin/python benchmarks/plaid_search.py --tokens 1000000 --queries 30 --sides none,fp16,int8
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from plaid_common import (
    chunks,
    cranfield_tokens,
    decoded_truth,
    depth_settings,
    exact_topk,
    fast_plaid_runs,
    measure_settings,
    pct,
    peak_rss_mib,
    plaid_run,
    recall,
    side_settings,
    synthetic_batches,
    synthetic_queries,
    timed,
)

from late_interaction import PlaidIndex, maxsim_matrix
from retrieval.multivector import MultiVectorEmbeddings


def bench_synthetic(args: argparse.Namespace) -> dict[str, Any]:
    docs = [d for batch in synthetic_batches(args.tokens, args.dim, 0) for d in batch]
    queries = synthetic_queries(docs, args.queries, 1)
    packed = MultiVectorEmbeddings.from_list(docs)
    truth, exact_times = exact_topk(queries, packed, 10)
    index = PlaidIndex.create(None, dim=args.dim, nbits=args.nbits, **_config(args))
    ids = [str(i) for i in range(len(docs))]
    rss0 = peak_rss_mib()
    _, build = timed(lambda: index.add(ids, iter(chunks(docs, 2000))))
    decoded, _ = decoded_truth(index, len(docs), queries, 10)
    report: dict[str, Any] = {
        "tokens": int(packed.vectors.shape[0]),
        "docs": len(docs),
        "centroids": index.n_centroids,
        "bytes_per_token": round(index.bytes_per_token, 2),
        "side_bytes_per_token": round(index.side_bytes_per_token, 2),
        "decoded_exhaustive_recall@10": round(recall([t.tolist() for t in decoded], truth), 4),
        "build_s": round(build, 1),
        "peak_rss_mib_before_build": round(rss0),
        "peak_rss_mib_after_build": round(peak_rss_mib()),
        "exact_p50_ms": round(pct(exact_times, 50), 2),
        "exact_p95_ms": round(pct(exact_times, 95), 2),
        "runs": [],
    }
    report["docs_per_probed_cell"] = round(index._tokens.docs_per_cell(), 1)
    settings = _settings(args, index, lambda: [packed.vectors.numpy()])
    report["runs"] = measure_settings(index, queries, settings, truth, exact_times, decoded)
    if args.fast_plaid:
        report["fast_plaid"] = fast_plaid_runs(docs, queries, truth, args, 10)
        report["fast_plaid"].pop("got", None)
    return report


def _sides(args: argparse.Namespace) -> list[str]:
    """Side store kinds to compare (``--sides``; ``--rescore`` means none and fp16)."""
    if args.sides:
        return args.sides.split(",")
    return ["none", "fp16"] if args.rescore else []


def _settings(args: argparse.Namespace, index: PlaidIndex, blocks: Any) -> Any:
    """Search settings of a run: ``--grid`` or the default; with ``--sides`` each side store
    at the derived depth and at the fixed ``ndocs=256`` of earlier versions."""
    sides = _sides(args)
    if not sides:
        return _grid(args) if args.grid else [{}]
    settings = _grid(args) if args.grid else depth_settings(index, 10)
    return side_settings(index, sides, blocks, settings)


def _config(args: argparse.Namespace) -> dict[str, Any]:
    built = [kind for kind in _sides(args) if kind != "none"]
    out: dict[str, Any] = {"rescore": built[0]} if built else {}
    if args.n_centroids:
        out["n_centroids"] = args.n_centroids
    if args.centroids_per_sqrt_token:
        out["centroids_per_sqrt_token"] = args.centroids_per_sqrt_token
    return out


def _grid(args: argparse.Namespace) -> list[dict[str, Any]]:
    grid: list[dict[str, Any]] = [{}]
    for ncells in (1, 2, 4, 8):
        for ndocs in (64, 256, 1024):
            for threshold in (None, 0.45):
                grid.append(
                    {"ncells": ncells, "ndocs": ndocs, "centroid_score_threshold": threshold}
                )
    return grid


def bench_drift(args: argparse.Namespace) -> dict[str, Any]:
    """Many small updates from new directions vs a fresh build: train on topics 0-255 (half
    the tokens), then add documents of topics 256-511 (centres the codebook never saw) in
    batches of ``--drift-batch`` documents; queries come from the new documents."""
    half = args.drift // 2
    old = [d for b in synthetic_batches(half, args.dim, 0, topics=(0, 256)) for d in b]
    new = [d for b in synthetic_batches(half, args.dim, 1, topics=(256, 512)) for d in b]
    docs = old + new
    queries = synthetic_queries(new, args.queries, 2)
    truth, _ = exact_topk(queries, MultiVectorEmbeddings.from_list(docs), 10)
    ids = [str(i) for i in range(len(docs))]
    report: dict[str, Any] = {"tokens": sum(len(d) for d in docs), "docs": len(docs)}
    for name, options in (("fresh", {}), ("updated", {}), ("updated_no_growth", {})):
        if name == "updated_no_growth":
            options = {"grow_after": 10**9}
        index = PlaidIndex.create(None, dim=args.dim, nbits=args.nbits, **_config(args), **options)

        def build(index: PlaidIndex = index, name: str = name) -> None:
            if name == "fresh":
                index.add(ids, iter(chunks(docs, 2000)))
                return
            index.add(ids[: len(old)], iter(chunks(old, 2000)))
            for start in range(len(old), len(docs), args.drift_batch):
                stop = start + args.drift_batch
                index.add(ids[start:stop], docs[start:stop])

        _, seconds = timed(build)
        got, times = plaid_run(index, queries, 10)
        row = {
            "index": name,
            "recall@10": round(recall(got, truth), 4),
            "p50_ms": round(pct(times, 50), 2),
            "centroids": index.n_centroids,
            "build_s": round(seconds, 1),
            "bytes_per_token": round(index.bytes_per_token, 2),
        }
        report[name] = row
        print(json.dumps(row), flush=True)
    report["updated_over_fresh"] = round(
        report["updated"]["recall@10"] / report["fresh"]["recall@10"], 4
    )
    return report


def bench_large(args: argparse.Namespace) -> dict[str, Any]:
    """A corpus too big to hold twice: streamed into the index batch by batch while each
    batch is also written to a float32 ``.npy`` under ``--scratch`` (memory-mapped for the
    exact baseline); one query comes from the first document of each of ``--queries``
    batches. Peak RSS is read right after the build."""
    n, dim = args.large, args.dim
    scratch = Path(args.scratch)
    header = {"descr": "<f4", "fortran_order": False, "shape": (n, dim)}
    handle = scratch.open("wb")  # plain writes: page cache, not this process's RSS
    np.lib.format.write_array_header_1_0(handle, header)
    lengths: list[int] = []
    sources: list[np.ndarray] = []

    def stream() -> Iterator[list[np.ndarray]]:
        for batch in synthetic_batches(n, dim, 0):
            handle.write(np.concatenate(batch).astype("<f4").tobytes())
            lengths.extend(len(d) for d in batch)
            if len(sources) < args.queries:
                sources.append(batch[0])
            yield batch

    index = PlaidIndex.create(None, dim=dim, nbits=args.nbits, **_config(args))
    rss0 = peak_rss_mib()
    _, build = timed(lambda: index.add((str(i) for i in range(10**9)), stream()))
    report: dict[str, Any] = {
        "tokens": index.n_tokens,
        "docs": len(lengths),
        "centroids": index.n_centroids,
        "bytes_per_token": round(index.bytes_per_token, 2),
        "build_s": round(build, 1),
        "rss_before_build_mib": round(rss0),
        "peak_rss_after_build_mib": round(peak_rss_mib()),
    }
    print(json.dumps(report), flush=True)
    handle.close()
    raw = np.load(scratch, mmap_mode="r")
    queries = [synthetic_queries([doc], 1, i)[0] for i, doc in enumerate(sources)]
    offsets = torch.from_numpy(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64))
    packed = MultiVectorEmbeddings(torch.from_numpy(np.asarray(raw)), offsets)
    exact_topk(queries[:1], packed, 10)  # warm-up: pages the file in
    truth, exact_times = exact_topk(queries, packed, 10)
    report["exact_p50_ms"] = round(pct(exact_times, 50), 2)
    report["docs_per_probed_cell"] = round(index._tokens.docs_per_cell(), 1)

    def blocks() -> Iterator[np.ndarray]:
        for start in range(0, len(raw), 1 << 20):
            yield np.asarray(raw[start : start + (1 << 20)])

    if args.grid:  # candidates: the limit at this size (near-tied same-topic documents)
        settings: Any = [{}, {"ndocs": 256}, {"ndocs": 1024}, {"ndocs": 4096}]
        if _sides(args):
            settings = side_settings(index, _sides(args), blocks, settings)
    else:
        settings = _settings(args, index, blocks)
    report["runs"] = measure_settings(index, queries, settings, truth, exact_times)
    return report


def bench_rss(n_tokens: int, dim: int, nbits: int) -> dict[str, Any]:
    """Streaming build in this (fresh) process: the corpus is generated batch by batch."""
    index = PlaidIndex.create(None, dim=dim, nbits=nbits)
    ids = (str(i) for i in range(10**9))
    rss0 = peak_rss_mib()
    _, build = timed(lambda: index.add(ids, synthetic_batches(n_tokens, dim, 0)))
    return {
        "tokens": index.n_tokens,
        "build_s": round(build, 1),
        "rss_before_mib": round(rss0),
        "peak_rss_mib": round(peak_rss_mib()),
        "index_mib": round(index.bytes_per_token * index.n_tokens / 2**20, 1),
    }


def bench_cranfield(args: argparse.Namespace) -> dict[str, Any]:
    import pytrec_eval
    import torch.nn.functional as F

    doc_ids, doc_states, query_ids, query_states, qrels = cranfield_tokens(args)
    docs = [F.normalize(s, dim=-1).numpy() for s in doc_states]
    queries = [F.normalize(s, dim=-1).numpy() for s in query_states]
    packed = MultiVectorEmbeddings.from_list(docs)
    exact_scores = maxsim_matrix([torch.from_numpy(q) for q in queries], packed)
    truth, exact_times = exact_topk(queries, packed, 100)
    index = PlaidIndex.create(None, dim=docs[0].shape[1], nbits=args.nbits, **_config(args))
    _, build = timed(lambda: index.add([str(i) for i in range(len(docs))], docs))
    decoded, _ = decoded_truth(index, len(docs), queries, 10)

    def ndcg(run: dict[str, dict[str, float]]) -> float:
        results = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"}).evaluate(run)
        return statistics.mean(r["ndcg_cut_10"] for r in results.values())

    top = exact_scores.topk(100, dim=1)
    exact_run = {
        q: {
            doc_ids[j]: float(s)
            for s, j in zip(top.values[i].tolist(), top.indices[i].tolist(), strict=True)
        }
        for i, q in enumerate(query_ids)
    }
    report: dict[str, Any] = {
        "tokens": int(packed.vectors.shape[0]),
        "docs": len(docs),
        "queries": len(queries),
        "centroids": index.n_centroids,
        "bytes_per_token": round(index.bytes_per_token, 2),
        "side_bytes_per_token": round(index.side_bytes_per_token, 2),
        "decoded_exhaustive_recall@10": round(recall([t.tolist() for t in decoded], truth), 4),
        "build_s": round(build, 1),
        "exact_ndcg10": round(ndcg(exact_run), 4),
        "exact_p50_ms": round(pct(exact_times, 50), 2),
        "runs": [],
    }
    report["docs_per_probed_cell"] = round(index._tokens.docs_per_cell(), 1)
    for knobs in _settings(args, index, lambda: docs):
        label = {key: knobs.pop(key) for key in ("side", "bytes_per_token") if key in knobs}
        if label:
            label["ndocs_used"] = knobs.get("ndocs") or index.search_defaults(100).ndocs
        got, times = plaid_run(index, queries, 100, **knobs)
        run = {
            q: {doc_ids[j]: float(100 - r) for r, j in enumerate(got[i])}
            for i, q in enumerate(query_ids)
        }
        row = {
            **label,
            **knobs,
            "ndcg10": round(ndcg(run), 4),
            "ndcg_ratio": round(ndcg(run) / report["exact_ndcg10"], 4),
            "recall@10": round(recall(got, truth), 4),
            "recall@10_vs_decoded": round(recall(got, decoded), 4),
            "p50_ms": round(pct(times, 50), 2),
            "p50_ratio": round(pct(times, 50) / report["exact_p50_ms"], 4),
        }
        report["runs"].append(row)
        print(json.dumps(row), flush=True)
    if args.fast_plaid:
        fast = fast_plaid_runs(docs, queries, truth, args, 100)
        if "got" in fast:  # nDCG@10 of its last setting
            got = fast.pop("got")
            run = {
                q: {doc_ids[j]: float(100 - r) for r, j in enumerate(got[i])}
                for i, q in enumerate(query_ids)
            }
            fast["last_setting_ndcg10"] = round(ndcg(run), 4)
        report["fast_plaid"] = fast
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokens", type=int, default=0, help="synthetic corpus size")
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--nbits", type=int, default=2)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--n-centroids", type=int, default=0)
    parser.add_argument("--centroids-per-sqrt-token", type=float, default=0.0)
    parser.add_argument("--fast-plaid", action="store_true", help="also run fast-plaid")
    parser.add_argument("--grid", action="store_true", help="sweep ncells / ndocs / threshold")
    parser.add_argument(
        "--rescore", action="store_true", help="fp16 side store: runs with and without it"
    )
    parser.add_argument(
        "--sides",
        default="",
        help="side stores to compare on one build, e.g. none,fp16,int8 (derived and fixed depth)",
    )
    parser.add_argument("--large", type=int, default=0, help="streamed corpus size (10M)")
    parser.add_argument("--scratch", default="/tmp/plaid-large.npy", help="raw tokens of --large")
    parser.add_argument("--drift", type=int, default=0, help="drift benchmark corpus size")
    parser.add_argument("--drift-batch", type=int, default=20, help="documents per update")
    parser.add_argument("--cranfield", default="", help="path of ../shared/data/cranfield")
    parser.add_argument("--cache", default="/tmp/plaid-cranfield-minilm")
    parser.add_argument("--rss", type=int, nargs="*", default=[], help="corpus sizes")
    parser.add_argument("--rss-child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import faiss

    faiss.omp_set_num_threads(args.threads)
    if args.rss_child:
        print(json.dumps(bench_rss(args.rss_child, args.dim, args.nbits)))
        return
    report: dict[str, Any] = {"threads": args.threads, "nbits": args.nbits}
    if args.tokens:
        report["synthetic"] = bench_synthetic(args)
    if args.cranfield:
        report["cranfield"] = bench_cranfield(args)
    if args.drift:
        report["drift"] = bench_drift(args)
    if args.large:
        report["large"] = bench_large(args)
    for size in args.rss:
        child = [sys.executable, __file__, "--rss-child", str(size), "--threads", str(args.threads)]
        out = subprocess.run(child, capture_output=True, text=True, check=True)
        report.setdefault("streaming_rss", []).append(json.loads(out.stdout.splitlines()[-1]))
        print(out.stdout.strip(), flush=True)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
