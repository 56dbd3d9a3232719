"""What `area_estimates.estimate_area_accuracy` returns, and its JSON form (plain floats and None).

An undefined figure (a user's accuracy of a class no unit is mapped as, a standard error when a
stratum has a single unit) is None, never NaN, so that `to_json()` output is valid JSON as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CONFIDENCE_Z = 1.96  # 95 % confidence intervals: estimate +- 1.96 SE


@dataclass(frozen=True)
class Estimate:
    """An estimate and its standard error; None where undefined."""

    value: float | None
    se: float | None

    @property
    def ci95(self) -> tuple[float, float] | None:
        """The 95 % confidence interval, estimate +- 1.96 SE (None without both)."""
        if self.value is None or self.se is None:
            return None
        half = CONFIDENCE_Z * self.se
        return (self.value - half, self.value + half)

    def scaled(self, factor: float) -> Estimate:
        """The same estimate in another unit (proportion -> pixels, m^2 -> ha)."""
        return Estimate(
            None if self.value is None else self.value * factor,
            None if self.se is None else self.se * factor,
        )

    def to_json(self) -> dict[str, Any]:
        interval = self.ci95
        return {"estimate": self.value, "se": self.se, "ci95": None if interval is None else list(interval)}


@dataclass(frozen=True)
class AreaEstimate:
    """A class's estimated area: as a proportion of the population, in pixels, m^2 and ha."""

    proportion: Estimate
    pixels: Estimate
    square_metres: Estimate | None  # None without a pixel area
    hectares: Estimate | None

    def to_json(self) -> dict[str, Any]:
        return {
            "proportion": self.proportion.to_json(),
            "pixels": self.pixels.to_json(),
            "m2": None if self.square_metres is None else self.square_metres.to_json(),
            "ha": None if self.hectares is None else self.hectares.to_json(),
        }


@dataclass(frozen=True)
class ClassEstimate:
    """A class's user's and producer's accuracy, its estimated area and mapped area, its sample counts."""

    id: int
    name: str
    users_accuracy: Estimate
    producers_accuracy: Estimate
    area: AreaEstimate
    mapped_pixels: int | None  # None when unknown (strata that are not the map classes, none given)
    units_mapped: int  # n_i. : sample units mapped as the class
    units_reference: int  # n_.i : sample units with the class as reference

    def to_json(self, pixel_area_m2: float | None) -> dict[str, Any]:
        mapped_m2 = (
            None
            if self.mapped_pixels is None or pixel_area_m2 is None
            else self.mapped_pixels * pixel_area_m2
        )
        return {
            "id": self.id,
            "name": self.name,
            "users_accuracy": self.users_accuracy.to_json(),
            "producers_accuracy": self.producers_accuracy.to_json(),
            "area": self.area.to_json(),
            "mapped_area": {
                "pixels": self.mapped_pixels,
                "m2": mapped_m2,
                "ha": None if mapped_m2 is None else mapped_m2 * 1e-4,
            },
            "units_mapped": self.units_mapped,
            "units_reference": self.units_reference,
        }


@dataclass(frozen=True)
class AreaAccuracy:
    """Area-adjusted accuracy of a map from a stratified random sample, ready for the reports.

    `error_matrix[i][j]` is the estimated proportion of area mapped as class i whose reference is class
    j (rows: map, columns: reference, class order of `classes`); `sample_counts` holds the unit counts
    in the same layout. `population_pixels` are the pixels of the sampled strata, which the areas add up
    to; `excluded_pixels` those of strata left out for want of sample units.
    """

    method: str
    strata_are_map_classes: bool
    overall_accuracy: Estimate
    classes: tuple[ClassEstimate, ...]
    error_matrix: tuple[tuple[Estimate, ...], ...]
    sample_counts: tuple[tuple[int, ...], ...]
    population_pixels: int
    excluded_pixels: int
    sample_size: int
    pixel_area_m2: float | None
    finite_population_correction: bool
    notes: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """Plain dicts, lists, floats, ints, strings and None (json.dumps takes it as it is)."""
        return {
            "method": self.method,
            "strata_are_map_classes": self.strata_are_map_classes,
            "confidence_level": 0.95,
            "confidence_z": CONFIDENCE_Z,
            "finite_population_correction": self.finite_population_correction,
            "sample_size": self.sample_size,
            "population_pixels": self.population_pixels,
            "excluded_pixels": self.excluded_pixels,
            "pixel_area_m2": self.pixel_area_m2,
            "overall_accuracy": self.overall_accuracy.to_json(),
            "classes": [c.to_json(self.pixel_area_m2) for c in self.classes],
            "error_matrix": {
                "rows": "map class",
                "columns": "reference class",
                "classes": [c.name for c in self.classes],
                "proportions": [[cell.to_json() for cell in row] for row in self.error_matrix],
                "sample_counts": [list(row) for row in self.sample_counts],
            },
            "notes": list(self.notes),
        }
