"""Backpressure, micro-batching, timeouts, graceful shutdown, API key and body limit."""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from adapters.server import ServerConfig, build_app
from tests.adapters.server.conftest import start_uvicorn

BATCH = [f"passage number {i} about wings, air pressure and lift" for i in range(32)]


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{name}(?:{{[^}}]*}})? ([0-9.e+]+)$", text, re.MULTILINE)
    assert match, name
    return float(match.group(1))


@pytest.mark.slow
def test_bounded_load_under_capacity_has_no_errors_and_merges(minilm: Any) -> None:
    """60 requests from 8 client threads: all 200, and fewer model batches than requests."""
    url, stop = start_uvicorn(build_app([(["m"], minilm)]))
    try:
        with httpx.Client(base_url=url, timeout=60) as http:
            body = {"input": BATCH[:4]}
            start = time.monotonic()
            with ThreadPoolExecutor(8) as pool:
                codes = list(
                    pool.map(
                        lambda _: http.post("/v1/embeddings", json=body).status_code, range(60)
                    )
                )
            assert time.monotonic() - start < 60
            assert codes == [200] * 60
            metrics = http.get("/metrics").text
            batches = _metric(metrics, "retrieval_batch_requests_count")
            merged = _metric(metrics, "retrieval_batch_requests_sum")
            assert merged == 60
            assert batches < 60  # concurrent requests shared forward passes
            assert http.get("/health").status_code == 200
    finally:
        stop()


@pytest.mark.slow
def test_over_capacity_answers_503_with_retry_after_then_recovers(minilm: Any) -> None:
    config = ServerConfig(max_queue_size=1, retry_after_s=2)
    url, stop = start_uvicorn(build_app([(["m"], minilm)], config))
    try:
        with httpx.Client(base_url=url, timeout=60) as http:

            def post(_: int) -> httpx.Response:
                return http.post("/v1/embeddings", json={"input": BATCH})

            with ThreadPoolExecutor(16) as pool:
                responses = list(pool.map(post, range(32)))
            codes = [r.status_code for r in responses]
            assert set(codes) <= {200, 503}
            assert codes.count(503) > 0
            assert codes.count(200) >= 2
            for response in responses:
                if response.status_code == 503:
                    assert response.headers["retry-after"] == "2"
                    assert "--max-queue-size" in response.json()["error"]["message"]
            assert http.get("/health").status_code == 200
            assert http.post("/v1/embeddings", json={"input": "after"}).status_code == 200
            assert _metric(http.get("/metrics").text, "retrieval_rejected_total") == codes.count(
                503
            )
    finally:
        stop()


def test_request_timeout_is_504_and_server_survives(minilm: Any) -> None:
    config = ServerConfig(request_timeout_s=0.001)
    with TestClient(build_app([(["m"], minilm)], config)) as client:
        response = client.post("/v1/embeddings", json={"input": BATCH * 2})
        assert response.status_code == 504
        assert "--request-timeout" in response.json()["error"]["message"]
        assert client.get("/health").status_code == 200


def test_graceful_shutdown_finishes_in_flight_requests(minilm: Any) -> None:
    url, stop = start_uvicorn(build_app([(["m"], minilm)]))
    results: list[int] = []

    def slow_request() -> None:
        with httpx.Client(base_url=url, timeout=60) as http:
            results.append(http.post("/v1/embeddings", json={"input": BATCH * 4}).status_code)

    thread = threading.Thread(target=slow_request)
    thread.start()
    deadline = time.monotonic() + 30
    with httpx.Client(base_url=url, timeout=10) as http:  # wait until the model is running it
        while "retrieval_batch_tokens_count{" not in http.get("/metrics").text:
            assert time.monotonic() < deadline
            time.sleep(0.01)
    stop()
    thread.join(60)
    assert results == [200]


def test_api_key_guards_everything_but_health(minilm: Any) -> None:
    app = build_app([(["m"], minilm)], ServerConfig(api_key="s3cret"))
    with TestClient(app) as client:
        assert client.get("/health").status_code == 200
        for headers in (
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": "s3cret"},
            {"Authorization": "Basic s3cret"},
        ):
            response = client.post("/v1/embeddings", json={"input": "x"}, headers=headers)
            assert response.status_code == 401
            assert response.json()["error"]["type"] == "AuthenticationError"
        assert client.get("/metrics").status_code == 401
        assert client.get("/v1/models").status_code == 401
        ok = client.post(
            "/v1/embeddings", json={"input": "x"}, headers={"Authorization": "Bearer s3cret"}
        )
        assert ok.status_code == 200


def test_openai_sdk_with_api_key(minilm: Any) -> None:
    import openai

    url, stop = start_uvicorn(build_app([(["m"], minilm)], ServerConfig(api_key="k-123")))
    try:
        good = openai.OpenAI(base_url=f"{url}/v1", api_key="k-123", max_retries=0)
        assert len(good.embeddings.create(model="m", input="x").data[0].embedding) == 384
        bad = openai.OpenAI(base_url=f"{url}/v1", api_key="nope", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            bad.embeddings.create(model="m", input="x")
    finally:
        stop()


def test_body_size_limit(minilm: Any) -> None:
    app = build_app([(["m"], minilm)], ServerConfig(max_body_bytes=2000))
    with TestClient(app) as client:
        response = client.post("/v1/embeddings", json={"input": ["word " * 100] * 5})
        assert response.status_code == 413
        assert "limit of 2000 bytes" in response.json()["error"]["message"]

        def chunks() -> Any:  # no Content-Length: the limit still holds while streaming
            for _ in range(10):
                yield b" " * 500

        streamed = client.post(
            "/v1/embeddings", content=chunks(), headers={"content-type": "application/json"}
        )
        assert streamed.status_code == 413
        assert client.post("/v1/embeddings", json={"input": "x"}).status_code == 200


def test_build_app_loads_nothing_at_import() -> None:
    import importlib
    import sys

    for name in [n for n in sys.modules if n.startswith("adapters.server")]:
        del sys.modules[name]
    module = importlib.import_module("adapters.server")
    assert "adapters.server.app" not in sys.modules
    assert callable(module.build_app)
