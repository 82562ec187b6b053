"""Choice of the reported model of a dataset on validation: models, seeds and seed ensembles.

Candidates are every trained run (a model trained with one seed) and, for a model trained
with several seeds, their ensemble: the mean of the runs' predicted probabilities. The
candidate with the best validation metric (``auroc`` or ``auprc``, the model-level summary of
``metrics.json``) is chosen; candidates within ``tolerance`` of the best count as tied, and the
simplest of the tied wins: the k-mer baseline before the CNNs, smaller CNNs before larger ones,
one run before an ensemble. Test predictions are never passed to the choice
(``choose_candidate`` sees validation values and simplicity only); test metrics are attached
afterwards, for the report: every candidate's test AUROC/AUPRC in the table, and the chosen
candidate's test metrics with bootstrap CIs at a threshold chosen on validation, plus its paired
difference to the baseline on test.

A validation or test split with fewer than ``min_positives`` positives or ``min_negatives``
negatives gets a warning (logged, and written in ``best.json``): on a small validation split
the choice is noisy, on a small test split so are the reported numbers.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from peakcnn.evaluation.candidates import (
    Candidate,
    Run,
    candidate_value,
    ensemble_test_metrics,
    ensembles,
    load_runs,
)
from peakcnn.evaluation.compare import paired_bootstrap
from peakcnn.evaluation.metrics import bootstrap_ci
from peakcnn.evaluation.predictions import pivot_tasks
from peakcnn.io import write_json, write_tsv

logger = logging.getLogger(__name__)

#: Validation metrics a choice can be made on (keys of ``metrics.json``'s ``val``).
SELECT_METRICS = ("auroc", "auprc")


def split_counts(labels: np.ndarray) -> dict:
    """Windows, positives and negatives of a split (with several tasks: the fewest of any)."""
    labels = np.asarray(labels).reshape(len(labels), -1)
    positives = (labels == 1).sum(axis=0)
    return {
        "n": int(len(labels)),
        "positives": int(positives.min()),
        "negatives": int((len(labels) - positives).min()),
    }


def small_split_warnings(counts: dict[str, dict], min_positives: int, min_negatives: int) -> list:
    """One warning per split with fewer positives or negatives than the minimums."""
    found = []
    for split, count in counts.items():
        if count["positives"] < min_positives or count["negatives"] < min_negatives:
            consequence = (
                "its AUROC/AUPRC are noisy, and so is the choice of model made on them"
                if split == "val"
                else "the test metrics reported on it are noisy (see their CIs)"
            )
            found.append(
                f"small {split} split: {count['positives']} positives and {count['negatives']} "
                f"negatives (fewer than {min_positives} positives or {min_negatives} negatives): "
                + consequence
            )
    return found


def choose_candidate(values: dict[str, float], simplicity: dict[str, tuple], tolerance: float):
    """Name of the chosen candidate and the names tied with it.

    Parameters
    ----------
    values : dict of str to float
        Validation metric per candidate (higher is better), in candidate order.
    simplicity : dict of str to tuple
        Sort key per candidate, smaller = simpler.
    tolerance : float
        Candidates within this much of the best value are tied.

    Returns
    -------
    chosen : str
    tied : list of str
        The tied candidates, simplest first.
    """
    if not values:
        raise ValueError("no candidates to choose from")
    finite = {name: value for name, value in values.items() if np.isfinite(value)}
    if not finite:
        raise ValueError("no candidate has a finite validation metric")
    best = max(finite.values())
    order = list(values)
    tied = [name for name, value in finite.items() if value >= best - tolerance - 1e-12]
    tied.sort(key=lambda name: (simplicity[name], -finite[name], order.index(name)))
    return tied[0], tied


def select_model(
    runs: list[Run],
    best_path: str,
    table_path: str,
    *,
    metric: str = "auroc",
    tolerance: float = 0.0,
    ensemble: bool = True,
    min_positives: int = 200,
    min_negatives: int = 200,
    threshold: str = "max_f1",
    bootstrap: int = 1000,
    seed: int = 0,
) -> dict:
    """Choose the reported model of a dataset on validation; write ``best.json`` and a table.

    Parameters
    ----------
    runs : list of Run
        The evaluated runs of one dataset (every model, every seed).
    best_path : str
        Output ``best.json``: the chosen candidate, why, its test metrics with CIs, its paired
        difference to the baseline on test, the split sizes and any warnings.
    table_path : str
        Output TSV: one row per candidate, validation metrics (the basis of the choice) and
        test AUROC/AUPRC (for the record only).
    metric : {"auroc", "auprc"}, default "auroc"
        Validation metric the choice is made on.
    tolerance : float, default 0.0
        Candidates within this much of the best validation value are tied; the simplest wins.
    ensemble : bool, default True
        Add the mean-probability ensemble of each model trained with several seeds.
    min_positives, min_negatives : int, default 200
        A val or test split with fewer positives or negatives gets a warning.
    threshold : {"max_f1", "youden"}, default "max_f1"
        How the ensemble's decision threshold is chosen on validation (a run's comes from its
        ``metrics.json``, chosen the same way).
    bootstrap : int, default 1000
        Resamples for the CIs of an ensemble's test metrics, the validation AUROC CIs of the
        table and the paired difference to the baseline (0 = none).
    seed : int, default 0

    Returns
    -------
    dict
        The content of ``best.json``.
    """
    candidates, labels = gather_candidates(runs, metric, ensemble)
    counts = {split: split_counts(labels[split]) for split in ("val", "test")}
    warnings = small_split_warnings(counts, min_positives, min_negatives)
    for warning in warnings:
        logger.warning(warning)

    # The choice: validation values and simplicity only.
    values = score_candidates(candidates, labels["val"], metric)
    chosen_name, tied = choose_candidate(
        values, {c.name: c.simplicity for c in candidates}, tolerance
    )
    chosen = next(c for c in candidates if c.name == chosen_name)
    baseline = min(candidates, key=lambda c: (c.simplicity, candidates.index(c)))
    logger.info(
        "chose %s on val %s %.4f (%d candidates; tied within %g: %s)",
        chosen_name,
        metric,
        values[chosen_name],
        len(candidates),
        tolerance,
        ", ".join(tied),
    )

    # For the record, after the choice: test metrics.
    table = candidate_table(candidates, labels, chosen_name, tied, bootstrap=bootstrap, seed=seed)
    write_tsv(table_path, table)
    result = best_record(
        chosen,
        values,
        tied,
        table,
        test=chosen_test_metrics(
            chosen, labels, threshold=threshold, bootstrap=bootstrap, seed=seed
        ),
        versus=versus_baseline(chosen, baseline, values, labels["test"], bootstrap, seed),
        counts=counts,
        warnings=warnings,
        settings={
            "metric": metric,
            "tolerance": tolerance,
            "threshold": threshold,
            "min_positives": min_positives,
            "min_negatives": min_negatives,
        },
    )
    write_json(best_path, result)
    versus = result["versus_baseline"]
    logger.info(
        "%s: test AUROC %.4f [%s] (baseline %s: delta %+.4f)",
        chosen_name,
        result["test"]["auroc"],
        ", ".join(f"{v:.4f}" for v in result["test_ci"].get("auroc_ci95", [])),
        versus["baseline"],
        versus.get("test_auroc_delta", 0.0),
    )
    return result


def gather_candidates(
    runs: list[Run], metric: str, ensemble: bool
) -> tuple[list[Candidate], dict[str, np.ndarray]]:
    """Load the runs (and add their seed ensembles); return them and the val/test labels."""
    if metric not in SELECT_METRICS:
        raise ValueError(f"select.metric {metric!r} must be one of {list(SELECT_METRICS)}")
    if not runs:
        raise ValueError("no runs to choose from")
    candidates, reference = load_runs(runs)
    if ensemble:
        candidates += ensembles(candidates)
    labels = {split: pivot_tasks(reference[split], "label") for split in ("val", "test")}
    return candidates, labels


def score_candidates(candidates: list[Candidate], labels: np.ndarray, metric: str) -> dict:
    """Score each candidate on validation ``metric``, in candidate order (the choice's basis).

    Parameters
    ----------
    candidates : list of Candidate
    labels : numpy.ndarray of {0, 1}, shape (n, tasks)
        Validation labels (never test: the choice sees validation only).
    metric : {"auroc", "auprc"}

    Returns
    -------
    dict of str to float
    """
    return {c.name: candidate_value(c, labels, "val", metric) for c in candidates}


def candidate_table(
    candidates: list[Candidate],
    labels: dict[str, np.ndarray],
    chosen: str,
    tied: list[str],
    *,
    bootstrap: int,
    seed: int,
) -> pd.DataFrame:
    """One row per candidate: validation AUROC (with a CI for one task), AUPRC, then test.

    The test columns are for the record only; the choice is already made.
    """
    single = labels["val"].shape[1] == 1
    rows = []
    for candidate in candidates:
        row = {
            "candidate": candidate.name,
            "model": candidate.model,
            "kind": candidate.kind,
            "seeds": ",".join(map(str, candidate.seeds)),
            "chosen": candidate.name == chosen,
            "tied": candidate.name in tied,
        }
        for split in ("val", "test"):
            for key in SELECT_METRICS:
                row[f"{split}_{key}"] = candidate_value(candidate, labels[split], split, key)
        val_ci = (
            bootstrap_ci(labels["val"][:, 0], candidate.scores["val"][:, 0], bootstrap, seed)
            if single
            else {}  # several tasks: the per-task CIs are in each run's metrics.json
        )
        low, high = val_ci.get("auroc_ci95", (np.nan, np.nan))
        row["val_auroc_ci95_low"], row["val_auroc_ci95_high"] = low, high
        rows.append(row)
    ordered = ["candidate", "model", "kind", "seeds", "chosen", "tied", "val_auroc"]
    ordered += [
        "val_auroc_ci95_low",
        "val_auroc_ci95_high",
        "val_auprc",
        "test_auroc",
        "test_auprc",
    ]
    return pd.DataFrame(rows)[ordered]


def chosen_test_metrics(
    chosen: Candidate, labels: dict[str, np.ndarray], *, threshold: str, bootstrap: int, seed: int
) -> tuple[dict, dict, str]:
    """Test metrics, their CIs and where they come from, for the chosen candidate.

    A run's are those of its ``metrics.json``; an ensemble's are computed at thresholds
    chosen on validation (``metrics_at_val_threshold``).
    """
    if chosen.metrics is not None:
        test_ci = chosen.metrics.get("test_ci", {})
        return chosen.metrics["test"], test_ci, f"metrics.json of {chosen.name}"
    test, test_ci = ensemble_test_metrics(
        labels, chosen.scores, threshold=threshold, bootstrap=bootstrap, seed=seed
    )
    return (
        test,
        test_ci,
        "mean probability of the members (stored predictions, 6 significant digits)",
    )


def versus_baseline(
    chosen: Candidate,
    baseline: Candidate,
    values: dict[str, float],
    test_labels: np.ndarray,
    bootstrap: int,
    seed: int,
) -> dict:
    """Compare the chosen candidate with the simplest: val difference, paired test bootstrap."""
    versus = {"baseline": baseline.name, "val_delta": values[chosen.name] - values[baseline.name]}
    if chosen is baseline:
        versus.update(test_auroc_delta=0.0, test_auprc_delta=0.0, worse_on_test=False)
        return versus
    delta = paired_bootstrap(
        test_labels, baseline.scores["test"], chosen.scores["test"], bootstrap, seed
    )
    versus.update({f"test_{k}": v for k, v in delta.items()})
    high = delta.get("auroc_delta_ci95", [np.nan, np.nan])[1]
    versus["worse_on_test"] = bool(np.isfinite(high) and high < 0)
    return versus


def best_record(
    chosen: Candidate,
    values: dict[str, float],
    tied: list[str],
    table: pd.DataFrame,
    *,
    test: tuple[dict, dict, str],
    versus: dict,
    counts: dict[str, dict],
    warnings: list[str],
    settings: dict,
) -> dict:
    """Build ``best.json``: the choice, why, its test metrics, the splits and warnings.

    ``test`` is ``chosen_test_metrics``'s (metrics, CIs, source); ``settings`` holds
    ``metric``, ``tolerance``, ``threshold``, ``min_positives`` and ``min_negatives``.
    """
    metric = settings["metric"]
    low_pos, low_neg = settings["min_positives"], settings["min_negatives"]
    return {
        "chosen": chosen.name,
        "model": chosen.model,
        "kind": chosen.kind,
        "members": chosen.members,
        "seeds": chosen.seeds,
        "chosen_on": f"val {metric}",
        "val": {metric: values[chosen.name]},
        "tolerance": settings["tolerance"],
        "tied": tied,
        "rule": "best validation value; candidates within the tolerance are tied and the "
        "simplest wins (k-mer baseline < basset < basset_paper < hybrid; one run < ensemble); "
        "test metrics are read only after the choice",
        "candidates": table.replace({np.nan: None}).to_dict(orient="records"),
        "threshold_method": settings["threshold"],
        "test": test[0],
        "test_ci": test[1],
        "test_source": test[2],
        "ci_note": "percentile bootstrap over test windows; threshold chosen on val",
        "versus_baseline": versus,
        "splits": counts,
        "min_positives": low_pos,
        "min_negatives": low_neg,
        "small_splits": [
            split
            for split, count in counts.items()
            if count["positives"] < low_pos or count["negatives"] < low_neg
        ],
        "warnings": warnings,
    }
