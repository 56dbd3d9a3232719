"""MATLAB .mat files of the multimodal benchmarks (Houston 2013, MUUFL, Trento, Augsburg).

Two formats: MATLAB v5 (read whole with scipy.io.loadmat) and v7.3 (HDF5, read lazily with h5py; MATLAB
stores arrays column-major, so h5py sees the axes reversed and we transpose them back). Arrays are
(rows, cols) or (rows, cols, bands) in MATLAB order and come back band-first, (bands, rows, cols).

.mat files carry no georeference: their pixels form a plain grid (identity transform, no CRS), and
every source of such a scene must have the same number of rows and columns.

Key discovery: the variables that can be an image (2-D or 3-D numeric arrays, both spatial sides > 1)
are the candidates. One candidate is taken; among several, a requested key (`--mat-key`) wins, then the
one named like the file (`LiDAR.mat` -> `LiDAR`), then for an image with bands the single 3-D one;
otherwise the error lists the keys.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cfipt_cli.errors import DataError, InputNotFoundError

# What scipy raises on truncated or foreign files (it has no single exception for "not a MAT-file"),
# besides its own MatReadError (`_read_errors`).
_OTHER_READ_ERRORS = (ValueError, TypeError, OSError, IndexError, EOFError, struct.error, NotImplementedError)


def _read_errors() -> tuple[type[BaseException], ...]:
    """scipy is imported only when a .mat file is read: `cfipt predict` (which imports the raster
    readers) must run where scipy is not installed, as on the GPU machines of our benchmarks."""
    from scipy.io.matlab import MatReadError

    return (MatReadError, *_OTHER_READ_ERRORS)


_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_V73_HEADER_OFFSET = 512  # MATLAB v7.3 files carry a 512-byte text header before the HDF5 superblock


@dataclass
class MatArray:
    """One image variable of a .mat file: band-first (bands, rows, cols), possibly lazy (HDF5).

    `data` is a numpy array (v5) or an h5py dataset in HDF5 axis order (bands, cols, rows) for v7.3.
    """

    path: Path
    key: str
    data: Any
    lazy: bool
    shape: tuple[int, int, int]
    dtype: np.dtype

    def read(self, row_off: int, col_off: int, height: int, width: int) -> np.ndarray:
        """Rows [row_off, row_off + height) and columns [col_off, col_off + width) of every band."""
        if self.lazy:
            block = self.data[..., col_off : col_off + width, row_off : row_off + height]
            block = np.asarray(block)
            block = block[None, :, :] if block.ndim == 2 else block
            return np.ascontiguousarray(block.swapaxes(-1, -2))
        return np.asarray(self.data[:, row_off : row_off + height, col_off : col_off + width])

    def close(self) -> None:
        """Close the HDF5 file behind a lazy array (no-op for v5)."""
        if self.lazy:
            self.data.file.close()


def is_mat(path: str | Path) -> bool:
    """True for a path ending in .mat (case-insensitive)."""
    return Path(path).suffix.lower() == ".mat"


def is_v73(path: Path) -> bool:
    """True when the file is a MATLAB v7.3 (HDF5) file."""
    with path.open("rb") as fh:
        head = fh.read(_V73_HEADER_OFFSET + len(_HDF5_SIGNATURE))
    return head.startswith(_HDF5_SIGNATURE) or head[_V73_HEADER_OFFSET:].startswith(_HDF5_SIGNATURE)


def _is_image_like(shape: Sequence[int], dtype: np.dtype) -> bool:
    numeric = np.issubdtype(dtype, np.number) or np.issubdtype(dtype, np.bool_)
    return numeric and len(shape) in (2, 3) and shape[0] > 1 and shape[1] > 1


def choose_key(path: Path, shapes: dict[str, tuple[int, ...]], wanted: Sequence[str] = ()) -> str:
    """Pick the image variable of a .mat file (see the module docstring for the rule).

    Args:
        path: the file (its stem names the preferred key).
        shapes: candidate variables and their MATLAB-order shapes.
        wanted: keys asked for with `--mat-key`; the first one present in the file wins.
    """
    for key in wanted:
        if key in shapes:
            return key
    if len(shapes) == 1:
        return next(iter(shapes))
    listing = ", ".join(f"{k} {tuple(s)}" for k, s in shapes.items()) or "none"
    if not shapes:
        raise DataError(f"{path} holds no 2-D or 3-D numeric array (variables: {listing})")
    by_stem = [k for k in shapes if k.lower() == path.stem.lower()]
    if len(by_stem) == 1:
        return by_stem[0]
    cubes = [k for k, s in shapes.items() if len(s) == 3]
    if len(cubes) == 1:
        return cubes[0]
    raise DataError(f"{path} holds several image arrays ({listing}); choose one with --mat-key")


def _band_first(array: np.ndarray) -> np.ndarray:
    return array[None, :, :] if array.ndim == 2 else np.moveaxis(array, 2, 0)


def _open_v5(path: Path, wanted: Sequence[str]) -> MatArray:
    import scipy.io

    try:
        variables = scipy.io.whosmat(str(path))
    except _read_errors() as exc:
        raise DataError(f"cannot read {path} as a MATLAB file: {exc}") from exc
    shapes = {name: tuple(shape) for name, shape, _cls in variables if len(shape) in (2, 3)}
    try:
        contents = scipy.io.loadmat(str(path), variable_names=list(shapes))
    except _read_errors() as exc:
        raise DataError(f"cannot read {path} as a MATLAB file: {exc}") from exc
    arrays = {k: v for k, v in contents.items() if not k.startswith("__") and isinstance(v, np.ndarray)}
    shapes = {k: v.shape for k, v in arrays.items() if _is_image_like(v.shape, v.dtype)}
    key = choose_key(path, shapes, wanted)
    data = _band_first(arrays[key])
    return MatArray(path, key, data, False, (data.shape[0], data.shape[1], data.shape[2]), data.dtype)


def _open_v73(path: Path, wanted: Sequence[str]) -> MatArray:
    import h5py

    try:
        h5 = h5py.File(path, "r")
    except OSError as exc:
        raise DataError(f"cannot read {path} as a MATLAB v7.3 (HDF5) file: {exc}") from exc
    # h5py shapes are the MATLAB shapes reversed: (rows, cols[, bands]) is stored as ([bands,] cols, rows).
    shapes = {
        k: tuple(reversed(ds.shape))
        for k, ds in h5.items()
        if isinstance(ds, h5py.Dataset) and not k.startswith("#") and _is_image_like(ds.shape[::-1], ds.dtype)
    }
    try:
        key = choose_key(path, shapes, wanted)
    except DataError:
        h5.close()
        raise
    rows, cols = shapes[key][0], shapes[key][1]
    bands = shapes[key][2] if len(shapes[key]) == 3 else 1
    return MatArray(path, key, h5[key], True, (bands, rows, cols), np.dtype(h5[key].dtype))


def variable_names(path: Path) -> list[str]:
    """The variable names of a MATLAB v5 or v7.3 file (for messages)."""
    if is_v73(path):
        import h5py

        with h5py.File(path, "r") as h5:
            return [k for k in h5 if not k.startswith("#")]
    import scipy.io

    return [name for name, _shape, _cls in scipy.io.whosmat(str(path))]


def open_mat(path: str | Path, wanted: Sequence[str] = ()) -> MatArray:
    """Open the image variable of a MATLAB v5 or v7.3 file, band-first.

    Args:
        path: the .mat file.
        wanted: keys given with `--mat-key`; the first present in the file is used.

    Raises:
        InputNotFoundError: the file does not exist.
        DataError: unreadable file, no image variable, or an ambiguous choice.
    """
    mat_path = Path(path)
    if not mat_path.is_file():
        raise InputNotFoundError(f"{mat_path} does not exist")
    try:
        v73 = is_v73(mat_path)
    except OSError as exc:
        raise DataError(f"cannot read {mat_path}: {exc}") from exc
    return _open_v73(mat_path, wanted) if v73 else _open_v5(mat_path, wanted)
