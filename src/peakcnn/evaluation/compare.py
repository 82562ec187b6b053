"""Comparison of the trained models of one dataset on the same held-out test windows.

One row per model: test AUROC/AUPRC/F1/MCC with their bootstrap CIs (from each model's
``metrics.json``), calibration, robustness, and the paired difference to the baseline model
(``evaluate.baseline``, else the first model listed): the same bootstrap resamples of test
windows are scored under both models, so the CI of the difference accounts for their
correlation. The models must have scored exactly the same test windows, in the same order;
anything else is an error.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd

from peakcnn.errors import InputError
from peakcnn.evaluation.metrics import auprc, auroc, check_inputs
from peakcnn.evaluation.multitask import macro_mean, summary_rows
from peakcnn.evaluation.plots import plot_comparison
from peakcnn.evaluation.predictions import (
    check_same_windows,
    check_stored_metrics,
    pivot_tasks,
    read_predictions,
)
from peakcnn.io import write_tsv

logger = logging.getLogger(__name__)


def paired_bootstrap(
    labels: np.ndarray,
    baseline: np.ndarray,
    other: np.ndarray,
    n_boot: int,
    seed: int,
    level: float = 0.95,
) -> dict:
    """Bootstrap CI of ``metric(other) - metric(baseline)`` on shared resamples of windows.

    Parameters
    ----------
    labels : numpy.ndarray of {0, 1}, shape (n,) or (n, T)
    baseline, other : numpy.ndarray of float, shape (n,) or (n, T)
        Scores of the two models on the same windows; with several tasks the metrics are
        macro means over tasks, and windows (rows) are resampled.
    n_boot : int
    seed : int
    level : float, default 0.95

    Returns
    -------
    dict
        ``auroc_delta``/``auprc_delta`` (point estimates), ``{metric}_delta_ci95`` and
        ``{metric}_delta_p``: the share of resamples where the difference is <= 0 (one-sided;
        small means ``other`` is better).
    """
    labels, baseline, other = (a.reshape(len(labels), -1) for a in (labels, baseline, other))
    for t in range(labels.shape[1]):
        check_inputs(labels[:, t], baseline[:, t], "baseline scores")
        check_inputs(labels[:, t], other[:, t], "compared scores")
    rng = np.random.default_rng(seed)
    result: dict = {}
    draws: dict[str, list[float]] = {"auroc": [], "auprc": []}
    for _ in range(n_boot):
        sample = rng.integers(0, len(labels), len(labels))
        y = labels[sample]
        if y.min() == y.max():
            continue
        for name, function in (("auroc", auroc), ("auprc", auprc)):
            draws[name].append(
                macro_mean(function, y, other[sample]) - macro_mean(function, y, baseline[sample])
            )
    tail = (1 - level) / 2 * 100
    for name, function in (("auroc", auroc), ("auprc", auprc)):
        result[f"{name}_delta"] = macro_mean(function, labels, other) - macro_mean(
            function, labels, baseline
        )
        values = np.asarray(draws[name])
        if values.size:
            low, high = np.percentile(values, [tail, 100 - tail])
            result[f"{name}_delta_ci95"] = [float(low), float(high)]
            result[f"{name}_delta_p"] = float(np.mean(values <= 0))
    return result


def _robustness_columns(metrics: dict) -> dict:
    """AUROC under the strongest substitution rate and the largest shift, if evaluated."""
    table = pd.DataFrame(metrics.get("robustness", []))
    out: dict = {}
    if table.empty:
        return out
    table = summary_rows(table)
    for kind, label in (("substitution", "auroc_subst"), ("shift", "auroc_shift")):
        rows = table[table["perturbation"] == kind]
        if len(rows):
            worst = rows.loc[rows["amount"].abs().idxmax()]
            amount = worst["amount"]
            suffix = f"{amount:g}" if kind == "substitution" else f"{int(amount):+d}bp"
            out[f"{label}_{suffix}"] = float(worst["auroc"])
    return out


def compare_models(
    metrics_paths: dict[str, str],
    predictions_paths: dict[str, str],
    table_path: str,
    plot_path: str | None = None,
    *,
    baseline: str | None = None,
    bootstrap: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Write one comparison row per model, with paired differences to the baseline model.

    Parameters
    ----------
    metrics_paths : dict of str to str
        Model name to its ``metrics.json``, in table order.
    predictions_paths : dict of str to str
        Model name to its ``predictions.tsv.gz``.
    table_path : str
        Output TSV.
    plot_path : str or None
        Output PNG: test AUROC and AUPRC of each model with 95% CIs.
    baseline : str or None, default None
        The model the others are compared with; None = the first.
    bootstrap : int, default 1000
        Paired resamples for the differences to the baseline (0 = none).
    seed : int, default 0

    Returns
    -------
    pandas.DataFrame
        The table written.

    Raises
    ------
    InputError
        If the models did not score the same test windows.
    """
    names = list(metrics_paths)
    if not names or set(names) != set(predictions_paths):
        raise InputError(f"metrics {names} and predictions {list(predictions_paths)} differ")
    baseline = names[0] if baseline is None else baseline
    if baseline not in names:
        raise InputError(f"evaluate.baseline {baseline!r} is not one of the models {names}")
    stored = {name: read_predictions(predictions_paths[name]) for name in names}
    for name in names:
        check_same_windows(
            stored[name]["test"],
            stored[baseline]["test"],
            "test",
            (f"models {baseline!r}", repr(name)),
            predictions_paths[name],
        )
    labels = pivot_tasks(stored[baseline]["test"], "label")
    base_scores = pivot_tasks(stored[baseline]["test"], "score")
    rows = []
    for name in names:
        with open(metrics_paths[name]) as handle:
            metrics = json.load(handle)
        row = {"model": name, "baseline": name == baseline, **_metric_columns(metrics)}
        check_stored_metrics(metrics, stored[name], metrics_paths[name])
        if name != baseline and bootstrap > 0:
            scores = pivot_tasks(stored[name]["test"], "score")
            delta = paired_bootstrap(labels, base_scores, scores, bootstrap, seed)
            row.update(_delta_columns(delta))
        rows.append(row)
    table = pd.DataFrame(rows)
    write_tsv(table_path, table)
    if plot_path:
        plot_comparison(table, plot_path)
    logger.info("compared %d models on %d test windows", len(names), len(labels))
    return table


