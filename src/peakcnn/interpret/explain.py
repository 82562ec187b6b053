"""Explain the windows of one attribution chunk (chosen by ``peakcnn.interpret.targets``).

The windows get SHAP values (checked for additivity) and hypothetical contributions, saliency
(gradient x input) and, for the top ``ism_windows`` ranks, in-silico mutagenesis.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from peakcnn.errors import InputError
from peakcnn.interpret.additivity import explain_checked
from peakcnn.interpret.ism import ism, saliency
from peakcnn.interpret.shap_values import (
    EXPLAINER,
    HYPOTHETICAL,
    HYPOTHETICAL_PROJECTED,
    engine_of,
    project,
)
from peakcnn.logs import throughput
from peakcnn.models.inference import sigmoid

if TYPE_CHECKING:
    from peakcnn.interpret.attribute import ChunkOptions


def ism_stretch(length: int, width: int) -> tuple[int, int]:
    """Central ``[start, end)`` of ``width`` bp (the whole window if it is shorter)."""
    width = min(width, length)
    start = (length - width) // 2
    return start, start + width


def _checked_shap(
    model: nn.Module,
    x: np.ndarray,
    rows: np.ndarray,
    task: int,
    device: torch.device,
    opts: ChunkOptions,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray, dict]:
    """SHAP values, hypothetical contributions, additivity errors, deltas and QC of ``x``.

    With no window, zeros and an empty QC record (nothing to check).
    """
    if len(rows):
        values, hypothetical, qc = explain_checked(model, x, rows, task, device, opts)
        return values, hypothetical, np.asarray(qc.pop("errors")), np.asarray(qc.pop("deltas")), qc
    qc = {"pairs": 0, "seconds": 0.0, "windows_with_n": 0, "n_columns": 0}
    qc.update(unshuffled_windows=0, explainer=opts.explainer, additivity_enforced=True)
    qc["engine"] = engine_of(opts.explainer)
    return np.zeros(x.shape), None, np.zeros(0), np.zeros(0), qc


def _saliency_and_ism(
    model: nn.Module,
    x: np.ndarray,
    in_ism: np.ndarray,
    task: int,
    device: torch.device,
    stretch: tuple[int, int],
    qc: dict,
) -> tuple[np.ndarray, np.ndarray]:
    """Saliency of every window and ISM of the ``in_ism`` ones over ``stretch``, timed in ``qc``.

    Returns
    -------
    salient : numpy.ndarray
        Gradient x input, float32 (n, 4, L).
    mutated : numpy.ndarray
        Logit change per substitution, float32 (m, 4, w).
    """
    ism_start, ism_end = stretch
    with throughput("saliency (gradient x input)", "windows") as record:
        salient = saliency(model, x, task, device)
        record["count"] = len(x)
    qc["saliency_seconds"] = record["seconds"]
    with throughput("ISM", "mutants") as record:
        mutated = ism(model, x[in_ism], task, device, ism_start, ism_end) if in_ism.any() else None
        record["count"] = int(in_ism.sum()) * (ism_end - ism_start) * 3
    qc.update(ism_seconds=record["seconds"], ism_mutants=record["count"])
    if mutated is None:
        mutated = np.zeros((0, 4, ism_end - ism_start), dtype=np.float32)
    return salient, mutated


def explain_chunk(
    model: nn.Module,
    data: dict[str, np.ndarray],
    rows: np.ndarray,
    ranks: np.ndarray,
    logits: np.ndarray,
    task: int,
    device: torch.device,
    opts: ChunkOptions,
) -> tuple[dict[str, np.ndarray], dict]:
    """SHAP, saliency and (for ranks below ``opts.ism_windows``) ISM of the given windows.

    Parameters
    ----------
    model : torch.nn.Module
        The model, in eval mode, on ``device``.
    data : dict of str to numpy.ndarray
        The encoded split (``peakcnn.data.splitfile.load_split``).
    rows, ranks : numpy.ndarray
        The windows' rows in ``data`` and their ranks (0 = highest score), int64 (n,).
    logits : numpy.ndarray
        Their logits for ``task``, float (n,).
    task : int
        Output column explained.
    device : torch.device
        Where the model runs.
    opts : peakcnn.interpret.attribute.ChunkOptions
        The attribution options, ``explainer`` already resolved (not ``auto``).

    Returns
    -------
    arrays : dict of str to numpy.ndarray
        Per window: ``rank, index, x, shap, projected, hypothetical, saliency,
        additivity_error, chrom, start, end, score``; ISM: ``ism`` (m, 4, w), ``ism_rank``
        (m,), ``ism_start`` and ``ism_end`` (scalars).
    qc : dict
        SHAP QC of this chunk plus ISM and saliency timing.
    """
    x = data["x"][rows]
    if x.max(initial=0) > 1 or (x.sum(axis=1) > 1).any():
        raise InputError("x is not one-hot (a column sums to > 1); re-run encode")
    ism_start, ism_end = ism_stretch(data["x"].shape[2], opts.ism_width)
    values, hypothetical, errors, deltas, qc = _checked_shap(model, x, rows, task, device, opts)
    in_ism = ranks < opts.ism_windows
    salient, mutated = _saliency_and_ism(model, x, in_ism, task, device, (ism_start, ism_end), qc)
    projected = project(values, x)
    qc["hypothetical"] = HYPOTHETICAL if opts.explainer == EXPLAINER else HYPOTHETICAL_PROJECTED
    if hypothetical is None:  # expected gradients give no multipliers
        hypothetical = projected
    arrays = {
        "rank": ranks.astype(np.int64),
        "index": rows.astype(np.int64),
        "x": x,
        "shap": values.astype(np.float32),
        "projected": projected,
        "hypothetical": hypothetical.astype(np.float32),
        "saliency": salient,
        "additivity_error": errors.astype(np.float64),
        "output_delta": deltas.astype(np.float64),
        "chrom": data["chrom"][rows].astype(str),
        "start": data["start"][rows].astype(np.int64),
        "end": data["end"][rows].astype(np.int64),
        "score": sigmoid(logits).astype(np.float32),
        "ism": mutated,
        "ism_rank": ranks[in_ism].astype(np.int64),
        "ism_start": np.int64(ism_start),
        "ism_end": np.int64(ism_end),
    }
    return arrays, qc
