"""Sparse index benchmark: SparseIndex vs a scipy brute force, same data, same queries.

Synthetic SPLADE-like data: documents with ``--doc-nnz`` distinct terms and queries with
``--query-nnz``, term ids drawn from a Zipf law over a 30522-term vocabulary, positive
weights. Each engine runs in its own process (so peak RSS is its own):

* ``index``: ``SparseIndex.add`` of every document, then ``search`` one query at a time.
* ``scipy``: a CSR matrix ``X (n, vocab)``; a query is ``X @ q`` over every document (brute
  force) then ``argpartition`` for the top 10; also a CSC column gather ``X[:, terms] @
  weights`` (the inverted-index algorithm in scipy).

The top-10 scores of both are compared in the same run.

    .venv/bin/python benchmarks/index_sparse.py --n 1000000   # the recorded run
    .venv/bin/python benchmarks/index_sparse.py --n 50000     # a quick look
"""

from __future__ import annotations

import argparse
import json
import resource
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


def timed(fn: Any, n: int) -> tuple[list[float], list[np.ndarray]]:
    samples, outputs = [], []
    for i in range(n):
        t0 = time.perf_counter()
        outputs.append(fn(i))
        samples.append(time.perf_counter() - t0)
    return samples, outputs


def run_index(args: argparse.Namespace) -> dict[str, Any]:
    from indexes import SparseIndex
    from retrieval import SparseEmbeddings

    docs = SparseEmbeddings(*make_csr(args.n, args.doc_nnz, 0), vocab_size=VOCAB)
    queries = SparseEmbeddings(*make_csr(args.queries, args.query_nnz, 1), vocab_size=VOCAB)
    index = SparseIndex.create(vocab_size=VOCAB)
    start = time.perf_counter()
    index.add([str(i) for i in range(args.n)], docs)
    build_s = time.perf_counter() - start
    nnz, nbytes = docs.nnz, index.nbytes
    del docs
    timed(lambda i: index.search(queries[i], k=K), min(20, args.queries))  # warm up
    samples, hits = timed(lambda i: index.search(queries[i], k=K), args.queries)
    p50, p95 = percentiles(samples)
    return {
        "engine": "SparseIndex",
        "build_s": build_s,
        "nnz": nnz,
        "index_mb": nbytes / 2**20,
        "p50_ms": p50 * 1e3,
        "p95_ms": p95 * 1e3,
        "top_scores": [[h.score for h in row] for row in hits],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_scipy(args: argparse.Namespace) -> dict[str, Any]:
    import scipy.sparse

    indptr, indices, values = make_csr(args.n, args.doc_nnz, 0)
    start = time.perf_counter()
    matrix = scipy.sparse.csr_matrix((values, indices, indptr), shape=(args.n, VOCAB))
    del indptr, indices, values
    columns = matrix.tocsc()
    build_s = time.perf_counter() - start
    q_ptr, q_idx, q_val = make_csr(args.queries, args.query_nnz, 1)

    def top(scores: np.ndarray) -> np.ndarray:
        part = np.argpartition(-scores, K - 1)[:K]
        return np.sort(scores[part])[::-1]

    def brute(i: int) -> np.ndarray:
        dense_query = np.zeros(VOCAB, np.float32)
        dense_query[q_idx[q_ptr[i] : q_ptr[i + 1]]] = q_val[q_ptr[i] : q_ptr[i + 1]]
        return top(matrix @ dense_query)

    def gather(i: int) -> np.ndarray:
        terms, weights = q_idx[q_ptr[i] : q_ptr[i + 1]], q_val[q_ptr[i] : q_ptr[i + 1]]
        return top(np.asarray(columns[:, terms] @ weights).ravel())

    timed(brute, min(20, args.queries))
    brute_samples, brute_top = timed(brute, args.queries)
    gather_samples, _ = timed(gather, args.queries)
    return {
        "engine": "scipy",
        "build_s": build_s,
        "p50_ms": percentiles(brute_samples)[0] * 1e3,
        "p95_ms": percentiles(brute_samples)[1] * 1e3,
        "gather_p50_ms": percentiles(gather_samples)[0] * 1e3,
        "gather_p95_ms": percentiles(gather_samples)[1] * 1e3,
        "top_scores": [row.tolist() for row in brute_top],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--doc-nnz", type=int, default=120)
    parser.add_argument("--query-nnz", type=int, default=30)
    parser.add_argument("--worker", choices=["index", "scipy"], help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        result = run_index(args) if args.worker == "index" else run_scipy(args)
        Path(args.out).write_text(json.dumps(result))
        return
    results = {}
    for engine in ("index", "scipy"):
        out = Path(tempfile.mkdtemp(prefix="bench-sparse-")) / "result.json"
        cmd = [
            sys.executable,
            *python_flags(),
            __file__,
            *sys.argv[1:],
            "--worker",
            engine,
            "--out",
            str(out),
        ]
        subprocess.run(cmd, cwd=ROOT, check=True)
        results[engine] = json.loads(out.read_text())
    ours, ref = results["index"], results["scipy"]
    agree = np.allclose(ours.pop("top_scores"), ref.pop("top_scores"), rtol=1e-4, atol=1e-4)
    print(json.dumps({"index": ours, "scipy": ref, "top10_scores_agree": bool(agree)}, indent=1))
    print(f"\nn={args.n} docs x ~{args.doc_nnz} nnz, {args.queries} queries x ~{args.query_nnz}")
    print("| engine | build s | p50 / p95 ms | peak RSS MB |\n|---|---|---|---|")
    print(
        f"| SparseIndex | {ours['build_s']:.1f} | {ours['p50_ms']:.2f} / {ours['p95_ms']:.2f} "
        f"| {ours['peak_rss_mb']:.0f} |"
    )
    print(
        f"| scipy CSR brute force | {ref['build_s']:.1f} | {ref['p50_ms']:.2f} / "
        f"{ref['p95_ms']:.2f} | {ref['peak_rss_mb']:.0f} |"
    )
    print(
        f"| scipy CSC column gather | (same) | {ref['gather_p50_ms']:.2f} / "
        f"{ref['gather_p95_ms']:.2f} | (same) |"
    )
    print(f"top-10 scores agree: {agree}; SparseIndex arrays {ours['index_mb']:.0f} MB")


if __name__ == "__main__":
    main()
