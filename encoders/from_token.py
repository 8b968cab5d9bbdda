"""Turn a decoder LM into a classifier from its own vocabulary (vLLM's
``classifier_from_token``), as rerankers such as Qwen3-Reranker are served::

    LLM("Qwen/Qwen3-Reranker-0.6B", hf_overrides={
        "architectures": ["Qwen3ForSequenceClassification"],
        "classifier_from_token": ["no", "yes"],
        "is_original_qwen3_reranker": True,
    })

The ``score`` head's rows are the LM-head rows of the named tokens. With two tokens and the
"2-way softmax" method (implied by ``is_original_qwen3_reranker``), the head is the single row
``W[yes] - W[no]``: ``sigmoid`` of it equals the softmax probability of the second token.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open

from retrieval.errors import ConfigError

_LM_HEAD_NAMES = ("lm_head.weight", "model.embed_tokens.weight", "embed_tokens.weight")


def wants_tokens(config: Any) -> bool:
    return bool(getattr(config, "classifier_from_token", None))


def two_way(config: Any) -> bool:
    method = getattr(config, "method", None)
    return bool(getattr(config, "is_original_qwen3_reranker", False)) or (
        method == "from_2_way_softmax"
    )


def prepare_config(config: Any) -> None:
    """Size the classifier before the model is built: 1 label for 2-way, else one per token."""
    tokens = list(config.classifier_from_token)
    if two_way(config) and len(tokens) != 2:
        msg = f"The 2-way softmax method needs exactly two tokens, got {tokens}."
        raise ConfigError(msg)
    config.num_labels = 1 if two_way(config) else len(tokens)


def head_weight(folder: Path, config: Any, tokenizer: Any) -> torch.Tensor:
    """The ``(n_labels, hidden)`` score weight built from the LM head rows of the tokens."""
    tokens = list(config.classifier_from_token)
    ids = [tokenizer.convert_tokens_to_ids(t) for t in tokens]
    unknown = [
        t for t, i in zip(tokens, ids, strict=True) if i is None or i == tokenizer.unk_token_id
    ]
    if unknown:
        msg = f"classifier_from_token names tokens missing from the vocabulary: {unknown}."
        raise ConfigError(msg)
    rows = _lm_head(folder)[torch.tensor(ids)].float()
    if two_way(config):
        return (rows[1] - rows[0]).unsqueeze(0)
    return rows


def _lm_head(folder: Path) -> torch.Tensor:
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        files = {name: folder / weight_map[name] for name in _LM_HEAD_NAMES if name in weight_map}
    else:
        files = dict.fromkeys(_LM_HEAD_NAMES, folder / "model.safetensors")
    for name, path in files.items():
        if not path.is_file():
            continue
        with safe_open(str(path), framework="pt") as handle:
            if name in handle.keys():  # noqa: SIM118 - safe_open handles are not mappings
                return handle.get_tensor(name)
    msg = (
        f"classifier_from_token needs the LM head (one of {list(_LM_HEAD_NAMES)}) in "
        f"{str(folder)!r}'s safetensors weights, and none was found."
    )
    raise ConfigError(msg)
