"""The ``retrieval`` console script."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.cli import main


def test_embed_json(bert_plain: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["embed", "hello my name is", "a cat", "--model", str(bert_plain), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert [d["index"] for d in payload["data"]] == [0, 1]
    assert len(payload["data"][0]["embedding"]) == 32


def test_embed_from_file_with_matryoshka(
    matryoshka_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "texts.txt"
    source.write_text("hello\n\nthe man is eating food\n", encoding="utf-8")
    args = [
        "embed",
        "--file",
        str(source),
        "--model",
        str(matryoshka_model),
        "--dimensions",
        "8",
        "--json",
    ]
    assert main(args) == 0
    data = json.loads(capsys.readouterr().out)["data"]
    assert [d["text"] for d in data] == ["hello", "the man is eating food"]
    assert all(len(d["embedding"]) == 8 for d in data)


def test_errors_are_reported_not_raised(
    bert_plain: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["embed", "x", "--model", str(bert_plain), "--dimensions", "8"]) == 2
    assert "does not support matryoshka representation" in capsys.readouterr().err
    assert main(["embed", "--model", str(bert_plain)]) == 2


@pytest.mark.realmodel
def test_demo_prints_a_similarity_table(minilm: object, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "0.755" in out
    assert "A man is eating a piece of bread." in out


def test_models_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["models", str(tmp_path / "missing"), "--json"]) == 1
    (row,) = json.loads(capsys.readouterr().out)["models"]
    assert row["source"] is None
    assert "was not found" in row["error"]
