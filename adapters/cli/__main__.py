"""``python -m adapters.cli`` runs the command line."""

from __future__ import annotations

import sys

from adapters.cli import main

sys.exit(main())
