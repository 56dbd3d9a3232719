"""scene.json is checked at open, key by key (types, band count = stack bands, statistics per band), so
that an edited or truncated scene folder fails with one line before any work, in every command."""

from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import pytest
import rasterio

from cfipt_cli.contracts.scene import Scene
from cfipt_cli.errors import EXIT_ERROR, DataError
from cfipt_cli.io.classes import ClassTable
from cfipt_cli.prepare.pipeline import prepare_scene
from cfipt_cli.testing.scene_folder import HandBuiltScene, write_test_scene_meta

pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")


@pytest.fixture(scope="module")
def prepared(scene_files, tmp_path_factory):
    out = tmp_path_factory.mktemp("schema") / "scene"
    prepare_scene(
        scene_files.hsi, lidar=[scene_files.lidar], labels=scene_files.polygons, label_field="class", out=out
    )
    return out


@pytest.fixture
def edit(prepared, tmp_path):
    def apply(change):
        root = tmp_path / "scene"
        shutil.copytree(prepared, root)
        meta = json.loads((root / "scene.json").read_text())
        change(meta)
        (root / "scene.json").write_text(json.dumps(meta))
        return root

    return apply


# The keys of scene.json in the order README "The scene folder" lists them; one writer writes them all.
SCENE_KEYS = [
    "format",
    "format_version",
    "cfipt_version",
    "created",
    "width",
    "height",
    "crs",
    "transform",
    "georeferenced",
    "bands",
    "band_roles",
    "sources",
    "nodata",
    "mask",
    "classes",
    "counts",
    "labels_on_nodata",
    "split",
    "statistics",
]
RASTER_SOURCE_KEYS = [
    "role",
    "path",
    "sha256",
    "format",
    "mat_key",
    "bands",
    "width",
    "height",
    "dtype",
    "crs",
    "resolution",
    "nodata",
    "resampling",
]
LABEL_SOURCE_KEYS = ["role", "path", "sha256", "format", "field", "all_touched", "resampling"]
SPLIT_KEYS = [
    "mode",
    "train_per_class",
    "seed",
    "patch_size",
    "block_size",
    "test_labels",
    "excluded",
    "small_classes",
]


def test_prepare_writes_every_documented_key_in_order(prepared):
    meta = json.loads((prepared / "scene.json").read_text())
    assert list(meta) == SCENE_KEYS
    assert [list(b) for b in meta["bands"]] == [
        ["index", "source", "source_band", "description", "input"]
    ] * len(meta["bands"])
    assert [list(s) for s in meta["sources"]] == [RASTER_SOURCE_KEYS] * 2 + [LABEL_SOURCE_KEYS]
    assert list(meta["split"]) == SPLIT_KEYS and list(meta["mask"]) == ["valid_pixels", "total_pixels"]
    assert list(meta["statistics"]) == ["mean", "std", "min", "max", "count"]
    assert (prepared / "scene.json").read_text().endswith("}\n")


def test_a_hand_built_folder_is_described_by_the_same_writer(prepared, tmp_path):
    """The tests' and benchmarks' scene folders: the same keys, read back by the same reader."""
    root = tmp_path / "copy"
    shutil.copytree(prepared, root)
    scene = Scene.open(prepared)
    with rasterio.open(scene.stack_path) as src, rasterio.open(scene.mask_path) as mask:
        stack, valid, crs, transform = src.read(), mask.read(1) > 0, src.crs.to_wkt(), src.transform
    classes = ClassTable.from_names(["a", "b"])
    write_test_scene_meta(root, HandBuiltScene(stack, scene.band_layout, classes, crs, transform, valid))
    copy = Scene.open(root)
    meta = copy.meta
    assert list(meta) == SCENE_KEYS and meta["sources"] == [] and meta["crs"] == scene.meta["crs"]
    assert meta["band_roles"] == scene.meta["band_roles"] and meta["transform"] == scene.meta["transform"]
    assert [b["description"] for b in meta["bands"]] == [b["description"] for b in scene.meta["bands"]]
    assert meta["counts"] == {"train": {"1": 0, "2": 0}, "test": {"1": 0, "2": 0}}
    np.testing.assert_allclose(copy.band_mean, scene.band_mean, rtol=1e-6)
    np.testing.assert_allclose(copy.band_std, scene.band_std, rtol=1e-6)
    assert meta["statistics"]["count"] == scene.meta["statistics"]["count"] == meta["mask"]["valid_pixels"]


def _extra_band(meta):
    meta["bands"].append({**meta["bands"][-1], "index": len(meta["bands"]) + 1})


