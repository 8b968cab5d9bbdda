"""Similarity maps: which image patches each query token matched, as heatmaps over the page.

For a query with vectors ``(q, d)`` and a page whose image became ``h' x w'`` merged patch
tokens, the map of query token ``i`` is the dot product of its vector with every patch
vector, laid out on the patch grid: ``(q, h', w')``. The page's MaxSim score is the sum over
``i`` of each map's maximum (over all page tokens, text tokens included).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from encoders.vision.images import load_image
from encoders.vision.items import ImagePart, VisionItem
from retrieval.errors import ConfigError


@dataclass(frozen=True, eq=False)
class SimilarityMap:
    """Per-query-token similarity over one image's patch grid."""

    maps: torch.Tensor
    """``(q_tokens, grid_h, grid_w)`` dot products of query tokens with image patches."""
    tokens: list[str]
    """The query's tokens as text (prompt and augmentation tokens included), one per map."""
    image: Any
    """The page image the maps lie over (RGB ``PIL.Image``)."""

    def token_map(self, token: int | str) -> torch.Tensor:
        """The ``(grid_h, grid_w)`` map of one token, by position or by (first) token text."""
        if isinstance(token, str):
            if token not in self.tokens:
                msg = f"Token {token!r} is not in the query; its tokens are {self.tokens}."
                raise ConfigError(msg)
            token = self.tokens.index(token)
        return self.maps[token]

    def overall(self) -> torch.Tensor:
        """``(grid_h, grid_w)``: each patch's best match over the query's tokens."""
        return self.maps.max(dim=0).values


def similarity_map(llm: Any, query: str, image: Any) -> SimilarityMap:
    """The similarity map of ``query`` (encoded as ``encode_queries`` does) over ``image``
    (a PIL image, path or data URL, encoded as a bare-image document)."""
    model = llm.model
    processor = getattr(model, "processor", None)
    if processor is None:
        msg = f"Model {model.name!r} has no image inputs; similarity maps need a ColQwen3 model."
        raise ConfigError(msg)
    picture = load_image(image, processor.policy, "image")
    query_item = llm.side_items([query], True)[0]
    page_item = VisionItem(messages=(("user", (ImagePart(picture),)),), bare_image=True)
    q_prep = processor.prepare(query_item, "query", llm.max_model_len)
    d_prep = processor.prepare(page_item, "image", llm.max_model_len)
    q_vec, d_vec = model.embed_prepared(
        [q_prep, d_prep], llm.engine.max_tokens, llm.engine.max_seqs
    )
    if d_prep.grids is None:  # pragma: no cover - a bare image always has a grid
        msg = "The image produced no patch grid."
        raise ConfigError(msg)
    ids = torch.tensor(d_prep.token_ids)
    patches = d_vec[ids == processor.image_token_id]
    _, height, width = (int(x) for x in d_prep.grids[0])
    grid = (height // processor.merge, width // processor.merge)
    maps = (q_vec @ patches.T).reshape(q_vec.shape[0], *grid)
    tokens = [str(model.tokenizer.decode([i])) for i in q_prep.token_ids]
    return SimilarityMap(maps, tokens, picture)


def render_heatmap(image: Any, grid_map: torch.Tensor, *, alpha: float = 0.5) -> Any:
    """``grid_map (h', w')`` min-max scaled, colored (viridis when matplotlib is installed,
    a black-to-red ramp otherwise), stretched over ``image`` and blended: an RGB PIL image."""
    from PIL import Image

    values = grid_map.detach().float().cpu().numpy()
    span = float(values.max() - values.min())
    scaled = (values - values.min()) / span if span > 0 else np.zeros_like(values)
    try:
        from matplotlib import colormaps

        colored = colormaps["viridis"](scaled)[..., :3]
    except ImportError:
        colored = np.stack([scaled, np.zeros_like(scaled), np.zeros_like(scaled)], axis=-1)
    heat = Image.fromarray((colored * 255).astype(np.uint8), mode="RGB")
    heat = heat.resize(image.size, Image.Resampling.BILINEAR)
    return Image.blend(image.convert("RGB"), heat, alpha)
