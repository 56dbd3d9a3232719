"""Co-registration: a LiDAR band warped away to another CRS and resolution comes back onto the HSI grid."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.warp import calculate_default_transform, reproject
from scipy.ndimage import gaussian_filter

from cfipt_cli.errors import CfiptUsageError, DataError
from cfipt_cli.io.coreg import align, parse_resampling, same_grid
from cfipt_cli.io.rasters import Grid, open_raster
from cfipt_cli.prepare.pipeline import prepare_scene

pytestmark = [
    pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning"),
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
]

H, W, RES = 64, 56, 2.0
HSI_TRANSFORM = Affine(RES, 0.0, 664000.0, 0.0, -RES, 5104000.0)


def _write(path, data, crs, transform, nodata=None):
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=data.shape[-1],
        height=data.shape[-2],
        count=data.shape[0],
        dtype=data.dtype,
        crs=crs,
        transform=transform,
        nodata=nodata,
    ) as dst:
        dst.write(data)


@pytest.fixture(scope="module")
def round_trip(tmp_path_factory):
    """HSI (2 bands, EPSG:32632, 2 m) and a LiDAR made by warping band 1 to EPSG:32633 at 3 m, prepared."""
    folder = tmp_path_factory.mktemp("coreg")
    rng = np.random.default_rng(0)
    field = gaussian_filter(rng.normal(size=(H, W)), 1.3)  # detail of a few pixels: shifts show
    band = ((field - field.mean()) / field.std()).astype(np.float32)
    _write(folder / "hsi.tif", np.stack([band, band * 0.5 + 1.0]), "EPSG:32632", HSI_TRANSFORM)
    bounds = (664000.0, 5104000.0 - H * RES, 664000.0 + W * RES, 5104000.0)
    transform, width, height = calculate_default_transform(
        "EPSG:32632", "EPSG:32633", W, H, *bounds, resolution=RES * 1.5
    )
    lidar = np.full((1, height, width), -9999.0, dtype=np.float32)
    reproject(
        band[None],
        lidar,
        src_transform=HSI_TRANSFORM,
        src_crs="EPSG:32632",
        dst_transform=transform,
        dst_crs="EPSG:32633",
        dst_nodata=-9999.0,
        resampling=Resampling.bilinear,
    )
    _write(folder / "lidar.tif", lidar, "EPSG:32633", transform, nodata=-9999.0)
    prepare_scene(folder / "hsi.tif", lidar=[folder / "lidar.tif"], out=folder / "scene")
    with rasterio.open(folder / "scene" / "stack.tif") as src:
        back = src.read(3)
    return band, back


def _corr(a, b):
    valid = np.isfinite(a) & np.isfinite(b)
    return float(np.corrcoef(a[valid], b[valid])[0, 1])


def test_warped_lidar_comes_back_onto_the_hsi_grid(round_trip):
    band, back = round_trip
    assert np.isfinite(back).mean() > 0.95
    assert _corr(back, band) >= 0.95


@pytest.mark.parametrize(("dr", "dc"), [(0, 1), (1, 0), (0, -1), (-1, 0)])
def test_a_one_pixel_shift_would_be_detected(round_trip, dr, dc):
    band, back = round_trip
    shifted = np.full_like(back, np.nan)
    r0, r1 = max(dr, 0), H + min(dr, 0)
    c0, c1 = max(dc, 0), W + min(dc, 0)
    shifted[r0:r1, c0:c1] = back[r0 - dr : r1 - dr, c0 - dc : c1 - dc]
    assert _corr(shifted, band) < 0.9


def test_pixels_outside_the_source_footprint_are_nodata(tmp_path):
    band = np.ones((1, H, W), dtype=np.float32)
    _write(tmp_path / "hsi.tif", band, "EPSG:32632", HSI_TRANSFORM)
    half = Affine(RES, 0.0, 664000.0, 0.0, -RES, 5104000.0)  # covers the left half only
    _write(tmp_path / "lidar.tif", np.full((1, H, W // 2), 5.0, np.float32), "EPSG:32632", half)
    prepare_scene(tmp_path / "hsi.tif", lidar=[tmp_path / "lidar.tif"], out=tmp_path / "s")
    with rasterio.open(tmp_path / "s" / "mask.tif") as src:
        mask = src.read(1)
    with rasterio.open(tmp_path / "s" / "stack.tif") as src:
        lidar = src.read(2)
    assert mask[:, : W // 2].all() and not mask[:, W // 2 :].any()
    assert np.all(lidar[:, : W // 2] == 5.0)  # a zero fill would have been taken for data


def test_same_grid_is_read_directly(tmp_path):
    _write(tmp_path / "a.tif", np.zeros((1, H, W), np.float32), "EPSG:32632", HSI_TRANSFORM)
    source = open_raster(tmp_path / "a.tif", "lidar")
    try:
        assert same_grid(source.grid, source.grid)
        assert align(source, source.grid).direct
        moved = Grid(W, H, source.grid.crs, HSI_TRANSFORM @ Affine.translation(1, 0))
        assert not align(source, moved).direct
    finally:
        source.close()


def test_source_without_crs_against_georeferenced_grid_fails(tmp_path):
    with rasterio.open(
        tmp_path / "p.tif", "w", driver="GTiff", width=W, height=H, count=1, dtype="float32"
    ) as dst:
        dst.write(np.zeros((1, H, W), np.float32))
    source = open_raster(tmp_path / "p.tif", "lidar")
    try:
        with pytest.raises(DataError, match=r"has a CRS but p\.tif has none"):
            align(source, Grid(W, H, rasterio.crs.CRS.from_epsg(32632), HSI_TRANSFORM))
    finally:
        source.close()


def test_resampling_names():
    assert parse_resampling("Bilinear") is Resampling.bilinear
    with pytest.raises(CfiptUsageError, match="cubic"):
        parse_resampling("smooth")
