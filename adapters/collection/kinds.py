"""Collection kinds: which representations a collection keeps. Standard library only, so
``retrieval index --help`` lists them without importing numpy or a model."""

from __future__ import annotations

from typing import Literal, get_args

Kind = Literal["dense", "sparse", "multivector", "hybrid"]
KINDS: tuple[str, ...] = get_args(Kind)
