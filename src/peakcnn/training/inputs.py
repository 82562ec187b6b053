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
    """

    train: dict
    val: dict
    length: int
    margin: int
    pos_weight: np.ndarray | None
    warnings: list[str]


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
    warnings = split_warnings("train", train["y"]) + split_warnings("val", val["y"])
    for warning in warnings:
        logger.warning(warning)
    weights = compute_pos_weight(train["y"], config.pos_weight)
    return TrainingData(train, val, length, margin, weights, warnings)


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
