"""Held-out evaluation: ranking metrics, threshold chosen on validation, bootstrap CIs, plots.

Every number is checkable:

- AUROC (Mann-Whitney U with mid-ranks for ties) and AUPRC (average precision, the step-wise
  sum of scikit-learn) are computed here in NumPy and cross-checked against scikit-learn on
  every call; a disagreement above ``METRIC_TOLERANCE`` raises instead of being written.
- The decision threshold is chosen on validation (max F1 or Youden's J) and only applied to
  test. The test CIs hold that threshold fixed: they cover the sampling of test windows, not
  the choice of threshold.
- Scores must be finite and labels 0/1 with both classes present; otherwise a one-line error.
- Per-group metrics assign every test window to the split region holding its centre (and to a
  sub-block of it with ``group_bp``); a test window outside every test region is an error.
- Shifted windows are re-read from the genome; the unshifted re-read must reproduce the
  encoded test windows exactly, or the genome and the dataset disagree and evaluation stops.
- Scores are calibrated probabilities ``sigmoid(logit / T + b)`` with the per-task
  calibration stored in the checkpoint (``peakcnn.models.calibration``; none for a checkpoint
  without
  one): the threshold, every metric and ``predictions.tsv.gz`` use them. ``metrics.json``
  reports ``T``, ``b`` and the calibration (ECE, Brier, reliability bins) before and after.
"""

from __future__ import annotations

import logging

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import sklearn  # noqa: E402
from sklearn import metrics as skm  # noqa: E402

from peakcnn.data.encode import encode_windows  # noqa: E402
from peakcnn.data.splitfile import load_split  # noqa: E402
from peakcnn.devices import resolve_device, set_threads  # noqa: E402
from peakcnn.errors import InputError  # noqa: E402
from peakcnn.evaluation.multitask import MACRO, mean_of_dicts, stack_tasks, summary_rows  # noqa: E402
from peakcnn.io import atomic_path, write_json  # noqa: E402
from peakcnn.models.calibration import (  # noqa: E402
    calibrated_probabilities,
    calibration_of,
    read_calibration,
)
from peakcnn.models.checkpoint import load_checkpoint  # noqa: E402
from peakcnn.models.inference import predict_logits  # noqa: E402

logger = logging.getLogger(__name__)

THRESHOLD_METHODS = ("max_f1", "youden")
#: Largest allowed difference between our AUROC/AUPRC and scikit-learn's.
METRIC_TOLERANCE = 1e-9
RANKING = ("auroc", "auprc")
AT_THRESHOLD = ("accuracy", "f1", "mcc", "precision", "recall", "specificity")
#: Metrics with a bootstrap CI (the thresholded ones at the fixed validation threshold).
BOOTSTRAPPED = RANKING + ("accuracy", "f1", "mcc", "precision", "recall")
#: Splits written to ``predictions.tsv.gz``.
PREDICTION_SPLITS = ("val", "test")
#: Largest allowed difference between a metric recomputed from ``predictions.tsv.gz`` and its
#: value in ``metrics.json`` (scores are stored at full precision: both come from the same
#: numbers).
STORED_TOLERANCE = 1e-9


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


