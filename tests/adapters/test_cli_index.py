"""``retrieval index | search | info`` through the real entry point, on a tiny MEAN-pooled
model (so ``hybrid`` runs its one-pass path)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from adapters.cli import main
from adapters.collection import Collection
from adapters.collection.indexing.build import index_sources
from adapters.collection.state import CollectionState
from tests.adapters.collection.helpers import write_corpus, write_pdf


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    assert main([*args, "--json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out.splitlines()[-1])


def all_ids(index_dir: Path) -> dict[str, list[str]]:
    """Every id in every component, found by searching with k = everything."""
    collection = Collection.open(index_dir)
    try:
        out = {}
        ids = sorted(collection.state.ids())
        words = " ".join(text or "" for text, _ in collection.documents(ids).values())
        for part in collection.parts:
            if part.name == "lexical":  # BM25: a query holding every word finds every chunk
                out[part.name] = sorted(h.id for h in part.index.search(words, k=10_000))
                continue
            dim = part.index.dim if part.name == "tokens" else part.index.config.dim
            shape = (dim,) if part.name == "dense" else (1, dim)
            query = np.ones(shape, np.float32)
            out[part.name] = sorted(h.id for h in part.index.search(query, k=10_000))
        return out
    finally:
        collection.close()


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = write_corpus(tmp_path / "docs")
    (folder / "page.html").write_text(
        "<html><body><h1>Birds</h1><p>The bird sings in the tree.</p></body></html>"
    )
    write_pdf(folder / "report.pdf", ["The first page is about the ocean", "Page two: the cat"])
    return folder


def test_index_search_info(
    corpus: Path, st_legacy_mean: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index = str(tmp_path / "index")
    report = run_json(
        capsys, "index", str(corpus), "--index", index, "--model", str(st_legacy_mean)
    )
    assert (report["added"], report["total_chunks"], report["skipped"]) == (5, 6, [])
    expected = ["docs/cats.txt", "docs/dogs.md", "docs/food.txt", "docs/page.html"]
    expected += ["docs/report.pdf#0", "docs/report.pdf#1"]
    assert all_ids(Path(index)) == {"dense": expected, "lexical": expected, "tokens": expected}

    hits = run_json(capsys, "search", "the ocean", "--index", index, "-k", "10")["hits"]
    assert sorted(h["id"] for h in hits) == expected
    pdf = {h["id"]: h["metadata"] for h in hits}["docs/report.pdf#1"]
    assert pdf["source"] == str((corpus / "report.pdf").resolve())
    assert (pdf["page"], pdf["start"], pdf["end"], pdf["text"]) == (2, 0, 17, "Page two: the cat")
    # the default hybrid's fused z-scores (negative below the candidates' mean), best first
    assert all(h["kind"] == "zscore" and h["score"] == h["scores"]["zscore"] for h in hits)
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)

    only_page_one = run_json(capsys, "search", "x", "--index", index, "--filter", '{"page": 1}')
    assert [h["id"] for h in only_page_one["hits"]] == ["docs/report.pdf#0"]

    info = run_json(capsys, "info", "--index", index)
    assert (info["documents"], info["chunks"], info["settings"]["kind"]) == (5, 6, "hybrid")
    assert info["settings"]["one_pass"] is True
    tokens = info["components"]["tokens"]
    assert (tokens["count"], tokens["tokens"] > 6, tokens["bytes_per_token"] > 0) == (6, True, True)


def test_human_output(
    corpus: Path, st_legacy_mean: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index = str(tmp_path / "index")
    assert main(["index", str(corpus), "--index", index, "--model", str(st_legacy_mean)]) == 0
    summary = capsys.readouterr().out
    assert "5 new, 0 changed, 0 removed, 0 unchanged; 6 chunks" in summary
    assert main(["search", "cats on a mat", "--index", index, "-k", "6"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "? cats on a mat"
    cats = next(i for i, line in enumerate(out) if " docs/cats.txt " in line)
    assert out[cats].split()[0].rstrip(".").isdigit()
    assert "docs/cats.txt [0:62]" in out[cats]
    assert " (zscore) " in out[cats]  # the final score is printed with its kind
    assert out[cats + 1].strip() == (
        "The «cat» sat on the «mat». «Cats» like warm places and sleep a lot."
    )
    assert main(["info", "--index", index]) == 0
    info = capsys.readouterr().out
    assert "kind:      hybrid  (one forward pass)" in info
    assert "contents:  5 documents, 6 chunks" in info


def test_incremental_rerun(
    corpus: Path, st_legacy_mean: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index = str(tmp_path / "index")
    args = ["index", str(corpus), "--index", index, "--model", str(st_legacy_mean)]
    run_json(capsys, *args)
    again = run_json(capsys, *args)
    assert (again["added"], again["updated"], again["removed"], again["unchanged"]) == (0, 0, 0, 5)
    assert again["chunks"] == 0

    (corpus / "new.txt").write_text("A brand new document about trains.")
    (corpus / "cats.txt").write_text("Cats changed their mind and now like the rain.")
    (corpus / "report.pdf").unlink()
    rerun = run_json(capsys, "index", str(corpus), "--index", index)  # model from the index
    assert (rerun["added"], rerun["updated"], rerun["removed"], rerun["unchanged"]) == (1, 1, 1, 3)
    assert rerun["chunks"] == 2
    expected = ["docs/cats.txt", "docs/dogs.md", "docs/food.txt", "docs/new.txt", "docs/page.html"]
    assert all_ids(Path(index)) == {"dense": expected, "lexical": expected, "tokens": expected}
    hits = run_json(capsys, "search", "rain", "--index", index, "-k", "10")["hits"]
    texts = {h["id"]: h["metadata"]["text"] for h in hits}
    assert texts["docs/cats.txt"] == "Cats changed their mind and now like the rain."


def test_crash_between_save_and_state_leaves_no_stale_chunks(
    st_legacy_mean: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A doc shrinks from 3 chunks to 2; the run dies after saving the vectors but before
    recording them; the doc changes again; the next run must leave exactly its new chunks."""
    folder = write_corpus(
        tmp_path / "docs", {"long.txt": " ".join(["cat"] * 50), "short.txt": "the man"}
    )
    index = tmp_path / "index"
    index_sources([folder], index, model=str(st_legacy_mean), chunk_tokens=20, progress=False)
    assert [i for i in all_ids(index)["dense"] if "long" in i] == [
        "docs/long.txt#0", "docs/long.txt#1", "docs/long.txt#2"
    ]  # fmt: skip
    (folder / "long.txt").write_text(" ".join(["cat"] * 30))

    def die(self: CollectionState, done: Any = None, forget: Any = ()) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(CollectionState, "commit", die)
        with pytest.raises(KeyboardInterrupt):
            index_sources([folder], index, progress=False)
    (folder / "long.txt").write_text("now short")
    report = index_sources([folder], index, progress=False)
    assert report.updated == 1
    ids = all_ids(index)
    assert ids["dense"] == ids["tokens"] == ids["lexical"] == ["docs/long.txt", "docs/short.txt"]


