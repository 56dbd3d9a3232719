"""`cfipt predict` end to end with a real (tiny, random) CF-IPT model folder, and under torchrun."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from predict_scenes import read_stack, write_model, write_scene

from cfipt_cli.cli.app import main
from cfipt_cli.contracts.model import load_model
from cfipt_cli.io.classes import ClassTable

REPO = Path(__file__).resolve().parents[2]


def run_main(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as info, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the random backbone warns, by design
        main([str(a) for a in argv])
    return int(info.value.code or 0)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    scene = write_scene(root / "scene", height=11, width=13, nodata_fraction=0.1, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = write_model(root / "model", scene, patch_size=5)
    return scene, model


def _reference_proba(scene: Path, model_dir: Path, modes: tuple[str, ...]) -> list[np.ndarray]:
    """Probabilities pixel by pixel: whole scene normalised and np.pad-ed (each mode), a patch per pixel."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, info = load_model(model_dir)
    stack = read_stack(scene)
    p, r = info.patch_size, info.patch_size // 2
    norm = np.nan_to_num((stack - info.mean[:, None, None]) / info.std[:, None, None]).astype(np.float32)
    h, w = stack.shape[1:]
    patches = []
    for mode in modes:
        padded = np.pad(norm, ((0, 0), (r, r), (r, r)), mode=mode)
        patches += [padded[:, i : i + p, j : j + p] for i in range(h) for j in range(w)]
    batch = torch.from_numpy(np.stack(patches))
    with torch.no_grad():
        logits = model(batch[:, : info.n_hsi], batch[:, info.n_hsi :]).logits
    proba = torch.softmax(logits, dim=1).numpy().T.reshape(-1, len(modes), h, w)
    return [proba[:, k] for k in range(len(modes))]


