"""The QGIS style of a sample's points: one colour per map class, and `reference` picked from a list.

QGIS opens a layer with its default style: a style stored in the data source (a GeoPackage's
`layer_styles` table) if any, else the `.qml` file beside the file with the file's base name. For the
OGR provider the base name is that of the file path of the layer's URI (`QgsMapLayer::baseURI` drops
`|layername=...`), so `samples.qml` is the default style of `samples.gpkg` as of a GeoJSON or
FlatGeobuf file: one sidecar serves every format, and the GeoPackage keeps a single layer (readers
that take "the first layer", as `cfipt evaluate` does, see no other). The style holds a categorized
renderer on `map_class` in the map's class colours, and a value-map editor on `reference` listing the
class names, so that labelling a point is a pick from a list.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from cfipt_cli.io.classes import ClassTable
from cfipt_cli.io.output_kinds import SAMPLE_STYLE_MARK

# Each point is drawn in the class colour of its pixel, so the fill alone would vanish into the map
# beneath it: a white ring inside a dark one sets it off over any class colour (checked in QGIS 3.22).
RING = {"color": "255,255,255,255", "outline_color": "20,20,20,255", "outline_width": "0.3", "size": "4.4"}
FILL_SIZE = "2.8"


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


def _reference_editor(root: ET.Element, classes: ClassTable) -> None:
    fields = ET.SubElement(root, "fieldConfiguration")
    field = ET.SubElement(fields, "field", name="reference")
    widget = ET.SubElement(field, "editWidget", type="ValueMap")
    config = ET.SubElement(ET.SubElement(widget, "config"), "Option", type="Map")
    choices = ET.SubElement(config, "Option", name="map", type="List")
    for info in classes:
        _option(ET.SubElement(choices, "Option", type="Map"), info.name, info.name)


def qml_style(classes: ClassTable) -> str:
    """The QML document (see the module docstring); its first line marks it as cfipt's."""
    root = ET.Element("qgis", version="3.28.0", styleCategories="Symbology|Fields|Forms")
    renderer = ET.SubElement(
        root,
        "renderer-v2",
        type="categorizedSymbol",
        attr="map_class",
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
    _reference_editor(root, classes)
    ET.indent(root)
    doctype = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>"
    return f"{SAMPLE_STYLE_MARK}\n{doctype}\n{ET.tostring(root, encoding='unicode')}\n"
