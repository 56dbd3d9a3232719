"""`cfipt reproduce --overwrite`: remove what a study wrote in its folder, and nothing else.

The study's files (study.json, class_names.json, results.*) and, in every `<variant>/seed-<k>` folder
(any variant of the paper, so the runs of an earlier study with other variants or seeds go too), what a
run writes (scene/, model/, the map and its sidecars and resume parts, report.*, run.json, cfipt's
temporary files). A run or variant folder left empty is removed; any other file stays where it is.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from cfipt_cli.reproduce.results import RESULTS_BASE
from cfipt_cli.reproduce.runner import MAP_NAME, MODEL_DIR, REPORT_BASE, SCENE_DIR
from cfipt_cli.reproduce.study import CLASS_NAMES_FILE, RUN_NAME, STUDY_NAME
from models.variants import VARIANTS

RESULT_SUFFIXES = (".json", ".md", ".csv", ".png")
MAP_STEM = Path(MAP_NAME).stem
SEED_FOLDER = re.compile(r"seed-\d+")
# cfipt's own temporary and set-aside names (cfipt_cli.io.atomic, predict's resume parts)
TEMPORARY = re.compile(r"\.(.+)\.(tmp|old)-.*|\." + re.escape(MAP_NAME) + r"\.parts")


def _run_writes(name: str) -> bool:
    """Whether a run folder's entry `name` is one cfipt writes there."""
    return (
        name in (SCENE_DIR, MODEL_DIR, RUN_NAME)
        or name == MAP_NAME
        or (name.startswith(MAP_NAME) and name[len(MAP_NAME) :] in (".aux.xml", ".ovr", ".msk"))
        or name == f"{MAP_STEM}.qml"
        or name in {f"{REPORT_BASE}{s}" for s in RESULT_SUFFIXES}
        or TEMPORARY.fullmatch(name) is not None
    )


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def _remove_if_empty(folder: Path) -> None:
    if folder.is_dir() and not folder.is_symlink() and not any(folder.iterdir()):
        folder.rmdir()


def discard_study(out: Path) -> list[Path]:
    """Remove what the study in `out` wrote (see the module docstring); returns the files kept."""
    for name in (STUDY_NAME, CLASS_NAMES_FILE, *(f"{RESULTS_BASE}{s}" for s in RESULT_SUFFIXES)):
        if (out / name).is_file() or (out / name).is_symlink():
            (out / name).unlink()
    for variant in VARIANTS:
        folder = out / variant
        if not folder.is_dir() or folder.is_symlink():
            continue
        for run in (p for p in folder.iterdir() if SEED_FOLDER.fullmatch(p.name) and p.is_dir()):
            if run.is_symlink():
                continue  # a link to something elsewhere: not the study's to delete
            for entry in [e for e in run.iterdir() if _run_writes(e.name)]:
                _remove(entry)
            _remove_if_empty(run)
        _remove_if_empty(folder)
    return sorted(p for p in out.rglob("*") if not p.is_dir())
