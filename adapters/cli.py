"""The ``retrieval`` command line.

retrieval demo                      # embed a few sentences with the embedded default
retrieval embed "some text" --json  # embeddings for scripts
retrieval models                    # where each known model resolves from
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

DEMO_SENTENCES = (
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
    "A woman is playing violin.",
)


def _add_model_args(parser: argparse.ArgumentParser) -> None:
    from encoders.resolve import DEFAULT_MODEL

    parser.add_argument("--model", default=DEFAULT_MODEL, help="model folder or repo id")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--dtype", default="auto", help="auto | float32 | float16 | bfloat16")
    parser.add_argument("--trust-remote-code", action="store_true", help="run custom model code")
    parser.add_argument(
        "--pooler-config",
        type=json.loads,
        default=None,
        help='JSON, e.g. \'{"pooling_type": "MEAN"}\'',
    )
    parser.add_argument(
        "--hf-overrides", type=json.loads, default=None, help="JSON config overrides"
    )
    parser.add_argument("--max-model-len", type=int, default=None)


def _load(args: argparse.Namespace) -> Any:
    from encoders import LLM

    return LLM(
        args.model,
        device=args.device,
        dtype=args.dtype,
        trust_remote_code=args.trust_remote_code,
        pooler_config=args.pooler_config,
        hf_overrides=args.hf_overrides,
        max_model_len=args.max_model_len,
    )


def _embed_texts(llm: Any, texts: Sequence[str], args: argparse.Namespace) -> list[list[float]]:
    from encoders import PoolingParams

    params = PoolingParams(dimensions=getattr(args, "dimensions", None))
    truncate = -1 if getattr(args, "truncate", False) else None
    outputs = llm.embed(list(texts), pooling_params=params, truncate_prompt_tokens=truncate)
    return [o.outputs.embedding for o in outputs]


def _similarity_table(texts: Sequence[str], vectors: list[list[float]]) -> str:
    import torch

    matrix = torch.nn.functional.normalize(torch.tensor(vectors), dim=-1)
    scores = (matrix @ matrix.T).tolist()
    width = max(len(t) for t in texts)
    header = " " * (width + 2) + " ".join(f"{i:>6d}" for i in range(len(texts)))
    rows = [
        f"{t:<{width}}  " + " ".join(f"{s:6.3f}" for s in row) + f"   [{i}]"
        for i, (t, row) in enumerate(zip(texts, scores, strict=True))
    ]
    return "\n".join([header, *rows])


def cmd_demo(args: argparse.Namespace) -> int:
    llm = _load(args)
    vectors = _embed_texts(llm, DEMO_SENTENCES, args)
    if args.json:
        print(json.dumps({"model": args.model, "sentences": DEMO_SENTENCES, "embeddings": vectors}))
        return 0
    source = llm.model.resolved
    print(f"model: {args.model}  ({source.source}: {source.path})")
    print(f"device: {llm.device}  dimensions: {len(vectors[0])}  max tokens: {llm.max_model_len}\n")
    print("cosine similarity")
    print(_similarity_table(DEMO_SENTENCES, vectors))
    return 0


def cmd_embed(args: argparse.Namespace) -> int:
    texts = list(args.texts)
    if args.file:
        with open(args.file, encoding="utf-8") as handle:
            texts.extend(line.rstrip("\n") for line in handle if line.strip())
    if not texts:
        print("error: give texts as arguments or --file FILE (one text per line)", file=sys.stderr)
        return 2
    llm = _load(args)
    vectors = _embed_texts(llm, texts, args)
    if args.json:
        data = [
            {"index": i, "text": t, "embedding": v}
            for i, (t, v) in enumerate(zip(texts, vectors, strict=True))
        ]
        print(json.dumps({"model": args.model, "data": data}))
    else:
        print(_similarity_table(texts, vectors))
    return 0


def cmd_models(args: argparse.Namespace) -> int:
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="retrieval", description="Retrieval toolkit command line."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="embed a few sentences and print their similarity table")
    _add_model_args(demo)
    demo.add_argument("--json", action="store_true", help="machine-readable output")
    demo.set_defaults(func=cmd_demo)

    embed = sub.add_parser("embed", help="embed texts (arguments or --file)")
    embed.add_argument("texts", nargs="*", help="texts to embed")
    embed.add_argument("--file", help="a text file, one input per line")
    embed.add_argument("--dimensions", type=int, default=None, help="Matryoshka output size")
    embed.add_argument(
        "--truncate", action="store_true", help="truncate long inputs to the model maximum"
    )
    embed.add_argument("--json", action="store_true", help="machine-readable output")
    _add_model_args(embed)
    embed.set_defaults(func=cmd_embed)

    models = sub.add_parser("models", help="show where models resolve from (offline first)")
    models.add_argument("name", nargs="?", help="a model name or path to resolve")
    models.add_argument("--json", action="store_true", help="machine-readable output")
    models.set_defaults(func=cmd_models)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from retrieval.errors import RetrievalError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except RetrievalError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
