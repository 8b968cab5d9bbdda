"""Multi-modal inputs: every accepted spelling of "text and/or images" as one ``VisionItem``.

An item is a string (text, or a ``data:image/`` URL / image file path), a ``PIL.Image``, a
``pathlib.Path``, ``{"prompt": ...}`` / ``{"prompt_token_ids": [...]}``, the spec's
``{"content": [parts]}``, or ``{"messages": [{"role": ..., "content": ...}]}``. Content parts
follow the OpenAI chat format: ``{"type": "text", "text": ...}``,
``{"type": "image_url", "image_url": {"url": ...}}``, plus ``{"type": "image", "image": ...}``
and vLLM's ``{"type": "image_pil", "image_pil": <PIL.Image>}``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from encoders.vision.images import is_image, looks_like_image_reference
from retrieval.errors import ConfigError

PartType = Literal["text", "image_url", "image", "image_pil"]
PART_TYPES: tuple[str, ...] = ("text", "image_url", "image", "image_pil")


@dataclass(frozen=True, eq=False)
class ImagePart:
    """An image not loaded yet: a PIL image, a path or a URL (loaded under the policy)."""

    source: Any


@dataclass(frozen=True, eq=False)
class VisionItem:
    """One input: chat messages of text / image parts, plain text, or token ids.

    ``messages`` is None for a plain prompt (``text`` or ``token_ids``), which is tokenized
    as-is, like vLLM's ``input``; otherwise the chat template renders the messages.
    """

    text: str | None = None
    token_ids: list[int] | None = None
    messages: tuple[tuple[str, tuple[str | ImagePart, ...]], ...] | None = None
    bare_image: bool = False
    """A lone image (PIL, path or URL given by itself): the model adds its own image prompt."""
    generation_prompt: bool = False
    """Render the chat template with its generation prompt (the assistant turn's opening)."""

    @property
    def images(self) -> list[ImagePart]:
        parts = [p for _, content in self.messages or () for p in content]
        return [p for p in parts if isinstance(p, ImagePart)]

    @property
    def is_plain(self) -> bool:
        return self.messages is None


def parse_items(value: Any, name: str = "prompts") -> list[VisionItem]:
    """One item or a list of items -> ``VisionItem``s (a list of ints is one token-id prompt)."""
    if isinstance(value, str | dict | os.PathLike) or is_image(value):
        return [parse_item(value, f"{name}[0]")]
    if not isinstance(value, Sequence) or isinstance(value, bytes) or len(value) == 0:
        msg = (
            f"{name} must be text, an image, a content dict or a non-empty list of those; "
            f"got {type(value).__name__}."
        )
        raise ConfigError(msg)
    if all(isinstance(t, int) and not isinstance(t, bool) for t in value):
        return [VisionItem(token_ids=list(value))]
    return [parse_item(v, f"{name}[{i}]") for i, v in enumerate(value)]


def has_images(value: Any) -> bool:
    """Whether any item is more than a plain prompt (an image, content parts, messages)."""
    return any(not item.is_plain for item in parse_items(value))


def parse_item(value: Any, where: str) -> VisionItem:
    if is_image(value) or isinstance(value, os.PathLike):
        return _image_only(value)
    if isinstance(value, str):
        return _image_only(value) if looks_like_image_reference(value) else VisionItem(text=value)
    if isinstance(value, Sequence) and value and all(isinstance(t, int) for t in value):
        return VisionItem(token_ids=[int(t) for t in value])
    if not isinstance(value, dict):
        msg = (
            f"{where} has type {type(value).__name__}; expected text, an image, "
            '{"content": [...]} or {"messages": [...]}.'
        )
        raise ConfigError(msg)
    if "messages" in value:
        return VisionItem(messages=_messages(value["messages"], where))
    if "content" in value:
        role = str(value.get("role", "user"))
        return VisionItem(messages=((role, _content(value["content"], where)),))
    if "prompt_token_ids" in value:
        return parse_item(list(value["prompt_token_ids"]), where)
    if "prompt" in value and isinstance(value["prompt"], str):
        return VisionItem(text=value["prompt"])
    msg = (
        f"{where} is a dict without 'content', 'messages', 'prompt' or 'prompt_token_ids' "
        f"(keys: {sorted(value)})."
    )
    raise ConfigError(msg)


def _image_only(source: Any) -> VisionItem:
    # A bare image is a user turn holding just that image; formats add their own prompt text.
    return VisionItem(messages=(("user", (ImagePart(source),)),), bare_image=True)


def _messages(value: Any, where: str) -> tuple[tuple[str, tuple[str | ImagePart, ...]], ...]:
    if not isinstance(value, Sequence) or isinstance(value, str) or not value:
        msg = f"{where}: 'messages' must be a non-empty list of {{'role', 'content'}} dicts."
        raise ConfigError(msg)
    out = []
    for index, message in enumerate(value):
        if not isinstance(message, dict) or "content" not in message:
            msg = f"{where}: messages[{index}] must be a dict with 'role' and 'content'."
            raise ConfigError(msg)
        role = str(message.get("role", "user"))
        out.append((role, _content(message["content"], f"{where}.messages[{index}]")))
    return tuple(out)


def _content(value: Any, where: str) -> tuple[str | ImagePart, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, Sequence) or not value:
        msg = f"{where}: 'content' must be a string or a non-empty list of content parts."
        raise ConfigError(msg)
    return tuple(_part(p, f"{where}.content[{i}]") for i, p in enumerate(value))


def _part(part: Any, where: str) -> str | ImagePart:
    if not isinstance(part, dict) or part.get("type") not in PART_TYPES:
        kind = part.get("type") if isinstance(part, dict) else type(part).__name__
        msg = f"{where}: unknown content part type {kind!r}. Valid: {', '.join(PART_TYPES)}."
        raise ConfigError(msg)
    kind = part["type"]
    if kind == "text":
        if not isinstance(part.get("text"), str):
            msg = f"{where}: a text part needs a string 'text' field."
            raise ConfigError(msg)
        return str(part["text"])
    payload = part.get(kind)
    if kind == "image_url" and isinstance(payload, dict):
        payload = payload.get("url")
    if payload is None:
        msg = f"{where}: an {kind!r} part needs its {kind!r} field (e.g. {{'url': ...}})."
        raise ConfigError(msg)
    return ImagePart(payload)
