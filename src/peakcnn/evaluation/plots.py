"""The evaluation's figures, each a PNG written through ``peakcnn.io.save_png``.

ROC and precision-recall curves, the reliability diagram, test score histograms, training
curves, robustness, and the comparison of models.
"""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn import metrics as skm  # noqa: E402

from peakcnn.evaluation.metrics import auprc, auroc  # noqa: E402
from peakcnn.evaluation.multitask import summary_rows  # noqa: E402
from peakcnn.evaluation.predictions import PREDICTION_SPLITS  # noqa: E402
from peakcnn.io import save_png  # noqa: E402


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
    save_png(figure, path)


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
        title=f"Calibration ({temperature_text(tables)})",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    axis.legend(loc="upper left", fontsize=7)
    save_png(figure, path)


def temperature_text(tables: dict) -> str:
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
    save_png(figure, path)


def plot_training(history_path: str, report_path: str, path: str) -> None:
    """Training curves from ``history.tsv``: losses, then validation AUROC/AUPRC per epoch.

    The kept epoch (dotted line) is ``best_epoch`` of ``train.json`` (``report_path``): the
    epoch whose weights were saved, by whichever metric ``train.monitor`` names.
    """
    history = pd.read_csv(history_path, sep="\t")
    with open(report_path) as handle:
        best = json.load(handle).get("best_epoch")
    figure, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for column in ("train_loss", "val_loss"):
        if column in history:
            axes[0].plot(history["epoch"], history[column], marker=".", label=column)
    for column in ("val_auroc", "val_auprc"):
        if column in history:
            axes[1].plot(history["epoch"], history[column], marker=".", label=column)
    if best is not None and len(history):
        for axis in axes:
            axis.axvline(best, color="grey", linestyle=":", label=f"kept epoch {best}")
    axes[0].set(xlabel="epoch", ylabel="loss", title="Loss")
    axes[1].set(xlabel="epoch", ylabel="metric", title="Validation")
    for axis in axes:
        axis.legend(fontsize=8)
    save_png(figure, path)


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
    save_png(figure, path)


def plot_comparison(table: pd.DataFrame, path: str) -> None:
    """Test AUROC and AUPRC per model with their 95% bootstrap CIs."""
    figure, axes = plt.subplots(1, 2, figsize=(9, 0.6 * len(table) + 1.6), sharey=True)
    positions = np.arange(len(table))
    for axis, key in zip(axes, ("auroc", "auprc"), strict=True):
        low = (table[key] - table[f"{key}_ci95_low"]).fillna(0.0)
        high = (table[f"{key}_ci95_high"] - table[key]).fillna(0.0)
        axis.errorbar(table[key], positions, xerr=[low, high], fmt="o", capsize=3)
        axis.set(xlabel=f"test {key.upper()} (95% CI)", title=key.upper())
    axes[0].set_yticks(positions, table["model"])
    axes[0].invert_yaxis()
    save_png(figure, path)
