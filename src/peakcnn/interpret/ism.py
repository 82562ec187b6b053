"""In-silico saturation mutagenesis (ISM) and gradient x input saliency.

ISM is the reference check for attributions: it needs no gradients and no reference
sequences, only forward passes, so a bug in a backpropagation rule (DeepLIFT through max-pool,
a functional ReLU) cannot hide in it. It costs three forward passes per base, so it runs on
a central stretch of a few windows. Saliency is the cheap end: one backward pass per window.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from peakcnn.models.inference import predict_logits


def ism(
    model: nn.Module,
    x: np.ndarray,
    task: int,
    device: torch.device,
    start: int = 0,
    end: int | None = None,
    batch: int = 256,
) -> np.ndarray:
    """Change of one task's logit for every single-base substitution in ``[start, end)``.

    Parameters
    ----------
    model : torch.nn.Module
        The model, in eval mode, on ``device``; (B, 4, L) float to (B, T) logits.
    x : numpy.ndarray of uint8, shape (n, 4, L)
        One-hot windows; all-zero columns are unknown bases (N).
    task : int
        Output column.
    device : torch.device
    start, end : int
        Mutated stretch (``end`` None = the window end).
    batch : int, default 256
        Mutants per forward pass.

    Returns
    -------
    numpy.ndarray of float32, shape (n, 4, end - start)
        ``logit(x with base b at position i) - logit(x)``; 0 at the observed base. At an N
        column every base is a substitution.
    """
    n, channels, length = x.shape
    end = length if end is None else end
    if not 0 <= start < end <= length:
        raise ValueError(f"ISM stretch [{start}, {end}) must lie inside the window (0, {length})")
    width = end - start
    reference = predict_logits(model, x, device)[:, task].astype(np.float64)
    deltas = np.zeros((n, channels, width), dtype=np.float32)
    positions, bases = np.divmod(np.arange(width * channels), channels)
    for i in range(n):
        observed = x[i, bases, start + positions] == 1
        todo_pos, todo_base = positions[~observed], bases[~observed]
        mutants = np.repeat(x[i][None], todo_pos.size, axis=0)
        rows = np.arange(todo_pos.size)
        mutants[rows, :, start + todo_pos] = 0
        mutants[rows, todo_base, start + todo_pos] = 1
        logits = predict_logits(model, mutants, device, batch)[:, task].astype(np.float64)
        deltas[i, todo_base, todo_pos] = logits - reference[i]
    return deltas


def ism_importance(deltas: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Score each observed base by the mean loss of logit when it is substituted.

    Parameters
    ----------
    deltas : numpy.ndarray, shape (n, 4, w)
        From ``ism``.
    x : numpy.ndarray of uint8, shape (n, 4, w)
        The one-hot windows over the same stretch.

    Returns
    -------
    numpy.ndarray of float32, shape (n, w)
        ``-sum(deltas) / 3`` at known bases (the observed base's own delta is 0), 0 at N.
    """
    known = x.any(axis=1)
    return np.where(known, -deltas.sum(axis=1) / 3.0, 0.0).astype(np.float32)


def saliency(
    model: nn.Module, x: np.ndarray, task: int, device: torch.device, batch: int = 64
) -> np.ndarray:
    """Gradient x input of one task's logit (non-zero only on the observed base).

    Parameters
    ----------
    model : torch.nn.Module
        The model, in eval mode, on ``device``.
    x : numpy.ndarray of uint8, shape (n, 4, L)
    task : int
    device : torch.device
    batch : int, default 64

    Returns
    -------
    numpy.ndarray of float32, shape (n, 4, L)
    """
    was_training = model.training
    model.eval()
    out = np.zeros(x.shape, dtype=np.float32)
    try:
        for first in range(0, len(x), batch):
            inputs = torch.from_numpy(x[first : first + batch]).to(device, torch.float32)
            inputs.requires_grad_(True)
            model(inputs)[:, task].sum().backward()
            out[first : first + batch] = (inputs.grad * inputs).detach().cpu().numpy()
    finally:
        model.train(was_training)
        model.zero_grad(set_to_none=True)
    return out


def pearson_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row of ``a`` with the same row of ``b`` (NaN if constant).

    Parameters
    ----------
    a, b : numpy.ndarray, shape (n, m)

    Returns
    -------
    numpy.ndarray of float64, shape (n,)
    """
    a = np.asarray(a, np.float64) - np.mean(a, axis=1, keepdims=True)
    b = np.asarray(b, np.float64) - np.mean(b, axis=1, keepdims=True)
    denominator = np.sqrt((a**2).sum(axis=1) * (b**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (a * b).sum(axis=1) / denominator, np.nan)
