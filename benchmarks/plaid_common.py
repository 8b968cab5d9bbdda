"""Shared pieces of ``plaid_search.py``: synthetic token corpora, exact MaxSim truth, timed
PLAID runs, recall and the exact side stores compared on one compressed index."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from late_interaction import PlaidIndex, maxsim
from late_interaction.plaid.side import SideStore
from retrieval.multivector import MultiVectorEmbeddings


def peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def synthetic_batches(
    n_tokens: int, dim: int, seed: int, batch_docs: int = 2000, topics: tuple[int, int] = (0, 512)
) -> Iterator[list[np.ndarray]]:
    """Documents of 50-150 unit tokens around topic centres (4096 centres, 8 per topic),
    topics drawn from ``range(*topics)``."""
    shared = np.random.default_rng(4242)
    centres = shared.normal(size=(4096, dim)).astype(np.float32)
    basis = (shared.normal(size=(16, dim)) / 12).astype(np.float32)  # low-rank spread
    rng = np.random.default_rng(seed)
    made = 0
    while made < n_tokens:
        batch = []
        for _ in range(batch_docs):
            if made >= n_tokens:
                break
            size = min(int(rng.integers(50, 151)), n_tokens - made)
            topic = rng.integers(*topics)
            picks = centres[topic * 8 + rng.integers(0, 8, size)]
            tokens = picks + rng.normal(size=(size, 16)).astype(np.float32) @ basis
            tokens += 0.05 * rng.normal(size=(size, dim)).astype(np.float32)
            batch.append(tokens / np.linalg.norm(tokens, axis=1, keepdims=True))
            made += size
        yield batch


def synthetic_queries(docs: list[np.ndarray], n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for i in rng.choice(len(docs), n, replace=False):
        doc = docs[i]
        noise = 0.5 / np.sqrt(doc.shape[1])  # noise norm 0.5 on unit tokens
        tokens = doc[rng.integers(0, len(doc), 32)] + noise * rng.normal(size=(32, doc.shape[1]))
        out.append((tokens / np.linalg.norm(tokens, axis=1, keepdims=True)).astype(np.float32))
    return out


def timed(fn: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def exact_topk(queries: list[np.ndarray], packed: MultiVectorEmbeddings, k: int) -> tuple:
    tops, times = [], []
    for q in queries:
        scores, seconds = timed(lambda q=q: maxsim(torch.from_numpy(q), packed))
        tops.append(torch.topk(scores, k).indices.numpy())
        times.append(seconds)
    return tops, times


def decoded_truth(
    index: PlaidIndex, n_docs: int, queries: list[np.ndarray], k: int
) -> tuple[list[np.ndarray], list[float]]:
    """Exhaustive MaxSim over every document's *decompressed* tokens (ids ``0..n-1``): the
    ceiling of PLAID's search stages on this codec (PLAID vs vanilla ColBERTv2)."""
    decoded = [index.decompressed(str(i)) for i in range(n_docs)]
    return exact_topk(queries, MultiVectorEmbeddings.from_list(decoded), k)


def plaid_run(index: PlaidIndex, queries: list[np.ndarray], k: int, **knobs: Any) -> tuple:
    results, times = [], []
    for q in queries:
        hits, seconds = timed(lambda q=q: index.search(q, k=k, **knobs))
        results.append([int(h.id) for h in hits])
        times.append(seconds)
    return results, times


def recall(got: list[list[int]], truth: list[np.ndarray], k: int = 10) -> float:
    return float(
        np.mean(
            [len(set(g[:k]) & set(t[:k].tolist())) / k for g, t in zip(got, truth, strict=True)]
        )
    )


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values) * 1e3, q))


def chunks(docs: list[np.ndarray], size: int) -> Iterator[list[np.ndarray]]:
    for start in range(0, len(docs), size):
        yield docs[start : start + size]


def measure_settings(
    index: Any,
    queries: list[Any],
    settings: list[dict[str, Any]],
    truth: list[Any],
    exact_times: list[float],
    decoded: list[Any] | None = None,
) -> list[dict[str, Any]]:
    """One row per search setting: recall@10 vs exact MaxSim (and vs exhaustive MaxSim over
    the decoded tokens when given), p50 / p95 and their ratios to exact; printed as it goes."""
    rows = []
    for knobs in settings:
        if "side" in knobs:  # a side_settings row: which side store, derived or fixed depth
            knobs = dict(knobs)
            label = {"side": knobs.pop("side"), "bytes_per_token": knobs.pop("bytes_per_token")}
            label["ndocs_used"] = knobs.get("ndocs") or index.search_defaults(10).ndocs
        else:
            label = {}
        plaid_run(index, queries[:3], 10, **knobs)  # warm-up
        got, times = plaid_run(index, queries, 10, **knobs)
        row = {**label, **knobs, "recall@10": round(recall(got, truth), 4)}
        if decoded is not None:
            row["recall@10_vs_decoded"] = round(recall(got, decoded), 4)
        row |= {
            "p50_ms": round(pct(times, 50), 2),
            "p95_ms": round(pct(times, 95), 2),
            "p50_ratio": round(pct(times, 50) / pct(exact_times, 50), 4),
            "p95_ratio": round(pct(times, 95) / pct(exact_times, 95), 4),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def attach_side(index: PlaidIndex, kind: str, blocks: Iterable[np.ndarray]) -> None:
    """Replace ``index``'s exact side store by a fresh ``kind`` one holding its tokens in
    stored order (``blocks``: the raw float32 tokens as added, no compaction since). The
    compressed part does not depend on ``rescore`` (same data and seed, same codebook and
    codes), so this is what ``PlaidIndex.create(..., rescore=kind)`` would have built, and
    one build serves every side store."""
    side = SideStore.empty(kind, index.config.dim)  # type: ignore[arg-type]
    tokens, codec = index._tokens, index._codec
    tokens.side = None  # free the previous one first
    start = 0
    for block in blocks:
        vectors = np.ascontiguousarray(block, dtype=np.float32)
        decoded = None
        if side.refines and codec is not None:  # int8 stores what the decoded tokens miss
            at = np.arange(start, start + len(vectors))
            decoded = codec.decode(tokens.codes.take(at), tokens.residuals.take(at))
        side.append(vectors, decoded)
        start += len(vectors)
    if len(side) != index.n_tokens:
        msg = f"side store has {len(side)} tokens, the index {index.n_tokens}"
        raise RuntimeError(msg)
    tokens.side = side
    index.config = replace(index.config, rescore=kind)  # type: ignore[arg-type]


def side_settings(
    index: PlaidIndex,
    sides: list[str],
    blocks: Callable[[], Iterable[np.ndarray]],
    settings: list[dict[str, Any]],
) -> Iterator[dict[str, Any]]:
    """Search settings for each side store kind (``none``: scores on the decompressed
    tokens), the side store attached before its first setting is yielded; each carries
    ``side`` and the total ``bytes_per_token`` (index + side store) for the row."""
    for kind in sides:
        if kind != "none" and kind != index.config.rescore:
            attach_side(index, kind, blocks())
        side_bytes = 0.0 if kind == "none" else index.side_bytes_per_token
        total = round(index.bytes_per_token + side_bytes, 2)
        for knobs in settings:
            yield {"side": kind, "bytes_per_token": total, **knobs, "rescore": kind != "none"}


def depth_settings(index: PlaidIndex, k: int) -> list[dict[str, Any]]:
    """The derived default and the fixed ``ndocs=256`` every version before used."""
    derived = index.search_defaults(k).ndocs
    return [{}, {"ndocs": 256}] if derived != 256 else [{}]
