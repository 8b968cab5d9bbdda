"""The search page (``GET /``) and what it fetches besides ``POST /v1/search``:

- ``GET /v1/collection`` - the collection's name, size, model and what each score means;
- ``GET /v1/pages/image?id=&max_side=`` - a hit's kept page image (PNG);
- ``GET /v1/pages/similarity?id=&query=`` - the query's tokens and its map's patch grid;
- ``GET /v1/pages/heatmap?id=&query=&token=&max_side=`` - the page with the similarity map of
  one query token (none: all tokens) blended over it (JPEG).

Images are named by chunk id, never by path: only page images the collection keeps inside
its folder are read (``web.views``), and none comes out larger than ``views.MAX_SIDE``. The
page itself holds no data, so it is the one route besides ``/health`` open without the API
key; everything it fetches sends the key (``Authorization: Bearer``) like any client.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from adapters.server.common import ErrorRoute, JSONBody, state_of
from adapters.server.errors import APIError
from adapters.server.routes_search import CollectionSearch
from adapters.server.web import views
from adapters.server.web.page import content_security_policy, render_page

router = APIRouter(route_class=ErrorRoute)

ChunkId = Annotated[str, Query(min_length=1, max_length=1024, description="a hit's id")]
QueryText = Annotated[str, Query(min_length=1, max_length=2000)]
Side = Annotated[int | None, Query(ge=1, description=f"clamped to {views.MAX_SIDE}")]
Token = Annotated[int | None, Query(ge=0)]

_PAGE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}


@router.get("/", include_in_schema=False)
async def page() -> Response:
    policy = content_security_policy(live=True) + "; frame-ancestors 'none'"
    headers = {**_PAGE_HEADERS, "Content-Security-Policy": policy}
    return Response(render_page(), media_type="text/html; charset=utf-8", headers=headers)


@router.get("/v1/collection")
async def collection_info(request: Request) -> Response:
    index = state_of(request).index
    if isinstance(index, CollectionSearch):
        return JSONBody(await run_in_threadpool(views.collection_summary, index.collection))
    if index is None:
        raise APIError(404, "No index is loaded; start the server with --index DIR.")
    # A single index folder: no chunk store, no page images.
    kind = type(index).__name__
    stages = {"index": f"the {kind}'s own score"}
    summary = {"name": getattr(getattr(index, "path", None), "name", None) or kind,
               "chunks": len(index), "model": None, "kind": kind, "images": False,
               "page_images": 0, "stages": stages}  # fmt: skip
    return JSONBody(summary)


@router.get("/v1/pages/image")
async def page_image(request: Request, id: ChunkId, max_side: Side = None) -> Response:
    pages = _pages(request)
    image = await run_in_threadpool(_guarded, pages.page, id, max_side)
    return _image(await run_in_threadpool(views.encode_image, image, "PNG"), "png")


@router.get("/v1/pages/similarity")
async def page_similarity(request: Request, id: ChunkId, query: QueryText) -> Response:
    pages = _pages(request)
    return JSONBody(await _on_model(request, lambda: _guarded(pages.tokens, query, id)))


@router.get("/v1/pages/heatmap")
async def page_heatmap(
    request: Request, id: ChunkId, query: QueryText, token: Token = None, max_side: Side = None
) -> Response:
    pages = _pages(request)
    image = await _on_model(request, lambda: _guarded(pages.heatmap, query, id, token, max_side))
    return _image(await run_in_threadpool(views.encode_image, image, "JPEG"), "jpeg")


def _pages(request: Request) -> views.PageViews:
    """The page views of the served collection (made on first use, kept on the app)."""
    state = state_of(request)
    index = state.index
    if not isinstance(index, CollectionSearch):
        what = (
            "No index is loaded"
            if index is None
            else "The served index is a single index folder, which keeps no page images"
        )
        raise APIError(404, f"{what}; serve a collection with --index DIR.")
    if index.pages is None:
        index.pages = views.PageViews(index.collection)
    return index.pages


async def _on_model(request: Request, work: Any) -> Any:
    """Run ``work`` (which runs the collection's model) as searches run: on the served
    model's queue when the collection shares it, else on a thread, one at a time."""
    state = state_of(request)
    index = state.index
    assert isinstance(index, CollectionSearch)
    return await index.run(state.registry, work)


def _guarded(method: Any, *args: Any) -> Any:
    try:
        return method(*args)
    except views.PageNotFound as err:
        raise APIError(404, str(err), param="id") from err
    except views.PageUnreadable as err:
        raise APIError(422, str(err), param="id") from err


def _image(data: bytes, kind: str) -> Response:
    headers = {"Cache-Control": "private, max-age=300", "X-Content-Type-Options": "nosniff"}
    return Response(data, media_type=f"image/{kind}", headers=headers)
