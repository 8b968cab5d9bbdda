"""Images to Qwen2-VL patch rows, with the pixels transformers' default image processor gives.

``Qwen2VLImageProcessor`` (what ``AutoProcessor`` loads whenever torchvision is installed, so
what colpali-engine, the checkpoints' own code and vLLM all run) resizes a ``uint8`` tensor
with torch's antialiased bicubic kernel. The PIL-backend twin resizes with PIL instead: up to
15 grey levels apart on upscaled pages, a different vector on nearly every real page (every
page is resized to a multiple of ``patch_size * merge_size``). This module does what the
torchvision path does with torch alone (torchvision is not a dependency); the differential
test in tests/reference/test_colqwen3_colpali.py checks it against the real one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from retrieval.errors import ConfigError

# PIL resample codes -> torch interpolate modes (the ones transformers' processors use).
_MODES = {0: "nearest-exact", 2: "bilinear", 3: "bicubic"}


@dataclass(frozen=True)
class PixelSettings:
    """The parts of a Qwen2-VL image processor configuration that change pixels."""

    patch_size: int = 14
    merge_size: int = 2
    temporal_patch_size: int = 2
    min_pixels: int = 56 * 56
    max_pixels: int = 28 * 28 * 1280
    mode: str = "bicubic"
    do_resize: bool = True
    do_rescale: bool = True
    rescale_factor: float = 1 / 255
    do_normalize: bool = True
    image_mean: tuple[float, ...] = (0.48145466, 0.4578275, 0.40821073)
    image_std: tuple[float, ...] = (0.26862954, 0.26130258, 0.27577711)

    @classmethod
    def from_config(cls, raw: dict[str, Any], where: str) -> PixelSettings:
        """From ``preprocessor_config.json`` keys (``size`` or the older ``min_pixels`` /
        ``max_pixels``, which win when both are present, as in transformers)."""
        size: dict[str, Any] = raw["size"] if isinstance(raw.get("size"), dict) else {}
        defaults = cls()
        resample = int(raw.get("resample", 3))
        if resample not in _MODES:
            msg = f"{where}: image resample mode {resample} is not supported (use 2 or 3)."
            raise ConfigError(msg)
        return cls(
            patch_size=int(raw.get("patch_size", defaults.patch_size)),
            merge_size=int(raw.get("merge_size", defaults.merge_size)),
            temporal_patch_size=int(raw.get("temporal_patch_size", defaults.temporal_patch_size)),
            min_pixels=int(raw.get("min_pixels") or size.get("shortest_edge") or cls.min_pixels),
            max_pixels=int(raw.get("max_pixels") or size.get("longest_edge") or cls.max_pixels),
            mode=_MODES[resample],
            do_resize=bool(raw.get("do_resize", True)),
            do_rescale=bool(raw.get("do_rescale", True)),
            rescale_factor=float(raw.get("rescale_factor", defaults.rescale_factor)),
            do_normalize=bool(raw.get("do_normalize", True)),
            image_mean=tuple(float(v) for v in raw.get("image_mean", defaults.image_mean)),
            image_std=tuple(float(v) for v in raw.get("image_std", defaults.image_std)),
        )

    @property
    def factor(self) -> int:
        return self.patch_size * self.merge_size


def read_settings(folder: Path) -> PixelSettings:
    """``preprocessor_config.json``, or the ``image_processor`` section of
    ``processor_config.json`` (where transformers 5 and colpali-engine save it)."""
    path = folder / "preprocessor_config.json"
    raw: Any = None
    if path.is_file():
        raw = json.loads(path.read_text(encoding="utf-8"))
    elif (folder / "processor_config.json").is_file():
        combined = json.loads((folder / "processor_config.json").read_text(encoding="utf-8"))
        raw = combined.get("image_processor") if isinstance(combined, dict) else None
    if not isinstance(raw, dict):
        msg = (
            f"Model {str(folder)!r} has no image processor settings (preprocessor_config.json, "
            "or an 'image_processor' section in processor_config.json)."
        )
        raise ConfigError(msg)
    return PixelSettings.from_config(raw, f"Model {str(folder)!r}")


def target_size(height: int, width: int, settings: PixelSettings) -> tuple[int, int]:
    """The resized ``(height, width)``: multiples of the merged patch, within the pixel
    limits (transformers' ``smart_resize``); unchanged multiples when resizing is off."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

    if not settings.do_resize:
        return height, width
    try:
        h, w = smart_resize(
            height,
            width,
            factor=settings.factor,
            min_pixels=settings.min_pixels,
            max_pixels=settings.max_pixels,
        )
    except ValueError as err:
        msg = f"Image of {width}x{height} pixels: {err}"
        raise ConfigError(msg) from err
    return int(h), int(w)


def image_patches(image: Any, settings: PixelSettings) -> tuple[torch.Tensor, torch.Tensor]:
    """One RGB PIL image -> ``(grid_h * grid_w, C * T * P * P)`` patch rows and its
    ``(1, 3)`` ``(t, h, w)`` grid, in the order the vision tower reads them."""
    pixels = torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.uint8).copy())
    data = pixels.permute(2, 0, 1)[None]  # (1, C, H, W) uint8
    height, width = target_size(data.shape[-2], data.shape[-1], settings)
    if height % settings.factor or width % settings.factor:
        msg = (
            f"Image of {data.shape[-1]}x{data.shape[-2]} pixels is not a multiple of "
            f"{settings.factor} and the image processor does not resize."
        )
        raise ConfigError(msg)
    if (height, width) != tuple(data.shape[-2:]):
        # torch resizes uint8 natively on CPU (rounding to uint8), as torchvision then does.
        data = F.interpolate(
            data,
            size=[height, width],
            mode=settings.mode,
            antialias=settings.mode != "nearest-exact",
            align_corners=None if settings.mode == "nearest-exact" else False,
        )
    values = data.to(torch.float32)
    scale = 1 / settings.rescale_factor if settings.do_rescale else 1.0
    if settings.do_normalize:
        # rescale and normalize fused into one affine step, as transformers does
        mean = torch.tensor(settings.image_mean) * scale
        std = torch.tensor(settings.image_std) * scale
        values = (values - mean[:, None, None]) / std[:, None, None]
    elif settings.do_rescale:
        values = values * settings.rescale_factor
    return _patchify(values, settings), torch.tensor(
        [[1, height // settings.patch_size, width // settings.patch_size]]
    )


def _patchify(images: torch.Tensor, settings: PixelSettings) -> torch.Tensor:
    batch, channels, height, width = images.shape
    p, m, t = settings.patch_size, settings.merge_size, settings.temporal_patch_size
    gh, gw = height // p, width // p
    patches = images.reshape(batch, channels, gh // m, m, p, gw // m, m, p)
    # (batch, gh/m, gw/m, m, m, C, P, P): merged 2x2 blocks stay adjacent in the sequence
    patches = patches.permute(0, 2, 5, 3, 6, 1, 4, 7).unsqueeze(6)
    patches = patches.expand(-1, -1, -1, -1, -1, -1, t, -1, -1)
    return patches.reshape(batch * gh * gw, channels * t * p * p)
