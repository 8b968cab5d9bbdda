"""What the search page shows of a collection's hits - snippets, what each score means, page
images and similarity maps - with no web framework (the server routes and the ``--html``
export both call it).

Only page images the collection keeps (``pages/`` inside its folder, found by chunk id
through ``Collection.page_image``) are ever read: a caller names a chunk, never a path.
Every image is decoded only when its header says it is of a sane size, and comes out with
its longest side at most ``MAX_SIDE`` pixels.
"""

from __future__ import annotations

import base64
import io
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from adapters.collection.snippets import snippet_parts
from retrieval.errors import ConfigError

DEFAULT_SIDE = 768
"""Longest side of a page image or heatmap when the request names none (pixels)."""
MAX_SIDE = 2048
"""The most any request gets, whatever ``max_side`` it asks for."""
MIN_SIDE = 16
MAP_SIDE = 1024
"""Longest side of the page image a similarity map is computed on."""
MAX_PIXELS = 64_000_000
"""Kept page images larger than this are refused before decoding (a decompression bomb)."""
MAX_TOKEN_MAPS = 24
"""Per-token maps an ``--html`` export embeds for one hit (the overall map always)."""

_SPECIAL = re.compile(r"^<[^<>]*>$")
FUSION = {
    "rrf": "reciprocal-rank fusion of the stages' lists",
    "weighted": "weighted sum of the stages' scores",
    "zscore": "fusion of the stages' per-query z-scores",
    "dbsf": "distribution-based score fusion of the stages' scores",
    "minmax": "fusion of the stages' min-max scaled scores",
}
"""Fused scores by their label on hits (``Fusion.label``)."""
RERANK = {
    "cross-encoder": "cross-encoder relevance",
    "maxsim": "MaxSim rerank (token embeddings)",
    "dense": "dense embedding rerank (dot product)",
    "sparse": "sparse (SPLADE) rerank (dot product)",
}


class PageNotFound(LookupError):
    """The chunk does not exist or keeps no page image (HTTP 404)."""


class PageUnreadable(ValueError):
    """A kept page image that cannot be decoded safely (HTTP 422)."""


def clamp_side(value: int | None) -> int:
    """``max_side`` bounded to ``[MIN_SIDE, MAX_SIDE]`` (``DEFAULT_SIDE`` when None)."""
    return DEFAULT_SIDE if value is None else max(MIN_SIDE, min(MAX_SIDE, int(value)))


def score_kinds(collection: Any) -> dict[str, str]:
    """Stage name -> what its score is, for every stage a hit's ``scores`` may hold."""
    kinds: dict[str, str] = {}
    for part in collection.parts:
        if part.stage == "dense":
            metric = str(part.options.get("metric", "cosine"))
            what = {"cosine": "cosine similarity", "ip": "inner product",
                    "l2": "minus squared L2 distance"}.get(metric, metric)  # fmt: skip
            kinds["dense"] = f"dense embeddings, {what}"
        elif part.stage == "sparse":
            kinds["sparse"] = "sparse (SPLADE) dot product"
        elif part.stage == "bm25":
            kinds["bm25"] = "BM25: the query's words in the chunk, weighted by their rarity"
        else:
            kinds["maxsim"] = "MaxSim: each query token's best match in the chunk, summed"
    if len(collection.parts) > 1:
        kinds.update(FUSION)
    kinds["cross-encoder"] = RERANK["cross-encoder"]
    for raw in collection.config.rerank:
        kind, name = _get(raw, "kind"), _get(raw, "name") or _get(raw, "kind")
        model = _get(raw, "model")
        kinds[str(name)] = RERANK.get(str(kind), str(kind)) + (f" ({model})" if model else "")
    return kinds


def _get(raw: Any, key: str) -> Any:
    return raw.get(key) if isinstance(raw, Mapping) else getattr(raw, key, None)


def collection_summary(collection: Any) -> dict[str, Any]:
    """The page's header: name, size, model, kind, whether hits can be pages, score kinds."""
    manifest = collection.manifest
    path = collection.path
    return {
        "name": path.name if path is not None else "in-memory collection",
        "chunks": len(collection),
        "model": manifest.encoder.get("external") or collection.model,
        "kind": collection.config.pipeline,
        "images": bool(manifest.encoder.get("images")),
        "page_images": manifest.page_images,
        "stages": score_kinds(collection),
    }


def hit_view(hit: Mapping[str, Any], query: str, text_field: str = "text") -> dict[str, Any]:
    """A hit dict (``RankedHit.to_dict``) plus ``snippet``: ``[[piece, matched], ...]`` of its
    text around the query's words, when it has text."""
    out = dict(hit)
    text = hit.get("metadata", {}).get(text_field)
    if isinstance(text, str) and text:
        out["snippet"] = [[piece, matched] for piece, matched in snippet_parts(text, query)]
    return out


