"""This process's place in a torch.distributed job (torchrun), and the blocks it claims.

Ranks claim the blocks without a part dynamically: a claim is the atomic creation of `claim-NNNNNN` in
the work folder (`PartStore.claim`: `os.open(O_CREAT | O_EXCL)`, which works across the nodes of a
shared filesystem too), so a fast rank takes more blocks and no rank idles while a block is unclaimed.
A rank claims the next block ahead of time (to read it while the device computes) only while at least
`world_size` blocks are unclaimed, so the last blocks go to idle ranks, not to a busy one's queue.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cfipt_cli.log import get_logger
from cfipt_cli.predict.settings import DEFAULT_DIST_TIMEOUT_S

if TYPE_CHECKING:
    import torch

    from cfipt_cli.predict.blocks import Block
    from cfipt_cli.predict.parts import PartStore

log = get_logger(__name__)


@dataclass
class Ranks:
    """This process's place in a torch.distributed job (rank 0 of 1 without one)."""

    rank: int = 0
    world_size: int = 1
    device_ids: list[int] | None = None  # NCCL's barrier device; None with gloo
    collectives_on_cpu: bool = False  # gloo: the sums run on CPU tensors

    def barrier(self) -> None:
        """Wait for every rank (no-op for a single process)."""
        if self.world_size > 1:
            import torch.distributed as dist

            dist.barrier(device_ids=self.device_ids)

    def sum(self, values: list[int], device: torch.device) -> list[int]:
        """Element-wise sum of `values` over all ranks."""
        if self.world_size == 1:
            return values
        import torch
        import torch.distributed as dist

        tensor = torch.tensor(values, dtype=torch.int64, device="cpu" if self.collectives_on_cpu else device)
        dist.all_reduce(tensor)
        return [int(v) for v in tensor.tolist()]


def init_ranks(device_spec: str, timeout_s: float = DEFAULT_DIST_TIMEOUT_S) -> tuple[Ranks, torch.device]:
    """Join the torch.distributed job torchrun started (WORLD_SIZE > 1), else a single process.

    Each rank of a CUDA job takes GPU LOCAL_RANK and NCCL (a `--device cuda:N` is overridden, with a
    warning). With more ranks on a node than GPUs (LOCAL_WORLD_SIZE > GPUs) ranks share them, GPU
    LOCAL_RANK % GPUs, and use gloo (NCCL refuses two ranks on one GPU); CPU jobs use gloo.
    `timeout_s` bounds every collective: a finished rank waits in one for the others' last blocks.
    """
    import datetime

    import torch

    from cfipt_cli.compute.devices import resolve_device

    device = resolve_device(device_spec)
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Ranks(), device
    import torch.distributed as dist

    device_ids, backend = None, "gloo"
    if device.type == "cuda":
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        gpus = torch.cuda.device_count()
        shared = int(os.environ.get("LOCAL_WORLD_SIZE", "1")) > gpus
        if shared:
            log.warning("%d GPU(s) for more ranks on this node: ranks share them (gloo)", gpus)
        elif device.index is not None and device.index != local_rank:
            log.warning(
                "--device %s is overridden under torchrun: rank %s uses cuda:%d (LOCAL_RANK); pass "
                "--device cuda and choose GPUs with CUDA_VISIBLE_DEVICES",
                device,
                os.environ.get("RANK", "?"),
                local_rank,
            )
        device = torch.device("cuda", local_rank % gpus)
        torch.cuda.set_device(device)
        if not shared:
            device_ids, backend = [device.index], "nccl"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(seconds=timeout_s))
    ranks = Ranks(dist.get_rank(), dist.get_world_size(), device_ids, collectives_on_cpu=backend == "gloo")
    return ranks, device


class BlockClaims:
    """The blocks of `todo` this rank gets, claimed one at a time in the work folder (a `BlockSource`)."""

    def __init__(self, store: PartStore, todo: list[Block], world_size: int):
        self.store, self.todo, self.world_size = store, todo, world_size
        self.cursor = 0  # claims never go away during a run: blocks before the cursor are taken

    def __call__(self, ahead: bool) -> Block | None:
        while self.cursor < len(self.todo):
            # Claiming ahead keeps this rank's device busy, but near the end it would take a block
            # from a rank that has none: only while every other rank can still find one.
            if ahead and self.world_size > 1 and len(self.todo) - self.store.claimed() < self.world_size:
                return None
            block = self.todo[self.cursor]
            self.cursor += 1
            if self.store.claim(block.index):
                return block
        return None
