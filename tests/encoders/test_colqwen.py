"""ColQwen3-style models on tiny random Qwen3-VL checkpoints in all three on-disk formats.

Golden values come from an independent path: transformers' ``Qwen3VLModel`` loaded from a
state dict the test renames itself, fed by transformers' own ``Qwen3VLProcessor``, with the
projection and the L2 norm computed here from the raw safetensors tensors. That processor is
given the PIL-backend image processor (torchvision is not installed here), whose resize differs
from the torchvision backend the toolkit reproduces, so these images need no resize (64 x 48
is a multiple of the 16-px merged patch); resizing is checked against the real torchvision
backend in tests/reference/test_colqwen3_colpali.py.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from encoders import LLM
from tests import tiny_vl

FORMATS = ["colqwen3", "ops_colqwen3", "qwen3_vl_nemotron_embed"]
# checkpoint prefix -> Qwen3VLModel prefix, written out here independently of encoders/vision.
RENAME = {"colqwen3": "vlm.model.", "ops_colqwen3": "", "qwen3_vl_nemotron_embed": "model."}
PROJECTION = {"colqwen3": "embedding_proj_layer", "ops_colqwen3": "custom_text_proj"}


@pytest.fixture(scope="module", params=FORMATS)
def fmt_llm(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tiny_vl.make_colqwen(tmp_path_factory.mktemp(request.param), request.param)
    return request.param, folder, LLM(str(folder), device="cpu")


def _image(size: tuple[int, int] = (50, 40)) -> Any:
    from PIL import Image

    return Image.open(io.BytesIO(tiny_vl.png_bytes(size))).convert("RGB")


def _hf_processor(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    from transformers import AutoTokenizer, Qwen3VLProcessor, processing_utils
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
        Qwen2VLImageProcessorPil,
    )

    # Qwen3VLProcessor insists on a video processor class (torchvision); images need none.
    monkeypatch.setattr(
        processing_utils.ProcessorMixin, "check_argument_for_proper_class", lambda *a: None
    )
    settings = tiny_vl.image_processor_config()
    settings.pop("image_processor_type")
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    return Qwen3VLProcessor(
        image_processor=Qwen2VLImageProcessorPil(**settings),
        tokenizer=tokenizer,
        video_processor=None,
        chat_template=tokenizer.chat_template,
    )


def _reference(fmt: str, folder: Path, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """Independent forward: (n_tokens, d) normalized vectors of a batch-of-one input."""
    from transformers import Qwen3VLModel

    config = tiny_vl.qwen3_vl_config(_tokenizer(folder))
    if fmt == "qwen3_vl_nemotron_embed":
        config.text_config.is_causal = False
    model = Qwen3VLModel(config).eval()
    weights = load_file(str(folder / "model.safetensors"))
    prefix = RENAME[fmt]
    state = {k[len(prefix) :]: v for k, v in weights.items() if k.startswith(prefix)}
    state = {k: v for k, v in state.items() if k.split(".")[0] in ("visual", "language_model")}
    model.load_state_dict(state, strict=True)
    captured: list[torch.Tensor] = []
    if fmt == "qwen3_vl_nemotron_embed":
        for layer in model.language_model.layers:
            layer.self_attn.is_causal = False
        # The pre-norm output of the last decoder layer.
        model.language_model.layers[-1].register_forward_hook(
            lambda _m, _i, out: captured.append(out[0] if isinstance(out, tuple) else out)
        )
    with torch.inference_mode():
        hidden = model(**inputs).last_hidden_state[0]
    if fmt == "qwen3_vl_nemotron_embed":
        hidden = captured[-1][0]
    else:
        name = PROJECTION[fmt]
        hidden = hidden @ weights[f"{name}.weight"].T + weights[f"{name}.bias"]
    return hidden / hidden.norm(dim=-1, keepdim=True)


def _tokenizer(folder: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder))


# The processor is the same for every format: check it once.
@pytest.mark.parametrize("fmt_llm", ["colqwen3"], indirect=True)
def test_preprocessing_matches_transformers_processor(
    fmt_llm: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, folder, llm = fmt_llm
    image = _image((64, 48))
    item = {"content": [{"type": "image_pil", "image_pil": image}, {"type": "text", "text": "hi"}]}
    from encoders.vision import parse_items

    ours = llm.model.processor.prepare(parse_items([item])[0], "x", llm.max_model_len)
    hf = _hf_processor(folder, monkeypatch)
    text = hf.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "hi"}]}],
        tokenize=False,
    )
    theirs = hf(text=[text], images=[image], return_tensors="pt")
    assert ours.token_ids == theirs["input_ids"][0].tolist()
    assert torch.equal(ours.grids, theirs["image_grid_thw"])
    assert torch.allclose(ours.pixel_values, theirs["pixel_values"])


def test_image_token_embed_matches_independent_forward(
    fmt_llm: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    fmt, folder, llm = fmt_llm
    image = _image((64, 48))
    content = [{"type": "image_pil", "image_pil": image}, {"type": "text", "text": "Describe it."}]
    (out,) = llm.encode([{"content": content}], pooling_task="token_embed")
    hf = _hf_processor(folder, monkeypatch)
    text = hf.apply_chat_template(
        [
            {
                "role": "user",
                "content": [{"type": "image"}, {"type": "text", "text": "Describe it."}],
            }
        ],
        tokenize=False,
    )
    inputs = dict(hf(text=[text], images=[image], return_tensors="pt"))
    expected = _reference(fmt, folder, inputs)
    assert out.prompt_token_ids == inputs["input_ids"][0].tolist()
    assert out.outputs.data.shape == expected.shape
    torch.testing.assert_close(out.outputs.data, expected, atol=2e-5, rtol=1e-4)


def test_text_token_embed_matches_independent_forward(fmt_llm: Any) -> None:
    fmt, folder, llm = fmt_llm
    text = "what is the blue sky"
    (out,) = llm.encode(text, pooling_task="token_embed")
    ids = _tokenizer(folder)(text)["input_ids"]
    inputs = {"input_ids": torch.tensor([ids]), "attention_mask": torch.ones(1, len(ids))}
    expected = _reference(fmt, folder, inputs)
    assert out.prompt_token_ids == ids
    torch.testing.assert_close(out.outputs.data, expected, atol=2e-5, rtol=1e-4)


def test_batching_and_input_spellings_agree(fmt_llm: Any, tmp_path: Path) -> None:
    _, _, llm = fmt_llm
    raw = tiny_vl.png_bytes()
    path = tmp_path / "page.png"
    path.write_bytes(raw)
    url = tiny_vl.data_url(raw)
    parts = [{"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": "x"}]
    single = llm.encode([{"content": parts}], pooling_task="token_embed")[0].outputs.data
    batch = llm.encode(
        [
            "a long text input that pads the batch a lot more than the others do",
            {"messages": [{"role": "user", "content": parts}]},
            {"content": [{"type": "image_url", "image_url": {"url": str(path)}}, parts[1]]},
        ],
        pooling_task="token_embed",
    )
    for out in batch[1:]:
        torch.testing.assert_close(out.outputs.data, single, atol=1e-5, rtol=1e-4)
    # The text item of a mixed call equals the text-only (engine) path.
    text_ids = batch[0].prompt_token_ids
    (text_only,) = llm.encode([text_ids], pooling_task="token_embed")
    assert text_only.prompt_token_ids == text_ids
    torch.testing.assert_close(batch[0].outputs.data, text_only.outputs.data, atol=1e-5, rtol=1e-4)
    # A lone image (PIL, path or data URL) is the same bare-image document.
    bare = llm.encode([_image(), path, url], pooling_task="token_embed")
    torch.testing.assert_close(bare[1].outputs.data, bare[0].outputs.data, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(bare[2].outputs.data, bare[0].outputs.data, atol=1e-5, rtol=1e-4)


def _maxsim(q: torch.Tensor, d: torch.Tensor) -> float:
    return float(sum(max(float(qv @ dv) for dv in d) for qv in q))


def test_score_text_by_image_is_maxsim_both_ways(fmt_llm: Any) -> None:
    _, _, llm = fmt_llm
    query = "what is in the picture"
    image_doc = {"content": [{"type": "image_url", "image_url": {"url": tiny_vl.data_url(
        tiny_vl.png_bytes())}}, {"type": "text", "text": "Describe the image."}]}  # fmt: skip
    docs = [image_doc, "the cat sleeps", image_doc]
    scores = [o.outputs.score for o in llm.score(query, docs)]
    vectors = [o.outputs.data for o in llm.encode([query, *docs], pooling_task="token_embed")]
    expected = [_maxsim(vectors[0], d) for d in vectors[1:]]
    assert scores == pytest.approx(expected, abs=1e-4)
    assert scores[0] == pytest.approx(scores[2], abs=1e-5)
    reverse = [o.outputs.score for o in llm.score([image_doc], [query])]
    assert reverse == pytest.approx([_maxsim(vectors[1], vectors[0])], abs=1e-4)
    text_only = [o.outputs.score for o in llm.score(query, ["the cat sleeps"])]
    assert text_only == pytest.approx([expected[1]], abs=1e-4)


def test_queries_and_documents_use_the_format_prompts(fmt_llm: Any) -> None:
    _, _, llm = fmt_llm
    fmt = llm.model.format
    (query,) = llm.encode_queries("blue sky")
    prompt = fmt.query_prompt.format(text="blue sky")
    if fmt.chat:
        turn = {"role": "user", "content": [{"type": "text", "text": prompt}]}
        text = llm.model.tokenizer.apply_chat_template(
            [turn], tokenize=False, add_generation_prompt=True
        )
        (plain,) = llm.encode(text, pooling_task="token_embed")
    else:
        (plain,) = llm.encode(prompt, pooling_task="token_embed")
    torch.testing.assert_close(query, plain.outputs.data)
    (doc,) = llm.encode_documents([_image()])
    (bare,) = llm.encode([_image()], pooling_task="token_embed")
    torch.testing.assert_close(doc, bare.outputs.data)


def test_causal_versus_bidirectional_attention(fmt_llm: Any) -> None:
    fmt, _, llm = fmt_llm
    first, second = llm.encode(["the cat runs", "the cat sleeps"], pooling_task="token_embed")
    same_prefix = torch.allclose(first.outputs.data[:2], second.outputs.data[:2], atol=1e-5)
    # Nemotron attends both ways: later tokens change earlier vectors; ColQwen3 is causal.
    assert same_prefix is (fmt != "qwen3_vl_nemotron_embed")


def test_similarity_map_lies_on_the_patch_grid(fmt_llm: Any) -> None:
    from encoders.vision import render_heatmap, similarity_map

    _, _, llm = fmt_llm
    image = _image((64, 48))
    smap = similarity_map(llm, "blue square", image)
    # 64x48 px, 8-px patches merged 2x2 -> a 3 x 4 grid of page tokens.
    assert smap.maps.shape == (len(smap.tokens), 3, 4)
    (query,) = llm.encode_queries("blue square")
    (page,) = llm.encode([image], pooling_task="token_embed")
    ids = torch.tensor(page.prompt_token_ids)
    patches = page.outputs.data[ids == llm.model.processor.image_token_id]
    expected = (query @ patches.T).reshape(-1, 3, 4)
    torch.testing.assert_close(smap.maps, expected, atol=1e-5, rtol=1e-4)
    heat = render_heatmap(smap.image, smap.overall())
    assert heat.size == image.size
    assert heat.mode == "RGB"
    assert heat.tobytes() != image.tobytes()


def test_only_token_embed_is_served(fmt_llm: Any) -> None:
    from retrieval.errors import ConfigError

    _, _, llm = fmt_llm
    assert llm.supported_tasks == ("token_embed",)
    with pytest.raises(ConfigError, match=r"does not support pooling task 'embed'"):
        llm.embed("hello")


def test_architecture_override_selects_the_format(tmp_path: Path) -> None:
    """A checkpoint saved under another architecture name loads by ``hf_overrides``."""
    folder = tiny_vl.make_colqwen(tmp_path / "nemotron", "qwen3_vl_nemotron_embed")
    config = json.loads((folder / "config.json").read_text())
    config["architectures"] = ["Qwen3VLForConditionalGeneration"]
    (folder / "config.json").write_text(json.dumps(config))
    llm = LLM(
        str(folder), device="cpu", hf_overrides={"architectures": ["Qwen3VLNemotronEmbedModel"]}
    )
    assert llm.model.format.architecture == "Qwen3VLNemotronEmbedModel"
    assert llm.model.embedding_size == tiny_vl.HIDDEN


def test_projection_free_export_uses_hidden_states(tmp_path: Path) -> None:
    folder = tiny_vl.make_colqwen(tmp_path / "ops", "ops_colqwen3", projection=False)
    llm = LLM(str(folder), device="cpu")
    assert llm.model.embedding_size == tiny_vl.HIDDEN
    text = "blue sky"
    (out,) = llm.encode(text, pooling_task="token_embed")
    ids = _tokenizer(folder)(text)["input_ids"]
    from transformers import Qwen3VLModel

    model = Qwen3VLModel(tiny_vl.qwen3_vl_config(_tokenizer(folder))).eval()
    model.load_state_dict(load_file(str(folder / "model.safetensors")))
    with torch.inference_mode():
        hidden = model(input_ids=torch.tensor([ids])).last_hidden_state[0]
    torch.testing.assert_close(out.outputs.data, hidden / hidden.norm(dim=-1, keepdim=True))
    # A stated size that needs a projection the checkpoint lacks is an error, not a guess.
    config = json.loads((folder / "config.json").read_text())
    config["dims"] = 8
    (folder / "config.json").write_text(json.dumps(config))
    from retrieval.errors import ConfigError

    with pytest.raises(ConfigError, match=r"declares 8-dim vectors but has no projection"):
        LLM(str(folder), device="cpu")


@pytest.mark.skipif(
    "RETRIEVAL_COLQWEN_MODEL" not in os.environ,
    reason="set RETRIEVAL_COLQWEN_MODEL to a real ColQwen3-style folder to run this",
)
def test_real_checkpoint_text_by_image() -> None:
    llm = LLM(os.environ["RETRIEVAL_COLQWEN_MODEL"])
    page = {"content": [{"type": "image_pil", "image_pil": _image((224, 224))}]}
    scores = [o.outputs.score for o in llm.score("a red page with a blue square", [page, "cats"])]
    assert all(s == s for s in scores)  # finite MaxSim scores from real weights
    (query,) = llm.encode_queries("red page")
    torch.testing.assert_close(query.norm(dim=-1), torch.ones(len(query)), atol=1e-3, rtol=0)