def test_error_messages(
    corpus: Path,
    st_legacy_mean: Path,
    bert_plain: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    index = str(tmp_path / "index")
    model = ["--model", str(st_legacy_mean)]

    assert main(["index", str(tmp_path / "missing"), "--index", index, *model]) == 2

    assert main(["search", "q", "--index", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert "No collection at" in err
    assert "retrieval index SOURCE --index" in err

    (tmp_path / "empty").mkdir()
    assert main(["index", str(tmp_path / "empty"), "--index", index, *model, "--quiet"]) == 0
    assert main(["search", "anything", "--index", index]) == 2
    err = capsys.readouterr().err
    assert "holds no documents yet. Add some with: retrieval index SOURCE" in err

    (corpus / "broken.pdf").write_bytes(b"%PDF-1.4 truncated")
    (corpus / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    assert main(["index", str(corpus), "--index", index, "--quiet"]) == 0
    err = capsys.readouterr().err
    assert err.count("warning: skipped") == 2
    assert "broken.pdf: not a readable PDF" in err
    assert "latin1.txt: not UTF-8 text" in err
    report = run_json(capsys, "index", str(corpus), "--index", index)
    assert (len(report["skipped"]), report["added"], report["unchanged"]) == (2, 0, 5)

    assert main(["index", str(corpus), "--index", index, "--model", str(bert_plain)]) == 2
    err = capsys.readouterr().err
    assert f"was built with model {str(st_legacy_mean)!r}, not {str(bert_plain)!r}" in err
    assert "Drop --model" in err
    assert main(["index", str(corpus), "--index", index, "--kind", "dense"]) == 2
    assert "was built with kind 'hybrid', not 'dense'" in capsys.readouterr().err
    assert main(["search", "q", "--index", index, "--filter", "{oops"]) == 2
    assert "--filter is not valid JSON" in capsys.readouterr().err


def test_missing_source_folder_message(
    st_legacy_mean: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing"
    assert main(["index", str(missing), "--index", str(tmp_path / "ix")]) == 2
    err = capsys.readouterr().err
    assert f"error: Source {str(missing)!r} does not exist. Give a folder" in err
    assert not (tmp_path / "ix").exists()


def test_dense_and_multivector_kinds(
    corpus: Path, st_legacy_mean: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for kind, parts in (("dense", ["dense"]), ("multivector", ["tokens"])):
        index = str(tmp_path / kind)
        args = ["index", str(corpus), "--index", index, "--model", str(st_legacy_mean)]
        run_json(capsys, *args, "--kind", kind)
        info = run_json(capsys, "info", "--index", index)
        assert list(info["components"]) == parts
        hits = run_json(capsys, "search", "bird tree", "--index", index, "-k", "3")["hits"]
        assert len(hits) == 3


def test_one_writer_at_a_time(
    st_legacy_mean: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import fcntl

    corpus = write_corpus(tmp_path / "docs")
    index = tmp_path / "index"
    index.mkdir()
    with (index / ".lock").open("a") as other:  # another writer (its own open file)
        fcntl.flock(other, fcntl.LOCK_EX)
        assert main(["index", str(corpus), "--index", str(index), "--quiet"]) == 2
        fcntl.flock(other, fcntl.LOCK_UN)
    assert "Another writer (a `retrieval index` run" in capsys.readouterr().err
    args = ["index", str(corpus), "--index", str(index), "--model", str(st_legacy_mean)]
    assert main([*args, "--quiet"]) == 0  # the lock is free again; the folder is usable
    (tmp_path / "file").write_text("x")
    assert main(["index", str(corpus), "--index", str(tmp_path / "file")]) == 2
    assert "exists and is not a folder" in capsys.readouterr().err


def test_newer_index_format_is_refused(
    st_legacy_mean: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = write_corpus(tmp_path / "docs")
    index = tmp_path / "index"
    assert main(["index", str(corpus), "--index", str(index), "--model", str(st_legacy_mean)]) == 0
    manifest = json.loads((index / "manifest.json").read_text())
    manifest["config"]["format"] = 99
    (index / "manifest.json").write_text(json.dumps(manifest))
    assert main(["search", "cat", "--index", str(index)]) == 2
    assert "newer retrieval-toolkit (collection format 99" in capsys.readouterr().err
