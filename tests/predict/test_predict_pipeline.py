"""`predict_scene`: georeference, halos and block sizes, per-pixel equality, nodata, resume, checks."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from predict_helpers import PatchLinear, model_info, reference_ids
from predict_scenes import read_stack

from cfipt_cli.errors import CfiptUsageError, CheckpointError, OutputExistsError
from cfipt_cli.predict.blocks import Block, block_grid, prefetched
from cfipt_cli.predict.parts import PartStore
from cfipt_cli.predict.pipeline import predict_scene
from cfipt_cli.predict.plan import check_output_paths
from cfipt_cli.predict.settings import PredictOutputs, PredictSettings

CPU = torch.device("cpu")


def _run(scene, model, info, out: Path, block_size=8, batch_size=16, proba=False, **kwargs):
    outputs = PredictOutputs(
        map_path=out,
        proba_path=out.with_name(out.stem + "_proba.tif") if proba else None,
        confidence_path=out.with_name(out.stem + "_conf.tif") if proba else None,
        overwrite=kwargs.pop("overwrite", False),
    )
    settings = PredictSettings(batch_size=batch_size, block_size=block_size)
    return predict_scene(scene, model, info, outputs, settings, CPU, model_id="m", **kwargs)


def _read(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read()


@pytest.fixture
def setup(make_scene):
    scene = make_scene(nodata_fraction=0.15, n_classes=3)
    info = model_info(scene, patch_size=5)
    return scene, PatchLinear(len(scene.band_layout), 5, 3), info


def test_map_georeference_equals_scene(setup, tmp_path):
    scene, model, info = setup
    _run(scene, model, info, tmp_path / "map.tif")
    with rasterio.open(tmp_path / "map.tif") as out, rasterio.open(scene.stack_path) as src:
        assert (out.width, out.height) == (src.width, src.height)
        assert out.crs == src.crs and out.crs.to_epsg() == 32633
        assert out.transform == src.transform


def test_map_equals_per_pixel_reference(setup, tmp_path):
    scene, model, info = setup
    summary = _run(scene, model, info, tmp_path / "map.tif")
    stack = read_stack(scene.root)
    valid = np.isfinite(stack).all(axis=0)
    expected = reference_ids(stack, model, info, valid)
    got = _read(tmp_path / "map.tif")[0]
    np.testing.assert_array_equal(got, expected)
    assert set(np.unique(got)) <= {0, 2, 4, 6}  # class table ids, not logit indices
    assert summary["pixels_classified"] == int(valid.sum())
    assert summary["class_counts"] == {
        n: int((got == i).sum()) for i, n in zip(info.class_ids, info.classes.names, strict=True)
    }


def test_the_models_normalisation_is_applied_not_the_scenes(setup, tmp_path):
    scene, model, _ = setup
    n = len(scene.band_layout)
    trained_mean, trained_std = scene.band_mean + np.linspace(-2, 2, n), scene.band_std * 1.7
    info = model_info(scene, 5, normalisation={"mean": trained_mean.tolist(), "std": trained_std.tolist()})
    _run(scene, model, info, tmp_path / "map.tif")
    stack = read_stack(scene.root)
    valid = np.isfinite(stack).all(axis=0)
    got = _read(tmp_path / "map.tif")[0]
    np.testing.assert_array_equal(got, reference_ids(stack, model, info, valid))
    assert (got != reference_ids(stack, model, model_info(scene, 5), valid)).any()


@pytest.mark.parametrize("block_size", [1, 5, 7, 64])
def test_block_size_does_not_change_outputs(setup, tmp_path, block_size):
    scene, model, info = setup
    _run(scene, model, info, tmp_path / "ref.tif", block_size=16, proba=True)
    _run(scene, model, info, tmp_path / "map.tif", block_size=block_size, batch_size=3, proba=True)
    for suffix in ("", "_proba", "_conf"):
        np.testing.assert_array_equal(
            _read(tmp_path / f"map{suffix}.tif"), _read(tmp_path / f"ref{suffix}.tif")
        )


def test_patches_cut_on_the_device_give_the_same_files(setup, tmp_path):
    """CUDA's path (block staged once, patches gathered by torch) run on CPU: byte-identical outputs."""
    scene, model, info = setup
    _run(scene, model, info, tmp_path / "host.tif", block_size=7, batch_size=5, proba=True)
    outputs = PredictOutputs(
        map_path=tmp_path / "dev.tif",
        proba_path=tmp_path / "dev_proba.tif",
        confidence_path=tmp_path / "dev_conf.tif",
    )
    settings = PredictSettings(batch_size=5, block_size=7, device_cut=True)
    predict_scene(scene, model, info, outputs, settings, CPU, model_id="m")
    for suffix in ("", "_proba", "_conf"):
        assert (tmp_path / f"dev{suffix}.tif").read_bytes() == (tmp_path / f"host{suffix}.tif").read_bytes()


