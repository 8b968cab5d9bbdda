"""Opt-in int8 on the CPU: dynamic quantisation of a transformer's linear layers.

``LLM(model, dtype="int8")`` keeps fp32 embeddings, norms, attention softmax and the pooling
head, and runs every ``nn.Linear`` of the backbone as an int8 GEMM through PyTorch's own
quantized kernels (fbgemm / oneDNN, the ``x86`` engine): weights are quantised once per output
channel at load time; activations are quantised per call with a scale taken from the batch.
No new runtime is involved. The linear layers are most of an encoder's FLOPs, so this is where
the speed is; the quality cost is measured in ``benchmarks/int8_encode.py`` (BENCHMARKS.md).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import torch
from torch import nn

from retrieval.errors import ConfigError

logger = logging.getLogger(__name__)

INT8 = "int8"


def wants_int8(dtype: object) -> bool:
    """True for the ``dtype="int8"`` spelling (case and spaces ignored)."""
    return isinstance(dtype, str) and dtype.strip().lower() == INT8


def check_int8_device(device: torch.device) -> None:
    """int8 is a CPU path: on a GPU half precision is both faster and more accurate."""
    if device.type != "cpu":
        msg = (
            f"dtype='int8' runs on the CPU only (dynamic quantisation), but the device is "
            f"{device}. Use device='cpu' with dtype='int8', or dtype='float16' / 'bfloat16' "
            "on a GPU."
        )
        raise ConfigError(msg)


def _has_vnni() -> bool:
    """True where the CPU multiplies u8 x s8 into int32 without the int16 saturation of plain
    AVX2 (VNNI / AMX); only then is the activations' full 8-bit range safe."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(flag in flags for flag in (" avx512_vnni", " avx_vnni", " amx_int8"))


def _engine() -> str:
    engines = torch.backends.quantized.supported_engines
    for name in ("x86", "fbgemm", "onednn"):
        if name in engines:
            return name
    msg = (
        f"dtype='int8' needs an x86 quantized engine (fbgemm / oneDNN); this torch offers "
        f"{engines}. Use dtype='float32'."
    )
    raise ConfigError(msg)


class Int8Linear(nn.Module):
    """``nn.Linear`` as an int8 GEMM: weights quantised symmetrically per output channel once,
    activations quantised per call (one scale for the call's rows) by PyTorch's
    ``quantized::linear_dynamic``; the output is fp32."""

    def __init__(self, linear: nn.Linear, full_range: bool) -> None:
        super().__init__()
        self.in_features = linear.in_features
        self.out_features = linear.out_features
        weight = linear.weight.detach().float()
        scales = (weight.abs().amax(dim=1) / 127.0).clamp_min(1e-12).double()
        zero_points = torch.zeros(weight.shape[0], dtype=torch.long)
        with warnings.catch_warnings():  # quantized tensors are flagged as legacy; the op is not
            warnings.simplefilter("ignore")
            qweight = torch.quantize_per_channel(weight, scales, zero_points, 0, torch.qint8)
            bias = None if linear.bias is None else linear.bias.detach().float()
            self.packed = torch.ops.quantized.linear_prepack(qweight, bias)
        # Plain AVX2 sums u8 x s8 pairs in int16, so fbgemm keeps activations to 7 bits there.
        self.reduce_range = not full_range

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.quantized.linear_dynamic(x, self.packed, self.reduce_range)

    @property
    def weight(self) -> torch.Tensor:
        """The dequantised ``(out, in)`` weight, for code that inspects a head's shape."""
        return torch.ops.quantized.linear_unpack(self.packed)[0].dequantize()


def quantize_linear_layers(model: nn.Module) -> int:
    """Swap every fp32 ``nn.Linear`` of ``model`` for an :class:`Int8Linear`.

    Returns the number of layers swapped. The model must be on the CPU in fp32.
    """
    torch.backends.quantized.engine = _engine()
    full_range = _has_vnni()
    swapped = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is not nn.Linear or child.weight.dtype != torch.float32:
                continue
            setattr(parent, name, Int8Linear(child, full_range))
            swapped += 1
    logger.debug("int8: quantised %d linear layers (full range: %s)", swapped, full_range)
    return swapped
