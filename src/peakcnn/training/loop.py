"""The training loop: one epoch of minibatch steps, validation metrics, the shift-margin check.

Data stay uint8 until a batch is on the device: on CUDA the whole uint8 training set is on the
GPU when it fits (``inputs.on_device``; else it is pinned), so a step is a gather, a cast and
the model; on CPU a batch is one fancy index. The shuffle order, the reverse-complement coin
flips and the shift offsets are drawn once per epoch, in that order, from a seeded CPU
generator; nothing is done per sample in Python.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from sklearn.metrics import average_precision_score, roc_auc_score
from torch import nn

from peakcnn.errors import InputError
from peakcnn.evaluation.multitask import has_both_classes, macro_mean
from peakcnn.models.inference import predict_logits


def reverse_complement(x: torch.Tensor) -> torch.Tensor:
    """Reverse complement of ACGT one-hot (N, 4, L): flip channels (A↔T, C↔G) and positions."""
    return x.flip(1, 2)


def train_epoch(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    loss_fn: nn.Module,
    batch_size: int,
    generator: torch.Generator,
    device: torch.device,
    *,
    scheduler: object | None = None,
    amp_dtype: torch.dtype | None = None,
    scaler: torch.amp.GradScaler | None = None,
    augment_rc: bool = False,
    length: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> float:
    """Run one epoch over shuffled minibatches; return the mean training loss.

    ``x`` (uint8) and ``y`` (float) live on the host or already on ``device``; each batch is
    gathered there, moved to ``device`` and only then cast to float.

    Parameters
    ----------
    model : torch.nn.Module
        In train mode after the call.
    x : torch.Tensor
        uint8 (N, 4, L).
    y : torch.Tensor
        float32 (N, T).
    optimizer : torch.optim.Optimizer
    loss_fn : torch.nn.Module
        Maps (logits, targets) to a scalar.
    batch_size : int
    generator : torch.Generator
        CPU generator for the shuffle order and the reverse-complement coin flips.
    device : torch.device
    scheduler : object, optional
        A per-step LR scheduler, stepped after every batch.
    amp_dtype : torch.dtype, optional
        Autocast dtype (``resolve_amp``); None = float32.
    scaler : torch.amp.GradScaler, optional
        Loss scaler for fp16.
    augment_rc : bool, default False
        Replace each training window by its reverse complement with probability 1/2.
    length : int, optional
        Model input length. When ``x`` is longer (windows read with shift margins), each
        window is cropped to ``length`` at a uniformly random offset, drawn anew every epoch
        (random shifts of up to half the difference either way).
    progress : callable, optional
        Called with the number of windows done after each batch.

    Returns
    -------
    float
    """
    model.train()
    n = len(x)
    order = torch.randperm(n, generator=generator)
    flips = torch.rand(n, generator=generator) < 0.5 if augment_rc else None
    span = x.shape[2] - length if length else 0
    offsets = torch.randint(0, span + 1, (n,), generator=generator) if span else None
    if x.device != order.device:
        order = order.to(x.device)
        flips = flips.to(x.device) if flips is not None else None
        offsets = offsets.to(x.device) if offsets is not None else None
    positions = torch.arange(length or 0, device=x.device)
    total = torch.zeros((), dtype=torch.float64, device=device)
    for first in range(0, n, batch_size):
        index = order[first : first + batch_size]
        xb = x[index]
        if offsets is not None:
            columns = offsets[index, None] + positions
            xb = xb.gather(2, columns[:, None, :].expand(-1, xb.shape[1], -1))
        xb = xb.to(device, non_blocking=True).float()
        yb = y[index].to(device, non_blocking=True)
        if flips is not None:
            flip = flips[first : first + batch_size].to(device, non_blocking=True)
            xb = torch.where(flip[:, None, None], reverse_complement(xb), xb)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            loss = loss_fn(model(xb), yb)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        if scheduler is not None:
            scheduler.step()
        total += loss.detach().double() * len(index)
        if progress is not None:
            progress(min(first + batch_size, n))
    return float(total) / n


def _per_task(metric: Callable, y: np.ndarray, scores: np.ndarray) -> list[float]:
    """Compute a ranking metric per task (NaN where a task has one class only)."""
    return [
        float(metric(y[:, t], scores[:, t])) if has_both_classes(y[:, t]) else float("nan")
        for t in range(y.shape[1])
    ]


def validation_metrics(
    model: nn.Module,
    x: np.ndarray | torch.Tensor,
    y: np.ndarray,
    loss_fn: nn.Module,
    device: torch.device,
) -> dict:
    """Compute the validation loss, and AUROC and AUPRC averaged over tasks.

    Parameters
    ----------
    model : torch.nn.Module
    x : numpy.ndarray or torch.Tensor
        uint8 (N, 4, L), on the host or on ``device``.
    y : numpy.ndarray
        Labels (N, T).
    loss_fn : torch.nn.Module
    device : torch.device

    Returns
    -------
    dict
        ``val_loss``, ``val_auroc``, ``val_auprc``, and per task ``val_auroc_tasks`` and
        ``val_auprc_tasks`` (NaN where a task has one class only).
    """
    logits = predict_logits(model, x, device)
    target = torch.from_numpy(y.astype(np.float32)).to(device)
    with torch.no_grad():
        loss = float(loss_fn(torch.from_numpy(logits).to(device), target))
    return {
        "val_loss": loss,
        "val_auroc": macro_mean(roc_auc_score, y, logits),
        "val_auprc": macro_mean(average_precision_score, y, logits),
        "val_auroc_tasks": _per_task(roc_auc_score, y, logits),
        "val_auprc_tasks": _per_task(average_precision_score, y, logits),
    }


def check_margin(train: dict, val: dict, max_shift: int, path: str) -> tuple[int, int]:
    """Model input length and the shift margin of the training windows, checked.

    Raises
    ------
    InputError
        If the training windows' margin is not ``max_shift``, i.e. the dataset was built
        for other shift settings.
    """
    length = int(val["x"].shape[2])
    margin = int(train.get("margin", 0))
    if margin != max_shift or train["x"].shape[2] != length + 2 * margin:
        raise InputError(
            f"training windows carry a {margin} bp shift margin ({train['x'].shape[2]} bp "
            f"for {length} bp windows) but train.max_shift is {max_shift}; rebuild the "
            "dataset (build_dataset) with the same train.max_shift",
            path=path,
        )
    return length, margin
