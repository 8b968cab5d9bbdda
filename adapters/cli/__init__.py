"""The ``retrieval`` command line.

Each sub-command lives in its own module ``adapters/cli/cmd_<name>.py`` exposing
``register(subparsers)``; the parser discovers them, so adding a command touches one file.
Command modules import heavy dependencies inside their ``run`` functions, keeping ``--help`` fast.

    retrieval demo                      # embed a few sentences with the embedded default
    retrieval embed "some text" --json  # embeddings for scripts
    retrieval models                    # where each known model resolves from
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

__all__ = ["build_parser", "main"]


def _command_modules() -> list[str]:
    return sorted(name for _, name, _ in pkgutil.iter_modules(__path__) if name.startswith("cmd_"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="retrieval", description="Retrieval toolkit command line."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in _command_modules():
        importlib.import_module(f"{__name__}.{name}").register(sub)
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
