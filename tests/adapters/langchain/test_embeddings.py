"""``RetrievalEmbeddings``: prompts from the model config (checked against
sentence-transformers' own ``encode_query`` / ``encode_document``), Matryoshka, batching,
the ``QueryEncoder`` face and bad input, on tiny random checkpoints."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from adapters.langchain import RetrievalEmbeddings
from encoders import LLM, PoolingParams
from retrieval.errors import ConfigError
from tests.tiny_models import make_family

TEXTS = ["a shock wave", "heat transfer at the nose", "boundary layer transition", "x"]


def _with_prompts(base: Path, folder: Path, prompts: dict[str, str]) -> Path:
    """A copy of the tiny legacy model whose config declares ``prompts``."""
    shutil.copytree(base, folder)
    config = folder / "config_sentence_transformers.json"
    data = json.loads(config.read_text())
    data["prompts"] = prompts
    config.write_text(json.dumps(data))
    return folder


@pytest.mark.slow  # loads sentence-transformers as the reference
def test_prompts_match_sentence_transformers(st_legacy_mean: Path, tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer

    prompts = {"query": "query: ", "document": "doc: "}
    folder = _with_prompts(st_legacy_mean, tmp_path / "m", prompts)
    embeddings = RetrievalEmbeddings(str(folder), device="cpu")
    assert (embeddings.query_prompt, embeddings.document_prompt) == ("query: ", "doc: ")
    reference = SentenceTransformer(str(folder), device="cpu")
    want_q = reference.encode_query(TEXTS[0], convert_to_numpy=True)
    want_d = reference.encode_document(TEXTS, convert_to_numpy=True)
    np.testing.assert_allclose(embeddings.embed_query(TEXTS[0]), want_q, atol=2e-5)
    np.testing.assert_allclose(embeddings.embed_documents(TEXTS), want_d, atol=2e-5)


@pytest.mark.slow  # loads sentence-transformers as the reference
def test_passage_prompt_is_the_document_prompt(st_legacy_mean: Path, tmp_path: Path) -> None:
    """E5-style configs name the document prompt "passage". sentence-transformers documents
    the order document / passage / corpus, but version 6 pre-fills an empty "document"
    prompt, so its encode_document drops "passage: "; the reference here is its explicit
    ``prompt_name="passage"`` instead."""
    from sentence_transformers import SentenceTransformer

    prompts = {"query": "query: ", "passage": "passage: "}
    folder = _with_prompts(st_legacy_mean, tmp_path / "m", prompts)
    embeddings = RetrievalEmbeddings(str(folder), device="cpu")
    assert embeddings.document_prompt == "passage: "
    reference = SentenceTransformer(str(folder), device="cpu")
    want = reference.encode(TEXTS, prompt_name="passage", convert_to_numpy=True)
    np.testing.assert_allclose(embeddings.embed_documents(TEXTS), want, atol=2e-5)


def test_explicit_prompts_and_plain_model(st_legacy_mean: Path) -> None:
    llm = LLM(str(st_legacy_mean), device="cpu")
    plain = RetrievalEmbeddings(llm, query_prompt="", document_prompt="")
    prompted = RetrievalEmbeddings(llm, query_prompt="search: ")
    assert prompted.document_prompt == ""  # no document prompt configured
    raw = llm.embed(["search: " + TEXTS[1]], use_tqdm=False)[0].outputs.embedding
    np.testing.assert_allclose(prompted.embed_query(TEXTS[1]), raw, atol=1e-6)
    assert plain.embed_query(TEXTS[1]) != prompted.embed_query(TEXTS[1])


def test_floats_batching_and_query_encoder(st_legacy_mean: Path) -> None:
    llm = LLM(str(st_legacy_mean), device="cpu")
    one_by_one = RetrievalEmbeddings(llm, batch_size=1).embed_documents(TEXTS)
    batched = RetrievalEmbeddings(llm, batch_size=64)
    together = batched.embed_documents(TEXTS)
    np.testing.assert_allclose(one_by_one, together, atol=1e-5)
    assert all(type(x) is float for row in together for x in row)
    assert batched.embed_documents([]) == []
    encoded = batched.encode_queries(TEXTS[:2])["dense"]
    assert encoded.shape == (2, len(together[0]))
    assert encoded.dtype == np.float32
    np.testing.assert_allclose(encoded[0], batched.embed_query(TEXTS[0]), atol=1e-6)


def test_matryoshka_dimensions(matryoshka_model: Path) -> None:
    llm = LLM(str(matryoshka_model), device="cpu")
    small = RetrievalEmbeddings(llm, dimensions=16)
    vector = small.embed_query("hello")
    assert len(vector) == 16
    want = llm.embed(["hello"], PoolingParams(dimensions=16), use_tqdm=False)[0].outputs.embedding
    np.testing.assert_allclose(vector, want, atol=1e-6)
    with pytest.raises(ConfigError, match=r"only supports \[8, 16, 32\]"):
        RetrievalEmbeddings(llm, dimensions=12)  # refused at construction, not at first use


def test_bad_input_explains(st_legacy_mean: Path, tmp_path: Path) -> None:
    llm = LLM(str(st_legacy_mean), device="cpu")
    embeddings = RetrievalEmbeddings(llm)
    with pytest.raises(ConfigError, match="Wrap it"):
        embeddings.embed_documents("one string")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="must be a string"):
        embeddings.embed_documents(["ok", 3])  # type: ignore[list-item]
    with pytest.raises(ConfigError, match="one string"):
        embeddings.embed_query(["a list"])  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="does not support matryoshka"):
        RetrievalEmbeddings(llm, dimensions=8)
    with pytest.raises(ConfigError, match="batch_size"):
        RetrievalEmbeddings(llm, batch_size=0)
    with pytest.raises(ConfigError, match="loading options"):
        RetrievalEmbeddings(llm, device="cpu")
    cross_encoder = LLM(str(make_family(tmp_path / "ce", "bert", "seq", labels=1)), device="cpu")
    with pytest.raises(ConfigError, match="dense model"):
        RetrievalEmbeddings(cross_encoder)
