"""Class tables: JSON round trip, colour maps and GDAL CategoryNames sidecars."""

from __future__ import annotations

import pytest

from cfipt_cli.errors import DataError
from cfipt_cli.io.classes import (
    ClassInfo,
    ClassTable,
    colour_hex,
    default_colour,
    load_class_table,
    parse_colour,
)


def test_json_round_trip_and_lookup():
    table = ClassTable.from_names(["Trees", "Water", "Road"])
    assert table.ids == [1, 2, 3]
    again = ClassTable.from_json(table.to_json())
    assert again == table
    assert again.id_of("Water") == 2 and again.name_of(3) == "Road"


def test_default_colours_distinct_for_many_classes():
    colours = {default_colour(i) for i in range(1, 21)}
    assert len(colours) == 20


def test_colour_parsing():
    assert parse_colour("#ff8000") == (255, 128, 0)
    assert parse_colour([1, 2, 3, 4]) == (1, 2, 3)
    assert colour_hex((255, 128, 0)) == "#ff8000"
    with pytest.raises(DataError):
        parse_colour("#ff80")


@pytest.mark.parametrize(
    "classes",
    [
        [ClassInfo(0, "a", (0, 0, 0))],
        [ClassInfo(1, "a", (0, 0, 0)), ClassInfo(1, "b", (0, 0, 0))],
        [ClassInfo(1, "a", (0, 0, 0)), ClassInfo(2, "a", (0, 0, 0))],
    ],
)
def test_invalid_tables_rejected(classes):
    with pytest.raises(DataError):
        ClassTable(classes)


def test_colormap_and_category_names_with_gaps():
    table = ClassTable.from_ids([2, 5], names={2: "Soil", 5: "Water"})
    cmap = table.colormap()
    assert cmap[0] == (0, 0, 0, 0) and cmap[5][3] == 255 and set(cmap) == {0, 2, 5}
    assert table.category_names() == ["", "", "Soil", "", "", "Water"]


def test_aux_xml_round_trip(tmp_path):
    raster = tmp_path / "map.tif"
    table = ClassTable.from_ids([1, 3], names={1: "Trees", 3: "Roads & paths"})
    side = table.write_aux_xml(raster)
    assert side.name == "map.tif.aux.xml"
    back = ClassTable.from_aux_xml(raster)
    assert back is not None
    assert back.ids == [1, 3] and back.names == ["Trees", "Roads & paths"]
    assert ClassTable.from_aux_xml(tmp_path / "other.tif") is None


def test_corrupt_aux_xml_is_a_data_error(tmp_path):
    (tmp_path / "m.tif.aux.xml").write_text("<PAMDataset><oops")
    with pytest.raises(DataError):
        ClassTable.from_aux_xml(tmp_path / "m.tif")


def test_a_binary_file_is_no_class_table(tmp_path):
    binary = tmp_path / "map.tif"
    binary.write_bytes(b"II*\x00\x83\xff\xfe")
    with pytest.raises(DataError, match="is not readable JSON"):
        load_class_table(binary)
