"""ColQwen3 against colpali-engine's own ``ColQwen3`` + ``ColQwen3Processor`` (0.3.18).

colpali-engine builds a tiny random ColQwen3 and its processor and saves them in its own
layout (``model.*`` weights, ``processor_config.json``); the toolkit loads that folder. Both
then embed the same queries, text documents and page images (upscaled, downscaled, exact and
odd-sized, so the resize path is exercised) and score them. The reference runs in its own
environment (scripts/reference_envs/colpali.sh) with torchvision present, so its image
processor is transformers' default torchvision-backed one, as for colpali-engine's users.

Checked per output, fp32, max abs difference <= 1e-5: query vectors (``process_queries``:
text + ten ``<|endoftext|>``), text-document vectors (``process_texts``), image vectors
(``process_images``: colpali's raw image prompt), token ids (which tokens are kept: the
attention mask's), image token count and grid per image size, and MaxSim scores.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from encoders import LLM
from late_interaction.maxsim import maxsim_matrix
from tests import tiny_vl
from tests.reference.env import run_reference

ATOL = 1e-5
QUERIES = ["what is the blue sky", "cat", "a red page with a blue square on it"]
TEXTS = ["the cat sleeps on the mat", "blue", "what is the blue sky"]
# (width, height): below shortest_edge (upscaled), exact multiple, above longest_edge
# (downscaled), odd size (rounded), and a flat drawing.
SIZES = [(20, 30), (64, 48), (300, 200), (57, 91)]
SETTINGS = {  # a Qwen2-VL image processor, 8-px patches merged 2x2, 9 to 36 page tokens
    "patch_size": tiny_vl.PATCH,
    "merge_size": tiny_vl.MERGE,
    "temporal_patch_size": 2,
    "size": {"shortest_edge": 48 * 48, "longest_edge": 96 * 96},
    "image_mean": [0.5, 0.5, 0.5],
    "image_std": [0.5, 0.5, 0.5],
    "resample": 3,
}


def _images(folder: Path) -> list[Path]:
    from PIL import Image

    rng = np.random.default_rng(0)
    paths = []
    for i, (w, h) in enumerate(SIZES):
        noise = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        path = folder / f"page{i}.png"
        Image.fromarray(noise).save(path)
        paths.append(path)
    drawn = folder / "drawn.png"
    drawn.write_bytes(tiny_vl.png_bytes((70, 45)))
    return [*paths, drawn]


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("colpali")
    seed = root / "seed"
    seed.mkdir()
    tokenizer = tiny_vl.make_tokenizer(seed)
    tiny_vl.qwen3_vl_config(tokenizer).save_pretrained(str(seed))
    images = _images(root)
    inputs = {
        "seed": 0,
        "image_processor": SETTINGS,
        "images": [str(p) for p in images],
        "queries": QUERIES,
        "texts": TEXTS,
    }
    (root / "inputs.json").write_text(json.dumps(inputs))
    model, out = root / "model", root / "out"
    run_reference("colpali", "colpali_colqwen3.py", seed, model, root / "inputs.json", out)
    reference = load_file(str(out / "outputs.safetensors"))
    meta = json.loads((out / "meta.json").read_text())
    llm = LLM(str(model), device="cpu")
    return {"llm": llm, "ref": reference, "meta": meta, "images": images, "model": model}


def _rows(ref: dict[str, torch.Tensor], kind: str) -> list[tuple[torch.Tensor, list[int]]]:
    """Each item's vectors and ids where its attention mask is 1 (colpali pads on the left)."""
    vectors, ids, mask = (ref[f"{kind}.{k}"] for k in ("embeddings", "input_ids", "attention_mask"))
    keep = mask.bool()
    return [(vectors[i][keep[i]], ids[i][keep[i]].tolist()) for i in range(len(vectors))]


def _ids(llm: LLM, values: list[Any], is_query: bool) -> list[list[int]]:
    items = llm.side_items(values, is_query)
    prepare = llm.model.processor.prepare
    return [prepare(item, f"item {i}", llm.max_model_len).token_ids for i, item in enumerate(items)]


def _check(ours: list[torch.Tensor], rows: list[tuple[torch.Tensor, list[int]]]) -> float:
    worst = 0.0
    for mine, (theirs, _) in zip(ours, rows, strict=True):
        assert mine.shape == theirs.shape
        worst = max(worst, float((mine - theirs).abs().max()))
    assert worst <= ATOL, worst
    return worst


