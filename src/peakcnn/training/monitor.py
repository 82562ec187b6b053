"""Watching a run: best epoch, early stop, history, TensorBoard, progress bar, the report.

Also the split-size warnings and the training report (``train.json``) of every model.

Logs: one line per epoch in the log, ``history.tsv``, TensorBoard event files in
``tensorboard/`` beside the model, ``train.json``; a progress bar only on a terminal.
"""

from __future__ import annotations

import copy
import csv
import logging
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from peakcnn.devices import device_name
from peakcnn.io import atomic_path
from peakcnn.logs import progress
from peakcnn.models.calibration import CHECKPOINT_KEY
from peakcnn.models.registry import explainer_for

if TYPE_CHECKING:  # inputs imports this module
    from peakcnn.training.config import TrainConfig
    from peakcnn.training.inputs import TrainingData

logger = logging.getLogger(__name__)

# Columns of history.tsv: one row per epoch; ``lr`` is the learning rate at the start of the
# epoch, ``seconds`` and ``windows_per_s`` time the training steps only (not validation).
HISTORY_FIELDS = [
    "epoch",
    "train_loss",
    "val_loss",
    "val_auroc",
    "val_auprc",
    "lr",
    "seconds",
    "windows_per_s",
]
# A split smaller than this (windows, or positives of a task) gets a warning: its metrics are
# noisy, and so is the choice of the best epoch or model made on it.
SMALL_SPLIT_WINDOWS = 1000
SMALL_SPLIT_POSITIVES = 200
TENSORBOARD_DIR = "tensorboard"


class BestEpoch:
    """The best epoch so far by ``train.monitor``, its weights, and the early-stop rule.

    Parameters
    ----------
    monitor : {"val_auroc", "val_loss"}
        Higher AUROC or lower loss is better.
    patience : int
        Epochs without a better value before stopping (0: never stop early).
    record : dict, optional
        ``{"score", "epoch", "state"}`` as saved in a resumable checkpoint; none yet when
        omitted.
    """

    def __init__(self, monitor: str, patience: int, record: dict | None = None) -> None:
        self.monitor = monitor
        self.patience = patience
        self.sign = 1.0 if monitor == "val_auroc" else -1.0
        self.record = record or {"score": -math.inf, "epoch": 0, "state": None}

    @property
    def epoch(self) -> int:
        """The best epoch (0 before the first)."""
        return self.record["epoch"]

    def should_stop(self, epoch: int) -> bool:
        """Whether ``patience`` epochs have passed without a better value before ``epoch``."""
        return bool(self.patience) and epoch - 1 - self.epoch >= self.patience

    def update(self, row: dict, core: nn.Module) -> None:
        """Keep a copy of ``core``'s weights when ``row`` is the best epoch so far.

        Raises
        ------
        ValueError
            When the monitored value is undefined (a validation split with one class).
        """
        score = self.sign * row[self.monitor]
        if math.isnan(score):
            raise ValueError(
                f"{self.monitor} is undefined on the validation split (one class only); "
                "check the split or use train.monitor: val_loss"
            )
        if score > self.record["score"]:
            state = copy.deepcopy(core.state_dict())
            self.record = {"score": score, "epoch": row["epoch"], "state": state}

    def log_early_stop(self, last: int, epochs: int) -> None:
        """Log the early stop when the run ended at ``last`` before ``epochs`` for patience."""
        if self.patience and last < epochs and last - self.epoch >= self.patience:
            logger.info("early stop: no better %s for %d epochs", self.monitor, self.patience)


def history_row(
    epoch: int, train_loss: float, metrics: dict, lr: float | str, seconds: float, windows: int
) -> dict:
    """One row of the history (``HISTORY_FIELDS`` plus the per-task validation metrics)."""
    return {
        "epoch": epoch,
        "train_loss": train_loss,
        **metrics,
        "lr": lr,
        "seconds": round(seconds, 3),
        "windows_per_s": round(windows / seconds, 1),
    }


