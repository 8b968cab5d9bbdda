"""Plugin poolers for ``pooling_task="plugin"`` (vLLM's IO-processor plugins, in-process).

A plugin turns one prompt's final hidden states into any tensor. Register one in code::

    from encoders.plugins import register_plugin
    register_plugin("max_pool", MaxPoolPlugin)
    llm = LLM(model, io_processor_plugin="max_pool")
    llm.encode(texts, pooling_task="plugin")

or ship it from a package through the ``retrieval_toolkit.plugins`` entry-point group, whose
value points at a factory (``"my_package.poolers:MaxPoolPlugin"``). Entry points are loaded
only when a plugin of that name is asked for.
"""

from __future__ import annotations

import importlib.metadata as metadata
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import torch

from retrieval.errors import ConfigError

ENTRY_POINT_GROUP = "retrieval_toolkit.plugins"


@runtime_checkable
class PoolerPlugin(Protocol):
    """What a plugin implements."""

    def pool(self, hidden: torch.Tensor, token_ids: list[int]) -> torch.Tensor:
        """``hidden (n_tokens, h)`` of one prompt -> the plugin's output tensor."""
        ...


PluginFactory = Callable[[Any], PoolerPlugin]
"""Called with the loaded model (its ``hf_config``, ``tokenizer``, ...) once per ``LLM``."""

_REGISTRY: dict[str, PluginFactory] = {}


def register_plugin(name: str, factory: PluginFactory) -> None:
    """Make ``factory`` available as ``io_processor_plugin=name``."""
    _REGISTRY[name] = factory


def available_plugins() -> list[str]:
    names = set(_REGISTRY)
    names.update(ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP))
    return sorted(names)


def load_plugin(name: str, model: Any) -> PoolerPlugin:
    """Build plugin ``name`` for ``model`` from the registry or an entry point."""
    factory = _REGISTRY.get(name)
    if factory is None:
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            if ep.name == name:
                factory = ep.load()
                break
    if factory is None:
        msg = (
            f"Unknown pooler plugin {name!r}. Available: {available_plugins() or 'none'}. "
            f"Register one with encoders.plugins.register_plugin or the {ENTRY_POINT_GROUP!r} "
            "entry-point group."
        )
        raise ConfigError(msg)
    plugin = factory(model)
    if not isinstance(plugin, PoolerPlugin):
        msg = f"Plugin {name!r} does not implement pool(hidden, token_ids)."
        raise ConfigError(msg)
    return plugin
