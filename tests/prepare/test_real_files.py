"""`cfipt prepare` on the real files of ../shared/data (Houston 2013 labels, Trento DSM, RGB.byte + box.shp).

Houston 2013 (IEEE GRSS DFC 2013), Trento (University of Trento) and the rasterio test data belong to
their owners; see ../shared/data/README.md.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import rasterio
import scipy.io
from prepared_labels import label_rasters
from rasterio.enums import Resampling
from rasterio.features import rasterize
from rasterio.warp import calculate_default_transform, reproject

from cfipt_cli.contracts.scene import Scene
from cfipt_cli.prepare.pipeline import prepare_scene

pytestmark = [
    pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning"),
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
]


def _fake_cube(labels, n_bands, seed):
    """A (rows, cols, bands) MATLAB-order cube whose spectra depend on the label map."""
    rng = np.random.default_rng(seed)
    signatures = rng.uniform(0.1, 0.6, size=(int(labels.max()) + 1, n_bands)).astype(np.float32)
    return signatures[labels] + rng.normal(0, 0.01, size=(*labels.shape, n_bands)).astype(np.float32)


def _read_labels(out):
    scene = Scene.open(out)
    return scene, *label_rasters(scene)


def test_houston_label_maps_as_label_rasters(shared, tmp_path):
    tr_path, ts_path = shared("houston2013", "TRLabel.mat"), shared("houston2013", "TSLabel.mat")
    tr = scipy.io.loadmat(tr_path)["TRLabel"]
    ts = scipy.io.loadmat(ts_path)["TSLabel"]
    with h5py.File(tmp_path / "HSI_data.mat", "w", userblock_size=512) as h5:  # MATLAB v7.3 layout
        h5.create_dataset("HSI_data", data=_fake_cube(tr, 4, 0).T)
    scipy.io.savemat(tmp_path / "LiDAR_data.mat", {"LiDAR_data": np.random.default_rng(1).random(tr.shape)})
    prepare_scene(
        tmp_path / "HSI_data.mat",
        lidar=[tmp_path / "LiDAR_data.mat"],
        labels=tr_path,
        test_labels=ts_path,
        out=tmp_path / "s",
    )
    scene, train, test = _read_labels(tmp_path / "s")
    assert (scene.height, scene.width) == (349, 1905) and not scene.meta["georeferenced"]
    assert scene.meta["crs"] is None and scene.classes.ids == list(range(1, 16))
    assert np.bincount(train.ravel(), minlength=16)[1:].tolist() == [40] * 15
    assert np.all(train[train > 0] == tr[train > 0])  # training pixels come from TRLabel
    np.testing.assert_array_equal(test, ts)  # the official test map, untouched (it is disjoint)
    assert sum(scene.meta["counts"]["test"].values()) == 12197
    assert scene.meta["sources"][0]["mat_key"] == "HSI_data"


def test_houston_train_map_alone_tests_on_the_rest(shared, tmp_path):
    tr_path = shared("houston2013", "TRLabel.mat")
    tr = scipy.io.loadmat(tr_path)["TRLabel"]
    scipy.io.savemat(tmp_path / "hsi.mat", {"hsi": _fake_cube(tr, 3, 0)})
    scipy.io.savemat(tmp_path / "dsm.mat", {"dsm": np.ones(tr.shape, np.float32)})
    prepare_scene(tmp_path / "hsi.mat", lidar=[tmp_path / "dsm.mat"], labels=tr_path, out=tmp_path / "s")
    _, train, test = _read_labels(tmp_path / "s")
    np.testing.assert_array_equal(train + test, tr)
    assert (train > 0).sum() == 600 and (test > 0).sum() == 2832 - 600


def test_trento_dsm_and_ground_truth(shared, tmp_path):
    dsm_path, gt_path = shared("trento", "LiDAR.mat"), shared("trento", "Trento_gt.mat")
    dsm = scipy.io.loadmat(dsm_path)["LiDAR"]
    gt = scipy.io.loadmat(gt_path)["Trento_gt"]
    scipy.io.savemat(tmp_path / "Trento_hsi.mat", {"Trento_hsi": _fake_cube(gt, 6, 2)})
    prepare_scene(tmp_path / "Trento_hsi.mat", lidar=[dsm_path], labels=gt_path, out=tmp_path / "s")
    scene, train, test = _read_labels(tmp_path / "s")
    with rasterio.open(scene.stack_path) as src:
        np.testing.assert_array_equal(src.read(7), dsm)  # same pixel grid: the DSM is copied as is
    assert scene.meta["statistics"]["mean"][6] == pytest.approx(
        float(dsm.astype(np.float64).mean()), rel=1e-9
    )
    np.testing.assert_array_equal(train + test, gt)
    assert len(scene.classes) == 6 and (train > 0).sum() == 240 and (test > 0).sum() == 30214 - 240


def test_rgb_byte_with_box_shapefile(shared, tmp_path):
    rgb, shp = shared("georef", "RGB.byte.tif"), shared("georef", "box.shp")
    with rasterio.open(rgb) as src:  # a "LiDAR" made of band 1, in EPSG:4326
        transform, width, height = calculate_default_transform(
            src.crs, "EPSG:4326", src.width, src.height, *src.bounds
        )
        band = np.zeros((1, height, width), np.uint8)
        reproject(
            rasterio.band(src, 1),
            band,
            dst_transform=transform,
            dst_crs="EPSG:4326",
            resampling=Resampling.nearest,
        )
        grid_transform, shape, nodata_mask = src.transform, src.shape, src.read_masks().min(axis=0) == 0
    with rasterio.open(
        tmp_path / "dem.tif",
        "w",
        driver="GTiff",
        width=width,
        height=height,
        count=1,
        dtype="uint8",
        crs="EPSG:4326",
        transform=transform,
        nodata=0,
    ) as dst:
        dst.write(band)
    prepare_scene(rgb, lidar=[tmp_path / "dem.tif"], labels=shp, label_field="id", out=tmp_path / "s")
    scene, train, test = _read_labels(tmp_path / "s")
    import geopandas as gpd

    burnt = rasterize(gpd.read_file(shp).geometry, out_shape=shape, transform=grid_transform)
    with rasterio.open(scene.mask_path) as src:
        valid = src.read(1).astype(bool)
    assert not valid[nodata_mask].any()
    np.testing.assert_array_equal((train + test) > 0, (burnt > 0) & valid)
    assert scene.classes.names == ["0"]  # an id of 0 cannot be a class id: the value is a name
    assert (train > 0).sum() == 40 and scene.meta["crs"] and scene.meta["georeferenced"]