def _aux_role(meta, n):
    meta["band_roles"]["aux"] = n


EDITS = {
    "no bands": (lambda m: m.pop("bands"), "'bands' is missing"),
    "an extra band entry": (_extra_band, "band_roles.aux"),
    "no statistics.std": (lambda m: m["statistics"].pop("std"), "'statistics.std' is missing"),
    "a short mean": (lambda m: m["statistics"]["mean"].pop(), "'statistics.mean' is wrong"),
    "a text width": (lambda m: m.update(width="100"), "'width' is wrong"),
    "a NaN std": (lambda m: m["statistics"]["std"].__setitem__(0, float("nan")), "'statistics.std'"),
    "negative std": (lambda m: m["statistics"]["std"].__setitem__(0, -1.0), "'statistics.std'"),
    "band roles that disagree": (lambda m: _aux_role(m, 3), "'band_roles.aux' is wrong"),
    "bands out of order": (lambda m: m["bands"].reverse(), "'bands"),
    "a bad class id": (lambda m: m.update(classes=[{"id": 0, "name": "x"}]), "'classes[0].id' is wrong"),
    "a bad class table": (
        lambda m: m.update(classes=[{"id": 1, "name": "x"}, {"id": 1, "name": "y"}]),
        "'classes' is wrong (expected a valid class table (duplicate class ids",
    ),
    "a transform of 5": (lambda m: m["transform"].pop(), "'transform' is wrong"),
    "a class name that is a number": (
        lambda m: m["classes"][1].update(name=5),
        "'classes[1].name' is wrong (expected a non-empty string, not 5)",
    ),
    "a class without a name": (lambda m: m["classes"][0].pop("name"), "'classes[0].name' is missing"),
    "a class id that is text": (lambda m: m["classes"][0].update(id="1"), "'classes[0].id' is wrong"),
    "a class id that is true": (lambda m: m["classes"][0].update(id=True), "'classes[0].id' is wrong"),
    "classes that are no list": (lambda m: m.update(classes={"1": "x"}), "'classes' is wrong"),
}


@pytest.mark.parametrize("case", sorted(EDITS))
def test_every_key_that_is_read_is_checked_at_open(edit, case):
    change, phrase = EDITS[case]
    root = edit(change)
    with pytest.raises(DataError) as info:
        Scene.open(root)
    message = str(info.value)
    assert phrase in message and "prepare it again" in message and "\n" not in message


def test_the_stack_must_have_one_band_per_entry(edit, prepared):
    def one_more_band(meta):
        _extra_band(meta)
        meta["band_roles"]["aux"] += 1
        meta["band_roles"]["lidar"] += 1
        for key in ("mean", "std", "min", "max"):
            meta["statistics"][key].append(1.0)

    root = edit(one_more_band)  # consistent in itself, but the stack has one band less
    with pytest.raises(DataError, match=r"stack.tif has \d+ band\(s\) .* describes"):
        Scene.open(root)


def test_a_truncated_stack_is_refused_at_open(edit):
    root = edit(lambda m: None)
    data = (root / "stack.tif").read_bytes()
    (root / "stack.tif").write_bytes(data[:200])
    with pytest.raises(DataError, match=r"stack.tif is unreadable"):
        Scene.open(root)


@pytest.mark.parametrize("command", ["train", "predict"])
@pytest.mark.parametrize("case", ["no bands", "no statistics.std", "an extra band entry"])
def test_train_and_predict_fail_with_one_line_before_any_work(edit, run_cli, tmp_path, command, case):
    root = edit(EDITS[case][0])
    args = ["--clip", "cfipt-tiny", "--pretrained", "none"] if command == "train" else ["--model", tmp_path]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code, _, stderr = run_cli([command, root, "--out", tmp_path / "out", *args])
    assert code == EXIT_ERROR and stderr.startswith("cfipt: error:") and stderr.count("\n") == 1, stderr
    assert not (tmp_path / "out").exists()


def test_a_stack_truncated_behind_its_header_is_one_line_in_train(edit, run_cli, tmp_path):
    root = edit(lambda m: None)
    data = (root / "stack.tif").read_bytes()
    (root / "stack.tif").write_bytes(data[: int(len(data) * 0.6)])
    Scene.open(root)  # the header is intact: only reading the pixels fails
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code, _, stderr = run_cli(
            ["train", root, "--out", tmp_path / "m", "--clip", "cfipt-tiny", "--pretrained", "none"]
        )
    assert code == EXIT_ERROR and stderr.count("\n") == 1, stderr
    assert "cannot read the scene" in stderr and "prepare it again" in stderr
    assert not (tmp_path / "m").exists()
