"""int8 on the CPU vs fp32: encode throughput, cosine to fp32, and retrieval quality.

Same model (all-MiniLM-L6-v2), same texts, same threads. Each engine (``float32`` /
``int8``) runs in its own fresh process, alternating fp32, int8, fp32, int8, ... for
``--rounds`` rounds; the throughput ratio is taken per round and the median reported. The
vectors of the last round of each engine are then compared (cosine per text) and searched
exactly (cosine, top 100) for every dev set, scored with pytrec-eval: nDCG@10, Recall@100.
Cranfield is full-corpus retrieval; TREC DL 2019 reranks its BM25 run (depth 100).

    .venv/bin/python benchmarks/int8_encode.py --rounds 3
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

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
MODEL = "sentence-transformers/all-MiniLM-L6-v2"
SETS = ("cranfield", "trec-dl19")
ENGINES = ("float32", "int8")


def _read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _texts(folder: Path) -> tuple[list[str], list[str], list[str], list[str]]:
    docs = _read_jsonl(folder / "corpus.jsonl")
    queries = _read_jsonl(folder / "queries.jsonl")
    doc_texts = [f"{d.get('title', '')} {d.get('text', '')}".strip() for d in docs]
    return (
        [d["_id"] for d in docs],
        doc_texts,
        [q["_id"] for q in queries],
        [q["text"] for q in queries],
    )


def worker(engine: str, threads: int, out: Path) -> None:
    """Encode every dev set's documents and queries with one engine; save vectors + timing."""
    import numpy as np
    import torch

    from encoders import LLM

    torch.set_num_threads(threads)
    llm = LLM(MODEL, device="cpu", dtype=engine)
    llm.embed(["warm up the kernels"] * 32, use_tqdm=False)
    seconds, tokens = 0.0, 0
    for name in SETS:
        _, docs, _, queries = _texts(DATA / name)
        start = time.perf_counter()
        outputs = llm.embed(docs, truncate_prompt_tokens=-1, use_tqdm=False)
        seconds += time.perf_counter() - start
        tokens += sum(len(o.prompt_token_ids) for o in outputs)
        query_out = llm.embed(queries, truncate_prompt_tokens=-1, use_tqdm=False)
        for kind, outs in (("docs", outputs), ("queries", query_out)):
            vectors = np.array([o.outputs.embedding for o in outs], dtype=np.float32)
            np.save(out.parent / f"{engine}-{name}-{kind}.npy", vectors, allow_pickle=False)
    out.write_text(json.dumps({"seconds": seconds, "tokens_per_s": tokens / seconds}))


def _qrels(folder: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    lines = (folder / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()[1:]
    for line in lines:
        qid, did, score = line.split("\t")[:3]
        qrels.setdefault(qid, {})[did] = int(float(score))
    return qrels


def _candidates(folder: Path) -> dict[str, set[str]] | None:
    run = folder / "bm25.run"
    if not run.is_file():
        return None
    pools: dict[str, set[str]] = {}
    for line in run.read_text(encoding="utf-8").splitlines():
        qid, _, did = line.split()[:3]
        pools.setdefault(qid, set()).add(did)
    return pools


def quality(folder: Path, tmp: Path, engine: str) -> dict[str, float]:
    """nDCG@10 and Recall@100 of exact cosine search with one engine's vectors."""
    import numpy as np
    import pytrec_eval

    doc_ids, _, query_ids, _ = _texts(folder)
    docs = np.load(tmp / f"{engine}-{folder.name}-docs.npy")
    queries = np.load(tmp / f"{engine}-{folder.name}-queries.npy")
    scores = queries @ docs.T
    pools = _candidates(folder)
    position = {d: i for i, d in enumerate(doc_ids)}
    run: dict[str, dict[str, float]] = {}
    for row, qid in enumerate(query_ids):
        allowed = pools.get(qid, set()) if pools is not None else None
        columns = [position[d] for d in allowed if d in position] if allowed else None
        picks = np.arange(len(doc_ids)) if columns is None else np.array(columns)
        top = picks[np.argsort(-scores[row, picks])[:100]]
        run[qid] = {doc_ids[j]: float(scores[row, j]) for j in top}
    qrels = _qrels(folder)
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.100"})
    per_query = evaluator.evaluate({q: r for q, r in run.items() if q in qrels})
    return {
        "ndcg@10": statistics.mean(v["ndcg_cut_10"] for v in per_query.values()),
        "recall@100": statistics.mean(v["recall_100"] for v in per_query.values()),
    }


def cosine(tmp: Path, name: str) -> tuple[float, float]:
    import numpy as np

    a = np.load(tmp / f"float32-{name}-docs.npy")
    b = np.load(tmp / f"int8-{name}-docs.npy")
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return float(cos.min()), float(cos.mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--worker", choices=ENGINES)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.threads, args.out)
        return
    missing = [name for name in SETS if not (DATA / name / "corpus.jsonl").is_file()]
    if missing:
        sys.exit(f"dev sets not found under {DATA}: {missing}")
    rates: dict[str, list[float]] = {e: [] for e in ENGINES}
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        for round_index in range(args.rounds):
            for engine in ENGINES:
                out = tmp / f"{engine}.json"
                command = [sys.executable, __file__, "--worker", engine, "--out", str(out)]
                command += ["--threads", str(args.threads)]
                env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": str(args.threads)}
                subprocess.run(command, check=True, env=env)
                rates[engine].append(json.loads(out.read_text())["tokens_per_s"])
                print(f"round {round_index + 1} {engine}: {rates[engine][-1]:.0f} tokens/s")
        ratios = [i / f for f, i in zip(rates["float32"], rates["int8"], strict=True)]
        print(f"\nthreads {args.threads}, rounds {args.rounds}, load average {os.getloadavg()}")
        for engine in ENGINES:
            print(f"{engine:8s} median {statistics.median(rates[engine]):8.0f} tokens/s")
        print(f"int8 / fp32 tokens/s per round: {[round(r, 3) for r in ratios]}")
        print(f"median ratio: {statistics.median(ratios):.3f}")
        print(f"\n{'set':10s} {'engine':8s} {'nDCG@10':>8s} {'R@100':>7s} {'cos min/mean':>16s}")
        for name in SETS:
            low, mean = cosine(tmp, name)
            for engine in ENGINES:
                q = quality(DATA / name, tmp, engine)
                cos = f"{low:.4f}/{mean:.5f}" if engine == "int8" else ""
                print(
                    f"{name:10s} {engine:8s} {q['ndcg@10']:8.4f} {q['recall@100']:7.4f} {cos:>16s}"
                )


if __name__ == "__main__":
    main()
