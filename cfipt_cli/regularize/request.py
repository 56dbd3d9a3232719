"""What `cfipt regularize` is asked: the map, the output, the majority radius, the sieve threshold."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cfipt_cli.errors import CfiptUsageError
from cfipt_cli.io.rasters import DEFAULT_WINDOW

CONNECTIVITIES = (4, 8)


@dataclass(frozen=True)
class RegularizeRequest:
    """One `cfipt regularize` run.

    Attributes:
        map_path: the classification map (one band of class ids with CategoryNames in its `.aux.xml`).
        out: the cleaned map to write (GeoTIFF).
        radius: majority vote in OTB's ball of this radius (`majority`), or None for none.
        sieve: remove connected regions of fewer pixels than this, or None for no sieve.
        connectivity: 4 or 8, the neighbours that make a region (the sieve's).
        creation_options: `--co` GDAL creation options (over the map's tiling and compression).
        overwrite: replace a map cfipt wrote before.
        block_size: the window size of the majority vote's reads (memory is bounded by one window).
    """

    map_path: Path
    out: Path
    radius: int | None = None
    sieve: int | None = None
    connectivity: int = 4
    creation_options: dict[str, str] = field(default_factory=dict)
    overwrite: bool = False
    block_size: int = DEFAULT_WINDOW

    def __post_init__(self) -> None:
        if self.radius is None and self.sieve is None:
            raise CfiptUsageError("give --radius R (majority vote), --sieve N (small regions), or both")
        if self.radius is not None and self.radius < 1:
            raise CfiptUsageError(f"--radius {self.radius}: give a radius of at least 1 pixel")
        if self.sieve is not None and self.sieve < 2:
            raise CfiptUsageError(f"--sieve {self.sieve}: give a region size of at least 2 pixels")
        if self.connectivity not in CONNECTIVITIES:
            raise CfiptUsageError(f"--connectivity {self.connectivity}: give 4 or 8")
        if self.block_size < 1:
            raise CfiptUsageError(f"the block size must be at least 1, not {self.block_size}")
