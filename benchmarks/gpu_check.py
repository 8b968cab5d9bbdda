"""GPU benchmarks in one run, one JSON: what `scripts/gpu_check.sh` measures on a lent GPU.

Sections (each timed, each recorded even when it fails or is skipped):
- ``embed``: MiniLM (or ``--model``) embed tokens/s in float32 / float16 / bfloat16 on the
  device, and the cosine of each to CPU float32 vectors of the same texts;
- ``maxsim``: ``late_interaction.maxsim_matrix`` over packed synthetic tokens, tokens/s and the
  share of the same device's measured GEMM peak in that dtype;
- ``plaid``: ``PlaidIndex`` build and search on synthetic clustered tokens (the index runs on
  the host; this records what a GPU machine's CPUs give), recall@10 vs exact MaxSim;
- ``faiss``: ``FaissIndex`` flat and IVF with ``device="auto"`` vs ``"cpu"``, queries/s and
  top-10 overlap, when the installed faiss sees a GPU.

Without CUDA every section runs on the CPU at small sizes and the JSON says ``"cuda": false``
(the fallback CI tests): ``python benchmarks/gpu_check.py --quick --out check.json``. Texts come
from this repository's own Markdown files, so nothing is needed from ../shared.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def repo_passages(limit: int, words: int = 150) -> list[str]:
    """Passages of ``words`` words cut from the repository's Markdown (real English text)."""
    tokens: list[str] = []
    for path in sorted(ROOT.glob("*.md")) + sorted(ROOT.glob("*/*.md")):
        tokens += path.read_text(encoding="utf-8").split()
    passages = [" ".join(tokens[i : i + words]) for i in range(0, len(tokens), words)]
    while len(passages) < limit:  # short checkouts: reuse passages, shifted
        passages += [p[len(passages) % 7 :] for p in passages]
    return passages[:limit]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn: Callable[[], Any], device: torch.device, repeats: int) -> float:
    """Median seconds of ``repeats`` calls after one warm-up call."""
    fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_embed(device: torch.device, model: str, quick: bool) -> dict[str, Any]:
    from encoders import LLM

    texts = repo_passages(64 if quick else 4096)
    cpu = LLM(model, device="cpu", dtype="float32")
    ref_out = cpu.embed(texts[:256], truncate_prompt_tokens=-1, use_tqdm=False)
    ref = np.array([o.outputs.embedding for o in ref_out])
    dtypes = ("float32",) if device.type == "cpu" else ("float32", "float16", "bfloat16")
    result: dict[str, Any] = {"texts": len(texts)}
    for dtype in dtypes:
        llm = cpu if device.type == "cpu" else LLM(model, device=str(device), dtype=dtype)
        outputs = llm.embed(texts, truncate_prompt_tokens=-1, use_tqdm=False)
        tokens = sum(len(o.prompt_token_ids) for o in outputs)
        run = lambda llm=llm: llm.embed(texts, truncate_prompt_tokens=-1, use_tqdm=False)  # noqa: E731
        seconds = _timed(run, device, repeats=1 if quick else 3)
        got = np.array([o.outputs.embedding for o in outputs[:256]])
        cos = (got * ref).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(ref, axis=1))
        result[dtype] = {
            "tokens_per_s": tokens / seconds,
            "seconds": seconds,
            "cosine_to_cpu_fp32_min": float(cos.min()),
            "cosine_to_cpu_fp32_mean": float(cos.mean()),
        }
    return result


def _gemm_peak(device: torch.device, dtype: torch.dtype, size: int) -> float:
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    seconds = _timed(lambda: a @ b, device, repeats=5)
    return 2 * size**3 / seconds


def bench_maxsim(device: torch.device, quick: bool) -> dict[str, Any]:
    from late_interaction import maxsim_matrix
    from retrieval import MultiVectorEmbeddings

    n_docs, doc_len, dim = (500, 64, 128) if quick else (40_000, 128, 128)
    dtype = torch.float32 if device.type == "cpu" else torch.float16
    gen = torch.Generator().manual_seed(0)
    vectors = torch.nn.functional.normalize(
        torch.randn(n_docs * doc_len, dim, generator=gen), dim=1
    )
    offsets = torch.arange(0, n_docs * doc_len + 1, doc_len)
    docs = MultiVectorEmbeddings(vectors.to(device, dtype), offsets.to(device))
    queries = [
        torch.nn.functional.normalize(torch.randn(32, dim, generator=gen), dim=1).to(device, dtype)
        for _ in range(4 if quick else 32)
    ]
    seconds = _timed(lambda: maxsim_matrix(queries, docs), device, repeats=2 if quick else 5)
    flops = 2 * len(queries) * 32 * n_docs * doc_len * dim
    peak = _gemm_peak(device, dtype, 512 if quick else 8192)
    return {
        "doc_tokens": n_docs * doc_len,
        "queries": len(queries),
        "dtype": str(dtype).removeprefix("torch."),
        "doc_tokens_per_s": len(queries) * n_docs * doc_len / seconds,
        "tflops": flops / seconds / 1e12,
        "gemm_peak_tflops": peak / 1e12,
        "share_of_gemm_peak": flops / seconds / peak,
    }


