"""Held-out evaluation: ranking metrics, threshold chosen on validation, bootstrap CIs, plots."""

from __future__ import annotations

import logging

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn import metrics as skm  # noqa: E402

from peakcnn.dataset import load_split  # noqa: E402
from peakcnn.devices import resolve_device, set_threads  # noqa: E402
from peakcnn.inference import predict_logits, sigmoid  # noqa: E402
from peakcnn.io import atomic_path, write_json  # noqa: E402
from peakcnn.model import load_checkpoint  # noqa: E402

logger = logging.getLogger(__name__)

THRESHOLD_METHODS = ("max_f1", "youden")


def check_labels(labels: np.ndarray, where: str) -> None:
    """Raise a clear error when ranking metrics are undefined (one class only)."""
    classes = np.unique(labels)
    if classes.size < 2:
        raise ValueError(
            f"{where} has only class {classes.tolist()}: AUROC/AUPRC are undefined; the split "
            "needs positives and negatives (check negatives.ratio and the split regions)"
        )


def choose_threshold(labels: np.ndarray, scores: np.ndarray, method: str) -> float:
    """Pick a decision threshold on validation scores by max F1 or Youden's J.

    Parameters
    ----------
    labels : numpy.ndarray of {0, 1}, shape (n,)
    scores : numpy.ndarray of float, shape (n,)
        Probabilities.
    method : {"max_f1", "youden"}

    Returns
    -------
    float
        Windows with score >= threshold are called positive.
    """
    check_labels(labels, "validation set")
    if method == "max_f1":
        precision, recall, thresholds = skm.precision_recall_curve(labels, scores)
        f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
        return float(thresholds[np.argmax(f1)])
    if method == "youden":
        fpr, tpr, thresholds = skm.roc_curve(labels, scores)
        return float(min(thresholds[np.argmax(tpr - fpr)], 1.0))
    raise ValueError(f"evaluate.threshold {method!r} must be one of {list(THRESHOLD_METHODS)}")


def classification_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict:
    """AUROC, AUPRC with the positive fraction, and thresholded metrics at ``threshold``."""
    check_labels(labels, "evaluated set")
    called = scores >= threshold
    return {
        "n": int(labels.size),
        "positives": int(labels.sum()),
        "positive_fraction": float(labels.mean()),
        "auroc": float(skm.roc_auc_score(labels, scores)),
        "auprc": float(skm.average_precision_score(labels, scores)),
        "threshold": float(threshold),
        "accuracy": float(skm.accuracy_score(labels, called)),
        "f1": float(skm.f1_score(labels, called, zero_division=0)),
        "mcc": float(skm.matthews_corrcoef(labels, called)),
        "precision": float(skm.precision_score(labels, called, zero_division=0)),
        "recall": float(skm.recall_score(labels, called, zero_division=0)),
    }


def bootstrap_ci(
    labels: np.ndarray, scores: np.ndarray, n_boot: int, seed: int, level: float = 0.95
) -> dict:
    """Percentile bootstrap confidence intervals of AUROC and AUPRC (resampling windows)."""
    rng = np.random.default_rng(seed)
    draws = {"auroc": [], "auprc": []}
    for _ in range(n_boot):
        sample = rng.integers(0, labels.size, labels.size)
        if labels[sample].min() == labels[sample].max():
            continue
        draws["auroc"].append(skm.roc_auc_score(labels[sample], scores[sample]))
        draws["auprc"].append(skm.average_precision_score(labels[sample], scores[sample]))
    tail = (1 - level) / 2 * 100
    return {
        f"{name}_ci95": [float(np.percentile(v, tail)), float(np.percentile(v, 100 - tail))]
        for name, v in draws.items()
        if v
    }


def plot_curves(curves: dict[str, tuple[np.ndarray, np.ndarray]], kind: str, path: str) -> None:
    """Plot ROC or PR curves, one line per split, as a PNG.

    Parameters
    ----------
    curves : dict of str to (labels, scores)
        Per split: labels (n,) and scores (n,).
    kind : {"roc", "pr"}
    path : str
        Output PNG.
    """
    figure, axis = plt.subplots(figsize=(4.5, 4.5))
    for split, (labels, scores) in curves.items():
        if kind == "roc":
            fpr, tpr, _ = skm.roc_curve(labels, scores)
            axis.plot(fpr, tpr, label=f"{split} AUROC {skm.roc_auc_score(labels, scores):.3f}")
        else:
            precision, recall, _ = skm.precision_recall_curve(labels, scores)
            ap = skm.average_precision_score(labels, scores)
            axis.plot(
                recall, precision, label=f"{split} AUPRC {ap:.3f} (positives {labels.mean():.2f})"
            )
            axis.axhline(labels.mean(), linestyle=":", linewidth=0.8)
    if kind == "roc":
        axis.plot([0, 1], [0, 1], linestyle=":", color="grey")
        axis.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    else:
        axis.set(xlabel="recall", ylabel="precision", title="Precision-recall", ylim=(0, 1.02))
    axis.legend(loc="lower right" if kind == "roc" else "lower left", fontsize=8)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=100, format="png")
    plt.close(figure)


