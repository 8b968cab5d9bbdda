"""``POST /v1/search``: query text in, hits (id, score, metadata) out, over ``--index DIR``.

``DIR`` is either a saved retrieval pipeline (``pipeline.json``: its own models, first
stages, fusion and rerank stages, run by ``retrieval.Retriever``; hits carry every stage's
score) or a plain saved index, whose query is encoded with the request's model (dense for
FAISS / exact, sparse for a sparse index) and searched with the index's own ``search``.
Either way the shared filter language applies, and hits can be reranked by a served scoring
model over each hit's ``metadata[text_field]``.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from adapters.server.common import ErrorRoute, JSONBody, new_id, state_of, usage
from adapters.server.errors import APIError, BadRequest
from adapters.server.models import ServedModel
from adapters.server.schemas import SearchRequest
from retrieval.errors import ConfigError, IndexNotFoundError

router = APIRouter(route_class=ErrorRoute)


class PipelineSearch:
    """A saved pipeline behind ``/v1/search``; one search at a time (its models are its own)."""

    def __init__(self, pipeline: Any) -> None:
        self.retriever = pipeline.retriever
        self.lock = threading.Lock()

    def search(self, query: str, k: int, filter: Any) -> list[dict[str, Any]]:
        with self.lock:
            return [hit.to_dict() for hit in self.retriever.search(query, k=k, filter=filter)]


def open_index(path: str | Path) -> Any:
    """Open a saved pipeline, or an index folder by the kind its manifest records."""
    from indexes import ExactIndex, FaissIndex, SparseIndex

    if (Path(path) / "pipeline.json").is_file():
        from adapters.collection import Pipeline

        return PipelineSearch(Pipeline.open(path))
    manifest = Path(path) / "manifest.json"
    if not manifest.is_file():
        msg = (
            f"{path} holds no saved index (no manifest.json); build one "
            "with `retrieval index` or an index's save()."
        )
        raise IndexNotFoundError(msg)
    kind = json.loads(manifest.read_text(encoding="utf-8")).get("kind")
    kinds: dict[str, Any] = {"faiss": FaissIndex, "sparse": SparseIndex, "exact": ExactIndex}
    if kind not in kinds:
        msg = f"{path} holds a {kind!r} index; /v1/search serves {sorted(kinds)}."
        raise ConfigError(msg)
    return kinds[kind].open(path)


@router.post("/v1/search")
async def search(body: SearchRequest, request: Request) -> Response:
    state = state_of(request)
    if state.index is None:
        raise APIError(404, "No index is loaded; start the server with --index DIR.")
    if not isinstance(body.query, str) or not body.query:
        msg = "`query` must be a non-empty string."
        raise BadRequest(msg, param="query")
    index, query = state.index, body.query
    served = state.registry.get(body.model)
    if isinstance(index, PipelineSearch):
        out = await run_in_threadpool(index.search, query, body.k, body.filter)
        tokens = 0
    else:
        sparse = type(index).__name__ == "SparseIndex"
        vector, tokens = await served.worker.call(lambda: _encode(served, query, sparse))
        hits = await run_in_threadpool(index.search, vector, body.k, body.filter)
        out = [{"id": h.id, "score": float(h.score), "metadata": h.metadata} for h in hits]
    if body.rerank_model is not None and out:
        tokens += await _rerank(
            state.registry.get(body.rerank_model), query, out, body, state.config.index_text_field
        )
    return JSONBody(
        {
            "id": new_id("search"),
            "object": "list",
            "model": body.model or served.name,
            "hits": out,
            "usage": usage(tokens),
        }
    )


def _encode(served: ServedModel, query: str, sparse: bool) -> tuple[Any, int]:
    llm = served.llm
    if sparse:
        (out,) = llm.embed_sparse([query], use_tqdm=False)
        return out.outputs, len(out.prompt_token_ids)
    (out,) = llm.encode([query], pooling_task="embed", use_tqdm=False)
    return out.outputs.data.float().numpy()[None, :], len(out.prompt_token_ids)


async def _rerank(
    reranker: ServedModel, query: str, hits: list[dict[str, Any]], body: SearchRequest, field: str
) -> int:
    """Re-score hits in place with ``reranker`` and sort them; returns tokens read."""
    texts = []
    for hit in hits:
        text = hit["metadata"].get(field)
        if not isinstance(text, str) or not text:
            msg = f"Hit {hit['id']!r} has no text in metadata[{field!r}] to rerank."
            raise BadRequest(msg, param="rerank_model")
        texts.append(text)
    llm = reranker.llm
    outputs = await reranker.worker.call(
        lambda: llm.score(query, texts, use_tqdm=False, truncate_prompt_tokens=-1)
    )
    for hit, output in zip(hits, outputs, strict=True):
        hit["first_stage_score"] = hit["score"]
        hit["score"] = float(output.outputs.score)
    hits.sort(key=lambda h: h["score"], reverse=True)
    del hits[body.rerank_top_n or len(hits) :]
    return sum(len(o.prompt_token_ids) for o in outputs)
