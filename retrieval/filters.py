"""The metadata filter language shared by every index, compiled once per search.

A filter is a small dict::

    {"lang": "en"}                                   equality
    {"year": {"$gte": 2000, "$lt": 2010}}            comparisons (AND-ed within a field)
    {"tag": {"$in": ["a", "b"]}}                     membership
    {"$or": [{"lang": "en"}, {"year": {"$gt": 2020}}]}
    {"lang": "en", "year": 2001}                     several keys are AND-ed ($and spells it out)

Field names are top-level metadata keys, taken literally (no dotted paths). Values are strings,
numbers or booleans; values only match values of the same type (``True`` never equals ``1``,
``"2001"`` never equals ``2001``), and a missing field, a null or a list never matches.

``compile_filter`` returns both a Python predicate (the readable specification, used for
in-memory metadata) and an equivalent SQLite ``WHERE`` clause over a JSON ``metadata`` column;
tests check that the two agree.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from retrieval.errors import FilterError

Filter = Mapping[str, Any]
"""A filter in the dict language above."""

FieldOperator = Literal["$eq", "$in", "$gt", "$gte", "$lt", "$lte"]
FIELD_OPERATORS: tuple[str, ...] = get_args(FieldOperator)
LogicalOperator = Literal["$and", "$or"]
LOGICAL_OPERATORS: tuple[str, ...] = get_args(LogicalOperator)

Predicate = Callable[[Mapping[str, Any]], bool]
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "$gt": lambda a, b: a > b,
    "$gte": lambda a, b: a >= b,
    "$lt": lambda a, b: a < b,
    "$lte": lambda a, b: a <= b,
}
_SQL_OP = {"$eq": "=", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_NUMBER_TYPES = "('integer', 'real')"


@dataclass(frozen=True)
class CompiledFilter:
    """A validated filter, ready to run against a metadata dict or a SQLite table."""

    key: str
    """Canonical JSON of the filter: equal filters share it (a cache key)."""
    sql: str
    """A boolean SQL expression over a JSON text column named ``metadata``."""
    params: tuple[Any, ...]
    """Parameters bound to the ``?`` placeholders of ``sql``, in order."""
    predicate: Predicate
    """The same test in Python, over one item's metadata dict."""

    def matches(self, metadata: Mapping[str, Any] | None) -> bool:
        """True when ``metadata`` passes the filter (``None`` counts as ``{}``)."""
        return self.predicate(metadata or {})


@dataclass(frozen=True)
class _Node:
    sql: str
    params: tuple[Any, ...]
    predicate: Predicate


