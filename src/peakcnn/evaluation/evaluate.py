"""Held-out evaluation of one model: the orchestration of ``evaluate_model``.

- The decision threshold is chosen on validation (max F1 or Youden's J) and only applied to
  test (``peakcnn.evaluation.metrics``); the test CIs hold that threshold fixed.
- Scores are calibrated probabilities ``sigmoid(logit / T + b)`` with the per-task
  calibration stored in the checkpoint (``peakcnn.models.calibration``; none for a checkpoint
  without one): the threshold, every metric and ``predictions.tsv.gz`` use them.
  ``metrics.json`` reports ``T``, ``b`` and the calibration (ECE, Brier, reliability bins)
  before and after.
- Per-group metrics (``groups``), robustness to substitutions and shifts (``robustness``) and
  the metrics without near-identical-to-train windows (``near_identical``) are optional parts.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import sklearn

from peakcnn.devices import resolve_device, set_threads
from peakcnn.evaluation.config import EvalConfig, EvalInputs, EvalOutputs
from peakcnn.evaluation.groups import assign_groups, group_metrics, read_regions
from peakcnn.evaluation.metrics import (
    METRIC_TOLERANCE,
    calibration,
    check_inputs,
    classification_metrics,
    metrics_at_val_threshold,
)
from peakcnn.evaluation.multitask import MACRO, mean_of_dicts, stack_tasks
from peakcnn.evaluation.near_identical import homology_metrics, homology_rows, read_near_identical
from peakcnn.evaluation.plots import (
    plot_calibration,
    plot_curves,
    plot_robustness,
    plot_scores,
    plot_training,
    temperature_text,
)
from peakcnn.evaluation.predictions import write_predictions
from peakcnn.evaluation.robustness import robustness
from peakcnn.evaluation.scoring import Scored, score_splits
from peakcnn.io import write_json, write_tsv
from peakcnn.models.checkpoint import load_checkpoint

logger = logging.getLogger(__name__)


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
    write_tsv(path, table)


def evaluate_model(
    inputs: EvalInputs, outputs: EvalOutputs, config: EvalConfig | None = None, *, threads: int = 1
) -> dict:
    """Evaluate a trained model on the held-out test split, with the threshold chosen on val.

    Parameters
    ----------
    inputs : EvalInputs
    outputs : EvalOutputs
    config : EvalConfig, optional
        The settings (default: ``EvalConfig()``).
    threads : int, default 1

    Returns
    -------
    dict
        The metrics (the content of ``metrics.json``).
    """
    config = config or EvalConfig()
    set_threads(threads)
    target = resolve_device(config.device)
    model = load_checkpoint(inputs.model, target)
    scored = score_splits(model, inputs, target)
    metrics = headline_metrics(scored, config)
    cuts = np.array([metrics_of(metrics, task)["test"]["threshold"] for task in scored.tasks])
    write_plots(scored, metrics, cuts, inputs, outputs)
    if inputs.regions and outputs.groups:
        metrics.update(group_section(scored, cuts, inputs.regions, outputs.groups, config))
    if outputs.robustness:
        table = robustness_section(model, scored, cuts, inputs.fasta, config, target)
        write_tsv(outputs.robustness, table)
        if outputs.robustness_plot:
            plot_robustness(table, outputs.robustness_plot)
        metrics["robustness"] = table.to_dict(orient="records")
    if inputs.homology:
        metrics["homology"] = homology_metrics(
            scored.labels["test"],
            scored.scores["test"],
            read_near_identical(inputs.homology, scored.tables["test"]),
            cuts,
            scored.tasks,
            bootstrap=config.bootstrap,
            seed=config.seed,
        )
    write_predictions(
        outputs.predictions, scored.tables, scored.scores, scored.tasks, scored.logits
    )
    write_metrics_table(outputs.table, metrics)
    write_json(outputs.metrics, metrics)
    log_headline(metrics)
    return metrics


def headline_metrics(scored: Scored, config: EvalConfig) -> dict:
    """Per-task metrics, and the headline: the one task's, or macro means over tasks."""
    by_task = {
        task: evaluate_task(
            scored.task(scored.labels, t),
            scored.task(scored.scores, t),
            threshold=config.threshold,
            bootstrap=config.bootstrap,
            seed=config.seed,
            calibration_bins=config.calibration_bins,
            raw_scores=scored.task(scored.raw, t),
            temperature=_task_fit(scored.fit, scored.temperatures, scored.biases, t),
        )
        for t, task in enumerate(scored.tasks)
    }
    tasks = scored.tasks
    metrics = {"task": tasks[0] if len(tasks) == 1 else MACRO, "threshold_method": config.threshold}
    if len(tasks) == 1:
        metrics.update(by_task[tasks[0]])
        return metrics
    labels, bins = scored.labels, config.calibration_bins
    metrics.update(
        tasks=tasks,
        test=mean_of_dicts([own["test"] for own in by_task.values()]),
        val=mean_of_dicts([own["val"] for own in by_task.values()]),
        test_ci={},
        ci_note="headline values are macro means over tasks; CIs are per task (by_task)",
        calibration={
            **{
                s: calibration(labels[s].ravel(), scored.scores[s].ravel(), bins)
                for s in ("test", "val")
            },
            "before": {
                s: calibration(labels[s].ravel(), scored.raw[s].ravel(), bins)
                for s in ("test", "val")
            },
            **_pooled_fit(by_task),
        },
        by_task=by_task,
    )
    return metrics


