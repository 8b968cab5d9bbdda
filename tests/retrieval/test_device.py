"""The single device resolver."""

from __future__ import annotations

import pytest
import torch

from retrieval.device import resolve_device, resolve_dtype
from retrieval.errors import ConfigError, DeviceUnavailableError


def test_auto_and_cpu() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device(None).type == expected
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.parametrize("spec", ["gpu", "cuda:x", "mps:0", ""])
def test_unknown_device_names_the_valid_ones(spec: str) -> None:
    if spec == "":
        assert resolve_device(spec).type in {"cpu", "cuda"}
        return
    with pytest.raises(ConfigError, match="Valid: auto, cpu, cuda, cuda:N"):
        resolve_device(spec)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("spec", ["cuda", "cuda:1"])
def test_cuda_without_cuda_is_an_error(spec: str) -> None:
    with pytest.raises(DeviceUnavailableError, match="CUDA is not available"):
        resolve_device(spec)


def test_dtypes() -> None:
    cpu = torch.device("cpu")
    assert resolve_dtype("auto", cpu) == torch.float32
    assert resolve_dtype("half", cpu) == torch.float16
    assert resolve_dtype(torch.bfloat16, cpu) == torch.bfloat16
    with pytest.raises(ConfigError, match="Unknown dtype 'fp8'"):
        resolve_dtype("fp8", cpu)
