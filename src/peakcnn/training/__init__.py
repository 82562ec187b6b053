"""Training: fitting a model on the train split, choosing the epoch on validation."""
