"""`cfipt sample`: the output policy, the draw (`plan.draw_sample`), the points, the design and the style.

Outputs: the points (`--out`, layer "samples", fields POINT_FIELDS of the design contract), their
design `<out>.design.json` (`cfipt_cli.contracts.sample_design`) and their QGIS style `<out stem>.qml`
(QGIS's default style of the file, `cfipt_cli.io.qgis_styles.points_qml`). All three are checked by
the output policy before any work, written under the outputs' locks, each to a temporary name renamed
at the end, so that a failure leaves no half-written sample.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from cfipt_cli.contracts.sample_design import POINT_FIELDS, SampleDesign, Stratum, design_path, write_design
from cfipt_cli.io import outputs as policy
from cfipt_cli.io.atomic import atomic_file
from cfipt_cli.io.files import sha256_file
from cfipt_cli.io.qgis_styles import SAMPLE_STYLE_MARK, points_qml
from cfipt_cli.io.rasters import crs_label
from cfipt_cli.io.vectors import write_driver, write_layer
from cfipt_cli.sample.plan import DrawnSample, draw_sample
from cfipt_cli.sample.request import SampleRequest

LAYER = "samples"


def _points(drawn: DrawnSample) -> Any:
    """The points at the centres of the drawn pixels, with the fields of POINT_FIELDS."""
    import geopandas as gpd

    xs, ys = drawn.grid.pixel_centres(drawn.rows, drawn.cols)
    names = {c.id: c.name for c in drawn.classes}
    columns = {
        "sample_id": np.arange(1, drawn.strata.size + 1, dtype=np.int64),
        "stratum": drawn.strata,
        "map_id": drawn.strata,
        "map_class": [names[int(s)] for s in drawn.strata],
        "reference": [""] * drawn.strata.size,
    }
    crs = drawn.grid.crs.to_wkt() if drawn.grid.crs is not None else None
    frame = gpd.GeoDataFrame(columns, geometry=gpd.points_from_xy(xs, ys), crs=crs)
    return frame[[*POINT_FIELDS, "geometry"]]


def _design(request: SampleRequest, drawn: DrawnSample) -> SampleDesign:
    size = request.size
    grid = drawn.grid
    strata = tuple(Stratum(c.id, c.name, drawn.counts.pixels[c.id], drawn.sizes[c.id]) for c in drawn.classes)
    return SampleDesign(
        map_path=str(request.map_path),
        map_sha256=sha256_file(request.map_path),
        width=grid.width,
        height=grid.height,
        crs=grid.crs.to_wkt() if grid.crs is not None else None,
        transform=tuple(grid.transform)[:6],
        pixel_area_m2=grid.pixel_area_m2,
        strata=strata,
        strata_source="map",
        mapped_pixels=dict(drawn.counts.mapped),
        allocation=size.method,
        seed=request.seed,
        excluded_pixels=drawn.counts.excluded,
        excluded_scene=str(request.exclude) if request.exclude is not None else None,
        expected_ua=drawn.expected_ua,
        target_se=size.target_se if drawn.expected_ua is not None else None,
        min_per_class=size.minimum if size.method == "min-per-class" else None,
    )


def _write(request: SampleRequest, drawn: DrawnSample, design: SampleDesign) -> None:
    """Points, style and design, each to a temporary name; the renames come after all are written."""
    qml = points_qml(drawn.classes, "map_class", "reference", SAMPLE_STYLE_MARK)
    driver = write_driver(request.out)
    with contextlib.ExitStack() as stack:
        points_tmp = stack.enter_context(atomic_file(request.out, request.overwrite))
        style_tmp = stack.enter_context(atomic_file(request.style_path, request.overwrite))
        write_layer(_points(drawn), points_tmp, LAYER, driver)
        style_tmp.write_text(qml, encoding="utf-8")
        write_design(request.out, design, request.overwrite)


def planned_outputs(request: SampleRequest) -> list[policy.Output]:
    """The three files of a sample, as the output policy sees them."""
    return [
        policy.Output(request.out, "--out", policy.SAMPLE_POINTS),
        policy.Output(design_path(request.out), "--out", policy.SAMPLE_DESIGN),
        policy.Output(request.style_path, "--out", policy.SAMPLE_STYLE),
    ]


def run_sample(request: SampleRequest) -> dict[str, Any]:
    """Draw the sample and write its points, design and style; returns the summary (see `summary`).

    Raises:
        InputNotFoundError, DataError, CfiptUsageError, OutputExistsError: one line saying what to do.
    """
    items = planned_outputs(request)
    inputs: list[tuple[str, Any]] = [("map", request.map_path)]
    inputs += [("--classes", request.classes)] if request.classes is not None else []
    inputs += [("--exclude", request.exclude)] if request.exclude is not None else []
    policy.check_outputs(items, inputs, request.overwrite)
    with policy.locked_outputs([i.path for i in items]):
        drawn = draw_sample(request)
        design = _design(request, drawn)
        _write(request, drawn, design)
    return summary(request, drawn, design)


def summary(request: SampleRequest, drawn: DrawnSample, design: SampleDesign) -> dict[str, Any]:
    """The run in numbers: per class N_h, W_h (its share of the frame), n_h, and the design's inputs."""
    frame = sum(s.pixels for s in design.strata)
    names = {c.id: c.name for c in drawn.classes}
    return {
        "out": str(request.out),
        "design": str(design_path(request.out)),
        "style": str(request.style_path),
        "map": str(request.map_path),
        "width": design.width,
        "height": design.height,
        "crs": crs_label(drawn.grid.crs),
        "pixel_area_m2": design.pixel_area_m2,
        "sample_size": design.sample_size,
        "allocation": design.allocation,
        "seed": design.seed,
        "frame_pixels": frame,
        "excluded_pixels": design.excluded_pixels,
        "excluded_scene": design.excluded_scene,
        "expected_ua": None
        if design.expected_ua is None
        else {names[i]: v for i, v in sorted(design.expected_ua.items())},
        "target_se": design.target_se,
        "min_per_class": design.min_per_class,
        "classes": [
            {
                "id": s.id,
                "name": s.name,
                "pixels": s.pixels,
                "weight": s.pixels / frame if frame else 0.0,
                "sample_size": s.sample_size,
                "mapped_pixels": design.mapped_pixels.get(s.id, 0),
            }
            for s in design.strata
        ],
    }
