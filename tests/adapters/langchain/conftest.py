"""Fixtures of the LangChain adapter tests."""

from __future__ import annotations

from typing import Any

import pytest

from tests.adapters.langchain import models


@pytest.fixture
def shared_minilm(minilm: Any) -> Any:
    """The session's MiniLM, also reachable from the standard suites' properties."""
    models.share_minilm(minilm)
    return minilm
