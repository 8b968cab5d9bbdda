"""``/score`` (four request shapes) and ``/rerank`` (vLLM, Jina and Cohere shapes)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from adapters.server.common import ErrorRoute, JSONBody, envelope, new_id, state_of, usage
from adapters.server.errors import APIError, BadRequest
from adapters.server.images import reads_images, score_item
from adapters.server.inputs import ItemFn, content_text, documents_from, score_side
from adapters.server.models import ServedModel
from adapters.server.schemas import RerankRequest, ScoreRequest

router = APIRouter(route_class=ErrorRoute)

_PAIRS = (
    ("text_1", "text_2"),
    ("data_1", "data_2"),
    ("queries", "documents"),
    ("queries", "items"),
)


@router.post("/score")
@router.post("/v1/score")
async def score(body: ScoreRequest, request: Request) -> Response:
    state = state_of(request)
    served = state.registry.get(body.model)
    _require_scoring(served, "Score API")
    first, second = _pick_pair(body)
    limit, item_fn = state.config.max_inputs, _item_fn(served)
    side_1 = score_side(getattr(body, first), first, limit, item_fn)
    side_2 = score_side(getattr(body, second), second, limit, item_fn)
    if len(side_1) != 1 and len(side_1) != len(side_2):
        msg = f"Input lengths must be either 1:1, 1:N or N:N (got {len(side_1)}:{len(side_2)})."
        raise BadRequest(
            msg,
            param=second,
        )
    scores, tokens = await _scores(served, side_1, side_2, body)
    data = [{"index": i, "object": "score", "score": s} for i, s in enumerate(scores)]
    return JSONBody(envelope("score", body.model or served.name, data, tokens))


@router.post("/rerank")
@router.post("/v1/rerank")
@router.post("/v2/rerank")
async def rerank(body: RerankRequest, request: Request) -> Response:
    state = state_of(request)
    served = state.registry.get(body.model)
    _require_scoring(served, "Rerank API")
    if body.query is None:
        msg = "`query` is required."
        raise BadRequest(msg, param="query")
    query = _query(body.query, served)
    docs = documents_from(body.documents, state.config.max_inputs, _item_fn(served))
    scores, tokens = await _scores(served, [query], [d.scored for d in docs], body)
    order = sorted(range(len(docs)), key=lambda i: scores[i], reverse=True)
    if body.top_n:
        order = order[: body.top_n]
    results = []
    for i in order:
        item: dict[str, Any] = {"index": i, "relevance_score": scores[i]}
        if body.return_documents:
            item["document"] = docs[i].wire()
        results.append(item)
    return JSONBody(
        {
            "id": new_id("rerank"),
            "model": body.model or served.name,
            "usage": usage(tokens),
            "results": results,
            "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": 1}},
        }
    )


def _item_fn(served: ServedModel) -> ItemFn | None:
    """Image-reading models score runtime items (text, images, mixed); others plain text."""
    if not reads_images(served.llm):
        return None
    llm = served.llm
    return lambda value, where: score_item(llm, value, where)


def _query(value: Any, served: ServedModel) -> Any:
    if not isinstance(value, str) and not (isinstance(value, dict) and "content" in value):
        msg = "`query` must be a string or {'content': [parts]}."
        raise BadRequest(msg, param="query")
    if reads_images(served.llm):
        return score_item(served.llm, value, "query")
    query = value if isinstance(value, str) else content_text(value["content"], "query.content")
    if not query:
        msg = "`query` is an empty string."
        raise BadRequest(msg, param="query")
    return query


def _require_scoring(served: ServedModel, api: str) -> None:
    tasks = served.tasks
    if not ({"score", "embed", "token_embed"} & set(tasks)):
        raise APIError(
            400,
            f"The model `{served.name}` does not support the {api}; its tasks are {list(tasks)}.",
        )


def _pick_pair(body: ScoreRequest) -> tuple[str, str]:
    given = [
        (a, b) for a, b in _PAIRS if getattr(body, a) is not None and getattr(body, b) is not None
    ]
    if len(given) == 1:
        return given[0]
    if not given:
        msg = (
            "Send one pair of fields: text_1/text_2, data_1/data_2, queries/documents or "
            "queries/items."
        )
        raise BadRequest(
            msg,
            param="text_1",
        )
    msg = f"Send only one pair of fields; got {given}."
    raise BadRequest(msg, param=given[1][0])


async def _scores(
    served: ServedModel, side_1: list[Any], side_2: list[Any], body: Any
) -> tuple[list[float], int]:
    """Scores of the 1:1 / 1:N / N:N pairs and the prompt tokens read, on the model thread."""
    served.check_truncation(body.truncate_prompt_tokens)
    llm, truncate, activation = served.llm, body.truncate_prompt_tokens, body.use_activation

    def run() -> tuple[list[float], int]:
        from encoders import PoolingParams

        per_doc = getattr(body, "max_tokens_per_doc", None)
        params = PoolingParams(
            use_activation=activation,
            extra_kwargs={"max_tokens_per_doc": per_doc} if per_doc is not None else None,
        )
        first: Any = side_1[0] if len(side_1) == 1 else side_1
        outputs = llm.score(
            first, side_2, truncate_prompt_tokens=truncate, use_tqdm=False, pooling_params=params
        )
        return [float(o.outputs.score) for o in outputs], sum(
            len(o.prompt_token_ids) for o in outputs
        )

    scores, tokens = await served.worker.call(run)
    served.worker.metrics.prompt_tokens.labels(served.name).inc(tokens)
    return scores, tokens
