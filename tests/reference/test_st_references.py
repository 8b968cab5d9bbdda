"""Cross-encoders and Dense + Normalize + Matryoshka embedding models against
sentence-transformers itself, on tiny random folders that sentence-transformers 6 wrote with
its own ``save()``.

References: ``CrossEncoder.predict`` (default and explicit activations, ``apply_softmax``),
``SentenceTransformer.encode`` with ``truncate_dim`` and ``normalize_embeddings=True`` (the
order vLLM uses: truncate, then normalize). Toolkit: ``LLM.score``, ``LLM.classify``,
``LLM.embed`` with ``PoolingParams(dimensions=...)``. Every comparison prints its max abs
difference and asserts it is <= 1e-5 (fp32).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from encoders import LLM, PoolingParams
from tests.tiny_bge_m3 import make_xlmr
from tests.tiny_models import make_bert

TOLERANCE = 1e-5
QUERIES = ["what is the air pressure on a wing", "a cat at night", "ok"]
DOCS = [
    "the wing lift and air flow over a wing",
    "a cat sleeps on the street at night",
    "the dog runs",
]
LONG = " ".join(["the wing lift and air flow speed"] * 20)  # over 64 tokens: truncated


def check(name: str, ours: Any, theirs: Any) -> None:
    a, b = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    assert a.shape == b.shape, f"{name}: shapes differ {a.shape} vs {b.shape}"
    diff = float(np.abs(a - b).max())
    print(f"max |diff| {name:<48} {diff:.2e}")
    assert diff <= TOLERANCE, f"{name}: max abs difference {diff:.3e} > {TOLERANCE}"


def quiet(build: Callable[[], Any]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build()


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("st_bases")
    return {"bert": make_bert(root / "bert", seed=21), "xlmr": make_xlmr(root / "xlmr", seed=22)}


def save_cross_encoder(base: Path, out: Path, labels: int, activation: Any) -> Path:
    from sentence_transformers import CrossEncoder

    torch.manual_seed(labels)  # the classifier head is new: random, seeded
    kwargs = {} if activation is None else {"activation_fn": activation}
    quiet(lambda: CrossEncoder(str(base), num_labels=labels, device="cpu", **kwargs)).save(str(out))
    return out


@pytest.mark.parametrize(
    ("family", "activation"),
    [("bert", None), ("bert", "Identity"), ("xlmr", None), ("xlmr", "Tanh")],
)
def test_cross_encoder_scores(
    bases: dict[str, Path], tmp_path: Path, family: str, activation: str | None
) -> None:
    """One-logit rerankers (ms-marco-MiniLM style BERT, bge-reranker style XLM-R): ``score``
    equals ``predict`` with the activation the folder was saved with."""
    from sentence_transformers import CrossEncoder

    fn = None if activation is None else getattr(torch.nn, activation)()
    folder = save_cross_encoder(bases[family], tmp_path / "ce", 1, fn)
    reference = quiet(lambda: CrossEncoder(str(folder), device="cpu"))
    llm = LLM(str(folder), device="cpu")
    pairs = [(q, d) for q in QUERIES for d in DOCS]
    theirs = reference.predict(pairs, batch_size=len(pairs))
    ours = [o.outputs.score for o in llm.score([q for q, _ in pairs], [d for _, d in pairs])]
    check(f"CrossEncoder {family}/{activation}: score vs predict", ours, theirs)
    one_to_n = [o.outputs.score for o in llm.score(QUERIES[0], DOCS)]
    check(f"CrossEncoder {family}/{activation}: 1:N score", one_to_n, theirs[: len(DOCS)])
    # Over-long pairs: the toolkit truncates (longest first) only when asked to, as vLLM.
    (long,) = llm.score(QUERIES[0], LONG, truncate_prompt_tokens=-1)
    check(
        f"CrossEncoder {family}/{activation}: truncated pair",
        [long.outputs.score],
        reference.predict([(QUERIES[0], LONG)]),
    )
    raw = llm.score(QUERIES[0], DOCS, pooling_params=PoolingParams(use_activation=False))
    logits = reference.predict([(QUERIES[0], d) for d in DOCS], activation_fn=torch.nn.Identity())
    check(
        f"CrossEncoder {family}/{activation}: use_activation=False",
        [o.outputs.score for o in raw],
        logits,
    )


def test_cross_encoder_classify_follows_vllm(bases: dict[str, Path], tmp_path: Path) -> None:
    """``classify`` gives probabilities (vLLM: sigmoid for one label, softmax for several),
    whatever activation a cross-encoder keeps for ``score``; fed the pair's token ids, it
    equals ``predict`` with that activation."""
    from sentence_transformers import CrossEncoder

    pairs = [(q, d) for q in QUERIES for d in DOCS]
    for labels, activation, expected in [
        (1, torch.nn.Identity(), {"activation_fn": torch.nn.Sigmoid()}),
        (3, None, {"apply_softmax": True}),
    ]:
        folder = save_cross_encoder(bases["xlmr"], tmp_path / f"ce{labels}", labels, activation)
        reference = quiet(lambda f=folder: CrossEncoder(str(f), device="cpu"))
        llm = LLM(str(folder), device="cpu")
        tokenizer = llm.get_tokenizer()
        ids = [{"prompt_token_ids": tokenizer(q, d)["input_ids"]} for q, d in pairs]
        ours = [o.outputs.probs for o in llm.classify(ids)]
        theirs = reference.predict(pairs, batch_size=len(pairs), **expected)
        check(
            f"CrossEncoder {labels} label(s): classify vs predict",
            ours,
            np.reshape(theirs, (len(pairs), -1)),
        )
        if labels > 1:
            with pytest.raises(ValueError, match="cannot score pairs; use LLM.classify"):
                llm.score(QUERIES[0], DOCS[0])


@pytest.fixture(scope="module")
def matryoshka_folder(bases: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Transformer -> mean Pooling -> Dense(32->24, tanh) -> Dense(24->16, no bias) ->
    Normalize, saved by sentence-transformers 6."""
    from sentence_transformers import SentenceTransformer

    def build() -> Any:
        from sentence_transformers.models import Dense, Normalize, Pooling, Transformer

        transformer = Transformer(str(bases["bert"]), max_seq_length=48)
        torch.manual_seed(31)
        return SentenceTransformer(
            modules=[
                transformer,
                Pooling(32, pooling_mode="mean"),
                Dense(32, 24, activation_function=torch.nn.Tanh()),
                Dense(24, 16, bias=False, activation_function=torch.nn.Identity()),
                Normalize(),
            ],
            device="cpu",
        )

    out = tmp_path_factory.mktemp("st_matryoshka")
    quiet(build).save(str(out))
    return out


def test_dense_normalize_matryoshka(matryoshka_folder: Path) -> None:
    from sentence_transformers import SentenceTransformer

    texts = [*QUERIES, *DOCS]
    reference = quiet(lambda: SentenceTransformer(str(matryoshka_folder), device="cpu"))
    llm = LLM(
        str(matryoshka_folder), device="cpu", hf_overrides={"matryoshka_dimensions": [4, 8, 16]}
    )
    ours = [o.outputs.embedding for o in llm.embed(texts)]
    check("SentenceTransformer Dense+Dense+Normalize: embed", ours, reference.encode(texts))
    for dims in (4, 8):
        truncated = llm.embed(texts, pooling_params=PoolingParams(dimensions=dims))
        theirs = reference.encode(texts, truncate_dim=dims, normalize_embeddings=True)
        check(
            f"Matryoshka dimensions={dims} vs truncate_dim",
            [o.outputs.embedding for o in truncated],
            theirs,
        )
    # The Transformer's max_seq_length (48) is the model length; longer inputs truncate to it.
    assert llm.max_model_len == 48
    (long,) = llm.embed(LONG, truncate_prompt_tokens=-1)
    check(
        "SentenceTransformer: truncated input", [long.outputs.embedding], reference.encode([LONG])
    )
