"""A study: the paper's protocol on one dataset, as a typed request, its runs and its record `study.json`.

The study folder (`--out`) holds `study.json` (the protocol: dataset, input files, training pixels per
class, the resolved training settings), `class_names.json` (the dataset's class names, given to
prepare), one folder per run `<variant>/seed-<k>/` and the results. A run is finished when its
`run.json` says so: it is written last, after the report.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cfipt_cli import __version__
from cfipt_cli.errors import CfiptUsageError, DataError
from cfipt_cli.io.atomic import atomic_file
from cfipt_cli.io.files import utc_now
from cfipt_cli.reproduce.datasets import Dataset, get_dataset
from cfipt_cli.reproduce.discovery import DatasetFiles, GivenFiles, discover
from cfipt_cli.train.config import RUNTIME_FIELDS, TrainConfig, read_toml
from models.variants import VARIANTS

STUDY_FORMAT = "cfipt-study"  # output_kinds.STUDY recognises a study folder by it
STUDY_NAME = "study.json"
CLASS_NAMES_FILE = "class_names.json"
RUN_FORMAT = "cfipt-study-run"
RUN_NAME = "run.json"
PER_RUN = frozenset({"seed", "variant"})  # set by the study for each run, never passed through


@dataclass(frozen=True)
class Run:
    """One run of a study: a variant trained on the split of one seed, in `folder`."""

    variant: str
    seed: int
    folder: Path

    @property
    def id(self) -> str:
        return f"{self.variant}/seed-{self.seed}"

    @property
    def report(self) -> Path:
        return self.folder / "report.json"

    def finished(self) -> bool:
        """Whether run.json, written after every stage, says the run is complete."""
        try:
            record = json.loads((self.folder / RUN_NAME).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return False
        return isinstance(record, dict) and record.get("format") == RUN_FORMAT and self.report.is_file()

    def mark_finished(self, report: Mapping[str, Any]) -> None:
        record = {"format": RUN_FORMAT, "variant": self.variant, "seed": self.seed, "finished": utc_now()}
        record |= {k: report.get(k) for k in ("overall_accuracy", "average_accuracy", "kappa")}
        with atomic_file(self.folder / RUN_NAME, overwrite=True) as tmp:
            tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def parse_variants(text: str) -> tuple[str, ...]:
    """`full,1,4a` -> ("full", "1", "4a"), each a known variant, none twice."""
    names = tuple(v.strip() for v in text.split(",") if v.strip())
    unknown = [v for v in names if v not in VARIANTS]
    if unknown or not names:
        raise CfiptUsageError(f"--variants {text!r}: valid variants are {', '.join(VARIANTS)}")
    if len(set(names)) != len(names):
        raise CfiptUsageError(f"--variants {text!r} names a variant twice")
    return names


@dataclass(frozen=True)
class StudyRequest:
    """What one `cfipt reproduce` asks for.

    Attributes:
        given: training options typed on the command line, by TrainConfig field name (they win over
            the `config_file` and the dataset's preset); `seed` and `variant` are the study's own.
        jobs: runs at a time; above 1 each in its own process on its own GPU (`parallel`).
        only: run just this run id (`full/seed-3`), as a worker of `--jobs` does.
    """

    data: Path
    dataset: str
    out: Path
    files: GivenFiles = field(default_factory=GivenFiles)
    seeds: int = 10
    train_per_class: int = 40
    variants: Sequence[str] = ("full",)
    config_file: Path | None = None
    given: Mapping[str, Any] = field(default_factory=dict)
    jobs: int = 1
    only: str | None = None
    dry_run: bool = False
    overwrite: bool = False
    progress: bool = False

    def __post_init__(self) -> None:
        for name, value in (("--seeds", self.seeds), ("--train-per-class", self.train_per_class)):
            if value < 1:
                raise CfiptUsageError(f"{name} must be at least 1, not {value}")
        if self.jobs < 1:
            raise CfiptUsageError(f"--jobs must be at least 1, not {self.jobs}")
        parse_variants(",".join(self.variants))
        clash = sorted(PER_RUN & set(self.given))
        if clash:
            raise CfiptUsageError(
                f"--{clash[0]} is set per run by reproduce; use --seeds N (seeds 0..N-1) and --variants"
            )

    def runs(self) -> list[Run]:
        """Every run, variant by variant, seeds 0..N-1 (only the run `only` names, when given)."""
        runs = [Run(v, k, self.out / v / f"seed-{k}") for v in self.variants for k in range(self.seeds)]
        if self.only is None:
            return runs
        chosen = [r for r in runs if r.id == self.only]
        if not chosen:
            raise CfiptUsageError(f"--only {self.only!r} is not a run of this study (e.g. {runs[0].id})")
        return chosen


@dataclass(frozen=True)
class Study:
    """A checked request: the dataset, its files and the resolved training settings (without the
    per-run seed and variant)."""

    request: StudyRequest
    dataset: Dataset
    files: DatasetFiles
    train: dict[str, Any]

    @classmethod
    def resolve(cls, request: StudyRequest) -> Study:
        dataset = get_dataset(request.dataset)
        files = discover(request.data, dataset, request.files)
        from_file = read_toml(request.config_file) if request.config_file is not None else {}
        if PER_RUN & set(from_file):
            raise CfiptUsageError(f"{request.config_file}: seed and variant are set per run by reproduce")
        config = TrainConfig.from_mapping({**dataset.train_preset, **from_file, **request.given})
        train = {k: v for k, v in config.to_dict().items() if k not in PER_RUN}
        device = str(train.get("device", "")).strip().lower()
        if request.jobs > 1 and device.startswith("cuda:"):  # from the options, --config or a preset
            raise CfiptUsageError(
                f"--jobs {request.jobs} gives each run its own GPU, which its worker sees as cuda:0; pass "
                f"--device cuda, not {device}"
            )
        return cls(request, dataset, files, train)

    def protocol(self) -> dict[str, Any]:
        """What makes two invocations the same study (the runtime options may differ)."""
        train = {k: v for k, v in self.train.items() if k not in RUNTIME_FIELDS}
        return {
            "dataset": self.dataset.key,
            "files": self.files.to_json(),
            "train_per_class": self.request.train_per_class,
            "train": train,
        }

    def record(self) -> dict[str, Any]:
        runtime = {k: v for k, v in self.train.items() if k in RUNTIME_FIELDS}
        head = {
            "format": STUDY_FORMAT,
            "format_version": 1,
            "cfipt_version": __version__,
            "updated": utc_now(),
        }
        return {**head, "protocol": self.protocol(), "runtime": runtime}

    def check_same_protocol(self) -> None:
        """Refuse an existing study of another protocol (resuming it would mix two studies)."""
        path = self.request.out / STUDY_NAME
        if not path.is_file():
            return
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))["protocol"]
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
            raise DataError(f"{path} is damaged ({exc}); pass --overwrite to start the study afresh") from exc
        ours = self.protocol()
        differ = _differences(saved, ours)
        if differ:
            raise DataError(
                f"{self.request.out} holds a study of another protocol ({'; '.join(differ[:3])}); choose "
                "another --out, or pass --overwrite to discard it and start afresh"
            )

    def write_record(self) -> None:
        out = self.request.out
        with atomic_file(out / STUDY_NAME, overwrite=True) as tmp:
            tmp.write_text(json.dumps(self.record(), indent=2) + "\n", encoding="utf-8")
        with atomic_file(out / CLASS_NAMES_FILE, overwrite=True) as tmp:
            tmp.write_text(json.dumps(list(self.dataset.class_names)) + "\n", encoding="utf-8")


def _differences(saved: Any, ours: Mapping[str, Any], prefix: str = "") -> list[str]:
    """'key: saved here, ours there' for every leaf that differs."""
    if not isinstance(saved, Mapping):
        return [f"{prefix or 'protocol'}: {saved!r} there, {dict(ours)!r} here"]
    found = []
    for key in sorted(set(saved) | set(ours)):
        a, b = saved.get(key), ours.get(key)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            found += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            found.append(f"{prefix}{key}: {a!r} there, {b!r} here")
    return found


def load_study(out: Path) -> Study:
    """The study recorded in `out`/study.json, as a worker of `--jobs` takes it over."""
    path = out / STUDY_NAME
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        protocol, runtime = record["protocol"], record["runtime"]
        files = protocol["files"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise DataError(f"cannot read the study {path} ({exc})") from exc
    aux = Path(files["aux"])
    given = GivenFiles(
        Path(files["hsi"]),
        aux if files["aux_role"] == "lidar" else None,
        aux if files["aux_role"] == "sar" else None,
        Path(files["labels"]),
        Path(files["test_labels"]) if files["test_labels"] else None,
    )
    request = StudyRequest(
        Path(files["hsi"]).parent,
        protocol["dataset"],
        out,
        given,
        train_per_class=protocol["train_per_class"],
        given={**protocol["train"], **runtime},
    )
    return Study.resolve(request)
