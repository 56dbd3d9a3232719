"""Patch extraction: halo reads + symmetric padding equal padding the whole scene."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from cfipt_cli.compute.patches import (
    extract_patches,
    gather_patches,
    normalise,
    read_block_with_halo,
    read_pixel_patches,
    split_sources,
)


@pytest.fixture
def stack_path(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.normal(size=(3, 13, 17)).astype(np.float32)
    path = tmp_path / "stack.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=17,
        height=13,
        count=3,
        dtype="float32",
        crs="EPSG:32633",
        transform=from_origin(500000, 4000000, 2, 2),
    ) as dst:
        dst.write(data)
    return path, data


@pytest.mark.parametrize("block", [(0, 0, 5, 5), (8, 12, 5, 5), (3, 4, 7, 9), (0, 0, 13, 17), (12, 16, 1, 1)])
def test_block_halo_equals_whole_scene_padding(stack_path, block):
    path, data = stack_path
    halo = 3
    full = np.pad(data, ((0, 0), (halo, halo), (halo, halo)), mode="symmetric")
    r, c, h, w = block
    with rasterio.open(path) as src:
        got = read_block_with_halo(src, r, c, h, w, halo)
    np.testing.assert_array_equal(got, full[:, r : r + h + 2 * halo, c : c + w + 2 * halo])


def test_extract_patches_centres_on_pixels(stack_path):
    _, data = stack_path
    p, r = 5, 2
    padded = np.pad(data, ((0, 0), (r, r), (r, r)), mode="symmetric")
    rows, cols = np.array([0, 6, 12]), np.array([0, 9, 16])
    patches = extract_patches(padded, rows, cols, p)
    assert patches.shape == (3, 3, p, p)
    for k in range(3):
        np.testing.assert_array_equal(patches[k, :, r, r], data[:, rows[k], cols[k]])
        np.testing.assert_array_equal(patches[k], padded[:, rows[k] : rows[k] + p, cols[k] : cols[k] + p])


def test_normalise_handles_nan_and_zero_std():
    block = np.array([[[1.0, np.nan]], [[5.0, 5.0]]], dtype=np.float32)
    out = normalise(block, np.array([0.0, 5.0]), np.array([2.0, 0.0]))
    np.testing.assert_allclose(out, [[[0.5, 0.0]], [[0.0, 0.0]]])
    assert out.dtype == np.float32


def test_read_pixel_patches_matches_block_patches(stack_path):
    path, data = stack_path
    p = 7
    mean, std = data.mean(axis=(1, 2)), data.std(axis=(1, 2))
    rows, cols = np.array([0, 5, 12]), np.array([16, 3, 0])
    with rasterio.open(path) as src:
        got = read_pixel_patches(src, rows, cols, p, mean, std)
    padded = normalise(np.pad(data, ((0, 0), (3, 3), (3, 3)), mode="symmetric"), mean, std)
    np.testing.assert_allclose(got, extract_patches(padded, rows, cols, p), rtol=0, atol=1e-6)
    hsi, aux = split_sources(got, 2)
    assert hsi.shape == (3, 2, p, p) and aux.shape == (3, 1, p, p)


@pytest.mark.parametrize("patch_size", [1, 3, 11])
def test_patches_cut_on_the_device_equal_the_host_ones_exactly(patch_size):
    import torch

    rng = np.random.default_rng(patch_size)
    h, w, r = 9, 14, patch_size // 2
    padded = rng.normal(size=(5, h + 2 * r, w + 2 * r)).astype(np.float32)
    padded[1, 2, 3] = -0.0  # bit patterns survive: no arithmetic on the values
    rows, cols = np.nonzero(rng.random((h, w)) < 0.6)
    rows, cols = np.concatenate([rows, [0, h - 1]]), np.concatenate([cols, [w - 1, 0]])  # corners
    host = extract_patches(padded, rows, cols, patch_size)
    device = gather_patches(
        torch.from_numpy(padded), torch.from_numpy(rows), torch.from_numpy(cols), patch_size
    )
    assert device.is_contiguous() and tuple(device.shape) == host.shape
    assert device.numpy().tobytes() == host.tobytes()
