"""The inputs of one prepare run, opened on the HSI grid: the HSI, the auxiliary rasters warped onto its
grid, and the training and test labels rasterised onto it (closed with the run's ExitStack)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from rasterio.enums import Resampling

from cfipt_cli.io.classes import ClassTable
from cfipt_cli.io.coreg import AlignedSource, align
from cfipt_cli.io.rasters import Grid, RasterSource, open_raster
from cfipt_cli.io.vectors import is_vector
from cfipt_cli.log import get_logger
from cfipt_cli.prepare.labels import LabelSource, open_labels
from cfipt_cli.prepare.merged_labels import merge_labels
from cfipt_cli.prepare.request import CheckedRequest

log = get_logger(__name__)


@dataclass
class AuxInput:
    """A LiDAR or SAR raster and its reader on the HSI grid."""

    role: str
    source: RasterSource
    aligned: AlignedSource


@dataclass
class OpenedInputs:
    """The open inputs; the HSI grid is the scene grid."""

    hsi: RasterSource
    aux: list[AuxInput]
    labels: LabelSource | None
    test_labels: LabelSource | None

    @property
    def grid(self) -> Grid:
        return self.hsi.grid

    def band_descriptions(self) -> list[tuple[str, int, int]]:
        """(role, number within the role, band within its file) per stack band."""
        bands = [("hsi", i, i) for i in range(1, self.hsi.count + 1)]
        per_role: dict[str, int] = {}
        for item in self.aux:
            for b in range(1, item.source.count + 1):
                per_role[item.role] = per_role.get(item.role, 0) + 1
                bands.append((item.role, per_role[item.role], b))
        return bands


def _open_aux(
    stack: ExitStack,
    grid: Grid,
    role: str,
    paths: Sequence[str | Path],
    nodata: float | None,
    mat_keys: Sequence[str],
    resampling: Resampling,
) -> list[AuxInput]:
    out = []
    for path in paths:
        source = open_raster(path, role, nodata, mat_keys)
        stack.callback(source.close)
        out.append(AuxInput(role, source, align(source, grid, resampling)))
    return out


def _name_map(user_table: ClassTable | None, train: LabelSource | None) -> dict[str, int] | None:
    if user_table is not None:
        return {c.name: c.id for c in user_table}
    return {name: i for i, name in train.names.items()} if train is not None else None


def _open_test_labels(
    stack: ExitStack, checked: CheckedRequest, grid: Grid, user_table: ClassTable | None, train: LabelSource
) -> LabelSource | None:
    """The test labels, named like the training ones; unknown names are dropped (not strict)."""
    options = checked.request.labels
    if options.test_labels is None:
        return None
    source = open_labels(
        options.test_labels,
        grid,
        options.field_of_vector(-1),
        options.all_touched,
        _name_map(user_table, train),
        strict=False,
        mat_keys=checked.request.inputs.mat_keys,
    )
    stack.callback(source.close)
    return source


def _open_training_labels(
    stack: ExitStack, checked: CheckedRequest, grid: Grid, user_table: ClassTable | None
) -> LabelSource | None:
    """The training labels: each --labels file, merged into one source by class name (`merged_labels`)."""
    options, mat_keys = checked.request.labels, checked.request.inputs.mat_keys
    name_map = _name_map(user_table, None)
    parts: list[LabelSource] = []
    for path in options.label_files():
        vector = is_vector(path)
        if not vector and options.label_field:
            log.info("--label-field is ignored for the label raster %s", path)
        k = sum(map(is_vector, options.label_files()[: len(parts)]))  # vector layers before this one
        field = options.field_of_vector(k) if vector else None
        source = open_labels(path, grid, field, options.all_touched, name_map, strict=True, mat_keys=mat_keys)
        stack.callback(source.close)
        parts.append(source)
    return merge_labels(parts, user_table is not None) if parts else None


def open_inputs(stack: ExitStack, checked: CheckedRequest, user_table: ClassTable | None) -> OpenedInputs:
    """Open every input of the request on the HSI grid; `stack` closes them.

    Raises:
        DataError: an unreadable input, or one that cannot be placed on the HSI grid.
    """
    inputs = checked.request.inputs
    hsi = open_raster(inputs.hsi, "hsi", inputs.hsi_nodata, inputs.mat_keys)
    stack.callback(hsi.close)
    grid = hsi.grid
    aux = [
        *_open_aux(
            stack, grid, "lidar", inputs.lidar, inputs.lidar_nodata, inputs.mat_keys, checked.resampling
        ),
        *_open_aux(stack, grid, "sar", inputs.sar, inputs.sar_nodata, inputs.mat_keys, checked.resampling),
    ]
    train = _open_training_labels(stack, checked, grid, user_table)
    test = _open_test_labels(stack, checked, grid, user_table, train) if train is not None else None
    return OpenedInputs(hsi, aux, train, test)
