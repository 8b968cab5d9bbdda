"""The filter language: the SQL compilation agrees with the Python predicate (the spec)."""

from __future__ import annotations

import json
import random
import sqlite3
from typing import Any

import pytest

from retrieval import FilterError, compile_filter

VALUES: list[Any] = [
    0,
    1,
    2,
    2.5,
    -3,
    True,
    False,
    "a",
    "b",
    "ab",
    "B",
    "",
    "2",
    None,
    [1, 2],
    {"x": 1},
]


def _corpus(n: int = 400) -> list[dict[str, Any]]:
    rng = random.Random(0)
    corpus = []
    for _ in range(n):
        item = {key: rng.choice(VALUES) for key in ("f", "g") if rng.random() < 0.85}
        corpus.append(item)
    return corpus


FILTERS: list[dict[str, Any]] = [
    {"f": 1},
    {"f": 1.0},
    {"f": True},
    {"f": False},
    {"f": "a"},
    {"f": ""},
    {"f": {"$eq": 2}},
    {"f": {"$in": [1, "a", True]}},
    {"f": {"$in": []}},
    {"f": {"$gt": 1}},
    {"f": {"$gte": 2}},
    {"f": {"$lt": 2.5}},
    {"f": {"$lte": -3}},
    {"f": {"$gt": "a"}},
    {"f": {"$lt": "b"}},
    {"f": {"$gte": 0, "$lt": 2.5}},
    {"f": 1, "g": "a"},
    {"$and": [{"f": {"$gte": 0}}, {"g": {"$in": ["a", "b"]}}]},
    {"$or": [{"f": True}, {"g": {"$lt": 0}}, {"$and": [{"f": "b"}, {"g": "B"}]}]},
    {"missing": 1},
]


@pytest.fixture(scope="module")
def table() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE items (row INTEGER, metadata TEXT)")
    rows = [(i, json.dumps(m) if m else None) for i, m in enumerate(_corpus())]
    db.executemany("INSERT INTO items VALUES (?, ?)", rows)
    return db


@pytest.mark.parametrize("flt", FILTERS, ids=[json.dumps(f) for f in FILTERS])
def test_sql_agrees_with_the_python_predicate(
    flt: dict[str, Any], table: sqlite3.Connection
) -> None:
    compiled = compile_filter(flt)
    assert compiled is not None
    expected = [i for i, m in enumerate(_corpus()) if compiled.matches(m)]
    got = [
        r[0]
        for r in table.execute(
            f"SELECT row FROM items WHERE {compiled.sql} ORDER BY row", compiled.params
        )
    ]
    assert got == expected


def test_semantics_by_example() -> None:
    def match(flt: dict[str, Any], metadata: dict[str, Any]) -> bool:
        compiled = compile_filter(flt)
        assert compiled is not None
        return compiled.matches(metadata)

    assert match({"year": 2001}, {"year": 2001.0})
    assert not match({"year": 2001}, {"year": "2001"})  # types never mix
    assert not match({"flag": True}, {"flag": 1})
    assert not match({"year": {"$gt": 2000}}, {"year": "3000"})
    assert not match({"tag": "a"}, {"tag": ["a", "b"]})  # lists never match
    assert not match({"year": 2001}, {})
    assert match({"$or": [{"a": 1}, {"b": 2}]}, {"b": 2})
    assert compile_filter(None) is None
    assert compile_filter({}) is None


@pytest.mark.parametrize(
    ("flt", "message"),
    [
        (
            {"f": {"$near": 1}},
            r"Unknown filter operator '\$near' on field 'f'. "
            r"Valid: \$eq, \$in, \$gt, \$gte, \$lt, \$lte",
        ),
        ({"$not": {"f": 1}}, r"Unknown logical operator '\$not'.*Valid: \$and, \$or"),
        ({"$and": []}, r"\$and takes a non-empty list"),
        ({"$or": {"f": 1}}, r"\$or takes a non-empty list"),
        ({"f": {"$in": 3}}, r"\$in on field 'f' takes a list"),
        ({"f": [1, 2]}, r"use \$in for a list"),
        ({"f": None}, r"got None"),
        ({"f": float("nan")}, r"finite numbers"),
        ({"f": {"$gt": True}}, r"compares numbers or strings"),
        ({"f": {}}, r"empty operator dict"),
        ({'a"b': 1}, r"quote or backslash"),
        ("lang=en", r"must be a non-empty dict"),
    ],
)
def test_bad_filters_name_the_problem(flt: Any, message: str) -> None:
    with pytest.raises(FilterError, match=message):
        compile_filter(flt)


def test_equal_filters_share_a_cache_key() -> None:
    a = compile_filter({"a": 1, "b": {"$in": ["x"]}})
    b = compile_filter({"b": {"$in": ["x"]}, "a": 1})
    assert a is not None
    assert b is not None
    assert a.key == b.key
