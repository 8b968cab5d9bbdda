"""Rescoring a few candidates by MaxSim: ``maxsim_rows`` (each candidate multiplied where it
lies) vs gathering the candidates into one packed array first and scoring that
(``gather_documents`` + ``maxsim``: what ``maxsim_rows`` did before), same query, same rows.

Token store shaped like Cranfield under all-MiniLM-L6-v2: 1,400 documents of 100-280 random
unit vectors (dim 384); a 12-token query; ``--candidates`` random rows per call (the union of
the hybrid's first stages), median of ``--repeat`` calls, one thread.

    .venv/bin/python benchmarks/maxsim_rescore.py
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path[:0] = [str(Path(__file__).resolve().parents[1])]

from late_interaction import gather_documents, maxsim, maxsim_rows  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidates", type=int, nargs="+", default=[80, 150])
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    lengths = rng.integers(100, 281, 1400)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    tokens = rng.standard_normal((int(offsets[-1]), 384), dtype=np.float32)
    tokens /= np.linalg.norm(tokens, axis=1, keepdims=True)
    query = rng.standard_normal((12, 384), dtype=np.float32)
    query /= np.linalg.norm(query, axis=1, keepdims=True)

    def gathered(rows: np.ndarray) -> np.ndarray:
        return maxsim(torch.from_numpy(query), gather_documents(tokens, offsets, rows)).numpy()

    def in_place(rows: np.ndarray) -> np.ndarray:
        return maxsim_rows(query, tokens, offsets, rows)

    for n in args.candidates:
        times: dict[str, list[float]] = {"in_place": [], "gathered": []}
        worst = 0.0
        for i in range(args.repeat):
            rows = rng.choice(1400, n, replace=False)
            order = [("in_place", in_place), ("gathered", gathered)]
            results = {}
            for name, score in order if i % 2 == 0 else order[::-1]:
                start = time.perf_counter()
                results[name] = score(rows)
                times[name].append((time.perf_counter() - start) * 1000)
            worst = max(worst, float(np.abs(results["in_place"] - results["gathered"]).max()))
        a, b = statistics.median(times["in_place"]), statistics.median(times["gathered"])
        row = {
            "candidates": n,
            "in_place_ms": round(a, 2),
            "gathered_ms": round(b, 2),
            "speedup": round(b / a, 2),
            "max_abs_diff": worst,
            "load_average": [round(x, 2) for x in os.getloadavg()],
        }
        print(json.dumps(row))


if __name__ == "__main__":
    main()
