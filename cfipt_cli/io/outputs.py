"""One output policy for every command (prepare, train, predict, evaluate).

1. **Never over an input.** Every output path, and the sidecars written with it (`.aux.xml`, `.ovr`,
   `.msk`), is compared with every input and its sidecars (a shapefile's `.shx`, `.dbf`, ...) after
   resolving links and `.`: an output equal to an input, inside an input folder, or a folder that holds
   an input (or the working directory) is a usage error (exit 2), with or without `--overwrite`.
2. **`--overwrite` replaces only what cfipt wrote.** An existing output is an error without it; with
   it, it is replaced only when it is the kind of thing cfipt writes there (`OutputKind`): a scene
   folder (`scene.json`), a model folder (`model.json`), a GeoTIFF tagged by cfipt, a PNG whose
   Software chunk says cfipt, an evaluation report (JSON / CSV / Markdown as cfipt writes them), or an
   empty file or folder. Anything else is refused even with `--overwrite`.
3. **One run per output.** `locked_outputs` takes an OS lock (`fcntl.flock`) on a lock file beside
   each output (`.NAME.lock`) for the whole run; a second run on the same output fails at once with one
   line. The lock dies with its process, so a `kill -9` never leaves a stale lock.
4. **Leftovers of dead runs are removed.** Holding the lock, the run removes the temporary files and
   folders (`.NAME.tmp-PID-*`) that `cfipt_cli.io.atomic` left beside the output when a run was killed
   (recognised by their name and, for folders, the marker inside, and only when process PID is gone);
   an old output moved aside (`.NAME.old-PID`) by a run killed during its final rename is put back when
   the output is missing, and only when it is recognisably cfipt's: a user's file of that name is left
   alone.
5. **Names that fit.** An output name too long for the temporary names beside it is a usage error
   before any work.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import socket
import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from cfipt_cli.errors import CfiptUsageError, OutputBusyError, OutputExistsError, OutputNotWritableError
from cfipt_cli.io.atomic import TMP_MARKER
from cfipt_cli.log import get_logger

log = get_logger(__name__)

OUTPUT_SIDECARS = (".aux.xml", ".ovr", ".msk")
INPUT_SIDECARS = {
    ".shp": (".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn", ".sbx", ".shp.xml"),
}
PNG_SOFTWARE = "cfipt"  # the PNG tEXt "Software" value starts with it (`mapio.png_metadata`)
TEMP_NAME_EXTRA = 40  # bytes the longest temporary name adds to an output's name (`check_names_fit`)


# ------------------------------------------------------------------------------------ output kinds
def _json_format(path: Path) -> str | None:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return str(document.get("format")) if isinstance(document, dict) else None


def _is_cfipt_geotiff(path: Path) -> bool:
    import warnings

    import rasterio

    from cfipt_cli.io.gdal import gdal_errors
    from cfipt_cli.io.mapio import PRODUCT_TAG

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            src = rasterio.open(path)
        with src:
            # maps written before the tag existed: the band descriptions cfipt gave them
            legacy = src.descriptions[:1] in (("class id",), ("confidence (max class probability)",))
            return bool(src.tags().get(PRODUCT_TAG)) or legacy
    except gdal_errors():
        return False


def png_software(path: Path) -> str | None:
    """The `Software` tEXt value of a PNG file, or None (not a PNG, or no such chunk before the data)."""
    try:
        with path.open("rb") as handle:
            if handle.read(8) != b"\x89PNG\r\n\x1a\n":
                return None
            while True:
                head = handle.read(8)
                if len(head) < 8:
                    return None
                length, kind = struct.unpack(">I4s", head)
                if kind in (b"IDAT", b"IEND") or length > 1 << 20:
                    return None
                data = handle.read(length)
                handle.read(4)  # CRC
                if kind == b"tEXt" and data.startswith(b"Software\x00"):
                    return data.split(b"\x00", 1)[1].decode("latin-1")
    except OSError:
        return None


def _first_line(path: Path) -> str:
    try:
        with path.open(encoding="utf-8") as handle:
            return handle.readline().rstrip("\n")
    except (OSError, UnicodeDecodeError):
        return ""


@dataclass(frozen=True)
class OutputKind:
    """What cfipt writes at an output: `what` for messages, `recognise(path)` for `--overwrite`."""

    what: str
    folder: bool
    recognise: Callable[[Path], bool]


def _folder_with(name: str, fmt: str) -> Callable[[Path], bool]:
    return lambda path: path.is_dir() and _json_format(path / name) == fmt


SCENE = OutputKind("cfipt scene folder", True, _folder_with("scene.json", "cfipt-scene"))
MODEL = OutputKind("cfipt model folder", True, _folder_with("model.json", "cfipt-model"))
GEOTIFF = OutputKind("GeoTIFF written by cfipt", False, _is_cfipt_geotiff)
PNG = OutputKind("PNG written by cfipt", False, lambda p: (png_software(p) or "").startswith(PNG_SOFTWARE))
REPORT_JSON = OutputKind(
    "JSON report of cfipt evaluate",
    False,
    lambda p: _json_format(p) in ("cfipt-evaluation", "cfipt-evaluation-summary"),
)
REPORT_CSV = OutputKind(
    "CSV report of cfipt evaluate",
    False,
    lambda p: (
        _first_line(p).startswith("#Reference labels (rows):")
        or _first_line(p) == "metric,class_id,class,mean,std,n"
    ),
)
REPORT_MD = OutputKind(
    "Markdown report of cfipt evaluate",
    False,
    lambda p: _first_line(p).startswith(("Accuracy of ", "Mean ± standard deviation over ")),
)
REPORT_KINDS = {".json": REPORT_JSON, ".csv": REPORT_CSV, ".md": REPORT_MD, ".png": PNG}
ALL_KINDS = (SCENE, MODEL, GEOTIFF, PNG, REPORT_JSON, REPORT_CSV, REPORT_MD)


@dataclass(frozen=True)
class Output:
    """One output of a command: its path, the option that names it, what cfipt writes there."""

    path: Path
    flag: str
    kind: OutputKind


# ------------------------------------------------------------------------------------------ checks
def resolved(path: str | os.PathLike[str]) -> Path:
    """The absolute path with links and `.` / `..` resolved (also when it does not exist yet)."""
    return Path(os.path.abspath(os.fspath(path))).resolve()


def _input_paths(path: Path) -> list[Path]:
    base = resolved(path)
    paths = [base, *(Path(str(base) + ext) for ext in OUTPUT_SIDECARS)]
    for ext in INPUT_SIDECARS.get(base.suffix.lower(), ()):
        paths.append(base.with_suffix(ext))
    return paths


def _output_paths(output: Output) -> list[Path]:
    base = resolved(output.path)
    return [base] if output.kind.folder else [base, *(Path(str(base) + ext) for ext in OUTPUT_SIDECARS)]


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
    for output in outputs:
        check_replaceable(output, overwrite)


# ------------------------------------------------------------------------------------ locks, leftovers
def lock_path(target: Path) -> Path:
    return target.parent / f".{target.name}.lock"


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _dead_tmp_folder(path: Path) -> bool:
    try:
        marker = json.loads((path / TMP_MARKER).read_text(encoding="utf-8"))
        pid, host = int(marker["pid"]), str(marker["host"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return host != socket.gethostname() or not _pid_alive(pid)


def clean_leftovers(target: Path) -> None:
    """Remove the temporary entries of dead runs beside `target`, and inside it when it is a cfipt
    folder (a model's checkpoint/ and model.json are replaced the same way); call with the lock held."""
    name, stem, suffix = re.escape(target.name), re.escape(target.stem), re.escape(target.suffix)
    sidecar = r"(?P<ext>\.aux\.xml|\.ovr|\.msk)?"
    _clean_folder(
        target.parent,
        tmp_dir=re.compile(rf"\.{name}\.tmp-(?P<pid>\d+)-\w+"),
        tmp_file=re.compile(rf"\.{stem}\.tmp-(?P<pid>\d+)-\w+{suffix}{sidecar}"),
        old=re.compile(rf"\.(?P<name>{name}{sidecar})\.old-(?P<pid>\d+)"),
        trusted=False,
    )
    if target.is_dir() and not target.is_symlink() and (SCENE.recognise(target) or MODEL.recognise(target)):
        _clean_folder(
            target,
            tmp_dir=re.compile(r"\.[^/]+\.tmp-(?P<pid>\d+)-\w+"),
            tmp_file=re.compile(r"\.[^/]+\.tmp-(?P<pid>\d+)-\w+\.\w+"),
            old=re.compile(r"\.(?P<name>[^/]+)\.old-(?P<pid>\d+)"),
            trusted=True,
        )


def _clean_folder(
    folder: Path, tmp_dir: re.Pattern[str], tmp_file: re.Pattern[str], old: re.Pattern[str], trusted: bool
) -> None:
    try:
        entries = sorted(folder.iterdir(), key=lambda e: len(e.name))  # a GeoTIFF before its sidecars
    except OSError:
        return
    for entry in entries:
        with contextlib.suppress(OSError):
            _clean_one(entry, tmp_dir, tmp_file, old, trusted)


def _clean_one(
    entry: Path, tmp_dir: re.Pattern[str], tmp_file: re.Pattern[str], old: re.Pattern[str], trusted: bool
) -> None:
    """Remove or put back one leftover; `trusted`: inside a cfipt folder, where every entry is cfipt's."""
    is_dir = entry.is_dir() and not entry.is_symlink()
    if tmp_dir.fullmatch(entry.name) and is_dir:
        if _dead_tmp_folder(entry):
            log.info("removing %s, left by a cfipt run that was killed", entry)
            shutil.rmtree(entry)
        return
    moved = old.fullmatch(entry.name)
    match = moved or (tmp_file.fullmatch(entry.name) if not is_dir else None)
    if match is None or _pid_alive(int(match["pid"])):
        return
    if moved and not trusted and not _cfipt_wrote(entry, moved["name"], moved.groupdict().get("ext")):
        return  # named like a moved-aside output but not one: a user's file, never moved or deleted
    original = entry.parent / moved["name"] if moved else None
    if original is not None and not (original.exists() or original.is_symlink()):
        log.warning("restoring %s, moved aside by a cfipt run killed while replacing it", original)
        os.replace(entry, original)
        return
    log.info("removing %s, left by a cfipt run that was killed", entry)
    if is_dir:
        shutil.rmtree(entry)
    else:
        entry.unlink()


def _cfipt_wrote(entry: Path, name: str, sidecar: str | None) -> bool:
    """Whether a moved-aside `.NAME[.sidecar].old-PID` entry is an output of cfipt (any kind); a sidecar
    (`.aux.xml`, ...) counts when its GeoTIFF, moved aside or already put back, does."""
    if not sidecar:
        return entry.exists() and not entry.is_symlink() and any(kind.recognise(entry) for kind in ALL_KINDS)
    main_name = name[: -len(sidecar)]
    main_old = entry.with_name(entry.name.replace(sidecar + ".old-", ".old-", 1))
    return any(p.is_file() and GEOTIFF.recognise(p) for p in (main_old, entry.parent / main_name))


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


def _not_writable(folder: Path, exc: OSError) -> OutputNotWritableError:
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.EEXIST, errno.ENOTDIR):
        reason = "a file is in the way of a folder"
    return OutputNotWritableError(f"cannot write in {folder} ({reason}); choose another output location")


