"""Execute a notebook from ``notebooks/`` in a fresh kernel, as a user would run it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def execute(name: str) -> tuple[Any, str]:
    """Run ``notebooks/<name>`` and return the executed notebook and its printed text.

    The executed copy is written to ``$TMPDIR`` (not committed) for a look at the figures."""
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    resources = {"metadata": {"path": str(NOTEBOOKS)}}  # run from notebooks/
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources=resources
    )
    client.execute()
    nbformat.write(notebook, str(Path(os.environ.get("TMPDIR", "/tmp")) / name))
    text = "".join(
        out.get("text", "") for cell in notebook.cells for out in cell.get("outputs", [])
    )
    return notebook, text


def has_figure(notebook: Any) -> bool:
    outputs = [out for cell in notebook.cells for out in cell.get("outputs", []) if "data" in out]
    return any("image/png" in out["data"] for out in outputs)
