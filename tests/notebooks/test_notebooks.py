"""The document-image notebook runs end to end (a fresh kernel, the repository's environment)."""

from __future__ import annotations

import os

import pytest

from tests.notebooks.run import execute, has_figure


@pytest.mark.slow
def test_document_image_search_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    # CI runs the tiny random checkpoint; a developer's real model folder is not used here.
    monkeypatch.delenv("RETRIEVAL_COLQWEN_MODEL", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    notebook, outputs = execute("document_image_search.ipynb")
    assert "TINY RANDOM checkpoint" in outputs
    assert "pages indexed" in outputs
    assert has_figure(notebook), "no figure was rendered"
    assert os.environ.get("RETRIEVAL_COLQWEN_MODEL") is None
