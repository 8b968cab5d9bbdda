"""The spec's offline examples, run with only the import line (and model name) swapped."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.mark.realmodel
def test_llm_embed_example(minilm: object, capsys: pytest.CaptureFixture[str]) -> None:
    from encoders import LLM

    llm = LLM(model="sentence-transformers/all-MiniLM-L6-v2", runner="pooling")
    (output,) = llm.embed("Hello, my name is")
    embeds = output.outputs.embedding
    print(f"Embeddings: {embeds!r} (size={len(embeds)})")
    assert "(size=384)" in capsys.readouterr().out


@pytest.mark.realmodel
def test_llm_encode_example(minilm: object) -> None:
    from encoders import LLM

    llm = LLM(model="sentence-transformers/all-MiniLM-L6-v2", runner="pooling")
    (output,) = llm.encode("Hello, my name is", pooling_task="embed")
    data = output.outputs.data
    print(f"Data: {data!r}")
    assert tuple(data.shape) == (384,)


def test_matryoshka_offline_example(
    matryoshka_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from encoders import LLM, PoolingParams

    llm = LLM(
        model=str(matryoshka_model),
        runner="pooling",
        trust_remote_code=True,
    )
    outputs = llm.embed(
        ["Follow the white rabbit."],
        pooling_params=PoolingParams(dimensions=32),
    )
    print(outputs[0].outputs)
    assert len(outputs[0].outputs.embedding) == 32
    assert "EmbeddingOutput(embedding=[" in capsys.readouterr().out


def test_llm_classify_example(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.tiny_models import make_family

    model_name = str(make_family(tmp_path / "apeach", "qwen3", "seq", labels=2))
    from encoders import LLM

    llm = LLM(model=model_name, runner="pooling")
    (output,) = llm.classify("Hello, my name is")
    probs = output.outputs.probs
    print(f"Class Probabilities: {probs!r} (size={len(probs)})")
    assert "(size=2)" in capsys.readouterr().out
    assert sum(probs) == pytest.approx(1.0, abs=1e-5)


def test_llm_score_example(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.tiny_models import make_family

    model_name = str(make_family(tmp_path / "reranker", "roberta", "seq", labels=1))
    from encoders import LLM

    llm = LLM(model=model_name, runner="pooling")
    (output,) = llm.score(
        "What is the capital of France?",
        "The capital of Brazil is Brasilia.",
    )
    score = output.outputs.score
    print(f"Score: {score}")
    assert 0.0 < score < 1.0
    assert "Score: " in capsys.readouterr().out


def test_llm_reward_example(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.tiny_models import make_family

    model_name = str(make_family(tmp_path / "reward", "qwen3", "token", labels=1))
    from encoders import LLM

    llm = LLM(model=model_name, runner="pooling", trust_remote_code=True)
    (output,) = llm.reward("Hello, my name is")
    data = output.outputs.data
    print(f"Data: {data!r}")
    assert data.shape == (len(output.prompt_token_ids), 1)
    assert "Data: tensor(" in capsys.readouterr().out