def compile_filter(filter: Filter | None) -> CompiledFilter | None:
    """Validate ``filter`` and compile it; ``None`` and ``{}`` mean "no filter"."""
    if filter is None or (isinstance(filter, Mapping) and not filter):
        return None
    node = _compile_dict(filter, where="filter")
    try:
        key = json.dumps(filter, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as err:  # validated above; kept as a safety net
        msg = f"Filter {filter!r} is not plain JSON data."
        raise FilterError(msg) from err
    return CompiledFilter(key=key, sql=node.sql, params=node.params, predicate=node.predicate)


def _compile_dict(filter: Any, where: str) -> _Node:
    if not isinstance(filter, Mapping) or not filter:
        msg = (
            f"{where} must be a non-empty dict such as {{'lang': 'en'}}; got {filter!r}. "
            f"Logical operators: {', '.join(LOGICAL_OPERATORS)}."
        )
        raise FilterError(msg)
    nodes = [_compile_entry(key, value, where) for key, value in filter.items()]
    return _combine(nodes, "AND")


def _compile_entry(key: Any, value: Any, where: str) -> _Node:
    if not isinstance(key, str):
        msg = f"Filter keys must be strings; got {key!r} in {where}."
        raise FilterError(msg)
    if key.startswith("$"):
        if key not in LOGICAL_OPERATORS:
            msg = (
                f"Unknown logical operator {key!r} in {where}. Valid: "
                f"{', '.join(LOGICAL_OPERATORS)}; field operators such as $in go inside a "
                "field: {'tag': {'$in': ['a', 'b']}}."
            )
            raise FilterError(msg)
        if not isinstance(value, list | tuple) or not value:
            msg = f"{key} takes a non-empty list of filters; got {value!r}."
            raise FilterError(msg)
        parts = [_compile_dict(sub, where=f"{key}[{i}]") for i, sub in enumerate(value)]
        return _combine(parts, "AND" if key == "$and" else "OR")
    if '"' in key or "\\" in key:
        msg = f"Field name {key!r} contains a quote or backslash, which filters do not support."
        raise FilterError(msg)
    if isinstance(value, Mapping):
        if not value:
            msg = f"Field {key!r} has an empty operator dict. Valid: {', '.join(FIELD_OPERATORS)}."
            raise FilterError(msg)
        return _combine([_compile_operator(key, op, arg) for op, arg in value.items()], "AND")
    return _compile_operator(key, "$eq", value)


def _compile_operator(field: str, op: Any, arg: Any) -> _Node:
    if op not in FIELD_OPERATORS:
        msg = (
            f"Unknown filter operator {op!r} on field {field!r}. Valid: "
            f"{', '.join(FIELD_OPERATORS)} (and {', '.join(LOGICAL_OPERATORS)} at the top "
            "level). Write equality as {field: value}."
        )
        raise FilterError(msg)
    if op == "$in":
        if not isinstance(arg, list | tuple):
            msg = f"$in on field {field!r} takes a list of values; got {arg!r}."
            raise FilterError(msg)
        for item in arg:
            _check_scalar(field, op, item)
        return _membership(field, tuple(arg))
    _check_scalar(field, op, arg)
    if op == "$eq":
        return _membership(field, (arg,))
    if isinstance(arg, bool):
        msg = f"{op} on field {field!r} compares numbers or strings; got the boolean {arg!r}."
        raise FilterError(msg)
    return _comparison(field, op, arg)


def _check_scalar(field: str, op: str, value: Any) -> None:
    ok = isinstance(value, str | bool) or (isinstance(value, int | float) and math.isfinite(value))
    if not ok:
        msg = (
            f"{op} on field {field!r} got {value!r} ({type(value).__name__}); filter values "
            "must be strings, finite numbers or booleans (use $in for a list of values)."
        )
        raise FilterError(msg)


def _kind(value: Any) -> str:
    """The type class a value compares within: 'bool', 'number' or 'str'."""
    if isinstance(value, bool):
        return "bool"
    return "str" if isinstance(value, str) else "number"


def _path(field: str) -> str:
    return f'$."{field}"'


def _membership(field: str, values: tuple[Any, ...]) -> _Node:
    """Equality with any of ``values``, each compared only within its own type class."""
    by_kind: dict[str, list[Any]] = {"bool": [], "number": [], "str": []}
    for value in values:
        by_kind[_kind(value)].append(value)
    clauses: list[str] = []
    params: list[Any] = []
    if by_kind["bool"]:
        names = ", ".join(sorted({f"'{str(v).lower()}'" for v in by_kind["bool"]}))
        clauses.append(f"json_type(metadata, ?) IN ({names})")
        params.append(_path(field))
    for kind, sql_types in (("number", _NUMBER_TYPES), ("str", "('text')")):
        if by_kind[kind]:
            marks = ", ".join("?" * len(by_kind[kind]))
            typed = f"json_type(metadata, ?) IN {sql_types}"
            clauses.append(f"({typed} AND json_extract(metadata, ?) IN ({marks}))")
            params += [_path(field), _path(field), *by_kind[kind]]
    frozen = tuple(values)

    def predicate(metadata: Mapping[str, Any]) -> bool:
        if field not in metadata:
            return False
        got = metadata[field]
        return any(_kind(got) == _kind(v) and _scalar(got) and got == v for v in frozen)

    return _Node(_or_sql(clauses), tuple(params), predicate)


def _comparison(field: str, op: str, arg: Any) -> _Node:
    kind = _kind(arg)
    sql_types = _NUMBER_TYPES if kind == "number" else "('text')"
    sql = f"(json_type(metadata, ?) IN {sql_types} AND json_extract(metadata, ?) {_SQL_OP[op]} ?)"
    compare = _COMPARE[op]

    def predicate(metadata: Mapping[str, Any]) -> bool:
        got = metadata.get(field)
        return _scalar(got) and _kind(got) == kind and compare(got, arg)

    return _Node(sql, (_path(field), _path(field), arg), predicate)


def _scalar(value: Any) -> bool:
    return isinstance(value, str | bool) or (isinstance(value, int | float) and value == value)


def _or_sql(clauses: list[str]) -> str:
    return "(" + " OR ".join(clauses) + ")" if clauses else "0"


def _combine(nodes: list[_Node], joiner: Literal["AND", "OR"]) -> _Node:
    if len(nodes) == 1:
        return nodes[0]
    sql = "(" + f" {joiner} ".join(n.sql for n in nodes) + ")"
    params = tuple(p for n in nodes for p in n.params)
    predicates = tuple(n.predicate for n in nodes)
    if joiner == "AND":
        return _Node(sql, params, lambda m: all(p(m) for p in predicates))
    return _Node(sql, params, lambda m: any(p(m) for p in predicates))