def _metric_columns(metrics: dict) -> dict:
    """Read a model's test metrics, CIs, calibration and robustness from its ``metrics.json``."""
    test, ci = metrics["test"], metrics.get("test_ci", {})
    row: dict = {"n_test": test["n"], "positive_fraction": test["positive_fraction"]}
    for key in ("auroc", "auprc", "f1", "mcc"):
        row[key] = test[key]
        low, high = ci.get(f"{key}_ci95", (np.nan, np.nan))
        row[f"{key}_ci95_low"], row[f"{key}_ci95_high"] = low, high
    row.update(
        accuracy=test["accuracy"],
        threshold=test["threshold"],
        threshold_method=metrics.get("threshold_method"),
        brier=test.get("brier", np.nan),
        ece=metrics.get("calibration", {}).get("test", {}).get("ece", np.nan),
    )
    row.update(_robustness_columns(metrics))
    return row


def _delta_columns(delta: dict) -> dict:
    """Turn the paired differences to the baseline (``paired_bootstrap``) into columns."""
    row = {}
    for key in ("auroc", "auprc"):
        row[f"{key}_delta"] = delta[f"{key}_delta"]
        low, high = delta.get(f"{key}_delta_ci95", (np.nan, np.nan))
        row[f"{key}_delta_ci95_low"], row[f"{key}_delta_ci95_high"] = low, high
        row[f"{key}_delta_p"] = delta.get(f"{key}_delta_p", np.nan)
    return row
