"""A snappy CLI (issue 20): each command imports only what it uses. Checked in fresh
processes (this one imported torch long ago); timings live in benchmarks/cli_latency.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.cli import _command_modules, build_parser, main
from adapters.collection.components import index_classes
from adapters.collection.info import INDEX_CLASSES
from tests.adapters.collection.helpers import write_corpus
from tests.import_probe import HEAVY, heavy_modules_after

MODEL_CODE = (*HEAVY, "fastapi", "uvicorn", "sklearn", "PIL", "langchain_core")
"""Loaded by no command that does not run a model."""
UNUSED_BY_SEARCH = (
    "transformers.modeling_utils",
    "torch._dynamo",
    "sympy",
    "scipy",
    "sklearn",
    "fastapi",
    "uvicorn",
    "langchain_core",
    "adapters.server",
)
"""A search on a collection of a BERT model needs none of these."""


def _cli(*runs: tuple[str, ...]) -> str:
    """Code running ``retrieval ARGS`` for each of ``runs`` in one process, as the console
    script does (``runpy``), failing on an error exit."""
    return f"""
import runpy, sys
for argv in {[list(r) for r in runs]!r}:
    sys.argv = ["retrieval", *argv]
    try:
        runpy.run_module("adapters.cli", run_name="__main__")
    except SystemExit as stop:
        ok = (0, None, 1) if argv[0] == "models" else (0, None)  # 1: a model not installed
        assert stop.code in ok, (argv, stop.code)
"""


def _commands() -> list[str]:
    return [name.removeprefix("cmd_") for name in _command_modules()]


@pytest.fixture(scope="module")
def collection(tmp_path_factory: pytest.TempPathFactory, st_legacy_mean: Path) -> Path:
    root = tmp_path_factory.mktemp("cli-lazy")
    docs = write_corpus(root / "docs")
    index = root / "index"
    args = ["index", str(docs), "--index", str(index), "--model", str(st_legacy_mean)]
    assert main([*args, "--quiet"]) == 0
    return index


def test_cli_help_does_not_import_torch() -> None:
    assert "torch" not in heavy_modules_after(_cli(("--help",)))


def test_no_help_screen_imports_numpy_or_model_code() -> None:
    runs = [("--help",), *[(name, "--help") for name in _commands()]]
    assert heavy_modules_after(_cli(*runs), modules=("numpy", *MODEL_CODE)) == []


@pytest.mark.parametrize("command", _commands())
def test_every_subcommand_help_works(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main([command, "--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: retrieval {command}")
    sub = build_parser()._subparsers._group_actions[0].choices[command]  # type: ignore[union-attr]
    for action in sub._actions:
        for flag in action.option_strings:
            assert flag in out


def test_index_help_lists_the_collection_kinds(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["index", "--help"])
    assert "{dense,sparse,multivector,hybrid}" in capsys.readouterr().out


def test_info_and_models_load_no_model_code(collection: Path, st_legacy_mean: Path) -> None:
    runs = [
        ("info", "--index", str(collection)),
        ("info", "--index", str(collection), "--json"),
        ("models",),
        ("models", str(st_legacy_mean), "--json"),
    ]
    assert heavy_modules_after(_cli(*runs), modules=MODEL_CODE) == []


def test_search_loads_only_what_it_uses(collection: Path) -> None:
    code = _cli(("search", "--index", str(collection), "-k", "2", "cats"))
    loaded = heavy_modules_after(code, modules=("torch", "faiss", *UNUSED_BY_SEARCH))
    assert loaded == ["faiss", "torch"]  # it did search: the model ran and faiss answered


def test_info_names_the_classes_that_open_each_index() -> None:
    """``retrieval info`` names index classes without importing them."""
    assert {kind: cls.__name__ for kind, cls in index_classes().items()} == INDEX_CLASSES
