"""Pieces shared by the sub-commands: model flags, loading, and embedding a list of texts."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any


def add_model_args(parser: argparse.ArgumentParser) -> None:
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


def load_llm(args: argparse.Namespace) -> Any:
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


def embed_texts(llm: Any, texts: Sequence[str], args: argparse.Namespace) -> list[list[float]]:
    from encoders import PoolingParams

    params = PoolingParams(dimensions=getattr(args, "dimensions", None))
    truncate = -1 if getattr(args, "truncate", False) else None
    outputs = llm.embed(list(texts), pooling_params=params, truncate_prompt_tokens=truncate)
    return [o.outputs.embedding for o in outputs]


def similarity_table(texts: Sequence[str], vectors: list[list[float]]) -> str:
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
