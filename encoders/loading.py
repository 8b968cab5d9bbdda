"""Load a resolved model folder safely: config (+ overrides), tokenizer, safetensors weights.

Pickled ``.bin`` weights are refused unless the caller opts in; custom code (``auto_map``)
runs only with ``trust_remote_code=True``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from encoders import bert, from_token, jina_xlmr
from retrieval.errors import ConfigError, UnsafeModelError

logger = logging.getLogger(__name__)

HfOverrides = dict[str, Any] | Callable[[Any], Any] | None

# Encoder families whose native vLLM embedding pooler is CLS; other (decoder) models use LAST.
ENCODER_MODEL_TYPES = frozenset(
    {
        "bert", "roberta", "xlm-roberta", "distilbert", "electra", "deberta", "deberta-v2",
        "modernbert", "mpnet", "camembert", "albert", "nomic_bert", "new", "ernie", "megatron-bert",
        "xlm-roberta-xl", "roformer", "mobilebert", "jina_bert",
    }
)  # fmt: skip


def read_config_json(folder: Path) -> dict[str, Any]:
    path = folder / "config.json"
    if not path.is_file():
        msg = f"Model folder {str(folder)!r} has no config.json; is it a Hugging Face model folder?"
        raise ConfigError(msg)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        msg = f"{str(path)!r} is not valid JSON ({err}); re-download the model."
        raise ConfigError(msg) from err
    if not isinstance(data, dict):
        msg = f"{str(path)!r} must hold a JSON object."
        raise ConfigError(msg)
    return data


def check_remote_code(folder: Path, raw: dict[str, Any], trust_remote_code: bool) -> None:
    """Refuse models that need their own Python code unless the caller trusts them."""
    if "auto_map" not in raw or trust_remote_code:
        return
    from transformers import CONFIG_MAPPING  # scans transformers' every model: ~0.5 s

    if raw.get("model_type") in CONFIG_MAPPING:
        native = (
            "the toolkit's native Jina XLM-RoBERTa (rotary)"
            if raw.get("position_embedding_type") == "rotary"
            else f"transformers' native {raw.get('model_type')!r}"
        )
        logger.warning(
            "%s ships custom code (auto_map) that is ignored; loading %s implementation. "
            "Pass trust_remote_code=True to run the custom code.",
            folder,
            native,
        )
        return
    msg = (
        f"Model {str(folder)!r} needs custom Python code from its folder (auto_map: "
        f"{raw['auto_map']}). It is not run by default. Pass trust_remote_code=True "
        "(--trust-remote-code) if you trust its source."
    )
    raise UnsafeModelError(msg)


def load_hf_config(folder: Path, hf_overrides: HfOverrides, trust_remote_code: bool) -> Any:
    """``AutoConfig`` with vLLM-style ``hf_overrides`` (a dict merged in, or a callable)."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(folder), trust_remote_code=trust_remote_code)
    if callable(hf_overrides):
        return hf_overrides(config)
    for key, value in (hf_overrides or {}).items():
        current = getattr(config, key, None)
        if isinstance(value, dict) and isinstance(current, dict):
            value = {**current, **value}
        setattr(config, key, value)
    return config


def check_weights(folder: Path, allow_pickle: bool) -> None:
    """Make sure safetensors weights exist, or that pickles were explicitly allowed."""
    if any((folder / n).is_file() for n in ("model.safetensors", "model.safetensors.index.json")):
        return
    pickles = [
        n for n in ("pytorch_model.bin", "pytorch_model.bin.index.json") if (folder / n).is_file()
    ]
    if pickles and not allow_pickle:
        msg = (
            f"Model {str(folder)!r} has only pickled weights ({pickles[0]}), which can run code "
            "when loaded. Convert them to safetensors, or pass allow_pickle_weights=True if "
            "you trust the source."
        )
        raise UnsafeModelError(msg)
    if not pickles:
        msg = (
            f"Model {str(folder)!r} has no weights: expected model.safetensors or a sharded "
            "model.safetensors.index.json."
        )
        raise ConfigError(msg)