def test_loads_colpali_engines_saved_folder(case: dict[str, Any]) -> None:
    llm, meta, model = case["llm"], case["meta"], case["model"]
    # colpali-engine 0.3.18 saves every weight under "model." and the image processor inside
    # processor_config.json (no preprocessor_config.json): both must be read, not guessed.
    assert "processor_config.json" in meta["saved_files"]
    assert "preprocessor_config.json" not in meta["saved_files"]
    from safetensors import safe_open

    with safe_open(str(model / "model.safetensors"), framework="pt") as handle:
        assert "model.custom_text_proj.weight" in set(handle.keys())
    assert meta["image_processor"] == "Qwen2VLImageProcessor"  # the torchvision backend
    assert llm.model.format.architecture == "ColQwen3"
    assert llm.model.embedding_size == meta["dim"] == 320
    assert llm.supported_tasks == ("token_embed",)


def test_query_vectors_and_tokens(case: dict[str, Any]) -> None:
    llm, ref, meta = case["llm"], case["ref"], case["meta"]
    rows = _rows(ref, "queries")
    assert meta["query_prefix"] == ""
    assert meta["query_augmentation_token"] == "<|endoftext|>"
    assert _ids(llm, QUERIES, True) == [ids for _, ids in rows]
    diff = _check(llm.encode_queries(QUERIES), rows)
    print(f"colpali ColQwen3 query vectors: max abs diff {diff:.2e}")


def test_text_document_vectors_and_tokens(case: dict[str, Any]) -> None:
    llm, ref = case["llm"], case["ref"]
    rows = _rows(ref, "texts")
    assert _ids(llm, TEXTS, False) == [ids for _, ids in rows]
    diff = _check(llm.encode_documents(TEXTS), rows)
    print(f"colpali ColQwen3 text-document vectors: max abs diff {diff:.2e}")


def test_image_vectors_tokens_and_layout(case: dict[str, Any]) -> None:
    llm, ref, meta, images = case["llm"], case["ref"], case["meta"], case["images"]
    rows = _rows(ref, "images")
    ours_ids = _ids(llm, images, False)
    assert ours_ids == [ids for _, ids in rows]
    image_id = llm.model.processor.image_token_id
    mask = ref["images.image_mask"]
    for i, (ids, grid, (nx, ny)) in enumerate(
        zip(ours_ids, ref["images.image_grid_thw"], meta["n_patches"], strict=True)
    ):
        count = ids.count(image_id)
        # one token per merged 2x2 patch block: grid h*w / 4 == colpali's n_patches_x * _y
        assert count == int(grid.prod()) // tiny_vl.MERGE**2 == nx * ny == int(mask[i].sum())
    prepared = [
        llm.model.processor.prepare(item, "page", llm.max_model_len)
        for item in llm.side_items(images, False)
    ]
    assert torch.equal(torch.cat([p.grids for p in prepared]), ref["images.image_grid_thw"])
    diff = _check(llm.encode_documents(images), rows)
    print(f"colpali ColQwen3 image vectors: max abs diff {diff:.2e}")


def test_scores_match_score_multi_vector(case: dict[str, Any]) -> None:
    llm, ref, images = case["llm"], case["ref"], case["images"]
    queries = llm.encode_queries(QUERIES)
    for kind, docs in (("images", llm.encode_documents(images)), ("texts", None)):
        docs = docs if docs is not None else llm.encode_documents(TEXTS)
        ours = maxsim_matrix(queries, docs)
        expected = ref[f"scores.unpadded.queries_{kind}"]
        diff = float((ours - expected).abs().max())
        assert diff <= ATOL, diff
        print(f"colpali ColQwen3 scores (queries x {kind}): max abs diff {diff:.2e}")
    # The LLM.score path, given colpali's own prompts, scores the same (MaxSim, 1:N).
    augmented = QUERIES[0] + "<|endoftext|>" * 10
    scored = [o.outputs.score for o in llm.score(augmented, [str(p) for p in images])]
    expected_row = ref["scores.unpadded.queries_images"][0].tolist()
    assert scored == pytest.approx(expected_row, abs=ATOL)


def test_padding_rows_are_a_colpali_batch_artifact(case: dict[str, Any]) -> None:
    """colpali-engine returns padded rows (zero vectors) and score_multi_vector keeps them: a
    padded document scores max(sim, 0) for a query token whose similarities are all negative,
    so its score depends on the batch it was embedded with. The toolkit drops padding (each
    item's real tokens only); the unpadded reference is what it matches. Where no padding row
    wins, the two reference numbers agree."""
    ref = case["ref"]
    padded, unpadded = ref["scores.queries_images"], ref["scores.unpadded.queries_images"]
    assert padded.shape == unpadded.shape
    assert bool((padded >= unpadded - ATOL).all())  # a zero row can only raise a max
    print(f"colpali padded-batch score inflation: max {float((padded - unpadded).max()):.3f}")
