"""Evaluation beside the collection: BEIR folders, TREC runs, pytrec-eval metrics, and the
``retrieval eval`` report (quality together with encode time, latency, index size, memory)
of a pipeline built on the data set's corpus or of a collection built earlier (``--index``)."""

from __future__ import annotations

from adapters.evaluation.beir import BeirDataset, load_beir, read_qrels
from adapters.evaluation.metrics import METRICS, evaluate_run
from adapters.evaluation.runner import (
    EvalResult,
    evaluate_collection,
    evaluate_pipeline,
    format_table,
    percentiles,
)
from adapters.evaluation.trec import Run, read_run, write_run

__all__ = [
    "METRICS",
    "BeirDataset",
    "EvalResult",
    "Run",
    "evaluate_collection",
    "evaluate_pipeline",
    "evaluate_run",
    "format_table",
    "load_beir",
    "percentiles",
    "read_qrels",
    "read_run",
    "write_run",
]
