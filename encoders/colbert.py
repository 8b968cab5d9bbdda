"""ColBERT-style multi-vector encoders: Stanford ``HF_ColBERT``, PyLate folders and
sentence-transformers 6 ``MultiVectorEncoder`` folders (also ModernBERT and Jina-XLM-R
backbones selected with ``hf_overrides={"architectures": ["ColBERTModernBertModel"]}`` and
friends).

Queries and documents are two methods. Stanford and PyLate insert a marker token right after
``[CLS]``; sentence-transformers 6 prepends its ``prompts`` as text instead. Queries are padded
with ``[MASK]`` up to the expansion length (query augmentation: those positions produce vectors
but are not attended to unless configured); documents drop skiplist tokens (punctuation).
Every vector is projected and L2-normalized.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from torch import nn

from retrieval.errors import ConfigError

ARCHITECTURES = ("HF_ColBERT", "ColBERTModernBertModel", "ColBERTJinaRobertaModel")
JINA_MARKERS = ("[QueryMarker]", "[DocumentMarker]")
PYLATE_KEYS = ("query_prefix", "document_prefix", "query_length", "document_length")


@dataclass(frozen=True)
class ColbertSettings:
    """How queries and documents are tokenized (from ``artifact.metadata`` or PyLate keys)."""

    query_marker: int | None
    """Token id inserted after [CLS] in queries (``[unused0]`` / ``[Q] ``)."""
    document_marker: int | None
    query_length: int
    """Tokens per query including specials and the marker; expansion pads up to it."""
    document_length: int
    query_expansion: bool
    """Pad queries with the mask token up to ``query_length``."""
    attend_to_expansion: bool
    expansion_token: int
    skiplist: frozenset[int]
    """Document token ids dropped from the output (punctuation by default)."""
    query_prompt: str = ""
    """Text prepended to every query before tokenizing (sentence-transformers 6 prompts)."""
    document_prompt: str = ""
    expansion_length: int | None = None
    """Expansion floor: short queries are padded with the expansion token up to this many
    tokens. None means ``query_length`` (classic ColBERT: floor and ceiling are one number)."""
    skip_queries: bool = False
    """Apply the skiplist to queries too (``skiplist_tasks`` containing ``"query"``)."""
    keep_only: frozenset[int] | None = None
    """When set, documents keep only these token ids (``keep_only_token_ids``)."""
    normalize: bool = True
    """L2-normalize every vector (sentence-transformers 6 folders without a token-level
    ``Normalize`` module return raw projections)."""
    truncate_dim: int | None = None
    """Keep the first dimensions of every vector, then L2-normalize (``truncate_dim``)."""
    mean_maxsim: bool = False
    """Scores are MaxSim divided by the query's vector count (``similarity_fn_name:
    meanmaxsim``)."""
    strip_text: bool = False
    """Strip surrounding whitespace from each (prompted) text before tokenizing: PyLate's
    sentence-transformers 5 Transformer does, which byte-level BPE tokenizers notice."""


def is_colbert(architectures: tuple[str, ...], folder: Path) -> bool:
    if any(a in ARCHITECTURES for a in architectures):
        return True
    st = _st_model_config(folder)
    similarity = str(st.get("similarity_fn_name") or "").lower()
    return similarity in {"maxsim", "meanmaxsim"} or st.get("model_type") == "MultiVectorEncoder"


def _st_model_config(folder: Path) -> dict[str, Any]:
    path = folder / "config_sentence_transformers.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def read_settings(folder: Path, tokenizer: Any) -> ColbertSettings:
    """Stanford ``artifact.metadata`` first, then PyLate keys, then colbert-ai defaults."""
    stanford = folder / "artifact.metadata"
    if stanford.is_file():
        meta = json.loads(stanford.read_text(encoding="utf-8"))
        return _settings(
            tokenizer,
            query_marker=meta.get("query_token_id", "[unused0]"),
            document_marker=meta.get("doc_token_id", "[unused1]"),
            query_length=int(meta.get("query_maxlen", 32)),
            document_length=int(meta.get("doc_maxlen", 220)),  # colbert-ai's default
            query_expansion=True,
            attend=bool(meta.get("attend_to_mask_tokens", False)),
            skip=list(string.punctuation) if meta.get("mask_punctuation", True) else [],
        )
    st = _st_model_config(folder)
    if st.get("model_type") == "MultiVectorEncoder":
        return _st6_settings(folder, st, tokenizer)
    if st.get("model_type") == "ColBERT" or any(key in st for key in PYLATE_KEYS):
        return _pylate_settings(st, tokenizer)
    if _in_vocabulary(tokenizer, JINA_MARKERS[0]):
        # jina-colbert-v2: the markers vLLM's ``input_type`` picks first, queries padded with
        # <mask> to 32 tokens and attended to (Jina documents attend_to_expansion_tokens=True;
        # in vLLM the pads are ordinary prompt tokens). Documents are limited only by the
        # model (8192). Unlike vLLM, and like PyLate (Jina's documented loader), documents
        # skip punctuation pieces, looked up as whole SentencePiece tokens.
        jina = _settings(tokenizer, *JINA_MARKERS, 32, 1_000_000, True, True, [])
        return replace(jina, skiplist=_vocabulary_ids(tokenizer, list(string.punctuation)))
    return _settings(
        tokenizer, "[unused0]", "[unused1]", 32, 180, True, False, list(string.punctuation)
    )


def _pylate_settings(st: dict[str, Any], tokenizer: Any) -> ColbertSettings:
    """PyLate's ``config_sentence_transformers.json``, read as ``pylate.models.ColBERT`` reads
    it: a missing or null key takes PyLate's default (``"[Q] "`` / ``"[D] "``, 32 / 180
    tokens, punctuation skiplist, expansion on and not attended), an empty prefix means no
    marker, an empty skiplist means none. Skiplist words are looked up verbatim as vocabulary
    tokens, so a word the vocabulary lacks stands for ``[UNK]`` (PyLate does the same), and a
    ``default_prompt_name`` prompt is prepended to queries and documents alike."""

    def value(key: str, default: Any) -> Any:
        return default if st.get(key) is None else st[key]

    settings = _settings(
        tokenizer,
        query_marker=value("query_prefix", "[Q] ") or None,
        document_marker=value("document_prefix", "[D] ") or None,
        query_length=int(value("query_length", 32)),
        document_length=int(value("document_length", 180)),
        query_expansion=bool(value("do_query_expansion", True)),
        attend=bool(value("attend_to_expansion_tokens", False)),
        skip=[],
    )
    words = value("skiplist_words", list(string.punctuation))
    ids = {tokenizer.convert_tokens_to_ids(w) for w in words}
    prompt = (st.get("prompts") or {}).get(st.get("default_prompt_name")) or ""
    return replace(
        settings,
        attend_to_expansion=settings.attend_to_expansion and settings.query_expansion,
        skiplist=frozenset(int(i) for i in ids if i is not None),
        query_prompt=prompt,
        document_prompt=prompt,
        strip_text=True,
    )


def _in_vocabulary(tokenizer: Any, token: str) -> bool:
    token_id = tokenizer.convert_tokens_to_ids(token)
    return token_id is not None and token_id != tokenizer.unk_token_id


def _settings(
    tokenizer: Any,
    query_marker: str | None,
    document_marker: str | None,
    query_length: int,
    document_length: int,
    query_expansion: bool,
    attend: bool,
    skip: list[str],
) -> ColbertSettings:
    # PyLate's order: [MASK], else EOS (decoder backbones), else the pad token.
    expansion = next(
        (
            t
            for t in (tokenizer.mask_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id)
            if t is not None
        ),
        0,
    )
    skiplist = {ids[0] for w in skip if (ids := tokenizer.encode(w, add_special_tokens=False))}
    return ColbertSettings(
        query_marker=_token_id(tokenizer, query_marker),
        document_marker=_token_id(tokenizer, document_marker),
        query_length=query_length,
        document_length=document_length,
        query_expansion=query_expansion,
        attend_to_expansion=attend,
        expansion_token=int(expansion),
        skiplist=frozenset(skiplist),
    )


def _st6_settings(folder: Path, st: dict[str, Any], tokenizer: Any) -> ColbertSettings:
    """sentence-transformers 6: lengths and expansion on the Transformer module
    (``sentence_bert_config.json``), the skiplist on the ``MultiVectorMask`` module, and the
    query/document prefixes as ordinary ``prompts``."""
    transformer, mask, normalize = _st6_module_configs(folder)
    default_length = int(getattr(tokenizer, "model_max_length", 512) or 512)
    default_length = min(default_length, 1_000_000)
    expansion = transformer.get("query_expansion") or None
    query_length = transformer.get("query_length")
    if expansion is not None and expansion.get("strategy", "fixed") == "fixed":
        query_length = int(expansion["length"])  # "fixed" is floor and ceiling
    token = expansion.get("token") if expansion else None
    expansion_id = tokenizer.convert_tokens_to_ids(token) if token else tokenizer.mask_token_id
    if expansion_id is None:
        expansion_id = tokenizer.eos_token_id  # decoder backbones have no [MASK]
    prompts = {str(k): str(v) for k, v in (st.get("prompts") or {}).items()}
    document_prompt = next(
        (prompts[n] for n in ("document", "passage", "corpus") if n in prompts), ""
    )
    tasks = mask.get("skiplist_tasks") or ["document"]
    keep_only = mask.get("keep_only_token_ids")
    return ColbertSettings(
        query_marker=None,
        document_marker=None,
        query_length=int(query_length or default_length),
        document_length=int(transformer.get("document_length") or default_length),
        query_expansion=expansion is not None,
        attend_to_expansion=bool(expansion.get("attend", False)) if expansion else False,
        expansion_token=int(expansion_id if expansion_id is not None else 0),
        skiplist=_vocabulary_ids(tokenizer, mask.get("skiplist_words") or []),
        query_prompt=prompts.get("query", ""),
        document_prompt=document_prompt,
        expansion_length=int(expansion["length"]) if expansion else None,
        skip_queries="query" in ([tasks] if isinstance(tasks, str) else tasks),
        keep_only=frozenset(int(i) for i in keep_only) if keep_only else None,
        normalize=normalize,
        truncate_dim=int(st["truncate_dim"]) if st.get("truncate_dim") else None,
        mean_maxsim=str(st.get("similarity_fn_name") or "").lower() == "meanmaxsim",
    )


def _st6_module_configs(folder: Path) -> tuple[dict[str, Any], dict[str, Any], bool]:
    """The Transformer's ``sentence_bert_config.json``, the ``MultiVectorMask`` config and
    whether a ``Normalize`` module follows the projection."""
    transformer: dict[str, Any] = {}
    mask: dict[str, Any] = {}
    normalize = False
    modules_file = folder / "modules.json"
    modules = json.loads(modules_file.read_text(encoding="utf-8")) if modules_file.is_file() else []
    for module in modules:
        kind = str(module.get("type", "")).rsplit(".", 1)[-1]
        sub = folder / str(module.get("path", ""))
        if kind == "Transformer" and (sub / "sentence_bert_config.json").is_file():
            transformer = json.loads((sub / "sentence_bert_config.json").read_text("utf-8"))
        elif kind == "MultiVectorMask" and (sub / "config.json").is_file():
            mask = json.loads((sub / "config.json").read_text(encoding="utf-8"))
        normalize = normalize or kind == "Normalize"
    return transformer, mask, normalize


def _vocabulary_ids(tokenizer: Any, words: list[str]) -> frozenset[int]:
    """Ids of skiplist words that are single vocabulary tokens. Words the vocabulary lacks are
    dropped rather than mapped to ``[UNK]``, which would silently remove every real unknown
    token from documents (sentence-transformers 6 behaves the same)."""
    unk_id, unk = tokenizer.unk_token_id, tokenizer.unk_token
    ids = set()
    for word in words:
        token_id = tokenizer.convert_tokens_to_ids(word) if word else None
        if token_id is not None and (token_id != unk_id or word == unk):
            ids.add(int(token_id))
    return frozenset(ids)


def _token_id(tokenizer: Any, token: str | None) -> int | None:
    """The marker's id. PyLate saves its prefixes as added tokens with their trailing space
    (``"[Q] "``) and looks them up verbatim; a folder whose vocabulary has only the bare word
    (``[Q]``) is read through that."""
    if token is None:
        return None
    token_id = tokenizer.convert_tokens_to_ids(token)
    if (token_id is None or token_id == tokenizer.unk_token_id) and token.strip() != token:
        token_id = tokenizer.convert_tokens_to_ids(token.strip())
    if token_id is None or token_id == tokenizer.unk_token_id:
        msg = (
            f"ColBERT marker token {token!r} is not in the tokenizer's vocabulary; the "
            "checkpoint's tokenizer files do not match its ColBERT config."
        )
        raise ConfigError(msg)
    return int(token_id)


def stanford_projection(folder: Path, hidden_size: int) -> nn.Linear | None:
    """The ``linear.weight`` ``(dim, hidden)`` projection Stanford checkpoints keep beside the
    BERT weights, or None when the folder has none."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        path = folder / weight_map["linear.weight"] if "linear.weight" in weight_map else None
    else:
        path = folder / "model.safetensors"
    if path is None or not path.is_file():
        return None
    with safe_open(str(path), framework="pt") as handle:
        if "linear.weight" not in handle.keys():  # noqa: SIM118 - not a mapping
            return None
        weight = handle.get_tensor("linear.weight")
    if weight.shape[1] != hidden_size:
        msg = (
            f"ColBERT linear.weight has shape {tuple(weight.shape)}; expected (dim, {hidden_size})."
        )
        raise ConfigError(msg)
    linear = nn.Linear(weight.shape[1], weight.shape[0], bias=False)
    with torch.no_grad():
        linear.weight.copy_(weight)
    return linear.eval()


