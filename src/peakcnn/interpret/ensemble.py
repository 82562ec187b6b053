"""Attributions averaged over an ensemble of models (the fold models of ``split.folds``).

As ChromBPNet does for its folds: one set of windows is explained by every member with the
attribution stage's own DeepSHAP (``peakcnn.interpret.explain.explain_chunk``, additivity
checked per member), and the mean over members of the SHAP values, hypothetical
contributions, projected SHAP, saliency and ISM is written in the layout of one model's
attribution folder (``shap.npz``, ``modisco/ohe.npz``, ``modisco/hypothetical.npz``,
``logos.png``, ``qc.json``), so TF-MoDISco (``modisco motifs``) runs on it unchanged.

The windows are the ``n_windows`` positives of the task with the highest ensemble score (the
mean over members of ``sigmoid(logit)``); ``score`` in ``shap.npz`` is that mean. Attributions
are linear in the explained output, so the mean SHAP values add up to the mean of the
members' ``f(x) - mean f(refs)`` (``output_delta``), within the mean of their errors: the
ensemble's additivity error is recorded, and each member's is in ``qc.json``'s ``members``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace

import numpy as np
import torch

from peakcnn.apply.ensemble import check_members, ensemble_members
from peakcnn.apply.loading import file_sha256, load_model, resolve_model_path
from peakcnn.data.splitfile import load_split
from peakcnn.devices import resolve_device, set_seed, set_threads
from peakcnn.errors import InputError
from peakcnn.interpret.attribute import ChunkOptions, _check_options, _write_attribution
from peakcnn.interpret.explain import explain_chunk
from peakcnn.interpret.qc import _summary_qc, join_chunks
from peakcnn.interpret.shap_values import resolve_explainer, score_windows
from peakcnn.interpret.targets import positive_rows, select_windows, task_index
from peakcnn.models.checkpoint import load_checkpoint
from peakcnn.models.inference import sigmoid

logger = logging.getLogger(__name__)

#: Arrays of ``shap.npz`` averaged over members (the rest are the windows' own).
AVERAGED = ("shap", "projected", "hypothetical", "saliency", "output_delta", "ism")
#: QC counts and timings summed over members.
SUMMED = ("pairs", "seconds", "saliency_seconds", "ism_seconds", "ism_mutants", "total_seconds")


def member_paths(paths: list[str]) -> list[str]:
    """Return the ``model.pt`` files of the members named by ``paths`` (as ``predict`` takes them).

    Raises ``InputError`` unless they agree on the window length and the tasks.
    """
    members, _ = ensemble_members(paths)
    files = [str(resolve_model_path(str(member))) for member in members]
    check_members([load_model(path) for path in files])  # one window length, the same tasks
    return files


def _ensemble_windows(
    models: list, data: dict, data_path: str, task: int, n_windows: int, device: torch.device
) -> tuple[np.ndarray, np.ndarray, int]:
    """Top positives by the mean member ``sigmoid(logit)``: rows, member logits (M, n), count."""
    positives = positive_rows(data, task, data_path)
    logits = np.stack([score_windows(m, data["x"], task, device, rows=positives) for m in models])
    score = np.full(len(data["y"]), -np.inf)
    score[positives] = sigmoid(logits).mean(axis=0)
    rows = select_windows(score, data["y"][:, task], n_windows)
    logger.info(
        "explaining the %d top-scoring of %d positive windows of task %d (%s) with %d models",
        len(rows),
        len(positives),
        task,
        data["tasks"][task],
        len(models),
    )
    return rows, logits[:, np.searchsorted(positives, rows)], len(positives)


def _explain_members(paths, models, data, rows, logits, base: dict, device, opts) -> list:
    """Each member's joined arrays, QC and QC summary (additivity checked per member)."""
    ranks = np.arange(len(rows), dtype=np.int64)
    explained = []
    for path, model, member_logits in zip(paths, models, logits, strict=True):
        started = time.perf_counter()
        set_seed(opts.seed)
        arrays, qc = explain_chunk(
            model, data, rows, ranks, member_logits, base["task"], device, opts
        )
        qc.update(base, chunk=0, chunks=1, n_selected=len(rows))
        qc["total_seconds"] = time.perf_counter() - started
        joined, summary = join_chunks([(arrays, qc)], opts.additivity_tolerance)
        logger.info(
            "member %s: SHAP additivity max %.3g (passed: %s)",
            path,
            summary["additivity_max_error"],
            summary["additivity_passed"],
        )
        explained.append((joined, qc, summary))
    return explained