def substitute(x: np.ndarray, rate: float, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Replace a random ``rate`` of the known bases with a different base.

    Parameters
    ----------
    x : numpy.ndarray of uint8, shape (n, 4, L)
        One-hot windows; all-zero columns (N) are never changed.
    rate : float
        Probability that a known base is substituted.
    rng : numpy.random.Generator

    Returns
    -------
    mutated : numpy.ndarray of uint8, shape (n, 4, L)
    realised : float
        Fraction of known bases that were changed.
    """
    known = x.any(axis=1)
    change = known & (rng.random(known.shape) < rate)
    bases = x.argmax(axis=1)
    new = (bases + rng.integers(1, 4, size=bases.shape)) % 4  # always a different base
    mutated = x.copy()
    rows, cols = np.nonzero(change)
    mutated[rows, :, cols] = 0
    mutated[rows, new[rows, cols], cols] = 1
    return mutated, float(change.sum() / max(known.sum(), 1))


def shifted_windows(
    fasta_path: str, chrom: np.ndarray, start: np.ndarray, length: int, shift: int
) -> np.ndarray:
    """Re-read windows from the genome, moved by ``shift`` bp (N-padded past the ends).

    Parameters
    ----------
    fasta_path : str
        Indexed genome FASTA (the one the dataset was encoded from).
    chrom, start : numpy.ndarray, shape (n,)
        Full window coordinates (``start`` may be negative).
    length : int
        Window length.
    shift : int
        Bases to move each window (negative = towards the chromosome start).

    Returns
    -------
    numpy.ndarray of uint8, shape (n, 4, length)
    """
    windows = pd.DataFrame(
        {"chrom": np.asarray(chrom), "start": np.asarray(start, np.int64) + shift, "pad_left": 0}
    )
    x, _ = encode_windows(windows, fasta_path, length)
    return x


def robustness(
    model,
    data: dict,
    labels: np.ndarray,
    clean: np.ndarray,
    threshold: float | np.ndarray,
    device,
    *,
    substitution_rates: list[float],
    shifts: list[int],
    fasta_path: str | None,
    seed: int,
    tasks: list[str] | None = None,
    temperatures: np.ndarray | None = None,
    biases: np.ndarray | None = None,
) -> pd.DataFrame:
    """Test metrics under random substitutions and window shifts, beside the clean ones.

    Parameters
    ----------
    model : torch.nn.Module
    data : dict
        The test split (``x``, ``chrom``, ``start``).
    labels : numpy.ndarray of {0, 1}, shape (n,) or (n, T)
    clean : numpy.ndarray of float, shape (n,) or (n, T)
        Scores (probabilities) on the unchanged windows.
    threshold : float or numpy.ndarray of shape (T,)
        The validation-chosen threshold of each task.
    device : torch.device
    substitution_rates : list of float
    shifts : list of int
        In bp; windows are re-read from ``fasta_path``.
    fasta_path : str or None
        Needed for shifts.
    seed : int
    tasks : list of str, optional
        Task names (default ``task0``, ``task1``, ...).
    temperatures, biases : numpy.ndarray of shape (T,), optional
        Per-task calibration that made ``clean`` (the perturbed scores get the same).

    Returns
    -------
    pandas.DataFrame
        One row per task and condition: ``task, perturbation, amount, realised``, the
        metrics, the change in AUROC, the mean absolute change of the score and the fraction
        of calls flipped; with several tasks, ``macro`` rows hold the means over tasks.

    Raises
    ------
    InputError
        If the unshifted re-read from the genome differs from the encoded windows.
    """
    labels = labels.reshape(len(labels), -1)
    clean = clean.reshape(len(clean), -1)
    thresholds = np.broadcast_to(np.asarray(threshold, dtype=float), (labels.shape[1],))
    conditions: list[tuple[str, float, float, np.ndarray]] = [("none", 0, 0.0, clean)]
    for i, rate in enumerate(substitution_rates):
        mutated, realised = substitute(data["x"], rate, np.random.default_rng([seed, i]))
        scores = calibrated_probabilities(
            predict_logits(model, mutated, device), temperatures, biases
        )
        conditions.append(("substitution", rate, realised, scores))
    if shifts:
        length = data["x"].shape[2]
        again = shifted_windows(fasta_path, data["chrom"], data["start"], length, 0)
        differ = int((again != data["x"]).any(axis=(1, 2)).sum())
        if differ:
            raise InputError(
                f"{differ} test windows re-read from the genome differ from the encoded ones; "
                "the genome and the dataset disagree (re-run the encode stage)",
                path=fasta_path,
            )
        for shift in shifts:
            moved = shifted_windows(fasta_path, data["chrom"], data["start"], length, shift)
            scores = calibrated_probabilities(
                predict_logits(model, moved, device), temperatures, biases
            )
            conditions.append(("shift", shift, abs(shift) / length, scores))
    names = tasks or [f"task{t}" for t in range(labels.shape[1])]
    tables = {
        name: _condition_rows(
            labels[:, t], clean[:, t], thresholds[t], [(*c[:3], c[3][:, t]) for c in conditions]
        )
        for t, name in enumerate(names)
    }
    return stack_tasks(tables, ["perturbation", "amount"])


def _condition_rows(
    labels: np.ndarray,
    clean: np.ndarray,
    threshold: float,
    conditions: list[tuple[str, float, float, np.ndarray]],
) -> pd.DataFrame:
    """One task's robustness rows: metrics and changes under each condition."""
    rows = []
    clean_calls = clean >= threshold
    for kind, amount, realised, scores in conditions:
        counts = threshold_metrics(labels, scores, threshold)
        rows.append(
            {
                "perturbation": kind,
                "amount": amount,
                "realised": realised,
                "auroc": auroc(labels, scores),
                "auprc": auprc(labels, scores),
                "accuracy": counts["accuracy"],
                "f1": counts["f1"],
                "mcc": counts["mcc"],
                "mean_abs_score_change": float(np.mean(np.abs(scores - clean))),
                "calls_flipped": float(np.mean((scores >= threshold) != clean_calls)),
            }
        )
    table = pd.DataFrame(rows)
    table.insert(4, "auroc_change", table["auroc"] - table["auroc"].iloc[0])
    return table


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
            axis.plot(fpr, tpr, label=f"{split} AUROC {auroc(labels, scores):.3f}")
        else:
            precision, recall, _ = skm.precision_recall_curve(labels, scores)
            ap = auprc(labels, scores)
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
    _save(figure, path)


def plot_calibration(tables: dict, path: str) -> None:
    """Reliability diagram per split: after temperature scaling (solid), before (dashed).

    Parameters
    ----------
    tables : dict
        ``metrics.json``'s ``calibration``: ``val`` and ``test`` tables of ``calibration``,
        and the same under ``before`` (raw sigmoid of the logits).
    path : str
        Output PNG.
    """
    figure, axis = plt.subplots(figsize=(5, 5))
    axis.plot([0, 1], [0, 1], linestyle=":", color="grey", label="perfect")
    for colour, split in zip(("C0", "C1"), PREDICTION_SPLITS, strict=True):
        stages = (
            (tables.get("before", {}).get(split), "before", "--"),
            (tables[split], "after", "-"),
        )
        for table, stage, style in stages:
            if table is None:
                continue
            mean_p = [b["mean_predicted"] for b in table["bins"]]
            observed = [b["observed"] for b in table["bins"]]
            name = f"{split} {stage}" if "before" in tables else split
            label = f"{name}: ECE {table['ece']:.3f}, Brier {table['brier']:.3f}"
            axis.plot(mean_p, observed, style, color=colour, marker="o", label=label)
    axis.set(
        xlabel="mean predicted probability",
        ylabel="observed positive fraction",
        title=f"Calibration ({_temperature_text(tables)})",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    axis.legend(loc="upper left", fontsize=7)
    _save(figure, path)


def _temperature_text(tables: dict) -> str:
    """``temperature T = 1.83`` (Platt: ``T``, ``b``; per task) for the plot's title."""
    temperature, bias = tables.get("temperature"), tables.get("bias")
    if temperature is None:
        return "uncalibrated"
    if not isinstance(temperature, dict):
        temperature, bias = {"": temperature}, {"": bias}
    bias = bias or {}
    parts = [
        f"{task} T {value:.2f}".strip() + (f", b {bias[task]:+.2f}" if bias.get(task) else "")
        for task, value in temperature.items()
    ]
    return f"{tables.get('method', 'temperature')}: " + "; ".join(parts)


def plot_scores(labels: np.ndarray, scores: np.ndarray, threshold: float | None, path: str) -> None:
    """Histograms of test scores of positives and negatives, with the threshold (if one)."""
    figure, axis = plt.subplots(figsize=(5.5, 3.5))
    edges = np.linspace(0, 1, 41)
    for value, name in ((0, "negatives"), (1, "positives")):
        members = labels == value
        axis.hist(scores[members], bins=edges, alpha=0.6, label=f"{name} ({members.sum()})")
    if threshold is not None:
        axis.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:.3f}")
    axis.set(xlabel="predicted probability", ylabel="test windows", title="Test score distribution")
    axis.legend(fontsize=8)
    _save(figure, path)


def plot_training(history_path: str, path: str) -> None:
    """Training curves from ``history.tsv``: losses, then validation AUROC/AUPRC per epoch."""
    history = pd.read_csv(history_path, sep="\t")
    figure, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for column in ("train_loss", "val_loss"):
        if column in history:
            axes[0].plot(history["epoch"], history[column], marker=".", label=column)
    for column in ("val_auroc", "val_auprc"):
        if column in history:
            axes[1].plot(history["epoch"], history[column], marker=".", label=column)
    if "val_auroc" in history and len(history):
        best = history["epoch"].iloc[int(history["val_auroc"].to_numpy().argmax())]
        for axis in axes:
            axis.axvline(best, color="grey", linestyle=":", label=f"kept epoch {best}")
    axes[0].set(xlabel="epoch", ylabel="loss", title="Loss")
    axes[1].set(xlabel="epoch", ylabel="metric", title="Validation")
    for axis in axes:
        axis.legend(fontsize=8)
    _save(figure, path)


def plot_robustness(table: pd.DataFrame, path: str) -> None:
    """AUROC/AUPRC under substitutions (left) and shifts (right); the clean value as a line.

    With several tasks, the macro means over tasks are drawn.
    """
    figure, axes = plt.subplots(1, 2, figsize=(9, 3.5), sharey=True)
    table = summary_rows(table)
    clean = table.iloc[0]
    for axis, kind, xlabel in (
        (axes[0], "substitution", "substituted fraction of bases"),
        (axes[1], "shift", "window shift (bp)"),
    ):
        rows = table[table["perturbation"] == kind]
        for metric, colour in (("auroc", "C0"), ("auprc", "C1")):
            axis.axhline(clean[metric], linestyle=":", linewidth=0.8, color=colour)
            if len(rows):
                points = pd.concat([rows, clean.to_frame().T]).sort_values("amount")
                axis.plot(points["amount"], points[metric], marker="o", color=colour, label=metric)
        axis.set(xlabel=xlabel, title=kind)
        if len(rows):
            axis.legend(fontsize=8)
        else:
            axis.text(0.5, 0.5, "not run", transform=axis.transAxes, ha="center")
    axes[0].set_ylabel("test metric (dotted: unperturbed)")
    _save(figure, path)


def _save(figure, path: str) -> None:
    """Write a figure as PNG atomically and close it."""
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=100, format="png")
    plt.close(figure)


