"""Test metrics under random base substitutions and window shifts, beside the clean ones.

Shifted windows are re-read from the genome; the unshifted re-read must reproduce the encoded
test windows exactly, or the genome and the dataset disagree and evaluation stops.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from peakcnn.data.encode import encode_windows
from peakcnn.errors import InputError
from peakcnn.evaluation.metrics import auprc, auroc, threshold_metrics
from peakcnn.evaluation.multitask import stack_tasks
from peakcnn.models.calibration import calibrated_probabilities
from peakcnn.models.inference import predict_logits


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
