"""``/v1/embeddings``, ``/pooling`` and ``/classify``: one prompt in, pooled output out."""

from __future__ import annotations

import json
from typing import Any

import torch
from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from adapters.server.common import ErrorRoute, JSONBody, ServerState, envelope, state_of
from adapters.server.encoding import bytes_body, encode_item
from adapters.server.errors import BadRequest
from adapters.server.images import pooling_items
from adapters.server.inputs import Prompt, messages_text, prompts_from
from adapters.server.models import ServedModel
from adapters.server.schemas import ClassifyRequest, EmbeddingRequest, PoolingRequest

router = APIRouter(route_class=ErrorRoute)


@router.post("/v1/embeddings")
async def embeddings(body: EmbeddingRequest, request: Request) -> Response:
    state = state_of(request)
    served = state.registry.get(body.model)
    served.require("embed", "Embeddings API")
    tensors, counts = await _pool(state, served, "embed", body, body.dimensions)
    return _pooled(body, served, "embd", "embedding", tensors, counts)


@router.post("/pooling")
async def pooling(body: PoolingRequest, request: Request) -> Response:
    state = state_of(request)
    served = state.registry.get(body.model)
    task = body.task or _default_task(served)
    if task in ("sparse", "hybrid"):
        return await _sparse_or_hybrid(state, served, task, body)
    _require_pooling_task(served, task)
    if task in ("classify", "token_classify") and body.dimensions is not None:
        msg = f"`dimensions` applies to embeddings, not to task {task!r}."
        raise BadRequest(msg, param="dimensions")
    if task == "plugin" and body.input is None:
        body.input = body.data
    tensors, counts = await _pool(state, served, task, body, body.dimensions)
    return _pooled(body, served, "pool", "pooling", tensors, counts)


@router.post("/classify")
async def classify(body: ClassifyRequest, request: Request) -> Response:
    state = state_of(request)
    served = state.registry.get(body.model)
    served.require("classify", "Classification API")
    tensors, counts = await _pool(state, served, "classify", body, None)
    labels = served.llm.id2label
    data = []
    for index, probs in enumerate(tensors):
        values = probs.reshape(-1).float().tolist()
        best = int(torch.argmax(probs.reshape(-1)).item())
        data.append(
            {"index": index, "label": labels.get(best), "probs": values, "num_classes": len(values)}
        )
    return JSONBody(envelope("classify", body.model or served.name, data, sum(counts)))


# -- helpers ----------------------------------------------------------------------------------
def _require_pooling_task(served: ServedModel, task: str) -> None:
    """vLLM's /pooling refusal: the message starts "Unsupported task: 'x'" (clients match it)."""
    if task in served.tasks:
        return
    if task == "plugin":
        why = "No IOProcessor plugin installed; load the model with io_processor_plugin=..."
    else:
        why = f"The model `{served.name}` supports {list(served.tasks)}."
    msg = f"Unsupported task: {task!r}. {why}"
    raise BadRequest(msg, param="task")


def _default_task(served: ServedModel) -> str:
    for task in ("embed", "classify", "token_embed", "token_classify", "plugin"):
        if task in served.tasks:
            return task
    msg = f"Set `task`; the model supports {list(served.tasks)}."
    raise BadRequest(msg, param="task")


async def _prompts(state: ServerState, served: ServedModel, body: Any) -> list[Prompt]:
    if body.messages is not None:
        if body.input is not None:
            msg = "Send either `input` or `messages`, not both."
            raise BadRequest(msg, param="messages")
        return list(
            messages_text(
                body.messages,
                served.tokenizer,
                add_generation_prompt=body.add_generation_prompt,
                continue_final_message=body.continue_final_message,
                template_kwargs=body.chat_template_kwargs,
            )
        )
    return prompts_from(body.input, "input", state.config.max_inputs)


async def _pool(
    state: ServerState, served: ServedModel, task: str, body: Any, dimensions: int | None
) -> tuple[list[torch.Tensor], list[int]]:
    """Tensors (one per prompt) and exact token counts, micro-batched with other requests."""
    served.check_truncation(body.truncate_prompt_tokens)
    items = pooling_items(served.llm, body.messages, body.input, state.config.max_inputs)
    if items is not None:
        return await _pool_items(served, task, items, body, dimensions)
    prompts = await _prompts(state, served, body)
    prepared, counts = await run_in_threadpool(
        served.prepare,
        prompts,
        add_special_tokens=body.special_tokens(body.messages),
        truncate=body.truncate_prompt_tokens,
    )
    truncate, side, activation = (
        body.truncate_prompt_tokens,
        body.truncation_side,
        body.use_activation,
    )
    key = (task, dimensions, activation, truncate, side)
    llm = served.llm

    def run(batch: list[Prompt]) -> list[tuple[torch.Tensor, int]]:
        from encoders import PoolingParams

        params = PoolingParams(dimensions=dimensions, use_activation=activation)
        # Texts go as {"prompt": ...} so an image-reading model never takes one for a file.
        prompts = [{"prompt": p} if isinstance(p, str) else p for p in batch]
        outputs = llm.encode(
            prompts,
            params,
            pooling_task=task,
            truncate_prompt_tokens=truncate,
            use_tqdm=False,
            tokenization_kwargs={"truncation_side": side} if side else None,
        )
        return [(o.outputs.data, len(o.prompt_token_ids)) for o in outputs]

    results = await served.run_batched(key, prepared, counts, run)
    return [r[0] for r in results], [r[1] for r in results]


