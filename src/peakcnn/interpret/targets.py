"""Which windows a chunk explains: the task's column, its top-scoring positives, the chunk's share.

Every chunk ranks the same positives of one task (a deterministic forward pass) and keeps
every ``chunks``-th rank, so chunks share the windows, and the ISM subset, evenly.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch import nn

from peakcnn.errors import InputError
from peakcnn.interpret.shap_values import score_windows

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


def positive_rows(data: dict[str, np.ndarray], task: int, data_path: str) -> np.ndarray:
    """Rows (ascending) labelled 1 for ``task``; a task out of range or without one is an error."""
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
    return positives


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
    positives = positive_rows(data, task, data_path)
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
