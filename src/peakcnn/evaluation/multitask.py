"""Multi-task summaries: per-task metric tables and their macro means over tasks.

A dataset with several peak sets has one label column (task) per set. Every metric is computed
per task; the headline value is the macro mean over the tasks that have both classes, so that
each peak set counts once whatever its size.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

#: ``task`` value of the rows holding the mean over tasks.
MACRO = "macro"


def has_both_classes(labels: np.ndarray) -> bool:
    """Whether a label vector holds both positives and negatives."""
    return bool(0 < labels.sum() < labels.size)


def macro_mean(metric: Callable, labels: np.ndarray, scores: np.ndarray) -> float:
    """Mean of ``metric(labels[:, t], scores[:, t])`` over the tasks that have both classes.

    Parameters
    ----------
    metric : callable
        ``metric(labels, scores) -> float`` on one task.
    labels, scores : numpy.ndarray, shape (n,) or (n, T)

    Returns
    -------
    float
        NaN when no task has both classes.
    """
    labels, scores = np.asarray(labels), np.asarray(scores)
    if labels.ndim == 1:
        labels, scores = labels[:, None], scores[:, None]
    values = [
        metric(labels[:, t], scores[:, t])
        for t in range(labels.shape[1])
        if has_both_classes(labels[:, t])
    ]
    return float(np.mean(values)) if values else float("nan")


def mean_of_dicts(dicts: list[dict]) -> dict:
    """Key-wise mean of the numeric values that all ``dicts`` share (NaNs ignored)."""
    keys = [k for k in dicts[0] if all(isinstance(d.get(k), int | float) for d in dicts)]
    return {k: float(np.nanmean([float(d[k]) for d in dicts])) for k in keys}


def stack_tasks(tables: dict[str, pd.DataFrame], keys: list[str]) -> pd.DataFrame:
    """Stack per-task tables with a leading ``task`` column, plus macro-mean rows.

    Parameters
    ----------
    tables : dict of str to pandas.DataFrame
        Task name to its table; all tables share their columns.
    keys : list of str
        Columns identifying a row within a task (e.g. ``perturbation, amount``); the macro
        rows average the numeric columns over tasks for each key. With one task there are no
        macro rows.

    Returns
    -------
    pandas.DataFrame
    """
    stacked = pd.concat(
        [table.assign(task=task) for task, table in tables.items()], ignore_index=True
    )
    stacked = stacked[["task", *[c for c in stacked.columns if c != "task"]]]
    if len(tables) == 1:
        return stacked
    numeric = [
        c for c in stacked.columns if c not in keys and pd.api.types.is_numeric_dtype(stacked[c])
    ]
    macro = stacked.groupby(keys, sort=False, dropna=False)[numeric].mean().reset_index()
    return pd.concat([stacked, macro.assign(task=MACRO)], ignore_index=True)[stacked.columns]


def summary_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Return the summary rows of a ``stack_tasks`` table: the macro rows, else all rows."""
    if "task" in table and (table["task"] == MACRO).any():
        return table[table["task"] == MACRO].reset_index(drop=True)
    return table.reset_index(drop=True)
