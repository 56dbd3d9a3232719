"""The outputs of `cfipt suggest`: the points, their record and their QGIS style.

- the points (`--out`, any vector format by its suffix, layer "suggestions"): one per suggested pixel,
  at the pixel centre in the scene's CRS, with `rank` (1 = most uncertain), `map_class` (the predicted
  class), `map_class_id`, `probability` (of that class; empty when only `--map` + `--uncertainty` were
  given), `uncertainty`, `row`, `col` (the scene pixel), and the empty label field the user fills in
  (the scene's own label field, so that `cfipt prepare --labels ... --labels suggestions.gpkg` reads it);
- `<out>.suggest.json`: what was asked and found (scene, model, measure, distance, seed, counts);
- `<out stem>.qml`: QGIS's default style of the file: points in the predicted class's colour and a
  drop-down of the class names on the label field.

All three are checked by the output policy first and each written to a temporary name, renamed at the end.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from cfipt_cli.contracts.suggestions import LAYER, POINT_FIELDS
from cfipt_cli.errors import CfiptUsageError
from cfipt_cli.io import outputs as policy
from cfipt_cli.io.atomic import atomic_file
from cfipt_cli.io.files import utc_now
from cfipt_cli.io.output_kinds import SUGGESTIONS_FORMAT
from cfipt_cli.io.qgis_styles import SUGGESTIONS_STYLE_MARK, points_qml
from cfipt_cli.io.rasters import Grid, crs_label
from cfipt_cli.io.vectors import write_driver, write_layer
from cfipt_cli.suggest.candidates import Candidates
from cfipt_cli.suggest.request import SuggestRequest

if TYPE_CHECKING:
    from cfipt_cli.contracts.model import ModelInfo
    from cfipt_cli.contracts.scene import Scene

DEFAULT_LABEL_FIELD = "class"


def label_field_of(request: SuggestRequest, scene: Scene) -> str:
    """`--label-field`, else the field the scene's vector labels were read from, else "class"."""
    recorded = [s.get("field") for s in scene.meta.get("sources", []) if s.get("role") == "labels"]
    name = request.label_field or next((f for f in recorded if f), None) or DEFAULT_LABEL_FIELD
    if name in POINT_FIELDS:
        raise CfiptUsageError(f"--label-field {name!r} is a field suggest fills itself; name another")
    return str(name)


def planned_outputs(request: SuggestRequest) -> list[policy.Output]:
    return [
        policy.Output(request.out, "--out", policy.SUGGESTIONS),
        policy.Output(request.record_path, "--out", policy.SUGGESTIONS_RECORD),
        policy.Output(request.style_path, "--out", policy.SUGGESTIONS_STYLE),
    ]


@dataclass(frozen=True)
class Suggestions:
    """The chosen pixels and what they were chosen from."""

    request: SuggestRequest
    info: ModelInfo
    grid: Grid
    chosen: Candidates
    measure: str
    distance: int
    label_field: str
    eligible_pixels: int
    weights_sha256: str

    def frame(self) -> Any:
        import geopandas as gpd

        c = self.chosen
        names = {info.id: info.name for info in self.info.classes}
        xs, ys = self.grid.pixel_centres(c.row, c.col)
        columns = {
            "rank": np.arange(1, len(c) + 1, dtype=np.int64),
            "map_class": [names[int(i)] for i in c.cls],
            "map_class_id": c.cls.astype(np.int64),
            "probability": c.probability,
            "uncertainty": c.uncertainty,
            "row": c.row,
            "col": c.col,
            self.label_field: [""] * len(c),
        }
        crs = self.grid.crs.to_wkt() if self.grid.crs is not None else None
        return gpd.GeoDataFrame(columns, geometry=gpd.points_from_xy(xs, ys), crs=crs)

    def per_class(self) -> dict[str, int]:
        names = {info.id: info.name for info in self.info.classes}
        ids, counts = np.unique(self.chosen.cls, return_counts=True)
        return {names[int(i)]: int(n) for i, n in zip(ids, counts, strict=True)}

    def record(self) -> dict[str, Any]:
        from cfipt_cli import __version__

        request = self.request
        return {
            "format": SUGGESTIONS_FORMAT,
            "format_version": 1,
            "cfipt_version": __version__,
            "created": utc_now(),
            "scene": str(request.scene_dir.resolve()),
            "model": str(request.model_dir.resolve()),
            "model_weights_sha256": self.weights_sha256,
            "source": {flag: str(path) for flag, path in request.earlier.paths()} or "model",
            "measure": self.measure,
            "min_distance": self.distance,
            "seed": request.seed,
            "asked": request.n,
            "suggested": len(self.chosen),
            "eligible_pixels": self.eligible_pixels,
            "exclude_samples": [str(p) for p in request.exclude_samples],
            "label_field": self.label_field,
            "per_class": self.per_class(),
        }

    def summary(self, record: dict[str, Any]) -> dict[str, Any]:
        """The run's summary: the files, and the `record` written beside the points."""
        return {
            "out": str(self.request.out),
            "record": str(self.request.record_path),
            "style": str(self.request.style_path),
            "crs": crs_label(self.grid.crs),
            **{k: v for k, v in record.items() if k not in ("format", "format_version", "created")},
        }


def write_suggestions(result: Suggestions) -> dict[str, Any]:
    """Points, style and record, each to a temporary name; the renames come after all are written.
    Returns the record."""
    request = result.request
    qml = points_qml(result.info.classes, "map_class", result.label_field, SUGGESTIONS_STYLE_MARK)
    document = result.record()
    record = json.dumps(document, indent=1) + "\n"
    # Renamed in the reverse order of entry: the points first (a failure there renames nothing), the
    # record last, as it is what marks the points as cfipt's.
    with contextlib.ExitStack() as stack:
        record_tmp = stack.enter_context(atomic_file(request.record_path, request.overwrite))
        style_tmp = stack.enter_context(atomic_file(request.style_path, request.overwrite))
        points_tmp = stack.enter_context(atomic_file(request.out, request.overwrite))
        write_layer(result.frame(), points_tmp, LAYER, write_driver(request.out))
        style_tmp.write_text(qml, encoding="utf-8")
        record_tmp.write_text(record, encoding="utf-8")
    return document
