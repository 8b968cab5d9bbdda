"""``retrieval search``: query a collection (whichever door built it)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any


def run(args: argparse.Namespace) -> int:
    from adapters.collection import Collection, PipelineConfig
    from adapters.collection.search import SEARCH_KEYS
    from retrieval.errors import ConfigError

    try:
        filter_ = json.loads(args.filter) if args.filter else None
    except ValueError as err:
        msg = f"--filter is not valid JSON ({err}); e.g. --filter '{{\"page\": 2}}'."
        raise ConfigError(msg) from err
    options = None
    if args.config:
        config = PipelineConfig.from_toml(args.config)
        options = {key: getattr(config, key) for key in SEARCH_KEYS}
    collection = Collection.open(args.index, device=args.device)
    results = []
    try:
        for number, query in enumerate(args.queries):
            hits = collection.search(
                query,
                args.k,
                filter=filter_,
                rerank=args.rerank,
                rerank_depth=args.rerank_depth,
                options=options,
            )
            results.append((query, hits))
            if args.json:
                rows = [h.to_dict() for h in hits]
                print(json.dumps({"query": query, "hits": rows}))
            else:
                _print_hits(query, hits, blank_line=number > 0)
        if args.html:
            from adapters.server.web.export import write_html

            path = write_html(args.html, collection, results)
            size = path.stat().st_size
            print(f"wrote {path} ({size / 1024:.0f} KiB): open it in a browser", file=sys.stderr)
    finally:
        collection.close()
    return 0


def _print_hits(query: str, hits: list[Any], *, blank_line: bool) -> None:
    from adapters.collection.snippets import snippet

    color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    mark = (lambda w: f"\033[1;33m{w}\033[0m") if color else None
    if blank_line:
        print()
    print(f"? {query}")
    if not hits:
        print("  (no results: nothing matches the filter)")
    for rank, hit in enumerate(hits, 1):
        meta = hit.metadata
        where = _display_path(meta.get("source")) or meta.get("doc_id", "")
        if "page" in meta:
            where += f" p.{meta['page']}"
        if "start" in meta:
            where += f" [{meta['start']}:{meta['end']}]"
        score = hit.describe_score() if hasattr(hit, "describe_score") else f"{hit.score:.4f}"
        print(f"{rank:>3}. {score:<16} {hit.id}  {where}")
        text = str(meta.get("text", ""))
        if text:
            print(f"     {snippet(text, query, mark=mark)}")


def _display_path(source: Any) -> str:
    if not source:
        return ""
    path = Path(str(source))
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def register(sub: argparse._SubParsersAction) -> None:
    search = sub.add_parser(
        "search", help="search a collection (built by `retrieval index`, LangChain or a Pipeline)"
    )
    search.add_argument("queries", nargs="+", metavar="QUERY", help="one or more queries")
    search.add_argument("--index", required=True, metavar="DIR", help="the collection folder")
    search.add_argument("-k", type=int, default=5, help="results per query (default 5)")
    search.add_argument(
        "--filter", default=None, help='metadata filter as JSON, e.g. \'{"page": {"$gte": 2}}\''
    )
    search.add_argument("--rerank", default=None, metavar="MODEL", help="cross-encoder model")
    search.add_argument(
        "--rerank-depth", type=int, default=30, help="candidates the reranker scores (30)"
    )
    search.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    search.add_argument(
        "--config", default=None, metavar="FILE.toml", help="pipeline TOML: fusion, rerank stages"
    )
    search.add_argument(
        "--json", action="store_true", help='one {"query", "hits": [...]} line per query'
    )
    search.add_argument(
        "--html",
        default=None,
        metavar="FILE.html",
        help="also write the results as one self-contained page (page images and maps inline)",
    )
    search.set_defaults(func=run)
