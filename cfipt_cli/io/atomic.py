"""Atomic outputs: write beside the target under a temporary name, rename at the end.

An interrupted or failed run leaves no half-written output, and an existing output is only replaced
with `overwrite=True` (checked before any work starts, and again at the rename). Temporary names carry
the writer's process id (`.NAME.tmp-PID-XXXX`, folders also hold a `.cfipt-tmp` marker), so that the
next run on the same output can tell the leftovers of a killed run from those of a live one
(`cfipt_cli.io.output_locks.clean_leftovers`).

A file is renamed with its sidecars (GDAL's `.aux.xml`, `.ovr`, `.msk` and the QGIS style
`<stem>.qml`) in this order, so that no failure or kill leaves the sidecars of one raster beside
another (`atomic_file`, `_commit`):

1. Check everything first, before any rename: the target may be replaced (`overwrite`), and neither
   it nor a sidecar target appeared since the write began (someone else's file, never checked by the
   output policy); an existing `<stem>.qml` is replaced only when it is cfipt's class-raster style.
2. Move the old target aside (`.NAME.old-PID`), then the old sidecars: those the new file writes, and
   those it does not (GDAL's, and for a GeoTIFF a cfipt class-raster style: the old raster's, which
   would describe the new one wrongly; a user's `.qml` is never touched). A failure here puts them
   all back; a kill leaves them for the next run, which puts them back (the target is missing).
3. Rename the new file to the target: the commit.
4. Rename the new sidecars to their names, then delete what was moved aside. A kill between 3 and 4
   leaves the new file without (some of) its sidecars, never with the old ones: the next run deletes
   moved-aside sidecars whose target is present.

`JsonDocument.read` reads back the JSON documents written this way (scene.json, model.json,
checkpoint state, evaluation reports).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cfipt_cli.errors import CfiptError, OutputExistsError
from cfipt_cli.io.output_kinds import CLASS_STYLE

TMP_MARKER = ".cfipt-tmp"  # in every temporary folder until it is renamed: {"pid", "host"}
# A raw scratch file beside an output (`.NAME.tmp-PID-XXXX.raw`, e.g. the sieve's memory map): no
# GeoTIFF, so not named like one, and removed after a kill like the other temporaries.
RAW_SCRATCH_SUFFIX = ".raw"


def check_output(target: str | os.PathLike[str], overwrite: bool) -> Path:
    """Fail early when `target` exists and may not be replaced. Returns it as a Path."""
    path = Path(target)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} already exists; pass --overwrite to replace it")
    return path


def _default_mode(base: int) -> int:
    """Permissions a plain open()/mkdir() would give (mkstemp/mkdtemp make private 0600/0700 entries)."""
    umask = os.umask(0)
    os.umask(umask)
    return base & ~umask


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _replace(tmp: Path, target: Path, overwrite: bool) -> None:
    check_output(target, overwrite)
    if target.exists() or target.is_symlink():
        # Move the old output aside first so that a failure in between never loses both.
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
        os.replace(tmp, target)
        _remove(old)
    else:
        os.replace(tmp, target)


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike[str], overwrite: bool = False) -> Iterator[Path]:
    """Yield a fresh temporary folder beside `target`; rename it to `target` if the block succeeds."""
    target_path = check_output(target, overwrite)
    target_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target_path.name}.tmp-{os.getpid()}-", dir=target_path.parent))
    tmp.chmod(_default_mode(0o777))
    marker = {"pid": os.getpid(), "host": socket.gethostname()}
    (tmp / TMP_MARKER).write_text(json.dumps(marker) + "\n", encoding="utf-8")
    try:
        yield tmp
        (tmp / TMP_MARKER).unlink()
        _replace(tmp, target_path, overwrite)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


GDAL_SIDECARS = (".aux.xml", ".ovr", ".msk")  # appended to the file name
GEOTIFF_SUFFIXES = (".tif", ".tiff")  # a replaced GeoTIFF loses a cfipt class style it does not rewrite


def _sidecars(path: Path) -> list[Path]:
    """The files written beside `path` that go with it: GDAL's, and the QGIS style `<stem>.qml`."""
    gdal = [Path(str(path) + ext) for ext in GDAL_SIDECARS]
    return [*gdal, path.with_suffix(".qml")] if path.suffix.lower() != ".qml" else gdal


