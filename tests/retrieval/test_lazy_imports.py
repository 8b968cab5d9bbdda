"""The core packages import without torch or faiss, and their lazy exports are complete."""

from __future__ import annotations

import ast
import importlib
import inspect

import pytest

from tests.import_probe import heavy_modules_after

PACKAGES = ("retrieval", "indexes", "encoders")


@pytest.mark.parametrize("package", PACKAGES)
def test_importing_a_package_loads_no_heavy_dependency(package: str) -> None:
    assert heavy_modules_after(f"import {package}") == []


def test_plain_index_use_never_imports_torch() -> None:
    code = """
import numpy as np
from indexes import ExactIndex, SparseIndex
from retrieval import Fusion, Hit, Retriever, SparseEmbeddings, compile_filter

dense = ExactIndex.create(dim=4)
dense.add(["a", "b"], np.eye(2, 4, dtype=np.float32), [{"lang": "en"}, None])
assert [h.id for h in dense.search(np.array([1, 0, 0, 0.0]), k=1, filter={"lang": "en"})] == ["a"]
sparse = SparseIndex.create(vocab_size=10)
sparse.add(["a", "b"], [{1: 1.0}, {2: 2.0}])
assert sparse.search({2: 1.0}, k=1)[0].id == "b"
"""
    assert heavy_modules_after(code) == []


def test_faiss_is_imported_only_when_a_faiss_index_is_made() -> None:
    pytest.importorskip("faiss")
    assert heavy_modules_after("from indexes import FaissIndex") == []
    made = heavy_modules_after("from indexes import FaissIndex\nFaissIndex.create(dim=4)")
    assert made == ["faiss"]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_resolves_to_its_module_attribute(package: str) -> None:
    module = importlib.import_module(package)
    exports = module._EXPORTS
    eager = {name for name in module.__all__ if name not in exports}
    assert set(exports) <= set(module.__all__)
    for name in module.__all__:
        value = getattr(module, name)
        if name in exports:
            assert value is getattr(importlib.import_module(exports[name]), name)
        assert name in dir(module)
    # eager names are defined in the package itself (the stdlib-only errors)
    assert all(name in vars(module) for name in eager)
    with pytest.raises(AttributeError, match=f"module '{package}' has no attribute 'nope'"):
        module.nope  # noqa: B018


@pytest.mark.parametrize("package", PACKAGES)
def test_type_checking_imports_match_the_lazy_table(package: str) -> None:
    """IDEs and mypy read the ``if TYPE_CHECKING:`` imports; the runtime reads ``_EXPORTS``."""
    module = importlib.import_module(package)
    tree = ast.parse(inspect.getsource(module))
    typed: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom)
                assert statement.module
                typed.update({alias.name: statement.module for alias in statement.names})
    assert typed == module._EXPORTS
