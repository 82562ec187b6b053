"""A run's inputs: the two splits read and checked, and the tensors the epochs read."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from peakcnn.data.splitfile import load_split
from peakcnn.training.config import TrainConfig
from peakcnn.training.loop import check_margin
from peakcnn.training.monitor import split_warnings
from peakcnn.training.optim import compute_pos_weight

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingData:
    """The two splits of a run, checked, with what is derived from them.

    Attributes
    ----------
    train, val : dict
        The split arrays (``load_split``); training windows carry ``margin`` extra bases on
        each side.
    length : int
        Model input length (the validation windows' length).
    margin : int
        Shift margin of the training windows (``train.max_shift``).
    pos_weight : numpy.ndarray or None
        Positive-class weight per task.
    warnings : list of str
        Small-split warnings (also logged).
    subsample : dict or None
        What ``train.subsample`` kept of the train split (``subsample_split``); None: all.
    """

    train: dict
    val: dict
    length: int
    margin: int
    pos_weight: np.ndarray | None
    warnings: list[str]
    subsample: dict | None = None


def load_training_data(train_path: str, val_path: str, config: TrainConfig) -> TrainingData:
    """Read and check the two splits, warn when they are small, weigh the positives.

    Raises
    ------
    InputError
        If a split file is malformed, or the training windows' margin is not
        ``config.max_shift``.
    """
    train, val = load_split(train_path), load_split(val_path)
    length, margin = check_margin(train, val, config.max_shift, train_path)
    drawn = None
    if config.subsample is not None:
        train, drawn = subsample_split(train, config.subsample, config.subsample_seed)
    warnings = split_warnings("train", train["y"]) + split_warnings("val", val["y"])
    for warning in warnings:
        logger.warning(warning)
    weights = compute_pos_weight(train["y"], config.pos_weight)
    return TrainingData(train, val, length, margin, weights, warnings, drawn)


def subsample_split(split: dict, positives: int, seed: int) -> tuple[dict, dict]:
    """Keep ``positives`` positive windows of a split and negatives at the split's ratio.

    A window is positive when it is positive for any task. Both draws are without replacement
    from ``numpy.random.default_rng(seed)``; kept windows stay in file order. Asking for more
    positives than the split has keeps them all (reported, not an error).

    Returns
    -------
    split : dict
        The split's per-window arrays indexed by the kept windows (``tasks``/``margin`` as is).
    report : dict
        ``positives``/``negatives`` kept, out of ``positives_total``/``negatives_total``, and
        the ``seed``.
    """
    rng = np.random.default_rng(seed)
    is_positive = split["y"].any(axis=1)
    positive, negative = np.flatnonzero(is_positive), np.flatnonzero(~is_positive)
    n_positive = min(positives, len(positive))
    ratio = len(negative) / max(len(positive), 1)
    n_negative = min(round(n_positive * ratio), len(negative))
    keep = np.sort(
        np.concatenate(
            [
                rng.choice(positive, n_positive, replace=False),
                rng.choice(negative, n_negative, replace=False),
            ]
        )
    )
    n_windows = len(split["y"])
    kept = {
        key: value[keep] if np.ndim(value) and len(value) == n_windows and key != "tasks" else value
        for key, value in split.items()
    }
    report = {
        "positives": int(n_positive),
        "positives_total": len(positive),
        "negatives": int(n_negative),
        "negatives_total": len(negative),
        "seed": seed,
    }
    logger.info(
        "train.subsample: %d of %d positive and %d of %d negative training windows (seed %d)",
        n_positive,
        len(positive),
        n_negative,
        len(negative),
        seed,
    )
    return kept, report


@dataclass(frozen=True)
class DeviceSplits:
    """The tensors the epochs read: uint8 training windows and float labels, uint8 val windows."""

    x: torch.Tensor
    y: torch.Tensor
    x_val: torch.Tensor
    y_val: np.ndarray


def on_device(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Move a whole uint8 split to the GPU when it fits easily, else pin it on the host."""
    if device.type != "cuda":
        return x
    free, _ = torch.cuda.mem_get_info(device)
    if x.numel() * x.element_size() < 0.25 * free:
        return x.to(device)
    return x.pin_memory()


def device_splits(data: TrainingData, device: torch.device) -> DeviceSplits:
    """Put the training windows and labels, and the validation windows, where the steps run."""
    return DeviceSplits(
        x=on_device(torch.from_numpy(data.train["x"]), device),
        y=on_device(torch.from_numpy(data.train["y"].astype(np.float32)), device),
        x_val=on_device(torch.from_numpy(data.val["x"]), device),
        y_val=data.val["y"],
    )
