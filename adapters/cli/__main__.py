"""``python -m adapters.cli`` runs the command line."""

from __future__ import annotations

from adapters.cli import run

run()
