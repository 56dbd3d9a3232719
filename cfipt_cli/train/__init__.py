"""`cfipt train`: a scene folder -> a model folder (prompt tuning of the frozen CLIP)."""
