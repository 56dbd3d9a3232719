"""What `cfipt regularize` holds while it runs: GDAL's block cache bounded during the vote, the sieve and
the writes (not GDAL's default 5 % of RAM), and scratch files named for what they are, which the next run
removes when one was killed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import rasterio.env
from regularize_builders import noisy_map, write_map

from cfipt_cli.regularize import pipeline
from cfipt_cli.regularize.pipeline import GDAL_CACHE_MB, run_regularize
from cfipt_cli.regularize.request import RegularizeRequest


def _cache() -> Any:
    return rasterio.env.getenv().get("GDAL_CACHEMAX")


def test_the_vote_the_sieve_and_the_writes_run_under_a_bounded_block_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}
    real_vote, real_sieve, real_write = (
        pipeline.majority_vote,
        pipeline.sieve_band,
        pipeline.write_class_raster,
    )

    def vote(*args: Any) -> np.ndarray:
        seen["vote"] = _cache()
        return real_vote(*args)

    def sieve(source: Path, out: Path, *args: Any) -> np.memmap:
        seen["sieve"], seen["names"] = _cache(), (source.name, out.name)
        return real_sieve(source, out, *args)

    def write(*args: Any) -> dict[int, int]:
        seen["write"] = _cache()
        return real_write(*args)

    monkeypatch.setattr(pipeline, "majority_vote", vote)
    monkeypatch.setattr(pipeline, "sieve_band", sieve)
    monkeypatch.setattr(pipeline, "write_class_raster", write)
    write_map(tmp_path / "map.tif", noisy_map())
    run_regularize(RegularizeRequest(tmp_path / "map.tif", tmp_path / "clean.tif", radius=1, sieve=4))
    bound = GDAL_CACHE_MB * 1024 * 1024  # rasterio takes bytes: a bare 64 would be a 64-byte cache
    assert seen["vote"] == seen["sieve"] == seen["write"] == bound == 64 * 2**20
    voted, sieved = seen["names"]
    assert voted.startswith(".clean.tmp-") and voted.endswith(".tif")  # a real GeoTIFF of the voted ids
    assert sieved.startswith(".clean.tmp-") and sieved.endswith(".raw")  # the raw memory map, no .tif
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "clean.qml", "clean.tif", "clean.tif.aux.xml", "map.tif", "map.tif.aux.xml"
    ]  # fmt: skip


def test_the_scratch_files_of_a_killed_run_are_removed_by_the_next(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    dead = int(done.stdout)
    left = [tmp_path / f".clean.tmp-{dead}-k3y_x.raw", tmp_path / f".clean.tmp-{dead}-v0t3d.tif"]
    for path in left:
        path.write_bytes(b"\0" * 64)
    write_map(tmp_path / "map.tif", noisy_map())
    run_regularize(RegularizeRequest(tmp_path / "map.tif", tmp_path / "clean.tif", sieve=4))
    assert not any(path.exists() for path in left)
    with rasterio.open(tmp_path / "clean.tif") as src:
        assert src.read(1).shape == noisy_map().shape
