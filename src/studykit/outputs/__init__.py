"""What a run leaves behind: metrics.json and its names, the settings that tell runs apart, the HParams row,
the TensorBoard logger and pictures."""
