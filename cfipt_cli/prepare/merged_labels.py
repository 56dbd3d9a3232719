"""Training labels from several files (`--labels a.gpkg --labels suggestions.gpkg`), seen as one source.

A file carries class names (a vector layer of names, a label raster with `.aux.xml` CategoryNames) or
only ids (a label raster without names, a vector layer of integer ids). Names match as everywhere in
cfipt (`io.classes.name_key`: case and runs of blanks ignored; the first file's spelling is kept), and
classes are matched across the files with the rule one file follows:
- with a class-names file, every file already maps its names through it (nothing to do here);
- else, when every file carries names, they are matched by name and each file's ids renumbered onto
  one table: a label raster's names keep its ids, in file order, unless an earlier file holds that id
  for another name; every other name (a vector layer's, a later raster's clashing one) takes the next
  free id, in sorted order (vector layers alone: 1..K in sorted order, as one file's names are). So
  `--labels scene/train_labels.tif --labels labelled.gpkg` keeps the scene's ids and adds new names;
- else the files that give ids (label rasters, vector layers of integer ids) fix the ids, matched by
  id and named by the rasters' category names (one id named differently by two of them is a DataError:
  the files without names cannot be matched by name); a vector layer of names then takes the ids of
  those names, and a name that no id-giving file names is a DataError (give --class-names): guessing an
  id would merge classes.

When the files are matched by name, a class that only one later file names (neither the first file nor
any other names it) is a new class: often a typo of an existing one (`Gras` beside `Grass`), so
`warn_new_classes` names each with its pixel count and the closest existing name. Within one file, two
names alike (`water` and `Water`) are a DataError: the file would name one class twice, or two classes
that cfipt cannot tell apart (one class text to CLIP).

The merged source reads every file per window: a pixel takes the class of any file that labels it. Two
files giving a pixel inside the valid footprint two different classes is counted, and `check_conflicts`
(after the pass, before anything is written) raises a DataError naming both files and how many pixels
conflict; such pixels on nodata (out of the scene anyway) are only counted in a warning. The same class
twice is one label.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from difflib import get_close_matches
from pathlib import Path

import numpy as np
from rasterio.windows import Window

from cfipt_cli.errors import DataError
from cfipt_cli.io.classes import name_key
from cfipt_cli.log import get_logger
from cfipt_cli.prepare.labels import LabelSource, RasterLabels, VectorLabels

log = get_logger(__name__)


@dataclass
class MergedLabels:
    """Several label sources on one grid, read as one (see the module docstring)."""

    parts: list[LabelSource]
    names: dict[int, str]
    conflicts: dict[tuple[int, int], int] = field(default_factory=dict)  # (part i, part j) -> pixels
    conflicts_on_nodata: int = 0  # pixels outside the valid footprint two parts disagree on
    kind: str = "merged"
    by_name: bool = False  # the parts were matched by class name (`warn_new_classes` applies)
    path: Path = field(init=False)  # the first file's (messages name the parts themselves)

    def __post_init__(self) -> None:
        self.path = self.parts[0].path

    def declared_ids(self) -> set[int] | None:
        declared = [part.declared_ids() for part in self.parts]
        if any(ids is None for ids in declared):
            return None
        return set().union(*(ids for ids in declared if ids is not None))

    def read(self, window: Window, valid: np.ndarray | None = None) -> np.ndarray:
        """Class ids of the window (0 = unlabelled), counting the pixels two parts disagree on.

        `valid`: the window's valid footprint; a disagreement outside it is counted apart (`conflicts_on_nodata`).
        """
        merged = self.parts[0].read(window).copy()
        owner = np.zeros(merged.shape, dtype=np.int16)  # which part gave each labelled pixel its class
        for j, part in enumerate(self.parts[1:], start=1):
            values = part.read(window)
            clash = (merged > 0) & (values > 0) & (merged != values)
            if valid is not None:
                self.conflicts_on_nodata += int(np.sum(clash & ~valid))
                clash &= valid
            if clash.any():
                firsts, counts = np.unique(owner[clash], return_counts=True)
                for i, n in zip(firsts.tolist(), counts.tolist(), strict=True):
                    self.conflicts[(i, j)] = self.conflicts.get((i, j), 0) + n
            fill = (merged == 0) & (values > 0)
            merged[fill] = values[fill]
            owner[fill] = j
        return merged

    def check_conflicts(self) -> None:
        """DataError when two parts gave a valid pixel two different classes (see the module docstring)."""
        if self.conflicts_on_nodata:
            log.warning(
                "%d pixels on nodata are given different classes by two label files; they are not in the "
                "scene and are ignored",
                self.conflicts_on_nodata,
            )
        if not self.conflicts:
            return
        (i, j), n = max(self.conflicts.items(), key=lambda item: item[1])
        total = sum(self.conflicts.values())
        more = f" ({total} conflicting pixels among all the files)" if total != n else ""
        raise DataError(
            f"{self.parts[i].path.name} and {self.parts[j].path.name} label {n} valid pixel(s) with "
            f"different classes{more}; correct one of them or leave one out"
        )

    def new_classes(self) -> list[tuple[int, str, Path]]:
        """(id, name, file) of each class only one file after the first names, when matched by name."""
        if not self.by_name:
            return []
        namers: dict[int, list[int]] = {}
        for i, part in enumerate(self.parts):
            for class_id in part.names:
                namers.setdefault(class_id, []).append(i)
        lone = [(c, parts[0]) for c, parts in sorted(namers.items()) if len(parts) == 1 and parts[0] > 0]
        return [(c, self.names[c], self.parts[i].path) for c, i in lone]

    def warn_new_classes(self, classes: np.ndarray) -> None:
        """One warning per new class (see the module docstring); `classes`: the labelled pixels' ids."""
        for class_id, name, path in self.new_classes():
            others = [n for c, n in self.names.items() if c != class_id]
            close = get_close_matches(name.casefold(), [n.casefold() for n in others], n=1, cutoff=0.7)
            like = next((n for n in others if close and n.casefold() == close[0]), None)
            n = int(np.count_nonzero(classes == class_id))
            log.warning(
                "%r (%d pixel%s, only in %s) is a new class; %s",
                name,
                n,
                "" if n == 1 else "s",
                path.name,
                f"a typo of {like!r}?" if like else "no other label file names it",
            )

    def close(self) -> None:
        """Nothing: each part is closed by whoever opened it (prepare's ExitStack)."""


