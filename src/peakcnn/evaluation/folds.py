"""k-fold cross-validation summary: test metrics of every fold and model, and their spread.

Each fold is a full run (split, negatives, dataset, training, evaluation) whose test block or
chromosomes are held out once; the summary reports each fold's test metrics and, per model,
the mean, standard deviation, minimum and maximum over folds.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd

from peakcnn.errors import InputError
from peakcnn.io import write_json, write_tsv

logger = logging.getLogger(__name__)

#: Test metrics gathered from each fold's ``metrics.json``.
FOLD_METRICS = ("auroc", "auprc", "positive_fraction", "f1", "mcc", "accuracy", "n")


def fold_table(metrics_paths: dict[str, dict[str, str]]) -> pd.DataFrame:
    """One row per fold and model with its test metrics.

    Parameters
    ----------
    metrics_paths : dict of str to dict of str to str
        Fold name to model name to ``metrics.json``.

    Returns
    -------
    pandas.DataFrame
        Columns ``fold, model`` and ``FOLD_METRICS``.
    """
    rows = []
    for fold, models in metrics_paths.items():
        for model, path in models.items():
            with open(path) as handle:
                test = json.load(handle)["test"]
            missing = [key for key in FOLD_METRICS if key not in test]
            if missing:
                raise InputError(f"test metrics {missing} missing; re-run evaluate_model", path)
            rows.append({"fold": fold, "model": model, **{k: test[k] for k in FOLD_METRICS}})
    return pd.DataFrame(rows)


def summarise_folds(
    metrics_paths: dict[str, dict[str, str]], table_path: str, summary_path: str
) -> dict:
    """Write the per-fold table (TSV) and the per-model spread over folds (JSON).

    Parameters
    ----------
    metrics_paths : dict of str to dict of str to str
        Fold name to model name to ``metrics.json``.
    table_path : str
        Output TSV: one row per fold and model.
    summary_path : str
        Output JSON: per model and metric, ``mean``, ``sd`` (n - 1), ``min``, ``max`` over
        folds, and the number of folds.

    Returns
    -------
    dict
        The summary.
    """
    table = fold_table(metrics_paths)
    summary: dict = {"folds": len(metrics_paths), "models": {}}
    for model, rows in table.groupby("model", sort=False):
        summary["models"][model] = {
            key: {
                "mean": float(rows[key].mean()),
                "sd": float(rows[key].std(ddof=1)) if len(rows) > 1 else float("nan"),
                "min": float(rows[key].min()),
                "max": float(rows[key].max()),
            }
            for key in FOLD_METRICS
            if key != "n"
        }
    write_tsv(table_path, table, na_rep="")
    write_json(summary_path, summary)
    for model, spread in summary["models"].items():
        auroc = spread["auroc"]
        logger.info(
            "%s: test AUROC %.4f ± %.4f over %d folds (%.4f-%.4f)",
            model,
            auroc["mean"],
            np.nan_to_num(auroc["sd"]),
            summary["folds"],
            auroc["min"],
            auroc["max"],
        )
    return summary
