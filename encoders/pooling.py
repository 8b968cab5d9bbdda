"""Pooling = method x head (vLLM's ``SequencePooler(pooling, head)``).

Methods pick or aggregate hidden states: CLS, MEAN, LAST (sequence-wise) and ALL (token-wise).
The head runs after: projection (sentence-transformers ``Dense``) -> Matryoshka truncation ->
L2 normalization.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from encoders.st_config import DenseSpec
from retrieval.errors import ConfigError, UnsafeModelError

# Activation classes a Dense module may name; resolved from this table, never imported.
_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "Identity": nn.Identity,
    "Tanh": nn.Tanh,
    "ReLU": nn.ReLU,
    "GELU": nn.GELU,
    "Sigmoid": nn.Sigmoid,
    "SiLU": nn.SiLU,
}


def first_token_index(mask: torch.Tensor) -> torch.Tensor:
    """Index of the first real token per row (handles left padding). ``(b, l) -> (b,)``"""
    return mask.int().argmax(dim=1)


def last_token_index(mask: torch.Tensor) -> torch.Tensor:
    """Index of the last real token per row (handles right padding). ``(b, l) -> (b,)``"""
    length = mask.shape[1]
    return length - 1 - mask.int().flip(dims=[1]).argmax(dim=1)


def pool_sequences(hidden: torch.Tensor, mask: torch.Tensor, pooling_type: str) -> torch.Tensor:
    """Sequence pooling. ``hidden (b, l, h)``, ``mask (b, l)`` -> ``(b, h)``."""
    rows = torch.arange(hidden.shape[0], device=hidden.device)
    if pooling_type == "CLS":
        return hidden[rows, first_token_index(mask)]
    if pooling_type == "LAST":
        return hidden[rows, last_token_index(mask)]
    if pooling_type == "MEAN":
        # Same arithmetic as sentence-transformers: masked sum over the clamped count.
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        summed = (hidden * weights).sum(dim=1)
        return summed / weights.sum(dim=1).clamp(min=1e-9)
    msg = f"Pooling type {pooling_type!r} is not a sequence pooling. Use CLS, MEAN or LAST."
    raise ConfigError(msg)


def pool_tokens(hidden: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
    """ALL pooling: the real tokens of each row. ``(b, l, h)`` -> list of ``(l_i, h)``."""
    keep = mask.bool()
    return [hidden[i, keep[i]] for i in range(hidden.shape[0])]


class DenseProjection(nn.Module):
    """A sentence-transformers ``Dense`` module: ``activation(linear(x))``."""

    def __init__(self, spec: DenseSpec, allow_pickle: bool) -> None:
        super().__init__()
        if spec.activation not in _ACTIVATIONS:
            msg = (
                f"Dense module {str(spec.folder)!r} uses activation {spec.activation!r}; "
                f"supported: {', '.join(_ACTIVATIONS)}."
            )
            raise ConfigError(msg)
        self.linear = nn.Linear(spec.in_features, spec.out_features, bias=spec.bias)
        self.activation = _ACTIVATIONS[spec.activation]()
        self.linear.load_state_dict(_dense_state(spec.folder, allow_pickle))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.linear(x))


def _dense_state(folder: Path, allow_pickle: bool) -> dict[str, torch.Tensor]:
    safe = folder / "model.safetensors"
    if safe.is_file():
        state = load_file(str(safe))
    elif (folder / "pytorch_model.bin").is_file():
        if not allow_pickle:
            msg = (
                f"{str(folder / 'pytorch_model.bin')!r} is a pickle file, which can run code "
                "when loaded. Convert it to safetensors, or pass allow_pickle_weights=True if "
                "you trust its source."
            )
            raise UnsafeModelError(msg)
        state = torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)
    else:
        msg = f"Dense module folder {str(folder)!r} has no model.safetensors."
        raise ConfigError(msg)
    # Keys are "linear.weight"/"linear.bias" in every sentence-transformers version.
    return {k.removeprefix("linear."): v for k, v in state.items()}


class EmbeddingHead(nn.Module):
    """Projection -> Matryoshka truncation -> optional L2 normalization."""

    def __init__(self, projections: Sequence[nn.Module] = ()) -> None:
        super().__init__()
        self.projections = nn.ModuleList(projections)
        self.dtype = next(projections[0].parameters()).dtype if projections else None

    def forward(self, x: torch.Tensor, dimensions: int | None, normalize: bool) -> torch.Tensor:
        """``x (..., h)`` -> ``(..., dimensions or d)``."""
        if self.dtype is not None:
            x = x.to(self.dtype)
        for projection in self.projections:
            x = projection(x)
        if dimensions is not None:
            x = x[..., :dimensions]
        if normalize:
            x = F.normalize(x.float(), p=2, dim=-1)
        return x
