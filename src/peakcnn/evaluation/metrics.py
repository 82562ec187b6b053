"""Classification metrics of scores against 0/1 labels, each one checkable.

- AUROC (Mann-Whitney U with mid-ranks for ties) and AUPRC (average precision, the step-wise
  sum of scikit-learn) are computed here in NumPy and cross-checked against scikit-learn on
  every call; a disagreement above ``METRIC_TOLERANCE`` raises instead of being written.
- The decision threshold is chosen on validation (max F1 or Youden's J) and only applied to
  test (``metrics_at_val_threshold``). The test CIs hold that threshold fixed: they cover the
  sampling of test windows, not the choice of threshold.
- Scores must be finite and labels 0/1 with both classes present; otherwise a one-line error.

Torch-free: the comparison and the model choice import it without loading a model.
"""

from __future__ import annotations

import numpy as np
import sklearn
from sklearn import metrics as skm

THRESHOLD_METHODS = ("max_f1", "youden")
#: Largest allowed difference between our AUROC/AUPRC and scikit-learn's.
METRIC_TOLERANCE = 1e-9
RANKING = ("auroc", "auprc")
AT_THRESHOLD = ("accuracy", "f1", "mcc", "precision", "recall", "specificity")
#: Metrics with a bootstrap CI (the thresholded ones at the fixed validation threshold).
BOOTSTRAPPED = RANKING + ("accuracy", "f1", "mcc", "precision", "recall")


def check_labels(labels: np.ndarray, where: str) -> None:
    """Raise a clear error when ranking metrics are undefined (one class only)."""
    classes = np.unique(labels)
    if classes.size < 2:
        raise ValueError(
            f"{where} has only class {classes.tolist()}: AUROC/AUPRC are undefined; the split "
            "needs positives and negatives (check negatives.ratio and the split regions)"
        )


def check_inputs(labels: np.ndarray, scores: np.ndarray, where: str) -> tuple[np.ndarray, ...]:
    """Validate labels and scores before any metric is computed.

    Parameters
    ----------
    labels : array-like, shape (n,)
        0/1 (or boolean) labels.
    scores : array-like, shape (n,)
        Real-valued scores (higher = more likely positive).
    where : str
        Name of the set, for the error message.

    Returns
    -------
    labels : numpy.ndarray of int64, shape (n,)
    scores : numpy.ndarray of float64, shape (n,)

    Raises
    ------
    ValueError
        On a shape mismatch, labels other than 0/1, non-finite scores or a single class.
    """
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=np.float64)
    if labels.ndim != 1 or labels.shape != scores.shape:
        raise ValueError(
            f"{where}: labels {labels.shape} and scores {scores.shape} must be equal 1-D shapes"
        )
    if not np.isin(labels, (0, 1)).all():
        raise ValueError(f"{where}: labels must be 0/1, got {np.unique(labels)[:5].tolist()}")
    bad = int((~np.isfinite(scores)).sum())
    if bad:
        raise ValueError(
            f"{where}: {bad} of {scores.size} scores are NaN or infinite; the model output is "
            "broken (check the checkpoint and the input encoding)"
        )
    check_labels(labels, where)
    return labels.astype(np.int64), scores


