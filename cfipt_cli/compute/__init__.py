"""Shared torch-side mechanisms of train and predict: devices and precision defaults, patch cutting."""
