"""Load one image safely from what a user or an HTTP body can hand us.

Accepted: a ``PIL.Image``, a local file path (``str`` / ``os.PathLike`` / ``file://``), a
``data:image/...;base64,`` URL and, only when explicitly enabled, an ``http(s)://`` URL (off
by default: a server must not fetch arbitrary addresses for its callers). Every image is capped
in bytes and pixels before it is decoded in full, so a decompression bomb or a huge upload is
a clear error, never an out-of-memory crash.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from retrieval.errors import ConfigError, MissingDependencyError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")


@dataclass(frozen=True)
class ImagePolicy:
    """Where images may come from and how big they may be."""

    allow_remote: bool = False
    """Fetch ``http(s)://`` image URLs. Off by default (no server-side request forgery)."""
    allow_local_files: bool = True
    """Read image file paths and ``file://`` URLs. A server taking images from its callers
    should turn this off so requests cannot make it read its own disk."""
    max_bytes: int = 32 * 1024 * 1024
    """Largest encoded image (file, data URL payload or download), in bytes."""
    max_pixels: int = 50_000_000
    """Largest decoded image, width x height (a page at 300 DPI is ~8.7M pixels)."""
    timeout_s: float = 10.0
    """Download timeout for remote images."""


def _pil() -> Any:
    try:
        from PIL import Image
    except ImportError as err:  # pragma: no cover - pillow is in the vision extra
        package = "pillow"
        raise MissingDependencyError(package, "vision") from err
    return Image


def is_image(value: Any) -> bool:
    """True for a ``PIL.Image.Image`` (without importing PIL when it is absent)."""
    module = type(value).__module__
    return module.startswith("PIL.") and hasattr(value, "convert") and hasattr(value, "size")


def looks_like_image_reference(text: str) -> bool:
    """A string that names an image rather than being text to embed: a ``data:image/`` URL,
    a ``file://`` URL, or an existing file with an image suffix."""
    lowered = text[:64].lower()
    if lowered.startswith(("data:image/", "file://")):
        return True
    if len(text) > 4096 or "\n" in text or not text.lower().endswith(IMAGE_SUFFIXES):
        return False
    try:
        return Path(text).is_file()
    except OSError:
        return False


def load_image(source: Any, policy: ImagePolicy, where: str = "image") -> Any:
    """An RGB ``PIL.Image`` from ``source``; ``where`` names the input in error messages."""
    if is_image(source):
        _check_pixels(source.size, policy, where)
        return source.convert("RGB")
    if isinstance(source, os.PathLike):
        return _decode(_read_file(Path(source), policy, where), policy, where)
    if not isinstance(source, str):
        msg = (
            f"{where} has type {type(source).__name__}; expected a PIL image, a file path, "
            "a data:image/...;base64 URL or (when enabled) an http(s) URL."
        )
        raise ConfigError(msg)
    scheme = source[:16].split(":", 1)[0].lower() if ":" in source[:16] else ""
    if scheme == "data":
        return _decode(_data_url(source, policy, where), policy, where)
    if scheme in ("http", "https"):
        return _decode(_download(source, policy, where), policy, where)
    if scheme == "file":
        path = Path(unquote(urlparse(source).path))
        return _decode(_read_file(path, policy, where), policy, where)
    if len(scheme) > 1:
        msg = f"{where}: unsupported URL scheme {scheme!r}. Use a file path, data: or http(s)."
        raise ConfigError(msg)
    return _decode(_read_file(Path(source), policy, where), policy, where)


def _read_file(path: Path, policy: ImagePolicy, where: str) -> bytes:
    if not policy.allow_local_files:
        msg = (
            f"{where}: reading local image files is disabled here ({str(path)[:80]!r}). "
            "Send the image inline as a data:image/...;base64 URL."
        )
        raise ConfigError(msg)
    if not path.is_file():
        msg = f"{where}: image file {str(path)!r} does not exist (or is not a file)."
        raise ConfigError(msg)
    size = path.stat().st_size
    if size > policy.max_bytes:
        msg = (
            f"{where}: image file {str(path)!r} is {size} bytes, over the {policy.max_bytes}-byte "
            "limit. Shrink the image or raise image_limits max_bytes."
        )
        raise ConfigError(msg)
    return path.read_bytes()


def _data_url(url: str, policy: ImagePolicy, where: str) -> bytes:
    header, sep, payload = url.partition(",")
    if not sep or not header.lower().startswith("data:image/") or ";base64" not in header.lower():
        msg = (
            f"{where}: malformed data URL {url[:40]!r}...; expected "
            "'data:image/<type>;base64,<payload>'."
        )
        raise ConfigError(msg)
    # base64 inflates by 4/3: refuse before decoding anything over the byte cap.
    if len(payload) * 3 // 4 > policy.max_bytes:
        msg = (
            f"{where}: data URL image is about {len(payload) * 3 // 4} bytes, over the "
            f"{policy.max_bytes}-byte limit. Shrink the image or raise image_limits max_bytes."
        )
        raise ConfigError(msg)
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as err:
        msg = f"{where}: the data URL payload is not valid base64 ({err})."
        raise ConfigError(msg) from err


def _download(url: str, policy: ImagePolicy, where: str) -> bytes:
    if not policy.allow_remote:
        msg = (
            f"{where}: remote image URL {url[:80]!r} refused: fetching http(s) images is off by "
            "default. Pass the image as a file path or data: URL, or construct the model with "
            "allow_remote_images=True if you trust the callers."
        )
        raise ConfigError(msg)
    import urllib.request

    request = urllib.request.Request(url, headers={"User-Agent": "retrieval-toolkit"})
    try:
        with urllib.request.urlopen(request, timeout=policy.timeout_s) as response:
            data = response.read(policy.max_bytes + 1)
    except OSError as err:
        msg = f"{where}: cannot download image {url[:80]!r}: {err}"
        raise ConfigError(msg) from err
    if len(data) > policy.max_bytes:
        msg = f"{where}: image at {url[:80]!r} is over the {policy.max_bytes}-byte limit."
        raise ConfigError(msg)
    return data


def _check_pixels(size: tuple[int, int], policy: ImagePolicy, where: str) -> None:
    width, height = size
    if width < 1 or height < 1:
        msg = f"{where}: image has no pixels ({width}x{height})."
        raise ConfigError(msg)
    if width * height > policy.max_pixels:
        msg = (
            f"{where}: image is {width}x{height} = {width * height} pixels, over the "
            f"{policy.max_pixels}-pixel limit. Downscale it or raise image_limits max_pixels."
        )
        raise ConfigError(msg)


def _decode(data: bytes, policy: ImagePolicy, where: str) -> Any:
    image_module = _pil()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", image_module.DecompressionBombWarning)
            image = image_module.open(io.BytesIO(data))
            # The header gives the size before any pixel is decoded.
            _check_pixels(image.size, policy, where)
            image.load()
            return image.convert("RGB")
    except ConfigError:
        raise
    except (OSError, SyntaxError, ValueError, image_module.DecompressionBombWarning) as err:
        msg = f"{where}: cannot decode the image ({len(data)} bytes): {err}. Is it a valid image?"
        raise ConfigError(msg) from err
    except image_module.DecompressionBombError as err:
        msg = f"{where}: image refused as a decompression bomb: {err}"
        raise ConfigError(msg) from err
