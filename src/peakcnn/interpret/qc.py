"""Joining attribution chunks, and the QC record of the whole attribution.

The QC summarises SHAP additivity per window, the cost, N handling, and the cross-checks of
projected SHAP against ISM importance and against saliency (gradient x input).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import version

import numpy as np

from peakcnn.errors import InputError
from peakcnn.interpret.ism import ism_importance, pearson_rows
from peakcnn.interpret.shap_values import N_HANDLING

PER_WINDOW = (
    "rank",
    "index",
    "x",
    "shap",
    "projected",
    "hypothetical",
    "saliency",
    "additivity_error",
    "output_delta",
    "chrom",
    "start",
    "end",
    "score",
)


def join_chunks(
    parts: list[tuple[dict[str, np.ndarray], dict]], tolerance: float
) -> tuple[dict, dict]:
    """Join chunk arrays in rank order, check them and summarise the QC of all chunks."""
    if not parts:
        raise InputError("no attribution chunks to gather")
    qcs = [qc for _, qc in parts]
    chunks = {qc["chunks"] for qc in qcs}
    selected = {qc["n_selected"] for qc in qcs}
    if (
        len(chunks) != 1
        or len(selected) != 1
        or sorted(qc["chunk"] for qc in qcs) != list(range(qcs[0]["chunks"]))
    ):
        raise InputError(
            f"attribution chunks do not fit together (chunks {sorted(chunks)}, selected "
            f"{sorted(selected)}, got chunk ids {sorted(qc['chunk'] for qc in qcs)}); re-run them"
        )
    joined = {
        key: np.concatenate([arrays[key] for arrays, _ in parts]) for key in PER_WINDOW + ("ism",)
    }
    joined["ism_rank"] = np.concatenate([arrays["ism_rank"] for arrays, _ in parts])
    order = np.argsort(joined["rank"], kind="stable")
    if not np.array_equal(joined["rank"][order], np.arange(selected.pop())):
        raise InputError("attribution chunks miss or repeat windows; re-run them")
    for key in PER_WINDOW:
        joined[key] = joined[key][order]
    ism_order = np.argsort(joined["ism_rank"], kind="stable")
    joined["ism"], joined["ism_rank"] = joined["ism"][ism_order], joined["ism_rank"][ism_order]
    joined["ism_start"], joined["ism_end"] = parts[0][0]["ism_start"], parts[0][0]["ism_end"]
    errors = joined["additivity_error"]
    enforced = all(qc["additivity_enforced"] for qc in qcs)
    if enforced and len(errors) and not (np.all(np.isfinite(errors)) and errors.max() <= tolerance):
        raise ValueError(
            f"SHAP additivity check failed on gather: max error {np.nanmax(errors):.3g} > "
            f"additivity_tolerance={tolerance:g}; re-run the chunks with the current model"
        )
    return joined, _summary_qc(joined, qcs, tolerance)


def _summary_qc(joined: dict[str, np.ndarray], qcs: list[dict], tolerance: float) -> dict:
    """QC of the whole attribution: SHAP additivity per window, cost, ISM and saliency checks."""
    first = min(qcs, key=lambda qc: qc["chunk"])
    pairs = sum(qc["pairs"] for qc in qcs)
    seconds = sum(qc["seconds"] for qc in qcs)
    errors = joined["additivity_error"]
    qc = {
        key: first[key]
        for key in (
            "task",
            "task_name",
            "n_windows_requested",
            "n_positives",
            "n_shuffles",
            "batch_pairs",
            "seed",
            "device",
            "threads",
            "ism_windows_requested",
        )
    }
    qc.update(
        explainer=first["explainer"],
        engine=first["engine"],
        hypothetical=first["hypothetical"],
        additivity_enforced=first["additivity_enforced"],
        shap_version=version("shap"),
        references="tangermeme.ersatz.dinucleotide_shuffle",
        chunks=first["chunks"],
        n_windows=len(errors),
        pairs=pairs,
        seconds=seconds,
        attributions_per_second=pairs / seconds if seconds > 0 else 0.0,
        additivity_max_error=float(errors.max(initial=0.0)),
        additivity_mean_error=float(errors.mean()) if len(errors) else 0.0,
        additivity_median_relative_error=_nanstat(
            np.median, errors / np.maximum(np.abs(joined["output_delta"]), 1e-6)
        ),
        additivity_errors=[float(e) for e in errors],
        additivity_tolerance=tolerance,
        additivity_passed=bool(
            not first["additivity_enforced"] or errors.max(initial=0) <= tolerance
        ),
        windows_with_n=sum(qc["windows_with_n"] for qc in qcs),
        n_columns=sum(qc["n_columns"] for qc in qcs),
        n_handling=N_HANDLING,
        unshuffled_windows=sum(qc["unshuffled_windows"] for qc in qcs),
        total_seconds=sum(qc["total_seconds"] for qc in qcs),
    )
    shap_track = joined["projected"].sum(axis=1)
    per_window = pearson_rows(shap_track, joined["saliency"].sum(axis=1))
    qc["saliency"] = {
        "method": "gradient x input of the logit",
        "seconds": sum(qc["saliency_seconds"] for qc in qcs),
        "pearson_with_shap_per_window": _floats(per_window),
        "pearson_with_shap_median": _nanstat(np.nanmedian, per_window),
    }
    qc["ism"] = _ism_qc(joined, shap_track, qcs)
    return qc


def _ism_qc(joined: dict[str, np.ndarray], shap_track: np.ndarray, qcs: list[dict]) -> dict:
    """Correlation of projected SHAP with ISM importance over the ISM stretch."""
    start, end = int(joined["ism_start"]), int(joined["ism_end"])
    ranks = joined["ism_rank"]
    x = joined["x"][ranks][:, :, start:end]
    importance = ism_importance(joined["ism"], x)
    shap_part = shap_track[ranks][:, start:end]
    per_window = pearson_rows(shap_part, importance)
    pooled = (
        float(np.corrcoef(shap_part.ravel(), importance.ravel())[0, 1])
        if importance.size > 1 and importance.std() > 0 and shap_part.std() > 0
        else None
    )
    return {
        "method": "logit change of every single-base substitution; importance of the "
        "observed base = mean logit loss over its 3 substitutions",
        "windows": len(ranks),
        "start": start,
        "end": end,
        "mutants": sum(qc["ism_mutants"] for qc in qcs),
        "seconds": sum(qc["ism_seconds"] for qc in qcs),
        "pearson_with_shap_per_window": _floats(per_window),
        "pearson_with_shap_median": _nanstat(np.nanmedian, per_window),
        "pearson_with_shap_min": _nanstat(np.nanmin, per_window),
        "pearson_with_shap_pooled": pooled,
    }


def _floats(values: np.ndarray) -> list:
    """Return floats for JSON, with None for NaN."""
    return [None if not np.isfinite(v) else float(v) for v in values]


def _nanstat(function: Callable, values: np.ndarray) -> float | None:
    """Return a NaN-ignoring statistic, or None when no finite value exists."""
    finite = np.asarray(values)[np.isfinite(values)]
    return float(function(finite)) if finite.size else None
