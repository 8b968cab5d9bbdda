"""``retrieval migrate DIR``: convert a retrieval-toolkit 0.1 folder to a collection."""

from __future__ import annotations

import argparse
import json


def run(args: argparse.Namespace) -> int:
    from adapters.collection import migrate
    from adapters.collection.info import collection_info

    for folder in args.folders:
        what = migrate(folder)
        chunks = collection_info(folder)["chunks"]
        if args.json:
            print(json.dumps({"path": folder, "was": what, "chunks": chunks}))
        else:
            print(f"{folder}: {what} -> a collection of {chunks} chunks (nothing re-encoded)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    migrate = sub.add_parser(
        "migrate",
        help="convert 0.1 folders (index.json, pipeline.json, LangChain stores) to collections",
        description=(
            "Convert folders written by retrieval-toolkit 0.1 - a `retrieval index` folder, a "
            "saved Pipeline, a RetrievalVectorStore - to the collection format in place. The "
            "vectors are kept as they are; nothing is re-encoded."
        ),
    )
    migrate.add_argument("folders", nargs="+", metavar="DIR", help="folders to convert")
    migrate.add_argument("--json", action="store_true", help="one JSON line per folder")
    migrate.set_defaults(func=run)
