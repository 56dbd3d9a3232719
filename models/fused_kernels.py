"""mamba-ssm's fused CUDA kernels, found and checked once (`KERNELS`), with a fallback to PyTorch.

When the `mamba-ssm` package imports (``pip install cfipt[mamba]``), the input is on CUDA and the block's
``use_fast_path`` is true, `models.mamba.Mamba` runs mamba-ssm's kernels: `mamba_inner_fn` (whole block
fused) when `causal-conv1d` is installed too, otherwise `selective_scan_fn` for the scan alone. A package
whose compiled kernel is missing or fails gives one `FusedKernelWarning` and the PyTorch scan.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import warnings
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["KERNELS", "FusedKernelWarning", "FusedKernels"]


class FusedKernelWarning(UserWarning):
    """mamba-ssm is installed but its CUDA kernels cannot run here; the PyTorch scan is used instead."""


class FusedKernels:
    """mamba-ssm's fused CUDA kernels, when they are really usable.

    mamba-ssm imports even where its compiled extension is missing or built for another GPU or CUDA
    (some releases guard the extension's import with try/except and fail only at the first call). So a
    kernel is offered only when the package imports, the extension module behind it is present, and the
    tensors are on one of `devices`; a kernel that raises at its first call is dropped. Either problem
    gives one `FusedKernelWarning` and the PyTorch path from then on; mamba-ssm not installed at all
    gives no warning.
    """

    def __init__(
        self,
        functions: dict[str, Callable[..., Any]],
        problem: str | None,
        devices: tuple[str, ...] = ("cuda",),
    ) -> None:
        self.functions = dict(functions)
        self.problem = problem
        self.devices = tuple(devices)
        self._warned = False

    @classmethod
    def probe(cls) -> FusedKernels:
        """Look for mamba-ssm (`selective_scan_fn`) and causal-conv1d (`mamba_inner_fn` needs both)."""
        try:
            installed = importlib.util.find_spec("mamba_ssm") is not None
        except (ImportError, ValueError):  # a broken install, or a stand-in module without a spec
            installed = "mamba_ssm" in sys.modules
        if not installed:
            return cls({}, None)
        try:
            interface = importlib.import_module("mamba_ssm.ops.selective_scan_interface")
        except Exception as exc:  # any failure of an optional extension means "not usable"
            return cls({}, f"mamba-ssm is installed but does not import ({type(exc).__name__}: {exc})")
        return cls.from_interface(interface)

    @classmethod
    def from_interface(cls, interface: Any) -> FusedKernels:
        """Kernels of an imported `mamba_ssm.ops.selective_scan_interface` module (or a stand-in)."""
        if getattr(interface, "selective_scan_cuda", None) is None:
            return cls({}, "mamba-ssm is installed without its compiled kernel (selective_scan_cuda)")
        functions = {"selective_scan_fn": interface.selective_scan_fn}
        if getattr(interface, "causal_conv1d_cuda", None) is not None:
            functions["mamba_inner_fn"] = interface.mamba_inner_fn
        return cls(functions, None)

    def get(self, name: str, device_type: str) -> Callable[..., Any] | None:
        """The kernel `name` for tensors on `device_type`, or None (then the PyTorch path runs)."""
        if device_type not in self.devices:
            return None
        if self.problem is not None:
            self._warn_once(self.problem)
        return self.functions.get(name)

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Run kernel `name`; on failure drop every kernel, warn once and return None."""
        try:
            return self.functions[name](*args, **kwargs)
        except torch.cuda.OutOfMemoryError:
            raise
        except Exception as exc:  # an unusable extension fails in many ways
            if _cuda_context_broken():  # e.g. an illegal memory access: no fallback can run now
                raise
            self.functions.clear()
            self.problem = f"mamba-ssm's {name} failed ({type(exc).__name__}: {str(exc).splitlines()[0]})"
            self._warn_once(self.problem)
            return None

    def _warn_once(self, problem: str) -> None:
        if not self._warned:
            self._warned = True
            warnings.warn(f"{problem}; using the PyTorch selective scan", FusedKernelWarning, stacklevel=3)


def _cuda_context_broken() -> bool:
    """Whether CUDA is in a sticky error state (every later CUDA call would fail too)."""
    if not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return False
    try:
        torch.cuda.synchronize()
    except Exception:  # the error the kernel raised is still pending: the context is unusable
        return True
    return False


KERNELS = FusedKernels.probe()
