"""Which head a checkpoint gets and which pooling tasks it serves (the spec's conversion table).

- ``*ForTextEncoding``, ``*EmbeddingModel``, ``*Model``, ``*ForRewardModeling``,
  ``*RewardModel`` (and decoder ``*ForCausalLM``) -> convert ``embed``: ``embed``,
  ``token_embed``.
- ``*For*Classification``, ``*ClassificationModel`` -> convert ``classify``: ``classify``,
  ``score`` (+ ``token_classify`` where the head is a per-token linear layer).
- ``*ForTokenClassification`` -> ``token_classify``.
- ``*ForMaskedLM`` -> SPLADE sparse vectors (``embed`` gives the vocabulary-size vector).
- ``BgeM3EmbeddingModel`` (an override) -> dense ``embed``, ColBERT ``token_embed`` and
  lexical ``token_classify``.
- ColBERT (``HF_ColBERT``, PyLate / MaxSim folders) -> ``token_embed`` (scored by MaxSim).
- ColQwen3-style Qwen3-VL models (``ColQwen3``, ``OpsColQwen3Model``,
  ``Qwen3VLNemotronEmbedModel``) -> ``token_embed`` for text and images (scored by MaxSim).
"""

from __future__ import annotations

import re
from typing import Literal

Family = Literal["embed", "classify", "token_classify", "sparse", "bge_m3", "colbert", "colqwen"]

_CLASSIFY = re.compile(r"(For\w*Classification|ClassificationModel)$")


def model_family(architectures: list[str], convert: str) -> Family:
    """The head to load: a bare encoder (embed), a sequence or a token classifier."""
    token_level = any(a.endswith("ForTokenClassification") for a in architectures)
    if "BgeM3EmbeddingModel" in architectures:
        return "bge_m3"
    if convert == "embed":
        return "embed"
    if convert == "classify":
        return "token_classify" if token_level else "classify"
    if token_level:
        return "token_classify"
    if any(_CLASSIFY.search(a) for a in architectures):
        return "classify"
    if any(a.endswith("ForMaskedLM") for a in architectures):
        return "sparse"
    return "embed"


def supported_tasks(family: Family, per_token_head: bool) -> tuple[str, ...]:
    """vLLM's ``Pooler.get_supported_tasks`` for a loaded model.

    ``per_token_head``: the classifier is a plain linear layer over hidden states (decoder
    ``score`` heads), so it can also classify every token.
    """
    if family == "embed":
        return ("embed", "token_embed")
    if family == "sparse":
        return ("embed",)
    if family == "bge_m3":
        return ("embed", "token_embed", "token_classify")
    if family in ("colbert", "colqwen"):
        return ("token_embed",)
    if family == "token_classify":
        return ("token_classify",)
    return ("classify", "score", "token_classify") if per_token_head else ("classify", "score")
