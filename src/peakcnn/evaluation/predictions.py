"""``predictions.tsv.gz``: its writer and reader, the window key, and checks on stored files.

One row per window and task of the val and test splits (coordinates, task, label, calibrated
score, raw logit). The comparison and the model choice read it back: they pivot it to
(windows, tasks) matrices (``pivot_tasks``), check that every model scored the same windows
(``check_same_windows``) and that the file and its ``metrics.json`` come from the same
evaluation (``check_stored_metrics``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from peakcnn.errors import InputError
from peakcnn.evaluation.metrics import classification_metrics
from peakcnn.evaluation.multitask import mean_of_dicts
from peakcnn.io import atomic_path
from peakcnn.models.calibration import calibrated_probabilities

#: Splits written to ``predictions.tsv.gz``.
PREDICTION_SPLITS = ("val", "test")
#: Largest allowed difference between a metric recomputed from ``predictions.tsv.gz`` and its
#: value in ``metrics.json`` (scores are stored at full precision: both come from the same
#: numbers).
STORED_TOLERANCE = 1e-9
#: Columns that identify a window (and its task) in ``predictions.tsv.gz``.
WINDOW_KEY = ["chrom", "start", "end", "name", "task", "label"]


def write_predictions(
    path: str,
    tables: dict[str, dict],
    scores: dict[str, np.ndarray],
    tasks: list[str],
    logits: dict[str, np.ndarray] | None = None,
) -> None:
    """Write one row per window and task (split, coordinates, task, label, score), gzipped TSV.

    ``score`` is the calibrated probability the metrics are computed on; with ``logits``, a
    last column ``logit`` holds the raw logit (``score = sigmoid(logit / T + b)``).
    Values are written at full precision (the shortest decimal that reads back as the same
    float64), so every metric recomputed from the file equals the one in ``metrics.json``: at
    six significant digits, scores near 1 tie and move the AUROC (see
    ``check_stored_metrics``).
    """
    frames = [
        pd.DataFrame(
            {
                "split": split,
                "chrom": data["chrom"],
                "start": data["start"],
                "end": data["end"],
                "name": data["name"],
                "task": task,
                "label": data["y"][:, t],
                "score": np.asarray(scores[split][:, t], dtype=np.float64),
                **(
                    {"logit": np.asarray(logits[split][:, t], dtype=np.float64)}
                    if logits is not None
                    else {}
                ),
            }
        )
        for split, data in tables.items()
        for t, task in enumerate(tasks)
    ]
    with atomic_path(path) as tmp:
        pd.concat(frames).to_csv(tmp, sep="\t", index=False, compression="gzip")


def read_predictions(path: str) -> dict[str, pd.DataFrame]:
    """Read the val and test rows of a ``predictions.tsv.gz`` written by ``evaluate_model``.

    Returns
    -------
    dict of str to pandas.DataFrame
        ``val`` and ``test`` rows, in file order.

    Raises
    ------
    InputError
        If either split is missing.
    """
    table = pd.read_csv(path, sep="\t", dtype={"chrom": str, "name": str, "task": str})
    parts = {}
    for split in PREDICTION_SPLITS:
        rows = table[table["split"] == split].reset_index(drop=True)
        if rows.empty:
            raise InputError(
                f"no {split} rows in the predictions; re-run evaluate_model", path=path
            )
        parts[split] = rows
    return parts


def pivot_tasks(predictions: pd.DataFrame, column: str) -> np.ndarray:
    """One column of long-format predictions as a (windows, tasks) matrix, in task order."""
    tasks = list(dict.fromkeys(predictions["task"]))
    return np.stack(
        [predictions.loc[predictions["task"] == task, column].to_numpy() for task in tasks],
        axis=1,
    )


def check_same_windows(
    rows: pd.DataFrame, reference: pd.DataFrame, split: str, names: tuple[str, str], path: str
) -> None:
    """Raise unless two models' predictions of ``split`` list the same windows in one order.

    Parameters
    ----------
    rows, reference : pandas.DataFrame
        Predictions of one split (``read_predictions``) of the model and of the reference.
    split : str
    names : (str, str)
        The reference and the model as the error names them (``"models 'basset'"``,
        ``"'hybrid'"``).
    path : str
        The model's ``predictions.tsv.gz``, for the error.

    Raises
    ------
    InputError
        If the ``WINDOW_KEY`` columns differ.
    """
    if not rows[WINDOW_KEY].equals(reference[WINDOW_KEY]):
        raise InputError(
            f"{names[0]} and {names[1]} were evaluated on different {split} windows; "
            "re-run evaluate_model for both on the same dataset",
            path=path,
        )


def check_stored_metrics(metrics: dict, predictions: dict[str, pd.DataFrame], where: str) -> None:
    """Recompute every val and test metric of ``metrics.json`` from the stored predictions.

    The metrics are recomputed per task at the stored thresholds (``by_task`` with several
    tasks), as ``evaluate_model`` computes them, and compared with the headline and per-task
    values; the two files must come from the same evaluation.

    Parameters
    ----------
    metrics : dict
        A ``metrics.json``.
    predictions : dict of str to pandas.DataFrame
        ``read_predictions`` of the matching ``predictions.tsv.gz``.
    where : str
        The ``metrics.json`` path, for the error.

    Raises
    ------
    InputError
        If a value differs by more than ``STORED_TOLERANCE``, or a split or a task's
        threshold is missing, or a stored score is not ``sigmoid(logit / T + b)`` of its
        stored logit and the calibration in ``metrics.json``.
    """
    _check_stored_calibration(metrics, predictions, where)
    for split in PREDICTION_SPLITS:
        if split not in metrics:
            raise InputError(f"no {split} metrics; re-run evaluate_model", path=where)
        rows = predictions[split]
        tasks = list(dict.fromkeys(rows["task"]))
        labels, scores = pivot_tasks(rows, "label"), pivot_tasks(rows, "score")
        stored = {task: metrics.get("by_task", {}).get(task, {}).get(split) for task in tasks}
        if len(tasks) == 1:
            stored[tasks[0]] = metrics[split]
        missing = [task for task, values in stored.items() if values is None]
        if missing:
            raise InputError(
                f"no {split} metrics for task(s) {missing} of the predictions; "
                "re-run evaluate_model",
                path=where,
            )
        again = {
            task: classification_metrics(
                labels[:, t], scores[:, t], float(stored[task]["threshold"])
            )
            for t, task in enumerate(tasks)
        }
        pairs = [(f"{split} {task}", stored[task], again[task]) for task in tasks]
        if len(tasks) > 1:
            pairs.append((split, metrics[split], mean_of_dicts(list(again.values()))))
        for label, expected, found in pairs:
            for key in found.keys() & expected.keys():
                if abs(float(found[key]) - float(expected[key])) > STORED_TOLERANCE:
                    raise InputError(
                        f"the predictions give {label} {key} {float(found[key]):.10g} but "
                        f"metrics.json says {float(expected[key]):.10g}: the two files are from "
                        "different evaluations; re-run evaluate_model",
                        path=where,
                    )


def stored_calibration(metrics: dict, tasks: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per-task ``(temperatures, biases)`` recorded in a ``metrics.json``; (1, 0) where none."""
    if len(tasks) == 1 or "by_task" not in metrics:
        fits = [metrics.get("calibration", {})]
    else:
        fits = [metrics["by_task"].get(task, {}).get("calibration", {}) for task in tasks]
    values = [(fit.get("temperature"), fit.get("bias")) for fit in fits]
    return (
        np.array([1.0 if t is None else float(t) for t, _ in values]),
        np.array([0.0 if b is None else float(b) for _, b in values]),
    )


def _check_stored_calibration(
    metrics: dict, predictions: dict[str, pd.DataFrame], where: str
) -> None:
    """Raise unless each stored score is ``sigmoid(logit / T + b)`` of its stored logit."""
    for split, rows in predictions.items():
        if "logit" not in rows:
            continue
        temperatures, biases = stored_calibration(metrics, list(dict.fromkeys(rows["task"])))
        expected = calibrated_probabilities(pivot_tasks(rows, "logit"), temperatures, biases)
        off = np.abs(expected - pivot_tasks(rows, "score")).max(initial=0.0)
        if off > STORED_TOLERANCE:
            raise InputError(
                f"the {split} scores differ from sigmoid(logit / temperature + bias) by up to "
                f"{off:.3g} with the temperatures {temperatures.tolist()} and biases "
                f"{biases.tolist()} of metrics.json: the two files are from different "
                "evaluations; re-run evaluate_model",
                path=where,
            )