def test_nodata_propagates(setup, tmp_path):
    scene, model, info = setup
    _run(scene, model, info, tmp_path / "map.tif", proba=True)
    with rasterio.open(scene.mask_path) as src:
        valid = src.read(1) == 1
    assert 0 < (~valid).sum() < valid.size
    ids, proba, conf = (
        _read(tmp_path / "map.tif")[0],
        _read(tmp_path / "map_proba.tif"),
        _read(tmp_path / "map_conf.tif")[0],
    )
    assert (ids[~valid] == 0).all() and (ids[valid] > 0).all()
    assert np.isnan(proba[:, ~valid]).all() and np.isnan(conf[~valid]).all()
    np.testing.assert_allclose(proba[:, valid].sum(axis=0), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(conf[valid], proba[:, valid].max(axis=0))
    winners = np.asarray(info.class_ids)[proba[:, valid].argmax(axis=0)]
    np.testing.assert_array_equal(ids[valid], winners)


def test_mask_marks_nodata_even_where_bands_are_finite(make_scene, tmp_path):
    scene = make_scene()
    with rasterio.open(scene.mask_path, "r+") as dst:
        mask = dst.read(1)
        mask[3:6, 4:9] = 0
        dst.write(mask, 1)
    info = model_info(scene, 3)
    _run(scene, PatchLinear(len(scene.band_layout), 3, 3), info, tmp_path / "map.tif")
    ids = _read(tmp_path / "map.tif")[0]
    assert (ids[3:6, 4:9] == 0).all() and (ids[mask == 1] > 0).all()


class _Stop(Exception):
    pass


def test_resume_computes_only_unfinished_blocks(setup, tmp_path):
    scene, model, info = setup
    _run(scene, model, info, tmp_path / "clean.tif", block_size=6, proba=True)
    first: list[int] = []

    def killed_after_three(index: int, done: int, total: int) -> None:
        first.append(index)
        if done == 3:
            raise _Stop

    out = tmp_path / "map.tif"
    with pytest.raises(_Stop):
        _run(scene, model, info, out, block_size=6, proba=True, on_block=killed_after_three)
    assert not out.exists() and len(list(PartStore(out).root.glob("block-*.npz"))) == 3
    second: list[int] = []
    summary = _run(
        scene, model, info, out, block_size=6, proba=True, on_block=lambda i, d, t: second.append(i)
    )
    n_blocks = len(block_grid(scene.width, scene.height, 6))
    assert sorted(first + second) == list(range(n_blocks))
    assert summary["blocks_computed"] == n_blocks - 3 and summary["blocks_resumed"] == 3
    for suffix in ("", "_proba", "_conf"):
        clean, resumed = tmp_path / f"clean{suffix}.tif", tmp_path / f"map{suffix}.tif"
        assert resumed.read_bytes() == clean.read_bytes()
    assert not PartStore(out).root.exists()


def test_parts_of_another_job_are_discarded(setup, tmp_path):
    scene, model, info = setup
    out = tmp_path / "map.tif"

    def stop(index: int, done: int, total: int) -> None:
        raise _Stop

    with pytest.raises(_Stop):
        _run(scene, model, info, out, block_size=6, on_block=stop)
    computed: list[int] = []
    _run(scene, model, info, out, block_size=7, on_block=lambda i, d, t: computed.append(i))
    assert len(computed) == len(block_grid(scene.width, scene.height, 7))


def test_band_layout_mismatch_is_an_error(make_scene, tmp_path):
    scene = make_scene(aux=("lidar", "lidar"))
    trained_on = make_scene("other", aux=("lidar",))
    info = model_info(trained_on, 3)
    with pytest.raises(CheckpointError, match="1 lidar"):
        _run(scene, PatchLinear(5, 3, 3), info, tmp_path / "map.tif")
    assert not (tmp_path / "map.tif").exists()


def test_existing_output_is_refused_without_overwrite(setup, tmp_path):
    scene, model, info = setup
    out = tmp_path / "map.tif"
    out.write_bytes(b"precious")
    with pytest.raises(OutputExistsError):
        check_output_paths(PredictOutputs(map_path=out), scene, None)
    with pytest.raises(OutputExistsError):
        _run(scene, model, info, out)
    assert out.read_bytes() == b"precious"
    with pytest.raises(OutputExistsError, match="replaces only what cfipt wrote"):
        _run(scene, model, info, out, overwrite=True)  # not a map of cfipt's: kept even so
    assert out.read_bytes() == b"precious"
    out.unlink()
    _run(scene, model, info, out)
    _run(scene, model, info, out, overwrite=True)  # cfipt's own map is replaced
    assert _read(out).shape == (1, scene.height, scene.width)


def test_outputs_inside_the_scene_are_refused(setup):
    scene, _, _ = setup
    with pytest.raises(CfiptUsageError, match=r"would replace the input .*scene"):
        check_output_paths(PredictOutputs(map_path=scene.root / "stack.tif", overwrite=True), scene, None)


def test_block_grid_covers_scene_once():
    blocks = block_grid(23, 19, 8)
    cover = np.zeros((19, 23), int)
    for b in blocks:
        cover[b.row : b.row + b.height, b.col : b.col + b.width] += 1
    assert (cover == 1).all() and [b.index for b in blocks] == list(range(9))


def test_prefetch_keeps_order_reads_ahead_and_reraises():
    reader_threads: set[str] = set()

    def read(block: Block):
        reader_threads.add(threading.current_thread().name)
        if block.index == 4:
            raise ValueError("broken block")
        return block.index

    blocks = block_grid(5, 1, 1)
    stream = prefetched(blocks, read, depth=2)  # type: ignore[arg-type]
    assert [next(stream) for _ in range(4)] == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="broken block"):
        next(stream)
    assert threading.current_thread().name not in reader_threads