def load_backbone(
    folder: Path,
    config: Any,
    dtype: torch.dtype,
    device: torch.device,
    allow_pickle: bool,
    trust_remote_code: bool,
    family: str = "embed",
) -> nn.Module:
    """The transformer in eval mode: bare (``AutoModel``) for embedding models, with its
    classification head for sequence / token classifiers."""
    if _native_jina(folder, config, family, trust_remote_code):
        return jina_xlmr.load_backbone(folder, config, dtype, device)
    if bert.wants_native(config, family, trust_remote_code):
        native = bert.load_backbone(folder, config, dtype, device)
        if native is not None:
            return native
    import transformers
    from transformers.utils import logging as hf_logging

    auto_class = {
        "embed": transformers.AutoModel,
        "classify": transformers.AutoModelForSequenceClassification,
        "token_classify": transformers.AutoModelForTokenClassification,
        "sparse": transformers.AutoModelForMaskedLM,
        "bge_m3": transformers.AutoModel,
        "colbert": transformers.AutoModel,
    }[family]

    kwargs: dict[str, Any] = {
        "config": config,
        "dtype": dtype,
        "trust_remote_code": trust_remote_code,
        "use_safetensors": None if allow_pickle else True,
    }
    # transformers' per-tensor "Loading weights" bar is noise for a library call.
    bar_was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    kwargs["output_loading_info"] = True
    try:
        try:
            model, info = auto_class.from_pretrained(
                str(folder), attn_implementation="sdpa", **kwargs
            )
        except ValueError as err:
            if "sdpa" not in str(err).lower():
                raise
            model, info = auto_class.from_pretrained(
                str(folder), attn_implementation="eager", **kwargs
            )
    finally:
        if bar_was_on:
            hf_logging.enable_progress_bar()
    missing = info.get("missing_keys") or []
    if from_token.wants_tokens(config):
        # The head is built from LM-head rows below, so its absence is expected.
        missing = [k for k in missing if not k.startswith("score.")]
    _check_head_weights(folder, family, missing)
    _check_backbone_weights(folder, config, family, missing)
    return model.to(device).eval()


def _native_jina(folder: Path, config: Any, family: str, trust_remote_code: bool) -> bool:
    """Jina's rotary XLM-RoBERTa (jina-colbert-v2, jina-embeddings-v3) runs on the native
    backbone, as in vLLM; a LoRA checkpoint whose own code is trusted runs that code (it can
    switch task adapters per request)."""
    if family not in ("embed", "colbert") or not jina_xlmr.wants_native(config):
        return False
    return not (trust_remote_code and jina_xlmr.has_lora(folder))


def _check_backbone_weights(folder: Path, config: Any, family: str, missing: Any) -> None:
    """Backbone weights the checkpoint does not provide would be random: a checkpoint in
    another layout (e.g. rotary-position weights loaded as a plain classifier) would embed
    garbage without a word. The unused BERT pooler is fine."""
    if family in ("classify", "token_classify", "sparse"):
        return  # heads are checked above; their backbones share the same keys
    missing = sorted(k for k in missing if not k.startswith("pooler."))
    if not missing:
        return
    hint = "Check that the folder holds the weights of this architecture."
    if getattr(config, "position_embedding_type", None) == "rotary":
        hint = (
            "Its config asks for rotary position embeddings, which transformers' native "
            f"{getattr(config, 'model_type', '?')!r} model does not implement (only Jina's "
            "XLM-RoBERTa layout runs natively, as an embedding or ColBERT model): pass "
            "trust_remote_code=True (--trust-remote-code) to run the checkpoint's own code."
        )
    msg = (
        f"Model {str(folder)!r}: {len(missing)} backbone weights are missing from the "
        f"checkpoint (e.g. {missing[:3]}), so its outputs would be random. {hint}"
    )
    raise ConfigError(msg)


def _check_head_weights(folder: Path, family: str, missing: Any) -> None:
    """A classifier whose head weights are not in the checkpoint would score at random."""
    missing = sorted(missing)
    if family in ("classify", "token_classify", "sparse") and missing:
        msg = (
            f"Model {str(folder)!r} has no trained weights for its {family} head "
            f"(missing: {missing[:4]}). It cannot classify or score; load it with "
            "convert='embed', or use a checkpoint that was fine-tuned for classification."
        )
        raise ConfigError(msg)


def load_tokenizer(folder: Path, trust_remote_code: bool) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(folder), trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as err:
        msg = f"Cannot load the tokenizer of {str(folder)!r}: {err}"
        raise ConfigError(msg) from err


def derive_max_model_len(config: Any, tokenizer: Any, st_max_seq_length: int | None) -> int:
    """The longest input the model accepts, as vLLM derives it."""
    limits = []
    positions = getattr(config, "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0:
        # RoBERTa-style position ids start after the padding index.
        offset = (
            (getattr(config, "pad_token_id", 0) or 0) + 1
            if "roberta" in str(getattr(config, "model_type", ""))
            else 0
        )
        limits.append(positions - offset)
    if st_max_seq_length:
        limits.append(st_max_seq_length)
    tokenizer_max = getattr(tokenizer, "model_max_length", None)
    if not limits and isinstance(tokenizer_max, int) and 0 < tokenizer_max < 10**7:
        limits.append(tokenizer_max)
    if not limits:
        msg = "Cannot derive the model's maximum length; pass max_model_len=..."
        raise ConfigError(msg)
    return min(limits)


def default_pooling_type(config: Any) -> str:
    """vLLM's per-architecture default: CLS for encoder models, LAST for decoders."""
    return "CLS" if getattr(config, "model_type", "") in ENCODER_MODEL_TYPES else "LAST"
