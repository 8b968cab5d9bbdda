"""Fixtures shared by the adapter tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def ray_local_cluster() -> Iterator[None]:
    """One local two-CPU Ray cluster for every Ray test: Ray's start-up is the slow part."""
    ray = pytest.importorskip("ray")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        _node_ip_address="127.0.0.1",
        runtime_env={"env_vars": {"TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}},
    )
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield
    ray.shutdown()


@pytest.fixture(scope="session")
def text_collection(tmp_path_factory: pytest.TempPathFactory, real_default_path: Path) -> Path:
    """A MiniLM collection of a few text files (``tests.adapters.pages``)."""
    from tests.adapters.pages import build_text_collection

    return build_text_collection(tmp_path_factory.mktemp("page_text"))


@pytest.fixture(scope="session")
def image_collection(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny-ColQwen3 collection of page images, PDF pages and a text file, pages kept."""
    from tests.adapters.pages import build_image_collection

    return build_image_collection(tmp_path_factory.mktemp("page_images"))[0]