@dataclass(frozen=True)
class MarkedInputs:
    """One batch ready for the backbone, with the positions whose vectors are kept."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    keep: torch.Tensor
    """``(b, l)`` bool: which positions produce output vectors."""


def mark(
    token_ids: list[list[int]], settings: ColbertSettings, is_query: bool, pad_id: int
) -> MarkedInputs:
    """Insert the marker after [CLS]; pad queries with the expansion token up to the expansion
    length (not attended unless configured); mark skiplist tokens as dropped."""
    marker = settings.query_marker if is_query else settings.document_marker
    rows = [[*ids[:1], marker, *ids[1:]] if marker is not None else list(ids) for ids in token_ids]
    expand = is_query and settings.query_expansion
    floor = (settings.expansion_length or settings.query_length) if expand else 0
    width = max(floor, max(len(r) for r in rows))
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    keep = torch.zeros((len(rows), width), dtype=torch.bool)
    skip = torch.tensor(sorted(settings.skiplist), dtype=torch.long)
    skipping = bool(settings.skiplist) and (not is_query or settings.skip_queries)
    keep_only = None
    if not is_query and settings.keep_only:
        keep_only = torch.tensor(sorted(settings.keep_only), dtype=torch.long)
    for i, row in enumerate(rows):
        n = len(row)
        input_ids[i, :n] = torch.tensor(row)
        attention[i, :n] = 1
        keep[i, :n] = True
        if n < floor:
            input_ids[i, n:floor] = settings.expansion_token
            attention[i, n:floor] = int(settings.attend_to_expansion)
            keep[i, n:floor] = True
        if skipping:
            keep[i, :n] &= ~torch.isin(input_ids[i, :n], skip)
        if keep_only is not None:
            keep[i, :n] &= torch.isin(input_ids[i, :n], keep_only)
    return MarkedInputs(input_ids, attention, keep)


def text_budget(settings: ColbertSettings, is_query: bool, max_model_len: int) -> int:
    """Tokens left for the text (with [CLS]/[SEP] and any prompt) once the marker is inserted."""
    length = min(settings.query_length if is_query else settings.document_length, max_model_len)
    marker = settings.query_marker if is_query else settings.document_marker
    return length - (1 if marker is not None else 0)


def with_prompt(items: list[Any], settings: ColbertSettings, is_query: bool) -> list[Any]:
    """Prepend the query or document prompt to text inputs (token-id inputs are taken as
    already prompted), then strip the text where the format's reference does."""
    prompt = settings.query_prompt if is_query else settings.document_prompt
    if not prompt and not settings.strip_text:
        return items
    strip = str.strip if settings.strip_text else str
    return [strip(prompt + item) if isinstance(item, str) else item for item in items]