def bench_plaid(quick: bool) -> dict[str, Any]:
    from late_interaction import PlaidIndex, maxsim_matrix
    from retrieval import MultiVectorEmbeddings

    n_docs, doc_len, dim, n_topics = (300, 32, 64, 20) if quick else (20_000, 50, 128, 400)
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((n_topics, dim)).astype(np.float32)
    topic = rng.integers(0, n_topics, n_docs * doc_len)
    noise = rng.standard_normal((n_docs * doc_len, dim)).astype(np.float32)
    tokens = centres[topic] + 0.6 * noise
    tokens /= np.linalg.norm(tokens, axis=1, keepdims=True)
    docs = [tokens[i * doc_len : (i + 1) * doc_len] for i in range(n_docs)]
    ids = [str(i) for i in range(n_docs)]
    queries = [
        docs[i][:16] + 0.05 * rng.standard_normal((16, dim)).astype(np.float32) for i in range(20)
    ]
    start = time.perf_counter()
    index = PlaidIndex.create(dim=dim, nbits=2)
    index.add(ids, docs)
    build = time.perf_counter() - start
    latencies, hits = [], []
    for q in queries:
        t = time.perf_counter()
        hits.append([h.id for h in index.search(q, k=10)])
        latencies.append(time.perf_counter() - t)
    packed = MultiVectorEmbeddings.from_list([torch.from_numpy(d) for d in docs])
    exact = maxsim_matrix([torch.from_numpy(q) for q in queries], packed)
    top = torch.topk(exact, 10, dim=1).indices.tolist()
    recall = statistics.mean(
        len({ids[j] for j in row} & set(got)) / 10 for row, got in zip(top, hits, strict=True)
    )
    return {
        "doc_tokens": n_docs * doc_len,
        "build_seconds": build,
        "search_p50_ms": 1000 * statistics.median(latencies),
        "recall_at_10_vs_exact": recall,
        "note": "PlaidIndex runs on the host CPU; no GPU path",
    }


def bench_faiss(quick: bool) -> dict[str, Any]:
    import faiss

    from indexes import FaissIndex

    gpus = faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
    if gpus == 0:
        return {"skipped": "the installed faiss sees no GPU (faiss-cpu)"}
    n, dim = (20_000, 64) if quick else (1_000_000, 128)
    rng = np.random.default_rng(0)
    base = rng.standard_normal((n, dim)).astype(np.float32)
    queries = rng.standard_normal((1000, dim)).astype(np.float32)
    ids = [str(i) for i in range(n)]
    result: dict[str, Any] = {"gpus": gpus, "vectors": n}
    for kind in ("flat", "ivf"):
        runs = {}
        for device in ("auto", "cpu"):
            index = FaissIndex.create(dim=dim, kind=kind, device=device, nlist=1024, nprobe=32)
            index.add(ids, base)
            seconds = _timed(
                lambda index=index: index.search_batch(queries, k=10), torch.device("cpu"), 3
            )
            runs[device] = (index.device, seconds, index.search_batch(queries[:100], k=10))
        overlap = statistics.mean(
            len({h.id for h in a} & {h.id for h in b}) / 10
            for a, b in zip(runs["auto"][2], runs["cpu"][2], strict=True)
        )
        result[kind] = {
            "device": runs["auto"][0],
            "queries_per_s_gpu": len(queries) / runs["auto"][1],
            "queries_per_s_cpu": len(queries) / runs["cpu"][1],
            "top10_overlap_gpu_vs_cpu": overlap,
        }
    return result


def run_section(name: str, fn: Callable[[], dict[str, Any]], report: dict[str, Any]) -> None:
    start = time.perf_counter()
    try:
        report[name] = fn()
    except Exception as err:  # record and go on: one broken section must not hide the rest
        report[name] = {"error": f"{type(err).__name__}: {err}", "trace": traceback.format_exc()}
    report[name]["section_seconds"] = time.perf_counter() - start
    print(f"{name}: {json.dumps(report[name], default=str)[:400]}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="the JSON file to write")
    parser.add_argument("--model", default=MODEL, help="a model name or folder")
    parser.add_argument("--quick", action="store_true", help="small sizes (the CPU fallback)")
    args = parser.parse_args()
    cuda = torch.cuda.is_available()
    device = torch.device("cuda:0" if cuda else "cpu")
    quick = args.quick or not cuda
    report: dict[str, Any] = {
        "cuda": cuda,
        "device": torch.cuda.get_device_name(0) if cuda else platform.processor() or "cpu",
        "torch": torch.__version__,
        "quick": quick,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "cpu_count": os.cpu_count(),
    }
    run_section("embed", lambda: bench_embed(device, args.model, quick), report)
    run_section("maxsim", lambda: bench_maxsim(device, quick), report)
    run_section("plaid", lambda: bench_plaid(quick), report)
    run_section("faiss", lambda: bench_faiss(quick), report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
