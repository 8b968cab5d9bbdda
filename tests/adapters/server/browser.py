"""Driving Debian's Chromium (headless, through Playwright, no browser download) for the
search-page tests, and where their screenshots go."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # a closed network refuses its calls home
    "--disable-component-update",
    "--disable-sync",
]
"""Chromium flags for a machine with no network but loopback (what CI has)."""


def chromium_path() -> str | None:
    """``$RETRIEVAL_CHROMIUM``, else Debian's ``chromium`` on the PATH."""
    for name in (os.environ.get("RETRIEVAL_CHROMIUM"), "chromium", "chromium-browser"):
        found = shutil.which(name) if name else None
        if found:
            return found
    return None


def output_dir() -> Path:
    """Screenshots go to ``$CI_OUTPUT_DIR/search-page`` (default ``test-output/``, ignored
    by git, at the repository root)."""
    root = Path(__file__).resolve().parents[3]
    base = Path(os.environ.get("CI_OUTPUT_DIR") or root / "test-output")
    folder = base / "search-page"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class Watch:
    """What a page did that it must not: console errors (a CSP violation is one), uncaught
    exceptions, and requests anywhere but its own server or its own blob/data URLs."""

    allowed: tuple[str, ...]
    problems: list[str] = field(default_factory=list)

    def attach(self, page: Any) -> Any:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("request", self._request)
        return page

    def _console(self, message: Any) -> None:
        # Chromium logs each 4xx answer; the tests provoke those (no key, a bad filter).
        answered = "the server responded with a status of 4" in message.text
        if message.type == "error" and not answered:
            self.problems.append(f"console: {message.text}")

    def _request(self, request: Any) -> None:
        if not request.url.startswith(self.allowed):
            self.problems.append(f"request to {request.url}")


def new_page(browser: Any, allowed: tuple[str, ...]) -> tuple[Any, Watch]:
    context = browser.new_context(viewport={"width": 1180, "height": 900})
    watch = Watch(allowed)
    return watch.attach(context.new_page()), watch
