"""ColQwen3-style late-interaction models on transformers' own Qwen3-VL classes.

``ColQwenModel`` is a ``PoolingModel`` (so the ``LLM`` runtime, its engine and its text paths
work unchanged) whose backbone is ``transformers.Qwen3VLModel`` loaded from the family's
weight names, followed by the family's projection and a per-token L2 norm. No remote code
runs: the three families differ only in names and two switches (see ``formats.py``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from torch import nn

from encoders import loading
from encoders.architectures import Family
from encoders.batching import plan_batches
from encoders.config import PoolerConfig
from encoders.model import PoolerSettings, PoolingModel
from encoders.pooling import EmbeddingHead, pool_tokens
from encoders.resolve import ResolvedModel
from encoders.vision.formats import (
    OUTER_PREFIXES,
    VisionFormat,
    projection_size,
    qwen3_vl_config,
    vision_format,
)
from encoders.vision.processor import Prepared, VisionProcessor
from retrieval.errors import ConfigError

logger = logging.getLogger(__name__)


def detect_format(folder: Path, hf_overrides: loading.HfOverrides) -> VisionFormat | None:
    """The ColQwen3 family a folder holds (after dict ``hf_overrides``), else None."""
    raw = loading.read_config_json(folder)
    if isinstance(hf_overrides, dict):
        raw = {**raw, **hf_overrides}
    return vision_format(list(raw.get("architectures") or []))


class ColQwenModel(PoolingModel):
    """Qwen3-VL backbone + projection + L2 norm, per token, for text and images."""

    def __init__(
        self,
        resolved: ResolvedModel,
        *,
        pooler_config: PoolerConfig,
        hf_overrides: loading.HfOverrides,
        trust_remote_code: bool,
        dtype: torch.dtype,
        device: torch.device,
        max_model_len: int | None,
        allow_pickle_weights: bool,
        convert: str = "auto",
    ) -> None:
        # Deliberately not PoolingModel.__init__: AutoConfig cannot read these model types
        # without remote code, and the backbone needs renamed weights.
        folder = resolved.path
        raw = loading.read_config_json(folder)
        if isinstance(hf_overrides, dict):
            raw = {**raw, **hf_overrides}
        fmt = vision_format(list(raw.get("architectures") or []))
        if fmt is None:
            msg = f"Model {resolved.name!r} is not a ColQwen3-style checkpoint."
            raise ConfigError(msg)
        if convert not in ("auto", "embed"):
            msg = f"{fmt.architecture} is a token-embedding model; convert={convert!r} is invalid."
            raise ConfigError(msg)
        loading.check_weights(folder, False)
        self.name = resolved.name
        self.resolved = resolved
        self.device = device
        self.dtype = dtype
        self.format = fmt
        self.hf_config = qwen3_vl_config(raw, str(folder))
        self.st_config = None
        with _quiet_transformers():
            # AutoTokenizer reads config.json and warns that it does not know the model type.
            self.tokenizer = loading.load_tokenizer(folder, trust_remote_code=False)
        self.pooler_config = pooler_config
        self.family: Family = "colqwen"
        self.settings = PoolerSettings("ALL", True, pooler_config.dimensions)
        self.max_model_len = self._vision_max_len(max_model_len)
        self.m3 = None
        self.colbert = None
        self.backbone = _load_backbone(folder, self.hf_config, fmt, dtype, device)
        size = projection_size(raw, fmt)
        projection = _load_projection(folder, fmt, size, self.hidden_size, dtype, device)
        self.head = EmbeddingHead([projection] if projection is not None else []).eval()
        self._projected_size = projection.out_features if projection is not None else 0
        self.pad_token_id = self._pad_id()
        self.processor = VisionProcessor(folder, self.tokenizer, self.hf_config, fmt)

    @property
    def hidden_size(self) -> int:
        return int(self.hf_config.text_config.hidden_size)

    def _vision_max_len(self, requested: int | None) -> int:
        derived = int(self.hf_config.text_config.max_position_embeddings)
        if requested is None:
            return derived
        if requested < 1 or requested > derived:
            msg = (
                f"User-specified max_model_len ({requested}) must be between 1 and the "
                f"derived max_model_len ({derived}) of this model."
            )
            raise ConfigError(msg)
        return requested

    # -- forward ----------------------------------------------------------------------------
    def hidden_states(self, batch: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Text-only batch: last hidden states ``(b, l, h)`` and mask ``(b, l)``."""
        inputs = self.model_inputs(batch)
        output = self.backbone(**inputs)
        return output.last_hidden_state, inputs["attention_mask"]

    @torch.inference_mode()
    def token_embed_batch(
        self, batch: list[list[int]], dimensions: int | None, normalize: bool
    ) -> list[torch.Tensor]:
        """Per-token vectors of text-only inputs: ``(n_tokens, d)`` each."""
        hidden, mask = self.hidden_states(batch)
        return [self.apply_head(t, dimensions, normalize) for t in pool_tokens(hidden, mask)]

    @torch.inference_mode()
    def prepared_batch(
        self, batch: list[Prepared], dimensions: int | None = None, normalize: bool = True
    ) -> list[torch.Tensor]:
        """Per-token vectors of prepared (text and/or image) items: ``(n_tokens, d)`` each."""
        inputs = self.model_inputs([p.token_ids for p in batch])
        inputs["mm_token_type_ids"] = (inputs["input_ids"] == self.processor.image_token_id).to(
            torch.int32
        )
        pixels = [p.pixel_values for p in batch if p.pixel_values is not None]
        if pixels:
            inputs["pixel_values"] = torch.cat(pixels).to(self.device, self.dtype)
            grids = [p.grids for p in batch if p.grids is not None]
            inputs["image_grid_thw"] = torch.cat(grids).to(self.device)
        output = self.backbone(**inputs)
        tokens = pool_tokens(output.last_hidden_state, inputs["attention_mask"])
        return [self.apply_head(t, dimensions, normalize) for t in tokens]

    def embed_prepared(
        self,
        prepared: list[Prepared],
        max_tokens: int,
        max_seqs: int,
        dimensions: int | None = None,
        normalize: bool = True,
    ) -> list[torch.Tensor]:
        """``prepared_batch`` over token-budgeted batches, results in input order."""
        results: list[torch.Tensor] = [torch.empty(0)] * len(prepared)
        for batch in plan_batches([len(p.token_ids) for p in prepared], max_tokens, max_seqs):
            outputs = self.prepared_batch([prepared[i] for i in batch], dimensions, normalize)
            for index, output in zip(batch, outputs, strict=True):
                results[index] = output
        return results

    def modules(self) -> list[nn.Module]:
        return [self.backbone, self.head]


