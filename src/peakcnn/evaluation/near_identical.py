"""Test metrics without the test windows that have a near-identical train window.

The windows come from ``homology.tsv`` of ``peakcnn.data.homology.check_homology``; the
metrics are the headline ones at the same validation thresholds, on the test windows left.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from peakcnn.errors import InputError
from peakcnn.evaluation.metrics import bootstrap_ci, classification_metrics


def read_near_identical(path: str, test: dict[str, np.ndarray]) -> np.ndarray:
    """Read, per test window in split order, whether it has a near-identical train window.

    Parameters
    ----------
    path : str
        ``homology.tsv`` of ``peakcnn.data.homology.check_homology``.
    test : dict of str to numpy.ndarray
        The test split (``load_split``); joined on window name.

    Returns
    -------
    numpy.ndarray of bool, shape (n,)

    Raises
    ------
    InputError
        If the table's test windows are not exactly the split's.
    """
    table = pd.read_csv(path, sep="\t", dtype={"name": str, "chrom": str})
    rows = table[table["split"] == "test"].set_index("name")["near_identical"]
    names = test["name"].astype(str)
    if len(rows) != len(names) or not rows.index.isin(names).all():
        raise InputError(
            f"its {len(rows)} test windows are not the {len(names)} of the test split; "
            "re-run homology_check",
            path=path,
        )
    return rows.reindex(names).astype(bool).to_numpy()


def homology_metrics(
    labels: np.ndarray,
    scores: np.ndarray,
    near: np.ndarray,
    cuts: np.ndarray,
    tasks: list[str],
    *,
    bootstrap: int,
    seed: int,
) -> dict:
    """Test metrics without the windows that have a near-identical train window, with counts.

    The metrics on all test windows are the headline ones; these are the same metrics at the
    same validation thresholds on the test windows left after removing the near-identical
    ones, with percentile bootstrap CIs of AUROC and AUPRC.

    Parameters
    ----------
    labels, scores : numpy.ndarray, shape (n, tasks)
        Test labels and probabilities.
    near : numpy.ndarray of bool, shape (n,)
        ``read_near_identical``.
    cuts : numpy.ndarray of float, shape (tasks,)
        Validation thresholds per task.
    tasks : list of str
    bootstrap, seed : int

    Returns
    -------
    dict
        ``near_identical`` (count), ``near_identical_positives``, ``near_identical_negatives``
        (windows positive for any task, or for none), ``windows_kept``, and per task
        ``without_near_identical``: metrics and ``*_ci95``; ``None`` where the kept windows
        lack a class.
    """
    positive = labels.max(axis=1) > 0
    keep = ~near
    result: dict = {
        "near_identical": int(near.sum()),
        "near_identical_positives": int((near & positive).sum()),
        "near_identical_negatives": int((near & ~positive).sum()),
        "windows_kept": int(keep.sum()),
        "by_task": {},
    }
    for t, task in enumerate(tasks):
        y, s = labels[keep, t], scores[keep, t]
        if y.size == 0 or y.min() == y.max():
            result["by_task"][task] = {"without_near_identical": None}
            continue
        kept = classification_metrics(y, s, float(cuts[t]))
        kept.update(bootstrap_ci(y, s, bootstrap, seed) if bootstrap else {})
        result["by_task"][task] = {"without_near_identical": kept}
    return result


def homology_rows(metrics: dict) -> list[tuple]:
    """Rows of ``metrics.tsv`` for the test metrics without near-identical-to-train windows."""
    homology = metrics.get("homology")
    if not homology:
        return []
    rows = [
        (
            "test windows with a near-identical train window (removed below)",
            f"{homology['near_identical']} ({homology['near_identical_positives']} positive)",
            None,
            None,
            None,
        )
    ]
    for task, own in homology["by_task"].items():
        kept = own["without_near_identical"] or {}
        prefix = "" if len(homology["by_task"]) == 1 else f"{task}: "
        for key in ("auroc", "auprc"):
            low, high = kept.get(f"{key}_ci95", (None, None))
            label = f"{prefix}{key} without near-identical windows"
            rows.append((label, kept.get(key), low, high, None))
    return rows
