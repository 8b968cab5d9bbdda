"""CPU fast path: linear layers on oneDNN with pre-packed weights and a fused GELU.

On x86 CPUs PyTorch's default fp32 ``addmm`` goes to MKL, which runs its generic AVX2 path on
non-Intel processors. oneDNN's ``_linear_pointwise`` with a weight packed once at load time is
markedly faster there (measured in ``benchmarks/encode_throughput.py``) and can fuse the
feed-forward GELU into the GEMM. Results are the same fp32 math up to summation order.
Everything falls back to the stock module if oneDNN is missing or disagrees on a probe.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

logger = logging.getLogger(__name__)

_TOLERANCE = 1e-4


def onednn_available() -> bool:
    """True when PyTorch ships the oneDNN linear ops this module relies on."""
    mkldnn = getattr(torch.ops, "mkldnn", None)
    return (
        torch.backends.mkldnn.is_available()
        and mkldnn is not None
        and hasattr(mkldnn, "_linear_pointwise")
        and hasattr(mkldnn, "_reorder_linear_weight")
    )


class PackedLinear(nn.Module):
    """``nn.Linear`` (optionally followed by exact GELU) computed by oneDNN.

    Keeps the original ``weight``/``bias`` so state dicts and fallbacks still work.
    """

    def __init__(self, linear: nn.Linear, fuse_gelu: bool = False) -> None:
        super().__init__()
        self.in_features = linear.in_features
        self.out_features = linear.out_features
        self.weight = linear.weight
        self.bias = linear.bias
        self.packed = torch.ops.mkldnn._reorder_linear_weight(linear.weight.detach(), None)
        self.post_op = "gelu" if fuse_gelu else "none"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # "none" as the algorithm selects the exact (erf) GELU, matching F.gelu.
        return torch.ops.mkldnn._linear_pointwise(
            x, self.packed, self.bias, self.post_op, [], "none"
        )

    def reference(self, x: torch.Tensor) -> torch.Tensor:
        """The stock computation, used to validate the packed path."""
        out = F.linear(x, self.weight, self.bias)
        return F.gelu(out) if self.post_op == "gelu" else out


def _is_exact_gelu(module: nn.Module) -> bool:
    if isinstance(module, nn.GELU):
        return module.approximate == "none"
    # transformers' GELUActivation wraps F.gelu (erf) unless it was built with use_gelu_python.
    return type(module).__name__ == "GELUActivation" and getattr(module, "act", None) is F.gelu


def _validated(packed: PackedLinear) -> bool:
    probe = torch.randn(3, packed.in_features, generator=torch.Generator().manual_seed(0))
    try:
        with torch.inference_mode():
            ok = torch.allclose(packed(probe), packed.reference(probe), atol=_TOLERANCE)
    except RuntimeError as err:
        logger.debug("oneDNN linear failed on a probe: %s", err)
        return False
    return bool(ok)


def pack_linear_layers(model: nn.Module) -> int:
    """Swap every fp32 CPU ``nn.Linear`` of ``model`` for a :class:`PackedLinear`, fusing the
    GELU of transformer feed-forward blocks (``dense`` + ``intermediate_act_fn``). Returns the
    number of layers swapped; 0 when oneDNN is unavailable."""
    if not onednn_available():
        return 0
    with _one_thread():
        return _pack(model)


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Packing and the 3-row probes are tiny: on a second thread they only wait at each op's
    barrier, which on a busy machine cost ~1 s of a cold ``retrieval search``."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _pack(model: nn.Module) -> int:
    swapped = 0
    for parent in list(model.modules()):
        fuse = _is_exact_gelu(getattr(parent, "intermediate_act_fn", None) or nn.Identity())
        for name, child in list(parent.named_children()):
            if not isinstance(child, nn.Linear):
                continue
            if child.weight.dtype != torch.float32 or child.weight.device.type != "cpu":
                continue
            packed = PackedLinear(child, fuse_gelu=fuse and name == "dense")
            if not _validated(packed):
                return swapped
            setattr(parent, name, packed)
            if packed.post_op == "gelu":
                parent.intermediate_act_fn = nn.Identity()
            swapped += 1
    return swapped
