"""One loopback server for vLLM's ported pooling tests, started once for the whole folder.

vLLM starts one ``vllm serve`` per test module, each with one model and its flags
(``--max-model-len``, ``--chat-template``, ``--pooler-config``). Here one uvicorn server
serves every stand-in under its own name, each loaded with the same flags:

============== ================================ ==============================================
served name    stands in for (vLLM's tests)     built as
============== ================================ ==============================================
MINILM         intfloat/multilingual-e5-small   real all-MiniLM-L6-v2 + ``--chat-template``
minilm-128     all-MiniLM-L12-v2 / bge-base     real MiniLM, ``max_model_len=128``
minilm-chunked e5-small + chunked processing    real MiniLM, ``pooler_config`` MEAN + chunked
minilm-mrl     snowflake-arctic-embed-m-v1.5    real MiniLM, ``hf_overrides`` Matryoshka [256]
classifier     jason9693/Qwen2.5-1.5B-apeach    tiny BERT, 2 labels ``Default`` / ``Spoiled``
reranker       BAAI/bge-reranker-base           tiny BERT cross-encoder, 1 logit + Sigmoid
reward         internlm/internlm2-1_8b-reward   tiny BERT token head, 1 label (per-token reward)
============== ================================ ==============================================
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.adapters.server.conftest import start_uvicorn
from tests.tiny_models import make_family

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
DUMMY_CHAT_TEMPLATE = (
    "{% for message in messages %}{{message['role'] + ': ' + message['content'] + '\\n'}}"
    "{% endfor %}"
)
"""vLLM's ``DUMMY_CHAT_TEMPLATE`` (its tests pass it with ``--chat-template``)."""


def _with_chat_template(llm: Any) -> Any:
    llm.get_tokenizer().chat_template = DUMMY_CHAT_TEMPLATE
    return llm


@pytest.fixture(scope="session")
def peer_minilm(real_default_path: Path) -> Any:
    from encoders import LLM

    return _with_chat_template(LLM(MINILM, device="cpu"))


@pytest.fixture(scope="session")
def peer_minilm_128(real_default_path: Path) -> Any:
    from encoders import LLM

    return LLM(MINILM, device="cpu", max_model_len=128)


@pytest.fixture(scope="session")
def peer_minilm_chunked(real_default_path: Path) -> Any:
    from encoders import LLM

    config = {
        "pooling_type": "MEAN",
        "use_activation": True,
        "enable_chunked_processing": True,
        "max_embed_len": 10000,
    }
    return LLM(MINILM, device="cpu", pooler_config=config)


@pytest.fixture(scope="session")
def peer_minilm_mrl(real_default_path: Path) -> Any:
    from encoders import LLM

    return LLM(MINILM, device="cpu", hf_overrides={"matryoshka_dimensions": [256]})


def _relabel(folder: Path, labels: dict[int, str]) -> Path:
    config = json.loads((folder / "config.json").read_text())
    config["id2label"] = {str(i): name for i, name in labels.items()}
    config["label2id"] = {name: i for i, name in labels.items()}
    (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.fixture(scope="session")
def peer_classifier_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = make_family(tmp_path_factory.mktemp("peer_cls"), "bert", "seq", labels=2, seed=21)
    return _relabel(folder, {0: "Default", 1: "Spoiled"})


@pytest.fixture(scope="session")
def peer_reranker_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-logit BERT cross-encoder in the sentence-transformers CrossEncoder layout."""
    folder = make_family(tmp_path_factory.mktemp("peer_ce"), "bert", "seq", labels=1, seed=22)
    config = json.loads((folder / "config.json").read_text())
    config["sentence_transformers"] = {"activation_fn": "torch.nn.modules.activation.Sigmoid"}
    (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.fixture(scope="session")
def peer_reward_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_family(tmp_path_factory.mktemp("peer_rw"), "bert", "token", labels=1, seed=23)


@pytest.fixture(scope="session")
def peer_classifier(peer_classifier_path: Path) -> Any:
    from encoders import LLM

    return _with_chat_template(LLM(str(peer_classifier_path), device="cpu"))


@pytest.fixture(scope="session")
def peer_reranker(peer_reranker_path: Path) -> Any:
    from encoders import LLM

    return LLM(str(peer_reranker_path), device="cpu")


@pytest.fixture(scope="session")
def peer_reward(peer_reward_path: Path) -> Any:
    from encoders import LLM

    return _with_chat_template(LLM(str(peer_reward_path), device="cpu"))


@pytest.fixture(scope="session")
def peer_models(
    peer_minilm: Any,
    peer_minilm_128: Any,
    peer_minilm_chunked: Any,
    peer_minilm_mrl: Any,
    peer_classifier: Any,
    peer_reranker: Any,
    peer_reward: Any,
) -> list[tuple[list[str], Any]]:
    return [
        ([MINILM], peer_minilm),
        (["minilm-128"], peer_minilm_128),
        (["minilm-chunked"], peer_minilm_chunked),
        (["minilm-mrl"], peer_minilm_mrl),
        (["classifier"], peer_classifier),
        (["reranker"], peer_reranker),
        (["reward"], peer_reward),
    ]


@pytest.fixture(scope="session")
def peer_url(peer_models: list[tuple[list[str], Any]]) -> Iterator[str]:
    """The real uvicorn server on 127.0.0.1, shared by every module of this folder."""
    from adapters.server import build_app

    url, stop = start_uvicorn(build_app(peer_models))
    yield url
    stop()


@pytest.fixture(scope="session")
def http(peer_url: str) -> Iterator[Any]:
    """An httpx client bound to the server (vLLM's tests use ``requests``)."""
    import httpx

    with httpx.Client(base_url=peer_url, timeout=60) as client:
        yield client


@pytest.fixture(scope="session")
def openai_client(peer_url: str) -> Any:
    import openai

    return openai.OpenAI(base_url=f"{peer_url}/v1", api_key="EMPTY", max_retries=0, timeout=60)


@pytest.fixture(scope="session")
def st_minilm(real_default_path: Path) -> Any:
    """The reference: sentence-transformers on the same MiniLM folder (vLLM's ``hf_runner``
    with ``is_sentence_transformer=True``)."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(real_default_path), device="cpu")


@pytest.fixture(scope="session")
def minilm_tokenizer(real_default_path: Path) -> Any:
    """The HF tokenizer of the MiniLM folder: the oracle for token ids and counts."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(real_default_path))
