"""``retrieval info``: what a collection holds and how it was built."""

from __future__ import annotations

import argparse
import json


def run(args: argparse.Namespace) -> int:
    from adapters.collection import collection_info

    info = collection_info(args.index)
    if args.json:
        print(json.dumps(info))
        return 0
    settings = info["settings"]
    print(f"index:     {info['path']}")
    print(
        f"kind:      {settings['kind']}" + ("  (one forward pass)" if settings["one_pass"] else "")
    )
    print(f"model:     {settings['model']}")
    if settings.get("sparse_model"):
        print(f"sparse:    {settings['sparse_model']}")
    if settings["chunk_tokens"]:
        print(
            f"chunks:    {settings['chunk_tokens']} tokens, overlap {settings['chunk_overlap']}"
            + (f"; vectors {settings['dim']}-d" if settings["dim"] else "")
        )
    print(
        f"contents:  {info['documents']} documents, {info['chunks']} chunks"
        + (f" ({info['unfinished']} unfinished: re-run index)" if info["unfinished"] else "")
    )
    print(f"size:      {_size(info['bytes'])} ({_size(info['bytes_per_document'])} per document)")
    for name, part in info["components"].items():
        line = f"  {name:<8} {part['type']:<12} {part['count']} items, {_size(part['bytes'])}"
        if "bytes_per_chunk" in part:
            line += f", {_size(part['bytes_per_chunk'])}/chunk"
        if "bytes_per_token" in part:
            line += f", {part['tokens']} tokens, {part['bytes_per_token']:.0f} B/token"
        print(line)
    return 0


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def register(sub: argparse._SubParsersAction) -> None:
    info = sub.add_parser("info", help="kind, model, counts and sizes of a collection")
    info.add_argument("--index", required=True, metavar="DIR", help="the collection folder")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.set_defaults(func=run)
