"""Turn ``VisionItem``s into Qwen3-VL model inputs (what ``Qwen3VLProcessor`` produces).

Pixels come from ``pixels.py`` (the pixels of transformers' default, torchvision-backed Qwen2-VL
image processor, computed with torch alone); the prompt from the tokenizer's chat template or
the format's own image prompt; each ``<|image_pad|>`` is then expanded to the image's merged
patch count, ``t * h * w / merge_size**2``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from encoders.vision.formats import IMAGE_PLACEHOLDER, VisionFormat
from encoders.vision.images import ImagePolicy, load_image
from encoders.vision.items import ImagePart, VisionItem
from encoders.vision.pixels import image_patches, read_settings
from retrieval.errors import ConfigError, InputTooLongError


@dataclass(frozen=True, eq=False)
class Prepared:
    """One item ready for the model."""

    token_ids: list[int]
    """Prompt ids with every image placeholder expanded to its patch tokens."""
    pixel_values: torch.Tensor | None
    """``(n_patches, channels * temporal_patch * patch * patch)`` for this item's images."""
    grids: torch.Tensor | None
    """``(n_images, 3)`` ``(t, h, w)`` patch grid per image, before merging."""


def _processor_chat_template(folder: Path) -> str | None:
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    path = folder / "chat_template.json"
    if path.is_file():
        template = json.loads(path.read_text(encoding="utf-8")).get("chat_template")
        return template if isinstance(template, str) else None
    return None


class VisionProcessor:
    """Prompt rendering, image loading and token expansion for one model."""

    def __init__(self, folder: Path, tokenizer: Any, config: Any, fmt: VisionFormat) -> None:
        self.tokenizer = tokenizer
        if not getattr(tokenizer, "chat_template", None):
            # Multi-modal checkpoints often keep the template beside the processor instead.
            tokenizer.chat_template = _processor_chat_template(folder)
        self.pixels = read_settings(folder)
        self.image_token_id = int(config.image_token_id)
        self.merge = self.pixels.merge_size
        self.format = fmt
        self.policy = ImagePolicy()

    def render(self, item: VisionItem) -> str:
        """The prompt of a message item (images as placeholders): the chat template's, or the
        format's own raw prompt for a bare image."""
        fmt = self.format
        if item.bare_image and fmt.image_prompt is not None:
            return fmt.image_prompt
        generation = item.generation_prompt or (item.bare_image and fmt.chat)
        messages: list[dict[str, Any]] = []
        for role, content in item.messages or ():
            parts: list[dict[str, Any]] = [
                {"type": "image"} if isinstance(p, ImagePart) else {"type": "text", "text": p}
                for p in content
            ]
            if item.bare_image and fmt.image_text:
                parts.append({"type": "text", "text": fmt.image_text})
            messages.append({"role": role, "content": parts})
        if getattr(self.tokenizer, "chat_template", None):
            return str(
                self.tokenizer.apply_chat_template(
                    messages, tokenize=False, add_generation_prompt=generation
                )
            )
        # Qwen's chat layout, for tokenizers saved without a template.
        turns = []
        for message in messages:
            body = "".join(
                IMAGE_PLACEHOLDER if p["type"] == "image" else p["text"] for p in message["content"]
            )
            turns.append(f"<|im_start|>{message['role']}\n{body}<|im_end|>\n")
        return "".join(turns) + ("<|im_start|>assistant\n" if generation else "")

    def prepare(self, item: VisionItem, where: str, max_len: int) -> Prepared:
        """Token ids (+ pixels) of one item; over-long inputs are a clear error."""
        if item.token_ids is not None:
            return self._checked(Prepared(list(item.token_ids), None, None), where, max_len)
        if item.text is not None:
            ids = self.tokenizer(item.text, add_special_tokens=True)["input_ids"]
            return self._checked(Prepared(list(ids), None, None), where, max_len)
        ids = list(self.tokenizer(self.render(item), add_special_tokens=False)["input_ids"])
        images = [
            load_image(p.source, self.policy, f"{where} image {i}")
            for i, p in enumerate(item.images)
        ]
        slots = [i for i, t in enumerate(ids) if t == self.image_token_id]
        if len(slots) != len(images):
            msg = (
                f"{where}: the prompt has {len(slots)} image placeholders for {len(images)} "
                "images; check the model's chat template."
            )
            raise ConfigError(msg)
        if not images:
            return self._checked(Prepared(ids, None, None), where, max_len)
        patches = [image_patches(image, self.pixels) for image in images]
        pixel_values = torch.cat([rows for rows, _ in patches])
        grids = torch.cat([grid for _, grid in patches])
        counts = [int(g.prod()) // self.merge**2 for g in grids]
        expanded: list[int] = []
        start = 0
        for slot, count in zip(slots, counts, strict=True):
            expanded += ids[start:slot] + [self.image_token_id] * count
            start = slot + 1
        expanded += ids[start:]
        return self._checked(Prepared(expanded, pixel_values, grids), where, max_len)

    @staticmethod
    def _checked(prepared: Prepared, where: str, max_len: int) -> Prepared:
        if len(prepared.token_ids) > max_len:
            msg = (
                f"{where} has {len(prepared.token_ids)} tokens (image patches included), more "
                f"than this model's maximum context length of {max_len}. Shorten the text, "
                "downscale the image (image processor longest_edge), or raise max_model_len."
            )
            raise InputTooLongError(msg)
        if not prepared.token_ids:
            msg = f"{where} is empty after tokenization."
            raise ConfigError(msg)
        return prepared


def side_item(item: VisionItem, fmt: VisionFormat, is_query: bool) -> VisionItem:
    """``item`` with the format's query or document prompt around it when it is plain text
    (images and content parts are taken as given, like ``encode``)."""
    if item.text is None:
        return item
    text = (fmt.query_prompt if is_query else fmt.document_prompt).format(text=item.text)
    if fmt.chat:
        return VisionItem(messages=(("user", (text,)),), generation_prompt=True)
    return VisionItem(text=text)
