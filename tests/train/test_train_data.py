"""Training data: labelled pixels, validation split, balanced batches, augmentation, patch store."""

from __future__ import annotations

import itertools
import logging

import numpy as np
import pytest
import rasterio
from train_helpers import write_scene

from cfipt_cli.compute.patches import read_pixel_patches
from cfipt_cli.contracts.scene import Scene
from cfipt_cli.errors import DataError
from cfipt_cli.train.data import (
    PatchStore,
    augment,
    balanced_batches,
    labelled_pixels,
    scene_fingerprint,
    split_validation,
)
from cfipt_cli.train.trainer import lr_at


def test_labelled_pixels_match_the_label_raster(scene_dir):
    scene = Scene.open(scene_dir)
    pixels = labelled_pixels(scene)
    with rasterio.open(scene.train_labels_path) as src:
        labels = src.read(1)
    assert len(pixels) == int((labels > 0).sum()) == 48
    ids = np.array(pixels.classes.ids)[pixels.targets]
    np.testing.assert_array_equal(ids, labels[pixels.rows, pixels.cols])
    assert pixels.counts() == {"1": 12, "2": 12, "3": 12, "4": 12}


def test_scene_without_training_pixels(tmp_path):
    scene = Scene.open(write_scene(tmp_path / "s", n_train=0))
    with pytest.raises(DataError, match=r"no training pixels.*prepare it with training labels"):
        labelled_pixels(scene)


def test_class_without_training_pixel_fails_or_is_dropped(tmp_path, caplog):
    scene = Scene.open(write_scene(tmp_path / "s", empty_class=True))
    with pytest.raises(
        DataError, match=r"class 'Buildings' \(id 5\) has no training pixel.*--drop-empty-classes"
    ):
        labelled_pixels(scene)
    with caplog.at_level(logging.WARNING, logger="cfipt"):
        pixels = labelled_pixels(scene, drop_empty_classes=True)
    assert pixels.classes.names == ["Grass", "Trees", "Roads", "Water"]
    assert pixels.dropped == [{"id": 5, "name": "Buildings"}]
    assert "'Buildings' (id 5) has no training pixel and is dropped" in caplog.text


def test_a_single_class_cannot_be_trained(tmp_path):
    scene = Scene.open(write_scene(tmp_path / "one", n_classes=1))
    with pytest.raises(DataError, match=r"only class .* needs at least two classes.*--label-field"):
        labelled_pixels(scene)


def test_validation_split_is_stratified_and_seeded():
    targets = np.repeat(np.arange(3), [10, 20, 1])
    train, val = split_validation(targets, 0.2, seed=3)
    assert sorted(np.bincount(targets[val], minlength=3).tolist()) == [0, 2, 4]
    assert np.intersect1d(train, val).size == 0 and len(train) + len(val) == len(targets)
    assert 2 in targets[train]  # a class's last pixel stays in training
    again = split_validation(targets, 0.2, seed=3)[1]
    np.testing.assert_array_equal(val, again)
    assert not np.array_equal(val, split_validation(targets, 0.2, seed=4)[1])


def test_balanced_batches_draw_classes_equally():
    targets = np.repeat(np.arange(4), [50, 10, 3, 17])
    indices = np.arange(len(targets))
    batches = balanced_batches(indices, targets, 8, np.random.default_rng(0))
    sequence = np.concatenate(batches)
    per_class = -(-len(indices) // 4)
    assert np.bincount(targets[sequence]).tolist() == [per_class] * 4
    for batch in batches[:-1]:
        assert np.bincount(targets[batch], minlength=4).max() <= 3  # 8 / 4 = 2, plus round boundaries
    small = sequence[targets[sequence] == 2]
    assert set(small.tolist()) == set(np.flatnonzero(targets == 2).tolist())  # small class cycles fully
    again = balanced_batches(indices, targets, 8, np.random.default_rng(0))
    assert all(np.array_equal(a, b) for a, b in zip(batches, again, strict=True))


def test_augment_applies_one_dihedral_map_to_all_bands():
    rng = np.random.default_rng(0)
    patches = rng.normal(size=(64, 3, 5, 5)).astype(np.float32)
    out = augment(patches, np.random.default_rng(1))
    seen = set()
    for before, after in zip(patches, out, strict=True):
        maps = [np.rot90(before, k, axes=(1, 2)) for k in range(4)]
        maps += [m[:, :, ::-1] for m in maps]
        matches = [i for i, m in enumerate(maps) if np.array_equal(m, after)]
        assert len(matches) == 1
        seen.add(matches[0])
    assert len(seen) == 8


@pytest.mark.parametrize("read_block", [256, 7])
def test_patch_store_cached_equals_read_on_the_fly(scene_dir, monkeypatch, read_block):
    monkeypatch.setattr("cfipt_cli.train.data.READ_BLOCK", read_block)  # 7: many blocks, ragged edges
    scene = Scene.open(scene_dir)
    pixels = labelled_pixels(scene)
    cached = PatchStore(scene, pixels, 5)
    lazy = PatchStore(scene, pixels, 5, cache_bytes=0)
    assert cached.cached is not None and lazy.cached is None
    index = np.arange(len(pixels))
    np.testing.assert_array_equal(cached[index], lazy[index])
    with rasterio.open(scene.stack_path) as src:
        direct = read_pixel_patches(
            src, pixels.rows[index], pixels.cols[index], 5, scene.band_mean, scene.band_std
        )
    np.testing.assert_array_equal(cached[index], direct)
    lazy.close()
    cached.close()


def test_scene_fingerprint_follows_the_training_labels(tmp_path):
    a = Scene.open(write_scene(tmp_path / "a", seed=0))
    b = Scene.open(write_scene(tmp_path / "b", seed=0))
    c = Scene.open(write_scene(tmp_path / "c", seed=1))
    assert scene_fingerprint(a) == scene_fingerprint(b) != scene_fingerprint(c)


def test_schedule_warms_up_then_decays_to_zero():
    lrs = [lr_at(s, 100, 10, 1.0) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0) and lrs[10] == pytest.approx(1.0)
    assert all(a >= b for a, b in itertools.pairwise(lrs[10:]))
    assert lrs[-1] < 0.001
    assert lr_at(0, 10, 0, 2.0) == pytest.approx(2.0)
