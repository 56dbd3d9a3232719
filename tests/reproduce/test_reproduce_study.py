"""`cfipt reproduce` end to end on a tiny Houston-layout benchmark: 2 seeds, cfipt-tiny, 1 epoch."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio

from cfipt_cli.errors import CfiptUsageError, DataError, InterruptedRun, OutputExistsError
from cfipt_cli.reproduce import runner
from cfipt_cli.reproduce.pipeline import reproduce
from cfipt_cli.reproduce.study import Study, StudyRequest
from cfipt_cli.reproduce.tables import build_results, markdown_results
from cfipt_cli.reproduce.worker import main as worker_main
from tests.reproduce.conftest import TINY

pytestmark = [
    pytest.mark.filterwarnings("ignore:backbone cfipt-tiny has random weights"),
    pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning"),
]


def _request(data: Path, out: Path, **changes) -> StudyRequest:
    values = {"seeds": 2, "train_per_class": 5, "given": TINY, **changes}
    return StudyRequest(data, "houston", out, **values)


@pytest.fixture(scope="module")
def study(houston_layout: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("study") / "runs"
    return out, reproduce(_request(houston_layout, out))


def _counting(monkeypatch: pytest.MonkeyPatch, name: str) -> list[object]:
    calls: list[object] = []
    real = getattr(runner, name)

    def counted(request):
        calls.append(request)
        return real(request)

    monkeypatch.setattr(runner, name, counted)
    return calls


def test_each_run_is_a_folder_and_the_tables_average_its_reports(study) -> None:
    out, summary = study
    assert summary["runs_to_do"] == ["full/seed-0", "full/seed-1"] and summary["runs_to_skip"] == []
    reports = []
    for seed in (0, 1):
        run = out / "full" / f"seed-{seed}"
        assert (run / "scene" / "scene.json").is_file() and (run / "model" / "model.json").is_file()
        assert (run / "map.tif").is_file() and (run / "run.json").is_file()
        reports.append(json.loads((run / "report.json").read_text()))
        assert json.loads((run / "scene" / "scene.json").read_text())["split"]["seed"] == seed
        with (
            rasterio.open(run / "map.tif") as classified,
            rasterio.open(run / "scene" / "test_labels.tif") as test,
        ):
            assert np.array_equal(classified.read(1) > 0, test.read(1) > 0)  # the test pixels only
    results = json.loads((out / "results.json").read_text())
    full = results["variants"]["full"]
    for label, key in (("OA", "overall_accuracy"), ("AA", "average_accuracy"), ("kappa", "kappa")):
        values = 100 * np.array([r[key] for r in reports])
        assert full[label]["mean"] == pytest.approx(values.mean(), abs=1e-3)
        assert full[label]["std"] == pytest.approx(values.std(ddof=1), abs=1e-3)
    by_name = {c["name"]: c for c in full["classes"]}
    assert sorted(by_name) == ["Healthy grass", "Stressed grass", "Synthetic grass"]  # the dataset's names
    per_class = [100 * next(c["producer_accuracy"] for c in r["classes"] if c["name"] == "Stressed grass")
                 for r in reports]  # fmt: skip
    assert by_name["Stressed grass"]["mean"] == pytest.approx(np.mean(per_class), abs=1e-3)
    assert results["paper"] == {"OA": 97.89, "AA": 98.23, "kappa": 97.72}
    assert results["ablation"][0]["difference"] == pytest.approx(full["OA"]["mean"] - 97.89, abs=1e-3)


def test_the_markdown_and_csv_tables_have_the_rows_and_the_paper_columns(study) -> None:
    out, _ = study
    markdown = (out / "results.md").read_text()
    assert "| class / metric | full | paper (full) | full - paper |" in markdown
    rows = [line.split(" | ")[0].lstrip("| ") for line in markdown.splitlines() if line.startswith("| ")]
    assert rows[1:7] == ["Healthy grass", "Stressed grass", "Synthetic grass", "OA", "AA", "kappa"]
    oa_row = next(line for line in markdown.splitlines() if line.startswith("| OA |"))
    assert "97.89" in oa_row and " ± " in oa_row
    assert "| full |" in markdown and "| variant | OA | paper OA | difference |" in markdown
    csv = (out / "results.csv").read_text().splitlines()
    assert csv[0] == "table,row,variant,mean,std,n,paper,difference"
    assert any(line.startswith("accuracy,OA,full,") and ",2,97.89," in line for line in csv)
    assert (out / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_rerun_skips_finished_runs_and_redoes_a_half_finished_one(
    study, houston_layout, monkeypatch
) -> None:
    out, _ = study
    trained, predicted = _counting(monkeypatch, "run_training"), _counting(monkeypatch, "run_predict")
    again = reproduce(_request(houston_layout, out))
    assert again["runs_to_do"] == [] and not trained and not predicted
    half = out / "full" / "seed-1"
    (half / "run.json").unlink()
    (half / "map.tif").unlink()
    resumed = reproduce(_request(houston_layout, out))
    assert resumed["runs_to_do"] == ["full/seed-1"]
    assert not trained and len(predicted) == 1  # the model was complete: only predict and evaluate again
    assert (half / "run.json").is_file() and (half / "map.tif").is_file()


def test_a_run_without_its_model_trains_again_and_predicts_again(study, houston_layout, monkeypatch) -> None:
    out, _ = study
    trained, predicted = _counting(monkeypatch, "run_training"), _counting(monkeypatch, "run_predict")
    run = out / "full" / "seed-0"
    with rasterio.open(run / "map.tif") as before:
        old_map = before.read(1)
    shutil.rmtree(run / "model")
    (run / "run.json").unlink()
    assert reproduce(_request(houston_layout, out))["runs_to_do"] == ["full/seed-0"]
    assert len(trained) == 1 and not trained[0].resume and len(predicted) == 1
    assert (run / "model" / "model.json").is_file()
    with rasterio.open(run / "map.tif") as after:
        assert np.array_equal(after.read(1), old_map)  # seeded and on CPU: the same model, the same map


def test_an_interrupted_training_is_resumed_by_the_next_call(houston_layout, tmp_path, monkeypatch) -> None:
    from cfipt_cli.train.trainer import Trainer

    out, real = tmp_path / "runs", Trainer.complete_epoch

    def stop_in_epoch_2(self, epoch, progress, folder):
        if epoch == 1:
            raise KeyboardInterrupt
        return real(self, epoch, progress, folder)

    request = _request(houston_layout, out, seeds=1, given={**TINY, "epochs": 2})
    monkeypatch.setattr(Trainer, "complete_epoch", stop_in_epoch_2)
    with pytest.raises(
        InterruptedRun, match=r"interrupted in run full/seed-0 .*rerun the same cfipt reproduce"
    ):
        reproduce(request)
    model = out / "full" / "seed-0" / "model" / "model.json"
    assert json.loads(model.read_text())["status"] == "incomplete"
    monkeypatch.setattr(Trainer, "complete_epoch", real)
    trained = _counting(monkeypatch, "run_training")
    assert reproduce(request)["runs_to_do"] == ["full/seed-0"]
    assert len(trained) == 1 and trained[0].resume  # continued from epoch 1, not started afresh
    assert (
        json.loads(model.read_text())["epochs_done"] == 2 and (out / "full" / "seed-0" / "run.json").is_file()
    )


def test_a_worker_process_runs_one_run_of_the_recorded_study(study, monkeypatch) -> None:
    out, _ = study
    trained = _counting(monkeypatch, "run_training")
    (out / "full" / "seed-0" / "run.json").unlink()
    assert worker_main([str(out), "full/seed-0"]) == 0
    assert not trained and (out / "full" / "seed-0" / "run.json").is_file()
    assert worker_main([str(out), "nonsense"]) == 2


def test_jobs_2_runs_the_runs_in_worker_processes(study, houston_layout, tmp_path, monkeypatch) -> None:
    out, _ = study
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    for seed in (0, 1):
        (copy / "full" / f"seed-{seed}" / "run.json").unlink()  # left to do: the evaluation (cheap)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    summary = reproduce(_request(houston_layout, copy, jobs=2))
    assert summary["runs_to_do"] == ["full/seed-0", "full/seed-1"]
    assert all((copy / "full" / f"seed-{k}" / "run.json").is_file() for k in (0, 1))
    assert json.loads((copy / "results.json").read_text())["variants"]["full"]["OA"]["n"] == 2


def test_only_runs_one_run_and_the_tables_still_cover_the_study(study, houston_layout, monkeypatch) -> None:
    out, _ = study
    (out / "full" / "seed-1" / "run.json").unlink()
    summary = reproduce(_request(houston_layout, out, only="full/seed-1"))
    assert summary["runs_to_do"] == ["full/seed-1"]
    assert json.loads((out / "results.json").read_text())["variants"]["full"]["OA"]["n"] == 2


def test_trento_tables_say_the_paper_gives_no_figures(study, houston_layout, tmp_path) -> None:
    out, _ = study
    trento = Study.resolve(StudyRequest(houston_layout, "trento", tmp_path / "t", seeds=2, given=TINY))
    finished = [r for r in _request(houston_layout, out).runs() if r.finished()]
    results = build_results(trento, finished)
    assert results["paper"] is None and results["ablation"][0]["paper"] is None
    markdown = markdown_results(results)
    assert "Note: the paper gives no figures for Trento (HSI + LiDAR)." in markdown
    assert "paper (full)" not in markdown and "| full | " in markdown


def test_an_output_over_an_input_is_a_usage_error(houston_layout) -> None:
    with pytest.raises(CfiptUsageError, match="would replace the input"):
        reproduce(_request(houston_layout, houston_layout, dry_run=True))


def test_dry_run_prints_the_plan_and_its_cost_and_writes_nothing(houston_layout, tmp_path) -> None:
    out = tmp_path / "runs"
    plan = reproduce(_request(houston_layout, out, dry_run=True, variants=("full", "4d")))
    assert not out.exists() and list(tmp_path.iterdir()) == []
    assert plan["runs_to_do"] == ["full/seed-0", "full/seed-1", "4d/seed-0", "4d/seed-1"]
    train_pixels = 3 * 5  # 3 classes, each with more than 5 labelled training pixels
    assert plan["cost"]["train_pixels"] == train_pixels
    assert plan["cost"]["steps"] == TINY["epochs"] * math.ceil(train_pixels / TINY["batch_size"])
    assert plan["cost"]["test_pixels"] == 24 * 24 // 2  # every TSLabel pixel is labelled
    assert plan["cost"]["total_steps"] == 4 * plan["cost"]["steps"]


def test_another_protocol_in_the_same_folder_is_refused(study, houston_layout) -> None:
    out, _ = study
    with pytest.raises(DataError, match=r"another protocol \(train\.epochs: 1 there, 2 here\)"):
        reproduce(_request(houston_layout, out, dry_run=True, given={**TINY, "epochs": 2}))


def test_a_folder_that_is_not_a_study_is_refused_even_with_overwrite(houston_layout, tmp_path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    for overwrite in (False, True):
        with pytest.raises(OutputExistsError, match="is not a cfipt study folder"):
            reproduce(_request(houston_layout, mine, overwrite=overwrite))
    assert (mine / "notes.txt").read_text() == "keep me"


def test_overwrite_discards_a_study_and_plans_every_run_again(study, houston_layout, tmp_path) -> None:
    out, _ = study
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    plan = reproduce(_request(houston_layout, copy, dry_run=True, overwrite=True))
    assert plan["runs_to_do"] == ["full/seed-0", "full/seed-1"] and (copy / "full").is_dir()  # dry run


def test_overwrite_removes_only_what_the_study_wrote(study, houston_layout, tmp_path) -> None:
    out, _ = study
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    (copy / "notes.txt").write_text("mine")
    (copy / "full" / "notes.txt").write_text("mine too")
    (copy / "full" / "seed-1" / "figure.svg").write_text("kept")
    stale = copy / "4d" / "seed-7"  # a run of an earlier study with other variants and seeds
    shutil.copytree(copy / "full" / "seed-0", stale)
    summary = reproduce(_request(houston_layout, copy, seeds=1, overwrite=True))
    assert summary["runs_to_do"] == ["full/seed-0"] and (copy / "full" / "seed-0" / "run.json").is_file()
    assert (copy / "notes.txt").read_text() == "mine" and (
        copy / "full" / "notes.txt"
    ).read_text() == "mine too"
    assert sorted(p.name for p in (copy / "full" / "seed-1").iterdir()) == [
        "figure.svg"
    ]  # the run's files went
    assert not (copy / "4d").exists()
    assert json.loads((copy / "results.json").read_text())["variants"]["full"]["OA"]["n"] == 1


def test_a_failed_run_leaves_the_tables_of_the_finished_ones_and_fails(
    study, houston_layout, tmp_path, monkeypatch
) -> None:
    out, _ = study
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    failing = copy / "full" / "seed-1"
    (failing / "run.json").unlink()
    shutil.rmtree(failing / "model")
    (copy / "results.json").unlink()

    def boom(request):
        raise DataError("boom: no training pixels")

    monkeypatch.setattr(runner, "run_training", boom)
    with pytest.raises(
        DataError, match=r"^1 of 1 runs failed: full/seed-1 \(boom: no training pixels\); the tables"
    ):
        reproduce(_request(houston_layout, copy))
    results = json.loads((copy / "results.json").read_text())
    assert (
        results["variants"]["full"]["runs"] == ["full/seed-0"] and results["variants"]["full"]["OA"]["n"] == 1
    )
    assert results["missing_runs"] == [
        {"run": "full/seed-1", "variant": "full", "state": "failed", "error": "boom: no training pixels"}
    ]
    markdown = (copy / "results.md").read_text()
    assert "Runs: full: 1 of 2 runs (1 failed)." in markdown
    assert "Missing runs, not in the figures: full/seed-1 (failed: boom: no training pixels)." in markdown
    assert "failed,full/seed-1,full,,,0,," in (copy / "results.csv").read_text().splitlines()


def test_jobs_above_the_gpus_runs_one_run_per_gpu_and_tabulates_what_finished(
    study, houston_layout, tmp_path, monkeypatch, caplog
) -> None:
    import threading

    from cfipt_cli.reproduce import parallel

    out, _ = study
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    for seed in (0, 1):
        (copy / "full" / f"seed-{seed}" / "run.json").unlink()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5")
    monkeypatch.setattr(parallel, "cuda_device_count", lambda: 1)
    busy, most, lock = [0], [0], threading.Lock()
    gpus: list[str] = []

    def launch(run, gpu):
        with lock:
            busy[0] += 1
            most[0] = max(most[0], busy[0])
            gpus.append(gpu)
        with lock:
            busy[0] -= 1
        return (3, "cfipt: error: no GPU memory") if run.seed == 1 else (0, "")

    with pytest.raises(
        DataError, match=r"1 of 2 runs failed: full/seed-1 \(exit 3: cfipt: error: no GPU memory\)"
    ):
        reproduce(_request(houston_layout, copy, jobs=3, given={**TINY, "device": "cuda"}), launch=launch)
    assert gpus == ["5", "5"] and most[0] == 1  # capped at the one GPU: the runs went one after the other
    assert "--jobs 3: only 1 GPU(s) visible (5), so 1 runs at a time, one per GPU" in caplog.text
    missing = json.loads((copy / "results.json").read_text())["missing_runs"]
    assert [(m["run"], m["state"]) for m in missing] == [
        ("full/seed-0", "not run"),
        ("full/seed-1", "failed"),
    ]


def test_a_model_folder_without_a_readable_model_json_is_trained_afresh(
    study, houston_layout, tmp_path, monkeypatch
) -> None:
    out, _ = study
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    run = copy / "full" / "seed-0"
    (run / "run.json").unlink()
    (run / "model" / "model.json").write_text("{damaged")
    trained = _counting(monkeypatch, "run_training")
    assert reproduce(_request(houston_layout, copy))["runs_to_do"] == ["full/seed-0"]
    assert len(trained) == 1 and not trained[0].resume and not trained[0].overwrite
    assert json.loads((run / "model" / "model.json").read_text())["status"] == "complete"


def test_a_linked_model_folder_without_model_json_is_never_deleted(study, houston_layout, tmp_path) -> None:
    out, _ = study
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    run = copy / "full" / "seed-0"
    (run / "run.json").unlink()
    shutil.rmtree(run / "model")
    foreign = tmp_path / "elsewhere"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    (run / "model").symlink_to(foreign)
    with pytest.raises(DataError, match=r"full/seed-0 \(.*is not the run's own model folder.*left alone"):
        reproduce(_request(houston_layout, copy))
    assert (foreign / "thesis.tex").read_text() == "precious" and (run / "model").is_symlink()


def test_a_device_error_stops_at_the_first_run_and_still_tabulates(
    study, houston_layout, tmp_path, monkeypatch
) -> None:
    from cfipt_cli.errors import DeviceUnavailableError

    out, _ = study
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    for seed in (0, 1):
        (copy / "full" / f"seed-{seed}" / "run.json").unlink()
        shutil.rmtree(copy / "full" / f"seed-{seed}" / "model")
    calls: list[object] = []

    def no_cuda(request):
        calls.append(request)
        raise DeviceUnavailableError("--device cuda was asked for but CUDA is not available here")

    monkeypatch.setattr(runner, "run_training", no_cuda)
    with pytest.raises(DataError, match=r"^1 of 2 runs failed: full/seed-0 \(--device cuda was asked"):
        reproduce(_request(houston_layout, copy))
    assert len(calls) == 1  # the same for every run: the second is not tried
    missing = json.loads((copy / "results.json").read_text())["missing_runs"]
    assert [(m["run"], m["state"]) for m in missing] == [
        ("full/seed-0", "failed"),
        ("full/seed-1", "not run"),
    ]
    assert "Runs: full: 0 of 2 runs (1 failed, 1 not run)." in (copy / "results.md").read_text()
