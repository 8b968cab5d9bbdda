"""Per-request pooling parameters (vLLM's ``PoolingParams``), merged with model defaults
explicitly instead of mutating the request."""

from __future__ import annotations

from dataclasses import dataclass, fields

from retrieval.errors import ConfigError

# Which request parameters each task accepts (mirrors vLLM's per-task validation).
_VALID_PARAMETERS: dict[str, tuple[str, ...]] = {
    "embed": ("dimensions", "use_activation", "normalize", "truncate_prompt_tokens"),
    "token_embed": ("dimensions", "use_activation", "normalize", "truncate_prompt_tokens"),
    "classify": ("use_activation", "truncate_prompt_tokens"),
    "score": ("use_activation", "truncate_prompt_tokens"),
    "token_classify": ("use_activation", "truncate_prompt_tokens"),
    "plugin": ("truncate_prompt_tokens",),
}


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
    truncate_prompt_tokens: int | None = None
    """Truncate inputs to this many tokens; -1 means the model's maximum length."""

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
        both_set = self.normalize is not None and self.use_activation is not None
        if both_set and self.normalize != self.use_activation:
            msg = "Set only one of `use_activation` and its deprecated alias `normalize`."
            raise ConfigError(msg)

    @property
    def activation(self) -> bool | None:
        """The effective ``use_activation`` (``normalize`` folded in)."""
        return self.use_activation if self.use_activation is not None else self.normalize
