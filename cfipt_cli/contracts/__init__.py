"""The folder contracts between stages: the scene folder (prepare -> train, predict, evaluate) and the
model folder (train -> predict), each written and read in one module."""
