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
