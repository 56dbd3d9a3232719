"""The sample drawn from the map: its class table, the frame's counts, the sizes per stratum, the pixels.

The strata are the map's classes (its `.aux.xml` CategoryNames, or `--classes`), in the map's colours
when it has a colour table. The class names of `--expected-ua` and `--per-class` are checked here
against that table, once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from cfipt_cli.errors import CfiptUsageError, DataError
from cfipt_cli.io.classes import ClassInfo, ClassTable, load_class_table
from cfipt_cli.io.rasters import Grid, RasterSource, open_raster
from cfipt_cli.log import get_logger
from cfipt_cli.sample.frame import FrameCounts, SceneExclusion, count_frame, draw, locate
from cfipt_cli.sample.request import SampleRequest, SampleSize
from cfipt_cli.sample.size import allocate, check_given, formula_size

log = get_logger(__name__)


@dataclass(frozen=True)
class DrawnSample:
    """What pass 1 and pass 2 found: everything the points and the design are written from."""

    classes: ClassTable
    grid: Grid
    counts: FrameCounts
    sizes: dict[int, int]  # n_h per stratum (class id)
    expected_ua: dict[int, float] | None  # the formula's inputs, when the size came from it
    rows: np.ndarray
    cols: np.ndarray
    strata: np.ndarray  # the stratum (class id) of each point


def _map_table(request: SampleRequest, source: RasterSource) -> ClassTable:
    """The map's class table, in the colours of its colour table when it has one."""
    table = load_class_table(request.classes) if request.classes is not None else None
    table = table or ClassTable.from_aux_xml(request.map_path)
    if table is None:
        raise DataError(
            f"{request.map_path} has no class table (no CategoryNames in {request.map_path}.aux.xml); "
            "give --classes with the scene or model folder (or its JSON) that names its classes"
        )
    try:
        colours = source.dataset.colormap(1) if source.dataset is not None else {}
    except ValueError:  # no colour table
        colours = {}
    return ClassTable(
        ClassInfo(c.id, c.name, tuple(colours[c.id][:3]) if c.id in colours else c.colour) for c in table
    )


def _by_name(table: ClassTable, option: str, name: str) -> int:
    try:
        return table.id_of(name)
    except KeyError:
        raise CfiptUsageError(
            f"{option} {name}: the map has no class of that name; its classes: {', '.join(table.names)}"
        ) from None


def expected_accuracies(table: ClassTable, items: Sequence[tuple[str | None, float]]) -> dict[int, float]:
    """Per class id, its expected user's accuracy: the value named for it, else the value for all."""
    default = None
    named: dict[int, float] = {}
    for name, value in items:
        if name is None:
            default = value
        else:
            named[_by_name(table, "--expected-ua", name)] = value
    missing = [c.name for c in table if c.id not in named and default is None]
    if missing:
        raise CfiptUsageError(
            f"--expected-ua names no value for {', '.join(missing)}; give NAME=VALUE for each, or one "
            "VALUE for the classes not named"
        )
    return {c.id: named.get(c.id, default or 0.0) for c in table}


def _sizes(
    size: SampleSize, table: ClassTable, pixels: Mapping[int, int]
) -> tuple[dict[int, int], dict[int, float] | None]:
    ids = table.ids
    counts = [pixels[i] for i in ids]
    if size.method == "given":
        asked = {_by_name(table, "--per-class", name): points for name, points in size.per_class}
        given = check_given(table.names, [asked.get(i, 0) for i in ids], counts)
        unsampled = [c.name for c in table if asked.get(c.id, 0) == 0 and pixels[c.id] > 0]
        if unsampled:
            log.warning(
                "--per-class gives no point to %s: no estimate for these strata", ", ".join(unsampled)
            )
        return dict(zip(ids, given, strict=True)), None
    accuracies = expected_accuracies(table, size.expected_ua) if size.expected_ua else None
    n = size.n
    if accuracies is not None:
        frame = sum(counts)
        weights = [p / frame if frame else 0.0 for p in counts]
        n = formula_size(weights, [accuracies[i] for i in ids], size.target_se)
    assert n is not None  # SampleSize asks for -n or --expected-ua
    return dict(zip(ids, allocate(size.method, n, counts, size.minimum), strict=True)), accuracies


def draw_sample(request: SampleRequest) -> DrawnSample:
    """Read the map twice, window by window, and draw the sample (see `cfipt_cli.sample.frame`)."""
    with contextlib.ExitStack() as stack:
        source = open_raster(request.map_path, "map")
        stack.callback(source.close)
        if source.count != 1:
            raise DataError(f"{request.map_path} has {source.count} bands; a classification map has one")
        table = _map_table(request, source)
        exclusion = (
            SceneExclusion(request.exclude, source.grid, stack) if request.exclude is not None else None
        )
        counts = count_frame(source, table.ids, exclusion, request.block_size)
        if counts.unclassed:
            log.warning("%d map pixels hold values of no class of the table; left out", counts.unclassed)
        sizes, accuracies = _sizes(request.size, table, counts.pixels)
        ranks = draw(counts.pixels, sizes, request.seed)
        rows, cols, strata = locate(source, table.ids, exclusion, request.block_size, ranks)
    return DrawnSample(table, source.grid, counts, sizes, accuracies, rows, cols, strata)
