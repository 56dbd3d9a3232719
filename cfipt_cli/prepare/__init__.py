"""`cfipt prepare`: rasters and labels -> a scene folder (co-registered stack, label rasters, split)."""
