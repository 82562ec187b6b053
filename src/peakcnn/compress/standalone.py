"""What a compressed ``model.pt`` carries so that it stands alone outside a run folder.

A run's own ``model.pt`` finds its task names and validation thresholds beside it (the run's
split files and ``metrics.json``; ``peakcnn.apply.loading``). A pruned or distilled model is
written elsewhere (``results/<dataset>/compress/<model>/...``), and its logits are not the
original's, so it stores its own: the task names, a calibration refitted on its validation
logits (``peakcnn.models.calibration``, by the method the source model was calibrated with)
and per-task thresholds chosen on its calibrated validation probabilities
(``peakcnn.evaluation.metrics.choose_threshold``).
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch import nn

from peakcnn.apply.loading import LoadedModel
from peakcnn.compress.common import Splits
from peakcnn.evaluation.metrics import choose_threshold
from peakcnn.evaluation.multitask import has_both_classes
from peakcnn.models.calibration import (
    CHECKPOINT_KEY,
    calibrated_probabilities,
    fit_calibration,
    read_calibration,
)
from peakcnn.models.inference import predict_logits
from peakcnn.models.registry import explainer_for

logger = logging.getLogger(__name__)

#: How the thresholds are chosen on validation (the ``evaluate.threshold`` default).
THRESHOLD_METHOD = "max_f1"


def calibration_method(source: LoadedModel) -> str:
    """Return the calibration method of a compressed model's source (``none`` without one)."""
    if source.kind != "checkpoint":
        return "none"
    record = read_calibration(source.source)
    return record.get("method", "none") if record else "none"


def validation_thresholds(labels: np.ndarray, probabilities: np.ndarray) -> list[float] | None:
    """Per-task thresholds on validation probabilities; None when a task has one class only."""
    columns = range(labels.shape[1])
    if not all(has_both_classes(labels[:, t]) for t in columns):
        logger.warning("a task has one class on validation: no thresholds stored")
        return None
    return [choose_threshold(labels[:, t], probabilities[:, t], THRESHOLD_METHOD) for t in columns]


def standalone_extras(model: nn.Module, name: str, splits: Splits, source: LoadedModel) -> dict:
    """Checkpoint extras of a compressed model: explainer, tasks, calibration, thresholds.

    Parameters
    ----------
    model : torch.nn.Module
        The compressed (pruned or distilled) model, in eval mode on the CPU.
    name : str
        Its ``MODELS`` key.
    splits : Splits
        The run's windows; the calibration and thresholds are fitted on ``val``.
    source : LoadedModel
        The model it comes from (its tasks, its calibration method).

    Returns
    -------
    dict
        ``explainer``, ``tasks``, ``calibration`` (``fit_calibration``'s record) and
        ``thresholds`` (None when a task has one class on validation).
    """
    logits = predict_logits(model, splits.x["val"], torch.device("cpu"))
    logits = logits.reshape(len(logits), -1)
    labels = splits.y["val"]
    calibration = fit_calibration(logits, labels, calibration_method(source))
    probabilities = calibrated_probabilities(
        logits, np.asarray(calibration["temperature"]), np.asarray(calibration["bias"])
    )
    return {
        "explainer": explainer_for(name),
        "tasks": list(source.tasks),
        CHECKPOINT_KEY: calibration,
        "thresholds": validation_thresholds(labels, probabilities),
    }
