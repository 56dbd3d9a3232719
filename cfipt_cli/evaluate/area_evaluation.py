"""The area-adjusted part of `cfipt evaluate` on a validation sample: from the points to `area_estimates`.

A vector reference with a sample design beside it (`contracts.sample_design`, written by `cfipt sample`)
is a stratified random sample: each labelled point is a sample unit whose map class is read from the
map at the point (warning when it differs from the point's `map_id`), whose stratum is its `stratum`
field and whose reference class is the class field. The strata sizes N_h, the pixel area and the mapped
pixels come from the design; with `--strata RASTER` the strata are the raster's values instead, their
sizes counted over the map's valid pixels window by window (Stehman 2014: strata need not be the map
classes). The estimates are those of `area_estimates`; points without a reference class, on nodata,
outside the map or in no stratum are left out and counted. A point layer without a design gets a note
saying why no area estimate is given.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cfipt_cli.contracts.sample_design import SampleDesign, design_path, read_design
from cfipt_cli.errors import DataError
from cfipt_cli.evaluate.area_estimates import estimate_area_accuracy
from cfipt_cli.evaluate.area_sample import AreaClass, SampleUnit, StratifiedSample, StratumKey
from cfipt_cli.evaluate.grids import on_map_grid
from cfipt_cli.evaluate.pixels import class_ids
from cfipt_cli.evaluate.request import EvaluationRequest
from cfipt_cli.evaluate.result import MatchedClass, warn
from cfipt_cli.evaluate.sample_points import (
    SamplePoints,
    all_points,
    map_values_at,
    read_sample_points,
    values_at,
)
from cfipt_cli.io.classes import ClassTable, name_key
from cfipt_cli.io.files import sha256_file
from cfipt_cli.io.rasters import RasterSource, iter_windows, open_raster
from cfipt_cli.io.vectors import name_of


@dataclass
class _ClassSpace:
    """The report's classes as the estimators see them: map and reference values -> report ids, and
    classes added for map values the evaluation did not meet (mapped pixels of unsampled classes)."""

    classes: list[AreaClass]
    by_map: dict[int, int]
    by_reference: dict[int, int]

    @classmethod
    def of(cls, matched: list[MatchedClass]) -> _ClassSpace:
        return cls(
            [AreaClass(c.id, c.name) for c in matched],
            {c.map_value: c.id for c in matched if c.map_value is not None},
            {c.reference_value: c.id for c in matched if c.reference_value is not None},
        )

    def of_map(self, value: int) -> int:
        if value not in self.by_map:
            new_id = max([c.id for c in self.classes] + [0]) + 1
            self.classes.append(AreaClass(new_id, f"map value {value}"))
            self.by_map[value] = new_id
        return self.by_map[value]


@dataclass
class _Strata:
    """The strata of the estimate: N_h by key, the key of each point (None: in no stratum), the mapped
    pixels by report class id, the pixel area."""

    pixels: dict[StratumKey, int]
    of_point: list[StratumKey | None]
    mapped: dict[int, int]
    pixel_area_m2: float | None
    source: str
    notes: list[str] = field(default_factory=list)


def _design_strata(design: SampleDesign, points: SamplePoints, space: _ClassSpace) -> _Strata:
    """The design's strata, each point's from its `stratum` field (a stratum id or name)."""

    def key(stratum_id: int, name: str) -> StratumKey:
        return space.of_map(stratum_id) if design.strata_are_map_classes else f"{stratum_id}: {name}"

    keys = {s.id: key(s.id, s.name) for s in design.strata}
    lookup: dict[str, StratumKey] = {name_key(s.name): keys[s.id] for s in design.strata}
    lookup.update({str(s.id): keys[s.id] for s in design.strata})
    raw = points.stratum if points.stratum is not None else [None] * points.total
    of_point = [None if v is None else lookup.get(name_key(name_of(v))) for v in raw]
    notes = [] if points.stratum is not None else ["the sample points have no 'stratum' field"]
    return _Strata(
        pixels={keys[s.id]: s.pixels for s in design.strata},
        of_point=of_point,
        mapped={space.of_map(v): n for v, n in design.mapped_pixels.items()},
        pixel_area_m2=design.pixel_area_m2,
        source="design" if design.strata_are_map_classes else f"design ({design.strata_source})",
        notes=notes,
    )


def _raster_strata(
    path: Path,
    map_source: RasterSource,
    nodata: list[float | None],
    points: SamplePoints,
    space: _ClassSpace,
    block_size: int,
) -> _Strata:
    """Strata from a raster: each point's from its value, N_h and mapped pixels counted over the map's
    valid pixels window by window."""
    notes: list[str] = []
    with contextlib.ExitStack() as stack:
        source = open_raster(path, "strata")
        stack.callback(source.close)
        aligned = on_map_grid(source, map_source.grid, "strata raster", notes)
        stack.callback(aligned.close)
        stratum_values = values_at(points, aligned.read, [], f"strata raster {path}")
        sizes: Counter[int] = Counter()
        mapped: Counter[int] = Counter()
        outside = 0
        for window in iter_windows(map_source.grid.height, map_source.grid.width, block_size):
            classes = class_ids(map_source.read(window)[0], nodata, "the map")
            strata = class_ids(aligned.read(window)[0], [], f"strata raster {path}")
            mapped.update(dict(zip(*np.unique(classes[classes > 0], return_counts=True), strict=True)))
            sizes.update(
                dict(zip(*np.unique(strata[(classes > 0) & (strata > 0)], return_counts=True), strict=True))
            )
            outside += int(np.count_nonzero((classes > 0) & (strata == 0)))
    if outside:
        notes.append(f"{outside} valid map pixels are in no stratum of {path}; they are not estimated")
    return _Strata(
        pixels={f"stratum {int(v)}": int(n) for v, n in sorted(sizes.items())},
        of_point=[f"stratum {int(v)}" if v > 0 else None for v in stratum_values],
        mapped={space.of_map(int(v)): int(n) for v, n in sorted(mapped.items())},
        pixel_area_m2=map_source.grid.pixel_area_m2,
        source=str(path),
        notes=notes,
    )


@dataclass(frozen=True)
class _Units:
    """The sample units, and what happened to every point (the `points` of the report)."""

    units: tuple[SampleUnit, ...]
    counts: dict[str, int]


def _units(points: SamplePoints, map_values: np.ndarray, strata: _Strata, space: _ClassSpace) -> _Units:
    """Each usable point as a unit; the others counted by why they are left out (first reason wins)."""
    units: list[SampleUnit] = []
    reasons: Counter[str] = Counter()
    for i in range(points.total):
        stratum = strata.of_point[i]
        reference = space.by_reference.get(int(points.reference[i]))
        if not points.inside[i]:
            reasons["outside_map"] += 1
        elif points.reference[i] == 0:
            reasons["unlabelled"] += 1
        elif map_values[i] == 0:
            reasons["on_nodata"] += 1
        elif stratum is None or stratum not in strata.pixels:
            reasons["in_no_stratum"] += 1
        elif reference is None:
            reasons["unmatched_reference"] += 1
        else:
            units.append(SampleUnit(stratum, space.of_map(int(map_values[i])), reference))
    differs = points.inside & (map_values > 0) & (points.map_id > 0) & (points.map_id != map_values)
    counts = {"total": points.total, "used": len(units)}
    counts.update({k: reasons[k] for k in REASONS})
    counts["map_id_differs"] = int(np.count_nonzero(differs))
    return _Units(tuple(units), counts)


REASONS = ("unlabelled", "on_nodata", "outside_map", "in_no_stratum", "unmatched_reference")
REASON_WORDS = {
    "unlabelled": "without a reference class",
    "on_nodata": "on map nodata",
    "outside_map": "outside the map",
    "in_no_stratum": "in no stratum",
    "unmatched_reference": "with a reference class the evaluation did not match",
}


def _point_notes(counts: dict[str, int], reference: Path, notes: list[str]) -> None:
    left = [f"{counts[k]} {REASON_WORDS[k]}" for k in REASONS if counts[k]]
    if left:
        warn(notes, f"area estimate: sample points of {reference} left out: {', '.join(left)}")
    if counts["map_id_differs"]:
        warn(
            notes,
            f"area estimate: {counts['map_id_differs']} sample points have a map_id other than the map's "
            "class at the point; the map's class is used",
        )


def _design_json(design: SampleDesign | None, reference: Path, matches: bool | None) -> dict[str, Any] | None:
    if design is None:
        return None
    return {
        "path": str(design_path(reference)),
        "allocation": design.allocation,
        "seed": design.seed,
        "strata_source": design.strata_source,
        "map_sha256": design.map_sha256,
        "map_sha256_matches": matches,
        "sample_size": design.sample_size,
    }


def _checked_design(request: EvaluationRequest, notes: list[str]) -> tuple[SampleDesign | None, bool | None]:
    """The design beside a vector reference (None: none), and whether the map is the one it was drawn from."""
    design = read_design(request.reference) if request.kind == "vector" else None
    if design is None:
        return None, None
    matches = sha256_file(request.map_path) == design.map_sha256
    if not matches:
        warn(
            notes,
            f"{request.map_path} is not the map the sample was drawn from (its sha256 differs from the "
            f"design's, {design.map_path}); the estimates are of this map",
        )
    return design, matches


def _no_design_note(request: EvaluationRequest, notes: list[str]) -> None:
    if request.kind == "vector" and all_points(request.reference):
        warn(
            notes,
            f"no area estimate: {request.reference} has no sample design beside it "
            f"({design_path(request.reference).name}, written by cfipt sample), so its strata sizes are "
            "unknown; give --strata RASTER if it is a stratified random sample of that raster's strata",
        )


def may_estimate_area(request: EvaluationRequest) -> bool:
    """True when the reference may give area estimates (a vector layer with a design beside it, or
    --strata): the report files of the estimate are then planned before the work."""
    kind_fits = request.kind == "vector" and request.field is not None
    return kind_fits and (request.strata is not None or design_path(request.reference).exists())


def area_section(
    request: EvaluationRequest, map_table: ClassTable | None, matched: list[MatchedClass], notes: list[str]
) -> dict[str, Any] | None:
    """The `area_estimates` of the report, or None when the reference is no sample with a design (and
    no --strata); warnings go to `notes`."""
    design, matches = _checked_design(request, notes)
    if request.field is None or (design is None and request.strata is None):
        _no_design_note(request, notes)
        return None
    space = _ClassSpace.of(matched)
    with contextlib.ExitStack() as stack:
        map_source = open_raster(request.map_path, "map")
        stack.callback(map_source.close)
        nodata = [map_source.nodata, request.nodata]
        points = read_sample_points(request.reference, request.field, map_source.grid, map_table)
        map_values = map_values_at(points, map_source, nodata)
        if request.strata is not None:
            strata = _raster_strata(request.strata, map_source, nodata, points, space, request.block_size)
        else:
            assert design is not None  # for mypy: checked above
            strata = _design_strata(design, points, space)
    section = _estimate(request.reference, strata, _units(points, map_values, strata, space), space, notes)
    if section is not None:
        section["design"] = _design_json(design, request.reference, matches)
    return section


def _estimate(
    reference: Path, strata: _Strata, units: _Units, space: _ClassSpace, notes: list[str]
) -> dict[str, Any] | None:
    """The estimates of the units (None, with a warning, when the sample contradicts its design)."""
    for note in strata.notes:
        warn(notes, f"area estimate: {note}")
    _point_notes(units.counts, reference, notes)
    try:
        sample = StratifiedSample(
            tuple(space.classes), strata.pixels, units.units, strata.pixel_area_m2, strata.mapped
        )
    except DataError as exc:
        warn(notes, f"no area estimate: {exc}")
        return None
    section = estimate_area_accuracy(sample).to_json()
    section["strata"] = strata.source
    section["points"] = units.counts
    return section