def _load_backbone(
    folder: Path, config: Any, fmt: VisionFormat, dtype: torch.dtype, device: torch.device
) -> nn.Module:
    from transformers import Qwen3VLModel

    if fmt.bidirectional:
        # create_causal_mask falls back to a bidirectional mask when the config says so.
        config.text_config.is_causal = False
    # The projection / lm_head keys are "unexpected" to Qwen3VLModel: expected here.
    with _quiet_transformers():
        loaded: Any = Qwen3VLModel.from_pretrained(
            str(folder),
            config=config,
            dtype=dtype,
            use_safetensors=True,
            key_mapping=dict(fmt.prefixes),
            attn_implementation="sdpa",
            output_loading_info=True,
        )
    model, info = loaded
    missing = sorted(info.get("missing_keys") or [])
    if missing:
        msg = (
            f"Model {str(folder)!r} ({fmt.architecture}) lacks backbone weights "
            f"{missing[:4]}...; the checkpoint does not match its declared architecture."
        )
        raise ConfigError(msg)
    if fmt.bidirectional:
        for layer in model.language_model.layers:
            layer.self_attn.is_causal = False
    if fmt.skip_final_norm:
        model.language_model.norm = nn.Identity()
    return model.to(device).eval()


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    """transformers' warnings and progress bars off for the duration (library noise)."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bar_was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bar_was_on:
            hf_logging.enable_progress_bar()


def _load_projection(
    folder: Path,
    fmt: VisionFormat,
    size: int | None,
    hidden: int,
    dtype: torch.dtype,
    device: torch.device,
) -> nn.Linear | None:
    """The family's ``hidden -> dim`` linear layer, read by name from the safetensors files;
    None when the checkpoint has none and its size (if stated) is the hidden size, as vLLM
    treats projection-free exports (vectors are then the normalized hidden states)."""
    tensors = _read_tensors(folder, fmt.projection) if fmt.projection else {}
    for name in fmt.projection:
        weight = tensors.get(f"{name}.weight")
        if weight is None:
            continue
        if size is not None and weight.shape[0] != size:
            msg = (
                f"Model {str(folder)!r}: projection {name}.weight has {weight.shape[0]} "
                f"outputs but config.json says {size}."
            )
            raise ConfigError(msg)
        bias = tensors.get(f"{name}.bias")
        linear = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
        with torch.no_grad():
            linear.weight.copy_(weight)
            if bias is not None:
                linear.bias.copy_(bias)
        return linear.to(device=device, dtype=dtype)
    if size is None or size == hidden:
        if fmt.projection:
            logger.info("%s has no projection weights: using its hidden states.", folder)
        return None
    msg = (
        f"Model {str(folder)!r} ({fmt.architecture}) declares {size}-dim vectors but has no "
        f"projection weights; looked for {[f'{n}.weight' for n in fmt.projection]}."
    )
    raise ConfigError(msg)


def _read_tensors(folder: Path, names: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """Tensors under the given top-level names, outer prefixes (``model.``, ...) removed."""
    files = sorted(folder.glob("*.safetensors"))
    found: dict[str, torch.Tensor] = {}
    for file in files:
        with safe_open(str(file), framework="pt") as handle:
            for key in handle.keys():  # noqa: SIM118 - safe_open is not a mapping
                bare = key
                for pattern, replacement in OUTER_PREFIXES:
                    bare = re.sub(pattern, replacement, bare)
                if bare.split(".", 1)[0] in names:
                    found[bare] = handle.get_tensor(key)
    return found
