"""Server fixtures: models loaded once per session, an in-process client and a real uvicorn
server on a pre-bound loopback port."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from adapters.server import ServerConfig, build_app
from tests.tiny_models import make_family

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


@pytest.fixture(scope="session")
def cross_encoder_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-logit BERT reranker in the sentence-transformers CrossEncoder layout."""
    folder = make_family(tmp_path_factory.mktemp("srv_ce"), "bert", "seq", labels=1, seed=7)
    config = json.loads((folder / "config.json").read_text())
    config["sentence_transformers"] = {"activation_fn": "torch.nn.modules.activation.Sigmoid"}
    (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.fixture(scope="session")
def reranker(cross_encoder_path: Path) -> Any:
    from encoders import LLM

    return LLM(str(cross_encoder_path), device="cpu")


@pytest.fixture(scope="session")
def classifier(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from encoders import LLM

    folder = make_family(tmp_path_factory.mktemp("srv_cls"), "bert", "seq", labels=3, seed=8)
    return LLM(str(folder), device="cpu")


@pytest.fixture(scope="session")
def tagger(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from encoders import LLM

    folder = make_family(tmp_path_factory.mktemp("srv_tok"), "bert", "token", labels=2, seed=9)
    return LLM(str(folder), device="cpu")


@pytest.fixture(scope="session")
def served(minilm: Any, reranker: Any, classifier: Any, tagger: Any) -> list[tuple[Any, Any]]:
    """Four models in one server; the first (MiniLM) answers requests without ``model``."""
    return [
        ([MINILM, "minilm"], minilm),
        (["reranker"], reranker),
        (["classifier"], classifier),
        (["tagger"], tagger),
    ]


@pytest.fixture(scope="session")
def client(served: list[tuple[Any, Any]]) -> Iterator[TestClient]:
    with TestClient(build_app(served)) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def server_url(served: list[tuple[Any, Any]]) -> Iterator[str]:
    """A real uvicorn server on 127.0.0.1 (port bound before start, so it is known)."""
    url, stop = start_uvicorn(build_app(served))
    yield url
    stop()


def start_uvicorn(app: Any) -> tuple[str, Any]:
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=60))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)

    def stop() -> None:
        server.should_exit = True
        thread.join(10)
        sock.close()

    return f"http://127.0.0.1:{port}", stop


def small_config(**changes: Any) -> ServerConfig:
    return ServerConfig(**changes)
