"""MATLAB v5 and v7.3 (HDF5) inputs: key discovery, axis order, windowed reads."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import scipy.io

from cfipt_cli.errors import DataError
from cfipt_cli.io.matfiles import open_mat


def write_v73(path, arrays):
    """A MATLAB v7.3 file: HDF5 with a 512-byte text header, arrays stored column-major (axes reversed)."""
    with h5py.File(path, "w", userblock_size=512) as h5:
        for key, value in arrays.items():
            h5.create_dataset(key, data=np.asarray(value).T)
    with open(path, "r+b") as fh:
        fh.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: test HDF5 schema 1.00 .")


def test_v5_trento_dsm(shared):
    path = shared("trento", "LiDAR.mat")
    mat = open_mat(path)
    expected = scipy.io.loadmat(path)["LiDAR"]
    assert mat.key == "LiDAR" and mat.shape == (1, 166, 600) and not mat.lazy
    np.testing.assert_array_equal(mat.read(10, 20, 5, 7)[0], expected[10:15, 20:27])


def test_v5_cube_is_band_first(tmp_path):
    cube = np.arange(4 * 5 * 3, dtype=np.float32).reshape(4, 5, 3)  # MATLAB (rows, cols, bands)
    scipy.io.savemat(tmp_path / "HSI_data.mat", {"HSI_data": cube, "wavelengths": np.arange(3.0)})
    mat = open_mat(tmp_path / "HSI_data.mat")
    assert mat.shape == (3, 4, 5)
    np.testing.assert_array_equal(mat.read(0, 0, 4, 5), cube.transpose(2, 0, 1))


@pytest.mark.parametrize("shape", [(6, 9), (6, 9, 4)])
def test_v73_is_transposed_back_and_read_lazily(tmp_path, shape):
    data = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    write_v73(tmp_path / "x.mat", {"x": data})
    mat = open_mat(tmp_path / "x.mat")
    try:
        assert mat.lazy and mat.shape == ((shape[2] if len(shape) == 3 else 1), 6, 9)
        band_first = data[None] if data.ndim == 2 else data.transpose(2, 0, 1)
        np.testing.assert_array_equal(mat.read(1, 2, 3, 4), band_first[:, 1:4, 2:6])
    finally:
        mat.close()


def test_muufl_sub_image_picks_the_single_cube(shared):
    mat = open_mat(shared("muufl_casi", "an_hsi_image_sub_for_demo.mat"))
    assert mat.key == "hsi_img_sub" and mat.shape == (72, 51, 88)


def test_ambiguous_keys_are_listed_and_mat_key_chooses(tmp_path):
    scipy.io.savemat(tmp_path / "data.mat", {"a": np.zeros((4, 5)), "b": np.ones((4, 5))})
    with pytest.raises(DataError, match=r"a \(4, 5\), b \(4, 5\).*--mat-key"):
        open_mat(tmp_path / "data.mat")
    assert open_mat(tmp_path / "data.mat", ["zzz", "b"]).key == "b"


def test_key_named_like_the_file_wins(tmp_path):
    scipy.io.savemat(tmp_path / "Trento_gt.mat", {"Trento_gt": np.zeros((4, 5)), "other": np.ones((4, 5))})
    assert open_mat(tmp_path / "Trento_gt.mat").key == "Trento_gt"


def test_file_without_an_image(tmp_path):
    scipy.io.savemat(tmp_path / "v.mat", {"v": np.arange(5.0)})
    with pytest.raises(DataError, match="no 2-D or 3-D"):
        open_mat(tmp_path / "v.mat")
