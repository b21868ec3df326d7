"""The model: desired state (desired), observed state (observed), actions, reasons, paths, presets."""
