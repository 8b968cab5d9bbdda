"""The three ColQwen3 checkpoint families: config keys, weight names and prompts.

Learned from public loaders (vLLM's ColQwen3 / Nemotron models, the checkpoints' own
configuration code); where a detail could not be confirmed the assumption is marked.

- ``ColQwen3`` (TomoroAI, ``model_type: colqwen3``): a flat Qwen3-VL config plus ``embed_dim``;
  weights ``vlm.model.visual.*`` / ``vlm.model.language_model.*`` (+ unused ``vlm.lm_head``),
  projection ``embedding_proj_layer.{weight,bias}``.
- ``OpsColQwen3Model`` (OpenSearch-AI, ``ops_colqwen3``): dimension under ``dims``; weights
  without an outer prefix (``visual.*``, ``language_model.*``; older exports
  ``language_model.model.*``), projection ``custom_text_proj.*``. ASSUMPTION: the projection
  name (vLLM accepts ``custom_text_proj`` and ``embedding_proj_layer``; both are tried); a
  checkpoint without projection weights whose ``dims`` is the hidden size (or unset) uses the
  normalized hidden states, as vLLM does.
- ``Qwen3VLNemotronEmbedModel`` (NVIDIA, ``qwen3_vl_nemotron_embed``): Qwen3-VL
  ``ForConditionalGeneration`` names (``model.visual.*``, ``model.language_model.*``), no
  projection; bidirectional attention and the last layer's output *before* the final RMSNorm,
  as NVIDIA's own modeling code does (vLLM's port runs it causally with the norm; we follow the
  checkpoint's authors).

Prompts for ``encode_queries`` / ``encode_documents`` (``LLM.encode`` / ``score`` take inputs
as given, like vLLM). ASSUMPTION, from the ColPali family's processors: ColQwen queries are
``"Query: " + text`` followed by ten ``<|endoftext|>`` augmentation tokens and a bare image is a
user turn ``[image, "Describe the image."]``; Nemotron prefixes ``"query: "`` / ``"passage: "``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from retrieval.errors import ConfigError


@dataclass(frozen=True)
class VisionFormat:
    """How one checkpoint family stores and uses a Qwen3-VL late-interaction model."""

    architecture: str
    """``architectures[0]`` in ``config.json``."""
    prefixes: tuple[tuple[str, str], ...]
    """``(checkpoint prefix regex, Qwen3VLModel prefix)`` weight-name rewrites, in order."""
    projection: tuple[str, ...]
    """Checkpoint names of the linear projection (first found wins); empty = no projection."""
    dim_keys: tuple[str, ...]
    """Config keys holding the projection size."""
    bidirectional: bool = False
    """Text attention sees the whole sequence (no causal mask)."""
    skip_final_norm: bool = False
    """Use the last decoder layer's output before the final RMSNorm."""
    query_prefix: str = "Query: "
    """Text put before a query by ``encode_queries``."""
    query_suffix: str = "<|endoftext|>" * 10
    """Augmentation tokens after a query (ColPali's query expansion)."""
    document_prefix: str = ""
    """Text put before a text document by ``encode_documents``."""
    image_text: str = "Describe the image."
    """Text after a bare image (a PIL image, path or data URL given alone)."""


FORMATS: dict[str, VisionFormat] = {
    "ColQwen3": VisionFormat(
        "ColQwen3",
        prefixes=((r"^vlm\.model\.", ""),),
        projection=("embedding_proj_layer", "custom_text_proj"),
        dim_keys=("embed_dim", "dim", "projection_dim"),
    ),
    "OpsColQwen3Model": VisionFormat(
        "OpsColQwen3Model",
        prefixes=((r"^language_model\.model\.", "language_model."),),
        projection=("custom_text_proj", "embedding_proj_layer"),
        dim_keys=("dims", "dim", "embed_dim"),
    ),
    "Qwen3VLNemotronEmbedModel": VisionFormat(
        "Qwen3VLNemotronEmbedModel",
        prefixes=((r"^model\.", ""),),
        projection=(),
        dim_keys=(),
        bidirectional=True,
        skip_final_norm=True,
        query_prefix="query: ",
        query_suffix="",
        document_prefix="passage: ",
        image_text="",
    ),
}
ARCHITECTURES: tuple[str, ...] = tuple(FORMATS)


def vision_format(architectures: list[str] | tuple[str, ...]) -> VisionFormat | None:
    """The family of a checkpoint, or None when it is not a ColQwen3-style model."""
    for name in architectures:
        if name in FORMATS:
            return FORMATS[name]
    return None


def qwen3_vl_config(raw: dict[str, Any], folder: str) -> Any:
    """transformers' ``Qwen3VLConfig`` from a family's flat ``config.json``."""
    from transformers import Qwen3VLConfig

    if not isinstance(raw.get("text_config"), dict) or not isinstance(
        raw.get("vision_config"), dict
    ):
        msg = (
            f"Model {folder!r} declares {raw.get('architectures')} but its config.json has no "
            "Qwen3-VL 'text_config' and 'vision_config' objects."
        )
        raise ConfigError(msg)
    keys = ("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id")
    extra = {k: raw[k] for k in keys if k in raw}
    config = Qwen3VLConfig(
        text_config=dict(raw["text_config"]), vision_config=dict(raw["vision_config"]), **extra
    )
    config.architectures = list(raw.get("architectures") or [])
    return config


def projection_size(raw: dict[str, Any], fmt: VisionFormat) -> int | None:
    for key in fmt.dim_keys:
        value = raw.get(key)
        if isinstance(value, int) and value > 0:
            return value
    return None
