"""A model's scores on the val and test splits: logits, raw and calibrated probabilities."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from peakcnn.data.splitfile import load_split
from peakcnn.errors import InputError
from peakcnn.evaluation.config import EvalInputs
from peakcnn.models.calibration import calibrated_probabilities, calibration_of, read_calibration
from peakcnn.models.inference import predict_logits


@dataclass(frozen=True)
class Scored:
    """A model's scores on the val and test splits, with labels and calibration."""

    tables: dict[str, dict]  # the loaded splits
    tasks: list[str]
    labels: dict[str, np.ndarray]  # (n, tasks) per split
    logits: dict[str, np.ndarray]
    raw: dict[str, np.ndarray]  # sigmoid of the logits
    scores: dict[str, np.ndarray]  # calibrated probabilities
    fit: dict | None  # the checkpoint's calibration record
    temperatures: np.ndarray | None
    biases: np.ndarray | None

    def task(self, values: dict[str, np.ndarray], t: int) -> dict[str, np.ndarray]:
        """Column ``t`` of a per-split matrix."""
        return {split: matrix[:, t] for split, matrix in values.items()}


def score_splits(model, inputs: EvalInputs, device) -> Scored:
    """Load the val and test splits and score them: logits, raw and calibrated probabilities.

    Raises
    ------
    InputError
        If the model predicts another number of tasks than the splits hold.
    """
    tables = {"val": load_split(inputs.val), "test": load_split(inputs.test)}
    tasks = [str(task) for task in tables["test"]["tasks"]]
    logits = {s: predict_logits(model, t["x"], device) for s, t in tables.items()}
    labels = {s: t["y"].astype(int) for s, t in tables.items()}
    for split in tables:
        if logits[split].shape != labels[split].shape:
            raise InputError(
                f"the model predicts {logits[split].shape[1]} task(s) but the {split} split has "
                f"{labels[split].shape[1]} ({tasks}); retrain it on this dataset",
                path=inputs.model,
            )
    fit = read_calibration(inputs.model)
    temperatures, biases = calibration_of(fit, len(tasks), inputs.model) or (None, None)
    return Scored(
        tables=tables,
        tasks=tasks,
        labels=labels,
        logits=logits,
        raw={s: calibrated_probabilities(logits[s], None) for s in tables},
        scores={s: calibrated_probabilities(logits[s], temperatures, biases) for s in tables},
        fit=fit,
        temperatures=temperatures,
        biases=biases,
    )
