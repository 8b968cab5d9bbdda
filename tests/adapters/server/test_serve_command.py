"""``retrieval serve``: vLLM's command lines parse unchanged; a real subprocess serves."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from adapters.cli import build_parser

# Every `vllm serve` line of the Pooling Models document, with `vllm` replaced.
SPEC_LINES = [
    "serve intfloat/e5-small",
    'serve Snowflake/snowflake-arctic-embed-m-v1.5 --hf-overrides {"matryoshka_dimensions":[256]}',
    "serve jinaai/jina-embeddings-v3 --trust-remote-code",
    "serve answerdotai/answerai-colbert-small-v1",
    "serve lightonai/GTE-ModernColBERT-v1 --hf-overrides "
    '{"architectures":["ColBERTModernBertModel"]}',
    'serve jinaai/jina-colbert-v2 --hf-overrides {"architectures":["ColBERTJinaRobertaModel"]} '
    "--trust-remote-code",
    "serve TomoroAI/tomoro-colqwen3-embed-4b --max-model-len 4096",
    'serve BAAI/bge-m3 --hf-overrides {"architectures":["BgeM3EmbeddingModel"]}',
]


@pytest.mark.parametrize("line", SPEC_LINES)
def test_vllm_serve_lines_parse(line: str) -> None:
    args = build_parser().parse_args(line.split(" ", 1)[:1] + line.split(" ")[1:])
    assert args.command == "serve"
    assert args.model_tag == [line.split(" ")[1]]
    assert args.host == "127.0.0.1"
    if "--hf-overrides" in line:
        assert isinstance(args.hf_overrides, dict)


def test_flags_like_vllm() -> None:
    args = build_parser().parse_args(
        ["serve", "--model", "a", "--model", "b", "--served-model-name", "x", "y",
         "--runner", "pooling", "--convert", "embed", "--pooler-config",
         '{"pooling_type": "MEAN"}', "--dtype", "float32", "--api-key", "k", "--port", "9000",
         "--max-concurrent-requests", "4"]
    )  # fmt: skip
    assert args.model == ["a", "b"]
    assert args.served_model_name == ["x", "y"]
    assert args.pooler_config == {"pooling_type": "MEAN"}
    assert args.max_queue_size == 4


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_serve_subprocess_polled_on_health(matryoshka_model: Path) -> None:
    port = _free_port()
    command = [sys.executable, "-m", "adapters.cli", "serve", str(matryoshka_model),
               "--served-model-name", "tiny", "--port", str(port), "--api-key", "k",
               "--hf-overrides", '{"matryoshka_dimensions": [8, 16]}', "--max-model-len", "32",
               "--runner", "pooling", "--device", "cpu", "--log-level", "warning"]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    root = Path(__file__).resolve().parents[3]
    process = subprocess.Popen(command, cwd=root, env=env, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "retrieval serve did not become healthy"
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        headers = {"Authorization": "Bearer k"}
        body = {"model": "tiny", "input": "hello world", "dimensions": 8}
        response = httpx.post(f"{url}/v1/embeddings", json=body, headers=headers, timeout=30)
        assert response.status_code == 200, response.text
        assert len(response.json()["data"][0]["embedding"]) == 8
        body["dimensions"] = 32  # the override narrowed the allowed sizes to [8, 16]
        refused = httpx.post(f"{url}/v1/embeddings", json=body, headers=headers, timeout=30)
        assert "only supports [8, 16] matryoshka dimensions" in refused.json()["error"]["message"]
        tokens = httpx.post(f"{url}/tokenize", json={"prompt": "hi"}, headers=headers, timeout=30)
        assert tokens.json()["max_model_len"] == 32
        assert httpx.post(f"{url}/tokenize", json={"prompt": "hi"}, timeout=30).status_code == 401
    finally:
        process.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal it caught.
        assert process.wait(60) in (0, -signal.SIGTERM)
