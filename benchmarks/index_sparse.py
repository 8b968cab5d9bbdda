"""Sparse index benchmark: SparseIndex vs scipy, same data, same queries, ratios in one run.

Synthetic SPLADE-like data: documents with ``--doc-nnz`` distinct terms and queries with
``--query-nnz``, term ids drawn from a Zipf law over a 30522-term vocabulary, positive
weights. The engines, exact top-10 by dot product, one query at a time, one thread:

* ``SparseIndex``: ``add`` of every document, then ``search``.
* scipy column gather: a CSC copy of the CSR matrix ``X (n, vocab)``; a query is
  ``X[:, terms] @ weights`` (the inverted-index algorithm in scipy's C++) then
  ``argpartition`` for the top 10, as a user would write it.
* scipy brute force: ``X @ q`` over every document, then the same top 10.

Three worker processes. ``time`` builds every engine and times them query by query in turn
(engine ``e`` of ``m`` runs query ``i + e * n / m`` at step ``i``, the order rotating, so each
runs every query once per round, load from other jobs hits all alike and none reuses
another's warm caches); it also times the scoring step alone (``Postings.scores`` vs the
gather's matrix-vector product, no top-k) and checks that the top-10 scores agree.
``rss-index`` and ``rss-scipy`` each build one engine alone and report its peak RSS: of the
whole process (generating the data included, as before) and from the build on (VmHWM
restarted once the data exists, so the growth over the data is what the engine itself
costs).

    .venv/bin/python benchmarks/index_sparse.py --n 1000000   # the recorded run
    .venv/bin/python benchmarks/index_sparse.py --n 50000     # a quick look
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from index_common import percentiles, python_flags

ROOT = Path(__file__).resolve().parents[1]
VOCAB = 30522
K = 10


def make_csr(n: int, nnz: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(indptr, indices, values)`` of ``n`` rows with about ``nnz`` distinct Zipf terms."""
    rng = np.random.default_rng(seed)
    ranks = np.arange(1, VOCAB + 1, dtype=np.float64)
    probs = 1.0 / (ranks + 10.0)  # Zipf with a flattened head, like subword frequencies
    probs /= probs.sum()
    permutation = np.random.default_rng(99).permutation(VOCAB)  # frequent ids spread out
    parts_ptr, parts_idx = [np.zeros(1, np.int64)], []
    offset = 0
    for start in range(0, n, 50_000):
        m = min(50_000, n - start)
        rows = np.repeat(np.arange(m, dtype=np.int64), nnz)
        terms = permutation[rng.choice(VOCAB, size=m * nnz, p=probs)].astype(np.int64)
        keys = np.unique(rows * VOCAB + terms)  # sorted, duplicates within a row dropped
        counts = np.bincount(keys // VOCAB, minlength=m)
        parts_idx.append((keys % VOCAB).astype(np.int32))
        parts_ptr.append(offset + np.cumsum(counts))
        offset += len(keys)
    indices = np.concatenate(parts_idx)
    values = (rng.random(len(indices), dtype=np.float32) * 2 + 0.1).astype(np.float32)
    return np.concatenate(parts_ptr), indices, values


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def status_mb(field: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (peak since the last reset) of this process, in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


DATA_RSS: dict[str, float] = {}


def data_ready() -> None:
    """Note the RSS with the input data generated, and restart the VmHWM peak from it (Linux
    ``clear_refs`` 5), so the peak from here on is what building and searching cost."""
    DATA_RSS["mb"] = status_mb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")


def top(scores: np.ndarray) -> np.ndarray:
    """The usual numpy top-k: indices of the 10 best scores, best first."""
    part = np.argpartition(-scores, K - 1)[:K]
    return part[np.argsort(-scores[part])]


def build_index(args: argparse.Namespace) -> tuple[Any, Any, float]:
    from indexes import SparseIndex
    from retrieval import SparseEmbeddings

    docs = SparseEmbeddings(*make_csr(args.n, args.doc_nnz, 0), vocab_size=VOCAB)
    queries = SparseEmbeddings(*make_csr(args.queries, args.query_nnz, 1), vocab_size=VOCAB)
    data_ready()
    index = SparseIndex.create(vocab_size=VOCAB)
    start = time.perf_counter()
    for first in range(0, args.n, args.add_batch or args.n):
        last = min(first + (args.add_batch or args.n), args.n)
        part = docs if last - first == args.n else _rows(docs, first, last)
        index.add([str(i) for i in range(first, last)], part)
    return index, queries, time.perf_counter() - start


def _rows(docs: Any, first: int, last: int) -> Any:
    from retrieval import SparseEmbeddings

    lo, hi = docs.indptr[first], docs.indptr[last]
    indptr = docs.indptr[first : last + 1] - lo
    return SparseEmbeddings(indptr, docs.indices[lo:hi], docs.values[lo:hi], VOCAB)


def build_scipy(args: argparse.Namespace) -> tuple[Any, Any, float]:
    import scipy.sparse

    indptr, indices, values = make_csr(args.n, args.doc_nnz, 0)
    data_ready()
    start = time.perf_counter()
    matrix = scipy.sparse.csr_matrix((values, indices, indptr), shape=(args.n, VOCAB))
    del indptr, indices, values
    columns = matrix.tocsc()
    return matrix, columns, time.perf_counter() - start


def query_arrays(args: argparse.Namespace) -> list[tuple[np.ndarray, np.ndarray]]:
    q_ptr, q_idx, q_val = make_csr(args.queries, args.query_nnz, 1)
    return [
        (q_idx[q_ptr[i] : q_ptr[i + 1]], q_val[q_ptr[i] : q_ptr[i + 1]])
        for i in range(args.queries)
    ]


def run_rss(args: argparse.Namespace, engine: str) -> dict[str, Any]:
    if engine == "index":
        index, queries, build_s = build_index(args)
        for i in range(min(20, args.queries)):
            index.search(queries[i], k=K)
        extra = {"index_mb": index.nbytes / 2**20, "segments": index.n_segments}
    else:
        _, columns, build_s = build_scipy(args)
        for terms, weights in query_arrays(args)[:20]:
            top(np.asarray(columns[:, terms] @ weights).ravel())
        extra = {"csc_mb": (columns.data.nbytes + columns.indices.nbytes) / 2**20}
    return {
        "build_s": build_s,
        "peak_rss_mb": peak_rss_mb(),
        "data_rss_mb": DATA_RSS["mb"],
        "build_peak_rss_mb": status_mb("VmHWM"),
        **extra,
    }


def run_time(args: argparse.Namespace) -> dict[str, Any]:
    index, queries, index_build_s = build_index(args)
    matrix, columns, scipy_build_s = build_scipy(args)
    pairs = query_arrays(args)
    postings = index._postings  # the scoring step alone, for the breakdown

    def dense_query(i: int) -> np.ndarray:
        out = np.zeros(VOCAB, np.float32)
        out[pairs[i][0]] = pairs[i][1]
        return out

    engines = {
        "index": lambda i: index.search(queries[i], k=K),
        "gather": lambda i: top(np.asarray(columns[:, pairs[i][0]] @ pairs[i][1]).ravel()),
        "brute": lambda i: top(matrix @ dense_query(i)),
        "index_scoring": lambda i: postings.scores(*pairs[i]),
        "gather_scoring": lambda i: np.asarray(columns[:, pairs[i][0]] @ pairs[i][1]).ravel(),
    }
    names = list(engines)
    n = args.queries
    for i in range(min(10, n)):  # warm code paths
        for fn in engines.values():
            fn(i)
    rounds: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        samples: dict[str, list[float]] = {name: [] for name in names}
        for i in range(n):
            for name in names[i % len(names) :] + names[: i % len(names)]:
                query = (i + names.index(name) * n // len(names)) % n
                t0 = time.perf_counter()
                engines[name](query)
                samples[name].append(time.perf_counter() - t0)
        for name, values in samples.items():
            p50, p95 = percentiles(values)
            rounds.setdefault(name + "_p50", []).append(p50 * 1e3)
            rounds.setdefault(name + "_p95", []).append(p95 * 1e3)
    hits = [index.search(queries[i], k=K) for i in range(n)]
    brute = [np.sort(matrix @ dense_query(i))[::-1][:K] for i in range(n)]
    agree = all(
        np.allclose([h.score for h in row], want, rtol=1e-4, atol=1e-4)
        for row, want in zip(hits, brute, strict=True)
    )
    return {
        "index_build_s": index_build_s,
        "scipy_build_s": scipy_build_s,
        "segments": index.n_segments,
        "top10_scores_agree": agree,
        **{key: statistics.median(values) for key, values in rounds.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--doc-nnz", type=int, default=120)
    parser.add_argument("--query-nnz", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--add-batch",
        type=int,
        default=0,
        help="add documents in batches of this many (0: one add)",
    )
    parser.add_argument(
        "--worker", choices=["time", "rss-index", "rss-scipy"], help=argparse.SUPPRESS
    )
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        if args.worker == "time":
            result = run_time(args)
        else:
            result = run_rss(args, args.worker.removeprefix("rss-"))
        Path(args.out).write_text(json.dumps(result))
        return
    results = {}
    for worker in ("time", "rss-index", "rss-scipy"):
        out = Path(tempfile.mkdtemp(prefix="bench-sparse-")) / "result.json"
        cmd = [sys.executable, *python_flags(), __file__, *sys.argv[1:]]
        subprocess.run([*cmd, "--worker", worker, "--out", str(out)], cwd=ROOT, check=True)
        results[worker] = json.loads(out.read_text())
        print(json.dumps({worker: results[worker]}), flush=True)
    t, ri, rs = results["time"], results["rss-index"], results["rss-scipy"]
    print(f"\nn={args.n} docs x ~{args.doc_nnz} nnz, {args.queries} queries x ~{args.query_nnz}")
    print(
        "| engine | build s | p50 / p95 ms | p50 vs scipy gather | peak RSS MB "
        "| RSS MB with the data / peak from build on |"
    )
    print("|---|---|---|---|---|---|")
    gather = t["gather_p50"]
    rows = [
        ("`SparseIndex.search`", t["index_build_s"], "index", ri),
        ("scipy CSC column gather + argpartition", t["scipy_build_s"], "gather", rs),
        ("scipy CSR brute force + argpartition", t["scipy_build_s"], "brute", None),
    ]
    for label, build, key, rss in rows:
        memory = "(same) | (same)"
        if rss is not None:
            memory = (
                f"{rss['peak_rss_mb']:.0f} | {rss['data_rss_mb']:.0f} / "
                f"{rss['build_peak_rss_mb']:.0f}"
            )
        print(
            f"| {label} | {build:.1f} | {t[key + '_p50']:.2f} / {t[key + '_p95']:.2f} "
            f"| {t[key + '_p50'] / gather:.2f}x | {memory} |"
        )
    ours, theirs = t["index_scoring_p50"], t["gather_scoring_p50"]
    print(
        f"scoring only (no top-k): SparseIndex {ours:.2f} ms, scipy gather {theirs:.2f} ms "
        f"({ours / theirs:.2f}x)"
    )
    growth = (ri["build_peak_rss_mb"] - ri["data_rss_mb"]) / (
        rs["build_peak_rss_mb"] - rs["data_rss_mb"]
    )
    print(
        f"peak RSS SparseIndex / scipy: {ri['peak_rss_mb'] / rs['peak_rss_mb']:.2f} (whole "
        f"process), {growth:.2f} (growth over the data from the build on); arrays: "
        f"SparseIndex {ri['index_mb']:.0f} MB ({ri['segments']} segment(s)), scipy CSC "
        f"{rs['csc_mb']:.0f} MB; top-10 scores agree: {t['top10_scores_agree']}"
    )


if __name__ == "__main__":
    main()
