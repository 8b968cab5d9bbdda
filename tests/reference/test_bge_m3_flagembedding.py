"""BGE-M3 against FlagEmbedding's ``BGEM3FlagModel`` itself, on one tiny random checkpoint
that FlagEmbedding wrote (``tests/tiny_bge_m3.py``): every output the toolkit exposes.

Reference: FlagEmbedding 1.4.2, ``BGEM3FlagModel(..., use_fp16=False, devices="cpu")`` —
``encode`` (``dense_vecs``, ``lexical_weights``, ``colbert_vecs``), its inference model's
per-token sparse weights, and ``compute_score`` (dense, sparse, colbert, weighted sums).
Toolkit: ``LLM.embed``, ``encode(token_classify | token_embed)``, ``embed_sparse``,
``embed_hybrid``, ``encode_queries`` / ``encode_documents``, ``LLM.score``, ``SparseIndex``,
``late_interaction.maxsim``, ``retrieval.fusion.weighted_fusion`` and the HTTP ``/pooling``
route. Every comparison prints its max abs difference and asserts it is <= 1e-5 (fp32).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from adapters.server import build_app
from encoders import LLM
from indexes import SparseIndex
from late_interaction import maxsim
from retrieval.fusion import weighted_fusion
from retrieval.types import Hit
from tests.tiny_bge_m3 import MAX_TOKENS, make_bge_m3

TOLERANCE = 1e-5
OVERRIDE = {"architectures": ["BgeM3EmbeddingModel"]}
TEXTS = [
    "what is the air pressure on a wing",
    "a cat sleeps on the street at night",
    "the cat the cat sleeps and the dog runs",  # repeated ids: lexical weight = max
    "Hi there, my name is Wing",  # capitals are <unk>: no lexical weight
    "hello my name is </s> good <mask> day",  # special tokens inside the text
    "ok",
    " ".join(["the wing lift and air flow speed"] * 12),  # longer than the model: truncated
]
PAIRS = [
    (TEXTS[0], "the wing lift and air flow over a wing"),
    (TEXTS[0], TEXTS[1]),
    ("cat at night", TEXTS[1]),
    ("ok", "ok ok"),
]


def check(name: str, diff: float) -> None:
    """Print and assert one max abs difference."""
    print(f"max |diff| {name:<42} {diff:.2e}")
    assert diff <= TOLERANCE, f"{name}: max abs difference {diff:.3e} > {TOLERANCE}"


def max_diff(a: Any, b: Any) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, f"shapes differ: {a.shape} vs {b.shape}"
    return float(np.abs(a - b).max()) if a.size else 0.0


def dict_diff(ours: dict[int, float], reference: dict[str, float]) -> float:
    """Max abs difference of two lexical-weight dicts that must hold the same token ids."""
    assert sorted(ours) == sorted(int(k) for k in reference), "different token ids"
    return max((abs(ours[int(k)] - float(v)) for k, v in reference.items()), default=0.0)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_bge_m3(tmp_path_factory.mktemp("bge_m3_flag"))


@pytest.fixture(scope="module")
def flag(folder: Path) -> Any:
    from FlagEmbedding import BGEM3FlagModel

    return BGEM3FlagModel(str(folder), use_fp16=False, devices="cpu", batch_size=len(TEXTS))


@pytest.fixture(scope="module")
def reference(flag: Any) -> dict[str, Any]:
    """FlagEmbedding's three outputs for TEXTS, in one padded batch."""
    return flag.encode(
        TEXTS,
        batch_size=len(TEXTS),
        max_length=MAX_TOKENS,
        return_dense=True,
        return_sparse=True,
        return_colbert_vecs=True,
    )


@pytest.fixture(scope="module")
def llm(folder: Path) -> LLM:
    return LLM(str(folder), device="cpu", hf_overrides=OVERRIDE)


def flag_token_weights(flag: Any, text: str, max_length: int = MAX_TOKENS) -> torch.Tensor:
    """FlagEmbedding's per-position sparse weights ``(n_tokens,)`` (its inference model)."""
    inputs = flag.tokenizer(text, truncation=True, max_length=max_length, return_tensors="pt")
    with torch.no_grad():
        out = flag.model(inputs, return_dense=False, return_sparse=True)
    return out["sparse_vecs"][0, :, 0]


def test_the_folder_is_the_real_layout(folder: Path, llm: LLM) -> None:
    names = {p.name for p in folder.iterdir()}
    assert {"config.json", "model.safetensors", "colbert_linear.pt", "sparse_linear.pt"} <= names
    assert {"tokenizer.json", "modules.json", "1_Pooling"} <= names
    tokenizer = llm.get_tokenizer()
    assert (tokenizer.bos_token_id, tokenizer.pad_token_id, tokenizer.eos_token_id) == (0, 1, 2)
    assert llm.supported_tasks == ("embed", "token_embed", "token_classify")
    assert llm.max_model_len == MAX_TOKENS


