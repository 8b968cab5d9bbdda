"""Lazy package exports (PEP 562), so ``import retrieval`` / ``import indexes`` stay cheap.

A package lists ``{module: (names...)}``; the first access to a name imports its module and
caches the value in the package namespace. torch, faiss and scipy therefore load only when
something that needs them is used, not when a script (or ``retrieval --help``) imports the
package. Type checkers and IDEs see the names through the package's ``TYPE_CHECKING`` imports.

An exported name must not equal a submodule's name: importing the submodule (from anywhere)
sets the package attribute to the module, so ``__getattr__`` would never run for it. That is
why ``late_interaction`` (whose ``maxsim`` function lives in ``late_interaction.maxsim``, and
which needs torch for everything anyway) stays eager.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from typing import Any


def exports_by_name(by_module: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    """Invert ``{module: names}`` into ``{name: module}``."""
    return {name: module for module, names in by_module.items() for name in names}


def load_export(package: str, exports: Mapping[str, str], name: str) -> Any:
    """The value of ``package.name``: imported from its module on first use, then cached."""
    module = exports.get(name)
    if module is None:
        msg = f"module {package!r} has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(module), name)
    setattr(sys.modules[package], name, value)  # later lookups skip __getattr__
    return value