def label_parts(source: LabelSource) -> list[LabelSource]:
    """The files behind a label source: its parts when merged, else the source itself."""
    return list(source.parts) if isinstance(source, MergedLabels) else [source]


def _gives_names(part: LabelSource) -> bool:
    """A part whose classes are named (matched by name); the others give bare ids (matched by id)."""
    return bool(part.names)


def _spellings(parts: Sequence[LabelSource]) -> dict[str, str]:
    """`name_key` -> its first spelling in the parts; one file naming two classes of one key: DataError."""
    first: dict[str, str] = {}
    for part in parts:
        own: dict[str, str] = {}
        for name in part.names.values():
            key = name_key(name)
            if own.setdefault(key, name) != name:
                one, other = sorted((own[key], name))  # the same line whatever the order of the ids
                raise DataError(
                    f"{part.path.name} names both {one!r} and {other!r}: class names match ignoring case "
                    "and blanks (one class text to CLIP), so write them alike or rename one"
                )
            first.setdefault(key, name)
    return first


def _renumber(part: LabelSource, key_to_id: Mapping[str, int], spelling: Mapping[str, str]) -> LabelSource:
    """The part with its per-file ids replaced by those of its names in `key_to_id` (by `name_key`)."""
    new_ids = {old: key_to_id[name_key(name)] for old, name in part.names.items()}
    names = {new_ids[old]: spelling[name_key(name)] for old, name in part.names.items()}
    if isinstance(part, RasterLabels):
        return replace(part, names=names, renumber=new_ids)
    assert isinstance(part, VectorLabels)
    lookup = np.zeros(max(part.names) + 1, dtype=np.int64)
    for old, new in new_ids.items():
        lookup[old] = new
    return replace(part, ids=lookup[part.ids], names=names)


def _id_names(parts: Sequence[LabelSource]) -> dict[int, str]:
    """id -> name of the id-giving parts; two names for one id is a DataError."""
    names: dict[int, str] = {}
    origin: dict[int, Path] = {}
    for part in parts:
        for class_id, name in part.names.items():
            if class_id in names and name_key(names[class_id]) != name_key(name):
                raise DataError(
                    f"class id {class_id} is {names[class_id]!r} in {origin[class_id].name} but {name!r} in "
                    f"{part.path.name}, and the label files without class names can only be matched by id; "
                    "give --class-names to name the classes"
                )
            names.setdefault(class_id, name)
            origin.setdefault(class_id, part.path)
    return names


def _all_by_name(parts: Sequence[LabelSource], spelling: Mapping[str, str]) -> dict[str, int]:
    """Every part names its classes: the name_key -> id table of the module docstring."""
    key_to_id: dict[str, int] = {}
    for part in parts:
        if isinstance(part, RasterLabels):  # a vector layer's 1..K are per file: they carry no meaning
            taken = set(key_to_id.values())
            for class_id, name in sorted(part.names.items()):
                if name_key(name) not in key_to_id and class_id not in taken:
                    key_to_id[name_key(name)] = class_id
                    taken.add(class_id)
    rest = sorted(name for key, name in spelling.items() if key not in key_to_id)
    start = max(key_to_id.values(), default=0)
    key_to_id.update({name_key(name): start + k for k, name in enumerate(rest, start=1)})
    return key_to_id


def _key_to_id(parts: Sequence[LabelSource], spelling: Mapping[str, str]) -> dict[str, int]:
    """The common name_key -> id map of the module docstring (no class-names file)."""
    if all(_gives_names(p) for p in parts):
        return _all_by_name(parts, spelling)
    by_id = _id_names([p for p in parts if not isinstance(p, VectorLabels) or not p.names])
    key_to_id = {name_key(name): class_id for class_id, name in by_id.items()}
    for part in parts:
        if not isinstance(part, VectorLabels):
            continue
        unknown = sorted(name for name in part.names.values() if name_key(name) not in key_to_id)
        if unknown:
            raise DataError(
                f"{part.path.name} names classes {unknown} that the label files giving class ids do not "
                "name; give --class-names to fix the id of every class"
            )
    return key_to_id


def merge_labels(parts: Sequence[LabelSource], names_fixed: bool) -> LabelSource:
    """One source of the parts (the part itself when alone); `names_fixed`: a class-names file was given."""
    if len(parts) == 1:
        return parts[0]
    if names_fixed or not any(_gives_names(p) for p in parts):  # ids as they are (named by the table)
        names: dict[int, str] = {}
        for part in parts:
            for class_id, name in part.names.items():
                names.setdefault(class_id, name)
        return MergedLabels(list(parts), names)
    spelling = _spellings(parts)
    key_to_id = _key_to_id(parts, spelling)
    by_name = all(_gives_names(p) for p in parts)  # else the id-giving parts keep their ids
    renumbered = [
        _renumber(p, key_to_id, spelling) if p.names and (by_name or isinstance(p, VectorLabels)) else p
        for p in parts
    ]
    names = {class_id: spelling[key] for key, class_id in key_to_id.items()}
    return MergedLabels(renumbered, names, by_name=by_name)
