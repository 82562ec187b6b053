"""The windows of one attribution chunk: choose the top-scoring positives, then explain them.

Every chunk ranks the same positives of one task (a deterministic forward pass) and keeps
every ``chunks``-th rank; its windows get SHAP values (checked for additivity) and hypothetical
contributions, saliency (gradient x input) and, for the top ``ism_windows`` ranks, in-silico
mutagenesis.
"""

from __future__ import annotations

import logging

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
    score_windows,
)
from peakcnn.logs import throughput

logger = logging.getLogger(__name__)


def task_index(task: int | str | None, tasks: np.ndarray, data_path: str) -> int:
    """Column of ``task`` (a name, an index, or None for the first task) in the dataset."""
    names = [str(name) for name in tasks]
    if task is None:
        return 0
    if isinstance(task, str):
        if task not in names:
            raise InputError(
                f"attribute.task {task!r} is not a task of the dataset {names}; "
                "set it to one of them or null (the first)",
                path=data_path,
            )
        return names.index(task)
    return int(task)


def select_windows(logits: np.ndarray, labels: np.ndarray, n_windows: int) -> np.ndarray:
    """Pick the positives with the highest scores.

    Parameters
    ----------
    logits : numpy.ndarray
        Model logits of the task, float (N,).
    labels : numpy.ndarray
        Labels of the task, (N,); 1 marks a positive.
    n_windows : int
        How many to pick at most.

    Returns
    -------
    numpy.ndarray
        Row indices, int64 (n,), highest score first; ties go to the lower row.
    """
    positives = np.flatnonzero(labels == 1)
    order = np.lexsort((positives, -logits[positives]))
    return positives[order[:n_windows]].astype(np.int64)


def _choose_windows(
    model: nn.Module,
    data: dict[str, np.ndarray],
    task: int,
    n_windows: int,
    device: torch.device,
    data_path: str,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Score the positives of ``task`` and pick the ``n_windows`` highest.

    Returns
    -------
    rows : numpy.ndarray
        Chosen rows, int64 (n,), highest score first.
    logits : numpy.ndarray
        Their logits, float64 (n,).
    n_positives : int
        Positives of the task in the dataset.
    """
    tasks = data["tasks"]
    if not 0 <= task < data["y"].shape[1]:
        raise InputError(
            f"task {task} out of range: the dataset has tasks {list(tasks)}", path=data_path
        )
    positives = np.flatnonzero(data["y"][:, task] == 1)
    if len(positives) == 0:
        raise InputError(
            f"no window has label 1 for task {task} ({tasks[task]}); "
            "nothing to explain, pick another task or split",
            path=data_path,
        )
    logits = np.full(len(data["y"]), -np.inf)
    logits[positives] = score_windows(model, data["x"], task, device, rows=positives)
    rows = select_windows(logits, data["y"][:, task], n_windows)
    logger.info(
        "explaining the %d top-scoring of %d positive windows of task %d (%s); n_windows=%d",
        len(rows),
        len(positives),
        task,
        tasks[task],
        n_windows,
    )
    return rows, logits[rows], len(positives)


def chunk_ranks(n: int, chunk: int, chunks: int) -> np.ndarray:
    """Ranks (0 = highest score) of the windows explained by one chunk: every ``chunks``-th.

    Interleaving gives every chunk a similar share of windows and of the ISM subset (the
    top-ranked windows).

    Parameters
    ----------
    n : int
        Windows selected in all.
    chunk : int
        This chunk, ``0 <= chunk < chunks``.
    chunks : int
        Number of chunks.

    Returns
    -------
    numpy.ndarray of int64
    """
    if not 0 <= chunk < chunks:
        raise InputError(f"chunk {chunk} must be in [0, {chunks}); fix attribute.chunks")
    return np.arange(chunk, n, chunks, dtype=np.int64)


def chunk_windows(
    model: nn.Module,
    data: dict[str, np.ndarray],
    data_path: str,
    task: int,
    n_windows: int,
    device: torch.device,
    chunk: int,
    chunks: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """Rank the top positives and keep this chunk's share: rows, ranks, logits, counts."""
    rows, logits, n_positives = _choose_windows(model, data, task, n_windows, device, data_path)
    ranks = chunk_ranks(len(rows), chunk, chunks)
    return rows[ranks], ranks, logits[ranks], n_positives, len(rows)


def ism_stretch(length: int, width: int) -> tuple[int, int]:
    """Central ``[start, end)`` of ``width`` bp (the whole window if it is shorter)."""
    width = min(width, length)
    start = (length - width) // 2
    return start, start + width


def explain_chunk(
    model: nn.Module,
    data: dict[str, np.ndarray],
    rows: np.ndarray,
    ranks: np.ndarray,
    logits: np.ndarray,
    task: int,
    device: torch.device,
    *,
    n_shuffles: int,
    batch_pairs: int,
    seed: int,
    tolerance: float,
    ism_windows: int,
    ism_width: int,
    explainer: str = EXPLAINER,
    gradient_samples: int = 200,
) -> tuple[dict[str, np.ndarray], dict]:
    """SHAP, saliency and (for ranks below ``ism_windows``) ISM of the given windows.

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
    length = data["x"].shape[2]
    ism_start, ism_end = ism_stretch(length, ism_width)
    if len(rows):
        values, hypothetical, qc = explain_checked(
            model,
            x,
            rows,
            task,
            device,
            n_shuffles,
            batch_pairs,
            seed,
            tolerance,
            explainer,
            gradient_samples,
        )
        errors, deltas = np.asarray(qc.pop("errors")), np.asarray(qc.pop("deltas"))
    else:
        values, hypothetical, errors, deltas = np.zeros(x.shape), None, np.zeros(0), np.zeros(0)
        qc = {"pairs": 0, "seconds": 0.0, "windows_with_n": 0, "n_columns": 0}
        qc.update(unshuffled_windows=0, explainer=explainer, additivity_enforced=True)
        qc["engine"] = engine_of(explainer)
    with throughput("saliency (gradient x input)", "windows") as record:
        salient = saliency(model, x, task, device)
        record["count"] = len(x)
    qc["saliency_seconds"] = record["seconds"]
    in_ism = ranks < ism_windows
    with throughput("ISM", "mutants") as record:
        mutated = ism(model, x[in_ism], task, device, ism_start, ism_end) if in_ism.any() else None
        record["count"] = int(in_ism.sum()) * (ism_end - ism_start) * 3
    qc.update(ism_seconds=record["seconds"], ism_mutants=record["count"])
    projected = project(values, x)
    qc["hypothetical"] = HYPOTHETICAL if explainer == EXPLAINER else HYPOTHETICAL_PROJECTED
    if hypothetical is None:  # expected gradients give no multipliers
        hypothetical = projected
    if mutated is None:
        mutated = np.zeros((0, 4, ism_end - ism_start), dtype=np.float32)
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
        "score": np.exp(-np.logaddexp(0.0, -logits)).astype(np.float32),
        "ism": mutated,
        "ism_rank": ranks[in_ism].astype(np.int64),
        "ism_start": np.int64(ism_start),
        "ism_end": np.int64(ism_end),
    }
    return arrays, qc
