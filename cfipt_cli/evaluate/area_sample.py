"""A stratified random validation sample, as the area estimators read it (numpy and the standard library).

`StratifiedSample` holds the design (pixels per stratum N_h, the optional pixel area) and the sample
units (per unit its stratum, its map class and its reference class), checked once when it is built.
The strata may be the map's classes (Olofsson et al. 2014) or any other partition of the map (Stehman
2014): a stratum is named by a class id or name when the strata are the map classes, else by any key.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cfipt_cli.errors import DataError

StratumKey = int | str


@dataclass(frozen=True)
class AreaClass:
    """A class of the map and of the reference: its id (the value in the samples) and its name."""

    id: int
    name: str


@dataclass(frozen=True)
class SampleUnit:
    """One labelled sample unit: the stratum it was drawn from, its map class and its reference class."""

    stratum: StratumKey
    map_class: int
    reference: int


def _check_classes(classes: tuple[AreaClass, ...]) -> None:
    if not classes:
        raise DataError("an area estimate needs at least one class")
    for what, keys in (("id", [c.id for c in classes]), ("name", [c.name for c in classes])):
        repeated = sorted(str(k) for k, count in Counter(keys).items() if count > 1)
        if repeated:
            raise DataError(f"class {what}s must be unique; repeated: {', '.join(repeated)}")


def _check_counts(pixels_of: Mapping[Any, int], what: str) -> None:
    for key, pixels in pixels_of.items():
        if isinstance(pixels, bool) or not isinstance(pixels, int) or pixels < 0:
            raise DataError(f"{what} {key!r}: its pixel count must be an integer >= 0, not {pixels!r}")


def _check_strata(strata: Mapping[StratumKey, int]) -> None:
    if not strata:
        raise DataError("the sample design has no strata (pixels per stratum)")
    _check_counts(strata, "stratum")


def _check_units(units: tuple[SampleUnit, ...], strata: Mapping[StratumKey, int], ids: set[int]) -> None:
    for number, unit in enumerate(units, start=1):
        if unit.stratum not in strata:
            raise DataError(f"sample unit {number}: stratum {unit.stratum!r} is not in the design")
        for what, value in (("map class", unit.map_class), ("reference class", unit.reference)):
            if value not in ids:
                raise DataError(f"sample unit {number}: {what} {value!r} is not in the class list")
    drawn = Counter(unit.stratum for unit in units)
    for key, count in drawn.items():
        if 0 < strata[key] < count:
            raise DataError(
                f"stratum {key!r}: {count} sample units drawn from {strata[key]} pixels; a random sample "
                "without replacement cannot hold more units than the stratum has pixels"
            )


@dataclass(frozen=True)
class StratifiedSample:
    """A stratified random sample with its design, checked once here.

    - `classes`: the classes of the map and the reference, in report order.
    - `strata`: N_h, the pixels of each stratum (the population); 0 is allowed (an empty stratum).
    - `units`: the labelled sample units.
    - `pixel_area_m2`: the area of one pixel in map units (m^2), when the CRS is projected.
    - `mapped_pixels`: pixels per map class (class id -> pixels), for the mapped area beside the
      estimate; when None and the strata are the map classes, N_h of each class's stratum.
    """

    classes: tuple[AreaClass, ...]
    strata: Mapping[StratumKey, int]
    units: tuple[SampleUnit, ...]
    pixel_area_m2: float | None = None
    mapped_pixels: Mapping[int, int] | None = None
    _stratum_classes: dict[StratumKey, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_classes(self.classes)
        _check_strata(self.strata)
        _check_units(self.units, self.strata, self.class_ids)
        if self.pixel_area_m2 is not None and not (
            math.isfinite(self.pixel_area_m2) and self.pixel_area_m2 > 0
        ):
            raise DataError(f"the pixel area must be a positive number of m^2, not {self.pixel_area_m2!r}")
        if self.mapped_pixels is not None:
            unknown = sorted(str(k) for k in self.mapped_pixels if k not in self.class_ids)
            if unknown:
                raise DataError(
                    f"mapped pixels given for classes not in the class list: {', '.join(unknown)}"
                )
            _check_counts(self.mapped_pixels, "map class")
        object.__setattr__(self, "_stratum_classes", self._classes_of_strata())

    @property
    def class_ids(self) -> set[int]:
        return {c.id for c in self.classes}

    def _classes_of_strata(self) -> dict[StratumKey, int]:
        """The class each stratum stands for, by id (an int key) or by name (a str key), where one does."""
        by_name = {c.name: c.id for c in self.classes}
        found: dict[StratumKey, int] = {}
        for key in self.strata:
            if isinstance(key, int) and key in self.class_ids:
                found[key] = key
            elif isinstance(key, str) and key in by_name:
                found[key] = by_name[key]
        return found

    @property
    def strata_are_map_classes(self) -> bool:
        """True when each stratum is one map class and every unit was drawn from its map class's stratum."""
        if len(self._stratum_classes) != len(self.strata):
            return False
        if len(set(self._stratum_classes.values())) != len(self.strata):
            return False
        return all(self._stratum_classes[u.stratum] == u.map_class for u in self.units)

    def mapped_pixels_of(self, class_id: int) -> int | None:
        """Pixels mapped as the class: given, or N_h of its stratum when the strata are the map classes."""
        if self.mapped_pixels is not None:
            return self.mapped_pixels.get(class_id, 0)
        if not self.strata_are_map_classes:
            return None
        return sum(n for key, n in self.strata.items() if self._stratum_classes[key] == class_id)
