"""Tiny random Qwen3-VL checkpoints in the on-disk formats of the three ColQwen3 families.

Each folder holds what a real download holds: ``config.json`` (a flat Qwen3-VL config plus the
family's own keys), safetensors weights under the family's names, a byte-level BPE tokenizer
with Qwen's special tokens and chat template, and ``preprocessor_config.json`` for the
Qwen2-VL image processor. The weights come from transformers' own ``Qwen3VLModel``.

Formats (learned from public loaders, see ``encoders/vision/formats.py``):

- ``colqwen3`` (TomoroAI): ``vlm.model.visual.*``, ``vlm.model.language_model.*``,
  ``vlm.lm_head.weight``, projection ``embedding_proj_layer.{weight,bias}``, ``embed_dim``.
- ``ops_colqwen3`` (OpenSearch-AI): ``visual.*``, ``language_model.*``, projection
  ``custom_text_proj.{weight,bias}``, ``dims``.
- ``qwen3_vl_nemotron_embed`` (NVIDIA): ``model.visual.*``, ``model.language_model.*``,
  ``lm_head.weight``; no projection (hidden states are the vectors).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from tests.tiny_models import WORDS

SPECIAL_TOKENS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
    "<|image_pad|>", "<|video_pad|>",
]  # fmt: skip
HIDDEN = 32
PATCH = 8
MERGE = 2

# Qwen's chat template, reduced to what a user turn with images and text needs.
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

ARCHITECTURES = {
    "colqwen3": "ColQwen3",
    "ops_colqwen3": "OpsColQwen3Model",
    "qwen3_vl_nemotron_embed": "Qwen3VLNemotronEmbedModel",
}


def make_tokenizer(folder: Path) -> Any:
    """A byte-level BPE tokenizer (like Qwen's) trained on a small corpus, saved in ``folder``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    corpus = [" ".join(WORDS), "Query: Describe the image. What is in the picture?"] * 4
    tok.train_from_iterator(corpus, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        model_max_length=512,
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(str(folder))
    return fast


def qwen3_vl_config(tokenizer: Any) -> Any:
    """A Qwen3-VL config with a 2-layer text model and a 2-block vision tower."""
    from transformers import Qwen3VLConfig

    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    text = {
        "vocab_size": len(tokenizer),
        "hidden_size": HIDDEN,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 8,
        "max_position_embeddings": 512,
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": 10000.0,
            "mrope_section": [2, 1, 1],
            "mrope_interleaved": True,
        },
        "tie_word_embeddings": False,
    }
    vision = {
        "depth": 2,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_heads": 4,
        "patch_size": PATCH,
        "spatial_merge_size": MERGE,
        "temporal_patch_size": 2,
        "out_hidden_size": HIDDEN,
        "num_position_embeddings": 64,
        "deepstack_visual_indexes": [0],
    }
    return Qwen3VLConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
    )


def image_processor_config() -> dict[str, Any]:
    """``preprocessor_config.json`` of a small Qwen2-VL image processor (8-px patches)."""
    return {
        "image_processor_type": "Qwen2VLImageProcessor",
        "patch_size": PATCH,
        "merge_size": MERGE,
        "temporal_patch_size": 2,
        "size": {"shortest_edge": 16 * 16, "longest_edge": 64 * 64},
        "image_mean": [0.5, 0.5, 0.5],
        "image_std": [0.5, 0.5, 0.5],
        "do_resize": True,
        "do_rescale": True,
        "do_normalize": True,
        "do_convert_rgb": True,
        "resample": 3,
        "rescale_factor": 1 / 255,
    }


def make_colqwen(
    folder: Path, fmt: str = "colqwen3", *, dim: int = 16, seed: int = 0, projection: bool = True
) -> Path:
    """A random Qwen3-VL backbone (+ projection) saved in ``fmt``'s on-disk layout
    (``projection=False``: an OpenSearch export without one, ``dims`` = the hidden size)."""
    from transformers import Qwen3VLModel

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = make_tokenizer(folder)
    config = qwen3_vl_config(tokenizer)
    torch.manual_seed(seed)
    backbone = Qwen3VLModel(config).eval()
    state = {k: v.contiguous() for k, v in backbone.state_dict().items()}
    lm_head = torch.randn(len(tokenizer), HIDDEN) * 0.02
    proj_w = torch.randn(dim, HIDDEN) / HIDDEN**0.5
    proj_b = torch.randn(dim) * 0.1
    raw = config.to_dict()
    raw["architectures"] = [ARCHITECTURES[fmt]]
    raw["model_type"] = fmt
    if fmt == "colqwen3":
        weights = {f"vlm.model.{k}": v for k, v in state.items()}
        weights |= {"vlm.lm_head.weight": lm_head}
        weights |= {"embedding_proj_layer.weight": proj_w, "embedding_proj_layer.bias": proj_b}
        raw["embed_dim"] = dim
        raw["padding_side"] = "left"
    elif fmt == "ops_colqwen3":
        weights = dict(state)
        if projection:
            weights |= {"custom_text_proj.weight": proj_w, "custom_text_proj.bias": proj_b}
        raw["dims"] = dim if projection else HIDDEN
    else:
        weights = {f"model.{k}": v for k, v in state.items()} | {"lm_head.weight": lm_head}
        raw["pooling"] = "colbert"
    save_file(weights, str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "config.json").write_text(json.dumps(raw, indent=2), encoding="utf-8")
    (folder / "preprocessor_config.json").write_text(
        json.dumps(image_processor_config(), indent=2), encoding="utf-8"
    )
    return folder


def png_bytes(
    size: tuple[int, int] = (50, 40), color: tuple[int, int, int] = (200, 10, 10)
) -> bytes:
    """A small solid PNG with a darker square, so patches differ."""
    import io

    from PIL import Image, ImageDraw

    image = Image.new("RGB", size, color)
    ImageDraw.Draw(image).rectangle((4, 4, size[0] // 2, size[1] // 2), fill=(10, 10, 90))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def data_url(data: bytes, kind: str = "png") -> str:
    import base64

    return f"data:image/{kind};base64," + base64.b64encode(data).decode()