def test_predict_writes_map_proba_confidence_quicklook(folders, tmp_path, capsys):
    scene, model = folders
    out = tmp_path / "out"
    argv = ["predict", scene, "--model", model, "--out", out / "map.tif", "--proba", out / "proba.tif"]
    argv += ["--confidence", out / "conf.tif", "--quicklook", out / "map.png", "--block-size", "4"]
    argv += ["--batch-size", "7", "--json"]
    assert run_main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    valid = np.isfinite(read_stack(scene)).all(axis=0)
    assert summary["pixels_classified"] == valid.sum() and summary["blocks"] == 12
    assert set(summary["outputs"]) == {"map", "proba", "confidence", "quicklook"}

    with rasterio.open(out / "map.tif") as dst, rasterio.open(scene / "stack.tif") as src:
        assert dst.crs == src.crs and dst.transform == src.transform and dst.shape == src.shape
        ids = dst.read(1)
        assert (
            dst.colormap(1)[2][:3]
            == ClassTable.from_json(json.loads((scene / "scene.json").read_text())["classes"]).colormap()[2][
                :3
            ]
        )
    assert ClassTable.from_aux_xml(out / "map.tif").names == ["Grass", "Trees", "Roads"]  # type: ignore[union-attr]
    with rasterio.open(out / "proba.tif") as src:
        proba = src.read()
    with rasterio.open(out / "conf.tif") as src:
        conf = src.read(1)

    # The map equals the model applied pixel by pixel on the whole, symmetric-padded scene.
    reference, other = _reference_proba(scene, model, ("symmetric", "reflect"))
    np.testing.assert_allclose(proba[:, valid], reference[:, valid], atol=5e-6, rtol=0)
    # ... and that tolerance separates: another edge padding changes the probabilities far more.
    assert np.abs(other - reference)[:, valid].max() > 20 * 5e-6
    np.testing.assert_array_equal(ids[valid], np.array([2, 4, 6])[reference[:, valid].argmax(axis=0)])
    assert (ids[~valid] == 0).all() and np.isnan(proba[:, ~valid]).all() and np.isnan(conf[~valid]).all()
    np.testing.assert_array_equal(conf[valid], proba[:, valid].max(axis=0))
    assert (out / "map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (out / ".map.tif.parts").exists()
    assert sorted(p.name for p in out.iterdir()) == [
        "conf.tif",
        "map.png",
        "map.qml",  # QGIS's default style of map.tif: a legend of exactly the classes
        "map.tif",
        "map.tif.aux.xml",
        "proba.tif",
    ]
    palette = ET.fromstring((out / "map.qml").read_text().split("\n", 2)[2]).iter("paletteEntry")
    assert [(e.get("value"), e.get("label")) for e in palette] == [
        ("2", "Grass"),
        ("4", "Trees"),
        ("6", "Roads"),
    ]


def test_band_mismatch_is_one_line_exit_1(folders, tmp_path, capsys):
    _, model = folders
    scene = write_scene(tmp_path / "sar_scene", height=11, width=13, aux=("sar",))
    assert run_main(["predict", scene, "--model", model, "--out", tmp_path / "map.tif"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("cfipt: error: ") and err.count("\n") == 1
    assert "4 hsi + 1 lidar" in err and "4 hsi + 1 sar" in err
    assert not (tmp_path / "map.tif").exists()


def test_existing_output_untouched_without_overwrite(folders, tmp_path, capsys):
    scene, model = folders
    out = tmp_path / "map.tif"
    out.write_bytes(b"an older map")
    assert run_main(["predict", scene, "--model", model, "--out", out]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert out.read_bytes() == b"an older map"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.tif"]


@pytest.mark.parametrize(
    "args",
    [["--co", "COMPRESS"], ["--co", "BLOCKXSIZE=100"], ["--block-size", "0"], ["--batch-size", "0"]],
)
def test_bad_options_are_usage_errors(folders, tmp_path, args):
    scene, model = folders
    assert run_main(["predict", scene, "--model", model, "--out", tmp_path / "m.tif", *args]) == 2
    assert list(tmp_path.iterdir()) == []  # refused before any block was computed


def _single_process_map(scene: Path, out: Path, args: list) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in each rank (OMP_NUM_THREADS=1): the same float arithmetic
    try:
        assert run_main(["-q", "predict", scene, "--out", out, *args]) == 0
    finally:
        torch.set_num_threads(threads)


TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
_RANK_FAILURE = ("Error", "error:", "terminate called", "what():", "Abort", "Traceback")


def _torchrun(cmd: list, env: dict) -> subprocess.CompletedProcess:
    """Run `cmd` under torchrun; on failure the message holds the ranks' own error lines (torchrun's
    summary at the end of stderr names only the signal, e.g. a rank's SIGABRT)."""
    done = subprocess.run(
        [str(c) for c in [*TORCHRUN, *cmd]], env=env, cwd=REPO, capture_output=True, text=True, timeout=300
    )
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if any(word in line for word in _RANK_FAILURE)]
        raise AssertionError("\n".join([*lines[:40], "--- end of stderr:", done.stderr[-1500:]]))
    return done


def test_two_torchrun_ranks_write_the_single_process_map(folders, tmp_path):
    scene, model = folders
    common = ["--model", model, "--block-size", "4", "--batch-size", "8", "--proba"]
    _single_process_map(scene, tmp_path / "one.tif", [*common, tmp_path / "one_p.tif"])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    cmd = ["-m", "cfipt_cli", "-q", "predict", scene, "--out", tmp_path / "two.tif"]
    done = _torchrun([*cmd, *common, tmp_path / "two_p.tif", "--json"], env)
    summary = json.loads(done.stdout)  # only rank 0 prints
    assert summary["world_size"] == 2 and summary["blocks_computed"] == 12
    with rasterio.open(tmp_path / "one.tif") as a, rasterio.open(tmp_path / "two.tif") as b:
        np.testing.assert_array_equal(a.read(), b.read())
        assert a.crs == b.crs and a.transform == b.transform and a.colormap(1) == b.colormap(1)
    # The rasters are byte-identical files, sidecar included.
    for one, two in (
        ("one.tif", "two.tif"),
        ("one_p.tif", "two_p.tif"),
        ("one.tif.aux.xml", "two.tif.aux.xml"),
    ):
        assert (tmp_path / one).read_bytes() == (tmp_path / two).read_bytes()


def test_torchrun_ranks_claim_blocks_so_a_slow_rank_takes_fewer(folders, tmp_path):
    """Rank 1 takes a second per block: rank 0 claims the rest; each block once, the same map."""
    scene, model = folders
    common = ["--model", model, "--block-size", "4", "--batch-size", "8"]
    _single_process_map(scene, tmp_path / "one.tif", common)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    env["CFIPT_TEST_BLOCKS_DIR"] = str(tmp_path)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    script = Path(__file__).with_name("slow_rank_predict.py")
    done = _torchrun([script, "-q", "predict", scene, "--out", tmp_path / "two.tif", *common, "--json"], env)
    assert json.loads(done.stdout)["blocks_computed"] == 12
    per_rank = [[int(v) for v in (tmp_path / f"rank-{r}.txt").read_text().split()] for r in (0, 1)]
    assert sorted(per_rank[0] + per_rank[1]) == list(range(12))  # every block, once
    assert 1 <= len(per_rank[1]) < len(per_rank[0])
    assert (tmp_path / "one.tif").read_bytes() == (tmp_path / "two.tif").read_bytes()


BLOCK_GIS_STACK = """
import importlib.abc, sys
class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("scipy", "geopandas", "pyogrio", "shapely"):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)")
sys.meta_path.insert(0, NotInstalled())
from cfipt_cli.cli.app import main
main(sys.argv[1:])
"""


def test_predict_runs_where_scipy_and_the_vector_libraries_are_not_installed(folders, tmp_path):
    """The GPU machines we benchmark on have torch and rasterio but neither scipy nor geopandas:
    `cfipt predict` (and what it imports) must not need them; only prepare and evaluate may."""
    scene, model = folders
    _single_process_map(scene, tmp_path / "one.tif", ["--model", model])
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    argv = [
        "-q",
        "predict",
        scene,
        "--model",
        model,
        "--out",
        tmp_path / "two.tif",
        "--quicklook",
        tmp_path / "q.png",
    ]
    done = subprocess.run(
        [sys.executable, "-c", BLOCK_GIS_STACK, *map(str, argv)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "one.tif").read_bytes() == (tmp_path / "two.tif").read_bytes()
