"""The class table (id, name, colour) shared by scenes, models, maps and reports.

Ids are the pixel values of label rasters and maps: 1..K, with 0 = unlabelled / nodata. The table
travels in `scene.json` and `model.json`, and in a map's colour table and `.tif.aux.xml` sidecar
(GDAL PAM `CategoryNames`), so that `cfipt evaluate` can match classes by name, not by position.
"""

from __future__ import annotations

import colorsys
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cfipt_cli.errors import DataError, InputNotFoundError

MAX_CLASS_ID = 65535  # class ids are 1..65535 (uint16 rasters, 0 = unlabelled)

Colour = tuple[int, int, int]


def name_key(name: str) -> str:
    """Class names match ignoring case and runs of blanks ('Parking lot 1' == 'parking  lot 1').

    The rule of every comparison of class names across files (evaluate, --init-from): CLIP's tokenizer
    lower-cases the class text and collapses its blanks, so two names with one key are one text.
    """
    return re.sub(r"\s+", " ", name).strip().casefold()


def default_colour(class_id: int) -> Colour:
    """A distinct, stable colour per id (golden-ratio hue steps), used when the user gives none."""
    hue = (class_id * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(
        hue, 0.65 + 0.35 * ((class_id // 7) % 2), 0.95 - 0.25 * ((class_id // 3) % 2)
    )
    return (round(r * 255), round(g * 255), round(b * 255))


def parse_colour(value: str | Sequence[int]) -> Colour:
    """'#rrggbb' or [r, g, b] -> (r, g, b)."""
    if isinstance(value, str):
        text = value.lstrip("#")
        if len(text) != 6:
            raise DataError(f"colour {value!r} is not of the form #rrggbb")
        return (int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16))
    if len(value) < 3:
        raise DataError(f"colour {value!r} needs three components")
    r, g, b = (int(c) for c in value[:3])
    return (r, g, b)


def colour_hex(colour: Colour) -> str:
    """(r, g, b) -> '#rrggbb'."""
    return "#{:02x}{:02x}{:02x}".format(*colour)


@dataclass(frozen=True)
class ClassInfo:
    """One class: its pixel value, its name and its display colour."""

    id: int
    name: str
    colour: Colour


class ClassTable:
    """An ordered table of classes with unique positive ids and unique names."""

    def __init__(self, classes: Iterable[ClassInfo]):
        self.classes: list[ClassInfo] = sorted(classes, key=lambda c: c.id)
        ids = [c.id for c in self.classes]
        names = [c.name for c in self.classes]
        if any(i <= 0 or i > MAX_CLASS_ID for i in ids):
            raise DataError(f"class ids must be in 1..{MAX_CLASS_ID} (0 means unlabelled)")
        if len(set(ids)) != len(ids):
            raise DataError(f"duplicate class ids in {ids}")
        if len(set(names)) != len(names):
            raise DataError(f"duplicate class names in {names}")

    @classmethod
    def from_names(cls, names: Sequence[str]) -> ClassTable:
        """Ids 1..K in the given order, default colours."""
        return cls(ClassInfo(i, str(n), default_colour(i)) for i, n in enumerate(names, start=1))

    @classmethod
    def from_ids(cls, ids: Iterable[int], names: Mapping[int, str] | None = None) -> ClassTable:
        """Classes for integer ids; names default to 'class <id>'."""
        names = names or {}
        return cls(
            ClassInfo(int(i), names.get(int(i), f"class {int(i)}"), default_colour(int(i))) for i in ids
        )

    def __len__(self) -> int:
        return len(self.classes)

    def __iter__(self) -> Iterator[ClassInfo]:
        return iter(self.classes)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ClassTable) and self.classes == other.classes

    @property
    def ids(self) -> list[int]:
        return [c.id for c in self.classes]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.classes]

    @property
    def max_id(self) -> int:
        return max(self.ids, default=0)

    def name_of(self, class_id: int) -> str:
        for c in self.classes:
            if c.id == class_id:
                return c.name
        raise KeyError(class_id)

    def id_of(self, name: str) -> int:
        for c in self.classes:
            if c.name == name:
                return c.id
        raise KeyError(name)

    def to_json(self) -> list[dict[str, Any]]:
        return [{"id": c.id, "name": c.name, "colour": colour_hex(c.colour)} for c in self.classes]

    @classmethod
    def from_json(cls, items: Sequence[Mapping[str, Any]]) -> ClassTable:
        try:
            return cls(
                ClassInfo(
                    int(d["id"]),
                    str(d["name"]),
                    parse_colour(d.get("colour") or default_colour(int(d["id"]))),
                )
                for d in items
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, DataError):
                raise
            raise DataError(f"malformed class table: {exc}") from exc

    def colormap(self) -> dict[int, tuple[int, int, int, int]]:
        """A rasterio colour map: 0 transparent black, every class its colour."""
        cmap = {0: (0, 0, 0, 0)}
        cmap.update({c.id: (*c.colour, 255) for c in self.classes})
        return cmap

    def category_names(self) -> list[str]:
        """GDAL CategoryNames: entry i names pixel value i; gaps and 0 are empty strings."""
        names = [""] * (self.max_id + 1)
        for c in self.classes:
            names[c.id] = c.name
        return names

    def write_aux_xml(self, raster_path: str | Path, band: int = 1) -> Path:
        """Write `<raster>.aux.xml` (GDAL PAM) with CategoryNames, which rasterio cannot write itself."""
        root = ET.Element("PAMDataset")
        band_el = ET.SubElement(root, "PAMRasterBand", band=str(band))
        cats = ET.SubElement(band_el, "CategoryNames")
        for name in self.category_names():
            ET.SubElement(cats, "Category").text = name
        out = Path(str(raster_path) + ".aux.xml")
        ET.indent(root)
        out.write_text(ET.tostring(root, encoding="unicode") + "\n", encoding="utf-8")
        return out

    @classmethod
    def from_aux_xml(cls, raster_path: str | Path, band: int = 1) -> ClassTable | None:
        """Read CategoryNames from `<raster>.aux.xml`; None when there is no sidecar or no names."""
        side = Path(str(raster_path) + ".aux.xml")
        if not side.exists():
            return None
        try:
            root = ET.parse(side).getroot()
        except ET.ParseError as exc:
            raise DataError(f"{side} is not valid XML: {exc}") from exc
        for band_el in root.iter("PAMRasterBand"):
            if band_el.get("band", "1") != str(band):
                continue
            cats = band_el.find("CategoryNames")
            if cats is None:
                return None
            names = [(c.text or "").strip() for c in cats.findall("Category")]
            return cls(ClassInfo(i, n, default_colour(i)) for i, n in enumerate(names) if i > 0 and n)
        return None


def load_class_table(path: str | Path) -> ClassTable:
    """A class table from a scene or model folder, their scene.json / model.json, or a JSON list.

    Raises:
        InputNotFoundError: the path does not exist.
        DataError: no class table in it.
    """
    source = Path(path)
    if source.is_dir():
        candidates = [source / "scene.json", source / "model.json"]
        source = next((p for p in candidates if p.exists()), candidates[0])
    if not source.exists():
        raise InputNotFoundError(f"class table {source} does not exist")
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:  # a binary file: not JSON either
        raise DataError(f"{source} is not readable JSON: {exc}") from exc
    items = data.get("classes") if isinstance(data, dict) else data
    if not isinstance(items, list) or not items:
        raise DataError(f"{source} holds no class table (a 'classes' list of id/name entries)")
    try:
        return ClassTable.from_json(items)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"{source} holds no valid class table ({exc!r}); give id/name entries") from exc
