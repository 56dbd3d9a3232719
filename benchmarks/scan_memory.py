"""Peak memory of a ViT-B-16 CF-IPT inference forward (Houston preset) with each selective-scan policy.

`auto` is the policy cfipt uses on every device: without autograd the streaming solver, whose state is
(batch, d_inner, d_state) per chunk. `parallel` forces the parallel chunk solver everywhere, the policy
that CUDA used to get: (batch, d_inner, d_state, L / 8, 8, 8) float32 tensors per scan. The forward
runs on CPU (no GPU needed) in a child process per (policy, batch); the figure is the child's peak
resident set size minus its resident size just before the forward (model built, inputs made), so it
counts what the forward itself allocates. Random backbone weights; nothing is downloaded.

    nice python benchmarks/scan_memory.py [--batches 1 4 16 64] [--parallel-batches 1 2 4] [--json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys


def _child(policy: str, batch: int) -> None:
    import resource
    import warnings

    import torch

    import models.scan as scan
    from models import CFIPT, CFIPTConfig

    if policy == "parallel":
        auto_settings = scan._solver_settings

        def always_parallel(u, d_state, chunk_size, parallel, needs_grad):  # type: ignore[no-untyped-def]
            return auto_settings(u, d_state, chunk_size, True, needs_grad)

        scan._solver_settings = always_parallel
    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = CFIPT(CFIPTConfig.from_preset("houston", clip_model="ViT-B-16-quickgelu", pretrained=None))
    model.eval()
    gen = torch.Generator().manual_seed(0)
    hsi, aux = torch.randn(batch, 144, 11, 11, generator=gen), torch.randn(batch, 1, 11, 11, generator=gen)
    with torch.inference_mode():
        model(hsi[:1], aux[:1])  # warm-up: lazy caches and allocator pools of a one-pixel forward
        before = _rss_kib()
        model(hsi, aux)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"policy": policy, "batch": batch, "forward_mib": round((peak - before) / 1024, 1)}))


def _rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4, 16, 64], help="batches, auto policy")
    parser.add_argument(
        "--parallel-batches", type=int, nargs="+", default=[1, 2, 4], help="batches, parallel policy"
    )
    parser.add_argument("--json", action="store_true", help="print JSON lines only")
    parser.add_argument("--child", nargs=2, metavar=("POLICY", "BATCH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], int(args.child[1]))
        return
    results = []
    for policy, batches in (("auto", args.batches), ("parallel", args.parallel_batches)):
        for batch in batches:
            cmd = [sys.executable, __file__, "--child", policy, str(batch)]
            done = subprocess.run(cmd, capture_output=True, text=True, check=True)
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(json.dumps(results[-1]) if args.json else _line(results[-1]), flush=True)
    if not args.json:
        for policy in ("auto", "parallel"):
            rows = [r for r in results if r["policy"] == policy]
            if len(rows) >= 2:
                slope = (rows[-1]["forward_mib"] - rows[0]["forward_mib"]) / (
                    rows[-1]["batch"] - rows[0]["batch"]
                )
                print(f"{policy}: {slope:.1f} MiB per pixel of batch")


def _line(result: dict[str, object]) -> str:
    return f"{result['policy']:>8}  batch {result['batch']:>4}  forward {result['forward_mib']:>9} MiB"


if __name__ == "__main__":
    main()
