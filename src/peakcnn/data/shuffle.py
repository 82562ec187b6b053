"""Dinucleotide shuffles of one-hot windows that keep unknown (N) columns in place."""

from __future__ import annotations

import numpy as np
import torch
from tangermeme.ersatz import dinucleotide_shuffle


def shuffle_window(x: np.ndarray, n_shuffles: int, seed: int) -> tuple[np.ndarray, bool]:
    """Dinucleotide-shuffle the ACGT positions of one window, keeping N columns in place.

    Parameters
    ----------
    x : numpy.ndarray
        One window, uint8 (4, L); an all-zero column is an unknown base.
    n_shuffles : int
        Number of shuffles to make.
    seed : int
        Seed of ``tangermeme.ersatz.dinucleotide_shuffle``.

    Returns
    -------
    shuffles : numpy.ndarray
        uint8 (n_shuffles, 4, L).
    shuffled : bool
        False if the window has fewer than 3 known bases or tangermeme finds all its shuffles
        identical (no other dinucleotide order, e.g. one repeated base); the shuffles are
        then copies of the window.
    """
    known = x.any(axis=0)
    shuffles = np.repeat(x[None], n_shuffles, axis=0)
    if known.sum() < 3:
        return shuffles, False
    bases = torch.from_numpy(x[:, known][None].astype(np.float32))
    try:
        result = dinucleotide_shuffle(bases, n=n_shuffles, random_state=int(seed))
    except ValueError as error:
        if "identical" not in str(error):
            raise
        return shuffles, False
    shuffles[:, :, known] = result[0].numpy().astype(np.uint8)
    return shuffles, True
