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

TEXTS = [
    "A man is eating food.",
    "Retrieval toolkits index documents for search, in chunks of a few hundred tokens.",
    "short",
]


def _check_one_pass_matches(llm: Any) -> None:
    embedder = Encoder(llm, representations_for("hybrid", llm))
    assert embedder.kinds == ("dense", "multivector")
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
