"""`--pixels` (classify only the scene's test / train / labelled pixels) and `--uncertainty` rasters."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from predict_helpers import PatchLinear, model_info
from predict_scenes import write_model, write_scene

from cfipt_cli.cli.app import main
from cfipt_cli.compute.uncertainty import uncertainty
from cfipt_cli.contracts.scene import Scene
from cfipt_cli.errors import CfiptUsageError, DataError
from cfipt_cli.predict.parts import job_identity
from cfipt_cli.predict.pipeline import predict_scene
from cfipt_cli.predict.plan import PredictPlan
from cfipt_cli.predict.settings import PredictOutputs, PredictRequest, PredictSettings

CPU = torch.device("cpu")


def _read(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read()


def _labels(scene: Scene) -> tuple[np.ndarray, np.ndarray]:
    return _read(scene.train_labels_path)[0], _read(scene.test_labels_path)[0]


@pytest.fixture
def sparse(tmp_path):
    scene = Scene.open(write_scene(tmp_path / "scene", nodata_fraction=0.1, sparse_labels=True, seed=5))
    return scene, PatchLinear(len(scene.band_layout), 5, 3), model_info(scene, patch_size=5)


def _outputs(out: Path) -> PredictOutputs:
    return PredictOutputs(
        map_path=out,
        proba_path=out.with_name(out.stem + "_proba.tif"),
        uncertainty_path=out.with_name(out.stem + "_unc.tif"),
        uncertainty_measure="margin",
    )


@pytest.mark.parametrize("pixels", ["test", "train", "labelled"])
def test_a_selection_equals_the_whole_scene_map_on_its_pixels_and_is_nodata_elsewhere(
    sparse, tmp_path, pixels
):
    scene, model, info = sparse
    settings = PredictSettings(batch_size=7, block_size=8)
    predict_scene(scene, model, info, _outputs(tmp_path / "all.tif"), settings, CPU, model_id="m")
    summary = predict_scene(
        scene, model, info, _outputs(tmp_path / "sel.tif"), settings, CPU, model_id="m", pixels=pixels
    )
    train, test = _labels(scene)
    chosen = {"test": test > 0, "train": train > 0, "labelled": (train > 0) | (test > 0)}[pixels]
    whole, selected = _read(tmp_path / "all.tif")[0], _read(tmp_path / "sel.tif")[0]
    chosen &= whole > 0  # nodata pixels stay nodata
    assert 0 < chosen.sum() < (whole > 0).sum()
    np.testing.assert_array_equal(selected[chosen], whole[chosen])  # bit for bit
    assert (selected[~chosen] == 0).all()
    for suffix in ("_proba", "_unc"):
        full, part = _read(tmp_path / f"all{suffix}.tif"), _read(tmp_path / f"sel{suffix}.tif")
        np.testing.assert_array_equal(part[:, chosen], full[:, chosen])
        assert np.isnan(part[:, ~chosen]).all()
    assert summary["pixels_classified"] == int(chosen.sum()) and summary["pixels"] == pixels


def test_the_uncertainty_raster_is_the_measure_of_the_probabilities(sparse, tmp_path):
    scene, model, info = sparse
    for measure in ("entropy", "margin", "least"):
        outputs = PredictOutputs(
            map_path=tmp_path / f"{measure}.tif",
            proba_path=tmp_path / f"{measure}_proba.tif",
            uncertainty_path=tmp_path / f"{measure}_unc.tif",
            uncertainty_measure=measure,
        )
        predict_scene(scene, model, info, outputs, PredictSettings(block_size=6), CPU, model_id="m")
        proba, unc = _read(outputs.proba_path)[:, :, :], _read(outputs.uncertainty_path)[0]
        np.testing.assert_allclose(unc, uncertainty(proba, measure, axis=0), atol=1e-6)
        valid = _read(outputs.map_path)[0] > 0
        assert np.isnan(unc[~valid]).all() and ((unc[valid] >= 0) & (unc[valid] <= 1)).all()
        with rasterio.open(outputs.uncertainty_path) as src:
            assert src.tags()["CFIPT_UNCERTAINTY_MEASURE"] == measure
            assert src.dtypes[0] == "float32" and np.isnan(src.nodata)


def test_uncertainty_without_proba_equals_uncertainty_with_it(sparse, tmp_path):
    scene, model, info = sparse
    alone = PredictOutputs(map_path=tmp_path / "a.tif", uncertainty_path=tmp_path / "a_unc.tif")
    predict_scene(scene, model, info, alone, PredictSettings(), CPU, model_id="m")
    predict_scene(scene, model, info, _outputs(tmp_path / "b.tif"), PredictSettings(), CPU, model_id="m")
    with_proba = PredictOutputs(
        map_path=tmp_path / "c.tif", proba_path=tmp_path / "c_p.tif", uncertainty_path=tmp_path / "c_unc.tif"
    )
    predict_scene(scene, model, info, with_proba, PredictSettings(), CPU, model_id="m")
    np.testing.assert_array_equal(_read(tmp_path / "a_unc.tif"), _read(tmp_path / "c_unc.tif"))
    assert not (tmp_path / "a_proba.tif").exists()


def test_parts_of_another_selection_are_never_resumed(sparse):
    scene, _, info = sparse
    settings = PredictSettings(block_size=8, amp=False)
    ids = [
        job_identity(PredictPlan(scene, info, PredictOutputs(Path("m.tif")), None, p), settings, "m", "cpu")  # type: ignore[arg-type]
        for p in ("all", "test")
    ]
    assert ids[0] != ids[1]


def test_bad_choices_are_usage_errors(tmp_path):
    with pytest.raises(CfiptUsageError, match="--pixels must be one of all, test, train, labelled"):
        PredictRequest(tmp_path, tmp_path, PredictOutputs(tmp_path / "m.tif"), pixels="valid")
    with pytest.raises(CfiptUsageError, match="--uncertainty-measure must be one of entropy, margin"):
        PredictOutputs(tmp_path / "m.tif", uncertainty_measure="variance")


def test_a_scene_without_test_pixels_is_refused_for_pixels_test(tmp_path):
    scene = Scene.open(write_scene(tmp_path / "scene", sparse_labels=True))
    scene.meta["counts"]["test"] = dict.fromkeys(scene.meta["counts"]["test"], 0)
    info = model_info(scene, patch_size=5)
    with pytest.raises(DataError, match="has no test pixels to classify"):
        predict_scene(
            scene,
            PatchLinear(5, 5, 3),
            info,
            PredictOutputs(tmp_path / "m.tif"),
            PredictSettings(),
            CPU,
            pixels="test",
        )
    assert not (tmp_path / "m.tif").exists()


def test_cli_pixels_test_with_the_real_network(tmp_path):
    """`cfipt predict --pixels test --uncertainty` with a tiny random CF-IPT: the test pixels of the map
    are the whole-scene map's, bit for bit on CPU."""
    scene = write_scene(tmp_path / "scene", height=12, width=14, sparse_labels=True, seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = write_model(tmp_path / "model", scene, patch_size=5)
    common = [scene, "--model", model, "--device", "cpu", "--block-size", "5", "-q"]
    for name, extra in (("all", []), ("test", ["--pixels", "test", "--uncertainty", tmp_path / "u.tif"])):
        with pytest.raises(SystemExit) as exit_info, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            main(["predict", *map(str, common), "--out", str(tmp_path / f"{name}.tif"), *map(str, extra)])
        assert exit_info.value.code in (0, None)
    test = _read(scene / "test_labels.tif")[0] > 0
    whole, selected = _read(tmp_path / "all.tif")[0], _read(tmp_path / "test.tif")[0]
    np.testing.assert_array_equal(selected[test], whole[test])
    assert (selected[~test] == 0).all() and test.any()
    unc = _read(tmp_path / "u.tif")[0]
    assert np.isfinite(unc[test]).all() and np.isnan(unc[~test]).all()
