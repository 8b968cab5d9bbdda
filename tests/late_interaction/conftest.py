"""Late-interaction tests use tiny tensors: one intra-op thread avoids OpenMP spin-waits
fighting other processes on a shared 2-core box (seconds lost per test otherwise)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
