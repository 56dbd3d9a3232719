"""What `cfipt evaluate` is asked: a map, a reference and how to read them, checked once when made.

The kind of reference follows from the path and the options: a folder is a prepared scene (a File
Geodatabase `.gdb` folder is a vector layer), a `.mat` file a benchmark label array, a path given
with a field (`--field`) a vector layer, and anything else a label raster.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from cfipt_cli.errors import CfiptUsageError, InputNotFoundError
from cfipt_cli.io.classes import ClassTable
from cfipt_cli.io.matfiles import is_mat
from cfipt_cli.io.vectors import is_vector

BLOCK_SIZE = 1024  # window side: a few 8 MB int64 arrays per window
KIND_WORDS = {"scene": "scene folder", "raster": "raster", "mat": ".mat file", "vector": "vector file"}


def reference_kind(path: Path, field_name: str | None, mat_keys: Sequence[str] = ()) -> str:
    """'scene' (a folder), 'mat' (a .mat file), 'vector' (with a field) or 'raster'.

    Raises:
        CfiptUsageError: a vector file without --field, --field with a raster, scene or .mat file, or
            --mat-key with anything but a .mat file.
    """
    if path.is_dir() and not is_vector(path):
        kind = "scene"
    elif is_mat(path):
        kind = "mat"
    elif field_name is not None:
        kind = "vector"
    elif is_vector(path):
        raise CfiptUsageError(f"{path} looks like a vector file: pass --field with the class attribute")
    else:
        kind = "raster"
    if field_name is not None and kind != "vector":
        raise CfiptUsageError(f"--field applies to vector references only; {path} is a {KIND_WORDS[kind]}")
    if mat_keys and kind != "mat":
        raise CfiptUsageError(f"--mat-key applies to .mat references only; {path} is a {KIND_WORDS[kind]}")
    return kind


def _check_strata(strata: Path, kind: str) -> None:
    if kind != "vector":
        raise CfiptUsageError("--strata applies to a sample of points (a vector reference with --field) only")
    if not strata.exists():
        raise InputNotFoundError(f"strata raster {strata} does not exist")


@dataclasses.dataclass(frozen=True)
class EvaluationRequest:
    """A map to evaluate against a reference, and how to read both.

    Attributes:
        map_path: the classification map (one band of class ids; 0 and its nodata are left out).
        reference: a prepared scene folder (its test labels), a label raster, a vector file, or a .mat
            file holding a 2-D label array of the map's shape (0 = unlabelled; no georeference).
        field: the attribute of a vector reference holding class names or ids.
        nodata: a map value to leave out besides the map's own nodata and 0.
        all_touched: rasterise vector references with every touched pixel (GDAL ALL_TOUCHED).
        map_classes: the map's class table when it has no `.aux.xml`: the table, or the scene or model
            folder or JSON file that holds it (read by `load_class_table`).
        mat_keys: variables to read from a .mat reference (`--mat-key`); the first one it holds is used.
        block_size: window size of the block-wise read.
        strata: a raster of strata for the area estimate of a sample (`--strata`), instead of the
            strata of its design (vector references only).
        kind: what the reference is (`reference_kind`), found when the request is made.

    Raises:
        InputNotFoundError: the reference, the map or the strata raster does not exist.
        CfiptUsageError: options that do not fit the reference (`reference_kind`), a block size below 1,
            --strata without a vector reference.
    """

    map_path: Path
    reference: Path
    field: str | None = None
    nodata: float | None = None
    all_touched: bool = False
    map_classes: ClassTable | Path | None = None
    mat_keys: tuple[str, ...] = ()
    block_size: int = BLOCK_SIZE
    strata: Path | None = None
    kind: str = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        set_field = object.__setattr__  # frozen: the normalised values are set once, here
        set_field(self, "map_path", Path(self.map_path))
        set_field(self, "reference", Path(self.reference))
        set_field(self, "mat_keys", tuple(self.mat_keys))
        if isinstance(self.map_classes, str):
            set_field(self, "map_classes", Path(self.map_classes))
        if not self.reference.exists():  # first: the kind of a reference depends on what it is
            raise InputNotFoundError(f"reference {self.reference} does not exist")
        set_field(self, "kind", reference_kind(self.reference, self.field, self.mat_keys))
        if not self.map_path.exists():
            raise InputNotFoundError(f"map {self.map_path} does not exist")
        if self.strata is not None:
            set_field(self, "strata", Path(self.strata))
            _check_strata(self.strata, self.kind)
        if self.block_size < 1:
            raise CfiptUsageError(f"the block size must be at least 1, not {self.block_size}")
