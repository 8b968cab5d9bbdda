"""Multi-modal late interaction: ColQwen3-style models on Qwen3-VL, image inputs, PDF pages
and similarity maps.

``encoders.LLM`` loads ``ColQwen3`` / ``OpsColQwen3Model`` / ``Qwen3VLNemotronEmbedModel``
folders itself; this package holds the parts a user may call directly.
"""

from __future__ import annotations

from encoders.vision.formats import ARCHITECTURES, FORMATS, VisionFormat
from encoders.vision.images import ImagePolicy, load_image
from encoders.vision.items import VisionItem, parse_items
from encoders.vision.pdf import Page, pdf_pages
from encoders.vision.simmap import SimilarityMap, render_heatmap, similarity_map

__all__ = [
    "ARCHITECTURES",
    "FORMATS",
    "ImagePolicy",
    "Page",
    "SimilarityMap",
    "VisionFormat",
    "VisionItem",
    "load_image",
    "parse_items",
    "pdf_pages",
    "render_heatmap",
    "similarity_map",
]
