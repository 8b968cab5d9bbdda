"""``retrieval eval``: build a pipeline on a BEIR folder (or rerank a TREC run, or open a
collection built earlier with ``--index``), write the run, and report quality (pytrec-eval)
with encode time, latency, index size and peak memory.

    retrieval eval ../shared/data/cranfield --pipeline hybrid --sparse-model PATH
    retrieval eval ../shared/data/trec-dl19 --rerank-run ../shared/data/trec-dl19/bm25.run --json
    retrieval index ../shared/data/cranfield/corpus.jsonl --index cran
    retrieval eval ../shared/data/cranfield --index cran
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from retrieval.fusion_names import FUSION_CHOICES


def _rerank_arg(value: str) -> dict[str, Any]:
    """``KIND[:TOP_N[:MODEL]]``, e.g. ``maxsim:20`` or ``cross-encoder:10:/models/ms-marco``."""
    kind, _, rest = value.partition(":")
    top_n, _, model = rest.partition(":")
    out: dict[str, Any] = {"kind": kind}
    if top_n:
        try:
            out["top_n"] = int(top_n)
        except ValueError:
            msg = f"--rerank {value!r}: TOP_N must be an integer (e.g. maxsim:20)."
            raise argparse.ArgumentTypeError(msg) from None
    if model:
        out["model"] = model
    return out


def _config(args: argparse.Namespace) -> Any:
    from adapters.collection import PipelineConfig

    base = PipelineConfig.from_toml(args.config) if args.config else PipelineConfig()
    changes: dict[str, Any] = {
        "pipeline": args.pipeline,
        "model": args.model,
        "sparse_model": args.sparse_model,
        "max_model_len": args.max_model_len,
        "sparse_max_model_len": args.sparse_max_model_len,
        "device": args.device,
        "depth": args.depth,
        "fusion": args.fusion,
        "rrf_k": args.rrf_k,
        "multivector_index": args.multivector_index,
    }
    if args.rerank:
        changes["rerank"] = tuple(args.rerank)
    config = base.replace(**changes)
    return type(config).from_mapping(config.to_dict())  # re-validate the merged values


BUILD_FLAGS = ("pipeline", "model", "sparse_model", "max_model_len", "sparse_max_model_len",
               "multivector_index", "rerank_run")  # fmt: skip
"""Flags that say how to build a pipeline: refused with ``--index`` (it is built)."""


def _search_options(args: argparse.Namespace) -> dict[str, Any]:
    """``--index``: the search settings flags (and ``--config``'s) override."""
    from adapters.collection import PipelineConfig
    from adapters.collection.search import SEARCH_KEYS
    from retrieval.errors import ConfigError

    given = [f"--{name.replace('_', '-')}" for name in BUILD_FLAGS if getattr(args, name)]
    if given:
        msg = (
            f"--index evaluates the collection as it was built; drop {', '.join(given)} "
            "(or evaluate a new pipeline without --index)."
        )
        raise ConfigError(msg)
    options: dict[str, Any] = {}
    if args.config:
        config = PipelineConfig.from_toml(args.config)
        options = {key: getattr(config, key) for key in SEARCH_KEYS}
    flags = {"depth": args.depth, "fusion": args.fusion, "rrf_k": args.rrf_k}
    options.update({key: value for key, value in flags.items() if value is not None})
    if args.rerank:
        options["rerank"] = tuple(args.rerank)
    return options


def run(args: argparse.Namespace) -> int:
    from adapters.evaluation import (
        evaluate_collection,
        evaluate_pipeline,
        format_table,
        load_beir,
        read_run,
        write_run,
    )

    dataset = load_beir(
        args.dataset, split=args.split, max_queries=args.max_queries, corpus=not args.index
    )
    if args.index:
        from adapters.collection import Collection

        options = _search_options(args)
        with Collection.open(args.index, device=args.device) as collection:
            result = evaluate_collection(dataset, collection, k=args.k, options=options)
            tag = f"retrieval-{collection.config.pipeline}"
    else:
        config = _config(args)
        rerank_run = read_run(args.rerank_run) if args.rerank_run else None
        result = evaluate_pipeline(
            dataset, config, k=args.k, rerank_run=rerank_run, rerank_run_name=args.rerank_run
        )
        tag = f"retrieval-{config.pipeline}"
    if args.run_out:
        write_run(args.run_out, result.run, tag=tag)
    if args.json:
        print(json.dumps(result.to_json()))
    else:
        print(format_table(result))
        if args.run_out:
            print(f"run written to {args.run_out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    ev = sub.add_parser(
        "eval",
        help="evaluate a pipeline or a built collection (--index) on a BEIR folder (nDCG@10, "
        "Recall@100, MRR@10, MAP, latency, index size, memory)",
    )
    ev.add_argument("dataset", help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/test.tsv")
    ev.add_argument(
        "--index",
        metavar="DIR",
        help="evaluate this collection (built by `retrieval index` on the corpus, LangChain or "
        "a Pipeline) instead of building one; chunk hits count for their document",
    )
    ev.add_argument("--config", help="pipeline TOML file; flags override its values")
    ev.add_argument("--pipeline", choices=("dense", "sparse", "multivector", "hybrid"))
    ev.add_argument("--model", help="dense / token-embedding model (default: all-MiniLM-L6-v2)")
    ev.add_argument("--sparse-model", help="SPLADE model for sparse / hybrid pipelines")
    ev.add_argument("--max-model-len", type=int, help="token limit of --model")
    ev.add_argument("--sparse-max-model-len", type=int, help="token limit of --sparse-model")
    ev.add_argument("--device", help="auto | cpu | cuda | cuda:N")
    ev.add_argument("--rerank-run", help="rerank this TREC run instead of indexing the corpus")
    ev.add_argument(
        "--rerank",
        action="append",
        type=_rerank_arg,
        metavar="KIND[:TOP_N[:MODEL]]",
        help="add a rerank stage: cross-encoder | maxsim | dense | sparse (repeatable)",
    )
    ev.add_argument("--k", type=int, default=100, help="results per query (default 100)")
    ev.add_argument("--depth", type=int, help="candidates per first stage (default 100)")
    ev.add_argument(
        "--fusion",
        choices=FUSION_CHOICES,
        help="hybrid fusion (default: agreement, the default hybrid's; see retrieval.hybrid)",
    )
    ev.add_argument("--rrf-k", type=float, help="RRF constant (--fusion rrf; default 60)")
    ev.add_argument("--multivector-index", choices=("exact", "plaid"))
    ev.add_argument("--split", default="test", help="qrels split (default test)")
    ev.add_argument("--max-queries", type=int, help="evaluate only the first N judged queries")
    ev.add_argument("--run-out", help="write the TREC run file here")
    ev.add_argument("--json", action="store_true", help="one JSON object for machines")
    ev.set_defaults(func=run)
