"""The selective scan (S6) in pure PyTorch, and the policy that picks its solver and chunk length.

`selective_scan` is chunked, recursive over chunks, with no Python loop over the sequence, on any device
and dtype, always computed in float32 (also under autocast); without autograd it streams a small state
through each chunk instead of building the full (batch, d_inner, d_state, L) states, on every device.
`selective_scan_bidirectional` runs both directions of a sequence; `selective_scan_reference` is the
plain sequential recurrence, kept as the ground truth for tests. Both take their operands as one
`ScanInputs`; `selective_scan` takes them one by one, as mamba-ssm's `selective_scan_fn` does. The solvers
are in `models.scan_solvers`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from models.precision import float32_region
from models.scan_solvers import (
    ScanInputs,
    chunked_scan,
    discretise,
    selective_scan_streaming,
    solve_chunk_parallel,
    solve_chunk_sequential,
    step_sizes,
)

__all__ = [
    "BIDIRECTIONAL_DECAY_BYTES",
    "DEFAULT_CHUNK_SIZE",
    "GPU_STEPPING_CHUNK_SIZE",
    "PARALLEL_SOLVER_BYTES",
    "SEQUENTIAL_CHUNK_SIZE",
    "ScanInputs",
    "selective_scan",
    "selective_scan_bidirectional",
    "selective_scan_reference",
]

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


def _finish(y: Tensor, scan: ScanInputs, directions: int = 1) -> Tensor:
    """Skip connection D u (once per direction scanned), SiLU gate and cast back to the input dtype."""
    if scan.D is not None:
        y = y + (directions * scan.D).float()[:, None] * scan.u.float()
    if scan.z is not None:
        y = y * F.silu(scan.z.float())
    return y.to(scan.u.dtype)


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
    return _scan(ScanInputs(u, delta, A, B, C, D, z, delta_bias, delta_softplus), chunk_size, parallel)


def _scan(scan: ScanInputs, chunk_size: int | None, parallel: bool | None) -> Tensor:
    """`selective_scan` of these operands (the body both public scans share)."""
    needs_grad = scan.needs_grad()
    parallel, chunk_size = _solver_settings(scan.u, scan.A.shape[-1], chunk_size, parallel, needs_grad)
    with float32_region(scan.u):  # the whole scan in float32, also under autocast
        if not parallel and not needs_grad:
            return _finish(selective_scan_streaming(scan, chunk_size), scan)
        solve = solve_chunk_parallel if parallel else solve_chunk_sequential
        log_decay, inputs = discretise(scan)
        states = chunked_scan(log_decay, inputs, chunk_size, solve)  # (batch, d_inner, d_state, L)
        return _finish(torch.einsum("bdnl,bnl->bdl", states, scan.C.float()), scan)


def selective_scan_bidirectional(
    scan: ScanInputs, chunk_size: int | None = None, parallel: bool | None = None
) -> Tensor:
    """The scan of a sequence plus, flipped back, the scan of the reversed sequence: (batch, d_inner, L).

    Equals ``y + flip(y')`` with ``y = selective_scan(u, delta, A, B, C, D, z, ...)`` and ``y'`` the same
    of every sequence (u, delta, B, C, z) flipped along L; ``chunk_size`` and ``parallel`` as there.
    Both directions see the same per-step values (step sizes, decays, inputs) in opposite orders: on CPU
    without autograd, when the sequence fits in one chunk and the decays in `BIDIRECTIONAL_DECAY_BYTES`,
    they are computed once and two small states walk through them, forwards and backwards, writing each
    output at its own position (no flips, no stacking). Otherwise both directions go through one
    `selective_scan`, stacked along the batch.
    """
    needs_grad = scan.needs_grad()
    parallel, size = _solver_settings(scan.u, scan.A.shape[-1], chunk_size, parallel, needs_grad)
    streamable = (
        not parallel
        and not needs_grad
        and scan.u.shape[-1] <= size
        and scan.u.numel() * scan.A.shape[-1] * 4 <= BIDIRECTIONAL_DECAY_BYTES
    )
    if not streamable:
        forward, backward = _scan(scan.with_reverse(), chunk_size, parallel).chunk(2)
        return forward + backward.flip(-1)
    with float32_region(scan.u):
        return _bidirectional_streaming(scan)


def _bidirectional_streaming(scan: ScanInputs) -> Tensor:
    """`selective_scan_bidirectional` of one chunk without autograd: one pass, two small states."""
    u, A, B, C = scan.u, scan.A, scan.B, scan.C
    delta = step_sizes(scan)
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
    return _finish(y, scan, directions=2)  # both add D u; z gates both (flipped twice in the stacked form)


def selective_scan_reference(scan: ScanInputs) -> Tensor:
    """Selective scan by the plain sequential recurrence over all L steps: slow, for tests.

    The same result as `selective_scan` of these operands.
    """
    with float32_region(scan.u):
        log_decay, inputs = discretise(scan)
        state = torch.zeros_like(inputs[..., 0])
        outputs = []
        for decay, step_input, c in zip(
            log_decay.unbind(-1), inputs.unbind(-1), scan.C.float().unbind(-1), strict=True
        ):
            state = decay.exp() * state + step_input
            outputs.append(torch.einsum("bdn,bn->bd", state, c))
        return _finish(torch.stack(outputs, dim=-1), scan)
