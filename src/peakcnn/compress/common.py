"""What the compression methods share: the run's splits, the Basset inside a model, fine-tuning.

- ``load_splits``: the train/val/test windows of a run's dataset folder, cropped to the model's
  window length (training windows carry shift margins).
- ``basset_core``: the ``Basset`` of a model (inside its ``RCAverage`` wrapper, if any).
- ``fit``: a few epochs of ``peakcnn.training.loop.train_epoch``, keeping the epoch best on
  validation AUROC.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from peakcnn.data.splitfile import load_split
from peakcnn.errors import InputError
from peakcnn.models.basset import Basset
from peakcnn.models.layers import RCAverage
from peakcnn.training.loop import train_epoch, validation_metrics

logger = logging.getLogger(__name__)

#: Split files of a run's dataset folder, in the order they are read.
SPLITS = ("train", "val", "test")


@dataclass
class Splits:
    """One-hot windows (uint8, (N, 4, length)) and labels (float32, (N, T)) of each split."""

    x: dict[str, np.ndarray]
    y: dict[str, np.ndarray]
    tasks: list[str]


def _crop(x: np.ndarray, length: int, path: str) -> np.ndarray:
    """Centre-crop windows to ``length`` (training windows are longer by their shift margins)."""
    extra = x.shape[2] - length
    if extra < 0 or extra % 2:
        raise InputError(
            f"windows of {x.shape[2]} bp do not fit the model's {length} bp; give the dataset "
            "folder of the run that trained this model",
            path,
        )
    return np.ascontiguousarray(x[:, :, extra // 2 : x.shape[2] - extra // 2])


def load_splits(folder: str, length: int, names=SPLITS) -> Splits:
    """Read ``<folder>/{train,val,test}.npz`` and crop the windows to ``length``.

    Raises
    ------
    InputError
        When a split file is missing or its windows do not fit the model.
    """
    xs, ys, tasks = {}, {}, []
    for name in names:
        path = Path(folder) / f"{name}.npz"
        if not path.exists():
            raise InputError(
                f"no {name}.npz here; give the run's dataset folder (results/<dataset>/dataset)",
                str(path),
            )
        arrays = load_split(str(path))
        xs[name] = _crop(arrays["x"], length, str(path))
        ys[name] = arrays["y"].astype(np.float32)
        tasks = [str(task) for task in arrays.get("tasks", [])] or tasks
    return Splits(xs, ys, tasks)


def basset_core(model: nn.Module, source: str) -> tuple[Basset, bool]:
    """Return the ``Basset`` of a model and whether it is wrapped in ``RCAverage``.

    Raises
    ------
    InputError
        For a model that is not a Basset-style CNN (the hybrid, the k-mer baseline).
    """
    wrapped = isinstance(model, RCAverage)
    core = model.model if wrapped else model
    if not isinstance(core, Basset):
        raise InputError(
            f"is a {type(core).__name__}; only Basset-style CNNs (basset, basset_paper) can be "
            "quantized or pruned",
            source,
        )
    return core, wrapped


def fit(
    model: nn.Module,
    splits: Splits,
    epochs: int,
    *,
    targets: np.ndarray | None = None,
    loss_fn: Callable | None = None,
    lr: float = 1e-3,
    batch_size: int = 64,
    seed: int = 0,
) -> tuple[nn.Module, list[dict]]:
    """Train for ``epochs`` on the train split; return the model of the best validation AUROC.

    Parameters
    ----------
    model : torch.nn.Module
        Trained in place on the CPU; the returned model is a copy at its best epoch.
    splits : Splits
    epochs : int
        0 returns the model as it is (validated once).
    targets : numpy.ndarray, optional
        What ``loss_fn`` receives as targets per training window (default: the labels).
    loss_fn : callable, optional
        ``loss_fn(logits, targets)``; default binary cross-entropy on the labels.
    lr, batch_size, seed
        Adam learning rate, minibatch size, seed of the shuffle order.

    Returns
    -------
    model : torch.nn.Module
        In eval mode.
    history : list of dict
        Per epoch (0: before training): ``train_loss``, ``val_loss``, ``val_auroc``.
    """
    device = torch.device("cpu")
    bce = nn.BCEWithLogitsLoss()
    x = torch.from_numpy(splits.x["train"])
    y = torch.from_numpy(splits.y["train"] if targets is None else targets.astype(np.float32))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    best = validation_metrics(model, splits.x["val"], splits.y["val"], bce, device)
    history = [{"epoch": 0, "train_loss": float("nan"), **_scalars(best)}]
    best_state = copy.deepcopy(model.state_dict())
    for epoch in range(1, epochs + 1):
        loss = train_epoch(model, x, y, optimizer, loss_fn or bce, batch_size, generator, device)
        val = validation_metrics(model, splits.x["val"], splits.y["val"], bce, device)
        history.append({"epoch": epoch, "train_loss": loss, **_scalars(val)})
        logger.info("epoch %d: train loss %.4f, val AUROC %.4f", epoch, loss, val["val_auroc"])
        if val["val_auroc"] > best["val_auroc"] or np.isnan(best["val_auroc"]):
            best, best_state = val, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    return model.eval(), history


def _scalars(metrics: dict) -> dict:
    """Return the scalar entries of ``validation_metrics``' result."""
    return {key: float(value) for key, value in metrics.items() if not isinstance(value, list)}
