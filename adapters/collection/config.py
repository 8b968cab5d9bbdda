"""``PipelineConfig``: what to build - models, indexes, fusion, rerank stages - as a frozen
dataclass, loadable from a TOML file (``tomllib``) or a dict (JSON).

    # pipeline.toml
    pipeline = "hybrid"                     # dense | sparse | multivector | hybrid
    model = "sentence-transformers/all-MiniLM-L6-v2"
    sparse_model = "/path/to/splade"
    sparse_max_model_len = 256
    depth = 100
    fusion = "agreement"                    # the default hybrid's (retrieval.hybrid)
    bm25 = { language = "english" }         # the hybrid's BM25: k1, b, language

    [[rerank]]
    kind = "maxsim"                         # cross-encoder | maxsim | dense | sparse
    top_n = 20

Keys may also sit under a ``[pipeline]`` table. Unknown keys are errors that list valid ones.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import tomllib

from retrieval.errors import ConfigError
from retrieval.fusion_names import FUSION_CHOICES

PipelineKind = Literal["dense", "sparse", "multivector", "hybrid"]
PIPELINE_KINDS: tuple[str, ...] = get_args(PipelineKind)
RerankKind = Literal["cross-encoder", "maxsim", "dense", "sparse"]
RERANK_KINDS: tuple[str, ...] = get_args(RerankKind)
MultiVectorIndexKind = Literal["exact", "plaid"]
MULTIVECTOR_INDEXES: tuple[str, ...] = get_args(MultiVectorIndexKind)


def _default_model() -> str:
    from encoders.resolve import DEFAULT_MODEL

    return DEFAULT_MODEL


@dataclass(frozen=True)
class RerankConfig:
    """One rerank stage."""

    kind: RerankKind
    """``cross-encoder`` (``LLM.score`` over query/text pairs), ``maxsim`` (token embeddings),
    ``dense`` (pooled embedding dot product) or ``sparse`` (SPLADE dot product)."""
    top_n: int | None = None
    """Candidates kept after this stage (``None``: all)."""
    model: str | None = None
    """Model of this stage; ``None`` uses the pipeline's ``model`` (``sparse_model`` for
    ``sparse``). A cross-encoder always needs its own."""
    name: str | None = None
    """Score label on hits; ``None`` uses ``kind``."""

    def __post_init__(self) -> None:
        _check_choice("rerank kind", self.kind, RERANK_KINDS)
        _check_optional_positive("top_n", self.top_n)
        if self.kind == "cross-encoder" and not self.model:
            msg = 'A cross-encoder rerank stage needs model = "<cross-encoder folder or id>".'
            raise ConfigError(msg)

    @property
    def label(self) -> str:
        return self.name or self.kind


@dataclass(frozen=True)
class PipelineConfig:
    """A retrieval pipeline: first stage(s) from ``pipeline``, fusion, then ``rerank``."""

    pipeline: PipelineKind = "dense"
    """``dense`` (pooled embeddings in FAISS), ``sparse`` (SPLADE in the inverted index),
    ``multivector`` (token embeddings, exact MaxSim or PLAID), ``hybrid`` (the default hybrid
    of ``retrieval.hybrid``: dense (+ sparse) candidates rescored by MaxSim, scores fused; a
    BGE-M3 ``model`` gives all three from one pass, otherwise ``model`` gives dense + tokens
    and ``sparse_model`` the sparse part)."""
    model: str = field(default_factory=_default_model)
    """Dense / token-embedding model (folder, repo id or packaged name)."""
    sparse_model: str | None = None
    """SPLADE model for ``sparse`` and non-BGE-M3 ``hybrid`` pipelines."""
    hf_overrides: Mapping[str, Any] = field(default_factory=dict)
    """Config overrides for ``model``, e.g. ``{"architectures": ["BgeM3EmbeddingModel"]}`` to
    load a BGE-M3 checkpoint with its three heads."""
    max_model_len: int | None = None
    """Token limit of ``model`` (``None``: the model's own); longer texts are truncated."""
    sparse_max_model_len: int | None = None
    """Token limit of ``sparse_model``."""
    device: str = "auto"
    """``auto | cpu | cuda | cuda:N`` for the models."""
    dense_index: str = "flat"
    """FAISS kind for dense vectors: ``flat | ivf | hnsw | ivfpq | sq8``."""
    multivector_index: MultiVectorIndexKind = "exact"
    """``exact`` (MaxSim over every token) or ``plaid`` (``late_interaction.PlaidIndex``)."""
    plaid: Mapping[str, Any] = field(default_factory=dict)
    """Extra ``PlaidIndex.create`` options (``nbits``, ``ncells``, ...)."""
    bm25: Mapping[str, Any] = field(default_factory=dict)
    """``BM25Index.create`` options of a hybrid's BM25 part: ``k1`` (1.2), ``b`` (0.75),
    ``language`` (``english``; another Snowball language, or ``none``)."""
    depth: int = 100
    """Candidates the first stages return per query in all: a hybrid shares them out evenly
    among its first stages (``retrieval.hybrid.HybridSpec.depth``), then rescores them; a
    search for more (``k``) takes ``k`` from each stage."""
    fusion: str | None = None
    """How ``hybrid`` fuses its stages' scores: ``agreement`` | ``zscore`` | ``dbsf`` |
    ``minmax`` | ``rrf`` (``weighted`` = ``minmax``); ``None``: the default hybrid's
    (``agreement``, see ``retrieval.hybrid``)."""
    rrf_k: float = 60.0
    """RRF constant (``fusion = "rrf"`` only)."""
    weights: Mapping[str, float] = field(default_factory=dict)
    """Fusion weight per stage name (``dense``, ``sparse``, ``maxsim``); default 1."""
    rerank: tuple[RerankConfig, ...] = ()
    """Rerank stages, in order."""
    batch_size: int = 64
    """Documents per encoding call while indexing."""

    def __post_init__(self) -> None:
        _check_choice("pipeline", self.pipeline, PIPELINE_KINDS)
        if self.fusion is not None:
            _check_choice("fusion", self.fusion, FUSION_CHOICES)
        _check_choice("multivector_index", self.multivector_index, MULTIVECTOR_INDEXES)
        for name in ("depth", "batch_size"):
            _check_optional_positive(name, getattr(self, name))
        for name in ("max_model_len", "sparse_max_model_len"):
            _check_optional_positive(name, getattr(self, name))
        rerank = tuple(
            r if isinstance(r, RerankConfig) else RerankConfig(**_known(RerankConfig, r, "rerank"))
            for r in self.rerank
        )
        object.__setattr__(self, "rerank", rerank)
        object.__setattr__(self, "plaid", dict(self.plaid))
        object.__setattr__(self, "bm25", _checked_bm25(self.bm25))
        object.__setattr__(self, "weights", dict(self.weights))
        object.__setattr__(self, "hf_overrides", dict(self.hf_overrides))

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> PipelineConfig:
        """From a dict (keys as the fields; ``rerank`` a list of dicts), e.g. parsed JSON/TOML."""
        if "pipeline" in raw and isinstance(raw["pipeline"], Mapping):
            raw = raw["pipeline"]
        values = _known(cls, raw, "pipeline config")
        values["rerank"] = tuple(values.get("rerank", ()))
        return cls(**values)

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> PipelineConfig:
        """Read a TOML pipeline file (see the module docstring)."""
        try:
            with Path(path).open("rb") as handle:
                raw = tomllib.load(handle)
        except FileNotFoundError:
            msg = f"Pipeline config file {str(path)!r} does not exist."
            raise ConfigError(msg) from None
        except tomllib.TOMLDecodeError as err:
            msg = f"Pipeline config {str(path)!r} is not valid TOML: {err}."
            raise ConfigError(msg) from None
        return cls.from_mapping(raw)

    def replace(self, **changes: Any) -> PipelineConfig:
        """A copy with ``changes`` applied (``None`` values are ignored: flags not given)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict that ``from_mapping`` reads back."""
        data = dataclasses.asdict(self)
        data["rerank"] = [dataclasses.asdict(r) for r in self.rerank]
        return data


def _known(cls: type, raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        msg = f"{where} must be a table/dict; got {type(raw).__name__}."
        raise ConfigError(msg)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        msg = f"Unknown {where} keys {unknown}. Valid: {', '.join(sorted(names))}."
        raise ConfigError(msg)
    return dict(raw)


def _checked_bm25(options: Any) -> dict[str, Any]:
    """``bm25`` options, checked now (not at the first add) by making an empty index."""
    values = _known_keys(options, ("k1", "b", "language"), "bm25 option")
    if values:
        from indexes import BM25Index

        BM25Index.create(**values)
    return values


def _known_keys(raw: Any, names: tuple[str, ...], where: str) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        msg = f"{where}s must be a table/dict; got {type(raw).__name__}."
        raise ConfigError(msg)
    unknown = sorted(set(raw) - set(names))
    if unknown:
        msg = f"Unknown {where}s {unknown}. Valid: {', '.join(names)}."
        raise ConfigError(msg)
    return dict(raw)


def _check_choice(what: str, value: Any, valid: tuple[str, ...]) -> None:
    if value not in valid:
        msg = f"Unknown {what} {value!r}. Valid: {', '.join(valid)}."
        raise ConfigError(msg)


def _check_optional_positive(what: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        msg = f"{what} must be a positive integer; got {value!r}."
        raise ConfigError(msg)
