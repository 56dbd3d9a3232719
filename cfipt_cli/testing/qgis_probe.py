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


def qgis_legend(raster: Path) -> dict[str, Any]:
    """{"valid", "type" (the renderer's), "legend": [[label, "#rrggbb"], ...]} as QGIS shows `raster`."""
    done = subprocess.run(
        [SYSTEM_PYTHON, "-c", PROBE, str(raster)], capture_output=True, text=True, env=_env(), timeout=300
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"QGIS did not open {raster}: {done.stderr.strip()[-500:]}")
    shown: dict[str, Any] = json.loads(lines[-1])
    return shown
