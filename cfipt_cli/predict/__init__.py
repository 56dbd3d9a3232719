"""`cfipt predict`: a scene folder and a model folder -> a class map GeoTIFF (tiled, resumable)."""
