"""A collection's vector indexes ("components"), one per representation it keeps.

```
dense/    indexes.FaissIndex (or ExactIndex)            dense vectors     stage "dense"
sparse/   indexes.SparseIndex                           sparse weights    stage "sparse"
lexical/  indexes.BM25Index                             chunk texts       stage "bm25"
tokens/   MaxSimIndex (exact) or late_interaction.PlaidIndex  token vectors  stage "maxsim"
```

Each is an ordinary index folder with its own manifest; the collection's manifest records,
per component, its index type, its ``create`` options and its folder. A component is
created on the first add (sized from the first batch) and opened by the type its own
manifest records, through a fixed table of the toolkit's index classes - never a class
name read from disk.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retrieval.errors import ConfigError, IndexCorruptError, IndexFormatError
from retrieval.storage import MANIFEST_NAME

NAMES = ("dense", "sparse", "lexical", "tokens")
"""Component names, in stage order."""
STAGE = {"dense": "dense", "sparse": "sparse", "lexical": "bm25", "tokens": "maxsim"}
"""Component -> the name of its first stage (labels its score on hits)."""
REPRESENTATION = {
    "dense": "dense",
    "sparse": "sparse",
    "lexical": "lexical",
    "tokens": "multivector",
}
COMPONENT_OF = {rep: name for name, rep in REPRESENTATION.items()}
TYPES = {
    "faiss": "dense",
    "exact": "dense",
    "sparse": "sparse",
    "bm25": "lexical",
    "maxsim": "tokens",
    "plaid": "tokens",
}
"""Index type (its manifest ``kind``) -> the component it serves."""
EXTERNAL = "external"
"""The type of a caller's own index (Qdrant, ...): used as given, never opened from disk."""


@dataclass
class Component:
    """One vector index of a collection."""

    name: str
    """``dense | sparse | lexical | tokens`` (also the folder name by default)."""
    type: str
    """Index type: ``faiss | exact | sparse | bm25 | maxsim | plaid``."""
    options: dict[str, Any] = field(default_factory=dict)
    """``create`` keywords besides the size (FAISS ``kind`` / ``metric``, PLAID ``nbits``...)."""
    path: str | None = None
    """Folder, relative to the collection (absolute when it lives elsewhere); None in memory."""
    index: Any = None
    """The open index; None until the first add."""

    @property
    def stage(self) -> str:
        return STAGE[self.name]

    @property
    def representation(self) -> str:
        return REPRESENTATION[self.name]

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "options": dict(self.options), "path": self.path}

    @classmethod
    def from_json(cls, name: str, raw: Mapping[str, Any]) -> Component:
        kind = raw.get("type")
        if name not in NAMES or (kind != EXTERNAL and (kind not in TYPES or TYPES[kind] != name)):
            msg = f"Unknown collection component {name!r}: {dict(raw)!r}."
            raise IndexCorruptError(msg)
        return cls(name, str(raw["type"]), dict(raw.get("options") or {}), raw.get("path"))


def plan(representations: tuple[str, ...], config: Any) -> list[Component]:
    """The components a new collection keeps for ``representations``, from a
    ``PipelineConfig`` (``dense_index``, ``multivector_index``, ``plaid``, ``bm25``)."""
    out = []
    for name in NAMES:
        if REPRESENTATION[name] not in representations:
            continue
        if name == "dense":
            out.append(Component(name, "faiss", {"kind": config.dense_index, "metric": "cosine"}))
        elif name == "sparse":
            out.append(Component(name, "sparse"))
        elif name == "lexical":
            out.append(Component(name, "bm25", dict(config.bm25)))
        elif config.multivector_index == "plaid":
            out.append(Component(name, "plaid", dict(config.plaid)))
        else:
            out.append(Component(name, "maxsim"))
    return out


def index_classes() -> dict[str, Any]:
    """Index type -> class: the only classes a collection opens."""
    import indexes
    import late_interaction
    from adapters.collection.maxsim_index import MaxSimIndex

    known = (
        indexes.FaissIndex,
        indexes.ExactIndex,
        indexes.SparseIndex,
        indexes.BM25Index,
        MaxSimIndex,
        late_interaction.PlaidIndex,
    )
    return {cls.KIND: cls for cls in known}


def create_index(component: Component, folder: Path | None, batch: Any, vocab_size: int) -> Any:
    """A new empty index for ``component`` at ``folder``, sized from its first ``batch``
    (token vectors' width, or for sparse weights the encoder's ``vocab_size``)."""
    if component.type == EXTERNAL:
        msg = (
            f"The {component.name!r} index of this collection is the caller's own (not a "
            "toolkit index folder); pass it when opening, e.g. "
            "RetrievalVectorStore.load(path, ..., index=...)."
        )
        raise ConfigError(msg)
    cls = index_classes()[component.type]
    options = dict(component.options)
    if component.name == "sparse":
        return cls.create(folder, vocab_size=vocab_size, **options)
    if component.name == "lexical":
        return cls.create(folder, **options)
    sample = batch[0] if component.name == "tokens" else batch
    dim = int(sample.shape[-1]) if len(batch) else 0
    return cls.create(folder, dim=dim, **options)


def open_index(path: Path, *, verify: bool = True, device: str | None = None) -> Any:
    """Open the index folder at ``path`` with the class its manifest's ``kind`` names."""
    kind = manifest_kind(path)
    classes = index_classes()
    if kind not in classes:
        msg = (
            f"The index at {path} is of kind {kind!r}, which a collection cannot open "
            f"(known: {', '.join(sorted(classes))})."
        )
        raise IndexFormatError(msg)
    if kind == "faiss" and device is not None:
        return classes[kind].open(path, verify=verify, device=device)
    return classes[kind].open(path, verify=verify)


def manifest_kind(path: Path) -> str:
    """The ``kind`` of the index manifest at ``path``."""
    try:
        raw = json.loads((path / MANIFEST_NAME).read_text(encoding="utf-8"))
        return str(raw["kind"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        msg = f"The index folder {path} has no readable {MANIFEST_NAME} ({err})."
        raise IndexCorruptError(msg) from err


def check_index(index: Any, representation: str) -> tuple[str, str]:
    """``(component name, type)`` of a caller's own index: a toolkit index by its ``KIND``,
    any other index (Qdrant, ...) as ``external`` for ``representation``."""
    kind = getattr(index, "KIND", None)
    if kind in TYPES:
        return TYPES[kind], str(kind)
    return COMPONENT_OF[representation], EXTERNAL
