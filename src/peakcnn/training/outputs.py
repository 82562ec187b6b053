"""What a training run writes: its output paths, and the finish that writes them.

``finish_training`` restores the best epoch, fits the calibration on validation, writes
``model.pt``, ``history.tsv`` and ``train.json`` and removes the resumable checkpoint.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from peakcnn.io import atomic_path, write_json
from peakcnn.models.calibration import CHECKPOINT_KEY, fit_calibration
from peakcnn.models.checkpoint import save_checkpoint
from peakcnn.models.inference import predict_logits
from peakcnn.models.registry import explainer_for
from peakcnn.training.config import TrainConfig
from peakcnn.training.inputs import DeviceSplits
from peakcnn.training.monitor import TENSORBOARD_DIR, BestEpoch, training_report, write_history
from peakcnn.training.optim import TrainingSetup
from peakcnn.training.resume import CHECKPOINT_NAME

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outputs:
    """Where a run writes: the three declared outputs, and what lies beside the model."""

    model: str
    history: str
    report: str

    @property
    def checkpoint(self) -> Path:
        """The resumable state, removed once the outputs are written."""
        return Path(self.model).with_name(CHECKPOINT_NAME)

    @property
    def tensorboard(self) -> Path:
        """The TensorBoard event folder."""
        return Path(self.model).with_name(TENSORBOARD_DIR)


def finish_training(
    setup: TrainingSetup,
    splits: DeviceSplits,
    config: TrainConfig,
    header: dict,
    outputs: Outputs,
    history: list[dict],
    best: BestEpoch,
    run: dict,
    device: torch.device,
) -> dict:
    """Restore the best epoch, calibrate, write model, history and report; drop the checkpoint.

    ``run`` holds the model ``name``, its ``hyperparameters`` and the epoch it was
    ``resumed_from``.
    """
    setup.core.load_state_dict(best.record["state"])
    logits = predict_logits(setup.model, splits.x_val, device)
    calibration = fit_calibration(logits, splits.y_val, config.calibration)
    extra = {"explainer": explainer_for(run["name"]), CHECKPOINT_KEY: calibration}
    with atomic_path(outputs.model) as tmp:
        save_checkpoint(tmp, setup.model, run["name"], run["hyperparameters"], extra=extra)
    write_history(outputs.history, history)
    seconds = sum(row["seconds"] for row in history)
    amp = setup.amp_dtype
    report = training_report(
        header,
        run["hyperparameters"],
        {
            "amp": str(amp).removeprefix("torch.") if amp is not None else False,
            "compile": config.torch_compile,
            "optimizer": config.optimizer,
            "lr": config.lr,
            "schedule": config.schedule,
            "augment_rc": config.augment_rc,
            "batch_size": config.batch_size,
        },
        history,
        best.epoch,
        resumed_after_epoch=run["resumed_from"],
        windows_per_s=round(len(splits.x) * len(history) / max(seconds, 1e-9), 1),
        parameters=count_parameters(setup),
        calibration=calibration,
    )
    if "init_from" in run:
        report["init_from"] = run["init_from"]
    write_json(outputs.report, report)
    outputs.checkpoint.unlink(missing_ok=True)
    logger.info(
        "trained %s: best epoch %d of %d, val AUROC %.4f, %.0f windows/s, %s T %s b %s (%s)",
        run["name"],
        best.epoch,
        len(history),
        report["best_val_auroc"],
        report["windows_per_s"],
        config.calibration,
        [round(t, 4) for t in calibration["temperature"]],
        [round(b, 4) for b in calibration["bias"]],
        ", ".join(calibration["status"]),
    )
    return report


def count_parameters(setup: TrainingSetup) -> int:
    """Count the trained parameters."""
    return sum(p.numel() for p in setup.core.parameters())
