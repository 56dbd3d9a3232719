"""Mamba (S6) block in pure PyTorch, weight-compatible with mamba-ssm.

`Mamba` has exactly the parameter names and shapes of `mamba_ssm.modules.mamba_simple.Mamba`
(in_proj, conv1d, x_proj, dt_proj, A_log, D, out_proj) and the same initialisation, so a state dict
loads into either class unchanged.

The selective scan is `selective_scan`: chunked, recursive over chunks, with no Python loop over the
sequence, on any device and dtype, always computed in float32 (also under autocast); without autograd it
streams a small state through each chunk instead of building the full (batch, d_inner, d_state, L)
states, on every device. `selective_scan_reference` is the plain sequential recurrence, kept
as the ground truth for tests.

Optional fused kernel: when the `mamba-ssm` package imports (``pip install cfipt[mamba]``), the input is
on CUDA and ``use_fast_path`` is true, the forward pass uses mamba-ssm's CUDA kernels instead:
`mamba_inner_fn` (whole block fused) when `causal-conv1d` is installed too, otherwise `selective_scan_fn`
for the scan alone. Without the package, or on CPU, the PyTorch scan is used; the results agree up to
floating-point rounding. A package whose compiled kernel is missing or fails gives one warning and the
PyTorch scan (`FusedKernels`).
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import sys
import warnings
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.precision import float32_region

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "GPU_STEPPING_CHUNK_SIZE",
    "KERNELS",
    "PARALLEL_SOLVER_BYTES",
    "SEQUENTIAL_CHUNK_SIZE",
    "FusedKernelWarning",
    "FusedKernels",
    "Mamba",
    "selective_scan",
    "selective_scan_bidirectional",
    "selective_scan_reference",
]


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


# Chunk lengths of the scan when none is given. The parallel chunk solver stores a chunk x chunk decay
# matrix per step (memory and work ~ chunk x L): short chunks. The stepping solvers run chunk Python
# steps per pass, each over all chunks at once: on CPU one step costs little, and longer chunks mean
# fewer passes and less recursion (measured on CPU, L = 64, batch 1024, E = 12, N = 16: chunk 64 is
# 2.5x faster than chunk 8 without gradient, 2.7x with). On a GPU every step is a few kernel launches:
# about 2 chunk + L / chunk steps, least near sqrt(L) (28 for L = 768), hence 32 there.
DEFAULT_CHUNK_SIZE = 8
SEQUENTIAL_CHUNK_SIZE = 64
GPU_STEPPING_CHUNK_SIZE = 32

# The parallel solver's (batch, d_inner, d_state, L / chunk, chunk, chunk) float32 tensors (about three
# of them live at once under autograd) may take at most this much; above it the stepping solver runs.
PARALLEL_SOLVER_BYTES = 2 * 2**30

# The bidirectional streaming scan keeps every step's decays, (L, batch, d_inner, d_state) float32:
# above this size it hands over to `selective_scan` (both directions stacked), which does not.
BIDIRECTIONAL_DECAY_BYTES = 256 * 2**20

ChunkSolver = Callable[[Tensor, Tensor], Tensor]


# --------------------------------------------------------------------------------------------------
# Selective scan: h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t,  y_t = C_t . h_t + D u_t
# --------------------------------------------------------------------------------------------------


def _step_sizes(delta: Tensor, delta_bias: Tensor | None, delta_softplus: bool) -> Tensor:
    """softplus(delta + bias) in float32, (batch, d_inner, L)."""
    delta = delta.float()
    if delta_bias is not None:
        delta = delta + delta_bias.float()[:, None]
    return F.softplus(delta) if delta_softplus else delta


def _discretise(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, delta_bias: Tensor | None, delta_softplus: bool
) -> tuple[Tensor, Tensor]:
    """Log-decays delta A and inputs delta B u of the recurrence, (batch, d_inner, d_state, L), float32."""
    delta = _step_sizes(delta, delta_bias, delta_softplus)
    log_decay = delta[:, :, None, :] * A.float()[None, :, :, None]
    inputs = (delta * u.float())[:, :, None, :] * B.float()[:, None, :, :]
    return log_decay, inputs


def _needs_grad(*tensors: Tensor | None) -> bool:
    """Whether autograd would record an operation on these tensors."""
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def _finish(y: Tensor, u: Tensor, D: Tensor | None, z: Tensor | None) -> Tensor:
    """Skip connection, SiLU gate and cast back to the input dtype."""
    if D is not None:
        y = y + D.float()[:, None] * u.float()
    if z is not None:
        y = y * F.silu(z.float())
    return y.to(u.dtype)


def _solve_chunk_parallel(log_decay: Tensor, inputs: Tensor) -> Tensor:
    """Solve h_t = exp(log_decay_t) h_{t-1} + inputs_t, h_{-1} = 0, over the last axis in one go.

    h_t = sum_{s<=t} exp(cum_t - cum_s) inputs_s, with cum the cumulative sum of the log-decays. The
    log-decays are <= 0, so cum never increases and cum_t - cum_s <= 0 for every s <= t: each weight
    lies in [0, 1] and nothing can overflow (unlike exp(cum_t) * cumsum(exp(-cum_s) inputs_s)). The
    entries with s > t (positive, possibly huge) become -inf *before* exp: exact zeros, and zero
    gradients instead of inf * 0 = NaN.
    """
    length = log_decay.shape[-1]
    cum = log_decay.cumsum(-1)
    diff = cum[..., :, None] - cum[..., None, :]  # (..., t, s)
    causal = torch.ones(length, length, dtype=torch.bool, device=cum.device).tril()
    weights = diff.masked_fill(~causal, float("-inf")).exp()
    return (weights @ inputs[..., None]).squeeze(-1)


def _solve_chunk_sequential(log_decay: Tensor, inputs: Tensor) -> Tensor:
    """Same result as `_solve_chunk_parallel` by stepping through the (short) last axis.

    Used on CPU, where it does chunk times less arithmetic and memory than the parallel form and the
    per-step overhead is small; the loop runs over one chunk (vectorised over all chunks), never L.
    """
    states = []
    state = torch.zeros_like(inputs[..., 0])
    # unbind, not indexing: one backward node instead of one full-size zero gradient per step. Steps
    # are stacked along a new *first* axis (contiguous blocks; stacking along the last axis scatters
    # every element and was the slowest op of training on CPU) and moved back as a view.
    decays, step_inputs = log_decay.exp().movedim(-1, 0), inputs.movedim(-1, 0)
    for decay, step_input in zip(decays.unbind(0), step_inputs.unbind(0), strict=True):
        state = torch.addcmul(step_input, decay, state)
        states.append(state)
    return torch.stack(states).movedim(0, -1)


def _scan(log_decay: Tensor, inputs: Tensor, chunk_size: int, solve: ChunkSolver) -> Tensor:
    """Linear recurrence h_t = exp(log_decay_t) h_{t-1} + inputs_t (h_{-1} = 0) over the last axis.

    The sequence is cut into chunks; `solve` runs every chunk from a zero state, all chunks at once.
    The states entering the chunks obey the same kind of recurrence one level up (decay: the chunk's
    total log-decay; input: the chunk's last local state) and are found by recursion, so the depth is
    log(L) / log(chunk_size) and no loop runs over L. Cumulative sums stay within a chunk, so no long
    sum loses precision.
    """
    length = log_decay.shape[-1]
    if length <= chunk_size:
        return solve(log_decay, inputs)
    n_chunks = -(-length // chunk_size)
    pad = n_chunks * chunk_size - length  # zeros appended at the end cannot change earlier steps
    log_decay = F.pad(log_decay, (0, pad)).unflatten(-1, (n_chunks, chunk_size))
    inputs = F.pad(inputs, (0, pad)).unflatten(-1, (n_chunks, chunk_size))

    local = solve(log_decay, inputs)  # (..., n_chunks, chunk): each chunk from a zero state
    cum = log_decay.cumsum(-1)  # decay from the chunk start to each step: exp(cum) in (0, 1]
    ends = _scan(cum[..., -1], local[..., -1], chunk_size, solve)  # true state at each chunk end
    entering = F.pad(ends[..., :-1], (1, 0))  # state entering chunk c = end state of chunk c - 1
    states = local + cum.exp() * entering[..., None]
    return states.flatten(-2)[..., :length]


# --------------------------------------------------------------------------------------------------
# Streaming solver (no gradient, CPU): the (batch, d_inner, d_state, L) tensors are never built
# --------------------------------------------------------------------------------------------------


def _step_major(x: Tensor, n_chunks: int, chunk_size: int) -> Tensor:
    """(batch, F, L) -> (chunk_size, batch, n_chunks, F) contiguous, zero-padded to n_chunks chunks.

    Steps first, so that step t of every chunk is one contiguous slice. Padding with zeros is harmless:
    a zero step size decays by exp(0) = 1 and adds no input, and the padded outputs are cut off.
    """
    pad = n_chunks * chunk_size - x.shape[-1]
    if pad:
        x = F.pad(x, (0, pad))
    return x.unflatten(-1, (n_chunks, chunk_size)).permute(3, 0, 2, 1).contiguous()


def _stream(delta: Tensor, delta_u: Tensor, A: Tensor, B: Tensor, C: Tensor | None, state: Tensor) -> Tensor:
    """Step h_t = exp(delta_t A) h_{t-1} + delta_t u_t B_t through every chunk at once, in place.

    Inputs are step-major (`_step_major`); ``state`` (batch, n_chunks, d_inner, d_state) is the state
    entering each chunk and is overwritten. Returns y_t = C_t . h_t, (chunk, batch, n_chunks, d_inner),
    or, when ``C`` is None, the final states. The state stays small (cache-resident) and the step
    count is one chunk, never L.
    """
    ys = None if C is None else delta.new_empty(delta.shape)
    for t in range(delta.shape[0]):
        decay = (delta[t, ..., None] * A).exp_()
        state.mul_(decay).addcmul_(delta_u[t, ..., None], B[t, :, :, None, :])
        if ys is not None and C is not None:
            torch.linalg.vecdot(state, C[t, :, :, None, :], out=ys[t])
    return state if ys is None else ys


def _selective_scan_streaming(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    delta_bias: Tensor | None,
    delta_softplus: bool,
    chunk_size: int,
) -> Tensor:
    """Selective scan without autograd support, streaming the state through each chunk: y (batch, E, L).

    Pass 1 steps every chunk from a zero state to its end state; the states entering the chunks then
    follow a short recurrence (decay exp(A sum(delta)) per chunk, solved by `_scan`); pass 2 steps again
    from the true entering states and emits y. With one chunk (L <= chunk_size) pass 1 is skipped.
    """
    length = u.shape[-1]
    delta = _step_sizes(delta, delta_bias, delta_softplus)
    n_chunks = -(-length // chunk_size)
    steps = min(length, chunk_size)
    A = A.float()
    delta_s, delta_u_s, B_s, C_s = (
        _step_major(x, n_chunks, steps) for x in (delta, delta * u.float(), B.float(), C.float())
    )
    batch, d_inner, d_state = u.shape[0], *A.shape
    state = delta_s.new_zeros(batch, n_chunks, d_inner, d_state)
    if n_chunks > 1:
        ends = _stream(delta_s, delta_u_s, A, B_s, None, state)  # each chunk from a zero state
        log_total = delta_s.sum(0)[..., None] * A  # (batch, n_chunks, E, N): the chunk's log-decay
        ends = _scan(log_total.movedim(1, -1), ends.movedim(1, -1), chunk_size, _solve_chunk_sequential)
        state = F.pad(ends[..., :-1], (1, 0)).movedim(-1, 1).contiguous()  # state entering each chunk
    ys = _stream(delta_s, delta_u_s, A, B_s, C_s, state)  # (steps, batch, n_chunks, E)
    return ys.permute(1, 3, 2, 0).flatten(-2)[..., :length]


def _solver_settings(
    u: Tensor, d_state: int, chunk_size: int | None, parallel: bool | None, needs_grad: bool
) -> tuple[bool, int]:
    """Which chunk solver runs (parallel or stepping) and the chunk length (at least 2).

    ``parallel=None`` chooses: without autograd always stepping (it then streams a small state, so
    inference memory is bounded per sample on every device); with autograd the parallel form on
    accelerators while its tensors fit in `PARALLEL_SOLVER_BYTES`, else stepping. ``chunk_size=None``
    takes the chosen solver's default.
    """
    on_cpu = u.device.type == "cpu"
    if parallel is None:
        chunk = chunk_size or DEFAULT_CHUNK_SIZE
        parallel_bytes = 3 * 4 * u.numel() * d_state * chunk
        parallel = needs_grad and not on_cpu and parallel_bytes <= PARALLEL_SOLVER_BYTES
    if chunk_size is None:
        chunk_size = (
            DEFAULT_CHUNK_SIZE if parallel else SEQUENTIAL_CHUNK_SIZE if on_cpu else GPU_STEPPING_CHUNK_SIZE
        )
    return parallel, max(2, chunk_size)


def selective_scan(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = True,
    chunk_size: int | None = None,
    parallel: bool | None = None,
) -> Tensor:
    """Selective scan (S6) in pure PyTorch, chunked, without a Python loop over the sequence.

    Same arguments, layout and result as mamba-ssm's `selective_scan_fn` (real A, input-dependent B and
    C). Computed in float32 whatever the input dtype and also under autocast; the result has the dtype
    of ``u`` (as mamba-ssm's).

    Args:
        u: Input, (batch, d_inner, L).
        delta: Step sizes before bias and softplus, (batch, d_inner, L).
        A: Diagonal state matrix, real and <= 0, (d_inner, d_state).
        B: Input matrix, (batch, d_state, L).
        C: Output matrix, (batch, d_state, L).
        D: Skip connection, (d_inner,), or None.
        z: Gate, (batch, d_inner, L): the output is multiplied by SiLU(z); None for no gate.
        delta_bias: Added to delta before the softplus, (d_inner,), or None.
        delta_softplus: Apply softplus to delta (+ bias).
        chunk_size: Chunk length, at least 2 (speed and memory only; the result does not depend on it);
            None: `DEFAULT_CHUNK_SIZE` for the parallel solver, `SEQUENTIAL_CHUNK_SIZE` otherwise.
        parallel: Solve chunks in the parallel masked form (few large kernels, memory ~ chunk x L)
            or by stepping through each chunk (less arithmetic and memory). Stepping without autograd
            (no input requires a gradient, or grad mode is off) streams a small state through each
            chunk and never builds the (batch, d_inner, d_state, L) states. None: streaming whenever
            no gradient is needed (every device: inference memory stays bounded per sample); with
            gradients the parallel form on accelerators if it fits in `PARALLEL_SOLVER_BYTES`.

    Returns:
        The output y, (batch, d_inner, L).
    """
    needs_grad = _needs_grad(u, delta, A, B, C, D, z, delta_bias)
    parallel, chunk_size = _solver_settings(u, A.shape[-1], chunk_size, parallel, needs_grad)
    with float32_region(u):  # the whole scan in float32, also under autocast
        if not parallel and not needs_grad:
            y = _selective_scan_streaming(u, delta, A, B, C, delta_bias, delta_softplus, chunk_size)
            return _finish(y, u, D, z)
        solve = _solve_chunk_parallel if parallel else _solve_chunk_sequential
        log_decay, inputs = _discretise(u, delta, A, B, delta_bias, delta_softplus)
        states = _scan(log_decay, inputs, chunk_size, solve)  # (batch, d_inner, d_state, L)
        y = torch.einsum("bdnl,bnl->bdl", states, C.float())
        return _finish(y, u, D, z)


def selective_scan_bidirectional(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = True,
    chunk_size: int | None = None,
    parallel: bool | None = None,
) -> Tensor:
    """The scan of a sequence plus, flipped back, the scan of the reversed sequence: (batch, d_inner, L).

    Equals ``y + flip(y')`` with ``y = selective_scan(u, delta, A, B, C, D, ...)`` and ``y'`` the same
    of every input flipped along L. Both directions see the same per-step values (step sizes, decays,
    inputs) in opposite orders: on CPU without autograd, when the sequence fits in one chunk and the
    decays in `BIDIRECTIONAL_DECAY_BYTES`, they are computed once and two small states walk through
    them, forwards and backwards, writing each output at its own position (no flips, no stacking).
    Otherwise both directions go through one `selective_scan` call, stacked along the batch.
    """
    needs_grad = _needs_grad(u, delta, A, B, C, D, delta_bias)
    parallel, size = _solver_settings(u, A.shape[-1], chunk_size, parallel, needs_grad)
    streamable = (
        not parallel
        and not needs_grad
        and u.shape[-1] <= size
        and u.numel() * A.shape[-1] * 4 <= BIDIRECTIONAL_DECAY_BYTES
    )
    if not streamable:
        u2, delta2, B2, C2 = (torch.cat([t, t.flip(-1)]) for t in (u, delta, B, C))
        forward, backward = selective_scan(
            u2, delta2, A, B2, C2, D, None, delta_bias, delta_softplus, chunk_size, parallel
        ).chunk(2)
        return forward + backward.flip(-1)
    with float32_region(u):
        return _bidirectional_streaming(u, delta, A, B, C, D, delta_bias, delta_softplus)


def _bidirectional_streaming(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None,
    delta_bias: Tensor | None,
    delta_softplus: bool,
) -> Tensor:
    """`selective_scan_bidirectional` of one chunk without autograd: one pass, two small states."""
    delta = _step_sizes(delta, delta_bias, delta_softplus)
    decays = (delta.permute(2, 0, 1)[..., None] * A.float()).exp_()  # (L, batch, E, N)
    delta_u = (delta * u.float()).permute(2, 0, 1).contiguous()  # (L, batch, E)
    B_s, C_s = (x.float().permute(2, 0, 1)[:, :, None, :].contiguous() for x in (B, C))  # (L, batch, 1, N)
    length = u.shape[-1]
    states = decays.new_zeros(2, *decays.shape[1:])  # forward and backward state, (batch, E, N) each
    ys = delta_u.new_empty(2, *delta_u.shape)  # (2, L, batch, E)
    for step in range(length):
        for direction, t in ((0, step), (1, length - 1 - step)):
            state = states[direction]
            state.mul_(decays[t]).addcmul_(delta_u[t, ..., None], B_s[t])
            torch.linalg.vecdot(state, C_s[t], out=ys[direction, t])
    y = (ys[0] + ys[1]).permute(1, 2, 0)
    return _finish(y, u, None if D is None else 2 * D, None)  # each direction adds D u


def selective_scan_reference(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = True,
) -> Tensor:
    """Selective scan by the plain sequential recurrence over all L steps: slow, for tests.

    Arguments and result as `selective_scan`.
    """
    with float32_region(u):
        log_decay, inputs = _discretise(u, delta, A, B, delta_bias, delta_softplus)
        state = torch.zeros_like(inputs[..., 0])
        outputs = []
        for decay, step_input, c in zip(
            log_decay.unbind(-1), inputs.unbind(-1), C.float().unbind(-1), strict=True
        ):
            state = decay.exp() * state + step_input
            outputs.append(torch.einsum("bdn,bn->bd", state, c))
        return _finish(torch.stack(outputs, dim=-1), u, D, z)


# --------------------------------------------------------------------------------------------------
# Mamba block
# --------------------------------------------------------------------------------------------------


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
        return selective_scan_bidirectional(x, delta, A, B, C, D, delta_bias, chunk_size=self.chunk_size)

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
