"""Peak memory of `cfipt regularize` on a generated blocky class map with 10 % noise.

The map (5 classes in 250 px blocks, 10 % of the pixels set to a random class, uint8, tiled, deflate,
with its class table) is written window by window into a temporary folder, `cfipt regularize` runs on
it in a child process with the given options, and the child reports its own peak resident set size
(getrusage(RUSAGE_SELF) at exit). The map is written by another child: Linux carries a process's peak
RSS across fork and exec, so a parent that wrote the map itself would pass its own peak on. GDAL_CACHEMAX is removed from the child's environment, so the figure is what a
user's run gets with cfipt's own bound. The folder is deleted afterwards.

    nice python benchmarks/regularize_memory.py [--size 4000] [--json] -- --sieve 10
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from cfipt_cli.io.classes import ClassTable
from cfipt_cli.io.mapio import write_class_sidecars

CLASSES = ClassTable.from_json(
    [{"id": i, "name": f"class {i}", "colour": f"#{i * 40:02x}8040"} for i in range(1, 6)]
)


# The cfipt CLI, then its own peak RSS in MB as the last line of stderr.
CHILD = """
import atexit, resource, sys
atexit.register(lambda: print("peak_rss_mb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, file=sys.stderr))
sys.argv[0] = "cfipt"
from cfipt_cli.cli.app import main
main()
"""


def write_noisy_map(path: Path, size: int, seed: int = 0) -> None:
    """The benchmark map, 512 rows at a time."""
    import rasterio

    rng = np.random.default_rng(seed)
    profile = {"driver": "GTiff", "width": size, "height": size, "count": 1, "dtype": "uint8", "nodata": 0,
               "tiled": True, "blockxsize": 512, "blockysize": 512, "compress": "deflate"}  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        for top in range(0, size, 512):
            rows, cols = np.indices((min(512, size - top), size))
            ids = ((rows + top) // 250 * 7 + cols // 250 * 3) % 5 + 1
            noise = rng.random(ids.shape) < 0.10
            ids[noise] = rng.integers(1, 6, int(noise.sum()))
            dst.write(ids.astype(np.uint8), 1, window=((top, top + ids.shape[0]), (0, size)))
        dst.write_colormap(1, {c.id: (*c.colour, 255) for c in CLASSES})
    write_class_sidecars(path, CLASSES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4000, help="map side in pixels")
    parser.add_argument("--workdir", default=None, help="where the temporary folder goes")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("options", nargs="*", default=["--sieve", "10"], help="cfipt regularize options")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cfipt-bench-", dir=args.workdir) as tmp:
        source = Path(tmp) / "map.tif"
        here = str(Path(__file__).resolve().parent)
        write = f"import sys; sys.path.insert(0, {here!r}); import regularize_memory as m; "
        write += f"m.write_noisy_map(__import__('pathlib').Path({str(source)!r}), {args.size})"
        subprocess.run([sys.executable, "-c", write], check=True)
        env = {k: v for k, v in os.environ.items() if k != "GDAL_CACHEMAX"}
        cli = [sys.executable, "-c", CHILD, "regularize", str(source), *args.options]
        cmd = [*cli, "--out", str(Path(tmp) / "clean.tif")]
        t0 = time.perf_counter()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode:
            sys.exit(done.stderr)
        seconds = time.perf_counter() - t0
        peak_mb = float(done.stderr.strip().splitlines()[-1].split()[-1])
    result = {
        "size": args.size,
        "options": args.options,
        "peak_rss_mb": round(peak_mb),
        "seconds": round(seconds, 1),
    }
    print(json.dumps(result) if args.json else f"{args.size} x {args.size} {' '.join(args.options)}: "
          f"peak RSS {peak_mb:.0f} MB in {seconds:.1f} s")  # fmt: skip


if __name__ == "__main__":
    main()
