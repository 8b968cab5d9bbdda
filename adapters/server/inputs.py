"""Checking request inputs: text / token-id prompts, chat messages, score sides, documents.

Every message names the field, the offending item and the fix. For text-only models, image
content parts are decoded and checked (data URLs only; remote URLs are never fetched) and then
refused; models that read images get their items from ``adapters.server.images``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from adapters.server.errors import BadRequest

Prompt = str | list[int]
ItemFn = Callable[[Any, str], Any]
"""Checks one score / rerank item and returns what the runtime scores (text, or an item)."""


def prompts_from(value: Any, name: str, max_inputs: int) -> list[Prompt]:
    """``str | list[str] | list[int] | list[list[int]]`` -> a non-empty list of prompts."""
    if value is None:
        msg = (
            f"`{name}` is required: a string, a list of strings, a list of "
            "token ids or a list of such lists."
        )
        raise BadRequest(msg, param=name)
    if isinstance(value, str):
        return [_text(value, name)]
    if not isinstance(value, list):
        msg = (
            f"`{name}` must be a string, a list of strings or token ids; got "
            f"{type(value).__name__}."
        )
        raise BadRequest(
            msg,
            param=name,
        )
    if not value:
        msg = f"`{name}` is an empty list; send at least one input."
        raise BadRequest(msg, param=name)
    if all(_is_int(t) for t in value):
        return [_token_ids(value, name)]
    if len(value) > max_inputs:
        msg = (
            f"`{name}` list length {len(value)} exceeds the limit: at most {max_inputs} inputs "
            "are accepted per request. "
            "Split the inputs over several requests."
        )
        raise BadRequest(
            msg,
            param=name,
        )
    out: list[Prompt] = []
    for index, item in enumerate(value):
        where = f"{name}[{index}]"
        if isinstance(item, str):
            out.append(_text(item, where))
        elif isinstance(item, list):
            out.append(_token_ids(item, where))
        else:
            msg = (
                f"`{where}` has type {type(item).__name__}; each input must be a string or a "
                "list of token ids."
            )
            raise BadRequest(
                msg,
                param=where,
            )
    return out


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text(value: str, where: str) -> str:
    if not value:
        msg = f"`{where}` is an empty string; send text to encode."
        raise BadRequest(msg, param=where)
    return value


def _token_ids(value: list[Any], where: str) -> list[int]:
    if not value:
        msg = f"`{where}` is an empty list of token ids."
        raise BadRequest(msg, param=where)
    for position, token in enumerate(value):
        if not _is_int(token) or token < 0:
            msg = f"`{where}[{position}]` is {token!r}; token ids are non-negative integers."
            raise BadRequest(
                msg,
                param=where,
            )
    return list(value)


def check_token_range(prompts: Sequence[Prompt], vocab_size: int, name: str) -> None:
    """Token ids outside the vocabulary would crash the embedding lookup: refuse them."""
    for index, prompt in enumerate(prompts):
        if isinstance(prompt, list):
            bad = [t for t in prompt if t >= vocab_size]
            if bad:
                msg = (
                    f"`{name}` item {index} holds token id {bad[0]}, outside the model's "
                    f"vocabulary (0..{vocab_size - 1})."
                )
                raise BadRequest(
                    msg,
                    param=name,
                )


# -- chat messages and content parts ---------------------------------------------------------
def content_text(content: Any, where: str) -> str:
    """Text of an OpenAI ``content`` (string or list of parts); image parts are checked and
    refused since the served models read text only."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list) or not content:
        msg = f"`{where}` must be a string or a non-empty list of content parts."
        raise BadRequest(msg, param=where)
    texts = []
    for index, part in enumerate(content):
        at = f"{where}[{index}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "image_url":
            check_image_part(part, at)
            msg = (
                f"`{at}` is an image, but the served model reads text only. Send text parts, "
                "or serve a multimodal model."
            )
            raise BadRequest(
                msg,
                param=at,
            )
        else:
            msg = (
                f"`{at}` must be {{'type': 'text', 'text': ...}} or "
                "{'type': 'image_url', 'image_url': {'url': ...}}."
            )
            raise BadRequest(msg, param=at)
    return "\n".join(texts)


def check_image_part(part: dict[str, Any], where: str) -> bytes:
    """Decode a ``data:image/...;base64,`` URL; remote URLs are refused (never fetched)."""
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str) or not url:
        msg = f"`{where}.image_url.url` is missing."
        raise BadRequest(msg, param=where)
    if not url.startswith("data:"):
        msg = (
            f"`{where}` uses a remote image URL; fetching remote URLs is disabled. Send the "
            "image inline as data:image/png;base64,..."
        )
        raise BadRequest(
            msg,
            param=where,
        )
    header, _, payload = url.partition(",")
    if ";base64" not in header or not header[5:].startswith("image/"):
        msg = f"`{where}` must be a data:image/<type>;base64,<data> URL."
        raise BadRequest(msg, param=where)
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        msg = f"`{where}` holds invalid base64 image data."
        raise BadRequest(msg, param=where) from None


