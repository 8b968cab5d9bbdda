"""Encode throughput: the toolkit's LLM.embed vs sentence-transformers, same model, same CPU.

``--task token_embed`` times per-token vectors instead (the toolkit's
``encode(pooling_task="token_embed")`` vs sentence-transformers'
``encode(output_value="token_embeddings")``), the multi-vector path that feeds MaxSim.

Each engine runs in its own fresh process (so peak RSS is its own), alternating
ST, toolkit, ST, toolkit, ... for ``--rounds`` rounds; the median round is reported, with the
cosine agreement of the two embeddings checked in the same run.

    .venv/bin/python benchmarks/encode_throughput.py --rounds 3
    .venv/bin/python benchmarks/encode_throughput.py --rounds 3 --task token_embed
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

DEFAULT_CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "cranfield"
MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def load_passages(corpus: Path, limit: int) -> list[str]:
    passages = []
    with (corpus / "corpus.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            doc = json.loads(line)
            passages.append(f"{doc.get('title', '')} {doc.get('text', '')}".strip())
    return passages[:limit]


def _unit_rows(chunks: list) -> object:
    """Per-token vectors of every passage, stacked and L2-normalized ``(total_tokens, d)``."""
    import numpy as np

    rows = np.concatenate([np.asarray(c, dtype=np.float32) for c in chunks])
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def worker(
    engine: str, corpus: Path, limit: int, threads: int, out: Path, task: str = "embed"
) -> None:
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    passages = load_passages(corpus, limit)
    if engine == "st":
        from sentence_transformers import SentenceTransformer

        from encoders.resolve import resolve_model

        model = SentenceTransformer(str(resolve_model(MODEL).path), device="cpu")
        model.encode(passages[:64], batch_size=32)
        lengths = [
            len(x) for x in model.tokenizer(passages, truncation=True, max_length=256)["input_ids"]
        ]
        start = time.perf_counter()
        if task == "token_embed":
            tokens = model.encode(passages, batch_size=32, output_value="token_embeddings")
            elapsed = time.perf_counter() - start
            vectors = _unit_rows([t.numpy() for t in tokens])
        else:
            vectors = model.encode(passages, batch_size=32, convert_to_numpy=True)
            elapsed = time.perf_counter() - start
    else:
        from encoders import LLM

        llm = LLM(MODEL, device="cpu")
        llm.embed(passages[:64], truncate_prompt_tokens=-1, use_tqdm=False)
        start = time.perf_counter()
        if task == "token_embed":
            outputs = llm.encode(
                passages, pooling_task="token_embed", truncate_prompt_tokens=-1, use_tqdm=False
            )
            elapsed = time.perf_counter() - start
            vectors = _unit_rows([o.outputs.data.numpy() for o in outputs])
        else:
            outputs = llm.embed(passages, truncate_prompt_tokens=-1, use_tqdm=False)
            elapsed = time.perf_counter() - start
            vectors = np.array([o.outputs.embedding for o in outputs], dtype=np.float32)
        lengths = [len(o.prompt_token_ids) for o in outputs]
    np.save(out.with_suffix(".npy"), vectors)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = {
        "engine": engine,
        "seconds": elapsed,
        "sentences_per_s": len(passages) / elapsed,
        "tokens_per_s": sum(lengths) / elapsed,
        "peak_rss_mib": peak_kib / 1024,
    }
    out.write_text(json.dumps(result), encoding="utf-8")


def run_round(engine: str, args: argparse.Namespace, folder: Path) -> dict[str, float]:
    out = folder / f"{engine}.json"
    command = [
        sys.executable, __file__, "--worker", engine, "--corpus", str(args.corpus),
        "--limit", str(args.limit), "--threads", str(args.threads), "--out", str(out),
        "--task", args.task,
    ]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": str(args.threads)}
    subprocess.run(command, check=True, env=env)
    return json.loads(out.read_text(encoding="utf-8"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--limit", type=int, default=1400)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--task", choices=["embed", "token_embed"], default="embed")
    parser.add_argument("--worker", choices=["st", "toolkit"])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.corpus, args.limit, args.threads, args.out, args.task)
        return
    if not (args.corpus / "corpus.jsonl").is_file():
        sys.exit(f"corpus not found: {args.corpus} (pass --corpus DIR with a corpus.jsonl)")
    import numpy as np

    runs: dict[str, list[dict[str, float]]] = {"st": [], "toolkit": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for round_index in range(args.rounds):
            for engine in ("st", "toolkit"):
                runs[engine].append(run_round(engine, args, folder))
                print(f"round {round_index + 1} {engine}: {runs[engine][-1]}", flush=True)
        a = np.load(folder / "st.npy")
        b = np.load(folder / "toolkit.npy")
    cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    med = {
        e: {k: statistics.median(r[k] for r in runs[e]) for k in runs[e][0] if k != "engine"}
        for e in runs
    }
    ratios = [
        t["tokens_per_s"] / s["tokens_per_s"]
        for s, t in zip(runs["st"], runs["toolkit"], strict=True)
    ]
    print(
        f"\ntask: {args.task}  passages: {args.limit}  threads: {args.threads}  "
        f"rounds: {args.rounds}"
    )
    print(f"{'engine':22s} {'sentences/s':>12s} {'tokens/s':>10s} {'peak RSS MiB':>13s}")
    for engine, label in (("st", "sentence-transformers"), ("toolkit", "retrieval-toolkit")):
        m = med[engine]
        rate = f"{m['sentences_per_s']:12.1f} {m['tokens_per_s']:10.0f}"
        print(f"{label:22s} {rate} {m['peak_rss_mib']:13.0f}")
    print(f"throughput ratio (toolkit / ST), per round: {[round(r, 3) for r in ratios]}")
    print(f"median ratio: {statistics.median(ratios):.3f}")
    what = "per-token " if args.task == "token_embed" else ""
    print(f"{what}cosine toolkit vs ST: min {cosine.min():.6f}  mean {cosine.mean():.6f}")


if __name__ == "__main__":
    main()
