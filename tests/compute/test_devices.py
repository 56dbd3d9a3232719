"""Device selection: auto picks what exists; CUDA asked for but absent is a clear error."""

from __future__ import annotations

import pytest
import torch

from cfipt_cli.compute.devices import autocast, resolve_device
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


def test_precision_and_batch_defaults_follow_the_device(monkeypatch):
    from cfipt_cli.compute import devices
    from cfipt_cli.compute.devices import default_predict_batch, enable_tf32, resolve_amp

    warned: list[str] = []  # (the cfipt logger's level and propagation depend on earlier CLI tests)
    monkeypatch.setattr(devices.log, "warning", lambda msg, *args: warned.append(msg % args))

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert resolve_amp(None, cpu) is False and resolve_amp(False, cpu) is False
    assert resolve_amp(None, cuda) is True and resolve_amp(False, cuda) is False and resolve_amp(True, cuda)
    assert not warned
    assert resolve_amp(True, cpu) is False  # --amp on a CPU: ignored, and said so
    assert len(warned) == 1 and "ignored" in warned[0]
    assert default_predict_batch(cpu) == 64 and default_predict_batch(cuda) == 256
    assert enable_tf32(cpu) is False


def test_upload_packs_arrays_into_one_transfer_bit_for_bit():
    import numpy as np

    from cfipt_cli.compute.devices import Staged, upload

    rng = np.random.default_rng(0)
    arrays = [
        rng.normal(size=(3, 5, 7)).astype(np.float32),
        rng.integers(0, 9, 5),  # int64 after float32 data of 420 bytes: alignment matters
        np.arange(7, dtype=np.int16)[::2],  # not contiguous
        np.empty((0, 4), dtype=np.float32),
    ]
    staged = Staged(arrays)
    assert staged.host.dim() == 1 and staged.host.dtype == torch.uint8  # one buffer, one copy
    for got, want in zip(upload(arrays, torch.device("cpu")), arrays, strict=True):
        assert got.dtype == torch.from_numpy(np.ascontiguousarray(want)).dtype and got.shape == want.shape
        np.testing.assert_array_equal(got.numpy(), want)
    for view, want in zip(staged.arrays, arrays, strict=True):
        np.testing.assert_array_equal(view, want)
