"""The design of a validation sample: the contract between `cfipt sample` and `cfipt evaluate`.

`cfipt sample MAP --out samples.gpkg` writes the points and, beside them, `samples.gpkg.design.json`
(the naming of GDAL's `.aux.xml` sidecars): how the sample was drawn, so that area-adjusted accuracy can
be estimated later, on another machine, from the points once their reference class is filled in.

What an estimate needs (Olofsson et al. 2014; Stehman 2014): the strata and their sizes N_h in pixels
(the sampling frame: valid map pixels, less the excluded ones), the stratum of every point (its field
`stratum`), the map's class of every point (`map_id`), the pixel area, and the mapped pixels per class
(the mapped area shown beside the estimate). The map's checksum lets evaluate warn when the map
evaluated is not the one the sample was drawn from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cfipt_cli import __version__
from cfipt_cli.errors import DataError
from cfipt_cli.io.atomic import JsonDocument, atomic_file
from cfipt_cli.io.files import utc_now
from cfipt_cli.io.output_kinds import SAMPLE_DESIGN_FORMAT, SAMPLE_DESIGN_SUFFIX
from cfipt_cli.io.schema import Document

DESIGN_FORMAT = SAMPLE_DESIGN_FORMAT
DESIGN_FORMAT_VERSION = 1
DESIGN_SUFFIX = SAMPLE_DESIGN_SUFFIX
FIX = "write the sample again with cfipt sample MAP --out FILE"
ALLOCATIONS = ("proportional", "equal", "min-per-class", "given")
DESIGN_DOCUMENT = JsonDocument(
    DESIGN_FORMAT,
    DataError,
    unreadable="cannot read the sample design {path}: {exc}",
    foreign="{path} is not a cfipt sample design",
)
# The fields of every sample point (`map_class` and `reference` hold class names).
POINT_FIELDS = ("sample_id", "stratum", "map_id", "map_class", "reference")


@dataclass(frozen=True)
class Stratum:
    """One stratum: its id (a class id of the map, or of `--strata`), name, frame size and sample size."""

    id: int
    name: str
    pixels: int  # N_h: the stratum's pixels in the sampling frame
    sample_size: int  # n_h: the points drawn from it

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "pixels": self.pixels, "sample_size": self.sample_size}


@dataclass(frozen=True)
class SampleDesign:
    """How a stratified random sample of a map was drawn (see the module docstring)."""

    map_path: str
    map_sha256: str
    width: int
    height: int
    crs: str | None  # WKT, None on a plain pixel grid
    transform: tuple[float, ...]  # a, b, c, d, e, f as rasterio orders them
    pixel_area_m2: float | None  # None unless the CRS is projected (metres)
    strata: tuple[Stratum, ...]
    strata_source: str  # "map" (strata = the map's classes) or the path of a strata raster
    mapped_pixels: dict[int, int]  # per map class id: its pixels in the whole map
    allocation: str
    seed: int
    excluded_pixels: int = 0  # frame pixels left out (training / test pixels of --exclude SCENE)
    excluded_scene: str | None = None
    expected_ua: dict[int, float] | None = None  # the sample-size formula's inputs, when used
    target_se: float | None = None
    min_per_class: int | None = None
    created: str = field(default_factory=utc_now)

    @property
    def sample_size(self) -> int:
        return sum(s.sample_size for s in self.strata)

    @property
    def strata_are_map_classes(self) -> bool:
        return self.strata_source == "map"

    def to_json(self) -> dict[str, Any]:
        return {
            "format": DESIGN_FORMAT,
            "format_version": DESIGN_FORMAT_VERSION,
            "cfipt_version": __version__,
            "created": self.created,
            "map": {
                "path": self.map_path,
                "sha256": self.map_sha256,
                "width": self.width,
                "height": self.height,
                "crs": self.crs,
                "transform": list(self.transform),
                "pixel_area_m2": self.pixel_area_m2,
                "mapped_pixels": {str(k): v for k, v in sorted(self.mapped_pixels.items())},
            },
            "strata_source": self.strata_source,
            "strata": [s.to_json() for s in self.strata],
            "sample_size": self.sample_size,
            "allocation": self.allocation,
            "seed": self.seed,
            "excluded": {"scene": self.excluded_scene, "pixels": self.excluded_pixels},
            "expected_ua": None
            if self.expected_ua is None
            else {str(k): v for k, v in sorted(self.expected_ua.items())},
            "target_se": self.target_se,
            "min_per_class": self.min_per_class,
            "point_fields": list(POINT_FIELDS),
        }


def design_path(samples: str | Path) -> Path:
    """Where the design of the sample file `samples` lives: `<samples>.design.json`."""
    path = Path(samples)
    return path.with_name(path.name + DESIGN_SUFFIX)


def write_design(samples: str | Path, design: SampleDesign, overwrite: bool = False) -> Path:
    """Write the design beside `samples` (atomically); returns its path."""
    import json

    target = design_path(samples)
    with atomic_file(target, overwrite=overwrite) as tmp:
        tmp.write_text(json.dumps(design.to_json(), indent=2) + "\n", encoding="utf-8")
    return target


def read_design(samples: str | Path) -> SampleDesign | None:
    """The design of the sample file `samples`, or None when it has none (a sample of another origin).

    Raises DataError, one line naming the bad key, when the design file is damaged.
    """
    path = design_path(samples)
    if not path.exists():
        return None
    data = DESIGN_DOCUMENT.read(path)
    return _from_json(Document(data, path, FIX, error=DataError))


def _from_json(doc: Document) -> SampleDesign:
    version = doc.integer("format_version", low=1)
    if version != DESIGN_FORMAT_VERSION:
        raise doc.error("format_version", f"{DESIGN_FORMAT_VERSION} (this cfipt reads no other)")
    grid = doc.sub("map")
    strata = [_stratum(doc, i, raw) for i, raw in enumerate(doc.items("strata", dict, low=1))]
    if len({s.id for s in strata}) != len(strata):
        raise doc.error("strata", "strata with distinct ids")
    allocation = doc.string("allocation")
    if allocation not in ALLOCATIONS:
        raise doc.error("allocation", f"one of {', '.join(ALLOCATIONS)}")
    excluded = doc.sub("excluded")
    area = _optional_number(grid, "pixel_area_m2")
    if area is not None and not area > 0:
        raise grid.error("pixel_area_m2", "a positive number or null")
    return SampleDesign(
        map_path=grid.string("path"),
        map_sha256=grid.string("sha256"),
        width=grid.integer("width", low=1),
        height=grid.integer("height", low=1),
        crs=_optional_string(grid, "crs"),
        transform=tuple(grid.numbers("transform", length=6)),
        pixel_area_m2=area,
        strata=tuple(strata),
        strata_source=doc.string("strata_source"),
        mapped_pixels=_counts(grid, "mapped_pixels"),
        allocation=allocation,
        seed=doc.integer("seed", low=0),
        excluded_pixels=excluded.integer("pixels", low=0),
        excluded_scene=_optional_string(excluded, "scene"),
        expected_ua=_expected_ua(doc),
        target_se=_target_se(doc),
        min_per_class=None if doc.data.get("min_per_class") is None else doc.integer("min_per_class", low=1),
        created=doc.string("created"),
    )


def _optional_string(doc: Document, key: str) -> str | None:
    value = doc.data.get(key)
    if value is not None and not isinstance(value, str):
        raise doc.error(key, "a string or null")
    return value


def _optional_number(doc: Document, key: str) -> float | None:
    value = doc.data.get(key)
    if value is None:
        return None
    if not _is_number(value):
        raise doc.error(key, "a finite number or null")
    return float(value)


def _is_number(value: Any) -> bool:
    """A finite JSON number (json.loads reads NaN and Infinity; true / false are not numbers here)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _target_se(doc: Document) -> float | None:
    value = _optional_number(doc, "target_se")
    if value is not None and not 0 < value < 1:
        raise doc.error("target_se", "a standard error in (0, 1) or null")
    return value


