"""Matryoshka ``dimensions`` validation with vLLM's messages."""

from __future__ import annotations

from typing import TYPE_CHECKING

from retrieval.errors import ConfigError

if TYPE_CHECKING:
    from encoders.model import PoolingModel


def check_dimensions(model: PoolingModel, dimensions: int) -> None:
    """Allow ``dimensions`` only where the config declares Matryoshka support."""
    name = model.name
    if not model.is_matryoshka:
        msg = (
            f'Model "{name}" does not support matryoshka representation, changing output '
            "dimensions will lead to poor results."
        )
        raise ConfigError(msg)
    if dimensions < 1:
        msg = f"Dimensions must be greater than 0, got {dimensions}."
        raise ConfigError(msg)
    allowed = model.matryoshka_dimensions
    if allowed is not None and dimensions not in allowed:
        msg = (
            f'Model "{name}" only supports {allowed} matryoshka dimensions, use other '
            "output dimensions will lead to poor results."
        )
        raise ConfigError(msg)
    if dimensions > model.embedding_size:
        msg = (
            f"Dimensions {dimensions} exceed the embedding size {model.embedding_size} "
            f'of model "{name}".'
        )
        raise ConfigError(msg)
