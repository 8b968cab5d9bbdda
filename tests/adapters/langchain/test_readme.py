"""The README's LangChain example runs as written (MiniLM shared with the other tests)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import adapters.langchain  # noqa: F401  (binds the real LLM class before the patch below)
import encoders

README = Path(__file__).resolve().parents[3] / "README.md"


def _langchain_example() -> str:
    section = README.read_text(encoding="utf-8").split("## LangChain\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, "the LangChain section should hold one python example"
    return blocks[0]


@pytest.mark.slow  # runs the whole README example
@pytest.mark.realmodel
def test_readme_langchain_example_runs(
    minilm: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # the example loads MiniLM by name; hand it the session's copy instead of a second load
    monkeypatch.setattr(encoders, "LLM", lambda name, **kw: minilm)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {}
    exec(compile(_langchain_example(), "README.md", "exec"), namespace)
    docs = namespace["docs"]
    assert len(docs) == 2
    assert {d.metadata["topic"] for d in docs} == {"aero"}
    assert "relevance_score" in docs[0].metadata
    assert "dense" in docs[0].metadata["scores"]
    assert (tmp_path / "my_store" / "manifest.json").is_file()
    assert "Shock waves" in capsys.readouterr().out