def _exists(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def _cfipt_class_style(path: Path) -> bool:
    return path.is_file() and not path.is_symlink() and CLASS_STYLE.recognise(path)


def _replaceable_style(path: Path) -> bool:
    """A `.qml` that may be replaced: cfipt's class-raster style, or an empty file (as the policy)."""
    return _cfipt_class_style(path) or (path.is_file() and path.stat().st_size == 0)


def _check_commit(target: Path, written: list[Path], existed: set[Path], overwrite: bool) -> None:
    """Step 1 of the module docstring: fail before any rename when `target` or a sidecar in
    `written` may not be replaced, or appeared since the write began (`existed`: what was there)."""
    check_output(target, overwrite)
    for path in [target, *written]:
        if _exists(path) and path not in existed:
            raise OutputExistsError(
                f"{path} appeared while cfipt was writing {target.name}; it is left alone and nothing "
                "was written: move it away or choose another output, then run again"
            )
        sidecar_style = path != target and path.suffix == ".qml"  # a `.qml` target is its own kind
        if sidecar_style and _exists(path) and not (overwrite and _replaceable_style(path)):
            raise OutputExistsError(
                f"{path} is not a QGIS style cfipt wrote (or --overwrite was not given); it is left "
                f"alone and {target.name} was not written: delete it yourself or choose another output"
            )


def _stale(target: Path, written: list[Path]) -> list[Path]:
    """The old target's sidecars that the new file does not write (step 2 of the module docstring)."""
    if not _exists(target):
        return []
    stale = [p for p in _sidecars(target) if p not in written and _exists(p) and p.suffix != ".qml"]
    style = target.with_suffix(".qml")
    if target.suffix.lower() in GEOTIFF_SUFFIXES and style not in written and _cfipt_class_style(style):
        stale.append(style)
    return stale


def _commit(tmp: Path, target: Path, pairs: list[tuple[Path, Path]], stale: list[Path]) -> None:
    """Steps 2 to 4 of the module docstring: `pairs` are (temporary sidecar, its name)."""
    aside: list[tuple[Path, Path]] = []
    try:
        for original in [target, *(name for _, name in pairs), *stale]:
            if _exists(original):
                old = original.with_name(f".{original.name}.old-{os.getpid()}")
                os.replace(original, old)
                aside.append((original, old))
        os.replace(tmp, target)  # the commit: from here on the new file is the output
    except BaseException:
        for original, old in reversed(aside):
            os.replace(old, original)
        raise
    for side_tmp, name in pairs:
        os.replace(side_tmp, name)
    for _, old in aside:
        _remove(old)


@contextlib.contextmanager
def atomic_file(target: str | os.PathLike[str], overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `target` (same suffix); rename it to `target` on success.

    Sidecars written next to the temporary file are renamed with it: GDAL's (`<tmp>.aux.xml`,
    `<tmp>.ovr`, `<tmp>.msk`) and the QGIS style `<tmp stem>.qml` (`cfipt_cli.io.qgis_styles`), which
    becomes `<target stem>.qml`, the default style QGIS loads for `target`. The order of the renames
    and what a replaced file's old sidecars become: the module docstring.
    """
    target_path = check_output(target, overwrite)
    target_path.parent.mkdir(parents=True, exist_ok=True)
    existed = {p for p in [target_path, *_sidecars(target_path)] if _exists(p)}
    fd, name = tempfile.mkstemp(
        prefix=f".{target_path.stem}.tmp-{os.getpid()}-", suffix=target_path.suffix, dir=target_path.parent
    )
    os.close(fd)
    tmp = Path(name)
    tmp.chmod(_default_mode(0o666))
    try:
        yield tmp
        if tmp.exists():  # some writers (safetensors) recreate the file with private permissions
            tmp.chmod(_default_mode(0o666))
        pairs = [(s, t) for s, t in zip(_sidecars(tmp), _sidecars(target_path), strict=True) if s.exists()]
        written = [t for _, t in pairs]
        _check_commit(target_path, written, existed, overwrite)
        _commit(tmp, target_path, pairs, _stale(target_path, written))
    finally:
        for leftover in [tmp, *_sidecars(tmp)]:
            if leftover.exists():
                leftover.unlink()


@dataclass(frozen=True)
class JsonDocument:
    """A kind of JSON document cfipt writes and reads back: its "format" value and how a bad file fails.

    `read` raises `error` with the message `unreadable` (may use {path} and {exc}) when the file cannot
    be read or parsed, with `foreign` (may use {path}) when it holds no document of this format.
    """

    fmt: str
    error: type[CfiptError]
    unreadable: str
    foreign: str

    def read(self, path: Path) -> dict[str, Any]:
        """The JSON object in `path` whose "format" is `fmt`."""
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise self.error(self.unreadable.format(path=path, exc=exc)) from exc
        if not isinstance(document, dict) or document.get("format") != self.fmt:
            raise self.error(self.foreign.format(path=path))
        return document
