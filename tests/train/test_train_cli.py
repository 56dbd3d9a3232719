"""`cfipt train` on the command line: options, outputs, and every bad input of the issue."""

from __future__ import annotations

import json

import pytest
import torch
from train_helpers import write_scene

from cfipt_cli.cli.app import main
from cfipt_cli.contracts.model import read_model_info

pytestmark = pytest.mark.filterwarnings("ignore:backbone cfipt-tiny has random weights")

TINY = ["--clip", "cfipt-tiny", "--pretrained", "none", "--batch-size", "16", "--patch-size", "5",
        "--prompt-length", "2", "--prompt-depth", "1", "--device", "cpu"]  # fmt: skip


def run(argv, capsys):
    """Run `cfipt ARGV`; returns (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in argv])
    captured = capsys.readouterr()
    return info.value.code, captured.out, captured.err


def snapshot(folder):
    """Every file under `folder` with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def cli_model(small_scene, tmp_path_factory):
    """A 1-epoch model trained through the CLI with a config file (flags win over the file)."""
    root = tmp_path_factory.mktemp("cli")
    toml = root / "train.toml"
    toml.write_text("[train]\nepochs = 3\nlr = 0.001\naugment = false\n", encoding="utf-8")
    out = root / "model"
    return out, ["train", small_scene, "--out", out, "--config", toml, *TINY, "--epochs", "1", "--json"]


def test_json_summary_and_resolved_config(cli_model, capsys):
    out, argv = cli_model
    code, stdout, stderr = run(argv, capsys)
    assert code == 0, stderr
    summary = json.loads(stdout)  # stdout holds the JSON document and nothing else
    assert summary["model"] == str(out) and summary["epochs"] == 1 and summary["classes"] == 4
    config = read_model_info(out).train_config
    assert (config["epochs"], config["lr"], config["augment"]) == (1, 0.001, False)  # flag > file > default
    assert config["clip_model"] == "cfipt-tiny" and config["batch_size"] == 16
    assert config["amp"] is False  # resolved for the CPU (the default is "on for CUDA")


def test_existing_output_is_untouched_without_overwrite(cli_model, capsys):
    out, argv = cli_model
    before = snapshot(out)
    code, _, stderr = run(argv, capsys)
    assert code == 1 and "already exists" in stderr and "--overwrite" in stderr
    assert "--resume" not in stderr  # a finished model is not "an unfinished run"
    assert snapshot(out) == before


def test_foreign_folder_is_never_replaced(small_scene, tmp_path, capsys):
    out = tmp_path / "photos"
    out.mkdir()
    (out / "holiday.jpg").write_bytes(b"\xff\xd8 precious")
    for extra in ([], ["--overwrite"]):
        code, _, stderr = run(["train", small_scene, "--out", out, *TINY, "--epochs", "1", *extra], capsys)
        assert code == 1 and stderr.count("\n") == 1
    assert "not a cfipt model" in stderr
    assert snapshot(out) == {"holiday.jpg": b"\xff\xd8 precious"}


def test_scene_without_training_labels(tmp_path, capsys):
    scene = write_scene(tmp_path / "scene", n_train=0)
    code, _, stderr = run(["train", scene, "--out", tmp_path / "m", *TINY], capsys)
    assert code == 1 and stderr.startswith("cfipt: error: ") and "no training pixels" in stderr
    assert not (tmp_path / "m").exists()


