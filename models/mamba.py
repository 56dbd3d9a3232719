"""Mamba (S6) block in pure PyTorch, weight-compatible with mamba-ssm.

`Mamba` has exactly the parameter names and shapes of `mamba_ssm.modules.mamba_simple.Mamba`
(in_proj, conv1d, x_proj, dt_proj, A_log, D, out_proj) and the same initialisation, so a state dict
loads into either class unchanged.

Its scan is `models.scan.selective_scan` (pure PyTorch, any device). Optional fused kernel: when the
`mamba-ssm` package imports, the input is on CUDA and ``use_fast_path`` is true, the forward pass uses
mamba-ssm's CUDA kernels instead (`models.fused_kernels`); the results agree up to floating-point
rounding.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.fused_kernels import KERNELS
from models.scan import ScanInputs, selective_scan, selective_scan_bidirectional

__all__ = ["Mamba"]


class Mamba(nn.Module):
    """Mamba (S6) block: (batch, L, d_model) -> (batch, L, d_model), causal along L.

    Parameters, their shapes and their initialisation are those of mamba-ssm's `Mamba`
    (mamba_ssm/modules/mamba_simple.py), so state dicts move between the two unchanged. Works for any
    L >= 1, on CPU and CUDA, in float32 and bfloat16 (the scan itself always runs in float32).

    Fused kernel: if `mamba-ssm` imports, the input is on CUDA and ``use_fast_path`` is true, mamba-ssm's
    CUDA kernels are used (`mamba_inner_fn` if `causal-conv1d` is installed, otherwise only
    `selective_scan_fn`); otherwise the pure PyTorch `selective_scan`. Incremental decoding (mamba-ssm's
    ``inference_params``/``step``) is not provided.

    Args:
        d_model: Width of the input and output.
        d_state: State size N per inner channel.
        d_conv: Kernel size of the causal depthwise convolution.
        expand: d_inner = expand * d_model.
        dt_rank: Rank of the step-size projection; "auto" = ceil(d_model / 16).
        dt_min: Smallest initial step size.
        dt_max: Largest initial step size.
        dt_init: "random" (uniform) or "constant" initial dt_proj weight.
        dt_scale: Scale of the dt_proj weight initialisation.
        dt_init_floor: Lower clamp of the initial step sizes.
        conv_bias: Bias in the convolution.
        bias: Bias in in_proj and out_proj.
        use_fast_path: Use mamba-ssm's fused CUDA kernels where available.
        device: Device of the parameters.
        dtype: Dtype of the parameters (A_log and D stay float32, as in mamba-ssm).
        chunk_size: Chunk length of the PyTorch scan; None picks it by solver (see `selective_scan`).
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 16,
        d_conv: int = 4,
        expand: int = 2,
        dt_rank: int | str = "auto",
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        dt_init: str = "random",
        dt_scale: float = 1.0,
        dt_init_floor: float = 1e-4,
        conv_bias: bool = True,
        bias: bool = False,
        use_fast_path: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        chunk_size: int | None = None,
    ) -> None:
        super().__init__()
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        self.d_model = d_model
        self.d_state = d_state
        self.d_conv = d_conv
        self.expand = expand
        self.d_inner = int(expand * d_model)
        self.dt_rank = math.ceil(d_model / 16) if dt_rank == "auto" else int(dt_rank)
        self.use_fast_path = use_fast_path
        self.chunk_size = chunk_size

        self.in_proj = nn.Linear(d_model, 2 * self.d_inner, bias=bias, **factory)
        self.conv1d = nn.Conv1d(
            self.d_inner,
            self.d_inner,
            kernel_size=d_conv,
            groups=self.d_inner,
            padding=d_conv - 1,  # left context; the right overhang is cut in forward (causal)
            bias=conv_bias,
            **factory,
        )
        self.x_proj = nn.Linear(self.d_inner, self.dt_rank + 2 * d_state, bias=False, **factory)
        self.dt_proj = nn.Linear(self.dt_rank, self.d_inner, bias=True, **factory)
        # Same order of random draws as mamba-ssm, so one seed gives the same weights in both.
        self._init_dt_proj(dt_init, dt_scale, dt_min, dt_max, dt_init_floor)
        # S4D-real: A = -(1, 2, ..., N) for every channel, stored as log(-A) so that A stays negative;
        # A_log and D stay float32 whatever dtype is asked for, as in mamba-ssm.
        arange = torch.arange(1, d_state + 1, dtype=torch.float32, device=device)
        self.A_log = nn.Parameter(arange.log().repeat(self.d_inner, 1))
        self.D = nn.Parameter(torch.ones(self.d_inner, device=device))
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=bias, **factory)
        # Markers read by mamba-ssm-style training code: no weight decay, keep this bias on re-init.
        self.A_log._no_weight_decay = True  # type: ignore[attr-defined]
        self.D._no_weight_decay = True  # type: ignore[attr-defined]
        self.dt_proj.bias._no_reinit = True  # type: ignore[attr-defined]

    @torch.no_grad()
    def _init_dt_proj(
        self, dt_init: str, dt_scale: float, dt_min: float, dt_max: float, dt_init_floor: float
    ) -> None:
        """mamba-ssm's initialisation of the step-size projection."""
        std = self.dt_rank**-0.5 * dt_scale  # keeps the variance of dt_proj's output at ~1
        if dt_init == "constant":
            nn.init.constant_(self.dt_proj.weight, std)
        elif dt_init == "random":
            nn.init.uniform_(self.dt_proj.weight, -std, std)
        else:
            raise ValueError(f"dt_init must be 'random' or 'constant', not {dt_init!r}")
        # Step sizes log-uniform in [dt_min, dt_max]; the bias is their inverse softplus, so that
        # softplus(bias) gives them back: softplus^-1(y) = y + log(1 - exp(-y)).
        bias = self.dt_proj.bias
        log_dt = torch.rand(self.d_inner, device=bias.device, dtype=bias.dtype)
        dt = (log_dt * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)).exp()
        dt = dt.clamp(min=dt_init_floor)
        bias.copy_(dt + torch.log(-torch.expm1(-dt)))

    def forward(self, hidden_states: Tensor) -> Tensor:
        """Apply the block.

        Args:
            hidden_states: (batch, L, d_model).

        Returns:
            (batch, L, d_model), output t depending only on inputs 0..t.
        """
        xz = self.in_proj(hidden_states).transpose(1, 2)  # (batch, 2 d_inner, L)
        A = -self.A_log.float().exp()
        if self._kernel("mamba_inner_fn", hidden_states) is not None:
            out = self._forward_fused(xz, A)
            if out is not None:
                return out
        x, z = xz.chunk(2, dim=1)
        x = self.conv(x)
        y = self.ssm(x, z, A)
        return self.out_proj(y.transpose(1, 2))

    def conv(self, x: Tensor) -> Tensor:
        """Causal depthwise convolution + SiLU, (batch, d_inner, L) -> same."""
        return F.silu(self.conv1d(x)[..., : x.shape[-1]])

    def ssm(self, x: Tensor, z: Tensor | None = None, A: Tensor | None = None) -> Tensor:
        """Input-dependent projections and selective scan, (batch, d_inner, L) -> same.

        Args:
            x: Convolved input.
            z: Gate (output multiplied by SiLU(z)), or None for no gate.
            A: The state matrix -exp(A_log), if already computed.
        """
        if A is None:
            A = -self.A_log.float().exp()
        delta, B, C = self._projections(x)
        D, delta_bias = self.D.float(), self.dt_proj.bias.float()
        if self._kernel("selective_scan_fn", x) is not None:
            B, C = B.contiguous(), C.contiguous()  # the kernel wants L contiguous
            y = KERNELS.call(
                "selective_scan_fn", x, delta, A, B, C, D, z=z, delta_bias=delta_bias, delta_softplus=True
            )
            if y is not None:
                return y
        # the PyTorch scan takes any strides: no copy here (the streaming one wants N contiguous)
        return selective_scan(x, delta, A, B, C, D, z, delta_bias, chunk_size=self.chunk_size)

    def ssm_bidirectional(self, x: Tensor) -> Tensor:
        """`ssm` of x plus, flipped back, `ssm` of x reversed along L (no gate), (batch, d_inner, L).

        The projections act position by position, so those of the reversed sequence are the reversed
        projections: they are computed once (`selective_scan_bidirectional`).
        """
        if self._kernel("selective_scan_fn", x) is not None:
            forward, backward = self.ssm(torch.cat([x, x.flip(-1)])).chunk(2)
            return forward + backward.flip(-1)
        delta, B, C = self._projections(x)
        A, D, delta_bias = -self.A_log.float().exp(), self.D.float(), self.dt_proj.bias.float()
        scan = ScanInputs(x, delta, A, B, C, D, delta_bias=delta_bias)
        return selective_scan_bidirectional(scan, chunk_size=self.chunk_size)

    def _projections(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Step sizes before bias (batch, d_inner, L) and B, C (batch, N, L) from the convolved input."""
        x_dbl = self.x_proj(x.transpose(1, 2))  # (batch, L, dt_rank + 2 N)
        dt, B, C = x_dbl.split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = F.linear(dt, self.dt_proj.weight).transpose(1, 2)  # bias goes in as delta_bias
        return delta, B.transpose(1, 2), C.transpose(1, 2)  # (batch, N, L) views

    def _kernel(self, name: str, x: Tensor) -> Callable[..., Any] | None:
        """mamba-ssm's kernel `name` if the fast path is on and usable for x's device, else None."""
        return KERNELS.get(name, x.device.type) if self.use_fast_path else None

    def _forward_fused(self, xz: Tensor, A: Tensor) -> Tensor | None:
        """Whole block in mamba-ssm's fused kernel (conv, projections, scan, gate, out_proj); None if it failed."""
        result: Tensor | None = KERNELS.call(
            "mamba_inner_fn",
            xz.contiguous(),
            self.conv1d.weight,
            self.conv1d.bias,
            self.x_proj.weight,
            self.dt_proj.weight,
            self.out_proj.weight,
            self.out_proj.bias,
            A,
            None,  # B from x_proj (input-dependent)
            None,  # C from x_proj (input-dependent)
            self.D.float(),
            delta_bias=self.dt_proj.bias.float(),
            delta_softplus=True,
        )
        return result
