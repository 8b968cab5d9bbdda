"""Per-request pooling parameters (vLLM's ``PoolingParams``), merged with model defaults
explicitly instead of mutating the request."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from retrieval.errors import ConfigError

# Which request parameters each task accepts (mirrors vLLM's per-task validation).
_EMBED = ("dimensions", "use_activation", "normalize", "activation", "truncate_prompt_tokens")
_CLASSIFY = ("use_activation", "softmax", "activation", "truncate_prompt_tokens")
_VALID_PARAMETERS: dict[str, tuple[str, ...]] = {
    "embed": _EMBED,
    "token_embed": _EMBED,
    "classify": _CLASSIFY,
    "score": (*_CLASSIFY, "extra_kwargs"),
    "token_classify": _CLASSIFY,
    "plugin": ("truncate_prompt_tokens",),
}
_ALIASES = ("use_activation", "normalize", "softmax", "activation")


@dataclass
class PoolingParams:
    """API parameters for pooling requests, as in vLLM.

    Example: ``llm.embed(texts, pooling_params=PoolingParams(dimensions=32))``.
    """

    dimensions: int | None = None
    """Matryoshka output size; only for models that declare Matryoshka support."""
    use_activation: bool | None = None
    """Apply the task's activation (L2 normalization for embeddings); None = model default."""
    normalize: bool | None = None
    """Deprecated alias of ``use_activation`` for embeddings."""
    softmax: bool | None = None
    """Deprecated alias of ``use_activation`` for classification."""
    activation: bool | None = None
    """Deprecated alias of ``use_activation`` (older vLLM releases)."""
    truncate_prompt_tokens: int | None = None
    """Truncate inputs to this many tokens; -1 means the model's maximum length."""
    extra_kwargs: dict[str, Any] | None = None
    """Task extras, as vLLM's: ``{"max_tokens_per_doc": n}`` cuts each scored document (the
    second side) to its first ``n`` tokens."""

    def verify(self, task: str) -> None:
        """Reject parameters that ``task`` does not take, with vLLM's message."""
        valid = _VALID_PARAMETERS.get(task, ())
        invalid = [
            f.name
            for f in fields(self)
            if getattr(self, f.name) is not None and f.name not in valid
        ]
        if invalid:
            msg = (
                f"Task {task} only supports {list(valid)} parameters, "
                f"does not support {invalid} parameters"
            )
            raise ConfigError(msg)
        given = {name: getattr(self, name) for name in _ALIASES if getattr(self, name) is not None}
        if len(set(given.values())) > 1:
            msg = (
                f"Conflicting activation settings {given}: `normalize`, `softmax` and "
                "`activation` are deprecated aliases of `use_activation`; set only that one."
            )
            raise ConfigError(msg)

    def max_tokens_per_doc(self) -> int | None:
        """``extra_kwargs["max_tokens_per_doc"]``, checked (a positive integer or None)."""
        extras = self.extra_kwargs or {}
        unknown = sorted(set(extras) - {"max_tokens_per_doc"})
        if unknown:
            msg = f"Unknown extra_kwargs {unknown}; supported: ['max_tokens_per_doc']."
            raise ConfigError(msg)
        value = extras.get("max_tokens_per_doc")
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            msg = f"max_tokens_per_doc must be a positive integer, got {value!r}."
            raise ConfigError(msg)
        return value

    def effective_activation(self) -> bool | None:
        """``use_activation`` with the deprecated aliases folded in; None = model default."""
        for name in _ALIASES:
            value = getattr(self, name)
            if value is not None:
                return bool(value)
        return None


Params = PoolingParams | Sequence[PoolingParams] | None
"""What the ``LLM`` methods take as ``pooling_params``: one, one per prompt, or defaults."""


def one_params(pooling_params: Params, truncate_prompt_tokens: int | None) -> PoolingParams:
    """A fresh ``PoolingParams`` for a whole request, with ``truncate_prompt_tokens`` (when
    given) merged in; per-prompt params must all be equal."""
    if pooling_params is None:
        params = PoolingParams()
    elif isinstance(pooling_params, PoolingParams):
        params = PoolingParams(**vars(pooling_params))
    else:
        distinct = {repr(p) for p in pooling_params}
        if len(distinct) != 1:
            msg = "Per-prompt pooling_params must currently all be equal; pass one PoolingParams."
            raise ConfigError(msg)
        params = PoolingParams(**vars(pooling_params[0]))
    if truncate_prompt_tokens is not None:
        params.truncate_prompt_tokens = truncate_prompt_tokens
    return params


def check_params_count(pooling_params: Params, n_prompts: int) -> None:
    """Per-prompt params must match the prompts one to one (vLLM refuses a mismatch)."""
    if pooling_params is None or isinstance(pooling_params, PoolingParams):
        return
    if len(pooling_params) != n_prompts:
        msg = (
            f"pooling_params has {len(pooling_params)} items for {n_prompts} prompts; pass one "
            "PoolingParams per prompt, or a single PoolingParams for all of them."
        )
        raise ConfigError(msg)


def truncation_from(
    truncate_prompt_tokens: int | None, tokenization_kwargs: dict[str, Any] | None
) -> int | None:
    """``truncate_prompt_tokens`` given directly or, as newer vLLM takes it, inside
    ``tokenization_kwargs``; the two must agree."""
    nested = (tokenization_kwargs or {}).get("truncate_prompt_tokens")
    if nested is None:
        return truncate_prompt_tokens
    if truncate_prompt_tokens is not None and truncate_prompt_tokens != nested:
        msg = (
            f"truncate_prompt_tokens={truncate_prompt_tokens} and tokenization_kwargs"
            f"['truncate_prompt_tokens']={nested} disagree; pass only one of them."
        )
        raise ConfigError(msg)
    return int(nested)