def midranks(scores: np.ndarray) -> np.ndarray:
    """1-based ranks of ``scores``, tied scores sharing the mean of their ranks.

    Parameters
    ----------
    scores : numpy.ndarray of float, shape (n,)

    Returns
    -------
    numpy.ndarray of float64, shape (n,)
    """
    order = np.argsort(scores, kind="mergesort")
    ranked = scores[order]
    starts = np.r_[0, np.flatnonzero(np.diff(ranked)) + 1]
    ends = np.r_[starts[1:], ranked.size]
    ranks = np.empty(ranked.size, dtype=np.float64)
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return ranks


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve as the Mann-Whitney U statistic, ties counted as one half.

    Parameters
    ----------
    labels : numpy.ndarray of {0, 1}, shape (n,)
        Both classes must be present.
    scores : numpy.ndarray of float, shape (n,)

    Returns
    -------
    float
        P(score of a random positive > score of a random negative) + 0.5 P(tie).
    """
    ranks = midranks(scores)
    positives = labels == 1
    n_pos = int(positives.sum())
    n_neg = labels.size - n_pos
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def auprc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the precision-recall curve as average precision (scikit-learn's definition).

    ``sum_k (R_k - R_{k-1}) P_k`` over the distinct score thresholds, highest first; tied
    scores enter together (no interpolation).

    Parameters
    ----------
    labels : numpy.ndarray of {0, 1}, shape (n,)
        At least one positive.
    scores : numpy.ndarray of float, shape (n,)

    Returns
    -------
    float
    """
    order = np.argsort(-scores, kind="mergesort")
    ranked, hits = scores[order], labels[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(ranked)), ranked.size - 1]
    tp = np.cumsum(hits)[last_of_tie]
    precision = tp / (last_of_tie + 1)
    recall = tp / tp[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def threshold_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict:
    """Confusion-matrix metrics with ``score >= threshold`` called positive.

    Undefined ratios (no predicted positives, a zero MCC denominator) are 0, as in
    scikit-learn with ``zero_division=0``.

    Parameters
    ----------
    labels : numpy.ndarray of {0, 1}, shape (n,)
    scores : numpy.ndarray of float, shape (n,)
    threshold : float

    Returns
    -------
    dict
        ``accuracy, f1, mcc, precision, recall, specificity`` and the counts ``tp, fp, tn, fn``.
    """
    called = scores >= threshold
    truth = labels == 1
    tp = int(np.sum(called & truth))
    fp = int(np.sum(called & ~truth))
    fn = int(np.sum(~called & truth))
    tn = int(labels.size - tp - fp - fn)
    denominator = float(tp + fp) * float(tp + fn) * float(tn + fp) * float(tn + fn)
    return {
        "accuracy": (tp + tn) / labels.size,
        "f1": 2 * tp / (2 * tp + fp + fn) if tp else 0.0,
        "mcc": (tp * tn - fp * fn) / np.sqrt(denominator) if denominator else 0.0,
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "specificity": tn / (tn + fp) if tn + fp else 0.0,
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
    }


def _cross_check(labels: np.ndarray, scores: np.ndarray, ours: dict, threshold: float) -> None:
    """Raise if our metrics differ from scikit-learn's on the same input."""
    called = scores >= threshold
    reference = {
        "auroc": skm.roc_auc_score(labels, scores),
        "auprc": skm.average_precision_score(labels, scores),
        "accuracy": skm.accuracy_score(labels, called),
        "f1": skm.f1_score(labels, called, zero_division=0),
        "mcc": skm.matthews_corrcoef(labels, called),
        "precision": skm.precision_score(labels, called, zero_division=0),
        "recall": skm.recall_score(labels, called, zero_division=0),
    }
    off = {k: (ours[k], v) for k, v in reference.items() if abs(ours[k] - v) > METRIC_TOLERANCE}
    if off:
        raise RuntimeError(
            f"metric implementations disagree with scikit-learn {sklearn.__version__}: "
            f"{off} (ours, sklearn); nothing is written"
        )


def classification_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict:
    """AUROC, AUPRC with the positive fraction, and thresholded metrics at ``threshold``.

    Every value is cross-checked against scikit-learn (``RuntimeError`` on a mismatch).

    Parameters
    ----------
    labels : numpy.ndarray of {0, 1}, shape (n,)
    scores : numpy.ndarray of float, shape (n,)
        Probabilities (for the Brier score); ranking metrics only use the order.
    threshold : float
        Windows with ``score >= threshold`` are called positive.

    Returns
    -------
    dict
    """
    labels, scores = check_inputs(labels, scores, "evaluated set")
    counts = threshold_metrics(labels, scores, threshold)
    result = {
        "n": int(labels.size),
        "positives": int(labels.sum()),
        "positive_fraction": float(labels.mean()),
        "auroc": auroc(labels, scores),
        "auprc": auprc(labels, scores),
        "threshold": float(threshold),
        **{key: float(counts[key]) for key in AT_THRESHOLD},
        **{key: counts[key] for key in ("tp", "fp", "tn", "fn")},
        "brier": float(np.mean((scores - labels) ** 2)),
    }
    _cross_check(labels, scores, result, threshold)
    return result


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
    labels, scores = check_inputs(labels, scores, "validation set")
    if method == "max_f1":
        precision, recall, thresholds = skm.precision_recall_curve(labels, scores)
        f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
        return float(thresholds[np.argmax(f1)])
    if method == "youden":
        fpr, tpr, thresholds = skm.roc_curve(labels, scores)
        return float(min(thresholds[np.argmax(tpr - fpr)], 1.0))
    raise ValueError(f"evaluate.threshold {method!r} must be one of {list(THRESHOLD_METHODS)}")


def bootstrap_ci(
    labels: np.ndarray,
    scores: np.ndarray,
    n_boot: int,
    seed: int,
    level: float = 0.95,
    threshold: float | None = None,
) -> dict:
    """Percentile bootstrap confidence intervals, resampling windows with replacement.

    Parameters
    ----------
    labels : numpy.ndarray of {0, 1}, shape (n,)
    scores : numpy.ndarray of float, shape (n,)
    n_boot : int
        Resamples; resamples with one class only are skipped (and counted).
    seed : int
    level : float, default 0.95
    threshold : float or None, default None
        The validation-chosen threshold; when given, F1, MCC, accuracy, precision and recall
        at that fixed threshold get intervals too.

    Returns
    -------
    dict
        ``{metric}_ci95: [low, high]`` per metric and ``bootstrap_used``.
    """
    labels, scores = check_inputs(labels, scores, "bootstrapped set")
    names = BOOTSTRAPPED if threshold is not None else RANKING
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(n_boot):
        sample = rng.integers(0, labels.size, labels.size)
        y, s = labels[sample], scores[sample]
        if y.min() == y.max():
            continue
        draws["auroc"].append(auroc(y, s))
        draws["auprc"].append(auprc(y, s))
        if threshold is not None:
            counts = threshold_metrics(y, s, threshold)
            for name in names[len(RANKING) :]:
                draws[name].append(counts[name])
    tail = (1 - level) / 2 * 100
    result: dict = {
        f"{name}_ci95": [float(np.percentile(v, tail)), float(np.percentile(v, 100 - tail))]
        for name, v in draws.items()
        if v
    }
    result["bootstrap_used"] = len(draws["auroc"])
    return result


def calibration(labels: np.ndarray, scores: np.ndarray, bins: int = 10) -> dict:
    """Reliability table (equal-width probability bins), expected calibration error, Brier.

    Parameters
    ----------
    labels : numpy.ndarray of {0, 1}, shape (n,)
    scores : numpy.ndarray of float in [0, 1], shape (n,)
    bins : int, default 10

    Returns
    -------
    dict
        ``ece``, ``brier`` and ``bins``: per non-empty bin its range, count, mean predicted
        probability and observed positive fraction.
    """
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(scores, edges[1:-1], right=False), 0, bins - 1)
    table, ece = [], 0.0
    for b in range(bins):
        members = which == b
        if not members.any():
            continue
        mean_p, observed = float(scores[members].mean()), float(labels[members].mean())
        ece += members.mean() * abs(mean_p - observed)
        table.append(
            {
                "low": float(edges[b]),
                "high": float(edges[b + 1]),
                "n": int(members.sum()),
                "mean_predicted": mean_p,
                "observed": observed,
            }
        )
    brier = float(np.mean((scores - labels) ** 2))
    return {"ece": float(ece), "brier": brier, "bins": table}


