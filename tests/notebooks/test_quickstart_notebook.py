"""notebooks/quickstart.ipynb runs end to end on the embedded default model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


@pytest.mark.slow
@pytest.mark.realmodel
def test_quickstart_notebook_runs(real_default_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    path = NOTEBOOKS / "quickstart.ipynb"
    notebook = nbformat.read(path, as_version=4)
    resources = {"metadata": {"path": str(NOTEBOOKS)}}  # run from notebooks/, as a user would
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources=resources
    )
    client.execute()
    nbformat.write(notebook, str(Path(os.environ.get("TMPDIR", "/tmp")) / path.name))
    text = "".join(
        out.get("text", "") for cell in notebook.cells for out in cell.get("outputs", [])
    )
    assert "24 new documents, 24 chunks" in text
    assert "new 0, changed 1, removed 0, unchanged 23" in text
    assert "corpus/mars.txt" in text
    table = text.split("ms/query")[1].splitlines()[1:5]
    assert [line[:24].strip() for line in table] == [
        "dense",
        "MaxSim (tokens)",
        "hybrid (RRF)",
        "dense -> MaxSim rerank",
    ]
    # Every setting finds most answers on this easy corpus (hand-labelled qrels above).
    assert all(float(line.split()[-3]) >= 0.7 for line in table), table
    images = [out for cell in notebook.cells for out in cell.get("outputs", []) if "data" in out]
    assert any("image/png" in out["data"] for out in images), "no figure was rendered"
