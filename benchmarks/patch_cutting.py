"""Host time of cutting a batch of patches for `cfipt predict`: on the host (before) vs on the device.

Usage:
    python benchmarks/patch_cutting.py                      # 145 bands, 512 px blocks, batches of 256
    python benchmarks/patch_cutting.py --bands 16 --block 64 --batch 64 --json

Before, the thread that feeds the GPU cut each batch on the host (`patches.extract_patches`, then
pinning it); now the block is packed once per block into a (pinned) buffer by the reader thread
(`devices.Staged`), uploaded in one transfer, and each batch is cut on the device
(`patches.gather_patches`). Measured here, per batch unless said otherwise:

- host_cut_ms: `extract_patches` + `torch.from_numpy` (the old per-batch host work, pinning not
  included: it needs CUDA);
- device_cut_dispatch_ms: `gather_patches` on "meta" tensors: the host-side cost of issuing the cut
  (Python, dispatcher, shape logic) without running it, which is what the feeding thread pays on a GPU;
- device_cut_on_cpu_ms: `gather_patches` run on CPU tensors (the work a GPU does instead);
- stage_block_ms: packing the whole block (per block, in the reader thread).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _best_ms(fn: Any, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return round(best * 1e3, 3)


def measure(bands: int, block: int, batch: int, patch_size: int = 11, repeats: int = 20) -> dict[str, Any]:
    """Best-of-`repeats` milliseconds of each way of cutting one batch (see the module docstring)."""
    import torch

    from cfipt_cli.compute.devices import Staged
    from cfipt_cli.compute.patches import extract_patches, gather_patches

    rng = np.random.default_rng(0)
    r = patch_size // 2
    padded = rng.normal(size=(bands, block + 2 * r, block + 2 * r)).astype(np.float32)
    rows, cols = rng.integers(0, block, batch), rng.integers(0, block, batch)
    on_cpu = [torch.from_numpy(a) for a in (padded, rows, cols)]
    on_meta = [t.to("meta") for t in on_cpu]
    assert torch.equal(
        gather_patches(*on_cpu, patch_size), torch.from_numpy(extract_patches(padded, rows, cols, patch_size))
    )
    return {
        "bands": bands,
        "block": block,
        "batch": batch,
        "patch_size": patch_size,
        "threads": torch.get_num_threads(),
        "host_cut_ms": _best_ms(
            lambda: torch.from_numpy(extract_patches(padded, rows, cols, patch_size)), repeats
        ),
        "device_cut_dispatch_ms": _best_ms(lambda: gather_patches(*on_meta, patch_size), repeats),
        "device_cut_on_cpu_ms": _best_ms(lambda: gather_patches(*on_cpu, patch_size), repeats),
        "stage_block_ms": _best_ms(lambda: Staged([padded, rows, cols]), max(3, repeats // 4)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bands", type=int, default=145)
    parser.add_argument("--block", type=int, default=512)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: its default)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    result = measure(args.bands, args.block, args.batch, repeats=args.repeats)
    print(json.dumps(result) if args.json else "\n".join(f"{k}: {v}" for k, v in result.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
