"""What a prediction is asked for: the files to write, how to compute, and the whole request of the CLI.

Light on purpose (no numpy or torch at import): `cfipt predict` builds these from its options.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from cfipt_cli.compute.uncertainty import MEASURES
from cfipt_cli.errors import CfiptUsageError

if TYPE_CHECKING:
    import torch

# torch.distributed's timeout: a rank that has finished waits in a collective for the others' last
# blocks (a 512 px block of ViT-B-16 is minutes on a CPU); generous by default, --dist-timeout sets it.
DEFAULT_DIST_TIMEOUT_S = 6 * 3600.0

# on_block(block_index, blocks_done, blocks_to_do) after each saved block (progress bars, tests).
BlockCallback = Callable[[int, int, int], None]

# `--pixels`: which pixels of the scene are classified (the others are nodata in every output): all
# valid ones, or those labelled in these of the scene's label rasters.
PIXEL_LABELS: dict[str, tuple[str, ...]] = {
    "all": (),
    "test": ("test",),
    "train": ("train",),
    "labelled": ("train", "test"),
}
PIXEL_SELECTIONS = tuple(PIXEL_LABELS)


def check_choice(value: str, choices: tuple[str, ...], flag: str) -> str:
    """`value` when it is one of `choices`, else a usage error naming `flag` and the choices."""
    if value not in choices:
        raise CfiptUsageError(f"{flag} must be one of {', '.join(choices)}, not {value!r}")
    return value


@dataclass(frozen=True)
class PredictOutputs:
    """Where the results go. Only `map_path` is required."""

    map_path: Path
    proba_path: Path | None = None
    confidence_path: Path | None = None
    quicklook_path: Path | None = None
    creation_options: dict[str, str] = field(default_factory=dict)
    overwrite: bool = False
    uncertainty_path: Path | None = None
    uncertainty_measure: str = "entropy"

    def __post_init__(self) -> None:
        check_choice(self.uncertainty_measure, MEASURES, "--uncertainty-measure")  # compute.uncertainty

    def rasters(self) -> list[Path]:
        """Every GeoTIFF to write, the map first."""
        paths = (self.map_path, self.proba_path, self.confidence_path, self.uncertainty_path)
        return [p for p in paths if p is not None]

    def all_paths(self) -> list[Path]:
        return [*self.rasters(), *([self.quicklook_path] if self.quicklook_path else [])]

    def named(self) -> dict[str, Path]:
        """The outputs to write by their name in the summary (map, proba, confidence, quicklook)."""
        named = {
            "map": self.map_path,
            "proba": self.proba_path,
            "confidence": self.confidence_path,
            "uncertainty": self.uncertainty_path,
            "quicklook": self.quicklook_path,
        }
        return {k: v for k, v in named.items() if v is not None}

    @property
    def floats(self) -> bool:
        """Whether a float raster (probabilities, confidence, uncertainty) is written beside the map."""
        return len(self.rasters()) > 1


@dataclass(frozen=True)
class PredictSettings:
    """How to compute: sizes, device and precision. None of them changes the map (bf16 aside).

    `batch_size`, `amp` and `device_cut` None mean the device's defaults (`resolved`): on CUDA batches
    of 256 under bf16 autocast, patches cut on the device; on CPU batches of 64 in float32, patches cut
    by numpy (see `cfipt_cli.compute.devices`, `cfipt_cli.predict.classifier`).
    """

    batch_size: int | None = None
    block_size: int = 512
    amp: bool | None = None
    prefetch: int = 2
    dist_timeout_s: float = DEFAULT_DIST_TIMEOUT_S
    device_cut: bool | None = None

    def __post_init__(self) -> None:
        if self.batch_size is not None and self.batch_size < 1:
            raise CfiptUsageError(f"--batch-size must be at least 1, not {self.batch_size}")
        if self.prefetch < 0:  # with none, no block would be computed (and the map would be empty)
            raise CfiptUsageError(f"the prefetch depth must be at least 0, not {self.prefetch}")

    def resolved(self, device: torch.device) -> PredictSettings:
        """These settings with batch size and precision decided for `device`."""
        from cfipt_cli.compute.devices import default_predict_batch, resolve_amp

        batch = default_predict_batch(device) if self.batch_size is None else self.batch_size
        amp = resolve_amp(self.amp, device)
        return replace(self, batch_size=batch, amp=amp, device_cut=self.cuts_on_device(device))

    def cuts_on_device(self, device: torch.device) -> bool:
        """Whether the patches are cut on `device` (CUDA's default) or by numpy on the host."""
        return device.type == "cuda" if self.device_cut is None else self.device_cut


@dataclass(frozen=True)
class PredictRequest:
    """`cfipt predict`: a scene folder and a model folder, what to write and how to compute."""

    scene_dir: Path
    model_dir: Path
    outputs: PredictOutputs
    settings: PredictSettings = field(default_factory=PredictSettings)
    device: str = "auto"  # a --device spec: auto, cpu, cuda, cuda:N
    pixels: str = "all"  # one of PIXEL_SELECTIONS

    def __post_init__(self) -> None:
        check_choice(self.pixels, PIXEL_SELECTIONS, "--pixels")
