"""Models: the networks, the k-mer baseline, checkpoints, inference and calibration."""
