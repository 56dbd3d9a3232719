"""What `cfipt prepare` is asked to do, as one typed request, and its checks before any input is read.

A `PrepareRequest` groups the inputs (`SceneInputs`), the label options (`LabelOptions`), the split
(`SplitParams`, which checks itself when built) and the output (`OutputOptions`). `check_request`
checks the rest once, usage errors first, then missing inputs, then the output policy, and returns the
canonical values the run uses (`CheckedRequest`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from rasterio.enums import Resampling

from cfipt_cli.contracts.scene import STACK_NAME
from cfipt_cli.errors import CfiptUsageError, InputNotFoundError
from cfipt_cli.io import outputs as policy
from cfipt_cli.io.coreg import parse_resampling
from cfipt_cli.io.creation_options import LOSSLESS_CODECS, lossy_options, validate_creation_options
from cfipt_cli.io.rasters import DEFAULT_WINDOW
from cfipt_cli.io.vectors import is_vector
from cfipt_cli.log import get_logger
from cfipt_cli.prepare.split import ALL, SplitParams

log = get_logger(__name__)

MIN_WINDOW = 16


@dataclass(frozen=True)
class SceneInputs:
    """The rasters: the HSI (its grid is the scene grid) and the auxiliary LiDAR and SAR rasters.

    Attributes:
        hsi_nodata, lidar_nodata, sar_nodata: override the files' nodata values.
        mat_keys: variable names to use in .mat inputs (first match per file).
        resampling: resampling of the auxiliary sources onto the HSI grid (a rasterio Resampling name).
    """

    hsi: str | Path
    lidar: Sequence[str | Path] = ()
    sar: Sequence[str | Path] = ()
    hsi_nodata: float | None = None
    lidar_nodata: float | None = None
    sar_nodata: float | None = None
    mat_keys: Sequence[str] = ()
    resampling: str = "bilinear"


@dataclass(frozen=True)
class LabelOptions:
    """The labels: training labels (one or several files, each a vector layer or a label raster,
    0 = unlabelled), an optional independent test set, the attribute of the vector layers holding class
    names or ids, whether a polygon burns every pixel it touches, and a CSV/JSON file naming the classes.

    `label_field`: one name for every vector layer, or one per vector layer of `labels` in their order
    (label rasters take none); a vector `test_labels` layer takes the first.
    """

    labels: str | Path | Sequence[str | Path] | None = None
    label_field: str | Sequence[str] | None = None
    test_labels: str | Path | None = None
    all_touched: bool = False
    class_names: str | Path | None = None

    def label_files(self) -> list[str | Path]:
        """The training label files, in the order given."""
        if self.labels is None or isinstance(self.labels, (str, Path)):
            return [] if self.labels is None else [self.labels]
        return list(self.labels)

    def field_names(self) -> list[str]:
        """The --label-field names given, in order."""
        if self.label_field is None or isinstance(self.label_field, str):
            return [] if not self.label_field else [self.label_field]
        return list(self.label_field)

    def field_of_vector(self, k: int) -> str | None:
        """The class field of the k-th vector layer of `labels` (0-based); -1 is the test labels."""
        names = self.field_names()
        if not names:
            return None
        return names[k] if len(names) > 1 and k >= 0 else names[0]


@dataclass(frozen=True)
class OutputOptions:
    """The scene folder to write, GDAL creation options for stack.tif (over the defaults), whether to
    replace an existing folder, the side of the processing windows, and a progress bar on stderr."""

    out: str | Path = "scene"
    creation_options: Mapping[str, str] | None = None
    overwrite: bool = False
    window_size: int = DEFAULT_WINDOW
    progress: bool = False


_GROUPS: dict[str, Any] = {
    "inputs": SceneInputs,
    "labels": LabelOptions,
    "split": SplitParams,
    "output": OutputOptions,
}
_ALIASES = {"split": "mode"}  # prepare_scene(split="blocks") names the split mode as --split does


@dataclass(frozen=True)
class PrepareRequest:
    """Everything one `cfipt prepare` run is asked to do."""

    inputs: SceneInputs
    labels: LabelOptions = field(default_factory=LabelOptions)
    split: SplitParams = field(default_factory=SplitParams)
    output: OutputOptions = field(default_factory=OutputOptions)

    @classmethod
    def from_options(cls, hsi: str | Path, **options: Any) -> PrepareRequest:
        """The request from flat keywords, each the name of a field of one group (`split` is the mode)."""
        values: dict[str, dict[str, Any]] = {group: {} for group in _GROUPS}
        values["inputs"]["hsi"] = hsi
        for given, value in options.items():
            name = _ALIASES.get(given, given)
            owner = [g for g, kind in _GROUPS.items() if name in {f.name for f in fields(kind)}]
            if not owner or name == "hsi":
                raise TypeError(f"prepare_scene() got an unexpected keyword argument {given!r}")
            values[owner[0]][name] = value
        split = SplitParams(**values["split"])  # checked first, as the command line checks it
        inputs, labels = SceneInputs(**values["inputs"]), LabelOptions(**values["labels"])
        return cls(inputs, labels, split, OutputOptions(**values["output"]))

    def named_inputs(self) -> list[tuple[str, str | Path]]:
        """Every input file with what it is, in the order the messages name them."""
        named = [
            ("HSI", self.inputs.hsi),
            *(("LiDAR", p) for p in self.inputs.lidar),
            *(("SAR", p) for p in self.inputs.sar),
            *(("labels", p) for p in self.labels.label_files()),
            ("test labels", self.labels.test_labels),
            ("class-names file", self.labels.class_names),
        ]
        return [(what, path) for what, path in named if path is not None]


@dataclass(frozen=True)
class CheckedRequest:
    """A request that passed `check_request`, with the canonical values the run uses."""

    request: PrepareRequest
    creation: dict[str, str]  # the `--co` options, canonical (`validate_creation_options`)
    resampling: Resampling  # of the auxiliary sources

    @property
    def out(self) -> Path:
        return Path(self.request.output.out)


def _check_combination(request: PrepareRequest) -> None:
    inputs, labels = request.inputs, request.labels
    if not inputs.lidar and not inputs.sar:
        raise CfiptUsageError("give at least one auxiliary source with --lidar and/or --sar")
    if labels.test_labels is not None and not labels.label_files():
        raise CfiptUsageError("--test-labels needs --labels (the training labels)")
    n_fields, n_vectors = len(labels.field_names()), sum(map(is_vector, labels.label_files()))
    if n_fields > 1 and n_fields != n_vectors:
        raise CfiptUsageError(
            f"{n_fields} --label-field given for {n_vectors} vector --labels file(s): give one for all, "
            "or one per vector --labels file in their order"
        )
    if request.split.train_per_class == ALL and labels.test_labels is None and labels.label_files():
        log.warning("--train-per-class all without --test-labels: the scene has no test pixels")
    if request.output.window_size < MIN_WINDOW:
        raise CfiptUsageError(f"the window size must be at least {MIN_WINDOW} pixels")


def _refuse_lossy_stack(creation: dict[str, str]) -> None:
    """Usage error for `--co` options that would store other values than those the statistics describe."""
    lossy = lossy_options(creation, "float32")
    if lossy:
        raise CfiptUsageError(
            f"--co {' '.join(lossy)} is lossy for {STACK_NAME} (float32): the stored values would differ "
            f"from those scene.json's statistics describe; use a lossless COMPRESS "
            f"({', '.join(LOSSLESS_CODECS)}, or LERC with MAX_Z_ERROR=0)"
        )


def check_request(request: PrepareRequest) -> CheckedRequest:
    """Every check that needs no input opened, before any work.

    Raises:
        CfiptUsageError: contradictory or out-of-range options, an output over an input (exit 2).
        InputNotFoundError: a missing input file.
        OutputExistsError and the other output-policy errors of `cfipt_cli.io.outputs`.
    """
    _check_combination(request)
    creation = validate_creation_options(request.output.creation_options)
    _refuse_lossy_stack(creation)
    resampling = parse_resampling(request.inputs.resampling)
    named = request.named_inputs()
    for what, path in named:
        if not Path(path).exists():
            raise InputNotFoundError(f"{what} {path} does not exist")
    checked = CheckedRequest(request, creation, resampling)
    # Over an input is a usage error with or without --overwrite, so it comes before "already exists".
    policy.check_outputs([policy.Output(checked.out, "--out", policy.SCENE)], named, request.output.overwrite)
    return checked
