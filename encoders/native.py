"""What the toolkit's own backbones (``bert``, ``jina_xlmr``) share: transformers' output
shape and the safetensors files of a folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import torch


class BackboneOutput(NamedTuple):
    """Mirrors transformers' output: ``output[0]`` and ``output.last_hidden_state``."""

    last_hidden_state: torch.Tensor
    """``(b, l, h)``."""


def safetensors_files(folder: Path) -> list[Path] | None:
    """The folder's weight files (sharded through ``model.safetensors.index.json``, or one
    ``model.safetensors``); ``None`` when it has neither."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        return [folder / name for name in sorted(set(weight_map.values()))]
    single = folder / "model.safetensors"
    return [single] if single.is_file() else None
