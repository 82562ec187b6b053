"""Data: genome and peak files in, labelled windows, splits, negatives and encoded npz out."""
