"""The parts of `cfipt reproduce` that need no training: discovery, datasets, GPU slots, the command line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cfipt_cli.errors import CfiptUsageError, DeviceUnavailableError, InputNotFoundError
from cfipt_cli.reproduce.datasets import DATASETS, get_dataset
from cfipt_cli.reproduce.discovery import GivenFiles, discover
from cfipt_cli.reproduce.parallel import Slots, gpu_ids, plan_slots, run_parallel
from cfipt_cli.reproduce.study import Run, Study, StudyRequest, parse_variants
from models.config import PRESET_DIR


def test_discovery_finds_the_houston_layout_and_options_override_it(houston_layout: Path, tmp_path) -> None:
    files = discover(houston_layout, get_dataset("houston"), GivenFiles())
    assert (files.hsi.name, files.aux.name, files.aux_role) == ("HSI_data.mat", "LiDAR_data.mat", "lidar")
    assert (files.labels.name, files.test_labels.name) == ("TRLabel.mat", "TSLabel.mat")
    other = tmp_path / "dsm.mat"
    shutil.copy(houston_layout / "LiDAR_data.mat", other)
    assert discover(houston_layout, get_dataset("houston"), GivenFiles(lidar=other)).aux == other.resolve()
    sar = discover(houston_layout, get_dataset("houston"), GivenFiles(sar=other))
    assert (sar.aux_role, sar.aux) == ("sar", other.resolve())


def test_an_exact_spelling_wins_over_another_case(houston_layout, tmp_path) -> None:
    for name in ("HSI_data.mat", "LiDAR_data.mat", "TSLabel.mat"):
        shutil.copy(houston_layout / name, tmp_path / name)
    shutil.copy(houston_layout / "TRLabel.mat", tmp_path / "TRLabel.mat")
    shutil.copy(houston_layout / "TSLabel.mat", tmp_path / "TrLabel.mat")  # MDL-RS's per-row labels, say
    assert discover(tmp_path, get_dataset("houston"), GivenFiles()).labels.name == "TRLabel.mat"


def test_one_labels_map_is_split_at_random_and_names_are_case_insensitive(tmp_path, houston_layout) -> None:
    shutil.copy(houston_layout / "HSI_data.mat", tmp_path / "hsi_DATA.MAT")
    shutil.copy(houston_layout / "LiDAR_data.mat", tmp_path / "SAR_data.mat")
    shutil.copy(houston_layout / "TRLabel.mat", tmp_path / "Augsburg_gt.mat")
    files = discover(tmp_path, get_dataset("augsburg"), GivenFiles())
    assert (files.hsi.name, files.aux_role, files.labels.name) == ("hsi_DATA.MAT", "sar", "Augsburg_gt.mat")
    assert files.test_labels is None


def test_a_missing_file_is_one_line_naming_what_was_looked_for(tmp_path, houston_layout) -> None:
    shutil.copy(houston_layout / "HSI_data.mat", tmp_path / "HSI_data.mat")
    with pytest.raises(InputNotFoundError) as info:
        discover(tmp_path, get_dataset("houston"), GivenFiles())
    message = str(info.value)
    assert "no LiDAR file of houston" in message and "LiDAR_data.mat, LiDAR.mat, Houston_lidar.mat" in message
    assert message.endswith("pass --lidar FILE") and "\n" not in message
    with pytest.raises(InputNotFoundError, match=r"TRLabel\.mat \+ TSLabel\.mat.*All_Label\.mat"):
        discover(houston_layout.parent, get_dataset("houston"), GivenFiles(houston_layout / "HSI_data.mat",
                 houston_layout / "LiDAR_data.mat"))  # fmt: skip
    with pytest.raises(InputNotFoundError, match=r"HSI nope\.mat does not exist"):
        discover(houston_layout, get_dataset("houston"), GivenFiles(hsi=Path("nope.mat")))


def test_the_datasets_agree_with_the_model_presets() -> None:
    for key in ("houston", "muufl", "augsburg"):
        preset = json.loads((PRESET_DIR / f"{key}.json").read_text())
        dataset = DATASETS[key]
        assert list(dataset.class_names) == preset["class_names"]
        assert dataset.train_preset["patch_size"] == preset["patch_size"]
        assert (dataset.paper.oa, dataset.paper.aa, dataset.paper.kappa) == (
            preset["paper"]["oa"], preset["paper"]["aa"], preset["paper"]["kappa"])  # fmt: skip
        assert (
            dataset.paper.ablation_oa["full"] == preset["paper"]["oa"] and len(dataset.paper.ablation_oa) == 8
        )
    assert DATASETS["trento"].paper is None


def test_request_checks() -> None:
    assert parse_variants("full, 1,4d") == ("full", "1", "4d")
    for bad in ("full,5", "full,full", ""):
        with pytest.raises(CfiptUsageError, match="--variants"):
            parse_variants(bad)
    with pytest.raises(CfiptUsageError, match="--seed is set per run"):
        StudyRequest(Path("d"), "houston", Path("o"), given={"seed": 3})
    with pytest.raises(CfiptUsageError, match="unknown --dataset 'indian'"):
        get_dataset("indian")
    only = StudyRequest(Path("d"), "houston", Path("o"), seeds=3, only="full/seed-2").runs()
    assert [r.id for r in only] == ["full/seed-2"]


def test_parallel_runs_each_run_once_on_one_gpu_at_a_time(tmp_path) -> None:
    import threading
    import time

    runs = [Run("full", k, tmp_path / f"seed-{k}") for k in range(5)]
    busy: dict[str, int] = {}
    most: dict[str, int] = {}
    lock = threading.Lock()
    seen: list[tuple[str, str]] = []

    def launch(run: Run, gpu: str) -> tuple[int, str]:
        with lock:
            busy[gpu] = busy.get(gpu, 0) + 1
            most[gpu] = max(most.get(gpu, 0), busy[gpu])
            seen.append((run.id, gpu))
        time.sleep(0.01)
        with lock:
            busy[gpu] -= 1
        return (1, "cfipt: error: boom") if run.seed == 3 else (0, "")

    outcomes = run_parallel(runs, ["0", "1"], launch)
    assert [(o.run.id, o.code, o.message) for o in outcomes if o.code] == [
        ("full/seed-3", 1, "cfipt: error: boom")
    ]
    assert sorted(r for r, _ in seen) == sorted(
        r.id for r in runs
    )  # each once, the failure did not stop the rest
    assert set(most) <= {"0", "1"} and max(most.values()) == 1  # never two runs on one GPU


def test_the_command_plans_a_dry_run_and_refuses_seed(run_cli, houston_layout, tmp_path) -> None:
    out = tmp_path / "runs"
    tiny = ["--clip", "cfipt-tiny", "--pretrained", "none", "--epochs", "1", "--device", "cpu"]
    code, stdout, stderr = run_cli(["reproduce", houston_layout, "--dataset", "houston", "--out", out,
                                    "--seeds", "3", "--variants", "full,3", "--dry-run", "--json", *tiny])  # fmt: skip
    assert code == 0, stderr
    plan = json.loads(stdout)
    assert len(plan["runs_to_do"]) == 6 and "houston: 6 runs to do, 0 skipped (finished)" in stderr
    assert "training steps" in stderr and not out.exists()
    code, _, stderr = run_cli(["reproduce", houston_layout, "--dataset", "houston", "--seed", "1"])
    assert code == 2 and "--seed" in stderr


def test_the_help_names_every_value_with_an_upper_case_word(run_cli) -> None:
    import re

    code, stdout, _ = run_cli(["reproduce", "--help"])
    assert code == 0 and "--epochs" in stdout and "--seed " not in stdout and "--variant " not in stdout
    options = stdout.split("\nOptions:\n", 1)[1]
    metavars = re.findall(r"^\s+(?:-\w, )?--[\w-]+ (\S+)", options, flags=re.MULTILINE)
    assert metavars and all(m == "/" or re.fullmatch(r"[A-Z]+", m) for m in metavars), metavars


def test_jobs_above_the_gpus_are_capped_one_run_per_gpu() -> None:
    two = lambda: 2  # noqa: E731 - torch would see the two GPUs CUDA_VISIBLE_DEVICES lists
    gpus = gpu_ids({"CUDA_VISIBLE_DEVICES": "4,6"}, two)
    assert (
        gpus == ["4", "6"]
        and gpu_ids({}, two) == ["0", "1"]
        and gpu_ids({"CUDA_VISIBLE_DEVICES": "4"}, lambda: 0) == []
    )
    capped = plan_slots(3, "cuda", gpus)
    assert capped.gpus == ["4", "6"] and "--jobs 3: only 2 GPU(s) visible (4,6), so 2 runs" in (
        capped.warning or ""
    )
    assert plan_slots(2, "auto", gpus) == Slots(["4", "6"]) and plan_slots(1, "cuda", gpus).gpus == ["4"]
    assert plan_slots(3, "cpu", gpus) == Slots(["", "", ""])  # CPU: 3 processes, the GPUs hidden from them
    assert plan_slots(3, "auto", []) == Slots(["", "", ""])
    with pytest.raises(DeviceUnavailableError, match="no GPU is visible here"):
        plan_slots(2, "cuda", [])


def test_jobs_with_a_numbered_cuda_device_is_refused_from_any_source(houston_layout, tmp_path) -> None:
    config = tmp_path / "train.toml"
    config.write_text('device = "cuda:1"\n')
    for changes in ({"given": {"device": "cuda:1"}}, {"config_file": config}):
        request = StudyRequest(houston_layout, "houston", tmp_path / "o", jobs=2, **changes)
        with pytest.raises(CfiptUsageError, match="worker sees as cuda:0; pass --device cuda, not cuda:1"):
            Study.resolve(request)
    assert Study.resolve(
        StudyRequest(houston_layout, "houston", tmp_path / "o", config_file=config)
    )  # --jobs 1
