"""Prompt normalization and tokenization with explicit length handling.

A prompt is a string, a list of token ids, or a vLLM-style dict (``{"prompt": str}`` /
``{"prompt_token_ids": [...]}``); a call takes one prompt or a list of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from retrieval.errors import ConfigError, InputTooLongError

Prompt = str | list[int]


def normalize_prompts(prompts: Any) -> list[Prompt]:
    """Turn every accepted spelling of "one or many prompts" into a flat list."""
    if isinstance(prompts, str | dict):
        return [_one_prompt(prompts, 0)]
    if not isinstance(prompts, Sequence) or isinstance(prompts, bytes):
        msg = (
            f"prompts must be a string, a list of token ids, or a list of those; "
            f"got {type(prompts).__name__}."
        )
        raise ConfigError(msg)
    if len(prompts) == 0:
        msg = "No prompts were given: pass a string or a non-empty list of strings."
        raise ConfigError(msg)
    if all(isinstance(p, int) and not isinstance(p, bool) for p in prompts):
        return [list(prompts)]
    return [_one_prompt(p, i) for i, p in enumerate(prompts)]


def _one_prompt(prompt: Any, index: int) -> Prompt:
    if isinstance(prompt, dict):
        if "prompt_token_ids" in prompt:
            prompt = prompt["prompt_token_ids"]
        elif "prompt" in prompt:
            prompt = prompt["prompt"]
        else:
            msg = (
                f"Prompt {index} is a dict without 'prompt' or 'prompt_token_ids' "
                f"(keys: {sorted(prompt)})."
            )
            raise ConfigError(msg)
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, Sequence) and all(
        isinstance(t, int) and not isinstance(t, bool) for t in prompt
    ):
        if len(prompt) == 0:
            msg = f"Prompt {index} is an empty list of token ids."
            raise ConfigError(msg)
        return list(prompt)
    msg = (
        f"Prompt {index} has type {type(prompt).__name__}; expected a string or a list of "
        "token ids (ints)."
    )
    raise ConfigError(msg)


@dataclass(frozen=True)
class Truncation:
    """How to fit inputs into the model: ``max_tokens`` None means "error when too long"."""

    max_tokens: int | None
    side: str = "right"


def resolve_truncation(
    truncate_prompt_tokens: int | None, max_model_len: int, side: str
) -> Truncation:
    """Validate ``truncate_prompt_tokens`` (-1 = model maximum) against the model length."""
    if truncate_prompt_tokens is None:
        return Truncation(None, side)
    value = int(truncate_prompt_tokens)
    if value == -1:
        return Truncation(max_model_len, side)
    if value < 1:
        msg = (
            f"truncate_prompt_tokens must be -1 (the model maximum, {max_model_len}) or a "
            f"positive number of tokens, got {truncate_prompt_tokens}."
        )
        raise ConfigError(msg)
    if value > max_model_len:
        msg = (
            f"truncate_prompt_tokens value ({value}) is greater than max_model_len "
            f"({max_model_len}). Please, select a smaller truncation size."
        )
        raise ConfigError(msg)
    return Truncation(value, side)


def tokenize(
    tokenizer: Any,
    prompts: list[Prompt],
    truncation: Truncation,
    max_tokens: int | None,
    lower_case: bool = False,
    chunked: bool = False,
) -> list[list[int]]:
    """Token ids per prompt, truncated as asked; inputs over ``max_tokens`` (the model length,
    or the chunked-processing cap; None = no cap) are a clear error."""
    texts = [
        (i, p.lower() if lower_case else p) for i, p in enumerate(prompts) if isinstance(p, str)
    ]
    ids: list[list[int]] = [p if isinstance(p, list) else [] for p in prompts]
    if texts:
        limit = truncation.max_tokens
        previous = tokenizer.truncation_side
        tokenizer.truncation_side = truncation.side
        try:
            encoded = tokenizer(
                [t for _, t in texts],
                add_special_tokens=True,
                truncation=limit is not None,
                max_length=limit,
                return_attention_mask=False,
                return_token_type_ids=False,
                verbose=False,
            )["input_ids"]
        finally:
            tokenizer.truncation_side = previous
        for (index, _), token_ids in zip(texts, encoded, strict=True):
            ids[index] = list(token_ids)
    for index, prompt in enumerate(prompts):
        if isinstance(prompt, list):
            ids[index] = _cut(prompt, truncation)
        if chunked:
            _check_embed_len(index, ids[index], max_tokens)
        else:
            _check_length(index, ids[index], max_tokens)
    return ids


def _check_embed_len(index: int, token_ids: list[int], max_embed_len: int | None) -> None:
    if max_embed_len is not None and len(token_ids) > max_embed_len:
        msg = (
            f"Prompt {index} has {len(token_ids)} tokens, more than max_embed_len "
            f"({max_embed_len}) allows even with chunked processing. Raise max_embed_len in "
            "pooler_config, shorten the input, or pass truncate_prompt_tokens=-1."
        )
        raise InputTooLongError(msg)


def tokenize_pairs(
    tokenizer: Any,
    pairs: list[tuple[str, str]],
    truncation: Truncation,
    max_tokens: int,
    lower_case: bool = False,
) -> tuple[list[list[int]], list[list[int]]]:
    """Token ids and token type ids of ``(first, second)`` pairs encoded jointly, as a
    cross-encoder reads them; truncation trims the longer side first."""
    if lower_case:
        pairs = [(a.lower(), b.lower()) for a, b in pairs]
    limit = truncation.max_tokens
    encoded = tokenizer(
        [a for a, _ in pairs],
        [b for _, b in pairs],
        add_special_tokens=True,
        truncation="longest_first" if limit is not None else False,
        max_length=limit,
        return_attention_mask=False,
        return_token_type_ids=True,
        verbose=False,
    )
    ids = [list(x) for x in encoded["input_ids"]]
    types = encoded.get("token_type_ids") or [[0] * len(x) for x in ids]
    for index, token_ids in enumerate(ids):
        _check_length(index, token_ids, max_tokens)
    return ids, [list(t) for t in types]


def cut_documents(
    tokenizer: Any, pairs: list[tuple[str, str]], max_tokens: int | None
) -> list[tuple[str, str]]:
    """Cut the second text of each pair to its first ``max_tokens`` tokens (special tokens not
    counted), at the character where that token ends, so it re-tokenizes to the same prefix."""
    if max_tokens is None:
        return pairs
    out = []
    for query, doc in pairs:
        encoded = tokenizer(doc, add_special_tokens=False, return_offsets_mapping=True)
        offsets = encoded["offset_mapping"]
        if len(offsets) > max_tokens:
            doc = doc[: offsets[max_tokens - 1][1]]
        out.append((query, doc))
    return out


def score_pairs(data_1: Any, data_2: Any) -> list[tuple[str, str]]:
    """Expand ``score(data_1, data_2)`` inputs into pairs: 1:1, 1:N or N:N."""
    firsts = _texts(data_1, "data_1")
    seconds = _texts(data_2, "data_2")
    if len(firsts) == 1:
        return [(firsts[0], s) for s in seconds]
    if len(firsts) == len(seconds):
        return list(zip(firsts, seconds, strict=True))
    msg = f"Input lengths must be either 1:1, 1:N or N:N (got {len(firsts)}:{len(seconds)})."
    raise ConfigError(msg)


def _texts(value: Any, name: str) -> list[str]:
    items = [value] if isinstance(value, str | dict) else value
    if not isinstance(items, Sequence) or len(items) == 0:
        msg = f"{name} must be a string or a non-empty list of strings."
        raise ConfigError(msg)
    texts = []
    for index, item in enumerate(items):
        text = item.get("prompt") if isinstance(item, dict) else item
        if not isinstance(text, str):
            msg = f"{name}[{index}] has type {type(item).__name__}; scoring takes text."
            raise ConfigError(msg)
        texts.append(text)
    return texts


def _cut(token_ids: list[int], truncation: Truncation) -> list[int]:
    limit = truncation.max_tokens
    if limit is None or len(token_ids) <= limit:
        return token_ids
    return token_ids[-limit:] if truncation.side == "left" else token_ids[:limit]


def _check_length(index: int, token_ids: list[int], max_model_len: int | None) -> None:
    if max_model_len is not None and len(token_ids) > max_model_len:
        msg = (
            f"This model's maximum context length is {max_model_len} tokens. However, prompt "
            f"{index} has {len(token_ids)} tokens. Please reduce the length of the input "
            f"prompt, or pass truncate_prompt_tokens=-1 to truncate it to {max_model_len} tokens."
        )
        raise InputTooLongError(msg)
