"""Indexing sources into a collection: scan -> read -> chunk -> encode -> add, incrementally."""

from __future__ import annotations
