"""MaxSim throughput: packed fast path vs a naive padded einsum vs this box's sgemm peak.

``--queries`` queries of ``--q-tokens`` x ``--dim`` against ``--docs`` documents of
``--min-len`` to ``--max-len`` tokens (uniform). Engines: ``packed`` calls ``maxsim`` once
per query; ``matrix`` calls ``maxsim_matrix`` once for all queries; ``padded`` pads every
document to the longest, then einsum, mask, max, sum per query. Each engine runs in its own
fresh process, so its peak RSS is its own; every process measures sgemm (2048^3, best of
torch and numpy) right before and after its timed runs and is quoted against the better of
the two, so engine and peak see the same machine state on a shared box (though load hurts
many short parallel regions more than one long GEMM).

Effective GFLOP/s counts only real work: 2 * q_tokens * total_doc_tokens * dim per query
(the padded baseline's multiplications by padding are not credited).

    .venv/bin/python benchmarks/maxsim_throughput.py --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ENGINES = ("packed", "matrix", "padded")


def _status_mib(field: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (peak since the last reset) of this process, in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak_rss() -> None:
    """Restart the VmHWM peak from the current RSS (Linux ``clear_refs`` value 5)."""
    Path("/proc/self/clear_refs").write_text("5")


def _corpus(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    """Packed unit vectors ``(total_tokens, dim)``, their ``(n_docs,)`` lengths, and
    ``(n_queries, q_tokens, dim)`` unit queries; the same for every engine (seed 0)."""
    import torch
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(args.min_len, args.max_len + 1, (args.docs,), generator=g)
    vectors = F.normalize(torch.randn(int(lengths.sum()), args.dim, generator=g), dim=-1)
    queries = F.normalize(torch.randn(args.queries, args.q_tokens, args.dim, generator=g), dim=-1)
    return vectors, lengths, queries


def _sgemm_peak(n: int = 2048, repeats: int = 3) -> float:
    """Best fp32 GEMM rate (GFLOP/s) of torch (MKL) and numpy (OpenBLAS) on an n^3 product."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    best = float("inf")
    for mm in (lambda: a @ b, lambda: a.numpy() @ b.numpy()):
        mm()
        for _ in range(repeats):
            start = time.perf_counter()
            mm()
            best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def _sgemm_window(seconds: float = 1.0, n: int = 2048) -> float:
    """Mean torch sgemm rate over ``seconds``: what this process gets from a shared box now."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
    return 2 * n**3 * count / (time.perf_counter() - start) / 1e9


def _padded_scores(query: Any, padded: Any, pad_mask: Any) -> Any:
    """The naive baseline: every document padded to the longest, one einsum, mask, max, sum."""
    import torch

    sims = torch.einsum("qd,nld->nql", query, padded)  # (n_docs, q_tokens, max_len)
    sims.masked_fill_(pad_mask[:, None, :], -torch.inf)
    return sims.amax(dim=-1).sum(dim=-1)


def worker(engine: str, args: argparse.Namespace, out: Path) -> None:
    import torch

    from late_interaction import maxsim, maxsim_matrix
    from retrieval import MultiVectorEmbeddings

    torch.set_num_threads(args.threads)
    vectors, lengths, queries = _corpus(args)
    tokens = vectors.shape[0]
    if engine == "padded":
        docs = list(torch.split(vectors, lengths.tolist()))
        padded = torch.nn.utils.rnn.pad_sequence(docs, batch_first=True)  # (n, max_len, dim)
        pad_mask = torch.arange(padded.shape[1])[None, :] >= lengths[:, None]
        del docs, vectors

        def run() -> Any:
            return torch.stack([_padded_scores(q, padded, pad_mask) for q in queries])
    else:
        offsets = torch.zeros(len(lengths) + 1, dtype=torch.int64)
        torch.cumsum(lengths, dim=0, out=offsets[1:])
        packed = MultiVectorEmbeddings(vectors, offsets)  # already packed: no copy

        options = {"chunk_tokens": args.chunk_tokens} if args.chunk_tokens else {}

        def run() -> Any:
            if engine == "matrix":
                return maxsim_matrix(queries, packed, **options)
            return torch.stack([maxsim(q, packed, **options) for q in queries])

    peak = _sgemm_peak()
    rss_data = _status_mib("VmRSS")
    _reset_peak_rss()
    scores = run()  # warm-up, and the scores compared across engines
    trials, windows = [], []
    for _ in range(args.trials):
        windows.append(_sgemm_window())  # sgemm just before each trial, same machine state
        start = time.perf_counter()
        run()
        trials.append((time.perf_counter() - start) / args.queries)
    rss_peak = _status_mib("VmHWM")
    result = {
        "engine": engine,
        "trials": trials,
        "sgemm_peak": max(peak, _sgemm_peak()),
        "sgemm_windows": windows,
        "rss_data_mib": rss_data,
        "rss_peak_mib": rss_peak,
        "tokens": tokens,
        "scores": scores[:, :200].tolist(),
    }
    out.write_text(json.dumps(result))


def _spawn(engine: str, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    out = folder / f"{engine}.json"
    command = [sys.executable, __file__, "--worker", engine, "--out", str(out)]
    for name in ("docs", "min_len", "max_len", "dim", "q_tokens", "queries", "trials"):
        command += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    command += ["--threads", str(args.threads), "--chunk-tokens", str(args.chunk_tokens)]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    subprocess.run(command, check=True, env=env)
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--min-len", type=int, default=50)
    parser.add_argument("--max-len", type=int, default=150)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--q-tokens", type=int, default=32)
    parser.add_argument("--queries", type=int, default=4)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--chunk-tokens", type=int, default=0, help="0: library default")
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--worker", choices=ENGINES)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args, args.out)
        return
    with tempfile.TemporaryDirectory() as tmp:
        results = [_spawn(engine, args, Path(tmp)) for engine in args.engines.split(",")]
    _report(results, args)


def _report(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    import numpy as np

    tokens = results[0]["tokens"]
    avg_len = tokens / args.docs
    gflop = 2 * args.q_tokens * tokens * args.dim / 1e9
    first = np.array(results[0]["scores"])
    print(
        f"{args.docs} docs x ~{avg_len:.0f} tokens (~{tokens / 1e6:.2f}M), dim {args.dim}, "
        f"query {args.q_tokens} tokens, {args.threads} threads; {gflop:.2f} GFLOP per query"
    )
    print(
        "engine  | ms/query | GFLOP/s | % of sgemm peak (GFLOP/s) | % of sgemm in the 1-s "
        "window before each trial (window GFLOP/s) | RSS MiB: data, peak | max |diff|"
    )
    for r in results:
        seconds = statistics.median(r["trials"])
        rate = gflop / seconds
        window = statistics.median(r["sgemm_windows"])
        paired = statistics.median(
            gflop / t / w for t, w in zip(r["trials"], r["sgemm_windows"], strict=True)
        )
        diff = float(np.abs(np.array(r["scores"]) - first).max())
        print(
            f"{r['engine']:<7} | {seconds * 1e3:8.1f} | {rate:7.1f} | "
            f"{100 * rate / r['sgemm_peak']:5.1f} % ({r['sgemm_peak']:.1f}) | "
            f"{100 * paired:5.1f} % ({window:.1f}) | {r['rss_data_mib']:.0f}, "
            f"{r['rss_peak_mib']:.0f} | {diff:.2e}"
        )


if __name__ == "__main__":
    main()
