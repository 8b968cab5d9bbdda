"""Folders of retrieval-toolkit 0.1 - a ``retrieval index`` folder (``index.json``), a saved
``Pipeline`` (``pipeline.json``) and a ``RetrievalVectorStore`` - are named with the command
that converts them, and ``retrieval migrate`` makes collections of them without
re-encoding: the same hits (ids, scores, text, metadata) as the 0.1 indexes gave."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding

from adapters.cli import main
from adapters.collection import Collection, MaxSimIndex
from adapters.langchain import RetrievalVectorStore
from encoders import LLM
from indexes import FaissIndex
from retrieval import IndexFormatError
from retrieval.storage import IndexFolder, Manifest

TEXTS = {
    "docs/a.txt": "the cat sat on the mat",
    "docs/b.txt": "shock waves in a supersonic flow",
    "docs/c.txt": "bread with cheese and wine",
}
FAKE = DeterministicFakeEmbedding(size=8)


def _vectors(llm: Any, texts: list[str]) -> tuple[np.ndarray, list[np.ndarray]]:
    """What 0.1 stored: the one-pass dense and token vectors, no prompts."""
    outputs = llm.embed_hybrid(texts, truncate_prompt_tokens=-1, use_tqdm=False)
    dense = np.asarray([o.outputs.dense for o in outputs], np.float32)
    return dense, [o.outputs.multi_vector.float().numpy() for o in outputs]


def _old_document_index(folder: Path, model: Path) -> None:
    """A 0.1 ``retrieval index`` folder: index.json, state.sqlite, dense/ and tokens/."""
    llm = LLM(str(model), device="cpu")
    ids, texts = list(TEXTS), list(TEXTS.values())
    dense, tokens = _vectors(llm, texts)
    meta = [{"source": f"/src/{i}", "doc_id": i, "start": 0, "end": len(t), "text": t,
             "chunk": 0} for i, t in TEXTS.items()]  # fmt: skip
    folder.mkdir()
    faiss = FaissIndex.create(folder / "dense", dim=dense.shape[1], kind="flat", metric="cosine")
    faiss.add(ids, dense, meta)
    faiss.save()
    maxsim = MaxSimIndex.create(folder / "tokens", dim=dense.shape[1])
    maxsim.add(ids, tokens, meta)
    maxsim.save()
    db = sqlite3.connect(folder / "state.sqlite")
    db.execute(
        "CREATE TABLE units (key TEXT PRIMARY KEY, digest TEXT, chunk_ids TEXT NOT NULL, "
        "pending TEXT, tokens INTEGER NOT NULL DEFAULT 0)"
    )
    rows = [(f"/src/{i}", "digest", json.dumps([i]), None, 5) for i in ids]
    db.executemany("INSERT INTO units VALUES (?, ?, ?, ?, ?)", rows)
    db.commit()
    db.close()
    settings = {"model": str(model), "kind": "hybrid", "chunk_tokens": 40, "chunk_overlap": 8,
                "dim": int(dense.shape[1]), "vocab_size": 0, "one_pass": True, "images": False,
                "dense_index": "flat", "multivector_index": "exact", "plaid": {},
                "search": {"depth": 100, "fusion": "rrf", "rrf_k": 60.0, "weights": {},
                           "rerank": []}, "format": 1}  # fmt: skip
    (folder / "index.json").write_text(json.dumps(settings))


def test_document_index_converts_in_place(
    st_legacy_mean: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "old"
    _old_document_index(folder, st_legacy_mean)
    assert main(["search", "cats", "--index", str(folder)]) == 2
    assert (
        f"Convert it in place to a collection (no re-encoding) with: retrieval migrate {folder}"
        in (capsys.readouterr().err)
    )
    with pytest.raises(IndexFormatError, match="retrieval migrate"):
        RetrievalVectorStore.load(folder)
    assert main(["migrate", str(folder)]) == 0
    assert "a 0.1 `retrieval index` folder -> a collection of 3 chunks" in capsys.readouterr().out
    assert not (folder / "index.json").exists()

    collection = Collection.open(folder)
    llm = LLM(str(st_legacy_mean), device="cpu")
    query_dense, _ = _vectors(llm, ["a cat on a mat"])
    want_dense = FaissIndex.open(folder / "dense").search(query_dense[0], k=3)
    hits = collection.search("a cat on a mat", k=3)
    assert {h.id: h.scores["dense"] for h in hits} == pytest.approx(
        {h.id: h.score for h in want_dense}, abs=1e-5
    )  # the 0.1 vectors, searched with the 0.1 query encoding (no prompt)
    assert hits[0].metadata["text"] == TEXTS[hits[0].id]
    assert collection.state.units()["/src/docs/a.txt"].done
    collection.close()
    assert main(["migrate", str(folder)]) == 0  # a collection already: left as it is
    assert "already a collection" in capsys.readouterr().out


def test_retrieval_index_converts_an_old_folder_and_stays_incremental(
    st_legacy_mean: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from adapters.collection.indexing.build import index_sources
    from tests.adapters.collection.helpers import write_corpus

    folder = tmp_path / "old"
    _old_document_index(folder, st_legacy_mean)
    corpus = write_corpus(tmp_path / "docs", {"a.txt": TEXTS["docs/a.txt"]})
    report = index_sources([corpus], folder, progress=False)
    assert report.migrated == "a 0.1 `retrieval index` folder"
    assert (report.added, report.removed) == (1, 3)  # the old sources are gone, a.txt is new
    assert len(Collection.open(folder)) == 1


def test_pipeline_folder(st_legacy_mean: Path, tmp_path: Path) -> None:
    folder = tmp_path / "pipe"
    llm = LLM(str(st_legacy_mean), device="cpu")
    dense = np.asarray([o.outputs.embedding for o in llm.embed(list(TEXTS.values()))])
    index = FaissIndex.create(folder / "dense", dim=dense.shape[1], kind="flat", metric="cosine")
    index.add(list(TEXTS), dense, [{"n": i} for i in range(3)])
    index.save()
    config = {"pipeline": "dense", "model": str(st_legacy_mean), "device": "cpu"}
    (folder / "pipeline.json").write_text(json.dumps(config))
    rows = [{"_id": i, "text": t} for i, t in TEXTS.items()]
    (folder / "texts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(IndexFormatError, match="saved Pipeline"):
        Collection.open(folder)
    from adapters.collection import migrate

    assert migrate(folder) == "a 0.1 saved Pipeline"
    hits = Collection.open(folder).search(TEXTS["docs/b.txt"], k=1)
    assert (hits[0].id, hits[0].metadata) == ("docs/b.txt", {"n": 1, "text": TEXTS["docs/b.txt"]})


def test_langchain_store_folder(tmp_path: Path) -> None:
    folder = tmp_path / "store"
    ids, texts = list(TEXTS), list(TEXTS.values())
    index = FaissIndex.create(folder / "index", dim=8, kind="flat", metric="cosine")
    index.add(ids, np.asarray(FAKE.embed_documents(texts)), [{"n": i} for i in range(3)])
    index.save()
    lines = [json.dumps({"id": i, "text": t, "metadata": {"n": n}}) + "\n"
             for n, (i, t) in enumerate(TEXTS.items())]  # fmt: skip
    manifest = Manifest(kind="langchain-store", dim=0, metric="", count=3,
                        config={"index": "index"})  # fmt: skip
    IndexFolder(folder).commit(
        manifest, {"documents": ("jsonl", lambda p: p.write_text("".join(lines)))}
    )
    with pytest.raises(IndexFormatError, match=f"retrieval migrate {folder}"):
        RetrievalVectorStore.load(folder, FAKE)
    assert main(["migrate", str(folder)]) == 0
    store = RetrievalVectorStore.load(folder, FAKE)
    (doc,) = store.similarity_search(TEXTS["docs/c.txt"], k=1)
    assert (doc.id, doc.page_content, doc.metadata) == ("docs/c.txt", TEXTS["docs/c.txt"], {"n": 2})
    assert not list(folder.glob("documents.*"))
