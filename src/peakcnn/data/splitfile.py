"""The encoded split file (``dataset/{split}.npz``): the one contract between data and models.

Training, evaluation, attribution and applying a model read their windows through this module
only, so none of them imports the data chain (pybedtools, genome access) behind it. numpy and
pandas only.

Keys: ``x`` uint8 (N, 4, L + 2 margin) one-hot in ACGT order, ``y`` uint8 (N, T) labels,
``chrom`` (N,) str, ``start``/``end`` (N,) int64 full window coordinates (0-based, half-open;
``start`` may be negative and ``end`` past the chromosome end where the window was padded with
N), ``name`` (N,) str, ``tasks`` (T,) str and ``margin`` () int: the extra bases read on each
side of training windows for random shifts (0 for validation and test).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from peakcnn.errors import InputError
from peakcnn.io import atomic_path

#: Arrays every split file holds (``name`` and ``margin`` are newer and optional on reading).
REQUIRED_KEYS = ("x", "y", "chrom", "start", "end", "tasks")
#: One-hot channels of ``x``.
ALPHABET_SIZE = 4


def save_split(
    path: str,
    x: np.ndarray,
    y: np.ndarray,
    table: pd.DataFrame,
    tasks: list[str],
    margin: int = 0,
) -> None:
    """Write one split's npz: ``x`` (N, 4, L + 2 margin) uint8, ``y`` (N, T) and coordinates.

    ``table`` holds the windows' BED columns (``chrom``, ``start``, ``end``, ``name``,
    ``pad_left``, ``pad_right``); ``start``/``end`` are stored as the full, padded window,
    without the ``margin``.
    """
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(
            handle,
            x=x,
            y=y,
            chrom=table["chrom"].to_numpy(dtype=str),
            start=(table["start"] - table["pad_left"]).to_numpy(dtype=np.int64),
            end=(table["end"] + table["pad_right"]).to_numpy(dtype=np.int64),
            name=table["name"].to_numpy(dtype=str),
            tasks=np.array(tasks, dtype=str),
            margin=np.array(margin),
        )


def load_split(path: str) -> dict[str, np.ndarray]:
    """Read a split npz written by ``save_split`` into a dict of arrays, checking its shapes.

    Raises
    ------
    InputError
        If an array is missing or ``x`` is not (N, 4, L) beside ``y`` (N, T).
    """
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    missing = [key for key in REQUIRED_KEYS if key not in arrays]
    if missing:
        raise InputError(f"missing arrays {missing}; re-run build_dataset", path=path)
    x, y = arrays["x"], arrays["y"]
    if x.ndim != 3 or x.shape[1] != ALPHABET_SIZE or y.ndim != 2 or len(y) != len(x):
        raise InputError(
            f"x {x.shape} must be (N, 4, L) and y {y.shape} (N, T); re-run build_dataset",
            path=path,
        )
    return arrays
