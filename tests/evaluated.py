"""Write ``metrics.json`` and ``predictions.tsv.gz`` from given scores as evaluate_model does.

The metrics come from ``peakcnn.evaluation.metrics.classification_metrics`` per task (macro
means and
``by_task`` with several tasks) and the predictions from
``peakcnn.evaluation.predictions.write_predictions``,
so the comparison and selection tests read files in the real format.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from peakcnn.evaluation.metrics import bootstrap_ci, classification_metrics
from peakcnn.evaluation.multitask import mean_of_dicts
from peakcnn.evaluation.predictions import write_predictions


def write_evaluation(
    folder: Path,
    labels: dict[str, np.ndarray],
    scores: dict[str, np.ndarray],
    coordinates: dict[str, pd.DataFrame],
    cuts: list[float],
    *,
    bootstrap: int = 0,
    extra: dict | None = None,
) -> tuple[str, str]:
    """Write the evaluation files of one model; return (metrics path, predictions path).

    Parameters
    ----------
    folder : pathlib.Path
    labels, scores : dict of str to numpy.ndarray
        ``val`` and ``test`` arrays, (n,) or (n, T).
    coordinates : dict of str to pandas.DataFrame
        ``chrom``, ``start``, ``end``, ``name`` of each split's windows.
    cuts : list of float
        Decision threshold per task.
    bootstrap : int, default 0
        Test CIs (one task only).
    extra : dict, optional
        More ``metrics.json`` keys.
    """
    folder.mkdir(parents=True, exist_ok=True)
    labels = {s: np.asarray(a).reshape(len(a), -1) for s, a in labels.items()}
    scores = {s: np.asarray(a).reshape(len(a), -1) for s, a in scores.items()}
    tasks = ["t"] if len(cuts) == 1 else [chr(ord("A") + t) for t in range(len(cuts))]
    by_task = {
        task: {
            split: classification_metrics(labels[split][:, t], scores[split][:, t], cuts[t])
            for split in ("val", "test")
        }
        for t, task in enumerate(tasks)
    }
    metrics: dict = {"threshold_method": "max_f1", "test_ci": {}, **(extra or {})}
    if len(tasks) == 1:
        metrics.update(by_task["t"])
        if bootstrap:
            ci = bootstrap_ci(
                labels["test"][:, 0], scores["test"][:, 0], bootstrap, 0, threshold=cuts[0]
            )
            metrics["test_ci"] = {k: v for k, v in ci.items() if k.endswith("_ci95")}
    else:
        for split in ("val", "test"):
            metrics[split] = mean_of_dicts([own[split] for own in by_task.values()])
        metrics.update(tasks=tasks, by_task=by_task)
    (folder / "metrics.json").write_text(json.dumps(metrics))
    tables = {
        split: {
            **{k: coordinates[split][k].to_numpy() for k in coordinates[split]},
            "y": labels[split],
        }
        for split in ("val", "test")
    }
    write_predictions(str(folder / "predictions.tsv.gz"), tables, scores, tasks)
    return str(folder / "metrics.json"), str(folder / "predictions.tsv.gz")
