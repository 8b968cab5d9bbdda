"""Image and mixed inputs for models that read images (ColQwen3-style late-interaction models).

Requests hand the runtime the items ``encoders.LLM`` accepts (``{"content": [parts]}``,
``{"messages": [...]}``, ``{"prompt": text}``), after the server's own source check: images
come inline as ``data:image/...;base64,`` URLs, ``http(s)`` URLs only when the model was
loaded with ``allow_remote_images`` (``retrieval serve --allow-remote-images``), and never as
file paths or ``file://`` URLs, whatever the model's own policy says, so a caller cannot make
the server read its disk. Decoding (bad base64, corrupt or oversized images) is left to the
runtime, whose ``ConfigError`` becomes a 400 with its message.
"""

from __future__ import annotations

from typing import Any

from adapters.server.errors import BadRequest

_PART_HELP = "{'type': 'text', 'text': ...} or {'type': 'image_url', 'image_url': {'url': ...}}"


def image_policy(llm: Any) -> Any | None:
    """The runtime's ``ImagePolicy`` when ``llm`` reads images, else None (text-only model)."""
    from encoders.vision.colqwen import ColQwenModel

    model = getattr(llm, "model", None)
    return model.processor.policy if isinstance(model, ColQwenModel) else None


def reads_images(llm: Any) -> bool:
    return image_policy(llm) is not None


def _allow_remote(llm: Any) -> bool:
    policy = image_policy(llm)
    return bool(policy is not None and policy.allow_remote)


def check_image_url(url: Any, where: str, allow_remote: bool) -> str:
    """``url`` when the server may load it: a data URL, or http(s) when remote is enabled."""
    if not isinstance(url, str) or not url:
        msg = f"`{where}.image_url.url` is missing; send a data:image/png;base64,... URL."
        raise BadRequest(msg, param=where)
    head = url[:16]
    scheme = head.split(":", 1)[0].lower() if ":" in head else ""
    if scheme == "data":
        return url
    if scheme in ("http", "https"):
        if allow_remote:
            return url
        msg = (
            f"`{where}` uses a remote image URL ({url[:80]!r}); this server does not fetch "
            "remote images. Send the image inline as data:image/png;base64,..., or start the "
            "server with --allow-remote-images if you trust its callers."
        )
        raise BadRequest(msg, param=where)
    allowed = "data: URLs and http(s) URLs" if allow_remote else "data: URLs"
    msg = (
        f"`{where}` names a local file or an unsupported URL ({url[:80]!r}); this server "
        f"reads images only from {allowed}, never from its own disk. Send the image inline "
        "as data:image/png;base64,..."
    )
    raise BadRequest(msg, param=where)


def checked_content(content: Any, where: str, allow_remote: bool) -> str | list[dict[str, Any]]:
    """An OpenAI ``content`` (string or non-empty list of text / image_url parts), checked."""
    if isinstance(content, str):
        if not content:
            msg = f"`{where}` is an empty string."
            raise BadRequest(msg, param=where)
        return content
    if not isinstance(content, list) or not content:
        msg = f"`{where}` must be a string or a non-empty list of content parts."
        raise BadRequest(msg, param=where)
    parts: list[dict[str, Any]] = []
    for index, part in enumerate(content):
        at = f"{where}[{index}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            parts.append({"type": "text", "text": part["text"]})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            url = check_image_url(url, at, allow_remote)
            parts.append({"type": "image_url", "image_url": {"url": url}})
        else:
            msg = f"`{at}` must be {_PART_HELP}."
            raise BadRequest(msg, param=at)
    return parts


def content_item(value: Any, where: str, allow_remote: bool) -> dict[str, Any]:
    """``{"content": ...}`` (role kept) -> the runtime's item, images checked."""
    content = checked_content(value["content"], f"{where}.content", allow_remote)
    return {"role": str(value.get("role", "user")), "content": content}


def text_item(value: str, where: str) -> dict[str, str]:
    """Plain text as ``{"prompt": text}``: the runtime then never takes it for a file path
    (a bare string naming an existing image file would otherwise be read as that image)."""
    if not value:
        msg = f"`{where}` is an empty string."
        raise BadRequest(msg, param=where)
    return {"prompt": value}


def conversations(messages: Any, where: str, allow_remote: bool) -> list[dict[str, Any]]:
    """``messages`` (one conversation or a list of them) -> ``{"messages": [...]}`` items."""
    if not isinstance(messages, list) or not messages:
        msg = f"`{where}` must be a non-empty list of chat messages."
        raise BadRequest(msg, param=where)
    nested = isinstance(messages[0], list)
    items = []
    for c_index, conversation in enumerate(messages if nested else [messages]):
        if not isinstance(conversation, list) or not conversation:
            msg = f"`{where}[{c_index}]` must be a non-empty list of chat messages."
            raise BadRequest(msg, param=where)
        clean = []
        for m_index, message in enumerate(conversation):
            at = f"{where}[{c_index}][{m_index}]" if nested else f"{where}[{m_index}]"
            if not isinstance(message, dict) or "role" not in message or "content" not in message:
                msg = f"`{at}` must be an object with `role` and `content`."
                raise BadRequest(msg, param=at)
            clean.append(content_item(message, at, allow_remote))
        items.append({"messages": clean})
    return items


def pooling_items(llm: Any, messages: Any, value: Any, max_inputs: int) -> list[Any] | None:
    """Runtime items for ``/pooling`` when a model that reads images gets ``messages`` or
    ``{"content": [...]}`` inputs; None for plain text / token ids (the micro-batched path)."""
    if not reads_images(llm):
        return None
    allow_remote, vocab = _allow_remote(llm), int(llm.vocab_size)
    if messages is not None:
        if value is not None:
            msg = "Send either `input` or `messages`, not both."
            raise BadRequest(msg, param="messages")
        items = conversations(messages, "messages", allow_remote)
    elif isinstance(value, dict):
        items = [_input_item(value, "input", allow_remote, vocab)]
    elif isinstance(value, list) and any(isinstance(v, dict) for v in value):
        items = [_input_item(v, f"input[{i}]", allow_remote, vocab) for i, v in enumerate(value)]
    else:
        return None
    if len(items) > max_inputs:
        msg = f"The request has {len(items)} inputs; at most {max_inputs} per request."
        raise BadRequest(msg, param="input")
    return items


def _input_item(value: Any, where: str, allow_remote: bool, vocab: int) -> Any:
    if isinstance(value, str):
        return text_item(value, where)
    if isinstance(value, dict) and "content" in value:
        return content_item(value, where, allow_remote)
    if isinstance(value, list) and value and all(_is_token(t, vocab) for t in value):
        return {"prompt_token_ids": list(value)}
    msg = (
        f"`{where}` has type {type(value).__name__}; each input must be a string, a list of "
        f"token ids (0..{vocab - 1}) or {{'content': [parts]}}."
    )
    raise BadRequest(msg, param=where)


def _is_token(value: Any, vocab: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < vocab


def score_item(llm: Any, value: Any, where: str) -> Any:
    """One ``/score`` side item or rerank query for a model that reads images."""
    if isinstance(value, str):
        return text_item(value, where)
    if isinstance(value, dict) and "content" in value:
        return content_item(value, where, _allow_remote(llm))
    msg = f"`{where}` has type {type(value).__name__}; expected a string or {{'content': [parts]}}."
    raise BadRequest(msg, param=where)
