"""The three ColQwen3 checkpoint families: config keys, weight names and prompts.

Learned from public loaders (vLLM's ColQwen3 / Nemotron models, the checkpoints' own
configuration code); where a detail could not be confirmed the assumption is marked.

- ``ColQwen3`` (TomoroAI, ``model_type: colqwen3``; and colpali-engine's ``ColQwen3``,
  ``model_type: qwen3_vl``): a flat Qwen3-VL config plus ``embed_dim`` (colpali-engine stores
  none: the projection's shape says it); weights ``vlm.model.visual.*`` /
  ``vlm.model.language_model.*`` (+ unused ``vlm.lm_head``), projection
  ``embedding_proj_layer.{weight,bias}``; colpali-engine saves ``model.visual.*``,
  ``model.language_model.*`` and ``model.custom_text_proj.*``.
- ``OpsColQwen3Model`` (OpenSearch-AI, ``ops_colqwen3``): dimension under ``dims``; weights
  without an outer prefix (``visual.*``, ``language_model.*``; older exports
  ``language_model.model.*``), projection ``custom_text_proj.*``. A checkpoint without
  projection weights whose ``dims`` is the hidden size (or unset) uses the normalized hidden
  states, as vLLM does.
- ``Qwen3VLNemotronEmbedModel`` (NVIDIA, ``qwen3_vl_nemotron_embed``): Qwen3-VL
  ``ForConditionalGeneration`` names (``model.visual.*``, ``model.language_model.*``), no
  projection; bidirectional attention and the last layer's output *before* the final RMSNorm,
  as NVIDIA's own modeling code does (vLLM's port runs it causally with the norm; we follow the
  checkpoint's authors).

A projection's bias is applied, as the authors' modeling code does (``nn.Linear`` with bias);
vLLM's ``ColQwen3Model`` builds it with ``bias=False`` whenever the config states the size, and
so drops a stored bias.

Every format also accepts the other families' outer prefixes (``vlm.model.``, ``model.``,
``base_model.model.``), as vLLM's loader does.

Prompts for ``encode_queries`` / ``encode_documents`` (``LLM.encode`` / ``score`` take inputs
as given, like vLLM), checked in tests/reference/test_colqwen3_*.py:
- ColQwen3: as colpali-engine's and TomoroAI's ``ColQwen3Processor``: a query is the bare text
  followed by ten ``<|endoftext|>`` augmentation tokens (no "Query: " prefix); a text document
  is its text; a page image is the raw prompt ``<|im_start|>user\n<image>Describe the
  image.<|im_end|><|endoftext|>`` (not the chat template, which ends in a newline).
- OpsColQwen3Model: ASSUMPTION (its processor code is not public here): the same as ColQwen3;
  its published embedder calls the colpali-style ``process_queries`` / ``process_images``.
- Nemotron: as NVIDIA's ``Qwen3VLNemotronEmbedProcessor``: a chat-template user turn with the
  generation prompt, text ``"Query: query: " + text`` for a query and ``[image, "passage: "]``
  for a page; a text document is ``"passage: " + text`` in the same turn (NVIDIA's processor
  always expects an image; this is the text-only analogue).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from retrieval.errors import ConfigError

IMAGE_PLACEHOLDER = "<|vision_start|><|image_pad|><|vision_end|>"
COLPALI_IMAGE_PROMPT = (
    f"<|im_start|>user\n{IMAGE_PLACEHOLDER}Describe the image.<|im_end|><|endoftext|>"
)
OUTER_PREFIXES = ((r"^vlm\.model\.", ""), (r"^base_model\.model\.", ""), (r"^model\.", ""))
"""Outer weight-name prefixes of the three families (applied in order, like vLLM's mapper)."""


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
    query_prompt: str = "{text}" + "<|endoftext|>" * 10
    """``encode_queries``' prompt around a text query (``{text}``)."""
    document_prompt: str = "{text}"
    """``encode_documents``' prompt around a text document."""
    image_prompt: str | None = COLPALI_IMAGE_PROMPT
    """The raw prompt of a bare image (one placeholder); None: the chat template renders it."""
    image_text: str = ""
    """Text after a bare image rendered by the chat template."""
    chat: bool = False
    """Query / document prompts are a chat-template user turn with the generation prompt."""


FORMATS: dict[str, VisionFormat] = {
    "ColQwen3": VisionFormat(
        "ColQwen3",
        prefixes=OUTER_PREFIXES,
        projection=("embedding_proj_layer", "custom_text_proj"),
        dim_keys=("embed_dim", "dim", "projection_dim", "colbert_dim"),
    ),
    "OpsColQwen3Model": VisionFormat(
        "OpsColQwen3Model",
        prefixes=(*OUTER_PREFIXES, (r"^language_model\.model\.", "language_model.")),
        projection=("custom_text_proj", "embedding_proj_layer"),
        dim_keys=("dims", "dim", "embed_dim"),
    ),
    "Qwen3VLNemotronEmbedModel": VisionFormat(
        "Qwen3VLNemotronEmbedModel",
        prefixes=OUTER_PREFIXES,
        projection=(),
        dim_keys=(),
        bidirectional=True,
        skip_final_norm=True,
        query_prompt="Query: query: {text}",
        document_prompt="passage: {text}",
        image_prompt=None,
        image_text="passage: ",
        chat=True,
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
