"""Device selection: auto picks what exists; CUDA asked for but absent is a clear error."""

from __future__ import annotations

import pytest
import torch

from cfipt_cli.devices import autocast, resolve_device
from cfipt_cli.errors import CfiptUsageError, DeviceUnavailableError


def test_auto_and_cpu():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_absent_is_error():
    with pytest.raises(DeviceUnavailableError, match="--device cpu"):
        resolve_device("cuda")


def test_bad_spec_is_usage_error():
    with pytest.raises(CfiptUsageError):
        resolve_device("tpu")


def test_autocast_is_noop_on_cpu():
    with autocast(torch.device("cpu"), amp=True):
        y = torch.ones(2, 2) @ torch.ones(2, 2)
    assert y.dtype == torch.float32