def write_predictions(path: str, tables: dict[str, dict], scores: dict[str, np.ndarray]) -> None:
    """Write one row per window (split, coordinates, label, score) as a gzipped TSV."""
    frames = [
        pd.DataFrame(
            {
                "split": split,
                "chrom": data["chrom"],
                "start": data["start"],
                "end": data["end"],
                "name": data["name"],
                "label": data["y"][:, 0],
                "score": scores[split],
            }
        )
        for split, data in tables.items()
    ]
    with atomic_path(path) as tmp:
        pd.concat(frames).to_csv(
            tmp, sep="\t", index=False, float_format="%.6g", compression="gzip"
        )


def write_metrics_table(path: str, metrics: dict) -> None:
    """Write the headline metrics as a two-column TSV for the report."""
    rows = [(key, value) for key, value in metrics["test"].items()]
    rows += [
        (f"{key} (test)", f"{low:.4f} - {high:.4f}")
        for key, (low, high) in metrics["test_ci"].items()
    ]
    rows += [("threshold method (chosen on val)", metrics["threshold_method"])]
    with atomic_path(path) as tmp:
        pd.DataFrame(rows, columns=["metric", "value"]).to_csv(tmp, sep="\t", index=False)


def evaluate_model(
    model_path: str,
    val_path: str,
    test_path: str,
    metrics_path: str,
    table_path: str,
    predictions_path: str,
    roc_path: str,
    pr_path: str,
    *,
    threshold: str = "max_f1",
    bootstrap: int = 1000,
    seed: int = 0,
    device: str = "auto",
    threads: int = 1,
) -> dict:
    """Evaluate a trained model on the held-out test split, with the threshold chosen on val.

    Parameters
    ----------
    model_path : str
        Checkpoint from ``peakcnn.train.train_model``.
    val_path, test_path : str
        Encoded split npz files.
    metrics_path : str
        Output ``metrics.json``: test and val metrics, test bootstrap CIs.
    table_path : str
        Output ``metrics.tsv``: the headline test metrics for the report.
    predictions_path : str
        Output ``predictions.tsv.gz``: one row per val and test window.
    roc_path, pr_path : str
        Output PNG plots.
    threshold : {"max_f1", "youden"}, default "max_f1"
        How the decision threshold is chosen on validation (never on test).
    bootstrap : int, default 1000
        Bootstrap resamples for the test CIs (0 to skip).
    seed : int, default 0
    device : str, default "auto"
    threads : int, default 1

    Returns
    -------
    dict
        The metrics.
    """
    set_threads(threads)
    target = resolve_device(device)
    model = load_checkpoint(model_path, target)
    tables = {"val": load_split(val_path), "test": load_split(test_path)}
    scores = {s: sigmoid(predict_logits(model, t["x"], target))[:, 0] for s, t in tables.items()}
    labels = {s: t["y"][:, 0].astype(int) for s, t in tables.items()}
    cut = choose_threshold(labels["val"], scores["val"], threshold)
    metrics = {
        "task": str(tables["test"]["tasks"][0]),
        "threshold_method": threshold,
        "test": classification_metrics(labels["test"], scores["test"], cut),
        "val": classification_metrics(labels["val"], scores["val"], cut),
        "test_ci": bootstrap_ci(labels["test"], scores["test"], bootstrap, seed),
        "bootstrap": bootstrap,
    }
    plot_curves({s: (labels[s], scores[s]) for s in tables}, "roc", roc_path)
    plot_curves({s: (labels[s], scores[s]) for s in tables}, "pr", pr_path)
    write_predictions(predictions_path, tables, scores)
    write_metrics_table(table_path, metrics)
    write_json(metrics_path, metrics)
    logger.info(
        "test: AUROC %.4f, AUPRC %.4f (positive fraction %.3f), F1 %.4f at %.3f",
        metrics["test"]["auroc"],
        metrics["test"]["auprc"],
        metrics["test"]["positive_fraction"],
        metrics["test"]["f1"],
        cut,
    )
    return metrics
