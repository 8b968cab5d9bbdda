"""The TomoroAI, OpenSearch and NVIDIA ColQwen3 formats against their authors' / vLLM's code.

None of these references can run here (vLLM needs a GPU build; the checkpoints' own code is
``trust_remote_code`` that ships with multi-GB weights), so each test rebuilds that code's
exact steps on a tiny random checkpoint in the format's on-disk layout (tests/tiny_vl.py) and
compares the toolkit with it. Each test names the file it follows; those files were read
through the project's code search (copies of the Hugging Face repositories' files and of
vllm-project/vllm):

- TomoroAI: ``TomoroAI/tomoro-colqwen3-embed-4b``'s ``modeling_colqwen3.py`` (class
  ``ColQwen3``) and ``processing_colqwen3.py`` (class ``ColQwen3Processor``).
- OpenSearch: vllm-project/vllm ``vllm/model_executor/models/colqwen3.py`` (``ColQwen3Model``,
  which vLLM's registry maps ``OpsColQwen3Model`` to); OpenSearch's own modeling / processing
  code is not available here, so its prompts are an assumption (see encoders/vision/formats.py).
- NVIDIA: ``nvidia/nemotron-colembed-vl-4b-v2``'s ``modeling_qwen3_vl_nemotron_embed.py``
  (``Qwen3VLNemotronEmbedTextModel``, ``EmbeddingMixin._extract_embeddings``) and its
  processor (``Qwen3VLNemotronEmbedProcessor.process_queries`` / ``process_documents``).

The norm weights of every checkpoint are randomized first: with unit RMSNorm weights the final
norm is a per-token scale that the L2 normalization erases, so skipping it (Nemotron) or not
would be invisible.
"""

from __future__ import annotations

import io
from pathlib import Path
from types import MethodType
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from encoders import LLM
from tests import tiny_vl

ATOL = 1e-5
QUERIES = ["what is the blue sky", "cat"]


def _checkpoint(folder: Path, fmt: str, **kwargs: Any) -> Path:
    tiny_vl.make_colqwen(folder, fmt, **kwargs)
    path = folder / "model.safetensors"
    weights = load_file(str(path))
    generator = torch.Generator().manual_seed(1)
    for name, tensor in weights.items():
        if name.endswith("norm.weight"):
            weights[name] = tensor + 0.5 * torch.randn(tensor.shape, generator=generator)
    save_file(weights, str(path), metadata={"format": "pt"})
    return folder


def _page() -> Any:
    from PIL import Image

    # 64 x 48 px: a multiple of the merged patch, so no resize (the PIL-backend processor
    # used here differs from the torchvision one only when it resizes).
    return Image.open(io.BytesIO(tiny_vl.png_bytes((64, 48)))).convert("RGB")


def _pixels(image: Any) -> dict[str, torch.Tensor]:
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
        Qwen2VLImageProcessorPil,
    )

    settings = tiny_vl.image_processor_config()
    settings.pop("image_processor_type")
    return dict(Qwen2VLImageProcessorPil(**settings)(images=[image], return_tensors="pt"))


