"""``/tokenize``, ``/detokenize``, ``/v1/models``, ``/health``, ``/metrics``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from adapters.server.common import ErrorRoute, JSONBody, state_of
from adapters.server.errors import BadRequest
from adapters.server.inputs import messages_text
from adapters.server.models import ServedModel
from adapters.server.schemas import DetokenizeRequest, TokenizeRequest

router = APIRouter(route_class=ErrorRoute)


@router.get("/health")
async def health() -> Response:
    return JSONBody({"status": "ok"})


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    state = state_of(request)
    for served in state.registry.models:
        state.metrics.queue_depth.labels(served.name).set(served.worker.depth)
    payload, content_type = state.metrics.render()
    return Response(payload, media_type=content_type)


@router.get("/v1/models")
async def models(request: Request) -> Response:
    state = state_of(request)
    data = []
    for served in state.registry.models:
        for name in served.names:
            data.append(
                {
                    "id": name,
                    "object": "model",
                    "created": int(state.started),
                    "owned_by": "retrieval-toolkit",
                    "root": served.name,
                    "max_model_len": served.llm.max_model_len,
                    "tasks": list(served.tasks),
                }
            )
    return JSONBody({"object": "list", "data": data})


@router.post("/tokenize")
async def tokenize(body: TokenizeRequest, request: Request) -> Response:
    served = state_of(request).registry.get(body.model)
    if body.messages is not None:
        texts = messages_text(
            body.messages,
            served.tokenizer,
            add_generation_prompt=body.add_generation_prompt,
            continue_final_message=body.continue_final_message,
            template_kwargs=body.chat_template_kwargs,
        )
        if len(texts) != 1:
            msg = "`messages` must be one conversation for /tokenize."
            raise BadRequest(msg, param="messages")
        prompt = texts[0]
    elif isinstance(body.prompt, str):
        prompt = body.prompt
    else:
        msg = "`prompt` must be a string (or send `messages`)."
        raise BadRequest(msg, param="prompt")
    tokens, strs = await run_in_threadpool(
        _tokenize, served, prompt, body.add_special_tokens, body.return_token_strs
    )
    return JSONBody(
        {
            "count": len(tokens),
            "max_model_len": served.llm.max_model_len,
            "tokens": tokens,
            "token_strs": strs,
        }
    )


@router.post("/detokenize")
async def detokenize(body: DetokenizeRequest, request: Request) -> Response:
    served = state_of(request).registry.get(body.model)
    vocab = int(served.llm.vocab_size)
    bad = [t for t in body.tokens if t < 0 or t >= vocab]
    if bad:
        msg = f"Token id {bad[0]} is outside the vocabulary (0..{vocab - 1})."
        raise BadRequest(msg, param="tokens")
    with served.lock:
        prompt = served.tokenizer.decode(body.tokens)
    return JSONBody({"prompt": prompt})


def _tokenize(
    served: ServedModel, prompt: str, special: bool, strs: bool
) -> tuple[list[int], list[str] | None]:
    with served.lock:
        ids: list[int] = list(
            served.tokenizer(prompt, add_special_tokens=special, verbose=False)["input_ids"]
        )
        names: Any = served.tokenizer.convert_ids_to_tokens(ids) if strs else None
    return ids, names
