"""Shared file mechanisms below every stage: atomic outputs and the output policy, class tables, JSON
documents, rasters, .mat files, co-registration, GeoTIFF creation options and class-map writers."""
