"""What `cfipt suggest` is asked for: the scene and model, how many pixels, how far apart, from which
rasters (or the model), what to leave out, and where the points go. Checked when built (usage errors)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cfipt_cli.compute.uncertainty import MEASURES
from cfipt_cli.contracts.suggestions import suggestions_record_path
from cfipt_cli.errors import CfiptUsageError
from cfipt_cli.io.vectors import WRITE_DRIVERS, write_driver
from cfipt_cli.predict.settings import PredictSettings, check_choice


@dataclass(frozen=True)
class EarlierPrediction:
    """Rasters of an earlier `cfipt predict` on the same scene, reused instead of running the model:
    `--proba` alone gives everything; `--map` with `--uncertainty` gives classes and uncertainty."""

    proba: Path | None = None
    map_path: Path | None = None
    uncertainty: Path | None = None

    def __post_init__(self) -> None:
        if self.uncertainty is not None and self.map_path is None and self.proba is None:
            raise CfiptUsageError("--uncertainty needs --map (the classes of the same predict) or --proba")
        if self.map_path is not None and self.uncertainty is None and self.proba is None:
            raise CfiptUsageError(
                "--map needs --uncertainty or --proba of the same predict (a map holds no doubt)"
            )

    @property
    def given(self) -> bool:
        return self.proba is not None or self.uncertainty is not None

    def paths(self) -> list[tuple[str, Path]]:
        named = (("--proba", self.proba), ("--map", self.map_path), ("--uncertainty", self.uncertainty))
        return [(flag, path) for flag, path in named if path is not None]


@dataclass(frozen=True)
class SuggestRequest:
    """`cfipt suggest SCENE --model MODEL --out POINTS -n N`.

    `min_distance` None is the model's patch size; `measure` None is entropy, or the measure of a given
    `--uncertainty` raster; `label_field` None is the scene's own label field (else "class").
    """

    scene_dir: Path
    model_dir: Path
    out: Path
    n: int
    min_distance: int | None = None
    seed: int = 0
    measure: str | None = None
    earlier: EarlierPrediction = field(default_factory=EarlierPrediction)
    exclude_samples: tuple[Path, ...] = ()
    label_field: str | None = None
    device: str = "auto"
    settings: PredictSettings = field(default_factory=PredictSettings)
    overwrite: bool = False

    def __post_init__(self) -> None:
        if self.n < 1:
            raise CfiptUsageError(f"-n must be at least 1, not {self.n}")
        if self.min_distance is not None and self.min_distance < 1:
            raise CfiptUsageError(f"--min-distance must be at least 1 pixel, not {self.min_distance}")
        if self.measure is not None:
            check_choice(self.measure, MEASURES, "--uncertainty-measure")
        if self.label_field is not None and not self.label_field.strip():
            raise CfiptUsageError("--label-field must not be empty")
        if write_driver(self.out) is None:
            raise CfiptUsageError(
                f"--out {self.out}: suggest writes {', '.join(WRITE_DRIVERS)} files (a shapefile's several "
                "files cannot be renamed into place at once)"
            )

    @property
    def record_path(self) -> Path:
        return suggestions_record_path(self.out)

    @property
    def style_path(self) -> Path:
        return self.out.with_suffix(".qml")

    def inputs(self) -> list[tuple[str, Path]]:
        """Every input, for the output policy (never written over)."""
        named = [("scene folder", self.scene_dir), ("model folder", self.model_dir), *self.earlier.paths()]
        return named + [("--exclude-sample", path) for path in self.exclude_samples]
