"""One output policy for every command (prepare, train, predict, evaluate); its names are all here.

1. **Never over an input.** Every output path, and the sidecars written with it (`.aux.xml`, `.ovr`,
   `.msk`, the QGIS style `<stem>.qml` of a class raster), is compared with every input and its
   sidecars (a shapefile's `.shx`, `.dbf`, ..., the `<stem>.qml` QGIS would load for it) after
   resolving links and `.`: an output equal to an input, inside an input folder, or a folder that holds
   an input (or the working directory) is a usage error (exit 2), with or without `--overwrite`.
2. **`--overwrite` replaces only what cfipt wrote.** An existing output is an error without it; with
   it, it is replaced only when it is the kind of thing cfipt writes there (`OutputKind`, see
   `cfipt_cli.io.output_kinds`): a scene folder (`scene.json`), a model folder (`model.json`), a GeoTIFF
   tagged by cfipt, a PNG whose Software chunk says cfipt, an evaluation report (JSON / CSV / Markdown
   as cfipt writes them), a sample of `cfipt sample` (its points, design and style), or an empty file or
   folder. Anything else is refused even with `--overwrite`. The QGIS style written beside a class
   raster (`OutputKind.style`) is an output of its own here: a `<stem>.qml` that is not cfipt's is
   refused before any work, even with `--overwrite`. A GeoTIFF of a kind without a style (a
   probability raster, say) that replaces a file removes a cfipt class-raster style `<stem>.qml`
   beside it, which would draw the new raster as the old map (a user's `.qml` is left alone), and the
   old file's GDAL sidecars go with it (`cfipt_cli.io.atomic`, at the rename); so the `<stem>.qml` of
   every GeoTIFF output counts in rule 1.
3. **One run per output.** `locked_outputs` takes an OS lock (`fcntl.flock`) on a lock file beside
   each output (`.NAME.lock`) for the whole run; a second run on the same output fails at once with one
   line. The lock dies with its process, so a `kill -9` never leaves a stale lock.
4. **Leftovers of dead runs are removed.** Holding the lock, the run removes the temporary files and
   folders (`.NAME.tmp-PID-*`) that `cfipt_cli.io.atomic` left beside the output when a run was killed
   (recognised by their name and, for folders, the marker inside, and only when process PID is gone);
   an old output moved aside (`.NAME.old-PID`) by a run killed during its final rename is put back when
   the output is missing, and only when it is recognisably cfipt's: a user's file of that name is left
   alone. Locks and leftovers: `cfipt_cli.io.output_locks`.
5. **Names that fit.** An output name too long for the temporary names beside it is a usage error
   before any work.

This module holds the checks of rules 1, 2 and 5 (`check_outputs`, before any work).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cfipt_cli.errors import CfiptUsageError, OutputExistsError
from cfipt_cli.io.atomic import GEOTIFF_SUFFIXES
from cfipt_cli.io.files import resolved
from cfipt_cli.io.output_kinds import (
    ALL_KINDS,
    CLASS_MAP,
    CLASS_STYLE,
    GEOTIFF,
    MODEL,
    PNG,
    REPORT_CSV,
    REPORT_JSON,
    REPORT_KINDS,
    REPORT_MD,
    SAMPLE_DESIGN,
    SAMPLE_POINTS,
    SAMPLE_STYLE,
    SCENE,
    STUDY,
    SUGGESTIONS,
    SUGGESTIONS_RECORD,
    SUGGESTIONS_STYLE,
    OutputKind,
    png_software,
)
from cfipt_cli.io.output_locks import clean_leftovers, lock_path, locked_outputs

__all__ = [
    "ALL_KINDS",
    "CLASS_MAP",
    "CLASS_STYLE",
    "GEOTIFF",
    "MODEL",
    "PNG",
    "REPORT_CSV",
    "REPORT_JSON",
    "REPORT_KINDS",
    "REPORT_MD",
    "SAMPLE_DESIGN",
    "SAMPLE_POINTS",
    "SAMPLE_STYLE",
    "SCENE",
    "STUDY",
    "SUGGESTIONS",
    "SUGGESTIONS_RECORD",
    "SUGGESTIONS_STYLE",
    "Output",
    "OutputKind",
    "check_names_fit",
    "check_outputs",
    "check_replaceable",
    "clean_leftovers",
    "expand_styles",
    "lock_path",
    "locked_outputs",
    "png_software",
    "refuse_outputs_over_inputs",
]

OUTPUT_SIDECARS = (".aux.xml", ".ovr", ".msk")
INPUT_SIDECARS = {
    ".shp": (".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn", ".sbx", ".shp.xml"),
}
TEMP_NAME_EXTRA = 40  # bytes the longest temporary name adds to an output's name (`check_names_fit`)


@dataclass(frozen=True)
class Output:
    """One output of a command: its path, the option that names it, what cfipt writes there."""

    path: Path
    flag: str
    kind: OutputKind


def _style_path(path: Path) -> Path:
    """The `.qml` QGIS loads as the default style of `path` (as `cfipt_cli.io.qgis_styles.style_path`)."""
    return path.with_suffix(".qml")


def _input_paths(path: Path) -> list[Path]:
    base = resolved(path)
    paths = [base, *(Path(str(base) + ext) for ext in OUTPUT_SIDECARS)]
    if base.suffix.lower() != ".qml" and not base.is_dir():  # a folder has no QGIS style beside it
        paths.append(_style_path(base))
    for ext in INPUT_SIDECARS.get(base.suffix.lower(), ()):
        paths.append(base.with_suffix(ext))
    return paths


def _output_paths(output: Output) -> list[Path]:
    base = resolved(output.path)
    if output.kind.folder:
        return [base]
    # a GeoTIFF's `<stem>.qml` is written (class rasters) or may be removed (`atomic`) with it
    geotiff = base.suffix.lower() in GEOTIFF_SUFFIXES
    styles = [_style_path(base)] if output.kind.style is not None or geotiff else []
    return [base, *(Path(str(base) + ext) for ext in OUTPUT_SIDECARS), *styles]


def expand_styles(outputs: Sequence[Output]) -> list[Output]:
    """The outputs with, after each that writes a QGIS style beside it, that style as an output."""
    expanded = []
    for output in outputs:
        expanded.append(output)
        if output.kind.style is not None:
            expanded.append(Output(_style_path(output.path), output.flag, output.kind.style))
    return expanded


def _overlaps(out: Path, other: Path) -> bool:
    return out == other or out in other.parents or other in out.parents


def refuse_outputs_over_inputs(outputs: Sequence[Output], inputs: Sequence[tuple[str, str | Path]]) -> None:
    """Usage error when an output is, is inside, or holds an input (or the working directory), when
    two outputs are the same file, or when a name is too long for the temporary names beside it."""
    check_names_fit(outputs)
    seen: dict[Path, Output] = {}
    for output in outputs:
        for path in _output_paths(output):
            if path in seen and seen[path] is not output:
                raise CfiptUsageError(
                    f"{seen[path].flag} {seen[path].path} and {output.flag} {output.path} are the same "
                    "file; give each output its own path"
                )
            seen[path] = output
    cwd = resolved(".")
    for output in outputs:
        out = resolved(output.path)
        if out == cwd or out in cwd.parents:
            raise CfiptUsageError(
                f"{output.flag} {output.path} is the working directory or holds it; choose another output"
            )
        for what, item in inputs:
            if any(_overlaps(o, i) for o in _output_paths(output) for i in _input_paths(Path(item))):
                raise CfiptUsageError(
                    f"{output.flag} {output.path} would replace the input {item} ({what}) or write into "
                    "it; outputs never go over or into an input: choose another output path"
                )


def _empty(path: Path) -> bool:
    if path.is_dir():
        return not any(path.iterdir())
    return path.is_file() and path.stat().st_size == 0


def check_replaceable(output: Output, overwrite: bool) -> None:
    """An existing output: an error without `overwrite`; with it, only what cfipt wrote is replaced."""
    path = output.path
    if not (path.exists() or path.is_symlink()):
        return
    if not overwrite:
        raise OutputExistsError(f"{path} already exists; pass --overwrite to replace it")
    if path.is_symlink() or not (_empty(path) or output.kind.recognise(path)):
        raise OutputExistsError(
            f"{path} is not a {output.kind.what}; --overwrite replaces only what cfipt wrote, so it is left "
            f"alone: delete it yourself or choose another {output.flag}"
        )


def check_outputs(
    outputs: Sequence[Output], inputs: Sequence[tuple[str, str | Path]], overwrite: bool
) -> None:
    """The whole policy before any work: no output over an input, existing outputs replaceable."""
    refuse_outputs_over_inputs(outputs, inputs)
    for output in expand_styles(outputs):
        check_replaceable(output, overwrite)


def check_names_fit(outputs: Sequence[Output]) -> None:
    """Usage error when an output's name leaves no room for the temporary names cfipt puts beside it
    (`.NAME.tmp-PID-XXXXXXXX.ext.aux.xml`, `.NAME.parts`, `.NAME.lock`: up to 40 bytes more), which
    would otherwise fail only when the first of them is written, after the work."""
    for output in outputs:
        path = resolved(output.path)
        folder = next((p for p in (path.parent, *path.parent.parents) if p.exists()), Path("/"))
        try:
            limit = os.pathconf(folder, "PC_NAME_MAX")
        except (OSError, ValueError):
            limit = 255
        size = len(os.fsencode(path.name))
        if size + TEMP_NAME_EXTRA > limit:
            raise CfiptUsageError(
                f"{output.flag} {output.path}: the file name is {size} bytes and cfipt needs "
                f"{TEMP_NAME_EXTRA} more for its temporary names beside it (the file system allows "
                f"{limit}); choose a shorter name"
            )
