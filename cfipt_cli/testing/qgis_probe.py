"""What a real QGIS shows for a raster opened with its default style, for tests and checks by hand.

QGIS is not a dependency of cfipt: the probe runs a small script in the system Python that has QGIS
(`SYSTEM_PYTHON`, headless with `QT_QPA_PLATFORM=offscreen`); `has_qgis()` says whether there is one.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
from pathlib import Path
from typing import Any

SYSTEM_PYTHON = "/usr/bin/python3"
PROBE = """
import json, os, sys
from qgis.core import QgsApplication, QgsRasterLayer
app = QgsApplication([], False)
app.initQgis()
layer = QgsRasterLayer(sys.argv[1], "map")
renderer = layer.renderer()
print(json.dumps({
    "valid": layer.isValid(),
    "type": renderer.type(),
    "legend": [[label, colour.name()] for label, colour in renderer.legendSymbologyItems()],
}), flush=True)
os._exit(0)  # QGIS 3.22 may crash in its exit handlers; the answer is out
"""


POINTS_PROBE = """
import json, os, sys
from qgis.core import QgsApplication, QgsVectorLayer
app = QgsApplication([], False)
app.initQgis()
layer = QgsVectorLayer(sys.argv[1], "points", "ogr")
renderer = layer.renderer()
field = layer.fields().indexOf(sys.argv[2])
widget = layer.editorWidgetSetup(field)
choices = [list(item.keys())[0] for item in widget.config().get("map", [])]
print(json.dumps({
    "valid": layer.isValid(),
    "features": layer.featureCount(),
    "type": renderer.type(),
    "attribute": renderer.classAttribute() if renderer.type() == "categorizedSymbol" else None,
    "categories": [
        [c.value(), c.label(), c.symbol().symbolLayer(c.symbol().symbolLayerCount() - 1).color().name()]
        for c in renderer.categories()
    ]
    if renderer.type() == "categorizedSymbol" else [],
    "editor": widget.type(),
    "choices": choices,
}), flush=True)
os._exit(0)
"""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["QT_QPA_PLATFORM"] = "offscreen"
    return env


@functools.cache
def has_qgis() -> bool:
    """Whether `SYSTEM_PYTHON` can import qgis.core (CI has no QGIS)."""
    if not Path(SYSTEM_PYTHON).exists():
        return False
    done = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import qgis.core"], capture_output=True, env=_env(), timeout=120
    )
    return done.returncode == 0


def _probe(script: str, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [SYSTEM_PYTHON, "-c", script, *args], capture_output=True, text=True, env=_env(), timeout=300
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"QGIS did not open {args[0]}: {done.stderr.strip()[-500:]}")
    shown: dict[str, Any] = json.loads(lines[-1])
    return shown


def qgis_legend(raster: Path) -> dict[str, Any]:
    """{"valid", "type" (the renderer's), "legend": [[label, "#rrggbb"], ...]} as QGIS shows `raster`."""
    return _probe(PROBE, str(raster))


def qgis_points(layer: Path, edit_field: str) -> dict[str, Any]:
    """How QGIS opens a points layer with its default style: {"valid", "features", "type" (renderer),
    "attribute" (of a categorized renderer), "categories": [[value, label, "#rrggbb" of the symbol's
    top layer (the fill drawn over the ring)], ...], "editor"
    (the widget type of `edit_field`), "choices" (its value map's entries)}."""
    return _probe(POINTS_PROBE, str(layer), edit_field)
