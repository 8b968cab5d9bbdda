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
import atexit
import importlib
import os
import pkgutil
import sys
from collections.abc import Sequence
from typing import NoReturn

__all__ = ["build_parser", "main", "run"]

READ_ONLY = frozenset({"demo", "embed", "info", "models", "search"})
"""Commands that write nothing but their output, so the console script may end them without
the interpreter's teardown (see :func:`run`)."""


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
    """Run the command line on ``argv`` (default ``sys.argv[1:]``); the exit status."""
    return _dispatch(build_parser().parse_args(argv))


def run() -> NoReturn:
    """The ``retrieval`` console script. A read-only command leaves as soon as its output is
    flushed and the ``atexit`` handlers ran, skipping the interpreter's teardown: freeing
    torch's thousands of modules and objects takes ~0.4 s, a tenth of a cold search."""
    args = build_parser().parse_args()
    try:
        status = _dispatch(args)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader left (`retrieval search ... | head -1`): no traceback; stdout goes to
        # devnull so the final flush cannot fail again (the recipe of Python's docs).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        status = 1
    if args.command not in READ_ONLY:
        sys.exit(status)
    atexit._run_exitfuncs()
    sys.stderr.flush()
    os._exit(status)


def _dispatch(args: argparse.Namespace) -> int:
    from retrieval.errors import RetrievalError

    try:
        return int(args.func(args))
    except RetrievalError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    run()