def _expand(prompt: str, grid: torch.Tensor) -> str:
    """The processors' placeholder expansion: one <|image_pad|> per merged patch block."""
    return prompt.replace("<|image_pad|>", "<|image_pad|>" * (int(grid.prod()) // tiny_vl.MERGE**2))


def _tokens(tokenizer: Any, prompts: list[str], **kwargs: Any) -> dict[str, torch.Tensor]:
    """Tokenized prompts plus ``mm_token_type_ids`` (image tokens 1), which Qwen3VLProcessor
    returns beside ``input_ids`` and transformers' Qwen3-VL needs for M-RoPE."""
    batch = dict(tokenizer(prompts, return_tensors="pt", **kwargs))
    image_id = tokenizer.convert_tokens_to_ids("<|image_pad|>")
    batch["mm_token_type_ids"] = (batch["input_ids"] == image_id).to(torch.int32)
    return batch


def _rows(embeddings: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
    return [e[m.bool()] for e, m in zip(embeddings, mask, strict=True)]


def _assert_rows(ours: list[torch.Tensor], theirs: list[torch.Tensor]) -> float:
    worst = 0.0
    for mine, ref in zip(ours, theirs, strict=True):
        assert mine.shape == ref.shape
        worst = max(worst, float((mine - ref).abs().max()))
    assert worst <= ATOL, worst
    return worst


# -- TomoroAI ---------------------------------------------------------------------------------
class TomoroColQwen3(nn.Module):
    """modeling_colqwen3.py ``ColQwen3``: ``vlm`` = Qwen3-VL ForConditionalGeneration,
    ``embedding_proj_layer`` = nn.Linear (with bias); forward runs ``vlm.model``, projects,
    divides by the norm clamped at eps, multiplies by the attention mask."""

    def __init__(self, config: Any, embed_dim: int) -> None:
        from transformers import Qwen3VLForConditionalGeneration

        super().__init__()
        self.vlm = Qwen3VLForConditionalGeneration(config)
        self.embedding_proj_layer = nn.Linear(config.text_config.hidden_size, embed_dim)

    def forward(self, **inputs: torch.Tensor) -> torch.Tensor:
        hidden = self.vlm.model(**inputs)[0]
        embeddings = self.embedding_proj_layer(hidden)
        denom = embeddings.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(embeddings.dtype).eps)
        return (embeddings / denom) * inputs["attention_mask"].unsqueeze(-1)


def test_tomoro_queries_and_pages(tmp_path: Path) -> None:
    folder = _checkpoint(tmp_path / "tomoro", "colqwen3", dim=16)
    llm = LLM(str(folder), device="cpu")
    tokenizer = llm.model.tokenizer
    config = tiny_vl.qwen3_vl_config(tokenizer)
    model = TomoroColQwen3(config, 16).eval()
    model.load_state_dict(load_file(str(folder / "model.safetensors")), strict=True)
    tokenizer.padding_side = "left"  # processing_colqwen3.py sets it
    # processing_colqwen3.py: a text-only item is query_prefix ("") + text.strip() + ten
    # query_augmentation_tokens (the tokenizer's pad token).
    prompts = ["" + q.strip() + tokenizer.pad_token * 10 for q in QUERIES]
    batch = _tokens(tokenizer, prompts, padding="longest")
    with torch.inference_mode():
        theirs = _rows(model(**batch), batch["attention_mask"])
    diff = _assert_rows(llm.encode_queries(QUERIES), theirs)
    print(f"TomoroAI queries: max abs diff {diff:.2e}")
    # An image item: visual_prompt_prefix + visual_prompt_suffix, placeholder expanded.
    page = _page()
    pixels = _pixels(page)
    prompt = (
        "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Describe the image."
        + "<|im_end|><|endoftext|>"
    )
    batch = _tokens(tokenizer, [_expand(prompt, pixels["image_grid_thw"][0])])
    with torch.inference_mode():
        theirs = _rows(model(**batch, **pixels), batch["attention_mask"])
    diff = _assert_rows(llm.encode_documents([page]), theirs)
    print(f"TomoroAI page: max abs diff {diff:.2e}")
    # The bias is part of the authors' projection (vLLM's ColQwen3Model builds its projection
    # with bias=False when embed_dim is known and so drops it: the toolkit follows the authors).
    assert llm.model.head.projections[0].bias is not None


# -- OpenSearch (through vLLM's loader) -------------------------------------------------------
# vllm/model_executor/models/colqwen3.py: ColQwen3Model.hf_to_vllm_mapper, every matching rule
# applied in order (no early exit), after load_weights re-prefixes all-unprefixed checkpoints.
VLLM_RULES = (
    ("vlm.model.visual.", "visual."),
    ("vlm.lm_head.", "language_model.lm_head."),
    ("vlm.model.language_model.", "language_model.model."),
    ("model.visual.", "visual."),
    ("lm_head.", "language_model.lm_head."),
    ("model.language_model.model.", "language_model.model."),
    ("model.language_model.", "language_model.model."),
)
VLLM_PROJECTIONS = ("custom_text_proj", "embedding_proj_layer")


def _vllm_names(names: list[str]) -> dict[str, str]:
    """Checkpoint name -> vLLM parameter name, for backbone weights (projection excluded)."""
    unprefixed = any(n.startswith(("language_model.", "visual.")) for n in names)
    prefixed = any(n.startswith(("vlm.", "model.")) for n in names)
    mapped = {}
    for name in names:
        if any(p in name for p in VLLM_PROJECTIONS):
            continue
        new = "model." + name if unprefixed and not prefixed else name
        for old, replacement in VLLM_RULES:
            if new.startswith(old):
                new = replacement + new[len(old) :]
        mapped[name] = new
    return mapped


def _hf_name(vllm_name: str) -> str | None:
    """vLLM's Qwen3-VL parameter name -> transformers' Qwen3VLModel name (None: lm_head)."""
    if vllm_name.startswith("language_model.lm_head."):
        return None
    if vllm_name.startswith("language_model.model."):
        return "language_model." + vllm_name[len("language_model.model.") :]
    return vllm_name


@pytest.mark.parametrize("layout", ["unprefixed", "legacy language_model.model.", "model."])
def test_opensearch_weights_land_where_vllm_puts_them(tmp_path: Path, layout: str) -> None:
    folder = _checkpoint(tmp_path / "ops", "ops_colqwen3", dim=24)
    path = folder / "model.safetensors"
    weights = load_file(str(path))
    if layout.startswith("legacy"):
        weights = {
            ("language_model.model." + k[len("language_model.") :])
            if k.startswith("language_model.")
            else k: v
            for k, v in weights.items()
        }
    elif layout == "model.":
        weights = {f"model.{k}": v for k, v in weights.items()}
    save_file(weights, str(path), metadata={"format": "pt"})
    llm = LLM(str(folder), device="cpu")
    loaded = llm.model.backbone.state_dict()
    mapped = _vllm_names(list(weights))
    targets = {_hf_name(v): k for k, v in mapped.items() if _hf_name(v) is not None}
    assert set(targets) == set(loaded)  # every backbone parameter, none left over
    for hf_name, checkpoint_name in targets.items():
        assert torch.equal(loaded[hf_name], weights[checkpoint_name]), hf_name
    # vLLM: embed_dim from `dims`, projection from custom_text_proj, then F.normalize.
    projection = llm.model.head.projections[0]
    proj_weight = next(v for k, v in weights.items() if k.endswith("custom_text_proj.weight"))
    assert projection.out_features == 24
    assert torch.equal(projection.weight.detach(), proj_weight)


def test_opensearch_projection_free_export_is_normalized_hidden_states(tmp_path: Path) -> None:
    """vLLM's ColQwen3Model with no projection weights and dims == hidden size: forward skips
    the projection and returns F.normalize(hidden_states)."""
    from transformers import Qwen3VLModel

    folder = _checkpoint(tmp_path / "ops", "ops_colqwen3", projection=False)
    llm = LLM(str(folder), device="cpu")
    model = Qwen3VLModel(tiny_vl.qwen3_vl_config(llm.model.tokenizer)).eval()
    model.load_state_dict(load_file(str(folder / "model.safetensors")), strict=True)
    ids = llm.model.tokenizer("blue sky")["input_ids"]
    with torch.inference_mode():
        hidden = model(input_ids=torch.tensor([ids])).last_hidden_state[0]
    (out,) = llm.encode("blue sky", pooling_task="token_embed")
    diff = _assert_rows([out.outputs.data], [F.normalize(hidden, p=2, dim=-1)])
    print(f"OpenSearch projection-free: max abs diff {diff:.2e}")


# -- NVIDIA Nemotron ---------------------------------------------------------------------------
def _nemotron_text_forward(self: Any, **kwargs: Any) -> Any:
    """modeling_qwen3_vl_nemotron_embed.py ``Qwen3VLNemotronEmbedTextModel.forward``: a 4-D
    bidirectional padding mask (``_prepare_4d_attention_mask``), the decoder layers with
    deepstack injection, and no final norm."""
    from transformers.modeling_attn_mask_utils import _prepare_4d_attention_mask
    from transformers.modeling_outputs import BaseModelOutputWithPast

    embeds = kwargs["inputs_embeds"]
    position_ids, mask = kwargs.get("position_ids"), kwargs.get("attention_mask")
    if position_ids is None:
        position_ids = torch.arange(embeds.shape[1]).view(1, 1, -1).expand(3, embeds.shape[0], -1)
    elif position_ids.ndim == 2:
        position_ids = position_ids[None, ...].expand(3, position_ids.shape[0], -1)
    if position_ids.ndim == 3 and position_ids.shape[0] == 4:
        text_positions, position_ids = position_ids[0], position_ids[1:]
    else:
        text_positions = position_ids[0]
    if mask is not None:
        mask = _prepare_4d_attention_mask(mask, dtype=embeds.dtype, tgt_len=embeds.shape[1])
    hidden = embeds
    rotary = self.rotary_emb(hidden, position_ids)
    deepstack = kwargs.get("deepstack_visual_embeds")
    for index, layer in enumerate(self.layers):
        hidden = layer(
            hidden, attention_mask=mask, position_ids=text_positions, position_embeddings=rotary
        )
        if deepstack is not None and index < len(deepstack):
            hidden = self._deepstack_process(hidden, kwargs["visual_pos_masks"], deepstack[index])
    return BaseModelOutputWithPast(last_hidden_state=hidden)


def _nemotron(folder: Path, tokenizer: Any) -> Any:
    from transformers import Qwen3VLForConditionalGeneration

    model = Qwen3VLForConditionalGeneration(tiny_vl.qwen3_vl_config(tokenizer)).eval()
    model.load_state_dict(load_file(str(folder / "model.safetensors")), strict=True)
    text_model = model.model.language_model
    for layer in text_model.layers:
        layer.self_attn.is_causal = False
    text_model.forward = MethodType(_nemotron_text_forward, text_model)
    return model


def _nemotron_embed(model: Any, batch: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    """EmbeddingMixin._extract_embeddings: hidden states x mask, then F.normalize."""
    with torch.inference_mode():
        hidden = model.model(**batch).last_hidden_state
    embeddings = F.normalize(hidden * batch["attention_mask"].unsqueeze(-1), dim=-1)
    return _rows(embeddings, batch["attention_mask"])


def test_nemotron_queries_pages_and_passages(tmp_path: Path) -> None:
    folder = _checkpoint(tmp_path / "nemotron", "qwen3_vl_nemotron_embed")
    llm = LLM(str(folder), device="cpu")
    tokenizer = llm.model.tokenizer
    model = _nemotron(folder, tokenizer)

    def chat(content: list[dict[str, Any]]) -> str:
        # Qwen3VLNemotronEmbedProcessor.apply_chat_template(..., add_generation_prompt=True)
        turn = [{"role": "user", "content": content}]
        return str(tokenizer.apply_chat_template(turn, tokenize=False, add_generation_prompt=True))

    # process_queries: "Query: " + f"{query_prefix} {text}" (query_prefix "query:"), padded
    # together in one batch (bidirectional attention must not see the padding).
    prompts = [chat([{"type": "text", "text": f"Query: query: {q}"}]) for q in QUERIES]
    batch = _tokens(tokenizer, prompts, padding=True)
    diff = _assert_rows(llm.encode_queries(QUERIES), _nemotron_embed(model, batch))
    print(f"Nemotron queries: max abs diff {diff:.2e}")
    # process_documents with an image and text "": [image, "passage: "] (f"{prefix} {text}").
    page = _page()
    pixels = _pixels(page)
    prompt = chat([{"type": "image"}, {"type": "text", "text": "passage: "}])
    batch = _tokens(tokenizer, [_expand(prompt, pixels["image_grid_thw"][0])])
    theirs = _nemotron_embed(model, {**batch, **pixels})
    diff = _assert_rows(llm.encode_documents([page]), theirs)
    print(f"Nemotron page: max abs diff {diff:.2e}")
    # A text passage: NVIDIA's processor always has an image; the toolkit's text-only analogue
    # is the same turn without it.
    prompt = chat([{"type": "text", "text": "passage: the cat sleeps"}])
    batch = _tokens(tokenizer, [prompt])
    diff = _assert_rows(llm.encode_documents(["the cat sleeps"]), _nemotron_embed(model, batch))
    print(f"Nemotron text passage: max abs diff {diff:.2e}")
