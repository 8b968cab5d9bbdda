"""``retrieval embed``: embeddings of texts given as arguments or in a file."""

from __future__ import annotations

import argparse
import json
import sys

from adapters.cli.common import add_model_args, embed_texts, load_llm, similarity_table


def run(args: argparse.Namespace) -> int:
    texts = list(args.texts)
    if args.file:
        with open(args.file, encoding="utf-8") as handle:
            texts.extend(line.rstrip("\n") for line in handle if line.strip())
    if not texts:
        print("error: give texts as arguments or --file FILE (one text per line)", file=sys.stderr)
        return 2
    llm = load_llm(args)
    vectors = embed_texts(llm, texts, args)
    if args.json:
        data = [
            {"index": i, "text": t, "embedding": v}
            for i, (t, v) in enumerate(zip(texts, vectors, strict=True))
        ]
        print(json.dumps({"model": args.model, "data": data}))
    else:
        print(similarity_table(texts, vectors))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    embed = sub.add_parser("embed", help="embed texts (arguments or --file)")
    embed.add_argument("texts", nargs="*", help="texts to embed")
    embed.add_argument("--file", help="a text file, one input per line")
    embed.add_argument("--dimensions", type=int, default=None, help="Matryoshka output size")
    embed.add_argument(
        "--truncate", action="store_true", help="truncate long inputs to the model maximum"
    )
    embed.add_argument("--json", action="store_true", help="machine-readable output")
    add_model_args(embed)
    embed.set_defaults(func=run)
