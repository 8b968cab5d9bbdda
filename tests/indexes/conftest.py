"""Fixtures for the index suites: one ``case`` per index implementation."""

from __future__ import annotations

import pytest

from tests.indexes.cases import CASE_IDS, CASES, Case

pytest.importorskip("faiss")


@pytest.fixture(params=CASES, ids=CASE_IDS)
def case(request: pytest.FixtureRequest) -> Case:
    return request.param
