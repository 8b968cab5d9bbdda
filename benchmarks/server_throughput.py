"""HTTP server throughput and latency vs the in-process ``LLM.embed``, same model, same inputs.

The server (``build_app`` + uvicorn, what ``retrieval serve`` runs) has its own process;
clients are asyncio tasks (httpx), each sending ``/v1/embeddings`` requests one after
another. Per concurrency level the same requests also run in-process (``LLM.embed`` once per
request, in the benchmark process) in alternating blocks (in-process, server, server,
in-process, ...) so both see the same machine load; totals over all blocks are reported.

    .venv/bin/python benchmarks/server_throughput.py --requests 64 --texts-per-request 4 \
        --rounds 4 --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "cranfield"


def load_texts(count: int) -> list[str]:
    """Cranfield passages (first 300 characters) when the shared data exists, else a fixed
    synthetic set of similar length."""
    path = CORPUS / "corpus.jsonl"
    texts: list[str] = []
    if path.is_file():
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                doc = json.loads(line)
                text = f"{doc.get('title', '')} {doc.get('text', '')}".strip()[:300]
                if text:  # the server refuses empty inputs (400); in-process embeds them
                    texts.append(text)
                if len(texts) == count:
                    break
    words = "wing lift pressure boundary layer flow shock heat transfer plate cone".split()
    while len(texts) < count:
        i = len(texts)
        texts.append(" ".join(words[(i + j) % len(words)] for j in range(30 + i % 20)))
    return texts


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(port: int, threads: int) -> subprocess.Popen[bytes]:
    """The server in its own process: what ``retrieval serve MODEL`` runs (build_app +
    uvicorn), started directly so the benchmark does not depend on the other CLI commands."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": str(threads)}
    command = [sys.executable, __file__, "--serve-port", str(port), "--threads", str(threads)]
    root = Path(__file__).resolve().parents[1]
    return subprocess.Popen(command, cwd=root, env={**env, "PYTHONPATH": str(root)})


def serve(port: int, threads: int) -> None:
    import torch
    import uvicorn

    from adapters.server import build_app
    from encoders import LLM

    torch.set_num_threads(threads)
    app = build_app([([MODEL], LLM(MODEL, device="cpu"))])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    import httpx

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the server exited during start-up")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit("the server did not become healthy")


@dataclass
class Block:
    """One timed block of requests."""

    texts: int
    elapsed: float
    latencies: list[float]
    errors: int = 0


def summary(blocks: list[Block]) -> dict[str, float]:
    """Texts/s over all blocks and pooled latency quantiles."""
    latencies = sorted(x for b in blocks for x in b.latencies)
    return {
        "texts_per_s": sum(b.texts for b in blocks) / sum(b.elapsed for b in blocks),
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        "errors": sum(b.errors for b in blocks),
    }


async def run_clients(url: str, requests: list[list[str]], concurrency: int, fmt: str) -> Block:
    """Send every request once with ``concurrency`` clients."""
    import httpx

    queue: asyncio.Queue[list[str]] = asyncio.Queue()
    for request in requests:
        queue.put_nowait(request)
    latencies: list[float] = []
    errors = 0

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal errors
        while not queue.empty():
            texts = queue.get_nowait()
            start = time.perf_counter()
            body = {"model": MODEL, "input": texts, "encoding_format": fmt}
            response = await http.post("/v1/embeddings", json=body)
            latencies.append(time.perf_counter() - start)
            if response.status_code != 200:
                errors += 1
                print(f"non-200: {response.status_code} {response.text[:200]}", flush=True)

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as http:
        start = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return Block(sum(len(r) for r in requests), elapsed, latencies, errors)


def in_process(llm: Any, requests: list[list[str]]) -> Block:
    """``LLM.embed`` once per request, back to back (what one in-process caller does)."""
    latencies = []
    start = time.perf_counter()
    for texts in requests:
        t0 = time.perf_counter()
        llm.embed(texts, use_tqdm=False)
        latencies.append(time.perf_counter() - t0)
    return Block(sum(len(r) for r in requests), time.perf_counter() - start, latencies)


def response_sizes(url: str, texts: list[str]) -> dict[str, int]:
    import httpx

    sizes = {}
    for fmt in ("float", "base64"):
        body = {"model": MODEL, "input": texts, "encoding_format": fmt}
        sizes[fmt] = len(httpx.post(f"{url}/v1/embeddings", json=body, timeout=120).content)
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--texts-per-request", type=int, default=8)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--rounds", type=int, default=2, help="alternating blocks per level")
    parser.add_argument("--threads", type=int, default=2, help="torch threads, both sides")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument(
        "--baseline-thread",
        action="store_true",
        help="run the in-process baseline on a worker thread, as the server",
    )
    parser.add_argument("--serve-port", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_port is not None:
        serve(args.serve_port, args.threads)
        return

    import torch

    from encoders import LLM

    torch.set_num_threads(args.threads)
    texts = load_texts(args.requests * args.texts_per_request)
    per = args.texts_per_request
    requests = [texts[i : i + per] for i in range(0, len(texts), per)]
    llm = LLM(MODEL, device="cpu")
    llm.embed(texts[:64], use_tqdm=False)
    baseline = in_process
    if args.baseline_thread:
        # Same thread arrangement as the server (one model thread beside the caller): on a
        # heavily oversubscribed machine torch ran ~1.8x faster there than on the main thread.
        pool = ThreadPoolExecutor(1)
        baseline = lambda m, r: pool.submit(in_process, m, r).result()  # noqa: E731

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(port, args.threads)
    try:
        wait_healthy(url, server)
        asyncio.run(run_clients(url, requests[:8], 4, "float"))  # warm-up
        results: dict[str, Any] = {"sizes_bytes": response_sizes(url, requests[0])}
        start = time.perf_counter()
        llm.embed(texts, use_tqdm=False)  # reference: every text in ONE in-process call
        results["in_process_one_call_texts_per_s"] = len(texts) / (time.perf_counter() - start)
        print(json.dumps({"one_call": results["in_process_one_call_texts_per_s"]}), flush=True)
        for concurrency in args.concurrency:
            # Blocks alternate engine order (A B B A ...) so both see the same machine load.
            size = max(concurrency, len(requests) // args.rounds)
            blocks: dict[str, list[Block]] = {"in_process": [], "float": [], "base64": []}
            for index, start in enumerate(range(0, len(requests), size)):
                chunk = requests[start : start + size]
                order = ["in_process", "float", "base64"]
                for engine in order if index % 2 == 0 else order[::-1]:
                    if engine == "in_process":
                        blocks[engine].append(baseline(llm, chunk))
                    else:
                        blocks[engine].append(
                            asyncio.run(run_clients(url, chunk, concurrency, engine))
                        )
            base, served, b64 = (summary(blocks[k]) for k in ("in_process", "float", "base64"))
            results[str(concurrency)] = {
                "in_process": base,
                "server_float": served,
                "server_base64": b64,
                "ratio_float": served["texts_per_s"] / base["texts_per_s"],
                "ratio_base64": b64["texts_per_s"] / base["texts_per_s"],
            }
            print(json.dumps({concurrency: results[str(concurrency)]}), flush=True)
        print(json.dumps({"sizes_bytes": results["sizes_bytes"]}))
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
    finally:
        server.terminate()
        server.wait(60)


if __name__ == "__main__":
    main()
