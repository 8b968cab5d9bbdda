"""``retrieval demo``: embed a few sentences with the embedded default; print similarities."""

from __future__ import annotations

import argparse
import json

from adapters.cli.common import add_model_args, embed_texts, load_llm, similarity_table

DEMO_SENTENCES = (
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
    "A woman is playing violin.",
)


def run(args: argparse.Namespace) -> int:
    llm = load_llm(args)
    vectors = embed_texts(llm, DEMO_SENTENCES, args)
    if args.json:
        print(json.dumps({"model": args.model, "sentences": DEMO_SENTENCES, "embeddings": vectors}))
        return 0
    source = llm.model.resolved
    print(f"model: {args.model}  ({source.source}: {source.path})")
    print(f"device: {llm.device}  dimensions: {len(vectors[0])}  max tokens: {llm.max_model_len}\n")
    print("cosine similarity")
    print(similarity_table(DEMO_SENTENCES, vectors))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser("demo", help="embed a few sentences and print their similarity table")
    add_model_args(demo)
    demo.add_argument("--json", action="store_true", help="machine-readable output")
    demo.set_defaults(func=run)
