"""Bad input to `cfipt regularize`: one line, exit 2 for usage and 1 for data, and nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
from regularize_builders import noisy_map, write_map

from cfipt_cli.io.qgis_styles import raster_qml
from cfipt_cli.regularize import pipeline


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--radius", "0"], "--radius 0: give a radius of at least 1"),
        (["--radius", "-2"], "--radius -2"),
        ([], "give --radius R"),
        (["--sieve", "1"], "--sieve 1"),
        (["--sieve", "4", "--connectivity", "6"], "--connectivity 6: give 4 or 8"),
        (["--radius", "1", "--co", "COMPRESS=NOPE"], "COMPRESS"),
    ],
)
def test_bad_options_are_usage_errors_and_write_nothing(
    tmp_path: Path, regularize_cli, args, message
) -> None:
    write_map(tmp_path / "map.tif", noisy_map())
    code, _, err = regularize_cli(tmp_path / "map.tif", "--out", tmp_path / "clean.tif", *args)
    assert code == 2 and message in _one_line(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.tif", "map.tif.aux.xml"]


def test_a_map_without_a_class_table_is_one_line_exit_1(tmp_path: Path, regularize_cli) -> None:
    write_map(tmp_path / "map.tif", noisy_map(), classes=None)  # no CategoryNames
    code, _, err = regularize_cli(tmp_path / "map.tif", "--out", tmp_path / "clean.tif", "--radius", "1")
    assert code == 1 and "has no class table" in _one_line(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.tif"]


def test_a_missing_map_is_one_line_exit_1(tmp_path: Path, regularize_cli) -> None:
    code, _, err = regularize_cli(tmp_path / "nope.tif", "--out", tmp_path / "clean.tif", "--radius", "1")
    assert code == 1 and "does not exist" in _one_line(err)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("out", ["map.tif", "map.tiff"])  # the map itself, or a name whose style is the map's
def test_an_output_over_the_input_is_refused(tmp_path: Path, regularize_cli, out: str) -> None:
    write_map(tmp_path / "map.tif", noisy_map())
    (tmp_path / "map.qml").write_text(raster_qml(pipeline.open_map(tmp_path / "map.tif").classes))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    code, _, err = regularize_cli(
        tmp_path / "map.tif", "--out", tmp_path / out, "--radius", "1", "--overwrite"
    )
    assert code == 2 and "would replace the input" in _one_line(err)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_a_foreign_style_beside_the_output_is_refused_even_with_overwrite(
    tmp_path: Path, regularize_cli
) -> None:
    write_map(tmp_path / "map.tif", noisy_map())
    (tmp_path / "clean.qml").write_text("<qgis>mine</qgis>\n")
    args = [tmp_path / "map.tif", "--out", tmp_path / "clean.tif", "--radius", "1"]
    code, _, err = regularize_cli(*args, "--overwrite")
    assert code == 1 and "clean.qml is not a QGIS style of a cfipt class raster" in _one_line(err)
    assert not (tmp_path / "clean.tif").exists()
    (tmp_path / "clean.qml").unlink()
    assert regularize_cli(*args)[0] == 0
    assert regularize_cli(*args)[0] == 1  # exists: --overwrite needed
    assert regularize_cli(*args, "--overwrite")[0] == 0  # its own map and style: replaced


def test_a_failure_while_writing_leaves_nothing(tmp_path: Path, monkeypatch) -> None:
    write_map(tmp_path / "map.tif", noisy_map())

    def disk_full(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pipeline.mapio, "finish_class_map", disk_full)
    request = pipeline.RegularizeRequest(tmp_path / "map.tif", tmp_path / "clean.tif", radius=1, sieve=4)
    with pytest.raises(OSError, match="No space"):
        pipeline.run_regularize(request)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.tif", "map.tif.aux.xml"]


def test_ids_beyond_the_class_table_are_one_line_exit_1(tmp_path: Path, regularize_cli) -> None:
    ids = noisy_map()
    ids[5, 5] = 200
    write_map(tmp_path / "map.tif", ids)
    code, _, err = regularize_cli(tmp_path / "map.tif", "--out", tmp_path / "clean.tif", "--sieve", "3")
    assert code == 1 and "class id 200, beyond its class table" in _one_line(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.tif", "map.tif.aux.xml"]
