"""QGIS styles (`.qml`) that cfipt writes beside its outputs, so that they open readable in QGIS.

QGIS opens a layer with its default style: a style stored in the data source (a GeoPackage's
`layer_styles` table) if any, else the `.qml` file beside the file with the file's base name
(`QgsMapLayer::styleURI`: the path without its last suffix, plus `.qml`; `style_path`). For the OGR
provider the base name is that of the file path of the layer's URI (`|layername=...` dropped), so
`samples.qml` is the default style of `samples.gpkg` as of a GeoJSON or FlatGeobuf file.

- `raster_qml`: a class raster (map, regularised map, label raster) as a paletted renderer listing
  exactly the classes of its table, by value, colour and name. The GeoTIFF colour table always has 256
  entries, which QGIS would otherwise list as 256 legend entries; values outside the table (0, nodata)
  are not drawn. Written with the raster's other sidecars by `mapio.write_class_sidecars`.
- `points_qml`: points coloured by a class-name field in the class colours (a white ring inside a dark
  one, so that a point stays visible over a map of the same colour), and an editable field with a
  drop-down of the class names, so that labelling a point is a pick from a list (`cfipt sample`,
  `cfipt suggest`).

Each document opens with a mark comment (`SAMPLE_STYLE_MARK`, `CLASS_STYLE_MARK`), by which
`--overwrite` knows it (`cfipt_cli.io.output_kinds`).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from cfipt_cli.io.classes import ClassTable, colour_hex

# The comments that open the styles cfipt writes, by which `--overwrite` knows them (`io.output_kinds`).
SAMPLE_STYLE_MARK = "<!-- QGIS style of a cfipt sample -->"
CLASS_STYLE_MARK = "<!-- QGIS style of a cfipt class raster -->"
SUGGESTIONS_STYLE_MARK = "<!-- QGIS style of cfipt suggestions -->"
DOCTYPE = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>"
# Each point is drawn in the class colour of its pixel, so the fill alone would vanish into the map
# beneath it: a white ring inside a dark one sets it off over any class colour (checked in QGIS 3.22).
RING = {"color": "255,255,255,255", "outline_color": "20,20,20,255", "outline_width": "0.3", "size": "4.4"}
FILL_SIZE = "2.8"


def style_path(path: str | Path) -> Path:
    """The `.qml` QGIS loads as the default style of `path`: `<path without its suffix>.qml`."""
    return Path(path).with_suffix(".qml")


def _document(mark: str, root: ET.Element) -> str:
    ET.indent(root)
    return f"{mark}\n{DOCTYPE}\n{ET.tostring(root, encoding='unicode')}\n"


def raster_qml(classes: ClassTable, band: int = 1) -> str:
    """The QML of a paletted renderer on `band` listing exactly `classes` (value, colour, name)."""
    root = ET.Element("qgis", version="3.22.0", styleCategories="Symbology")
    pipe = ET.SubElement(root, "pipe")
    renderer = ET.SubElement(
        pipe,
        "rasterrenderer",
        type="paletted",
        band=str(band),
        opacity="1",
        alphaBand="-1",
        nodataColor="",
    )
    ET.SubElement(renderer, "rasterTransparency")
    palette = ET.SubElement(renderer, "colorPalette")
    for info in classes:
        ET.SubElement(
            palette,
            "paletteEntry",
            value=str(info.id),
            color=colour_hex(info.colour),
            alpha="255",
            label=info.name,
        )
    ET.SubElement(pipe, "brightnesscontrast", brightness="0", contrast="0", gamma="1")
    ET.SubElement(pipe, "huesaturation", saturation="0", grayscaleMode="0", colorizeOn="0")
    ET.SubElement(pipe, "rasterresampler", maxOversampling="2")  # nearest: class ids are never blended
    ET.SubElement(root, "blendMode").text = "0"
    return _document(CLASS_STYLE_MARK, root)


def write_raster_style(raster_path: str | Path, classes: ClassTable) -> Path:
    """Write `raster_qml` as the default style of `raster_path` (`style_path`); returns its path."""
    out = style_path(raster_path)
    out.write_text(raster_qml(classes), encoding="utf-8")
    return out


def _option(parent: ET.Element, name: str, value: str) -> None:
    ET.SubElement(parent, "Option", name=name, type="QString", value=value)


def _simple_marker(symbol: ET.Element, props: dict[str, str]) -> None:
    layer = ET.SubElement(symbol, "layer", {"class": "SimpleMarker", "enabled": "1", "locked": "0"})
    options = ET.SubElement(layer, "Option", type="Map")
    for name, value in {"name": "circle", **props}.items():
        _option(options, name, value)
        ET.SubElement(layer, "prop", k=name, v=value)  # what QGIS before 3.26 reads


def _marker(symbols: ET.Element, key: str, rgb: tuple[int, int, int]) -> None:
    symbol = ET.SubElement(
        symbols, "symbol", type="marker", name=key, alpha="1", clip_to_extent="1", force_rhr="0"
    )
    _simple_marker(symbol, RING)  # the first layer is drawn first: the ring lies under the fill
    fill = f"{rgb[0]},{rgb[1]},{rgb[2]},255"
    _simple_marker(symbol, {"color": fill, "outline_style": "no", "outline_color": fill, "size": FILL_SIZE})


def _value_map_editor(root: ET.Element, field_name: str, classes: ClassTable) -> None:
    fields = ET.SubElement(root, "fieldConfiguration")
    field = ET.SubElement(fields, "field", name=field_name)
    widget = ET.SubElement(field, "editWidget", type="ValueMap")
    config = ET.SubElement(ET.SubElement(widget, "config"), "Option", type="Map")
    choices = ET.SubElement(config, "Option", name="map", type="List")
    for info in classes:
        _option(ET.SubElement(choices, "Option", type="Map"), info.name, info.name)


def points_qml(classes: ClassTable, class_field: str, edit_field: str, mark: str) -> str:
    """The QML of a points layer: a categorized renderer on `class_field` (values: class names) in the
    class colours, and a drop-down of the class names on `edit_field`; `mark` is its first line."""
    root = ET.Element("qgis", version="3.28.0", styleCategories="Symbology|Fields|Forms")
    renderer = ET.SubElement(
        root,
        "renderer-v2",
        type="categorizedSymbol",
        attr=class_field,
        symbollevels="0",
        enableorderby="0",
        forceraster="0",
    )
    categories = ET.SubElement(renderer, "categories")
    symbols = ET.SubElement(renderer, "symbols")
    for key, info in enumerate(classes):
        ET.SubElement(
            categories, "category", symbol=str(key), value=info.name, label=info.name, render="true"
        )
        _marker(symbols, str(key), info.colour)
    _value_map_editor(root, edit_field, classes)
    return _document(mark, root)
