"""colpali-engine's ColQwen3 on a tiny random Qwen3-VL: build, save, reload, embed, score.

Run by tests/reference/test_colqwen3_colpali.py in the `colpali` reference environment
(scripts/reference_envs/colpali.sh). Imports only colpali-engine and what it imports.

    python colpali_colqwen3.py SEED_FOLDER MODEL_FOLDER INPUTS_JSON OUT_FOLDER

SEED_FOLDER holds a tokenizer, a Qwen3-VL config.json and the image processor settings;
colpali-engine builds ColQwen3 (random weights, seeded) and ColQwen3Processor from them and
saves both, the way a user would save a fine-tuned model, into MODEL_FOLDER. Then it reloads
both with `from_pretrained` and writes, into OUT_FOLDER, what `process_queries`,
`process_texts`, `process_images`, the model and `score_multi_vector` give for INPUTS_JSON.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

# torchvision's PyPI wheel is a CUDA build: its C++ ops (nms, roi_align...) cannot load beside
# the CPU torch, and `import torchvision` then fails registering fake kernels for two of them.
# Declaring those two schemas lets it import; the image transforms used here are pure torch.
_ops = torch.library.Library("torchvision", "DEF")
_ops.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
_ops.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")

from colpali_engine.models import ColQwen3, ColQwen3Processor  # noqa: E402
from PIL import Image  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from transformers import AutoTokenizer, Qwen3VLConfig  # noqa: E402
from transformers.models.qwen2_vl.image_processing_qwen2_vl import (  # noqa: E402
    Qwen2VLImageProcessor,
)
from transformers.models.qwen3_vl.video_processing_qwen3_vl import (  # noqa: E402
    Qwen3VLVideoProcessor,
)


def build(seed: Path, folder: Path, settings: dict) -> None:
    config = Qwen3VLConfig.from_pretrained(str(seed))
    torch.manual_seed(settings["seed"])
    model = ColQwen3(config).eval()
    with torch.no_grad():
        # post_init leaves every norm at 1 and every bias at 0: spread them so a reader that
        # drops one (a bias, a final norm) gives visibly different vectors.
        for name, param in model.named_parameters():
            if name.endswith("bias") or "norm" in name:
                param.add_(torch.randn_like(param) * 0.1)
    model.save_pretrained(str(folder))
    processor = ColQwen3Processor(
        image_processor=Qwen2VLImageProcessor(**settings["image_processor"]),
        tokenizer=AutoTokenizer.from_pretrained(str(seed)),
        video_processor=Qwen3VLVideoProcessor(),
        chat_template=AutoTokenizer.from_pretrained(str(seed)).chat_template,
    )
    processor.save_pretrained(str(folder))


def main(seed: Path, folder: Path, inputs_path: Path, out: Path) -> None:
    inputs = json.loads(inputs_path.read_text())
    build(seed, folder, inputs)
    model = ColQwen3.from_pretrained(str(folder), dtype=torch.float32).eval()
    processor = ColQwen3Processor.from_pretrained(str(folder))
    images = [Image.open(p) for p in inputs["images"]]
    batches = {
        "queries": processor.process_queries(inputs["queries"]),
        "texts": processor.process_texts(inputs["texts"]),
        "images": processor.process_images(images),
    }
    tensors: dict[str, torch.Tensor] = {}
    vectors: dict[str, list[torch.Tensor]] = {}
    for kind, batch in batches.items():
        with torch.inference_mode():
            output = model(**batch)
        tensors[f"{kind}.embeddings"] = output.contiguous()
        tensors[f"{kind}.input_ids"] = batch["input_ids"].contiguous()
        tensors[f"{kind}.attention_mask"] = batch["attention_mask"].contiguous()
        vectors[kind] = list(torch.unbind(output))
    grids = batches["images"]["image_grid_thw"]
    tensors["images.image_grid_thw"] = grids.contiguous()
    tensors["images.image_mask"] = processor.get_image_mask(batches["images"]).contiguous()
    # As a user scores: the padded rows the model returns, straight into score_multi_vector.
    tensors["scores.queries_images"] = processor.score_multi_vector(
        vectors["queries"], vectors["images"], device="cpu"
    )
    tensors["scores.queries_texts"] = processor.score_multi_vector(
        vectors["queries"], vectors["texts"], device="cpu"
    )
    # The same with each item's padding rows dropped first (the zero rows of padded documents
    # can win a query token's max when all its similarities are negative).
    unpadded = {
        kind: [v[m.bool()] for v, m in zip(vectors[kind], batch["attention_mask"], strict=True)]
        for kind, batch in batches.items()
    }
    tensors["scores.unpadded.queries_images"] = processor.score_multi_vector(
        unpadded["queries"], unpadded["images"], device="cpu"
    )
    tensors["scores.unpadded.queries_texts"] = processor.score_multi_vector(
        unpadded["queries"], unpadded["texts"], device="cpu"
    )
    out.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out / "outputs.safetensors"))
    spatial = model.spatial_merge_size
    meta = {
        "n_patches": [list(processor.get_n_patches(im.size, spatial)) for im in images],
        "image_processor": type(processor.image_processor).__name__,
        "query_prefix": processor.query_prefix,
        "query_augmentation_token": processor.query_augmentation_token,
        "visual_prompt_prefix": processor.visual_prompt_prefix,
        "padding_side": processor.tokenizer.padding_side,
        "dim": model.dim,
        "saved_files": sorted(p.name for p in folder.iterdir()),
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=2))


if __name__ == "__main__":
    main(*(Path(a) for a in sys.argv[1:5]))
