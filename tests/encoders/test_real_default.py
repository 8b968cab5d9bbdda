"""The embedded default (all-MiniLM-L6-v2, real weights) against sentence-transformers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytestmark = pytest.mark.realmodel

BASE = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
    "A woman is playing violin.",
    "Two men pushed carts through the woods.",
    "A man is riding a white horse on an enclosed ground.",
    "A monkey is playing drums.",
    "Someone in a gorilla costume is playing a set of drums.",
    "What is the capital of France?",
    "Paris is the capital and most populous city of France.",
    "How do I reset my password?",
    "Retrieval-augmented generation combines search with language models.",
    "ok",
    "?",
    "42",
    "Der schnelle braune Fuchs springt über den faulen Hund.",
    "Le café est très chaud ce matin, n'est-ce pas ?",
    "東京は日本の首都です。",
    "Москва — столица России.",
    "El niño comió una manzana roja.",
    "naïve façade coöperate résumé",
    "emoji test 🚀🔥 with symbols ∑ ∫ √",
    "URL https://example.com/path?q=1&x=2 and an email a.b@example.org",
    "   leading and trailing spaces   ",
    "UPPER CASE SENTENCE WITH SHOUTING",
    "Experimental investigation of the aerodynamics of a wing in a slipstream.",
    "The boundary layer transition on a flat plate at supersonic speeds.",
    "Heat transfer to a blunt body in hypersonic flow.",
    "python def f(x): return x ** 2  # a code snippet",
]
LONG = [
    " ".join(["The pressure distribution over the swept wing was measured in the wind tunnel."] * n)
    for n in (3, 8, 20, 40)
]
SENTENCES = (
    BASE + LONG + [f"Query number {i}: which papers discuss shock wave {i}?" for i in range(16)]
)


@pytest.fixture(scope="module")
def st_model(real_default_path: Path) -> Any:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(real_default_path), device="cpu")


def _embed(llm: Any, texts: list[str]) -> np.ndarray:
    outputs = llm.embed(texts, truncate_prompt_tokens=-1, use_tqdm=False)
    return np.array([o.outputs.embedding for o in outputs], dtype=np.float64)


def test_matches_sentence_transformers_on_varied_sentences(minilm: Any, st_model: Any) -> None:
    assert len(SENTENCES) >= 50
    ours = _embed(minilm, SENTENCES)
    reference = st_model.encode(SENTENCES, convert_to_numpy=True).astype(np.float64)
    cosine = (ours * reference).sum(1) / (
        np.linalg.norm(ours, axis=1) * np.linalg.norm(reference, axis=1)
    )
    assert cosine.min() >= 0.9999, f"worst sentence: {SENTENCES[int(cosine.argmin())]!r}"


def test_food_bread_similarity(minilm: Any) -> None:
    a, b = _embed(minilm, ["A man is eating food.", "A man is eating a piece of bread."])
    assert float(a @ b) == pytest.approx(0.755, abs=0.001)


def test_batch_and_single_invariance(minilm: Any) -> None:
    batch = _embed(minilm, SENTENCES)
    single = np.array([_embed(minilm, [s])[0] for s in SENTENCES[::5]])
    np.testing.assert_allclose(batch[::5], single, atol=2e-5)


def test_model_facts(minilm: Any) -> None:
    assert minilm.model.resolved.source.startswith(("package:", "hf-cache", "local"))
    assert minilm.max_model_len == 256
    assert minilm.model.settings.pooling_type == "MEAN"
    assert minilm.model.settings.normalize is True
    (out,) = minilm.embed("hello")
    assert out.outputs.hidden_size == 384
