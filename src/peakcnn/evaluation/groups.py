"""Test metrics per split region: per chromosome, or per block of ``group_bp``.

Every test window is assigned to the test region holding its centre (and to a sub-block of it
with ``group_bp``); a test window outside every test region is an error.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from peakcnn.errors import InputError
from peakcnn.evaluation.metrics import auprc, auroc, threshold_metrics


def read_regions(path: str) -> pd.DataFrame:
    """Read ``split/regions.bed`` (``chrom start end split``)."""
    return pd.read_csv(
        path, sep="\t", header=None, names=["chrom", "start", "end", "split"], dtype={0: str}
    )


def assign_groups(
    chrom: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    regions: pd.DataFrame,
    split: str = "test",
    group_bp: int = 0,
) -> np.ndarray:
    """Name the region (or sub-block) of ``split`` that holds each window's centre.

    Parameters
    ----------
    chrom, start, end : numpy.ndarray, shape (n,)
        Full window coordinates (``start`` may be negative for padded windows).
    regions : pandas.DataFrame
        Split regions, ``chrom start end split``.
    split : str, default "test"
    group_bp : int, default 0
        0: one group per region (per chromosome for a chromosome split). Otherwise each
        region is cut into ``max(1, round(length / group_bp))`` equal blocks.

    Returns
    -------
    numpy.ndarray of str, shape (n,)
        ``chrom`` for a whole-chromosome region, else ``chrom:start-end`` of the block.

    Raises
    ------
    InputError
        If a window's centre lies in no region of ``split`` (dataset and regions disagree).
    """
    centre = (np.asarray(start, np.int64) + np.asarray(end, np.int64)) // 2
    names = np.full(len(centre), "", dtype=object)
    mine = regions[regions["split"] == split]
    whole = ~regions.duplicated("chrom", keep=False)
    for row in mine.itertuples():
        inside = (chrom == row.chrom) & (centre >= row.start) & (centre < row.end)
        if not inside.any():
            continue
        n_blocks = max(1, round((row.end - row.start) / group_bp)) if group_bp > 0 else 1
        edges = np.linspace(row.start, row.end, n_blocks + 1).round().astype(np.int64)
        block = np.clip(np.searchsorted(edges, centre[inside], side="right") - 1, 0, n_blocks - 1)
        if n_blocks == 1 and row.start == 0 and whole[row.Index]:
            names[inside] = row.chrom
        else:
            names[inside] = [f"{row.chrom}:{edges[b]}-{edges[b + 1]}" for b in block]
    lost = int((names == "").sum())
    if lost:
        raise InputError(
            f"{lost} {split} windows have their centre outside every {split} region; the "
            "dataset and split/regions.bed disagree (re-run the split and encode stages)"
        )
    return names.astype(str)


def group_metrics(
    groups: np.ndarray, labels: np.ndarray, scores: np.ndarray, threshold: float
) -> pd.DataFrame:
    """Metrics per group (chromosome or block); ranking metrics are NaN for one-class groups.

    Parameters
    ----------
    groups : numpy.ndarray of str, shape (n,)
    labels : numpy.ndarray of {0, 1}, shape (n,)
    scores : numpy.ndarray of float, shape (n,)
    threshold : float
        The validation-chosen threshold.

    Returns
    -------
    pandas.DataFrame
        One row per group in genome order, then a row ``all``.
    """
    rows = []
    keys = list(dict.fromkeys(groups))  # first-appearance order
    for name in [*keys, "all"]:
        members = np.ones(labels.size, bool) if name == "all" else groups == name
        y, s = labels[members], scores[members]
        two_classes = 0 < y.sum() < y.size
        counts = threshold_metrics(y, s, threshold)
        rows.append(
            {
                "group": name,
                "n": int(y.size),
                "positives": int(y.sum()),
                "positive_fraction": float(y.mean()),
                "auroc": auroc(y, s) if two_classes else np.nan,
                "auprc": auprc(y, s) if two_classes else np.nan,
                "accuracy": counts["accuracy"],
                "f1": counts["f1"],
                "mcc": counts["mcc"],
            }
        )
    return pd.DataFrame(rows)
