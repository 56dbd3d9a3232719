"""cfipt: land-cover maps from hyperspectral + LiDAR/SAR imagery with CF-IPT prompt tuning of CLIP.

One subpackage per pipeline stage (`prepare`, `train`, `predict`, `evaluate`), above the folder
contracts they exchange (`contracts`) and the shared mechanisms (`io`, `compute`, `errors`, `log`);
`cli` is the thin Typer layer on top. docs/architecture.md draws the map.
"""

__version__ = "0.1.0"
