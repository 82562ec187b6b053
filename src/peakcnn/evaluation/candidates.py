"""The candidates of the model choice: each evaluated run, and each seed ensemble.

A run is one model trained with one seed, read back from its ``metrics.json`` and
``predictions.tsv.gz`` (checked against each other, and every run against the same windows).
An ensemble is the mean of the predicted probabilities of a model's runs; its metrics are
computed here, at thresholds chosen on validation.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from peakcnn.evaluation.metrics import auprc, auroc, check_inputs, metrics_at_val_threshold
from peakcnn.evaluation.multitask import macro_mean, mean_of_dicts
from peakcnn.evaluation.predictions import (
    check_same_windows,
    check_stored_metrics,
    pivot_tasks,
    read_predictions,
)
from peakcnn.models.catalog import simplicity_rank

_METRIC_FUNCTIONS = {"auroc": auroc, "auprc": auprc}


@dataclass
class Run:
    """One trained and evaluated model: a model name, a seed and its evaluation files."""

    name: str
    model: str
    seed: int
    metrics_path: str
    predictions_path: str


@dataclass
class Candidate:
    """A run or a seed ensemble, with its scores per split (probabilities)."""

    name: str
    model: str
    kind: str  # "run" or "ensemble"
    members: list[str]
    seeds: list[int]
    scores: dict[str, np.ndarray] = field(repr=False)
    metrics: dict | None = field(default=None, repr=False)  # metrics.json of a run

    @property
    def simplicity(self) -> tuple[int, int]:
        """Sort key: the model's rank in the catalog's simplicity order, then the member count."""
        return simplicity_rank(self.model), len(self.members)


def summary_metric(metrics: dict, split: str, metric: str) -> float:
    """Read the model-level value of ``metric`` on ``split`` from a ``metrics.json``."""
    return float(metrics[split][metric])


def score_metric(labels: np.ndarray, scores: np.ndarray, metric: str) -> float:
    """``auroc`` or ``auprc`` of scores against 0/1 labels; (n, T): the macro mean over tasks."""
    labels, scores = np.asarray(labels), np.asarray(scores)
    labels, scores = labels.reshape(len(labels), -1), scores.reshape(len(scores), -1)
    for t in range(labels.shape[1]):
        check_inputs(labels[:, t], scores[:, t], f"{metric} input")
    return macro_mean(_METRIC_FUNCTIONS[metric], labels, scores)


def load_runs(runs: list[Run]) -> tuple[list[Candidate], dict[str, pd.DataFrame]]:
    """Candidates of the single runs, and the reference windows (val, test) they all share."""
    candidates, reference = [], None
    for run in runs:
        with open(run.metrics_path) as handle:
            metrics = json.load(handle)
        parts = read_predictions(run.predictions_path)
        reference = reference or parts
        for split, rows in parts.items():
            names = (f"runs {runs[0].name!r}", repr(run.name))
            check_same_windows(rows, reference[split], split, names, run.predictions_path)
        scores = {
            split: pivot_tasks(rows, "score").astype(np.float64) for split, rows in parts.items()
        }
        check_stored_metrics(metrics, parts, run.metrics_path)
        candidates.append(
            Candidate(run.name, run.model, "run", [run.name], [run.seed], scores, metrics)
        )
    return candidates, reference


def ensemble_test_metrics(
    labels: dict[str, np.ndarray],
    scores: dict[str, np.ndarray],
    *,
    threshold: str,
    bootstrap: int,
    seed: int,
) -> tuple[dict, dict]:
    """Test metrics of an ensemble at thresholds chosen on val; CIs for one task only.

    With several tasks, each task gets its own validation threshold and the metrics are
    macro means over tasks.
    """
    single = labels["val"].shape[1] == 1
    per_task = [
        metrics_at_val_threshold(
            {split: values[:, t] for split, values in labels.items()},
            {split: values[:, t] for split, values in scores.items()},
            threshold,
            bootstrap=bootstrap,
            seed=seed,
            with_ci=single,
        )
        for t in range(labels["val"].shape[1])
    ]
    if single:
        return per_task[0]["test"], per_task[0]["test_ci"]
    return mean_of_dicts([chosen["test"] for chosen in per_task]), {}


def ensemble_group(run_name: str) -> str:
    """Return the group of runs a seed ensemble joins: the name less its ``-seed<N>`` tag.

    ``basset`` and ``basset-seed1`` form ``basset-ensemble``; a fine-tuned model's runs from
    scratch (``basset-scratch``, ``basset-scratch-seed1``) form their own.
    """
    return re.sub(r"-seed\d+$", "", run_name)


def ensembles(candidates: list[Candidate]) -> list[Candidate]:
    """One mean-probability ensemble per group of runs (``ensemble_group``) of two or more."""
    groups: dict[str, list[Candidate]] = {}
    for candidate in candidates:
        groups.setdefault(ensemble_group(candidate.name), []).append(candidate)
    found = []
    for group, members in groups.items():
        if len(members) < 2:
            continue
        scores = {
            split: np.mean([m.scores[split] for m in members], axis=0) for split in ("val", "test")
        }
        found.append(
            Candidate(
                f"{group}-ensemble",
                members[0].model,
                "ensemble",
                [m.name for m in members],
                [s for m in members for s in m.seeds],
                scores,
            )
        )
    return found


def candidate_value(candidate: Candidate, labels: np.ndarray, split: str, metric: str) -> float:
    """Return ``metric`` on ``split``: a run's from its ``metrics.json``, else computed."""
    if candidate.metrics is not None:
        return summary_metric(candidate.metrics, split, metric)
    return score_metric(labels, candidate.scores[split], metric)