def metrics_at_val_threshold(
    labels: dict[str, np.ndarray],
    scores: dict[str, np.ndarray],
    method: str,
    *,
    bootstrap: int,
    seed: int,
    with_ci: bool = True,
) -> dict:
    """Choose the threshold on val, then test metrics at it and their bootstrap CIs.

    Parameters
    ----------
    labels, scores : dict of str to numpy.ndarray
        ``val`` and ``test`` labels (n,) and probabilities (n,) of one task.
    method : {"max_f1", "youden"}
        How the threshold is chosen on validation (never on test).
    bootstrap, seed : int
        Resamples (0: none) and seed of the test CIs.
    with_ci : bool, default True
        Compute the CIs (False: ``test_ci`` is empty and ``bootstrap_used`` 0).

    Returns
    -------
    dict
        ``threshold``, ``test`` (``classification_metrics``), ``test_ci`` (the ``*_ci95``
        entries of ``bootstrap_ci`` at that fixed threshold) and ``bootstrap_used``.
    """
    cut = choose_threshold(labels["val"], scores["val"], method)
    ci = (
        bootstrap_ci(labels["test"], scores["test"], bootstrap, seed, threshold=cut)
        if with_ci
        else {"bootstrap_used": 0}
    )
    return {
        "threshold": cut,
        "test": classification_metrics(labels["test"], scores["test"], cut),
        "test_ci": {k: v for k, v in ci.items() if k.endswith("_ci95")},
        "bootstrap_used": ci["bootstrap_used"],
    }
