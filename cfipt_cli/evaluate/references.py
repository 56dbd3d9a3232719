"""Opening the reference of an evaluation, whatever its kind, as class ids read window by window on the
map grid (0 = unlabelled).

- A prepared scene folder: its test labels, leaving out any pixel that is also a training pixel; a scene
  without test pixels is a DataError saying so.
- A label raster: put on the map grid by `grids.on_map_grid`; class names from its `.aux.xml`.
- A .mat label array (benchmarks): one 2-D numeric array of the map's shape, read pixel for pixel (it
  has no georeference); no class names, so classes are matched by id.
- A vector layer: see `vector_reference`.
Rasters and .mat arrays are opened by `io.rasters.open_raster`, as `prepare` opens its inputs.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rasterio.windows import Window

from cfipt_cli.contracts.scene import Scene
from cfipt_cli.errors import DataError
from cfipt_cli.evaluate.grids import on_map_grid, pixel_for_pixel
from cfipt_cli.evaluate.pixels import LabelReader, class_ids
from cfipt_cli.evaluate.request import EvaluationRequest
from cfipt_cli.evaluate.result import warn
from cfipt_cli.evaluate.vector_reference import open_vector_reference
from cfipt_cli.io.classes import ClassTable
from cfipt_cli.io.coreg import ExactAlignedSource
from cfipt_cli.io.matfiles import variable_names
from cfipt_cli.io.rasters import Grid, RasterSource, open_raster


@dataclass
class Reference:
    """An opened reference: its labels on the map grid, its class table (None: ids only) and, for a
    .mat file, the variable read."""

    read: LabelReader
    classes: ClassTable | None
    mat_key: str | None = None

    def finish(self, notes: list[str]) -> None:
        """Warn about what reading left out: a scene's test pixels that are training pixels too."""
        if isinstance(self.read, SceneLabels) and self.read.training_pixels_dropped:
            n = self.read.training_pixels_dropped
            warn(notes, f"{n} test pixels of {self.read.path} are also training pixels; left out")


def _class_reader(aligned: ExactAlignedSource, what: str) -> LabelReader:
    """Class ids (first band) of a raster seen through the map grid; nodata and NaN read as 0."""

    def read(window: Window) -> np.ndarray:
        return class_ids(aligned.read(window)[0], [], what)

    return read


def _raster_reader(
    path: Path, grid: Grid, what: str, notes: list[str], stack: contextlib.ExitStack
) -> LabelReader:
    source = open_raster(path, what)
    stack.callback(source.close)
    aligned = on_map_grid(source, grid, what, notes)
    stack.callback(aligned.close)
    return _class_reader(aligned, f"{what} {path}")


class SceneLabels:
    """The test labels of a scene on the map grid, with any training pixel left out."""

    def __init__(self, path: Path, test: LabelReader, train: LabelReader):
        self.path, self.test, self.train = path, test, train
        self.training_pixels_dropped = 0

    def __call__(self, window: Window) -> np.ndarray:
        labels = self.test(window)
        overlap = (labels > 0) & (self.train(window) > 0)
        if overlap.any():  # the scene contract says disjoint; never count a training pixel anyway
            self.training_pixels_dropped += int(overlap.sum())
            labels[overlap] = 0
        return labels


def _scene_reference(path: Path, grid: Grid, notes: list[str], stack: contextlib.ExitStack) -> Reference:
    scene = Scene.open(path)
    if not scene.labelled_pixels("test"):
        raise DataError(
            f"the scene {path} has no test pixels (every labelled pixel trains: --train-per-class all without "
            "--test-labels, or test labels that are all training pixels); evaluate against independent "
            "labels (--reference FILE) or prepare the scene again with --test-labels"
        )
    test = _raster_reader(scene.test_labels_path, grid, "scene test labels", notes, stack)
    train = _raster_reader(scene.train_labels_path, grid, "scene training labels", notes, stack)
    classes = scene.classes
    return Reference(SceneLabels(path, test, train), classes if len(classes) else None)


def _check_mat_labels(source: RasterSource, mat_keys: tuple[str, ...], grid: Grid) -> str:
    """The variable of a .mat reference, checked to be one 2-D numeric array with the map's shape."""
    path, key = source.path, source.mat.key if source.mat is not None else ""
    if mat_keys and key not in mat_keys:
        names = ", ".join(variable_names(path)) or "none"
        raise DataError(
            f"reference {path} has no variable {' or '.join(map(repr, mat_keys))} (--mat-key); "
            f"its variables: {names}"
        )
    bands, rows, cols = source.count, source.grid.height, source.grid.width
    if bands != 1:
        raise DataError(
            f"reference {path} variable {key!r} is a {rows} x {cols} x {bands} cube, not a 2-D label "
            "array; choose the label variable with --mat-key"
        )
    if source.dtype.kind not in "biuf":
        raise DataError(f"reference {path} variable {key!r} holds {source.dtype} values, not class ids")
    if (rows, cols) != (grid.height, grid.width):
        raise DataError(
            f"reference {path} variable {key!r} is {rows} x {cols} px but the map is "
            f"{grid.height} x {grid.width} px; a .mat reference has no georeference, so it must have "
            "the map's shape (rows x columns)"
        )
    return key


def _mat_reference(
    path: Path, mat_keys: tuple[str, ...], grid: Grid, notes: list[str], stack: contextlib.ExitStack
) -> Reference:
    """A .mat label array (0 = unlabelled) read on the map grid, pixel for pixel."""
    source = open_raster(path, "reference", mat_keys=mat_keys)
    stack.callback(source.close)
    key = _check_mat_labels(source, mat_keys, grid)
    if grid.georeferenced:
        warn(notes, f"reference {path} has no georeference; assuming it is on the map's pixel grid")
    return Reference(_class_reader(pixel_for_pixel(source, grid), f"reference {path} ({key})"), None, key)


def open_reference(
    request: EvaluationRequest,
    grid: Grid,
    map_table: ClassTable | None,
    notes: list[str],
    stack: contextlib.ExitStack,
) -> Reference:
    """The reference of `request` on the map grid, its files closed with `stack`.

    Args:
        request: the evaluation asked for (its reference, kind and reading options).
        grid: the map's grid.
        map_table: the map's class table, to give the class names of a vector reference their ids.
        notes: warnings are appended here (and logged).
        stack: closes what is opened.
    """
    path = request.reference
    if request.kind == "scene":
        return _scene_reference(path, grid, notes, stack)
    if request.kind == "mat":
        return _mat_reference(path, request.mat_keys, grid, notes, stack)
    if request.kind == "vector" and request.field is not None:
        read, table = open_vector_reference(path, request.field, grid, map_table, request.all_touched, notes)
        return Reference(read, table)
    read = _raster_reader(path, grid, "reference", notes, stack)
    return Reference(read, ClassTable.from_aux_xml(path))
