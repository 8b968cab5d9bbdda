"""Read sentence-transformers folders: the legacy (v2-v5) and the v6 layouts.

Modules are keyed on the basename of their ``type`` string (``Transformer``, ``Pooling``,
``Dense``, ``Normalize``), so ``sentence_transformers.models.Pooling`` and
``sentence_transformers.sentence_transformer.modules.pooling.Pooling`` read the same. Nothing
is imported from the strings (no dynamic import, no remote code).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from retrieval.errors import ConfigError

# Legacy sentence-transformers wrote the Transformer config under several names.
_LEGACY_TRANSFORMER_CONFIGS = (
    "sentence_bert_config.json",
    "sentence_roberta_config.json",
    "sentence_distilbert_config.json",
    "sentence_camembert_config.json",
    "sentence_albert_config.json",
    "sentence_xlm-roberta_config.json",
    "sentence_xlnet_config.json",
)
SpladeReduce = Literal["max", "sum"]
SPLADE_REDUCTIONS: tuple[str, ...] = get_args(SpladeReduce)
SpladeActivation = Literal["relu", "log1p_relu"]
SPLADE_ACTIVATIONS: tuple[str, ...] = get_args(SpladeActivation)
# sentence-transformers pooling modes -> vLLM pooling types (None: no vLLM equivalent).
_ST_POOLING_MODES: dict[str, str | None] = {
    "cls": "CLS",
    "mean": "MEAN",
    "lasttoken": "LAST",
    "max": None,
    "mean_sqrt_len_tokens": None,
    "weightedmean": None,
}
_LEGACY_MODE_KEYS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}


@dataclass(frozen=True)
class DenseSpec:
    """One sentence-transformers ``Dense`` module: ``activation(x @ W.T + b)``."""

    folder: Path
    in_features: int
    out_features: int
    bias: bool
    activation: str
    """Basename of the activation class, e.g. ``Tanh`` or ``Identity``."""


@dataclass(frozen=True)
class SentenceTransformersConfig:
    """What a sentence-transformers folder says about pooling and inputs."""

    pooling_mode: str | None = None
    """The sentence-transformers pooling mode (``mean``, ``cls``, ``lasttoken``, ...)."""
    normalize: bool = False
    """True when ``modules.json`` lists a ``Normalize`` module (its folder may be absent)."""
    dense: tuple[DenseSpec, ...] = ()
    """Projection modules after pooling, in pipeline order."""
    max_seq_length: int | None = None
    """Maximum input length in tokens, from the Transformer config (legacy) or tokenizer (v6)."""
    do_lower_case: bool = False
    """Lower-case inputs before tokenizing."""
    prompts: dict[str, str] = field(default_factory=dict)
    """Named prompts, e.g. ``{"query": "query: "}``; applied only when asked for."""
    default_prompt_name: str | None = None
    similarity_fn_name: str | None = None
    model_type: str | None = None
    """v6 only: ``SentenceTransformer``, ``CrossEncoder``, ``SparseEncoder``, ..."""
    splade_pooling: SpladeReduce = "max"
    """A ``SpladePooling`` module's ``pooling_strategy`` over tokens: ``max`` or ``sum``."""
    splade_activation: SpladeActivation = "relu"
    """A ``SpladePooling`` module's ``activation_function``: ``relu`` (``log1p(relu(x))``) or
    ``log1p_relu`` (``log1p(log1p(relu(x)))``)."""

    @property
    def pooling_type(self) -> str | None:
        """The vLLM pooling type equivalent to :attr:`pooling_mode`."""
        if self.pooling_mode is None:
            return None
        return _ST_POOLING_MODES.get(self.pooling_mode)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        msg = f"Cannot read {str(path)!r}: {err}. The model folder looks incomplete or corrupt."
        raise ConfigError(msg) from err


def _basename(type_string: str) -> str:
    return type_string.rsplit(".", 1)[-1]


