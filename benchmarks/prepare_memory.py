"""Peak memory of `cfipt prepare` on a generated 4000 x 4000 x 64-band HSI + DSM scene.

The scene (int16 HSI, a float32 DSM in another CRS at 2 m, 400 label polygons) is written window by
window into a temporary folder, `cfipt prepare` runs on it in a child process, and the child's peak
resident set size is read with getrusage(RUSAGE_CHILDREN). The folder is deleted afterwards.

    nice python benchmarks/prepare_memory.py [--size 4000] [--bands 64] [--json]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cfipt_cli.testing.synthetic import write_large_scene


def _size(paths: list[Path]) -> int:
    return sum(f.stat().st_size for p in paths for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4000, help="scene side in pixels")
    parser.add_argument("--bands", type=int, default=64, help="HSI bands")
    parser.add_argument("--workdir", default=None, help="where the temporary folder goes")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cfipt-bench-", dir=args.workdir) as tmp:
        t0 = time.perf_counter()
        paths = write_large_scene(tmp, height=args.size, width=args.size, n_bands=args.bands)
        t_gen = time.perf_counter() - t0
        out = Path(tmp) / "scene"
        cmd = [
            sys.executable,
            "-m",
            "cfipt_cli",
            "-q",
            "prepare",
            "--hsi",
            str(paths["hsi"]),
            "--lidar",
            str(paths["lidar"]),
            "--labels",
            str(paths["labels"]),
            "--label-field",
            "class",
            "--out",
            str(out),
            "--json",
        ]
        t0 = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        t_prep = time.perf_counter() - t0
        if done.returncode != 0:
            sys.exit(f"cfipt prepare failed ({done.returncode}): {done.stderr.strip()}")
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # Linux reports KiB
        inputs = _size(list(paths.values()))
        result = {
            "scene": f"{args.size} x {args.size} px, {args.bands} HSI bands (int16) + 1 DSM band",
            "input_bytes": inputs,
            "output_bytes": _size([out]),
            "peak_rss_bytes": peak,
            "peak_rss_over_input": round(peak / inputs, 4),
            "generate_s": round(t_gen, 1),
            "prepare_s": round(t_prep, 1),
            "summary": json.loads(done.stdout),
        }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"scene       {result['scene']}")
    print(f"input       {inputs / 2**30:.2f} GiB")
    print(f"output      {result['output_bytes'] / 2**30:.2f} GiB (scene folder)")
    print(f"peak RSS    {peak / 2**20:.0f} MiB ({100 * peak / inputs:.1f} % of the input)")
    print(f"time        generate {t_gen:.0f} s, prepare {t_prep:.0f} s")


if __name__ == "__main__":
    main()