def load_bounded(path: Path, side: int) -> Any:
    """The RGB image at ``path`` with its longest side at most ``side`` (never upscaled)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise PageUnreadable(_too_large(path, f"{width}x{height} pixels"))
            image.draft("RGB", (side, side))  # JPEG decodes at a reduced scale; else no-op
            rgb = image.convert("RGB")
    except Image.DecompressionBombError as err:  # PIL's own limit, checked on open
        raise PageUnreadable(_too_large(path, str(err))) from err
    except (UnidentifiedImageError, OSError) as err:
        msg = f"The kept page image {path.name} cannot be read ({err}); re-index the source."
        raise PageUnreadable(msg) from err
    rgb.thumbnail((side, side))
    return rgb


def _too_large(path: Path, size: str) -> str:
    return (
        f"The kept page image {path.name} is too large to decode ({size}; this server decodes "
        f"at most {MAX_PIXELS:,} pixels); re-index with a smaller --page-images."
    )


def encode_image(image: Any, fmt: str = "PNG") -> bytes:
    """``image`` as PNG (pages: sharp text) or JPEG (heatmaps: smooth colour, small)."""
    buffer = io.BytesIO()
    if fmt == "JPEG":
        image.save(buffer, format="JPEG", quality=85)
    else:
        image.save(buffer, format="PNG")
    return buffer.getvalue()


def data_url(image: Any, fmt: str = "PNG") -> str:
    encoded = base64.b64encode(encode_image(image, fmt)).decode("ascii")
    return f"data:image/{fmt.lower()};base64,{encoded}"


def is_word(token: str) -> bool:
    """A query token worth a toggle: has a letter or digit, and is no special token."""
    text = token.strip()
    return bool(text) and not _SPECIAL.match(text) and any(c.isalnum() for c in text)


class PageViews:
    """Page images and similarity maps of one collection's chunks. Maps are cached per
    ``(query, chunk)`` (``cache_size`` entries), so switching the token a heatmap shows
    re-renders an image without running the model again."""

    def __init__(self, collection: Any, cache_size: int = 32) -> None:
        self.collection = collection
        self.cache_size = cache_size
        self._maps: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._lock = threading.Lock()

    def page(self, chunk_id: str, max_side: int | None = None) -> Any:
        """The chunk's kept page image, longest side at most ``clamp_side(max_side)``."""
        path = self.collection.page_image(chunk_id)
        if path is None:
            raise PageNotFound(self._missing(chunk_id))
        return load_bounded(path, clamp_side(max_side))

    def similarity(self, query: str, chunk_id: str) -> Any:
        """The ``encoders.vision.SimilarityMap`` of ``query`` over the chunk's page (its
        ``image`` dropped: pages are re-read at the size each request asks for)."""
        key = (query, chunk_id)
        with self._lock:
            if key in self._maps:
                self._maps.move_to_end(key)
                return self._maps[key]
        from encoders.vision import SimilarityMap, similarity_map

        smap = similarity_map(self.collection.encoder.llm, query, self.page(chunk_id, MAP_SIDE))
        smap = SimilarityMap(smap.maps, smap.tokens, None)
        with self._lock:
            self._maps[key] = smap
            while len(self._maps) > self.cache_size:
                self._maps.popitem(last=False)
        return smap

    def tokens(self, query: str, chunk_id: str) -> dict[str, Any]:
        """The query's tokens (``index``, ``text``, ``word``: worth a toggle, ``max``: best
        patch similarity) and the map's ``grid`` (rows, columns of page patches)."""
        smap = self.similarity(query, chunk_id)
        best = smap.maps.flatten(1).max(dim=1).values.tolist()
        rows = [
            {"index": i, "text": text, "word": is_word(text), "max": float(best[i])}
            for i, text in enumerate(smap.tokens)
        ]
        return {"id": chunk_id, "tokens": rows, "grid": list(smap.maps.shape[1:])}

    def heatmap(
        self, query: str, chunk_id: str, token: int | None = None, max_side: int | None = None
    ) -> Any:
        """The page with the map of query token ``token`` (None: every token's best, as
        ``SimilarityMap.overall``) blended over it, as ``render_heatmap`` draws it."""
        from encoders.vision import render_heatmap

        smap = self.similarity(query, chunk_id)
        count = len(smap.tokens)
        if token is not None and not 0 <= token < count:
            msg = f"token={token} is out of range: the query has tokens 0..{count - 1}."
            raise ConfigError(msg)
        grid = smap.overall() if token is None else smap.token_map(token)
        return render_heatmap(self.page(chunk_id, max_side), grid, alpha=0.55)

    def _missing(self, chunk_id: str) -> str:
        if chunk_id not in self.collection.documents([chunk_id]):
            return f"No chunk {chunk_id!r} in this collection."
        return (
            f"Chunk {chunk_id!r} keeps no page image: it is text, or the collection was "
            "indexed without page images (re-index with --page-images 1024)."
        )
