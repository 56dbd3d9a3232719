"""One run per output, and the leftovers of dead runs (part of the output policy, `cfipt_cli.io.outputs`).

`locked_outputs` takes an OS lock (`fcntl.flock`) on a lock file beside each output (`.NAME.lock`) for
the whole run; a second run on the same output fails at once with one line. The lock dies with its
process, so a `kill -9` never leaves a stale lock. Holding the lock, the run removes the temporary files
and folders (`.NAME.tmp-PID-*`) that `cfipt_cli.io.atomic` left beside the output when a run was killed
(recognised by their name and, for folders, the marker inside, and only when process PID is gone); an
old output moved aside (`.NAME.old-PID`) by a run killed during its final rename is put back when the
output is missing, and only when it is recognisably cfipt's (`cfipt_cli.io.output_kinds`): a user's
file of that name is left alone.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import socket
from collections.abc import Iterator, Sequence
from pathlib import Path

from cfipt_cli.errors import OutputBusyError, OutputNotWritableError
from cfipt_cli.io.atomic import RAW_SCRATCH_SUFFIX, TMP_MARKER
from cfipt_cli.io.files import resolved
from cfipt_cli.io.output_kinds import ALL_KINDS, GEOTIFF, MODEL, SCENE
from cfipt_cli.log import get_logger

log = get_logger(__name__)


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
    folder (a model's checkpoint/ and model.json are replaced the same way); call with the lock held.

    A moved-aside sidecar (`.NAME.aux.xml.old-PID`, `.STEM.qml.old-PID`, ...) is put back only when
    `target` is missing (the killed run had moved the old output aside and not yet renamed the new
    one: both come back); when `target` is present it is the new output (`cfipt_cli.io.atomic`
    renames it before its sidecars), and the old sidecars are deleted rather than put beside it."""
    name, stem, suffix = re.escape(target.name), re.escape(target.stem), re.escape(target.suffix)
    target_missing = not (target.exists() or target.is_symlink())
    sidecar = r"(?P<ext>\.aux\.xml|\.ovr|\.msk)?"
    raw = re.escape(RAW_SCRATCH_SUFFIX)
    _clean_folder(
        target.parent,
        tmp_dir=re.compile(rf"\.{name}\.tmp-(?P<pid>\d+)-\w+"),
        tmp_file=re.compile(rf"\.{stem}\.tmp-(?P<pid>\d+)-\w+(?:{suffix}{sidecar}|\.qml|{raw})"),
        # a QGIS style `<stem>.qml` is recognised by its own first line (no `ext` group)
        old=re.compile(rf"\.(?P<name>{name}{sidecar}|{stem}\.qml)\.old-(?P<pid>\d+)"),
        trusted=False,
        restore_sidecars=target_missing,
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
    folder: Path,
    tmp_dir: re.Pattern[str],
    tmp_file: re.Pattern[str],
    old: re.Pattern[str],
    trusted: bool,
    restore_sidecars: bool = True,
) -> None:
    try:
        entries = sorted(folder.iterdir(), key=lambda e: len(e.name))  # a GeoTIFF before its sidecars
    except OSError:
        return
    for entry in entries:
        with contextlib.suppress(OSError):
            _clean_one(entry, tmp_dir, tmp_file, old, trusted, restore_sidecars)


def _clean_one(
    entry: Path,
    tmp_dir: re.Pattern[str],
    tmp_file: re.Pattern[str],
    old: re.Pattern[str],
    trusted: bool,
    restore_sidecars: bool,
) -> None:
    """Remove or put back one leftover; `trusted`: inside a cfipt folder, where every entry is cfipt's;
    `restore_sidecars`: whether a moved-aside sidecar is put back (else removed, see `clean_leftovers`)."""
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
    if moved and not trusted and not restore_sidecars and _is_sidecar(moved):
        original = None  # the old output's sidecar, beside the new output: removed below
    if original is not None and not (original.exists() or original.is_symlink()):
        log.warning("restoring %s, moved aside by a cfipt run killed while replacing it", original)
        os.replace(entry, original)
        return
    log.info("removing %s, left by a cfipt run that was killed", entry)
    if is_dir:
        shutil.rmtree(entry)
    else:
        entry.unlink()


def _is_sidecar(moved: re.Match[str]) -> bool:
    return bool(moved.groupdict().get("ext")) or moved["name"].endswith(".qml")


def _cfipt_wrote(entry: Path, name: str, sidecar: str | None) -> bool:
    """Whether a moved-aside `.NAME[.sidecar].old-PID` entry is an output of cfipt (any kind); a sidecar
    (`.aux.xml`, ...) counts when its GeoTIFF, moved aside or already put back, does."""
    if not sidecar:
        return entry.exists() and not entry.is_symlink() and any(kind.recognise(entry) for kind in ALL_KINDS)
    main_name = name[: -len(sidecar)]
    main_old = entry.with_name(entry.name.replace(sidecar + ".old-", ".old-", 1))
    return any(p.is_file() and GEOTIFF.recognise(p) for p in (main_old, entry.parent / main_name))


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