def test_dense(llm: LLM, reference: dict[str, Any]) -> None:
    ours = [o.outputs.embedding for o in llm.embed(TEXTS, truncate_prompt_tokens=-1)]
    check("dense: LLM.embed vs dense_vecs", max_diff(ours, reference["dense_vecs"]))


def test_token_classify_per_position(llm: LLM, flag: Any) -> None:
    """vLLM's length (BOS and EOS dropped) against FlagEmbedding's weight at each position."""
    outputs = llm.encode(TEXTS, pooling_task="token_classify", truncate_prompt_tokens=-1)
    worst = 0.0
    for text, out in zip(TEXTS, outputs, strict=True):
        theirs = flag_token_weights(flag, text)
        assert len(out.outputs.data) == len(out.prompt_token_ids) - 2 == len(theirs) - 2
        worst = max(worst, max_diff(out.outputs.data, theirs[1:-1]))
    check("token_classify vs per-token sparse weights", worst)


def test_token_classify_paired_with_tokens(llm: LLM, reference: dict[str, Any]) -> None:
    """tokens[1:] zipped with the weights (vLLM's pairing) -> FlagEmbedding's lexical dict."""
    unused = {0, 1, 2, 3}  # FlagEmbedding drops <s>, <pad>, </s>, <unk>
    outputs = llm.encode(TEXTS, pooling_task="token_classify", truncate_prompt_tokens=-1)
    worst = 0.0
    for out, theirs in zip(outputs, reference["lexical_weights"], strict=True):
        paired: dict[int, float] = {}
        for token, weight in zip(out.prompt_token_ids[1:], out.outputs.data.tolist(), strict=False):
            if token not in unused and weight > 0:
                paired[token] = max(weight, paired.get(token, 0.0))
        worst = max(worst, dict_diff(paired, theirs))
    check("token_classify paired vs lexical_weights", worst)


def test_embed_sparse_and_hybrid_sparse(llm: LLM, reference: dict[str, Any]) -> None:
    sparse = llm.embed_sparse(TEXTS, truncate_prompt_tokens=-1)
    hybrid = llm.embed_hybrid(TEXTS, truncate_prompt_tokens=-1)
    worst_sparse = worst_hybrid = 0.0
    for s, h, theirs in zip(sparse, hybrid, reference["lexical_weights"], strict=True):
        ours = dict(zip(s.outputs.indices, s.outputs.values, strict=True))
        worst_sparse = max(worst_sparse, dict_diff(ours, theirs))
        mixed = dict(zip(h.outputs.sparse.indices, h.outputs.sparse.values, strict=True))
        worst_hybrid = max(worst_hybrid, dict_diff(mixed, theirs))
    assert 3 in sparse[3].prompt_token_ids  # the <unk> case is exercised (and dropped)
    check("embed_sparse vs lexical_weights", worst_sparse)
    check("embed_hybrid.sparse vs lexical_weights", worst_hybrid)


def test_colbert_vectors(llm: LLM, reference: dict[str, Any]) -> None:
    token_embed = llm.encode(TEXTS, pooling_task="token_embed", truncate_prompt_tokens=-1)
    hybrid = llm.embed_hybrid(TEXTS, truncate_prompt_tokens=-1)
    documents = llm.encode_documents(TEXTS)
    worst = {"token_embed": 0.0, "hybrid": 0.0, "documents": 0.0, "hybrid dense": 0.0}
    for i, theirs in enumerate(reference["colbert_vecs"]):
        worst["token_embed"] = max(
            worst["token_embed"], max_diff(token_embed[i].outputs.data, theirs)
        )
        worst["hybrid"] = max(worst["hybrid"], max_diff(hybrid[i].outputs.multi_vector, theirs))
        worst["documents"] = max(worst["documents"], max_diff(documents[i], theirs))
        dense = reference["dense_vecs"][i]
        worst["hybrid dense"] = max(worst["hybrid dense"], max_diff(hybrid[i].outputs.dense, dense))
    check("token_embed vs colbert_vecs", worst["token_embed"])
    check("embed_hybrid.multi_vector vs colbert_vecs", worst["hybrid"])
    check("encode_documents vs colbert_vecs", worst["documents"])
    check("embed_hybrid.dense vs dense_vecs", worst["hybrid dense"])


