"""One device resolver for the whole toolkit: ``auto | cpu | cuda | cuda:N``.

Nothing here runs at import time; the GPU is probed only when a caller resolves a device.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

from retrieval.errors import ConfigError, DeviceUnavailableError

if TYPE_CHECKING:
    import torch

DTypeName = Literal["auto", "float32", "float16", "bfloat16"]
DTYPE_NAMES: tuple[str, ...] = ("auto", "float32", "float16", "bfloat16", "float", "half")

_DTYPES: dict[str, str] = {  # names, not torch dtypes: torch loads only when resolving
    "float32": "float32",
    "float": "float32",
    "float16": "float16",
    "half": "float16",
    "bfloat16": "bfloat16",
}
_DEVICE_RE = re.compile(r"^(auto|cpu|cuda|cuda:\d+)$")


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Turn ``auto | cpu | cuda | cuda:N`` (or a ``torch.device``) into a concrete device.

    ``auto`` picks the first CUDA device when one exists, else the CPU. Asking for CUDA
    explicitly on a machine without it is an error rather than a silent CPU fallback.
    """
    import torch

    if isinstance(device, torch.device):
        device = str(device)
    spec = (device or "auto").strip().lower()
    if not _DEVICE_RE.match(spec):
        msg = f"Unknown device {device!r}. Valid: auto, cpu, cuda, cuda:N (e.g. cuda:0)."
        raise ConfigError(msg)
    if spec == "auto":
        return torch.device("cuda:0") if torch.cuda.is_available() else torch.device("cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        msg = (
            f"Device {device!r} was requested but CUDA is not available on this machine. "
            'Use device="cpu" or device="auto".'
        )
        raise DeviceUnavailableError(msg)
    index = int(spec.split(":")[1]) if ":" in spec else 0
    count = torch.cuda.device_count()
    if index >= count:
        msg = f"Device {device!r} does not exist: this machine has {count} CUDA device(s)."
        raise DeviceUnavailableError(msg)
    return torch.device(f"cuda:{index}")


def resolve_dtype(dtype: str | torch.dtype, device: torch.device) -> torch.dtype:
    """Resolve ``auto`` to fp32 on CPU and bf16 (fp16 where bf16 is unsupported) on GPU."""
    import torch

    if isinstance(dtype, torch.dtype):
        return dtype
    name = dtype.strip().lower()
    if name == "auto":
        if device.type != "cuda":
            return torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if name not in _DTYPES:
        msg = f"Unknown dtype {dtype!r}. Valid: {', '.join(DTYPE_NAMES)}."
        raise ConfigError(msg)
    resolved: torch.dtype = getattr(torch, _DTYPES[name])
    return resolved
