"""Atomic outputs: write beside the target under a temporary name, rename at the end.

An interrupted or failed run leaves no half-written output, and an existing output is only replaced
with `overwrite=True` (checked before any work starts, and again at the rename). Temporary names carry
the writer's process id (`.NAME.tmp-PID-XXXX`, folders also hold a `.cfipt-tmp` marker), so that the
next run on the same output can tell the leftovers of a killed run from those of a live one
(`cfipt_cli.io.output_locks.clean_leftovers`).

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

TMP_MARKER = ".cfipt-tmp"  # in every temporary folder until it is renamed: {"pid", "host"}


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


def _sidecars(path: Path) -> list[Path]:
    """The files written beside `path` that go with it: GDAL's, and the QGIS style `<stem>.qml`."""
    gdal = [Path(str(path) + ext) for ext in GDAL_SIDECARS]
    return [*gdal, path.with_suffix(".qml")] if path.suffix.lower() != ".qml" else gdal


@contextlib.contextmanager
def atomic_file(target: str | os.PathLike[str], overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `target` (same suffix); rename it to `target` on success.

    Sidecars written next to the temporary file are renamed with it: GDAL's (`<tmp>.aux.xml`,
    `<tmp>.ovr`, `<tmp>.msk`) and the QGIS style `<tmp stem>.qml` (`cfipt_cli.io.qgis_styles`), which
    becomes `<target stem>.qml`, the default style QGIS loads for `target`.
    """
    target_path = check_output(target, overwrite)
    target_path.parent.mkdir(parents=True, exist_ok=True)
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
        for side_tmp, side_target in zip(_sidecars(tmp), _sidecars(target_path), strict=True):
            if side_tmp.exists():
                _replace(side_tmp, side_target, True)  # the output policy checked them before any work
        _replace(tmp, target_path, overwrite)
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
