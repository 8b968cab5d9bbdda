"""notebooks/quickstart.ipynb runs end to end on the embedded default model."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.notebooks.run import execute, has_figure


@pytest.mark.slow
@pytest.mark.realmodel
def test_quickstart_notebook_runs(real_default_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    notebook, text = execute("quickstart.ipynb")
    assert "24 new documents, 24 chunks" in text
    assert "new 0, changed 1, removed 0, unchanged 23" in text
    assert "corpus/mars.txt" in text
    table = text.split("ms/query")[1].splitlines()[1:5]
    assert [line[:24].strip() for line in table] == [
        "dense",
        "MaxSim (tokens)",
        "hybrid (default)",
        "dense -> MaxSim rerank",
    ]
    # Every setting finds most answers on this easy corpus (hand-labelled qrels above).
    assert all(float(line.split()[-3]) >= 0.7 for line in table), table
    assert has_figure(notebook), "no figure was rendered"
