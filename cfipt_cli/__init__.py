"""cfipt: land-cover maps from hyperspectral + LiDAR/SAR imagery with CF-IPT prompt tuning of CLIP.

The library that does the work lives in this package's plain modules; `cfipt_cli.app` and
`cfipt_cli.commands` are the thin Typer layer over it.
"""

__version__ = "0.1.0"
