"""Translate the toolkit's filter language (``retrieval.filters``) into a Qdrant ``Filter``.

The toolkit's semantics are kept exactly, including where Qdrant's defaults differ:

* **Types never mix.** ``True`` never equals ``1`` and ``"2001"`` never equals ``2001``:
  strings use ``MatchAny`` (keyword match), booleans ``MatchValue(bool)``, numbers a closed
  ``Range(gte=v, lte=v)`` (so ``2`` matches a stored ``2.0``, as in Python).
* **A list never matches.** Qdrant matches a list payload when any element does; the store
  records which fields of a point hold a list, dict or null (payload key
  ``NONSCALAR_KEY``) and every field condition excludes those points.
* **Missing fields never match** (Qdrant agrees).

Qdrant's range conditions are numeric only, so ``$gt/$gte/$lt/$lte`` with a string value
raise ``FilterError``; field names with ``.`` or ``[`` (Qdrant's nested-path syntax) too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from retrieval.errors import FilterError
from retrieval.filters import Filter, compile_filter

ID_KEY = "_toolkit_id"
"""Payload key holding the toolkit's string id of a point."""
NONSCALAR_KEY = "_toolkit_nonscalar"
"""Payload key listing the metadata fields whose value is a list, a dict or null."""
RESERVED_KEYS = (ID_KEY, NONSCALAR_KEY)
_RANGE_NAMES = {"$gt": "gt", "$gte": "gte", "$lt": "lt", "$lte": "lte"}


def to_qdrant_filter(filter: Filter | None) -> Any:
    """The ``qdrant_client.models.Filter`` equal to ``filter`` (``None`` for no filter).

    ``filter`` is validated with the toolkit's own compiler first, so errors read the same
    as with every other index.
    """
    if compile_filter(filter) is None:
        return None
    assert filter is not None  # compile_filter returns None for None
    return _dict(filter)


def _models() -> Any:
    from qdrant_client import models

    return models


def _dict(filter: Mapping[str, Any]) -> Any:
    return _models().Filter(must=[_entry(key, value) for key, value in filter.items()])


def _entry(key: str, value: Any) -> Any:
    models = _models()
    if key == "$and":
        return models.Filter(must=[_dict(sub) for sub in value])
    if key == "$or":
        return models.Filter(should=[_dict(sub) for sub in value])
    if "." in key or "[" in key or "]" in key:
        msg = (
            f"Field name {key!r} contains '.', '[' or ']', which Qdrant reads as a nested "
            "path; rename the metadata field to filter on it in Qdrant."
        )
        raise FilterError(msg)
    operators = value.items() if isinstance(value, Mapping) else [("$eq", value)]
    scalar_only = models.FieldCondition(key=NONSCALAR_KEY, match=models.MatchAny(any=[key]))
    return models.Filter(
        must=[_operator(key, op, arg) for op, arg in operators], must_not=[scalar_only]
    )


def _operator(field: str, op: str, arg: Any) -> Any:
    if op == "$in":
        return _membership(field, list(arg))
    if op == "$eq":
        return _membership(field, [arg])
    if isinstance(arg, str):
        msg = (
            f"{op} on field {field!r} compares strings ({arg!r}); Qdrant range filters "
            "compare numbers only. Store a numeric field (e.g. a year or a timestamp) to "
            "filter by range in Qdrant."
        )
        raise FilterError(msg)
    models = _models()
    return models.FieldCondition(key=field, range=models.Range(**{_RANGE_NAMES[op]: arg}))


def _membership(field: str, values: Sequence[Any]) -> Any:
    """Equality with any of ``values``, each within its own type class."""
    models = _models()
    strings = [v for v in values if isinstance(v, str)]
    booleans = sorted({v for v in values if isinstance(v, bool)})
    numbers = [v for v in values if not isinstance(v, str | bool) and math.isfinite(v)]
    conditions = []
    if strings:
        conditions.append(models.FieldCondition(key=field, match=models.MatchAny(any=strings)))
    conditions += [
        models.FieldCondition(key=field, match=models.MatchValue(value=b)) for b in booleans
    ]
    conditions += [
        models.FieldCondition(key=field, range=models.Range(gte=n, lte=n)) for n in numbers
    ]
    if len(conditions) == 1:
        return conditions[0]
    return models.Filter(should=conditions)


def payload_for(doc_id: str, metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """The Qdrant payload of one item: its metadata, its toolkit id and the list of its
    non-scalar fields (which filters must never match)."""
    meta = dict(metadata or {})
    clash = [key for key in RESERVED_KEYS if key in meta]
    if clash:
        msg = f"Metadata of {doc_id!r} uses the reserved key {clash[0]!r}; rename that field."
        raise FilterError(msg)
    nonscalar = [key for key, value in meta.items() if not _is_scalar(value)]
    return {**meta, ID_KEY: doc_id, NONSCALAR_KEY: nonscalar}


def metadata_from(payload: Mapping[str, Any] | None) -> dict[str, Any]:
    """The toolkit metadata stored in a payload (reserved keys removed)."""
    return {k: v for k, v in (payload or {}).items() if k not in RESERVED_KEYS}


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | bool) or (
        isinstance(value, int | float) and math.isfinite(value)
    )