def _average(explained: list, logits: np.ndarray) -> dict[str, np.ndarray]:
    """Return the first member's arrays with ``AVERAGED`` replaced by means over members."""
    average = dict(explained[0][0])
    for key in AVERAGED:
        mean = np.mean([joined[key].astype(np.float64) for joined, _, _ in explained], axis=0)
        average[key] = mean.astype(explained[0][0][key].dtype)
    average["score"] = sigmoid(logits).mean(axis=0).astype(np.float32)
    total = average["shap"].astype(np.float64).sum(axis=(1, 2))
    average["additivity_error"] = np.abs(total - average["output_delta"])
    return average


def _ensemble_qc(average, explained, paths, tolerance) -> dict:
    """QC of the averaged attribution, with each member's additivity and cross-checks."""
    combined = dict(explained[0][1])
    for key in SUMMED:
        combined[key] = sum(qc[key] for _, qc, _ in explained)
    qc = _summary_qc(average, [combined], tolerance)
    qc["members"] = [
        {
            "model": path,
            "sha256": file_sha256(path),
            "explainer": summary["explainer"],
            "additivity_max_error": summary["additivity_max_error"],
            "additivity_passed": summary["additivity_passed"],
            "ism_pearson_with_shap_median": summary["ism"]["pearson_with_shap_median"],
            "saliency_pearson_with_shap_median": summary["saliency"]["pearson_with_shap_median"],
        }
        for path, (_, _, summary) in zip(paths, explained, strict=True)
    ]
    qc["ensemble"] = {
        "members": len(paths),
        "averaged": list(AVERAGED),
        "windows": "top positives by the mean over members of sigmoid(logit) (= score)",
        "additivity": "of the mean SHAP against the mean output_delta",
    }
    return qc


def _member_explainer(paths: list[str], explainer: str) -> str:
    """Return the explainer of every member (``auto`` resolved per checkpoint); mixed: error."""
    chosen = {resolve_explainer(path, explainer) for path in paths}
    if len(chosen) != 1:
        raise InputError(
            f"the members need different explainers {sorted(chosen)}; average attributions of "
            "models of one architecture (or set --explainer)"
        )
    return chosen.pop()


def attribute_ensemble(
    model_paths: list[str],
    data_path: str,
    shap_path: str,
    logos_path: str,
    qc_path: str,
    *,
    logo_windows: int = 5,
    logo_width: int = 60,
    **options,
) -> dict:
    """Explain the top positives with every member and write the mean attributions and QC.

    Parameters
    ----------
    model_paths : list of str
        Member checkpoints: ``model.pt`` files, run folders, an ``ensemble.json`` or a
        ``results/<dataset>/folds`` folder (``peakcnn.apply.ensemble.ensemble_members``).
    data_path : str
        Encoded split (``dataset/test.npz``) whose labelled positives are explained.
    shap_path, logos_path, qc_path : str
        Outputs, as ``peakcnn.interpret.attribute.attribute_windows`` writes them (the
        ``modisco`` inputs beside ``shap_path``); the arrays of ``AVERAGED`` and ``score`` are
        means over members. ``qc.json`` adds ``members`` (each one's model, SHA-256, additivity
        and SHAP-vs-ISM/saliency correlations) and ``ensemble``.
    logo_windows, logo_width : int
        Sequence logos drawn.
    **options
        The fields of ``ChunkOptions``.

    Returns
    -------
    dict
        The QC record written to ``qc_path``.

    Raises
    ------
    ValueError
        If a member's additivity check fails; nothing is written then.
    """
    _check_options({"logo_windows": logo_windows, "logo_width": logo_width})
    opts = ChunkOptions(**options)
    _check_options({"n_windows": opts.n_windows, "n_shuffles": opts.n_shuffles})
    paths = member_paths(model_paths)
    opts = replace(opts, explainer=_member_explainer(paths, opts.explainer))
    set_threads(opts.threads)
    set_seed(opts.seed)
    device = resolve_device(opts.device)
    models = [load_checkpoint(path, device).eval() for path in paths]
    data = load_split(data_path)
    task = task_index(opts.task, data["tasks"], data_path)
    rows, logits, n_positives = _ensemble_windows(
        models, data, data_path, task, opts.n_windows, device
    )
    base = {
        "task": task,
        "task_name": str(data["tasks"][task]),
        "n_windows_requested": opts.n_windows,
        "n_positives": n_positives,
        "n_shuffles": opts.n_shuffles,
        "batch_pairs": opts.batch_pairs,
        "seed": opts.seed,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "ism_windows_requested": opts.ism_windows,
    }
    explained = _explain_members(paths, models, data, rows, logits, base, device, opts)
    average = _average(explained, logits)
    qc = _ensemble_qc(average, explained, paths, opts.additivity_tolerance)
    _write_attribution(average, qc, shap_path, logos_path, qc_path, logo_windows, logo_width)
    return qc