def _expected_ua(doc: Document) -> dict[int, float] | None:
    if doc.data.get("expected_ua") is None:
        return None
    values = doc.mapping("expected_ua")
    if not all(k.isdigit() and _is_number(v) and 0 <= v <= 1 for k, v in values.items()):
        raise doc.error("expected_ua", "class ids mapped to accuracies in 0..1")
    return {int(k): float(v) for k, v in values.items()}


def _stratum(doc: Document, index: int, raw: dict[str, Any]) -> Stratum:
    entry = Document(raw, doc.path, doc.fix, prefix=f"strata[{index}].", error=DataError)
    stratum = Stratum(
        id=entry.integer("id", low=0),
        name=entry.string("name"),
        pixels=entry.integer("pixels", low=0),
        sample_size=entry.integer("sample_size", low=0),
    )
    if stratum.sample_size > stratum.pixels:
        raise entry.error("sample_size", f"at most the stratum's {stratum.pixels} pixels")
    return stratum


def _counts(doc: Document, key: str) -> dict[int, int]:
    counts = doc.mapping(key)
    if not all(
        k.isdigit() and isinstance(v, int) and not isinstance(v, bool) and v >= 0 for k, v in counts.items()
    ):
        raise doc.error(key, "class ids mapped to pixel counts")
    return {int(k): int(v) for k, v in counts.items()}
