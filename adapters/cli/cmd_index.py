"""``retrieval index``: index a folder or JSONL, incrementally and resumably."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import Any


def run(args: argparse.Namespace) -> int:
    from adapters.collection import index_sources

    backend = _backend(args)
    report = index_sources(
        args.sources,
        args.index,
        model=args.model,
        kind=args.kind,
        chunk_tokens=args.chunk_tokens,
        chunk_overlap=args.chunk_overlap,
        batch_size=args.batch_size,
        device=args.device,
        progress=not (args.quiet or args.json),
        config=args.config,
        page_images=args.page_images,
        backend=backend,
    )
    if report.migrated and not args.json:
        print(f"note: converted {args.index} ({report.migrated}) to a collection", file=sys.stderr)
    for reason in report.skipped:
        print(f"warning: skipped {reason}", file=sys.stderr)
    if args.json:
        print(json.dumps(asdict(report)))
        return 0
    if not args.quiet:
        print(
            f"{args.index}: {report.added} new, {report.updated} changed, {report.removed} "
            f"removed, {report.unchanged} unchanged; {report.chunks} chunks "
            f"({report.tokens:,} tokens) embedded; {report.total_chunks} chunks in the index; "
            f"{report.seconds:.1f} s in all"
            + (f"; {len(report.skipped)} skipped" if report.skipped else "")
            + _ray_note(report.execution)
        )
    return 0


def _backend(args: argparse.Namespace) -> Any:
    """``--ray``: the Ray encoder backend (options checked before anything is read)."""
    if args.ray is None:
        from retrieval.errors import ConfigError

        for flag, value in (("--ray-actors", args.ray_actors), ("--ray-shards", args.ray_shards)):
            if value is not None:
                msg = f"{flag} applies to Ray encoding only; add --ray ADDRESS (or --ray local)."
                raise ConfigError(msg)
        return None
    from adapters.ray.indexing import RayBackend

    return RayBackend(args.ray, actors=args.ray_actors, shards=args.ray_shards, device=args.device)


def _ray_note(execution: dict[str, Any]) -> str:
    if execution.get("encoder") != "ray" or not execution.get("windows"):
        return ""
    return (
        f"; encoded on Ray ({execution['address']}) by {execution['actors']} actors "
        f"in {execution['shards']} shards"
    )


def register(sub: argparse._SubParsersAction) -> None:
    from adapters.collection.kinds import KINDS

    index = sub.add_parser(
        "index",
        help="index folders / JSONL files (incremental: only new or changed files)",
        description=(
            "Index SOURCEs into the folder --index: folders of .txt/.md/.html/.pdf files, "
            'BEIR corpus.jsonl files or JSONL files of {"id", "text", "metadata"}. Re-running '
            "indexes only new or changed files and removes deleted ones; a killed run resumes."
        ),
    )
    index.add_argument("sources", nargs="+", metavar="SOURCE", help="folder, file or .jsonl")
    index.add_argument("--index", required=True, metavar="DIR", help="the collection folder")
    index.add_argument(
        "--model", default=None, help="model (default: the index's, or all-MiniLM-L6-v2)"
    )
    index.add_argument(
        "--kind", choices=KINDS, default=None, help="index kind of a new index (default hybrid)"
    )
    index.add_argument("--chunk-tokens", type=int, default=None, help="tokens per chunk (200)")
    index.add_argument("--chunk-overlap", type=int, default=None, help="overlap tokens (size/5)")
    index.add_argument(
        "--batch-size",
        type=int,
        default=256,
        help="chunks embedded and added together (saved at checkpoints)",
    )
    index.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    index.add_argument(
        "--config",
        default=None,
        metavar="FILE.toml",
        help="pipeline TOML (kind, model, index kinds, fusion, rerank); flags override it",
    )
    index.add_argument(
        "--ray",
        default=None,
        metavar="ADDRESS",
        help=(
            "encode on Ray (pip install 'retrieval-toolkit[ray]'): local (a cluster on this "
            "machine for this run), auto (the one `ray start --head` runs here) or HOST:PORT / "
            "ray://HOST:10001; the index is the same as without --ray"
        ),
    )
    index.add_argument(
        "--ray-actors", type=int, default=None, metavar="N", help="Ray actors (one per GPU/CPU)"
    )
    index.add_argument(
        "--ray-shards",
        default=None,
        metavar="DIR",
        help="scratch folder for Ray's embedding shards, on a file system every worker can "
        "write (default: inside --index; fine on one machine)",
    )
    index.add_argument(
        "--page-images",
        type=int,
        default=None,
        metavar="PIXELS",
        help="image models: keep page images of this longest side for hits (1024; 0: none)",
    )
    index.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    index.add_argument("--json", action="store_true", help="machine-readable report")
    index.set_defaults(func=run)
