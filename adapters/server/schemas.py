"""Request bodies with vLLM's field names (pydantic; unknown fields are accepted, as in vLLM).

Inputs are typed ``Any`` here and checked by ``adapters.server.inputs`` so a wrong input gets
one clear message instead of one error per member of a union.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    field_validator,
    model_validator,
)

from adapters.server.encoding import EmbedDtype, EncodingFormat, Endianness

PoolingTask = Literal[
    "embed", "classify", "token_embed", "token_classify", "plugin", "sparse", "hybrid"
]
POOLING_ROUTE_TASKS: tuple[str, ...] = (
    "embed",
    "classify",
    "token_embed",
    "token_classify",
    "plugin",
    "sparse",
    "hybrid",
)
"""vLLM's tasks plus the toolkit's ``sparse`` ({token_id, weight, token} lists, SPLADE or
BGE-M3) and ``hybrid`` (BGE-M3 dense + sparse + ColBERT from one pass)."""


class CheckedBody(BaseModel):
    """Every request body: unknown fields allowed (as vLLM), text must be valid Unicode."""

    model_config = ConfigDict(extra="allow")

    @model_validator(mode="before")
    @classmethod
    def _valid_unicode(cls, data: Any) -> Any:
        where = _lone_surrogate(data)
        if where is not None:
            msg = (
                f"`{where}` holds a lone UTF-16 surrogate (an unpaired \\ud800-\\udfff "
                "escape), which is not valid Unicode text; send the text as UTF-8."
            )
            raise ValueError(msg)
        return data


def _lone_surrogate(data: Any) -> str | None:
    """Dotted path of the first string that cannot be encoded as UTF-8 (walked without
    recursion, so any nesting depth the JSON parser accepted is safe)."""
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return path or "body"
        elif isinstance(value, dict):
            stack.extend((f"{path}.{k}" if path else str(k), v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", v) for i, v in enumerate(value))
    return None


class RequestBase(CheckedBody):
    """Fields every pooling endpoint takes (vLLM's ``PoolingBasicRequestMixin``)."""

    model: str | None = None
    user: str | None = None
    truncate_prompt_tokens: StrictInt | None = Field(default=None, ge=-1)
    truncation_side: Literal["left", "right"] | None = None
    request_id: str | None = None
    priority: StrictInt = 0

    @model_validator(mode="before")
    @classmethod
    def _removed_fields(cls, data: Any) -> Any:
        if isinstance(data, dict) and "normalize" in data:
            msg = "Parameter `normalize` was removed; use `use_activation` instead."
            raise ValueError(msg)
        return data


class ChatFields(BaseModel):
    """vLLM's ``ChatRequestMixin`` switches for requests sent as ``messages``."""

    add_special_tokens: StrictBool | None = None
    """None = vLLM's defaults: true for ``input``, false for ``messages`` (the chat template
    already writes the special tokens)."""
    add_generation_prompt: StrictBool = False
    continue_final_message: StrictBool = False
    chat_template_kwargs: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one_ending(self) -> ChatFields:
        if self.add_generation_prompt and self.continue_final_message:
            msg = "Cannot set both `continue_final_message` and `add_generation_prompt` to True."
            raise ValueError(msg)
        return self

    def special_tokens(self, messages: Any) -> bool:
        if self.add_special_tokens is not None:
            return self.add_special_tokens
        return messages is None


class EncodingFields(BaseModel):
    encoding_format: EncodingFormat = "float"
    embed_dtype: EmbedDtype = "float32"
    endianness: Endianness = "native"


class EmbeddingRequest(RequestBase, EncodingFields, ChatFields):
    """``POST /v1/embeddings``: OpenAI's body plus vLLM's extras."""

    input: Any = None
    messages: Any = None
    dimensions: StrictInt | None = None
    use_activation: StrictBool | None = None


class PoolingRequest(EmbeddingRequest):
    """``POST /pooling``: any task; ``data`` is the plugin form's input."""

    task: PoolingTask | None = None
    data: Any = None


class ClassifyRequest(RequestBase, ChatFields):
    input: Any = None
    messages: Any = None
    use_activation: StrictBool | None = None


class ScoreRequest(RequestBase):
    """``POST /score``: one of four equivalent pairs of fields."""

    text_1: Any = None
    text_2: Any = None
    data_1: Any = None
    data_2: Any = None
    queries: Any = None
    documents: Any = None
    items: Any = None
    use_activation: StrictBool | None = None


class RerankRequest(RequestBase):
    """``POST /rerank``, ``/v1/rerank`` (Jina), ``/v2/rerank`` (Cohere)."""

    query: Any = None
    documents: Any = None
    top_n: StrictInt = Field(default=0, ge=0)
    return_documents: StrictBool = True
    use_activation: StrictBool | None = None
    max_tokens_per_doc: StrictInt | None = None
    """Cut each document to its first N tokens before scoring (Cohere's field, vLLM's rule)."""

    @field_validator("max_tokens_per_doc")
    @classmethod
    def _positive(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            msg = f"max_tokens_per_doc must be a positive integer, got {value}."
            raise ValueError(msg)
        return value


class TokenizeRequest(CheckedBody):
    model: str | None = None
    prompt: Any = None
    messages: Any = None
    add_special_tokens: StrictBool = True
    return_token_strs: StrictBool = False
    add_generation_prompt: StrictBool = True
    """vLLM's /tokenize renders chats with the generation prompt by default."""
    continue_final_message: StrictBool = False
    chat_template_kwargs: dict[str, Any] | None = None


class DetokenizeRequest(CheckedBody):
    model: str | None = None
    tokens: list[StrictInt]


class SearchRequest(CheckedBody):
    """``POST /v1/search``: query text in, hits out (toolkit extension)."""

    model: str | None = None
    query: Any = None
    k: StrictInt = Field(default=10, ge=1, le=1000)
    filter: dict[str, Any] | None = None
    rerank_model: str | None = None
    rerank_top_n: StrictInt | None = Field(default=None, ge=1)
    highlight: StrictBool = False
    """Add ``snippet`` to each hit with text: ``[[piece, matched], ...]`` around the query's
    words (the search page renders it with ``<mark>``)."""