def write_history(path: str, rows: list[dict]) -> None:
    """Write per-epoch history as a TSV, atomically (columns ``HISTORY_FIELDS``)."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, HISTORY_FIELDS, delimiter="\t", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def split_warnings(name: str, y: np.ndarray) -> list[str]:
    """Warnings for a split with few windows or few positives in a task."""
    found = []
    positives = y.sum(axis=0)
    if len(y) < SMALL_SPLIT_WINDOWS or positives.min() < SMALL_SPLIT_POSITIVES:
        found.append(
            f"small {name} split: {len(y)} windows, {int(positives.min())} positives in the "
            f"smallest task (< {SMALL_SPLIT_WINDOWS} windows or < {SMALL_SPLIT_POSITIVES} "
            "positives): its AUROC is noisy, and so is the best epoch or model chosen on it"
        )
    return found


def progress_for(total: int, epoch: int, epochs: int) -> Callable[[int], None] | None:
    """Return a callback drawing the epoch's progress bar on a terminal, or None without one."""
    bar = progress(total, f"epoch {epoch}/{epochs}", "windows")
    if bar.disable:
        return None

    def update(done: int) -> None:
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return update


def open_tensorboard(folder: Path, fresh: bool, purge_step: int) -> object | None:
    """Return a TensorBoard SummaryWriter in ``folder`` (emptied on a fresh start), or None."""
    if fresh and folder.exists():
        shutil.rmtree(folder)
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as error:  # pragma: no cover - tensorboard is a dependency of the env
        logger.warning("no TensorBoard event files: %s", error)
        return None
    return SummaryWriter(log_dir=str(folder), purge_step=None if fresh else purge_step)


def log_scalars(writer: object | None, row: dict, keys: tuple[str, ...], step: int) -> None:
    """Add ``row``'s ``keys`` to TensorBoard at ``step`` (nothing without a writer)."""
    if writer is None:
        return
    for key in keys:
        writer.add_scalar(key, row[key], step)
    writer.flush()


def report_header(name: str, config: TrainConfig, data: TrainingData, device: torch.device) -> dict:
    """Return the first fields of ``train.json``: model, device, data sizes, warnings, settings.

    Parameters
    ----------
    name : str
        Model name.
    config : TrainConfig
    data : TrainingData
        The run's splits, their warnings, pos_weight and margin.
    device : torch.device

    Returns
    -------
    dict
    """
    train_y, val_y = data.train["y"], data.val["y"]
    return {
        "model": name,
        "explainer": explainer_for(name),
        "device": str(device),
        "device_name": device_name(device),
        "threads": torch.get_num_threads(),
        "seed": config.seed,
        "monitor": config.monitor,
        "pos_weight": None if data.pos_weight is None else data.pos_weight.tolist(),
        "rc_average": config.rc_average,
        "train_windows": len(train_y),
        "train_positives": train_y.sum(axis=0).tolist(),
        "val_windows": len(val_y),
        "val_positives": val_y.sum(axis=0).tolist(),
        "warnings": data.warnings,
        "max_shift": data.margin,
        **({"subsample": data.subsample} if data.subsample else {}),
    }


def training_report(
    header: dict,
    hyperparameters: dict,
    settings: dict,
    history: list[dict],
    best_epoch: int,
    *,
    resumed_after_epoch: int,
    windows_per_s: float,
    parameters: int,
    calibration: dict,
) -> dict:
    """Build the training report (``train.json``) of a CNN or of the k-mer baseline.

    Parameters
    ----------
    header : dict
        ``report_header``.
    hyperparameters : dict
        The model's, as stored in ``model.pt``.
    settings : dict
        Fields of this kind of model (AMP, optimiser, ... or the k-mer fit).
    history : list of dict
        ``history_row`` of every epoch run.
    best_epoch : int
        The kept epoch (1-based).
    resumed_after_epoch : int
        The epoch a resumed run started after (0: not resumed).
    windows_per_s : float
        Training throughput.
    parameters : int
        Number of model parameters.
    calibration : dict
        The calibration fitted on validation.

    Returns
    -------
    dict
    """
    best = history[best_epoch - 1]
    return {
        **header,
        "hyperparameters": hyperparameters,
        **settings,
        "epochs_run": len(history),
        "resumed_after_epoch": resumed_after_epoch,
        "best_epoch": best_epoch,
        "best_val_auroc": best["val_auroc"],
        "best_val_auprc": best["val_auprc"],
        "best_val_loss": best["val_loss"],
        "best_val_auroc_tasks": best["val_auroc_tasks"],
        "windows_per_s": windows_per_s,
        "parameters": parameters,
        CHECKPOINT_KEY: calibration,
    }