def metrics_of(metrics: dict, task: str) -> dict:
    """Return one task's metrics: ``by_task[task]`` with several tasks, else the headline."""
    return metrics["by_task"][task] if "by_task" in metrics else metrics


def write_plots(
    scored: Scored, metrics: dict, cuts: np.ndarray, inputs: EvalInputs, outputs: EvalOutputs
) -> None:
    """ROC and PR curves (val and test, or test per task), calibration, scores, training."""
    labels, scores, tasks = scored.labels, scored.scores, scored.tasks
    if len(tasks) == 1:
        curves = {s: (labels[s][:, 0], scores[s][:, 0]) for s in scored.tables}
    else:
        curves = {
            f"{task} test": (labels["test"][:, t], scores["test"][:, t])
            for t, task in enumerate(tasks)
        }
    plot_curves(curves, "roc", outputs.roc)
    plot_curves(curves, "pr", outputs.pr)
    if outputs.calibration:
        plot_calibration(metrics["calibration"], outputs.calibration)
    if outputs.scores:
        plot_scores(
            labels["test"].ravel(),
            scores["test"].ravel(),
            float(cuts[0]) if len(tasks) == 1 else None,
            outputs.scores,
        )
    if inputs.history and inputs.train_report and outputs.training:
        plot_training(inputs.history, inputs.train_report, outputs.training)


def group_section(
    scored: Scored, cuts: np.ndarray, regions_path: str, groups_path: str, config: EvalConfig
) -> dict:
    """Write the per-group metrics TSV; return its rows and ``group_bp`` for ``metrics.json``."""
    test = scored.tables["test"]
    groups = assign_groups(
        test["chrom"],
        test["start"],
        test["end"],
        read_regions(regions_path),
        "test",
        config.group_bp,
    )
    table = stack_tasks(
        {
            task: group_metrics(
                groups, scored.labels["test"][:, t], scored.scores["test"][:, t], cuts[t]
            )
            for t, task in enumerate(scored.tasks)
        },
        ["group"],
    )
    write_tsv(groups_path, table)
    return {
        "groups": table.replace({np.nan: None}).to_dict(orient="records"),
        "group_bp": config.group_bp,
    }


def robustness_section(
    model, scored: Scored, cuts: np.ndarray, fasta_path: str | None, config: EvalConfig, device
):
    """Compute the robustness table of the test split (shifts only with the genome FASTA)."""
    return robustness(
        model,
        scored.tables["test"],
        scored.labels["test"],
        scored.scores["test"],
        cuts,
        device,
        substitution_rates=list(config.substitution_rates),
        shifts=list(config.shifts) if fasta_path else [],
        fasta_path=fasta_path,
        seed=config.seed,
        tasks=scored.tasks,
        temperatures=scored.temperatures,
        biases=scored.biases,
    )


def log_headline(metrics: dict) -> None:
    """Log the headline test metrics with CIs, the threshold and the calibration."""
    test, test_ci = metrics["test"], metrics["test_ci"]
    logger.info(
        "test: AUROC %.4f [%.4f, %.4f], AUPRC %.4f [%.4f, %.4f] (positive fraction %.3f), "
        "F1 %.4f, MCC %.4f at %.3f (chosen on val by %s); ECE %.4f -> %.4f (%s)",
        test["auroc"],
        *test_ci.get("auroc_ci95", (np.nan, np.nan)),
        test["auprc"],
        *test_ci.get("auprc_ci95", (np.nan, np.nan)),
        test["positive_fraction"],
        test["f1"],
        test["mcc"],
        test["threshold"],
        metrics["threshold_method"],
        metrics["calibration"]["before"]["test"]["ece"],
        metrics["calibration"]["test"]["ece"],
        temperature_text(metrics["calibration"]),
    )


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
    chosen = metrics_at_val_threshold(labels, scores, threshold, bootstrap=bootstrap, seed=seed)
    return {
        "test": chosen["test"],
        "val": classification_metrics(labels["val"], scores["val"], chosen["threshold"]),
        "test_ci": chosen["test_ci"],
        "bootstrap": bootstrap,
        "bootstrap_used": chosen["bootstrap_used"],
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
