"""Shared pieces of ``plaid_search.py``: synthetic token corpora, exact MaxSim truth, timed
PLAID runs, recall, the exact side stores compared on one compressed index, fast-plaid runs
and the Cranfield MiniLM token cache."""

from __future__ import annotations

import argparse
import itertools
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


def fast_plaid_runs(
    docs: list[np.ndarray], queries: list[np.ndarray], truth: list[np.ndarray], args: Any, k: int
) -> dict[str, Any]:
    """The same corpus and queries through fast-plaid on CPU (same nbits, threads, probes;
    ``n_full_scores`` = our ``ndocs``), when the package imports; else why not."""
    try:
        from fast_plaid import search as fp_search
    except ImportError as err:
        return {"error": f"fast-plaid not importable here: {err}"}
    import tempfile

    folder = tempfile.mkdtemp(prefix="fastplaid-")
    index = fp_search.FastPlaid(index=folder, device="cpu")
    tensors = [torch.from_numpy(d) for d in docs]
    _, build = timed(lambda: index.create(documents_embeddings=tensors, nbits=args.nbits))
    out: dict[str, Any] = {"build_s": round(build, 1), "runs": []}
    for ncells, ndocs in ((1, 256), (4, 256), (8, 1024), (8, 4096)):
        got, times = [], []
        for q in queries:
            res, seconds = timed(
                lambda q=q, ncells=ncells, ndocs=ndocs: index.search(
                    torch.from_numpy(q)[None],
                    top_k=k,
                    n_ivf_probe=ncells,
                    n_full_scores=ndocs,
                    show_progress=False,
                )
            )
            got.append([int(i) for i, _ in res[0]])
            times.append(seconds)
        row = {
            "n_ivf_probe": ncells,
            "n_full_scores": ndocs,
            "recall@10": round(recall(got, truth), 4),
            "p50_ms": round(pct(times, 50), 2),
            "p95_ms": round(pct(times, 95), 2),
        }
        out["runs"].append(row)
        print("fast-plaid", json.dumps(row), flush=True)
    out["got"] = got
    return out


def cranfield_tokens(args: argparse.Namespace) -> tuple:
    """Raw MiniLM token states (cached as .npy under --cache), ids and qrels."""
    root = Path(args.cranfield)
    corpus = [json.loads(line) for line in (root / "corpus.jsonl").open(encoding="utf-8")]
    queries = [json.loads(line) for line in (root / "queries.jsonl").open(encoding="utf-8")]
    qrels: dict[str, dict[str, int]] = {}
    for line in (root / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        query_id, doc_id, score = line.split("\t")
        qrels.setdefault(query_id, {})[doc_id] = int(score)
    cache = Path(args.cache)
    if not (cache / "doc_ptr.npy").is_file():
        from encoders import LLM, PoolingParams

        llm = LLM("sentence-transformers/all-MiniLM-L6-v2")
        raw = PoolingParams(use_activation=False, truncate_prompt_tokens=-1)
        texts = [f"{d.get('title', '')} {d['text']}".strip() for d in corpus]
        for name, items in (("doc", texts), ("query", [q["text"] for q in queries])):
            outs = llm.encode(items, raw, pooling_task="token_embed", use_tqdm=False)
            states = [o.outputs.data.float().numpy() for o in outs]
            cache.mkdir(parents=True, exist_ok=True)
            np.save(cache / f"{name}_vectors.npy", np.concatenate(states))
            np.save(cache / f"{name}_ptr.npy", np.cumsum([0] + [len(s) for s in states]))
    out = []
    for name in ("doc", "query"):
        vectors = np.load(cache / f"{name}_vectors.npy")
        ptr = np.load(cache / f"{name}_ptr.npy")
        out.append([torch.from_numpy(vectors[a:b]) for a, b in itertools.pairwise(ptr)])
    return [d["_id"] for d in corpus], out[0], [q["_id"] for q in queries], out[1], qrels