def test_truncation_keeps_bos_and_eos_as_flagembedding(llm: LLM, flag: Any) -> None:
    text, limit = TEXTS[-1], 16
    theirs = flag.encode(
        [text], max_length=limit, return_dense=True, return_sparse=True, return_colbert_vecs=True
    )
    (dense,) = llm.embed(text, truncate_prompt_tokens=limit)
    (weights,) = llm.encode(text, pooling_task="token_classify", truncate_prompt_tokens=limit)
    (vectors,) = llm.encode(text, pooling_task="token_embed", truncate_prompt_tokens=limit)
    (sparse,) = llm.embed_sparse(text, truncate_prompt_tokens=limit)
    assert len(weights.prompt_token_ids) == limit
    assert weights.prompt_token_ids[-1] == 2  # the tokenizer keeps EOS when it truncates
    per_token = flag_token_weights(flag, text, limit)
    check("truncated: dense", max_diff(dense.outputs.embedding, theirs["dense_vecs"][0]))
    check("truncated: token_classify", max_diff(weights.outputs.data, per_token[1:-1]))
    check("truncated: token_embed", max_diff(vectors.outputs.data, theirs["colbert_vecs"][0]))
    ours = dict(zip(sparse.outputs.indices, sparse.outputs.values, strict=True))
    check("truncated: embed_sparse", dict_diff(ours, theirs["lexical_weights"][0]))


def test_compute_score_combinations(llm: LLM, flag: Any) -> None:
    """``compute_score`` one pair at a time (a padded batch lets FlagEmbedding's colbert max
    pick a padding position's 0 when all real similarities are negative)."""
    weights = {"dense": 0.4, "sparse": 0.2, "colbert": 0.4}
    mode_weights = [weights["dense"], weights["sparse"], weights["colbert"]]
    queries = list(dict.fromkeys(q for q, _ in PAIRS))
    passages = list(dict.fromkeys(p for _, p in PAIRS))
    q_vectors = dict(zip(queries, llm.encode_queries(queries), strict=True))
    p_vectors = dict(zip(passages, llm.encode_documents(passages), strict=True))
    index = SparseIndex.create(vocab_size=llm.vocab_size)
    sparse_items = [(o.outputs.indices, o.outputs.values) for o in llm.embed_sparse(passages)]
    index.add([str(i) for i in range(len(passages))], sparse_items)
    worst = dict.fromkeys(
        ["dense", "sparse", "colbert", "sparse+dense", "colbert+sparse+dense"], 0.0
    )
    for query, passage in PAIRS:
        theirs = flag.compute_score(
            [(query, passage)], batch_size=1, weights_for_different_modes=mode_weights
        )
        ours = {"dense": llm.score(query, passage)[0].outputs.score}
        (q_sparse,) = llm.embed_sparse(query)
        hits = index.search((q_sparse.outputs.indices, q_sparse.outputs.values), k=len(passages))
        ours["sparse"] = {h.id: h.score for h in hits}[str(passages.index(passage))]
        ours["colbert"] = float(maxsim(q_vectors[query], [p_vectors[passage]], reduce="mean")[0])
        for combo in ("sparse+dense", "colbert+sparse+dense"):
            stages = combo.split("+")
            rankings = {s: [Hit("p", ours[s])] for s in stages}
            fused = weighted_fusion(rankings, weights=weights, normalize="none")
            ours[combo] = fused[0][1]  # a weighted mean, as compute_score's
        for name in worst:
            worst[name] = max(worst[name], abs(ours[name] - theirs[name][0]))
    for name, diff in worst.items():
        check(f"compute_score[{name}]", diff)


def test_http_pooling_outputs(llm: LLM, reference: dict[str, Any], flag: Any) -> None:
    texts = TEXTS[:-1]  # the server errors on over-long inputs unless asked to truncate
    with TestClient(build_app([(["bge-m3"], llm)])) as client:

        def pool(task: str) -> list[dict[str, Any]]:
            response = client.post("/pooling", json={"input": texts, "task": task})
            assert response.status_code == 200, response.text
            return response.json()["data"]

        embed, token_embed = pool("embed"), pool("token_embed")
        token_classify, sparse, hybrid = pool("token_classify"), pool("sparse"), pool("hybrid")
    worst = dict.fromkeys(["embed", "token_embed", "token_classify", "sparse", "hybrid"], 0.0)
    for i, text in enumerate(texts):
        dense, vectors = reference["dense_vecs"][i], reference["colbert_vecs"][i]
        lexical = reference["lexical_weights"][i]
        worst["embed"] = max(worst["embed"], max_diff(embed[i]["data"], dense))
        worst["token_embed"] = max(worst["token_embed"], max_diff(token_embed[i]["data"], vectors))
        per_token = flag_token_weights(flag, text)[1:-1]
        worst["token_classify"] = max(
            worst["token_classify"], max_diff(token_classify[i]["data"], per_token)
        )
        terms = {t["token_id"]: t["weight"] for t in sparse[i]["sparse_embedding"]}
        worst["sparse"] = max(worst["sparse"], dict_diff(terms, lexical))
        item = hybrid[i]
        mixed = {t["token_id"]: t["weight"] for t in item["sparse_embedding"]}
        worst["hybrid"] = max(
            worst["hybrid"],
            max_diff(item["dense"], dense),
            max_diff(item["multi_vector"], vectors),
            dict_diff(mixed, lexical),
        )
    for task, diff in worst.items():
        check(f"HTTP /pooling task={task}", diff)
