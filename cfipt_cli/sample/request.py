"""What `cfipt sample` is asked: the map, the output, the sample size and its allocation, the seed.

The form of every option is checked here, once (ranges, options that contradict each other); what
needs the map (class names, pixel counts) is checked when the map is read (`cfipt_cli.sample.plan`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cfipt_cli.contracts.sample_design import ALLOCATIONS
from cfipt_cli.errors import CfiptUsageError
from cfipt_cli.io.rasters import DEFAULT_WINDOW
from cfipt_cli.io.vectors import WRITE_DRIVERS, write_driver

DEFAULT_TARGET_SE = 0.01  # of the overall accuracy (Olofsson et al. 2014, section 5.1)
DEFAULT_MIN_PER_CLASS = 50  # Olofsson et al. 2014's suggestion for rare classes


@dataclass(frozen=True)
class SampleSize:
    """How many points and how they are shared among the strata.

    Attributes:
        n: the sample size (`-n`), or None for the formula or the given sizes.
        expected_ua: expected user's accuracies for the formula: (class name, value) pairs, a name of
            None giving the value of every class not named.
        target_se: the target standard error of the overall accuracy (the formula's S(O)).
        allocation: one of ALLOCATIONS, or None to infer it (given with `per_class`, min-per-class with
            `min_per_class`, else proportional).
        min_per_class: the minimum points per class of min-per-class (default 50).
        per_class: (class name, points) pairs of the given allocation.
    """

    n: int | None = None
    expected_ua: tuple[tuple[str | None, float], ...] = ()
    target_se: float = DEFAULT_TARGET_SE
    allocation: str | None = None
    min_per_class: int | None = None
    per_class: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        if self.allocation is not None and self.allocation not in ALLOCATIONS:
            raise CfiptUsageError(f"--allocation {self.allocation}: give one of {', '.join(ALLOCATIONS)}")
        if self.n is not None and self.n < 1:
            raise CfiptUsageError(f"-n {self.n}: the sample size must be at least 1")
        if not 0 < self.target_se < 1:
            raise CfiptUsageError(f"--target-se {self.target_se}: give a standard error in (0, 1)")
        if self.min_per_class is not None and self.min_per_class < 1:
            raise CfiptUsageError(f"--min-per-class {self.min_per_class}: give at least 1")
        for name, value in self.expected_ua:
            if not 0 < value < 1:
                what = f"{name}={value}" if name is not None else str(value)
                raise CfiptUsageError(f"--expected-ua {what}: an expected user's accuracy is in (0, 1)")
        for name, points in self.per_class:
            if points < 0:
                raise CfiptUsageError(f"--per-class {name}={points}: give a number of points >= 0")
        self._check_combination()

    def _check_combination(self) -> None:
        method = self.method
        if method == "given":
            if not self.per_class:
                raise CfiptUsageError("--allocation given needs --per-class NAME=N (repeatable)")
            if self.n is not None or self.expected_ua:
                raise CfiptUsageError("--per-class gives the sample size; drop -n and --expected-ua")
        elif self.per_class:
            raise CfiptUsageError(f"--per-class goes with --allocation given, not {method}")
        elif (self.n is None) == (not self.expected_ua):
            raise CfiptUsageError(
                "give the sample size: -n N, or --expected-ua (with --target-se) for the formula, not both"
            )
        if self.min_per_class is not None and method != "min-per-class":
            raise CfiptUsageError(f"--min-per-class goes with --allocation min-per-class, not {method}")

    @property
    def method(self) -> str:
        """The allocation, inferred from the options given when --allocation is not."""
        if self.allocation is not None:
            return self.allocation
        if self.per_class:
            return "given"
        return "min-per-class" if self.min_per_class is not None else "proportional"

    @property
    def minimum(self) -> int:
        return self.min_per_class if self.min_per_class is not None else DEFAULT_MIN_PER_CLASS


@dataclass(frozen=True)
class SampleRequest:
    """One `cfipt sample` run.

    Attributes:
        map_path: the classification map (GeoTIFF, one band of class ids).
        out: the points file (its suffix picks the format: .gpkg, .geojson or .fgb).
        size: the sample size and its allocation.
        seed: the seed of the random draw (the same seed draws the same points).
        classes: the map's class table when it has no `.aux.xml` (a scene or model folder or its JSON).
        exclude: a prepared scene whose training and test pixels are left out of the frame.
        overwrite: replace a sample cfipt wrote before.
        block_size: the window size of the reads (memory is bounded by one window).
    """

    map_path: Path
    out: Path
    size: SampleSize
    seed: int = 0
    classes: Path | None = None
    exclude: Path | None = None
    overwrite: bool = False
    block_size: int = DEFAULT_WINDOW

    def __post_init__(self) -> None:
        if write_driver(self.out) is None:
            raise CfiptUsageError(
                f"--out {self.out}: give a file ending in {', '.join(sorted(WRITE_DRIVERS))}"
            )
        if self.seed < 0:
            raise CfiptUsageError(f"--seed {self.seed}: give a seed >= 0")
        if self.block_size < 1:
            raise CfiptUsageError(f"the block size must be at least 1, not {self.block_size}")

    @property
    def style_path(self) -> Path:
        """The QGIS style beside the points: `<out stem>.qml`, the name QGIS looks for."""
        return self.out.with_suffix(".qml")
