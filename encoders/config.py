"""Closed vocabularies and the model-level pooler configuration (vLLM's ``PoolerConfig``)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal, get_args

from retrieval.errors import ConfigError

PoolingType = Literal["CLS", "MEAN", "LAST", "ALL"]
POOLING_TYPES: tuple[str, ...] = get_args(PoolingType)

PoolingTask = Literal["embed", "classify", "score", "token_embed", "token_classify", "plugin"]
POOLING_TASKS: tuple[str, ...] = get_args(PoolingTask)

Runner = Literal["auto", "pooling", "generate"]
RUNNERS: tuple[str, ...] = get_args(Runner)

Convert = Literal["auto", "none", "embed", "classify"]
CONVERTS: tuple[str, ...] = get_args(Convert)

TruncationSide = Literal["left", "right"]
TRUNCATION_SIDES: tuple[str, ...] = get_args(TruncationSide)


def check_choice(name: str, value: str, valid: tuple[str, ...], fix: str) -> str:
    """Return ``value`` if it is one of ``valid``; else raise an error listing them."""
    if value not in valid:
        msg = f"Unknown {name} {value!r}. Valid: {', '.join(valid)}. {fix}"
        raise ConfigError(msg)
    return value


@dataclass(frozen=True)
class PoolerConfig:
    """Overrides of the model's pooler; takes priority over model and sentence-transformers
    defaults (vLLM's ``--pooler-config``)."""

    pooling_type: str | None = None
    """``CLS``, ``MEAN``, ``LAST`` or ``ALL``; ``None`` keeps the model's default."""
    use_activation: bool | None = None
    """Whether to apply the task's activation (L2 normalization for ``embed``)."""
    normalize: bool | None = None
    """Deprecated alias of ``use_activation`` for embedding models (vLLM accepts both)."""
    dimensions: int | None = None
    """Default Matryoshka output size for requests that do not set ``dimensions``."""
    enable_chunked_processing: bool = False
    """Embed inputs longer than the model by splitting them into model-length chunks and
    averaging the chunks' pooled states weighted by their token counts (vLLM's option)."""
    max_embed_len: int | None = None
    """With chunked processing: the longest input accepted, in tokens (None = no limit)."""

    def __post_init__(self) -> None:
        if self.pooling_type is not None:
            upper = self.pooling_type.upper()
            check_choice(
                "pooling type",
                upper,
                POOLING_TYPES,
                'Set pooler_config={"pooling_type": ...}.',
            )
            object.__setattr__(self, "pooling_type", upper)
        both_set = self.normalize is not None and self.use_activation is not None
        if both_set and self.normalize != self.use_activation:
            msg = (
                "Cannot set both `normalize` and `use_activation` to different values; "
                "`normalize` is a deprecated alias, set only `use_activation`."
            )
            raise ConfigError(msg)
        if self.max_embed_len is not None and self.max_embed_len < 1:
            msg = f"max_embed_len must be a positive number of tokens, got {self.max_embed_len}."
            raise ConfigError(msg)

    @property
    def activation(self) -> bool | None:
        """The effective ``use_activation`` (``normalize`` folded in)."""
        return self.use_activation if self.use_activation is not None else self.normalize

    def max_input_tokens(self, max_model_len: int) -> int | None:
        """Longest accepted input: the model length, or the chunked-processing cap."""
        if not self.enable_chunked_processing:
            return max_model_len
        return self.max_embed_len

    @classmethod
    def from_value(cls, value: PoolerConfig | dict[str, Any] | None) -> PoolerConfig:
        """Accept a ``PoolerConfig``, a plain dict (as vLLM's ``--pooler-config``) or None."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if not isinstance(value, dict):
            msg = f"pooler_config must be a dict or PoolerConfig, got {type(value).__name__}."
            raise ConfigError(msg)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(value) - known)
        if unknown:
            msg = f"Unknown pooler_config keys {unknown}. Valid keys: {sorted(known)}."
            raise ConfigError(msg)
        return cls(**value)