def messages_text(
    messages: Any,
    tokenizer: Any,
    name: str = "messages",
    *,
    add_generation_prompt: bool = False,
    continue_final_message: bool = False,
    template_kwargs: dict[str, Any] | None = None,
) -> list[str]:
    """One prompt per conversation, rendered with the tokenizer's chat template (the flags
    are vLLM's ``add_generation_prompt`` / ``continue_final_message``)."""
    if add_generation_prompt and continue_final_message:
        msg = "Cannot set both `continue_final_message` and `add_generation_prompt` to True."
        raise BadRequest(msg, param="continue_final_message")
    if not isinstance(messages, list) or not messages:
        msg = f"`{name}` must be a non-empty list of chat messages."
        raise BadRequest(msg, param=name)
    conversations = messages if isinstance(messages[0], list) else [messages]
    if getattr(tokenizer, "chat_template", None) is None:
        msg = (
            f"The model has no chat template, so `{name}` cannot be rendered; send `input` "
            "text instead."
        )
        raise BadRequest(
            msg,
            param=name,
        )
    prompts = []
    for c_index, conversation in enumerate(conversations):
        clean = []
        for m_index, message in enumerate(conversation):
            at = (
                f"{name}[{m_index}]" if len(conversations) == 1 else f"{name}[{c_index}][{m_index}]"
            )
            if not isinstance(message, dict) or "role" not in message:
                msg = f"`{at}` must be an object with `role` and `content`."
                raise BadRequest(msg, param=at)
            text = content_text(message.get("content", ""), f"{at}.content")
            clean.append({"role": str(message["role"]), "content": text})
        prompts.append(
            tokenizer.apply_chat_template(
                clean,
                tokenize=False,
                add_generation_prompt=add_generation_prompt,
                continue_final_message=continue_final_message,
                **(template_kwargs or {}),
            )
        )
    return prompts


# -- score sides and rerank documents --------------------------------------------------------
def score_side(value: Any, name: str, max_inputs: int, item_fn: ItemFn | None = None) -> list[Any]:
    """``str | {content} | list of those`` -> texts (at least one); ``item_fn`` turns each
    item into what the runtime scores instead (image-reading models)."""
    one = item_fn or _one_text
    items = value if isinstance(value, list) else [value]
    if not items:
        msg = f"At least one text element must be given in `{name}`."
        raise BadRequest(msg, param=name)
    if len(items) > max_inputs:
        msg = (
            f"`{name}` list length {len(items)} exceeds the limit: at most {max_inputs} per "
            "request; split them over several requests."
        )
        raise BadRequest(msg, param=name)
    texts = []
    for index, item in enumerate(items):
        at = f"{name}[{index}]" if isinstance(value, list) else name
        texts.append(one(item, at))
    return texts


def _one_text(item: Any, where: str) -> str:
    if isinstance(item, str):
        if not item:
            msg = f"`{where}` is an empty string."
            raise BadRequest(msg, param=where)
        return item
    if isinstance(item, dict) and "content" in item:
        return content_text(item["content"], f"{where}.content")
    msg = f"`{where}` has type {type(item).__name__}; expected a string or {{'content': [parts]}}."
    raise BadRequest(
        msg,
        param=where,
    )


@dataclass
class Document:
    """A rerank document: its text (None for an image document), what the runtime scores,
    plus what the caller sent to be echoed back."""

    text: str | None
    id: Any = None
    metadata: Any = None
    multi_modal: Any = None
    extra: dict[str, Any] = field(default_factory=dict)
    item: Any = None
    """What the runtime scores; None = ``text``."""

    @property
    def scored(self) -> Any:
        return self.text if self.item is None else self.item

    def wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"text": self.text, "multi_modal": self.multi_modal}
        if self.id is not None:
            out["id"] = self.id
        if self.metadata is not None:
            out["metadata"] = self.metadata
        return out


def documents_from(value: Any, max_inputs: int, item_fn: ItemFn | None = None) -> list[Document]:
    """Rerank ``documents``: strings, ``{"content": [...]}``, or objects with ``text`` and
    optional ``id`` / ``metadata`` (Cohere v1's ``{"text"}`` included). With ``item_fn``
    (image-reading models) a document may also be a bare list of content parts, and
    ``{"content"}`` objects keep their ``id`` / ``metadata``."""
    if isinstance(value, str):
        value = [value]  # one document, as vLLM's request model accepts
    if not isinstance(value, list):
        msg = "`documents` must be a list of strings or objects."
        raise BadRequest(msg, param="documents")
    if not value:
        msg = "At least one text_pair element must be given in `documents`."
        raise BadRequest(msg, param="documents")
    if len(value) > max_inputs:
        msg = (
            f"`documents` list length {len(value)} exceeds the limit: at most {max_inputs} per "
            "request; split them over several requests."
        )
        raise BadRequest(msg, param="documents")
    docs = []
    for index, item in enumerate(value):
        at = f"documents[{index}]"
        if isinstance(item, dict) and "text" in item and "content" not in item:
            if not isinstance(item["text"], str) or not item["text"]:
                msg = f"`{at}.text` must be a non-empty string."
                raise BadRequest(msg, param=at)
            docs.append(Document(item["text"], item.get("id"), item.get("metadata")))
        elif item_fn is not None:
            docs.append(_image_document(item, at, item_fn))
        else:
            docs.append(Document(_one_text(item, at)))
    return docs


def _image_document(item: Any, where: str, item_fn: ItemFn) -> Document:
    if isinstance(item, str):
        return Document(item, item=item_fn(item, where))
    if isinstance(item, list) and item and all(isinstance(p, dict) and "type" in p for p in item):
        item = {"content": item}
    scored = item_fn(item, where)
    parts = scored["content"] if isinstance(scored, dict) else None
    if isinstance(parts, str):  # {"content": "text"} is a text document
        return Document(parts, _get(item, "id"), _get(item, "metadata"), item=scored)
    return Document(None, _get(item, "id"), _get(item, "metadata"), parts, item=scored)


def _get(item: Any, key: str) -> Any:
    return item.get(key) if isinstance(item, dict) else None
