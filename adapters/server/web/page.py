"""The search page's HTML: ``static/search.html`` with ``search.css`` and ``search.js`` inlined
and a JSON data block (``null`` when served live: the script then asks the server).

Inline code runs under a Content-Security-Policy that names it by hash, so the page loads
nothing from anywhere (no CDN, font or script) and no injected markup could run a script;
the data block is JSON escaped for a ``<script>`` element and read with ``JSON.parse``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
from importlib import resources
from typing import Any

_SLOT = re.compile(r"\{\{(\w+)\}\}")


@functools.cache
def _assets() -> tuple[str, str, str]:
    folder = resources.files("adapters.server.web") / "static"
    names = ("search.html", "search.css", "search.js")
    html, css, js = ((folder / name).read_text(encoding="utf-8") for name in names)
    return html, css, js


def _hash(code: str) -> str:
    digest = hashlib.sha256(code.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def content_security_policy(*, live: bool) -> str:
    """The page's policy: its own inline style and script only; images from blob URLs
    (live: fetched with the API key) or data URLs (export); requests only to its server."""
    _, css, js = _assets()
    parts = [
        "default-src 'none'",
        f"script-src {_hash(js)}",
        f"style-src {_hash(css)}",
        "img-src blob: data:" if live else "img-src data:",
        "connect-src 'self'" if live else "connect-src 'none'",
        "base-uri 'none'",
        "form-action 'self'" if live else "form-action 'none'",
    ]
    return "; ".join(parts)


def script_json(data: Any) -> str:
    """``data`` as JSON that cannot end the ``<script>`` element it sits in."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_page(data: Any = None) -> str:
    """The page: live (``data`` None) or an export holding ``data`` (``export.export_data``)."""
    html, css, js = _assets()
    live = data is None
    slots = {
        "csp": content_security_policy(live=live).replace('"', "&quot;"),
        "css": css,
        "js": js,
        "data": "null" if live else script_json(data),
        "mode": "live" if live else "export",
    }
    # One pass over the template: inserted text is never scanned for slots again.
    return _SLOT.sub(lambda m: slots[m.group(1)], html)