def test_class_without_training_pixel(tmp_path, capsys):
    scene = write_scene(tmp_path / "scene", empty_class=True, n_train=8)
    code, _, stderr = run(["train", scene, "--out", tmp_path / "m", *TINY, "--epochs", "1"], capsys)
    assert code == 1 and "'Buildings' (id 5) has no training pixel" in stderr
    assert not (tmp_path / "m").exists()
    code, _, stderr = run(
        ["train", scene, "--out", tmp_path / "m", *TINY, "--epochs", "1", "--drop-empty-classes"], capsys
    )
    assert code == 0, stderr
    meta = read_model_info(tmp_path / "m").meta
    assert meta["dropped_classes"] == [{"id": 5, "name": "Buildings"}]
    assert [c["name"] for c in meta["classes"]] == ["Grass", "Trees", "Roads", "Water"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_asked_but_absent(small_scene, tmp_path, capsys):
    code, _, stderr = run(["train", small_scene, "--out", tmp_path / "m", *TINY, "--device", "cuda"], capsys)
    assert code == 1 and "CUDA is not available" in stderr
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("weights", ["bogus-tag", "/no/such/dir/open_clip_model.bin"])
def test_weights_not_obtainable(small_scene, tmp_path, capsys, weights):
    argv = ["train", small_scene, "--out", tmp_path / "m", *TINY, "--pretrained", weights]
    code, _, stderr = run(argv, capsys)
    assert code == 1 and "--pretrained" in stderr and stderr.count("\n") == 1
    assert not (tmp_path / "m").exists()


def test_usage_errors_exit_2(small_scene, tmp_path, capsys):
    code, _, stderr = run(
        ["train", small_scene, "--out", tmp_path / "m", *TINY, "--prompt-length", "3"], capsys
    )
    assert code == 2 and "--prompt-length must be even" in stderr
    toml = tmp_path / "bad.toml"
    toml.write_text("epoch = 3\n", encoding="utf-8")
    code, _, stderr = run(["train", small_scene, "--out", tmp_path / "m", "--config", toml], capsys)
    assert code == 2 and "unknown training option(s) epoch; valid:" in stderr


@pytest.fixture
def unfinished(small_scene, tmp_path):
    """A 2-epoch run stopped after epoch 1, as Ctrl-C leaves it."""
    from train_helpers import tiny_config

    from cfipt_cli.train.loop import TrainingInterrupted, train_model

    def stop(record):
        raise KeyboardInterrupt

    out = tmp_path / "model"
    with pytest.raises(TrainingInterrupted):
        train_model(small_scene, out, tiny_config(epochs=2), on_epoch_end=stop)
    return out


def test_resume_refuses_corrupt_checkpoint(small_scene, unfinished, capsys):
    (unfinished / "checkpoint" / "optimizer.safetensors").write_bytes(b"\x00garbage")
    code, _, stderr = run(["train", small_scene, "--out", unfinished, "--resume"], capsys)
    assert code == 1 and "corrupt" in stderr
    (unfinished / "checkpoint" / "state.json").write_text("{not json", encoding="utf-8")
    code, _, stderr = run(["train", small_scene, "--out", unfinished, "--resume"], capsys)
    assert code == 1 and "state.json is corrupt" in stderr


def test_resume_refuses_foreign_checkpoint(unfinished, tmp_path, capsys):
    other = write_scene(tmp_path / "other", seed=7)
    before = snapshot(unfinished)
    code, _, stderr = run(["train", other, "--out", unfinished, "--resume"], capsys)
    assert code == 1 and "another scene" in stderr
    assert snapshot(unfinished) == before
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "model.json").write_text('{"format": "something-else"}', encoding="utf-8")
    code, _, stderr = run(["train", other, "--out", foreign, "--resume"], capsys)
    assert code == 1 and "not a cfipt model description" in stderr


def test_resume_keeps_saved_options(small_scene, unfinished, capsys):
    code, _, stderr = run(["train", small_scene, "--out", unfinished, "--resume", "--lr", "0.1"], capsys)
    assert code == 2 and "--lr 0.1 (saved 0.002)" in stderr
    code, stdout, stderr = run(
        ["-v", "train", small_scene, "--out", unfinished, "--resume", "--device", "cpu", "--json"], capsys
    )
    assert code == 0, stderr
    assert json.loads(stdout)["resumed_from_epoch"] == 1
    assert "loss=" in stderr and "epoch=2/2" in stderr  # -v shows the progress bar on stderr
    assert read_model_info(unfinished).meta["status"] == "complete"


def test_unfinished_output_suggests_resume(small_scene, unfinished, capsys):
    code, _, stderr = run(["train", small_scene, "--out", unfinished, *TINY], capsys)
    assert code == 1 and "unfinished run" in stderr and "--resume" in stderr


# ------------------------------------------------------------------------------ the output policy
@pytest.mark.parametrize("where", ["scene", "inside", "holder"])
def test_out_over_inside_or_around_the_scene_is_refused(small_scene, capsys, where):
    out = {"scene": small_scene, "inside": small_scene / "model", "holder": small_scene.parent}[where]
    before = snapshot(small_scene)
    code, _, stderr = run(["train", small_scene, "--out", out, *TINY, "--epochs", "1", "--overwrite"], capsys)
    assert code == 2 and "would replace the input" in stderr and stderr.count("\n") == 1
    assert snapshot(small_scene) == before


def test_overwrite_never_replaces_a_file_cfipt_did_not_write(small_scene, tmp_path, capsys):
    out = tmp_path / "notes.txt"
    out.write_text("mine")
    code, _, stderr = run(["train", small_scene, "--out", out, *TINY, "--epochs", "1", "--overwrite"], capsys)
    assert code == 1 and "not a cfipt model folder" in stderr and out.read_text() == "mine"


def test_a_second_train_on_the_same_out_fails_at_once(small_scene, tmp_path, capsys):
    from cfipt_cli.io.outputs import locked_outputs

    out = tmp_path / "model"
    with locked_outputs([out]):
        code, _, stderr = run(["train", small_scene, "--out", out, *TINY, "--epochs", "1"], capsys)
    assert code == 1 and "being written by another cfipt run" in stderr and not out.exists()
