"""`cfipt suggest`, a composition of stages: predict's block stream (or an earlier predict's rasters)
feeding a selection of the pixels to label next.

`request` (`SuggestRequest`), `eligible` (the pixels that may be suggested), `sources` (each block's
classes and uncertainty), `candidates` (a bounded pool, one per class and cell), `selection` (shares,
spacing, order), `writing` (points, record, QGIS style); `pipeline.run_suggest` runs them.
"""
