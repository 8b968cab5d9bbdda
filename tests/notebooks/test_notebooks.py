"""The notebooks run end to end (a fresh kernel, the repository's environment)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


@pytest.mark.slow
def test_document_image_search_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    # CI runs the tiny random checkpoint; a developer's real model folder is not used here.
    monkeypatch.delenv("RETRIEVAL_COLQWEN_MODEL", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    path = NOTEBOOKS / "document_image_search.ipynb"
    notebook = nbformat.read(path, as_version=4)
    resources = {"metadata": {"path": str(NOTEBOOKS)}}  # run from notebooks/, as a user would
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources=resources
    )
    client.execute()
    # Keep the executed copy for a look at the figures (not committed).
    nbformat.write(notebook, str(Path(os.environ.get("TMPDIR", "/tmp")) / path.name))
    outputs = "".join(
        out.get("text", "") for cell in notebook.cells for out in cell.get("outputs", [])
    )
    assert "TINY RANDOM checkpoint" in outputs
    assert "pages indexed" in outputs
    images = [out for cell in notebook.cells for out in cell.get("outputs", []) if "data" in out]
    assert any("image/png" in out["data"] for out in images), "no figure was rendered"
    assert os.environ.get("RETRIEVAL_COLQWEN_MODEL") is None
