"""``POST /v1/search``: query text in, hits (id, score, metadata) out, over ``--index DIR``.

``DIR`` is a collection (built by ``retrieval index``, a LangChain store or a ``Pipeline``):
its own encoder, first stages, fusion and rerank stages run as ``retrieval search`` runs
them, so the hits (ids, scores, ``metadata["text"]``, every stage's score) are the CLI's.
A single saved index folder (FAISS, exact, sparse) is still served too: its query is encoded
with the request's model (dense for FAISS / exact, sparse for a sparse index) and searched
with the index's own ``search``. Either way the shared filter language applies, and hits
can be reranked by a served scoring model over each hit's ``metadata[text_field]``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from adapters.server.common import ErrorRoute, JSONBody, new_id, state_of, usage
from adapters.server.errors import APIError, BadRequest
from adapters.server.models import ServedModel
from adapters.server.schemas import SearchRequest
from adapters.server.web.views import hit_view
from retrieval.errors import ConfigError

router = APIRouter(route_class=ErrorRoute)
T = TypeVar("T")


class CollectionSearch:
    """A collection behind ``/v1/search``; one search at a time. When a served model is the
    collection's own (``retrieval serve --index`` lends it), searches run on that model's
    thread, queued with its other requests, never beside them."""

    def __init__(self, collection: Any) -> None:
        self.collection = collection
        self.lock = threading.Lock()
        self.pages: Any = None
        """The search page's ``web.views.PageViews`` (made on its first request)."""

    def search(self, query: str, k: int, filter: Any) -> list[dict[str, Any]]:
        with self.lock:
            return [hit.to_dict() for hit in self.collection.search(query, k=k, filter=filter)]

    async def run(self, registry: Any, work: Callable[[], T]) -> T:
        """``work`` (which runs the collection's model) on the served model's queue when
        the collection shares it, else on a thread; one at a time either way."""

        def locked() -> T:
            with self.lock:
                return work()

        owner = self.owner(registry)
        if owner is None:
            return await run_in_threadpool(locked)
        result: T = await owner.worker.call(locked)
        return result

    def owner(self, registry: Any) -> ServedModel | None:
        """The served model whose ``LLM`` the collection encodes with, if any."""
        encoder = self.collection.encoder
        mine = {id(getattr(encoder, "llm", None)), id(getattr(encoder, "sparse_llm", None))}
        return next((m for m in registry.models if id(m.llm) in mine), None)


PipelineSearch = CollectionSearch
"""The 0.1 name (a saved Pipeline is a collection)."""


def open_index(path: str | Path, device: str | None = None) -> Any:
    """A collection (its models on ``device``), or a single index folder opened by the kind
    its manifest records."""
    from adapters.collection import Collection
    from adapters.collection.components import manifest_kind, open_index
    from adapters.collection.format import layout

    folder = Path(path)
    if layout(folder) == "index":
        kind = manifest_kind(folder)
        if kind not in ("faiss", "sparse", "exact"):
            msg = f"{path} holds a {kind!r} index; /v1/search serves ['exact', 'faiss', 'sparse']."
            raise ConfigError(msg)
        return open_index(folder)
    collection = Collection.open(folder, device=device)
    collection.encoder  # noqa: B018 - load the models now, not on the first request
    return CollectionSearch(collection)


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
    if isinstance(index, CollectionSearch):
        collection = index.collection
        out = await index.run(
            state.registry,
            lambda: [h.to_dict() for h in collection.search(query, k=body.k, filter=body.filter)],
        )
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
    if body.highlight:
        out = [hit_view(hit, query, state.config.index_text_field) for hit in out]
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
