"""Dense index benchmark: FaissIndex vs raw faiss at identical parameters, recall vs exact.

For each kind (flat, ivf, hnsw, ivfpq, sq8) a fresh process builds the index on the same
synthetic clustered vectors (or reopens it from ``--store``), then times the wrapper
(``FaissIndex.search`` / ``search_batch``) against a direct ``faiss`` call on the very same
faiss structure with the same ``SearchParameters``, batch 1 on one OpenMP thread, batch 64
on ``--threads``. Reported: build time, p50/p95 latency at batch 1, QPS at batch 64, wrapper
overhead (ratio and microseconds per call, on wall and on this thread's CPU time; also
against raw faiss that normalises each query itself with ``faiss.normalize_L2``, as cosine
needs), recall@10 against ``ExactIndex`` ground truth, save/open time and the worker's peak
RSS before save (it includes the ``(n, dim)`` float32 data the worker generated, 1.5 GB at
1M x 384).

Turns: at step ``i`` the engines (raw, raw + normalisation, wrapper; for batches raw and
wrapper) run in rotating order, engine ``e`` on query (batch) ``i + e * n / 3`` (``/ 2``), so
each sees every query once per round under the same load, and none finds a query another has
just pulled into the CPU caches (a repeated HNSW query runs several times faster: timing the
same query back to back made one side's samples warm and the medians swing). Besides the
ratio of the p50s, the *paired* overhead is the median over queries of wrapper / raw time
for the same query, which cancels the large query-to-query spread (IVF list sizes, HNSW
path lengths). Warm-up uses queries outside the timed set.

``--metadata`` gives every item a small metadata dict (``{"source": ..., "chunk": ...}``,
what a chunked collection stores), so hits also pay for fetching and decoding it.

    .venv/bin/python benchmarks/index_dense.py --n 1000000            # the recorded run
    .venv/bin/python benchmarks/index_dense.py --n 20000 --kinds flat,hnsw   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
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
K = 10


def make_data(n: int, dim: int, n_queries: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Clustered vectors with low intrinsic dimension: ``n_clusters`` centres, a 24-d latent
    spread projected to ``dim``, small isotropic noise. Queries come from the same law."""
    rng = np.random.default_rng(seed)
    n_clusters, latent = max(16, n // 1000), 24
    centres = rng.normal(size=(n_clusters, dim)).astype(np.float32)
    basis = (rng.normal(size=(latent, dim)) / np.sqrt(latent)).astype(np.float32)

    def draw(count: int) -> np.ndarray:
        out = np.empty((count, dim), np.float32)
        for start in range(0, count, 100_000):
            m = min(100_000, count - start)
            z = rng.normal(size=(m, latent)).astype(np.float32)
            noise = 0.05 * rng.normal(size=(m, dim)).astype(np.float32)
            out[start : start + m] = centres[rng.integers(0, n_clusters, m)] + z @ basis + noise
        return out

    return draw(n), draw(n_queries)


def ground_truth(args: argparse.Namespace, out: Path) -> None:
    """Exact top-10 ids of every query, from ``indexes.ExactIndex``."""
    from indexes import ExactIndex

    docs, queries = make_data(args.n, args.dim, args.queries)
    exact = ExactIndex.create(dim=args.dim, metric="cosine")
    exact.add([str(i) for i in range(args.n)], docs)
    del docs
    start = time.perf_counter()
    results = exact.search_batch(queries, k=K)
    seconds = time.perf_counter() - start
    ids = np.array([[int(h.id) for h in hits] for hits in results], dtype=np.int64)
    np.save(out, ids, allow_pickle=False)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"exact_batch_s": seconds, "exact_qps": len(queries) / seconds, "rss": rss}))


def raw_params(faiss: Any, index: Any, nprobe: int, ef: int) -> Any:
    """The SearchParameters FaissIndex passes for this kind (built once, as FaissIndex reuses
    its unfiltered parameters too)."""
    if index.config.kind == "hnsw":
        return faiss.SearchParametersHNSW(efSearch=ef)
    if index.config.kind in ("ivf", "ivfpq") and index.is_trained:
        return faiss.SearchParametersIVF(nprobe=nprobe)
    return None


