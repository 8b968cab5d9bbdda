"""Classification heads: sequence / token logits and their activation (vLLM semantics).

Encoder classifiers (BERT, RoBERTa, ModernBERT, ...) run their own head, exactly as trained.
Decoder classifiers (Qwen, Llama, ... ``*ForSequenceClassification``) carry a linear ``score``
over every hidden state; the toolkit applies it itself and pools the logits by the attention
mask (LAST by default), which also gives per-token logits for ``token_classify``.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

import torch
from torch import nn

from encoders.pooling import pool_sequences
from retrieval.errors import ConfigError


class PoolingModel(Protocol):
    """What the heads here read of a loaded ``encoders.model.PoolingModel``: a protocol, so
    this module does not import the model module that imports it (no import cycle)."""

    backbone: Any
    hf_config: Any
    resolved: Any
    settings: Any
    family: Any

    def base_hidden(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor: ...


# Activations a cross-encoder config may name; resolved from this table, never imported.
_ACTIVATIONS = ("Sigmoid", "Softmax", "Identity", "Tanh", "ReLU")


def score_head(model: PoolingModel) -> nn.Module | None:
    """The decoder-style per-token classifier (``score``), or None for encoder heads."""
    head = getattr(model.backbone, "score", None)
    return head if isinstance(head, nn.Module) and hasattr(head, "weight") else None


def classify_activation(model: PoolingModel) -> str:
    """The ``classify`` / ``token_classify`` activation, as vLLM's
    ``get_classification_act_fn``: from the config's ``problem_type`` (``regression``: none,
    ``multi_label_classification``: sigmoid), else sigmoid for one label and softmax for
    several. A cross-encoder's sentence-transformers activation applies to ``score`` only."""
    problem = getattr(model.hf_config, "problem_type", None)
    if problem == "regression":
        return "Identity"
    if problem == "multi_label_classification":
        return "Sigmoid"
    return _by_labels(model)


def token_head(model: PoolingModel) -> Any:
    """The classifier ``token_classify`` applies to every token of a sequence classifier, or
    None when the model has no per-token reading. Decoders: the linear ``score``. Encoders, as
    vLLM's ``DispatchPooler.for_seq_cls`` runs them: BERT's linear ``classifier``, RoBERTa /
    XLM-R's classification head (dense -> tanh -> out_proj) on each token's hidden state
    (other encoder heads pool inside the head, so they have none)."""
    head = score_head(model)
    if head is not None or model.family != "classify":
        return head
    kind = str(getattr(model.hf_config, "model_type", ""))
    classifier = getattr(model.backbone, "classifier", None)
    if kind == "bert" and _is_linear(classifier):
        return classifier
    dense: Any = getattr(classifier, "dense", None)
    out_proj: Any = getattr(classifier, "out_proj", None)
    if kind in ("roberta", "xlm-roberta") and _is_linear(dense) and _is_linear(out_proj):
        return lambda hidden: out_proj(torch.tanh(dense(hidden)))
    return None


def _is_linear(module: Any) -> bool:
    # Linear layers may be swapped for the toolkit's packed CPU kernels; both have weights.
    return isinstance(module, nn.Module) and hasattr(module, "weight")


def resolve_activation(model: PoolingModel) -> str:
    """The ``score`` activation, as vLLM's ``get_cross_encoder_act_fn``: the checkpoint's
    sentence-transformers CrossEncoder activation when it names one (``Sigmoid`` / ``Softmax``
    read as sigmoid for one label, softmax for several), else the same rule."""
    name = _cross_encoder_activation(model)
    if name is None or name in ("Sigmoid", "Softmax"):
        return _by_labels(model)
    if name not in _ACTIVATIONS:
        msg = (
            f"Cross-encoder activation {name!r} is not supported; supported: "
            f"{', '.join(_ACTIVATIONS)}."
        )
        raise ConfigError(msg)
    return name


def _by_labels(model: PoolingModel) -> str:
    return "Sigmoid" if num_labels(model) < 2 else "Softmax"


def _cross_encoder_activation(model: PoolingModel) -> str | None:
    config = model.hf_config
    st = getattr(config, "sentence_transformers", None)
    found = None
    if isinstance(st, dict) and st.get("activation_fn"):
        found = st["activation_fn"]  # sentence-transformers 4-5
    elif getattr(config, "sbert_ce_default_activation_function", None):
        found = config.sbert_ce_default_activation_function  # sentence-transformers < 4
    else:
        st6 = model.resolved.path / "config_sentence_transformers.json"
        if st6.is_file():
            found = json.loads(st6.read_text(encoding="utf-8")).get("activation_fn")
    return str(found).rsplit(".", 1)[-1] if found else None


def num_labels(model: PoolingModel) -> int:
    return int(getattr(model.hf_config, "num_labels", 1) or 1)


def apply_activation(logits: torch.Tensor, name: str) -> torch.Tensor:
    """``logits (..., c)`` -> activated scores, float32."""
    logits = logits.float()
    if name == "Sigmoid":
        return torch.sigmoid(logits)
    if name == "Softmax":
        return torch.softmax(logits, dim=-1)
    if name == "Tanh":
        return torch.tanh(logits)
    if name == "ReLU":
        return torch.relu(logits)
    return logits


def sequence_logits(model: PoolingModel, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """Classifier logits per sequence: ``(b, n_labels)``."""
    head = score_head(model)
    if head is None:
        return model.backbone(**inputs).logits
    hidden = _decoder_hidden(model, inputs)
    pooling = model.settings.pooling_type
    if pooling == "ALL":
        msg = "Pooling type ALL is per token; classify needs CLS, MEAN or LAST."
        raise ConfigError(msg)
    return head(pool_sequences(hidden, inputs["attention_mask"], pooling))


def token_logits(model: PoolingModel, inputs: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    """Classifier logits per token: one ``(n_tokens, n_labels)`` tensor per sequence."""
    head = token_head(model)
    if head is not None:
        logits = head(model.base_hidden(inputs))
    else:
        logits = model.backbone(**inputs).logits
    keep = inputs["attention_mask"].bool()
    return [logits[i, keep[i]] for i in range(logits.shape[0])]


def _decoder_hidden(model: PoolingModel, inputs: dict[str, torch.Tensor]) -> Any:
    return model.base_hidden(inputs)
