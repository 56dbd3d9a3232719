"""The `sample` stage: a stratified random validation sample drawn from a classification map.

`request` holds what the user asks (`SampleRequest`), `size` the sample size formula and the
allocations, `frame` the two passes over the map (the sampling frame's pixel counts, then the drawn
pixels' positions), `pipeline` the run under the output policy (points, design, and their QGIS style
from `cfipt_cli.io.qgis_styles`).
"""
