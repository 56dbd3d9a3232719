"""Training labels from several files (`--labels a.gpkg --labels suggestions.gpkg`), seen as one source.

Class names are matched by name across the files, with the rule one file follows:
- with a class-names file, every file already maps its names through it (nothing to do here);
- else, when every file gives names (vector layers of names), the union of the names is numbered
  1..K in sorted order, as one file's names are;
- else the files that give ids (label rasters, vector layers of integer ids) fix the ids, named by
  the rasters' category names; a vector layer of names then takes the ids of those names, and a name
  that no id-giving file names is a DataError (give --class-names): guessing an id would merge classes.

The merged source reads every file per window: a pixel takes the class of any file that labels it;
two files giving one pixel two different classes is counted, and `check_conflicts` (after the pass,
before anything is written) raises a DataError naming both files and how many pixels conflict.
The same class twice is one label.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from rasterio.windows import Window

from cfipt_cli.errors import DataError
from cfipt_cli.prepare.labels import LabelSource, VectorLabels


@dataclass
class MergedLabels:
    """Several label sources on one grid, read as one (see the module docstring)."""

    parts: list[LabelSource]
    names: dict[int, str]
    conflicts: dict[tuple[int, int], int] = field(default_factory=dict)  # (part i, part j) -> pixels
    kind: str = "merged"
    path: Path = field(init=False)  # the first file's (messages name the parts themselves)

    def __post_init__(self) -> None:
        self.path = self.parts[0].path

    def declared_ids(self) -> set[int] | None:
        declared = [part.declared_ids() for part in self.parts]
        if any(ids is None for ids in declared):
            return None
        return set().union(*(ids for ids in declared if ids is not None))

    def read(self, window: Window) -> np.ndarray:
        """Class ids of the window (0 = unlabelled), counting the pixels two parts disagree on."""
        merged = self.parts[0].read(window).copy()
        owner = np.zeros(merged.shape, dtype=np.int16)  # which part gave each labelled pixel its class
        for j, part in enumerate(self.parts[1:], start=1):
            values = part.read(window)
            clash = (merged > 0) & (values > 0) & (merged != values)
            if clash.any():
                firsts, counts = np.unique(owner[clash], return_counts=True)
                for i, n in zip(firsts.tolist(), counts.tolist(), strict=True):
                    self.conflicts[(i, j)] = self.conflicts.get((i, j), 0) + n
            fill = (merged == 0) & (values > 0)
            merged[fill] = values[fill]
            owner[fill] = j
        return merged

    def check_conflicts(self) -> None:
        """DataError when two parts gave a pixel two different classes (see the module docstring)."""
        if not self.conflicts:
            return
        (i, j), n = max(self.conflicts.items(), key=lambda item: item[1])
        total = sum(self.conflicts.values())
        more = f" ({total} conflicting pixels among all the files)" if total != n else ""
        raise DataError(
            f"{self.parts[i].path.name} and {self.parts[j].path.name} label {n} pixel(s) with different "
            f"classes{more}; correct one of them or leave one out"
        )

    def close(self) -> None:
        """Nothing: each part is closed by whoever opened it (prepare's ExitStack)."""


def label_parts(source: LabelSource) -> list[LabelSource]:
    """The files behind a label source: its parts when merged, else the source itself."""
    return list(source.parts) if isinstance(source, MergedLabels) else [source]


def _gives_names(part: LabelSource) -> bool:
    return isinstance(part, VectorLabels) and bool(part.names)


def _renumber(part: VectorLabels, name_to_id: Mapping[str, int]) -> VectorLabels:
    """The layer with its per-file ids replaced by those of its names in `name_to_id`."""
    lookup = np.zeros(max(part.names) + 1, dtype=np.int64)
    for old, name in part.names.items():
        lookup[old] = name_to_id[name]
    names = {name_to_id[name]: name for name in part.names.values()}
    return replace(part, ids=lookup[part.ids], names=names)


def _id_names(parts: Sequence[LabelSource]) -> dict[int, str]:
    """id -> name of the id-giving parts; two names for one id is a DataError."""
    names: dict[int, str] = {}
    origin: dict[int, Path] = {}
    for part in parts:
        for class_id, name in part.names.items():
            if class_id in names and names[class_id] != name:
                raise DataError(
                    f"class id {class_id} is {names[class_id]!r} in {origin[class_id].name} but {name!r} in "
                    f"{part.path.name}; give --class-names to name the classes"
                )
            names[class_id], origin[class_id] = name, part.path
    return names


def _name_to_id(parts: Sequence[LabelSource]) -> dict[str, int]:
    """The common name -> id map of the module docstring (no class-names file)."""
    named = [p for p in parts if _gives_names(p)]
    if len(named) == len(parts):
        union = sorted({n for p in named for n in p.names.values()})
        return {name: i for i, name in enumerate(union, start=1)}
    by_id = _id_names([p for p in parts if not _gives_names(p)])
    name_to_id = {name: class_id for class_id, name in by_id.items()}
    for part in named:
        unknown = sorted(set(part.names.values()) - set(name_to_id))
        if unknown:
            raise DataError(
                f"{part.path.name} names classes {unknown} that the label files giving class ids do not "
                "name; give --class-names to fix the id of every class"
            )
    return name_to_id


def merge_labels(parts: Sequence[LabelSource], names_fixed: bool) -> LabelSource:
    """One source of the parts (the part itself when alone); `names_fixed`: a class-names file was given."""
    if len(parts) == 1:
        return parts[0]
    if not names_fixed and any(_gives_names(p) for p in parts):
        name_to_id = _name_to_id(parts)
        parts = [_renumber(p, name_to_id) if _gives_names(p) else p for p in parts]  # type: ignore[arg-type]
    names: dict[int, str] = {}
    for part in parts:
        for class_id, name in part.names.items():
            names.setdefault(class_id, name)
    return MergedLabels(list(parts), names)