def read_sentence_transformers_config(folder: Path) -> SentenceTransformersConfig | None:
    """Parse ``modules.json`` and friends; ``None`` when the folder is not an ST model."""
    modules_file = folder / "modules.json"
    if not modules_file.is_file():
        return None
    modules = sorted(_read_json(modules_file), key=lambda m: m.get("idx", 0))
    values: dict[str, Any] = {"dense": []}
    for module in modules:
        kind = _basename(str(module.get("type", "")))
        sub = folder / str(module.get("path", ""))
        if kind == "Transformer":
            values.update(_transformer_settings(sub))
        elif kind == "Pooling":
            values["pooling_mode"] = _pooling_mode(sub / "config.json")
        elif kind == "Dense":
            values["dense"].append(_dense_spec(sub))
        elif kind == "Normalize":
            values["normalize"] = True
        elif kind == "SpladePooling":
            values.update(_splade_settings(sub / "config.json"))
    values["dense"] = tuple(values["dense"])
    values.update(_model_settings(folder / "config_sentence_transformers.json"))
    return SentenceTransformersConfig(**values)


def _transformer_settings(folder: Path) -> dict[str, Any]:
    for name in _LEGACY_TRANSFORMER_CONFIGS:
        path = folder / name
        if path.is_file():
            cfg = _read_json(path)
            out: dict[str, Any] = {"do_lower_case": bool(cfg.get("do_lower_case", False))}
            if cfg.get("max_seq_length") is not None:
                out["max_seq_length"] = int(cfg["max_seq_length"])
            return out
    return {}


def _pooling_mode(path: Path) -> str:
    cfg = _read_json(path)
    if "pooling_mode" in cfg:  # v6 layout: one string
        mode = str(cfg["pooling_mode"])
    else:  # legacy layout: one boolean per mode
        modes = [name for key, name in _LEGACY_MODE_KEYS.items() if cfg.get(key)]
        if len(modes) != 1:
            msg = (
                f"{str(path)!r} enables pooling modes {modes}; exactly one is supported. "
                'Set pooler_config={"pooling_type": "MEAN" | "CLS" | "LAST"} to choose.'
            )
            raise ConfigError(msg)
        mode = modes[0]
    if mode not in _ST_POOLING_MODES:
        msg = f"Unknown sentence-transformers pooling mode {mode!r} in {str(path)!r}."
        raise ConfigError(msg)
    return mode


def _splade_settings(path: Path) -> dict[str, str]:
    """``SpladePooling``'s ``config.json`` (absent: the module's defaults, max + relu)."""
    cfg = _read_json(path) if path.is_file() else {}
    pooling = str(cfg.get("pooling_strategy", "max"))
    activation = str(cfg.get("activation_function", "relu"))
    for name, value, valid in (
        ("pooling_strategy", pooling, SPLADE_REDUCTIONS),
        ("activation_function", activation, SPLADE_ACTIVATIONS),
    ):
        if value not in valid:
            msg = (
                f"Unknown SpladePooling {name} {value!r} in {str(path)!r}. "
                f"Valid: {', '.join(valid)}."
            )
            raise ConfigError(msg)
    return {"splade_pooling": pooling, "splade_activation": activation}


def _dense_spec(folder: Path) -> DenseSpec:
    cfg = _read_json(folder / "config.json")
    return DenseSpec(
        folder=folder,
        in_features=int(cfg["in_features"]),
        out_features=int(cfg["out_features"]),
        bias=bool(cfg.get("bias", True)),
        activation=_basename(str(cfg.get("activation_function", "Identity"))),
    )


def _model_settings(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    cfg = _read_json(path)
    return {
        "prompts": {str(k): str(v) for k, v in (cfg.get("prompts") or {}).items()},
        "default_prompt_name": cfg.get("default_prompt_name"),
        "similarity_fn_name": cfg.get("similarity_fn_name"),
        "model_type": cfg.get("model_type"),
    }
