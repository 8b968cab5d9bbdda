"""A snappy CLI (issue 20): each command imports only what it uses. Checked in fresh
processes (this one imported torch long ago); timings live in benchmarks/cli_latency.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.cli import _command_modules, build_parser, main
from adapters.collection.components import index_classes
from adapters.collection.info import INDEX_CLASSES
from tests.adapters.collection.helpers import write_corpus
from tests.import_probe import HEAVY, ROOT, heavy_modules_after

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
    """Code running ``retrieval ARGS`` for each of ``runs`` in one process (``main``: the
    console script's ``run`` would end the process after the first), failing on an error."""
    return f"""
import contextlib, io
from adapters.cli import main
for argv in {[list(r) for r in runs]!r}:
    ok = (0, None, 1) if argv[0] == "models" else (0, None)  # 1: a model not installed
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            status = main(argv)
    except SystemExit as stop:
        status = stop.code
    assert status in ok, (argv, status)
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
    code = """
import runpy, sys
sys.argv = ["retrieval", "--help"]
try:
    runpy.run_module("adapters.cli", run_name="__main__")
except SystemExit as stop:
    assert stop.code in (0, None), stop.code
"""
    assert "torch" not in heavy_modules_after(code)


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


def _script(*args: str) -> subprocess.Popen[str]:
    """``python -m adapters.cli ARGS``: the console script's path (``run``)."""
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path, "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "adapters.cli", *args]
    pipe = subprocess.PIPE
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=pipe, stderr=pipe, text=True)


def test_the_script_flushes_everything_and_keeps_exit_codes(collection: Path) -> None:
    """Read-only commands end without the interpreter's teardown: their output must be
    complete and their status kept."""
    done = _script("search", "--index", str(collection), "-k", "50", "--json", "cats", "dogs")
    out, err = done.communicate(timeout=300)
    assert done.returncode == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["query"] for line in lines] == ["cats", "dogs"]
    assert all(line["hits"] for line in lines)
    missing = _script("search", "--index", str(collection / "nowhere"), "cats")
    out, err = missing.communicate(timeout=300)
    assert missing.returncode == 2
    assert err.startswith("error: No collection at")


def test_a_reader_that_leaves_early_gets_no_traceback(collection: Path) -> None:
    """``retrieval search ... | head -1``: the closed pipe ends the command quietly."""
    queries = [f"cats {i}" for i in range(200)]
    proc = _script("search", "--index", str(collection), "-k", "5", *queries)
    assert proc.stdout is not None
    assert proc.stderr is not None
    assert proc.stdout.readline().startswith("? cats 0")
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=300) == 1
    assert "Traceback" not in err