def _missing_parents(folder: Path) -> list[Path]:
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


@contextlib.contextmanager
def _lock(target: Path) -> Iterator[None]:
    import fcntl

    path = lock_path(target)
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise _not_writable(target.parent, exc) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
            os.close(fd)
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise _not_writable(target.parent, exc) from exc
            who = f" (process {holder})" if holder else ""
            raise OutputBusyError(
                f"{target} is being written by another cfipt run{who}; wait for it to end or choose "
                "another output"
            ) from None
        try:  # the holder before us may have removed the file: lock the one the path names
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(fd)


@contextlib.contextmanager
def locked_outputs(paths: Sequence[str | Path], *, clean: bool = True) -> Iterator[None]:
    """Hold the lock of every output for the block (one line and exit 1 when another run holds one),
    after removing the leftovers of dead runs beside them. Missing parent folders are created, and
    removed again when the block fails and they are still empty."""
    targets = sorted({resolved(p) for p in paths})
    created: list[Path] = []
    ok = False
    try:
        with contextlib.ExitStack() as stack:
            for target in targets:
                missing = _missing_parents(target.parent)
                try:
                    target.parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise _not_writable(target.parent, exc) from exc
                created.extend(missing)
                stack.enter_context(_lock(target))
                if clean:
                    clean_leftovers(target)
            yield
            ok = True
    finally:
        if not ok:
            for folder in created:  # deepest first
                with contextlib.suppress(OSError):
                    folder.rmdir()