def worker(kind: str, args: argparse.Namespace, truth_path: Path) -> dict[str, Any]:
    import faiss

    from indexes import FaissIndex

    faiss.omp_set_num_threads(args.threads)
    docs, queries = make_data(args.n, args.dim, args.queries)
    truth = np.load(truth_path, allow_pickle=False)
    name = f"{kind}-metadata" if args.metadata else kind
    folder = Path(args.store) / name if args.store else Path(tempfile.mkdtemp(prefix="bench-"))
    build_s = float("nan")
    if (folder / "idx" / "manifest.json").exists():  # built by an earlier run: reuse it
        index = FaissIndex.open(folder / "idx", device="cpu")
    else:
        params = {"hnsw_m": args.hnsw_m, "ef_construction": args.ef_construction}
        index = FaissIndex.create(folder / "idx", dim=args.dim, kind=kind, device="cpu", **params)
        start = time.perf_counter()
        metadata = (
            [{"source": f"docs/file{i // 20}.txt", "chunk": i % 20} for i in range(args.n)]
            if args.metadata
            else None
        )
        index.add([str(i) for i in range(args.n)], docs, metadata)
        build_s = time.perf_counter() - start
        del metadata
    del docs
    raw = index._index  # the faiss structure FaissIndex searches: same object, same params
    normed = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    knobs = {"nprobe": args.nprobe, "ef_search": args.ef_search}

    def wrapper_one(i: int) -> Any:
        return index.search(queries[i], k=K, **knobs)

    params = raw_params(faiss, index, args.nprobe, args.ef_search)

    def raw_one(i: int) -> Any:
        return raw.search(normed[i : i + 1], K, params=params)

    def raw_normalising_one(i: int) -> Any:  # what a faiss user does for cosine
        row = queries[i : i + 1].copy()
        faiss.normalize_L2(row)
        return raw.search(row, K, params=params)

    def wrapper_batch(rows: slice) -> Any:
        return index.search_batch(queries[rows], k=K, **knobs)

    def raw_batch(rows: slice) -> Any:
        return raw.search(normed[rows], K, params=params)

    n_lat = min(args.latency_queries, len(queries) - 20)
    scans = kind in ("flat", "sq8")
    if scans:
        n_lat = min(n_lat, 50)  # each query scans every stored vector
    singles = {"r": raw_one, "n": raw_normalising_one, "w": wrapper_one}
    for i in range(len(queries) - 20, len(queries)):  # warm code paths, not the timed queries
        for fn in singles.values():
            fn(i)
    rounds: dict[str, list[float]] = {}
    batches = [slice(s, min(s + 64, len(queries))) for s in range(0, len(queries), 64)]
    if scans:
        batches = batches[:1]
    for _ in range(args.rounds):
        # A single query runs on one thread in faiss; a second, idle OpenMP thread only adds
        # spin / wake-up jitter (p50 jumping between 0.5 and 8 ms on the shared 2-core box).
        faiss.omp_set_num_threads(1)
        # Raw, raw + normalisation and wrapper take turns call by call (the order rotating);
        # each engine runs every query once per round, a third of the set away from the
        # others' (see the module docstring), so load hits all alike. Wall and CPU time
        # (this thread's: not the time the box gave to other jobs) are both kept, per query.
        names = list(singles)
        wall = {name: np.zeros(n_lat) for name in names}
        cpu = {name: np.zeros(n_lat) for name in names}
        for i in range(n_lat):
            for name in names[i % 3 :] + names[: i % 3]:
                query = (i + names.index(name) * n_lat // 3) % n_lat
                t0, c0 = time.perf_counter(), time.thread_time()
                singles[name](query)
                c1, t1 = time.thread_time(), time.perf_counter()
                wall[name][query], cpu[name][query] = t1 - t0, c1 - c0
        for name in names:
            p50, p95 = percentiles(wall[name].tolist())
            rounds.setdefault(name + "50", []).append(p50 * 1e3)
            rounds.setdefault(name + "95", []).append(p95 * 1e3)
            rounds.setdefault(name + "cpu50", []).append(percentiles(cpu[name].tolist())[0] * 1e3)
            # the same query on both engines: per-query cost differences cancel out
            for base in ("r", "n"):
                ratio = np.median(wall["w"] / wall[base]) - 1
                rounds.setdefault(f"paired_{base}", []).append(float(ratio))
        faiss.omp_set_num_threads(args.threads)
        spent = {"r": 0.0, "w": 0.0}  # batches paired like single queries, half the set apart
        n_batches = len(batches)
        for j in range(n_batches):
            pair = (("r", raw_batch, j), ("w", wrapper_batch, (j + n_batches // 2) % n_batches))
            for name, fn, batch in pair if j % 2 else pair[::-1]:
                t0 = time.perf_counter()
                fn(batches[batch])
                spent[name] += time.perf_counter() - t0
        for name, seconds in spent.items():
            qps = sum(b.stop - b.start for b in batches) / seconds
            rounds.setdefault(name + "q", []).append(qps)
    hits = index.search_batch(queries, k=K, **knobs)
    recall = np.mean(
        [
            len({int(h.id) for h in r} & set(t.tolist())) / K
            for r, t in zip(hits, truth, strict=True)
        ]
    )
    _, raw_ids = raw.search(normed, K, params=raw_params(faiss, index, args.nprobe, args.ef_search))
    raw_recall = np.mean(
        [len(set(r.tolist()) & set(t.tolist())) / K for r, t in zip(raw_ids, truth, strict=True)]
    )
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    index.save()
    save_s = time.perf_counter() - start
    size = sum(f.stat().st_size for f in (folder / "idx").iterdir())
    start = time.perf_counter()
    reopened = FaissIndex.open(folder / "idx", device="cpu")
    open_s = time.perf_counter() - start
    assert len(reopened) == args.n
    med = {key: statistics.median(values) for key, values in rounds.items()}
    return {
        "kind": kind,
        "build_s": build_s,
        "trained": reopened.is_trained,
        "recall": float(recall),
        "raw_recall": float(raw_recall),
        "p50_ms": med["w50"],
        "p95_ms": med["w95"],
        "raw_p50_ms": med["r50"],
        "raw_p95_ms": med["r95"],
        "qps64": med["wq"],
        "raw_qps64": med["rq"],
        "overhead_p50": med["w50"] / med["r50"] - 1,
        "overhead_p50_us": (med["w50"] - med["r50"]) * 1e3,
        "overhead_p50_cpu": med["wcpu50"] / med["rcpu50"] - 1,
        "overhead_paired": med["paired_r"],
        "raw_normalising_p50_ms": med["n50"],
        "overhead_p50_vs_normalising": med["w50"] / med["n50"] - 1,
        "overhead_paired_vs_normalising": med["paired_n"],
        "overhead_qps64": med["rq"] / med["wq"] - 1,
        "save_s": save_s,
        "open_s": open_s,
        "disk_mb": size / 2**20,
        "peak_rss_mb": peak_rss_mb,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--latency-queries", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--kinds", default="flat,ivf,hnsw,ivfpq,sq8")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--nprobe", type=int, default=16)
    parser.add_argument("--ef-search", type=int, default=64)
    parser.add_argument("--hnsw-m", type=int, default=32)
    parser.add_argument("--ef-construction", type=int, default=40)
    parser.add_argument("--store", help="keep built indexes here and reuse them on later runs")
    parser.add_argument("--metadata", action="store_true", help="store metadata with each item")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--truth", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "truth":
        return ground_truth(args, Path(args.truth))
    if args.worker:
        print(json.dumps(worker(args.worker, args, Path(args.truth))))
        return None
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(args.threads),
        "OPENBLAS_NUM_THREADS": str(args.threads),
    }
    forwarded = [a for a in sys.argv[1:] if not a.startswith("--worker")]
    truth = Path(tempfile.mkdtemp(prefix="bench-truth-")) / "truth.npy"

    def run(role: str) -> dict[str, Any]:
        cmd = [
            sys.executable,
            *python_flags(),
            __file__,
            *forwarded,
            "--worker",
            role,
            "--truth",
            str(truth),
        ]
        done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
        if done.returncode:
            sys.exit(f"{role} failed:\n{done.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        print(json.dumps(result), flush=True)
        return result

    run("truth")
    results = [run(kind) for kind in args.kinds.split(",")]
    print(f"\nn={args.n} dim={args.dim} queries={args.queries} threads={args.threads}")
    header = (
        "| kind | build s | recall@10 (raw) | p50 / p95 ms | raw p50 / p95 ms | overhead: p50 "
        "/ paired / CPU p50 | raw + normalize_L2 p50 ms | overhead vs it: p50 / paired "
        "| QPS b64 (raw) | overhead b64 | save / open s | disk MB | peak RSS MB |"
    )
    print(header + "\n|" + "---|" * 13)
    for r in results:
        print(
            f"| {r['kind']} | {r['build_s']:.1f} | {r['recall']:.3f} ({r['raw_recall']:.3f}) "
            f"| {r['p50_ms']:.3f} / {r['p95_ms']:.3f} | {r['raw_p50_ms']:.3f} / "
            f"{r['raw_p95_ms']:.3f} | {100 * r['overhead_p50']:+.1f}% / "
            f"{100 * r['overhead_paired']:+.1f}% / {100 * r['overhead_p50_cpu']:+.1f}% "
            f"| {r['raw_normalising_p50_ms']:.3f} | {100 * r['overhead_p50_vs_normalising']:+.1f}% "
            f"/ {100 * r['overhead_paired_vs_normalising']:+.1f}% | {r['qps64']:.0f} "
            f"({r['raw_qps64']:.0f}) | {100 * r['overhead_qps64']:+.1f}% | {r['save_s']:.1f} / "
            f"{r['open_s']:.1f} | {r['disk_mb']:.0f} | {r['peak_rss_mb']:.0f} |"
        )
    return None


if __name__ == "__main__":
    main()
