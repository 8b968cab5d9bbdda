"""``retrieval index --ray`` on a local two-CPU Ray cluster with two actors: the same index
as a plain run (ids, vectors, metadata, search results, incremental state), incremental
re-runs in either mode, and clear errors for addresses and options Ray cannot take."""

from __future__ import annotations

import json
import math
import socket
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import adapters.ray.indexing as ray_backend
from adapters.cli import main
from adapters.collection import Collection
from tests.adapters.collection.helpers import assert_same_index, write_long_corpus

CHUNKING = ["--chunk-tokens", "16", "--chunk-overlap", "4", "--batch-size", "5"]


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    assert main([*args, "--json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out.splitlines()[-1])


def run_error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main([*args, "--json"]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return captured.err


def search(capsys: pytest.CaptureFixture[str], index: Path, query: str) -> list[Any]:
    return list(run_json(capsys, "search", query, "--index", str(index), "-k", "5")["hits"])


@pytest.mark.slow
def test_ray_index_equals_plain_index_and_reruns_incrementally(
    ray_local_cluster: None,
    st_legacy_mean: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 8-chunk shards: several shards, two actors busy, and shards straddling the 5-chunk
    # committed batches.
    monkeypatch.setattr(ray_backend, "SHARD_CHUNKS", 8)
    folder = write_long_corpus(tmp_path / "docs")
    on_ray, plain = tmp_path / "on-ray", tmp_path / "plain"
    model = ["--model", str(st_legacy_mean), *CHUNKING]
    ray_args = ["--ray", "local", "--ray-actors", "2"]

    first = run_json(capsys, "index", str(folder), "--index", str(on_ray), *model, *ray_args)
    base = run_json(capsys, "index", str(folder), "--index", str(plain), *model)
    assert first["execution"] == {
        "encoder": "ray", "address": "local", "windows": 1, "actors": 2, "gpus_per_actor": 0.0,
        "shards": math.ceil(base["chunks"] / 8), "shard_size": 8,
    }  # fmt: skip
    assert base["execution"]["encoder"] == "local"
    assert (first["added"], first["chunks"], first["tokens"]) == (
        base["added"], base["chunks"], base["tokens"]
    )  # fmt: skip
    assert first["chunks"] > 20
    assert_same_index(on_ray, plain)
    for query in ("the cat on a mat", "bread with cheese"):
        hits, want = search(capsys, on_ray, query), search(capsys, plain, query)
        assert [h["id"] for h in hits] == [h["id"] for h in want]
        assert [h["metadata"] for h in hits] == [h["metadata"] for h in want]
        for hit, other in zip(hits, want, strict=True):
            assert hit["score"] == pytest.approx(other["score"], abs=1e-5)
    assert not (on_ray / ray_backend.SHARDS_FOLDER).exists()  # scratch shards cleaned up

    # Either mode sees the other's work as done (Ray is not even started).
    again = run_json(capsys, "index", str(folder), "--index", str(on_ray))
    assert (again["chunks"], again["unchanged"]) == (0, base["added"])
    again = run_json(capsys, "index", str(folder), "--index", str(plain), *ray_args)
    assert (again["chunks"], again["execution"]["windows"]) == (0, 0)

    # Change one file: only its chunks are encoded on Ray.
    (folder / "doc3.txt").write_text("the man eats bread. " * 6, encoding="utf-8")
    scratch = tmp_path / "scratch"  # as a shared file system would be on a cluster
    one_actor = ["--ray", "local", "--ray-actors", "1", "--ray-shards", str(scratch)]
    rerun = run_json(capsys, "index", str(folder), "--index", str(on_ray), *one_actor)
    plain_rerun = run_json(capsys, "index", str(folder), "--index", str(plain))
    assert (rerun["added"], rerun["updated"], rerun["unchanged"]) == (0, 1, base["added"] - 1)
    assert rerun["chunks"] == plain_rerun["chunks"]
    index = Collection.open(on_ray)
    changed = [u for key, u in index.state.units().items() if key.endswith("doc3.txt")]
    index.close()
    assert rerun["chunks"] == len(changed[0].chunk_ids) < 8  # that file's chunks, no others
    assert (rerun["execution"]["windows"], rerun["execution"]["shards"]) == (1, 1)
    assert_same_index(on_ray, plain)
    assert scratch.is_dir()
    assert not list(scratch.iterdir())  # the window's shards are gone
    top = search(capsys, on_ray, "the man eats bread")[0]
    assert top["metadata"]["source"].endswith("doc3.txt")


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again when the block ends


def test_unreachable_address_fails_fast_with_a_clear_error(
    st_legacy_mean: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("ray")
    folder = write_long_corpus(tmp_path / "docs", n=2)
    args = ["index", str(folder), "--index", str(tmp_path / "index")]
    args += ["--model", str(st_legacy_mean)]
    address = f"127.0.0.1:{_closed_port()}"
    started = time.monotonic()
    err = run_error(capsys, *args, "--ray", address)
    assert f"Cannot reach the Ray cluster at '{address}'" in err
    assert time.monotonic() - started < 10

    # A silent (black-holed) head is bounded by the connect timeout (no network in tests:
    # the socket call is replaced by one that times out, recording the timeout it was given).
    timeouts: list[float] = []

    def silent(address: tuple[str, int], timeout: float) -> socket.socket:
        timeouts.append(timeout)
        raise TimeoutError

    monkeypatch.setattr(ray_backend, "CONNECT_TIMEOUT_S", 0.5)
    monkeypatch.setattr(socket, "create_connection", silent)
    err = run_error(capsys, *args, "--ray", "ray://head.example:10001")
    assert "Cannot reach the Ray cluster at 'ray://head.example:10001' (timed out" in err
    assert timeouts == [0.5]

    assert "is not HOST:PORT" in run_error(capsys, *args, "--ray", "my-cluster")
    err = run_error(capsys, *args, "--ray", "local", "--device", "cuda:1")
    assert "--device cuda:1 cannot be combined with --ray" in err
    err = run_error(capsys, *args, "--ray", "local", "--ray-actors", "0")
    assert "--ray-actors must be a positive number" in err


def test_without_ray_installed_the_error_names_the_extra(
    st_legacy_mean: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    folder = write_long_corpus(tmp_path / "docs", n=1)
    args = ["index", str(folder), "--index", str(tmp_path / "index")]
    err = run_error(capsys, *args, "--model", str(st_legacy_mean), "--ray", "auto")
    assert 'pip install "retrieval-toolkit[ray]"' in err
    assert not (tmp_path / "index").exists()


def test_readme_scale_out_commands_parse() -> None:
    """The README's `retrieval index --ray` commands are valid command lines."""
    import shlex

    from adapters.cli import build_parser

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## From one machine to a cluster\n", 1)[1].split("\n## ", 1)[0]
    commands = [
        line.split("#", 1)[0].strip()
        for line in section.splitlines()
        if line.startswith("retrieval index") and "--ray" in line
    ]
    assert len(commands) >= 2
    for command in commands:
        args = build_parser().parse_args(shlex.split(command)[1:])
        assert args.ray in ("local", "auto") or ":" in args.ray


def test_image_models_are_refused_with_ray(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("ray")
    from tests import tiny_vl

    model = str(tiny_vl.make_colqwen(tmp_path / "colqwen", "colqwen3"))
    folder = tmp_path / "pages"
    folder.mkdir()
    (folder / "red.png").write_bytes(tiny_vl.png_bytes(color=(200, 10, 10)))
    args = ["index", str(folder), "--index", str(tmp_path / "index"), "--model", model]
    err = run_error(capsys, *args, "--ray", "local")
    assert "--ray encodes text chunks; this index's model embeds page images" in err
