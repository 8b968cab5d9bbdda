"""``retrieval quickstart``: index this project's documentation and answer a few questions.

It runs ``retrieval index`` and ``retrieval search`` in one process (printing each command
first), so the model loads once; ``scripts/demo.sh`` calls it at the end of setup.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

QUESTIONS = (
    "How do I run the tests?",
    "Where are models loaded from without network access?",
    "How fast is MaxSim?",
)


def run(args: argparse.Namespace) -> int:
    from adapters.cli import main

    root = Path(args.root)
    sources = [str(root / name) for name in ("README.md", "BENCHMARKS.md", "notebooks", "docs")]
    sources = [s for s in sources if Path(s).exists()]
    steps = [
        ["index", *sources, "--index", args.index],
        ["search", "--index", args.index, "-k", str(args.k), *(args.questions or QUESTIONS)],
    ]
    for step in steps:
        print(f"$ retrieval {shlex.join(step)}", flush=True)
        status = main(step)
        if status:
            return status
        print()
    print(f'Ask your own: retrieval search --index {shlex.quote(args.index)} "your question"')
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    quick = sub.add_parser(
        "quickstart", help="index this project's docs and answer a few questions about them"
    )
    quick.add_argument("--index", required=True, metavar="DIR", help="where to keep the index")
    quick.add_argument("--root", default=".", help="the project folder (default: .)")
    quick.add_argument("-k", type=int, default=3, help="answers per question (default 3)")
    quick.add_argument("questions", nargs="*", help="questions (default: three about the docs)")
    quick.set_defaults(func=run)