def test_a_failed_write_keeps_the_blocks_for_the_rerun(setup, tmp_path, monkeypatch):
    from rasterio.errors import RasterioIOError

    from cfipt_cli.errors import CfiptError
    from cfipt_cli.io import mapio

    scene, model, info = setup
    out = tmp_path / "map.tif"

    def disk_full(*args, **kwargs):
        raise RasterioIOError("No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(mapio, "finish_class_map", disk_full)
        with pytest.raises(CfiptError, match="rerun the same command to resume"):
            _run(scene, model, info, out)
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == [".map.tif.parts", "scene"]
    summary = _run(scene, model, info, out)
    assert summary["blocks_computed"] == 0 and summary["blocks_resumed"] == summary["blocks"] == 9
    assert _read(out).shape == (1, scene.height, scene.width)


@pytest.mark.parametrize("device_cut", [False, True])
def test_patches_reach_the_models_device_whichever_way_they_are_cut(device_cut):
    """'meta' stands in for CUDA: host-cut patches (numpy) must still be moved to the model's device."""
    import types

    from cfipt_cli.predict.blocks import Block, BlockInput
    from cfipt_cli.predict.classifier import BlockClassifier

    classes = types.SimpleNamespace(max_id=3)
    info = types.SimpleNamespace(patch_size=3, n_hsi=2, class_ids=[1, 2, 3], classes=classes)
    device = torch.device("meta")
    settings = PredictSettings(batch_size=4, block_size=4, device_cut=device_cut)
    classifier = BlockClassifier(torch.nn.Identity(), info, device, settings, False, False)  # type: ignore[arg-type]
    padded = np.arange(3 * 6 * 6, dtype=np.float32).reshape(3, 6, 6)
    rows, cols = np.array([0, 1, 3]), np.array([2, 0, 3])
    cut = classifier._patch_cutter(BlockInput(Block(0, 0, 0, 4, 4), padded, rows, cols))
    patches = cut(0, 3)
    assert patches.device.type == "meta" and tuple(patches.shape) == (3, 3, 3, 3)


def test_a_negative_prefetch_depth_is_refused_when_the_settings_are_made():
    """With a depth below 0 no block was ever computed and the run failed later on a 'corrupt' part."""
    from cfipt_cli.errors import CfiptUsageError
    from cfipt_cli.predict.settings import PredictSettings

    assert PredictSettings(prefetch=0).prefetch == 0
    with pytest.raises(CfiptUsageError, match="prefetch depth must be at least 0"):
        PredictSettings(prefetch=-1)