async def _pool_items(
    served: ServedModel, task: str, items: list[Any], body: Any, dimensions: int | None
) -> tuple[list[torch.Tensor], list[int]]:
    """Image / content-part items, run alone on the model thread (image work is not merged
    across requests by the token budget). Counts include the image patch tokens."""
    if body.truncate_prompt_tokens is not None:
        msg = (
            "`truncate_prompt_tokens` applies to text inputs; image and content-part inputs "
            "are not truncated. Drop the field for this request."
        )
        raise BadRequest(msg, param="truncate_prompt_tokens")
    llm, activation = served.llm, body.use_activation

    def run() -> tuple[list[torch.Tensor], list[int]]:
        from encoders import PoolingParams

        params = PoolingParams(dimensions=dimensions, use_activation=activation)
        outputs = llm.encode(items, params, pooling_task=task, use_tqdm=False)
        return [o.outputs.data for o in outputs], [len(o.prompt_token_ids) for o in outputs]

    tensors, counts = await served.worker.call(run)
    served.worker.metrics.prompt_tokens.labels(served.name).inc(sum(counts))
    return tensors, counts


def _pooled(
    body: Any,
    served: ServedModel,
    prefix: str,
    kind: str,
    tensors: list[torch.Tensor],
    counts: list[int],
) -> Response:
    fmt, model = body.encoding_format, body.model or served.name
    if fmt in ("bytes", "bytes_only"):
        payload, items = bytes_body(tensors, body.embed_dtype, body.endianness)
        headers = {}
        if fmt == "bytes":
            # vLLM's header: the JSON envelope with the byte layout of each item as `data`.
            headers["metadata"] = json.dumps(envelope(prefix, model, items, sum(counts)))
        return Response(payload, media_type="application/octet-stream", headers=headers)
    field = "embedding" if kind == "embedding" else "data"
    data = [
        {"index": i, "object": kind, field: encode_item(t, fmt, body.embed_dtype, body.endianness)}
        for i, t in enumerate(tensors)
    ]
    return JSONBody(envelope(prefix, model, data, sum(counts)))


async def _sparse_or_hybrid(
    state: ServerState, served: ServedModel, task: str, body: PoolingRequest
) -> Response:
    """Toolkit tasks: ``sparse`` gives ``{token_id, weight, token}`` lists (vLLM's BGE-M3
    sparse plugin shape); ``hybrid`` gives the dense vector and token vectors from one forward
    pass, plus BGE-M3's lexical weights (``sparse_embedding`` is null for other models)."""
    if body.encoding_format not in ("float", "base64"):
        msg = f"task {task!r} returns JSON; use encoding_format float or base64."
        raise BadRequest(msg, param="encoding_format")
    prompts = await _prompts(state, served, body)
    served.check_truncation(body.truncate_prompt_tokens)
    llm, truncate = served.llm, body.truncate_prompt_tokens
    if task == "sparse":
        outputs = await served.worker.call(
            lambda: llm.embed_sparse(prompts, truncate_prompt_tokens=truncate, use_tqdm=False)
        )
        data = [
            {"index": i, "object": "sparse-embedding", "sparse_embedding": o.outputs.to_dict()}
            for i, o in enumerate(outputs)
        ]
    else:
        outputs = await served.worker.call(
            lambda: llm.embed_hybrid(prompts, truncate_prompt_tokens=truncate, use_tqdm=False)
        )
        fmt, dtype, endian = body.encoding_format, body.embed_dtype, body.endianness
        data = [
            {
                "index": i,
                "object": "hybrid-embedding",
                "dense": encode_item(torch.tensor(o.outputs.dense), fmt, dtype, endian),
                "sparse_embedding": None
                if o.outputs.sparse is None
                else o.outputs.sparse.to_dict(),
                "multi_vector": encode_item(o.outputs.multi_vector, fmt, dtype, endian),
            }
            for i, o in enumerate(outputs)
        ]
    tokens = sum(len(o.prompt_token_ids) for o in outputs)
    return JSONBody(envelope("pool", body.model or served.name, data, tokens))