def _write_tsv(path: str, table: pd.DataFrame) -> None:
    """Write a table as TSV atomically."""
    with atomic_path(path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.4f", na_rep="NA")


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


def task_matrix(predictions: pd.DataFrame, column: str) -> np.ndarray:
    """One column of long-format predictions as a (windows, tasks) matrix, in task order."""
    tasks = list(dict.fromkeys(predictions["task"]))
    return np.stack(
        [predictions.loc[predictions["task"] == task, column].to_numpy() for task in tasks],
        axis=1,
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
        labels, scores = task_matrix(rows, "label"), task_matrix(rows, "score")
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
        expected = calibrated_probabilities(task_matrix(rows, "logit"), temperatures, biases)
        off = np.abs(expected - task_matrix(rows, "score")).max(initial=0.0)
        if off > STORED_TOLERANCE:
            raise InputError(
                f"the {split} scores differ from sigmoid(logit / temperature + bias) by up to "
                f"{off:.3g} with the temperatures {temperatures.tolist()} and biases "
                f"{biases.tolist()} of metrics.json: the two files are from different "
                "evaluations; re-run evaluate_model",
                path=where,
            )


def write_metrics_table(path: str, metrics: dict) -> None:
    """Write the headline metrics as a TSV for the report: test value, its 95% CI, val value."""
    rows = []
    for key, value in metrics["test"].items():
        low, high = metrics["test_ci"].get(f"{key}_ci95", (None, None))
        rows.append((key, value, low, high, metrics["val"].get(key)))
    for task, own in metrics.get("by_task", {}).items():
        for key in ("auroc", "auprc", "positive_fraction", "f1", "mcc", "threshold"):
            low, high = own["test_ci"].get(f"{key}_ci95", (None, None))
            rows.append((f"{task}: {key}", own["test"][key], low, high, own["val"][key]))
    rows.extend(homology_rows(metrics))
    rows.append(("threshold method (chosen on val)", metrics["threshold_method"], None, None, None))
    calibrated = metrics["calibration"]
    for stage, tables in (("", calibrated), (" before temperature", calibrated["before"])):
        for key in ("ece", "brier"):
            name = f"calibration {key.upper() if key == 'ece' else key}{stage}"
            rows.append((name, tables["test"][key], None, None, tables["val"][key]))
    for key in ("temperature", "bias"):
        value = calibrated.get(key)
        for task, own in (value if isinstance(value, dict) else {"": value}).items():
            name = f"{task}: calibration {key}" if task else f"calibration {key}"
            rows.append((name, "none" if own is None else float(own), None, None, None))
    table = pd.DataFrame(rows, columns=["metric", "test", "test_ci95_low", "test_ci95_high", "val"])
    table["test"] = [f"{v:.4f}" if isinstance(v, float) else v for v in table["test"]]
    _write_tsv(path, table)


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
    calibration_path: str | None = None,
    scores_path: str | None = None,
    history_path: str | None = None,
    training_path: str | None = None,
    regions_path: str | None = None,
    groups_path: str | None = None,
    fasta_path: str | None = None,
    robustness_path: str | None = None,
    robustness_plot_path: str | None = None,
    homology_path: str | None = None,
    threshold: str = "max_f1",
    bootstrap: int = 1000,
    seed: int = 0,
    group_bp: int = 0,
    substitution_rates: tuple[float, ...] = (0.01, 0.05, 0.1),
    shifts: tuple[int, ...] = (-50, -10, 10, 50),
    calibration_bins: int = 10,
    baseline: str | None = None,
    device: str = "auto",
    threads: int = 1,
) -> dict:
    """Evaluate a trained model on the held-out test split, with the threshold chosen on val.

    Parameters
    ----------
    model_path : str
        Checkpoint from ``peakcnn.training.train.train_model``.
    val_path, test_path : str
        Encoded split npz files.
    metrics_path : str
        Output ``metrics.json``: test and val metrics, test bootstrap CIs, calibration, groups
        and robustness.
    table_path : str
        Output ``metrics.tsv``: the headline test metrics with CIs, for the report.
    predictions_path : str
        Output ``predictions.tsv.gz``: one row per val and test window.
    roc_path, pr_path : str
        Output PNG plots.
    calibration_path, scores_path : str or None
        Output PNGs: reliability diagram; test score histograms by label.
    history_path, training_path : str or None
        ``history.tsv`` of training, and the training-curve PNG drawn from it.
    regions_path, groups_path : str or None
        ``split/regions.bed``, and the per-chromosome/per-block metrics TSV.
    fasta_path : str or None
        Genome FASTA the dataset was encoded from (needed for shifts).
    robustness_path, robustness_plot_path : str or None
        Robustness TSV and PNG (substitutions, and shifts when ``fasta_path`` is given).
    homology_path : str or None
        ``homology.tsv`` of ``peakcnn.data.homology``: test metrics without the windows that have a
        near-identical train window go to ``metrics["homology"]`` (and ``metrics.tsv``).
    threshold : {"max_f1", "youden"}, default "max_f1"
        How the decision threshold is chosen on validation (never on test).
    bootstrap : int, default 1000
        Bootstrap resamples for the test CIs (0 to skip).
    seed : int, default 0
        Seeds the bootstrap and the substitutions.
    group_bp : int, default 0
        Sub-block size for per-group metrics; 0 = whole split regions.
    substitution_rates : sequence of float, default (0.01, 0.05, 0.1)
    shifts : sequence of int, default (-50, -10, 10, 50)
    calibration_bins : int, default 10
    baseline : str or None, default None
        Not used here: the baseline model of ``peakcnn.evaluation.compare`` (same config section).
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
    tasks = [str(task) for task in tables["test"]["tasks"]]
    logits = {s: predict_logits(model, t["x"], target) for s, t in tables.items()}
    labels = {s: t["y"].astype(int) for s, t in tables.items()}
    for split in tables:
        if logits[split].shape != labels[split].shape:
            raise InputError(
                f"the model predicts {logits[split].shape[1]} task(s) but the {split} split has "
                f"{labels[split].shape[1]} ({tasks}); retrain it on this dataset",
                path=model_path,
            )
    fit = read_calibration(model_path)
    temperatures, biases = calibration_of(fit, len(tasks), model_path) or (None, None)
    raw = {s: calibrated_probabilities(logits[s], None) for s in tables}
    scores = {s: calibrated_probabilities(logits[s], temperatures, biases) for s in tables}
    by_task = {
        task: evaluate_task(
            {s: labels[s][:, t] for s in tables},
            {s: scores[s][:, t] for s in tables},
            threshold=threshold,
            bootstrap=bootstrap,
            seed=seed,
            calibration_bins=calibration_bins,
            raw_scores={s: raw[s][:, t] for s in tables},
            temperature=_task_fit(fit, temperatures, biases, t),
        )
        for t, task in enumerate(tasks)
    }
    cuts = np.array([by_task[task]["test"]["threshold"] for task in tasks])
    metrics = {"task": tasks[0] if len(tasks) == 1 else MACRO, "threshold_method": threshold}
    if len(tasks) == 1:
        metrics.update(by_task[tasks[0]])
    else:
        metrics.update(
            tasks=tasks,
            test=mean_of_dicts([own["test"] for own in by_task.values()]),
            val=mean_of_dicts([own["val"] for own in by_task.values()]),
            test_ci={},
            ci_note="headline values are macro means over tasks; CIs are per task (by_task)",
            calibration={
                **{
                    s: calibration(labels[s].ravel(), scores[s].ravel(), calibration_bins)
                    for s in ("test", "val")
                },
                "before": {
                    s: calibration(labels[s].ravel(), raw[s].ravel(), calibration_bins)
                    for s in ("test", "val")
                },
                **_pooled_fit(by_task),
            },
            by_task=by_task,
        )
    if len(tasks) == 1:
        curves = {s: (labels[s][:, 0], scores[s][:, 0]) for s in tables}
    else:
        curves = {
            f"{task} test": (labels["test"][:, t], scores["test"][:, t])
            for t, task in enumerate(tasks)
        }
    plot_curves(curves, "roc", roc_path)
    plot_curves(curves, "pr", pr_path)
    if calibration_path:
        plot_calibration(metrics["calibration"], calibration_path)
    if scores_path:
        plot_scores(
            labels["test"].ravel(),
            scores["test"].ravel(),
            float(cuts[0]) if len(tasks) == 1 else None,
            scores_path,
        )
    if history_path and training_path:
        plot_training(history_path, training_path)
    if regions_path and groups_path:
        test = tables["test"]
        groups = assign_groups(
            test["chrom"], test["start"], test["end"], read_regions(regions_path), "test", group_bp
        )
        group_table = stack_tasks(
            {
                task: group_metrics(groups, labels["test"][:, t], scores["test"][:, t], cuts[t])
                for t, task in enumerate(tasks)
            },
            ["group"],
        )
        _write_tsv(groups_path, group_table)
        metrics["groups"] = group_table.replace({np.nan: None}).to_dict(orient="records")
        metrics["group_bp"] = group_bp
    if robustness_path:
        table = robustness(
            model,
            tables["test"],
            labels["test"],
            scores["test"],
            cuts,
            target,
            substitution_rates=list(substitution_rates),
            shifts=list(shifts) if fasta_path else [],
            fasta_path=fasta_path,
            seed=seed,
            tasks=tasks,
            temperatures=temperatures,
            biases=biases,
        )
        _write_tsv(robustness_path, table)
        if robustness_plot_path:
            plot_robustness(table, robustness_plot_path)
        metrics["robustness"] = table.to_dict(orient="records")
    if homology_path:
        metrics["homology"] = homology_metrics(
            labels["test"],
            scores["test"],
            read_near_identical(homology_path, tables["test"]),
            cuts,
            tasks,
            bootstrap=bootstrap,
            seed=seed,
        )
    write_predictions(predictions_path, tables, scores, tasks, logits)
    write_metrics_table(table_path, metrics)
    write_json(metrics_path, metrics)
    test_ci = metrics["test_ci"]
    logger.info(
        "test: AUROC %.4f [%.4f, %.4f], AUPRC %.4f [%.4f, %.4f] (positive fraction %.3f), "
        "F1 %.4f, MCC %.4f at %.3f (chosen on val by %s); ECE %.4f -> %.4f (%s)",
        metrics["test"]["auroc"],
        *test_ci.get("auroc_ci95", (np.nan, np.nan)),
        metrics["test"]["auprc"],
        *test_ci.get("auprc_ci95", (np.nan, np.nan)),
        metrics["test"]["positive_fraction"],
        metrics["test"]["f1"],
        metrics["test"]["mcc"],
        metrics["test"]["threshold"],
        threshold,
        metrics["calibration"]["before"]["test"]["ece"],
        metrics["calibration"]["test"]["ece"],
        _temperature_text(metrics["calibration"]),
    )
    return metrics


def _task_fit(
    fit: dict | None, temperatures: np.ndarray | None, biases: np.ndarray | None, t: int
) -> dict:
    """Describe the temperature of task ``t`` and how it was fitted, for ``metrics.json``."""
    if fit is None or temperatures is None:
        return {
            "method": "none",
            "temperature": None,
            "bias": None,
            "status": "the checkpoint carries no temperature (trained before calibration); "
            "probabilities are the raw sigmoid of the logits; retrain to calibrate",
        }
    return {
        "method": fit.get("method", "temperature"),
        "temperature": float(temperatures[t]),
        "bias": float(biases[t]),
        "status": _task_value(fit, "status", t),
        "fitted_on": fit.get("fitted_on", "validation"),
        "val_nll_before": _task_value(fit, "nll_before", t),
        "val_nll_after": _task_value(fit, "nll_after", t),
    }


def _task_value(fit: dict, key: str, t: int):
    """Entry ``t`` of a per-task list of a calibration record (None when absent)."""
    values = fit.get(key)
    return values[t] if isinstance(values, list) and t < len(values) else None


def _pooled_fit(by_task: dict[str, dict]) -> dict:
    """Return method and per-task temperatures for the pooled (all-task) calibration entry."""
    fits = {task: own["calibration"] for task, own in by_task.items()}
    methods = {fit["method"] for fit in fits.values()}
    temperatures = {task: fit["temperature"] for task, fit in fits.items()}
    biases = {task: fit["bias"] for task, fit in fits.items()}
    return {
        "method": methods.pop() if len(methods) == 1 else sorted(methods),
        "temperature": None if None in temperatures.values() else temperatures,
        "bias": None if None in biases.values() else biases,
    }


def evaluate_task(
    labels: dict[str, np.ndarray],
    scores: dict[str, np.ndarray],
    *,
    threshold: str,
    bootstrap: int,
    seed: int,
    calibration_bins: int,
    raw_scores: dict[str, np.ndarray] | None = None,
    temperature: dict | None = None,
) -> dict:
    """Metrics of one task: threshold chosen on val, test and val metrics, test CIs.

    Parameters
    ----------
    labels, scores : dict of str to numpy.ndarray
        ``val`` and ``test`` labels (n,) and (calibrated) probabilities (n,) of the task.
    threshold : {"max_f1", "youden"}
    bootstrap, seed, calibration_bins : int
    raw_scores : dict of str to numpy.ndarray, optional
        The probabilities before temperature scaling (default: ``scores``).
    temperature : dict, optional
        The task's temperature and how it was fitted (``method``, ``temperature``, ...),
        stored in ``calibration`` (default: none).

    Returns
    -------
    dict
        ``test``, ``val``, ``test_ci``, ``bootstrap``, ``bootstrap_used``, ``ci_note``,
        ``metric_check`` and ``calibration``: the fit, ``test`` and ``val`` tables of the
        scores and ``before``: those of ``raw_scores``.
    """
    raw_scores = scores if raw_scores is None else raw_scores
    fit = temperature or {"method": "none", "temperature": None}
    for split in ("val", "test"):
        check_inputs(labels[split], scores[split], f"{split} split")
    cut = choose_threshold(labels["val"], scores["val"], threshold)
    test_ci = bootstrap_ci(labels["test"], scores["test"], bootstrap, seed, threshold=cut)
    return {
        "test": classification_metrics(labels["test"], scores["test"], cut),
        "val": classification_metrics(labels["val"], scores["val"], cut),
        "test_ci": {k: v for k, v in test_ci.items() if k.endswith("_ci95")},
        "bootstrap": bootstrap,
        "bootstrap_used": test_ci["bootstrap_used"],
        "ci_note": "percentile bootstrap over test windows; threshold held at its val value",
        "metric_check": f"AUROC/AUPRC/F1/MCC/accuracy/precision/recall agree with "
        f"scikit-learn {sklearn.__version__} within {METRIC_TOLERANCE:g}",
        "calibration": {
            **fit,
            **{s: calibration(labels[s], scores[s], calibration_bins) for s in ("test", "val")},
            "before": {
                s: calibration(labels[s], raw_scores[s], calibration_bins) for s in ("test", "val")
            },
        },
    }
