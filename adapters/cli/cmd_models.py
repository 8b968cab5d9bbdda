"""``retrieval models``: where each known model resolves from (offline first)."""

from __future__ import annotations

import argparse
import json


def run(args: argparse.Namespace) -> int:
    from encoders.resolve import packaged_models, resolve_model
    from retrieval.errors import ModelNotFoundError

    names = [args.name] if args.name else sorted(packaged_models())
    rows = []
    for name in names:
        try:
            found = resolve_model(name)
            rows.append({"model": name, "source": found.source, "path": str(found.path)})
        except ModelNotFoundError as err:
            rows.append({"model": name, "source": None, "path": None, "error": str(err)})
    if args.json:
        print(json.dumps({"models": rows}))
    else:
        for row in rows:
            where = f"{row['source']}: {row['path']}" if row["source"] else "not found"
            print(f"{row['model']}  ->  {where}")
            if "error" in row and args.name:
                print(row["error"])
    return 0 if all(r["source"] for r in rows) else 1


def register(sub: argparse._SubParsersAction) -> None:
    models = sub.add_parser("models", help="show where models resolve from (offline first)")
    models.add_argument("name", nargs="?", help="a model name or path to resolve")
    models.add_argument("--json", action="store_true", help="machine-readable output")
    models.set_defaults(func=run)
