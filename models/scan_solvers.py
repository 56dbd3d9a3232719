"""The math of the selective scan: the linear recurrence's chunk solvers and the streaming scan.

The recurrence h_t = exp(log_decay_t) h_{t-1} + inputs_t is solved chunk by chunk (`chunked_scan`) with
a parallel masked form or by stepping; `selective_scan_streaming` steps a small state through every chunk
without autograd, never building the (batch, d_inner, d_state, L) states. `models.scan` chooses among
them. `ScanInputs` holds the operands of one scan, as every entry point of `models.scan` receives them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "ChunkSolver",
    "ScanInputs",
    "chunked_scan",
    "discretise",
    "selective_scan_streaming",
    "solve_chunk_parallel",
    "solve_chunk_sequential",
    "step_sizes",
]

ChunkSolver = Callable[[Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class ScanInputs:
    """The operands of one selective scan, named and laid out as mamba-ssm's `selective_scan_fn` takes them.

    Shapes and meaning: see `models.scan.selective_scan`. ``u``, ``delta``, ``B``, ``C`` and ``z`` run
    along the sequence (last axis L); ``A``, ``D`` and ``delta_bias`` are per channel.
    """

    u: Tensor
    delta: Tensor
    A: Tensor
    B: Tensor
    C: Tensor
    D: Tensor | None = None
    z: Tensor | None = None
    delta_bias: Tensor | None = None
    delta_softplus: bool = True

    def needs_grad(self) -> bool:
        """Whether autograd would record an operation on these tensors."""
        tensors = (self.u, self.delta, self.A, self.B, self.C, self.D, self.z, self.delta_bias)
        return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)

    def with_reverse(self) -> ScanInputs:
        """These sequences followed, along the batch, by the same sequences reversed along L."""
        u, delta, B, C = (torch.cat([t, t.flip(-1)]) for t in (self.u, self.delta, self.B, self.C))
        z = None if self.z is None else torch.cat([self.z, self.z.flip(-1)])
        return dataclasses.replace(self, u=u, delta=delta, B=B, C=C, z=z)


def step_sizes(scan: ScanInputs) -> Tensor:
    """softplus(delta + bias) in float32, (batch, d_inner, L)."""
    delta = scan.delta.float()
    if scan.delta_bias is not None:
        delta = delta + scan.delta_bias.float()[:, None]
    return F.softplus(delta) if scan.delta_softplus else delta


def discretise(scan: ScanInputs) -> tuple[Tensor, Tensor]:
    """Log-decays delta A and inputs delta B u of the recurrence, (batch, d_inner, d_state, L), float32."""
    delta = step_sizes(scan)
    log_decay = delta[:, :, None, :] * scan.A.float()[None, :, :, None]
    inputs = (delta * scan.u.float())[:, :, None, :] * scan.B.float()[:, None, :, :]
    return log_decay, inputs


def solve_chunk_parallel(log_decay: Tensor, inputs: Tensor) -> Tensor:
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


def solve_chunk_sequential(log_decay: Tensor, inputs: Tensor) -> Tensor:
    """Same result as `solve_chunk_parallel` by stepping through the (short) last axis.

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


def chunked_scan(log_decay: Tensor, inputs: Tensor, chunk_size: int, solve: ChunkSolver) -> Tensor:
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
    ends = chunked_scan(cum[..., -1], local[..., -1], chunk_size, solve)  # true state at each chunk end
    entering = F.pad(ends[..., :-1], (1, 0))  # state entering chunk c = end state of chunk c - 1
    states = local + cum.exp() * entering[..., None]
    return states.flatten(-2)[..., :length]


# --------------------------------------------------------------------------------------------------
# Streaming solver (no gradient, CPU): the (batch, d_inner, d_state, L) tensors are never built
# --------------------------------------------------------------------------------------------------


def step_major(x: Tensor, n_chunks: int, chunk_size: int) -> Tensor:
    """(batch, F, L) -> (chunk_size, batch, n_chunks, F) contiguous, zero-padded to n_chunks chunks.

    Steps first, so that step t of every chunk is one contiguous slice. Padding with zeros is harmless:
    a zero step size decays by exp(0) = 1 and adds no input, and the padded outputs are cut off.
    """
    pad = n_chunks * chunk_size - x.shape[-1]
    if pad:
        x = F.pad(x, (0, pad))
    return x.unflatten(-1, (n_chunks, chunk_size)).permute(3, 0, 2, 1).contiguous()


def stream_chunks(
    delta: Tensor, delta_u: Tensor, A: Tensor, B: Tensor, C: Tensor | None, state: Tensor
) -> Tensor:
    """Step h_t = exp(delta_t A) h_{t-1} + delta_t u_t B_t through every chunk at once, in place.

    Inputs are step-major (`step_major`); ``state`` (batch, n_chunks, d_inner, d_state) is the state
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


def selective_scan_streaming(scan: ScanInputs, chunk_size: int) -> Tensor:
    """Selective scan without autograd support, streaming the state through each chunk: y (batch, E, L).

    Before the skip connection and the gate (D and z are not used). Pass 1 steps every chunk from a zero
    state to its end state; the states entering the chunks then follow a short recurrence (decay
    exp(A sum(delta)) per chunk, solved by `chunked_scan`); pass 2 steps again from the true entering
    states and emits y. With one chunk (L <= chunk_size) pass 1 is skipped.
    """
    u, length = scan.u, scan.u.shape[-1]
    delta = step_sizes(scan)
    n_chunks = -(-length // chunk_size)
    steps = min(length, chunk_size)
    A = scan.A.float()
    delta_s, delta_u_s, B_s, C_s = (
        step_major(x, n_chunks, steps) for x in (delta, delta * u.float(), scan.B.float(), scan.C.float())
    )
    batch, d_inner, d_state = u.shape[0], *A.shape
    state = delta_s.new_zeros(batch, n_chunks, d_inner, d_state)
    if n_chunks > 1:
        ends = stream_chunks(delta_s, delta_u_s, A, B_s, None, state)  # each chunk from a zero state
        log_total = delta_s.sum(0)[..., None] * A  # (batch, n_chunks, E, N): the chunk's log-decay
        ends = chunked_scan(log_total.movedim(1, -1), ends.movedim(1, -1), chunk_size, solve_chunk_sequential)
        state = F.pad(ends[..., :-1], (1, 0)).movedim(-1, 1).contiguous()  # state entering each chunk
    ys = stream_chunks(delta_s, delta_u_s, A, B_s, C_s, state)  # (steps, batch, n_chunks, E)
    return ys.permute(1, 3, 2, 0).flatten(-2)[..., :length]
