"""Knowledge distillation: a (smaller) student CNN trained on a teacher's logits and the labels.

The teacher is one ``model.pt`` or an ensemble of several (their logits averaged). Its logits
on the training windows are computed once; the student is trained with

    loss = alpha * BCE(student, labels) + (1 - alpha) * T² * BCE(student / T, sigmoid(teacher / T))

(``soft="bce"``), or with the mean squared error between the two logits in place of the second
term (``soft="mse"``). The temperature ``T`` softens both; ``T²`` keeps the soft term's
gradients on the scale of the hard term's. The epoch of best validation AUROC is kept, and the
student is saved as a normal ``model.pt`` with its task names, a calibration refitted on its
validation logits and thresholds (``peakcnn.compress.standalone``).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from peakcnn.apply.loading import LoadedModel
from peakcnn.compress.common import Splits, fit
from peakcnn.compress.prune import count_parameters
from peakcnn.compress.standalone import standalone_extras
from peakcnn.errors import InputError
from peakcnn.models.checkpoint import save_checkpoint
from peakcnn.models.registry import build_model

#: Soft-target losses: on the tempered probabilities (bce) or on the raw logits (mse).
SOFT_LOSSES = ("bce", "mse")


class DistillationLoss(nn.Module):
    """Mix of BCE on the labels and a soft loss on the teacher's logits.

    The targets are the labels (N, T) and the teacher's logits (N, T) side by side, (N, 2T),
    so that ``peakcnn.training.loop.train_epoch`` shuffles them together.

    Parameters
    ----------
    alpha : float
        Weight of the label term, in [0, 1].
    temperature : float
        Softening of the teacher and student logits (> 0).
    soft : {"bce", "mse"}
    """

    def __init__(self, alpha: float, temperature: float, soft: str = "bce") -> None:
        super().__init__()
        if not 0.0 <= alpha <= 1.0 or temperature <= 0 or soft not in SOFT_LOSSES:
            raise InputError(
                f"distillation alpha {alpha} must be in [0, 1], temperature {temperature} > 0, "
                f"soft loss {soft!r} one of {SOFT_LOSSES}"
            )
        self.alpha, self.temperature, self.soft = alpha, temperature, soft
        self.bce = nn.BCEWithLogitsLoss()

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Return the mixed loss of student logits (N, T) against labels + teacher (N, 2T)."""
        labels, teacher = targets.split(logits.shape[1], dim=1)
        t = self.temperature
        if self.soft == "bce":
            soft = self.bce(logits / t, torch.sigmoid(teacher / t)) * t * t
        else:
            soft = ((logits - teacher) ** 2).mean()
        return self.alpha * self.bce(logits, labels) + (1.0 - self.alpha) * soft


def teacher_logits(teachers: list[LoadedModel], x: np.ndarray) -> np.ndarray:
    """Mean logits (N, T) of one or several teachers on one-hot windows."""
    first = teachers[0]
    for other in teachers[1:]:
        if other.length != first.length or other.tasks != first.tasks:
            raise InputError(
                f"this teacher takes {other.length} bp and tasks {other.tasks}, the first "
                f"{first.length} bp and {first.tasks}; an ensemble needs the same windows and "
                "tasks",
                other.source,
            )
    return np.mean([teacher.logits(x) for teacher in teachers], axis=0)


def distil_model(
    teachers: list[LoadedModel],
    splits: Splits,
    path: str,
    *,
    student: str = "basset",
    student_hyperparameters: dict | None = None,
    alpha: float = 0.5,
    temperature: float = 2.0,
    soft: str = "bce",
    epochs: int = 10,
    lr: float = 3e-3,
    seed: int = 0,
) -> dict:
    """Train a student on the teachers' logits and the labels, and save it as ``model.pt``.

    Parameters
    ----------
    teachers : list of LoadedModel
        One model or an ensemble (same window length and tasks).
    splits : Splits
        Train and val windows (``peakcnn.compress.common.load_splits``).
    path : str
        The student's ``model.pt``.
    student : str, default "basset"
        The student's ``MODELS`` name.
    student_hyperparameters : dict, optional
        Its constructor arguments (e.g. fewer ``filters`` and ``dense`` units).
    alpha, temperature, soft
        See ``DistillationLoss``.
    epochs, lr, seed
        Training epochs (best on validation AUROC), Adam learning rate (3e-3: a student
        starts from scratch), seed of the
        initial weights and shuffle order.

    Returns
    -------
    dict
        The student's name, hyperparameters and parameter count, the teachers', the best
        epoch, its validation AUROC, the student-teacher logit correlation on validation, its
        ``calibration`` and ``thresholds``.
    """
    if not teachers:
        raise InputError("distillation needs at least one teacher model")
    first = teachers[0]
    hyper = {
        "length": first.length,
        "n_tasks": len(first.tasks),
        **(student_hyperparameters or {}),
    }
    torch.manual_seed(seed)
    model = build_model(student, **hyper)
    soft_targets = teacher_logits(teachers, splits.x["train"])
    targets = np.concatenate([splits.y["train"], soft_targets], axis=1)
    loss = DistillationLoss(alpha, temperature, soft)
    model, history = fit(model, splits, epochs, targets=targets, loss_fn=loss, lr=lr, seed=seed)
    extras = standalone_extras(model, student, splits, first)
    save_checkpoint(path, model, student, hyper, extras)
    best = max(history, key=lambda row: np.nan_to_num(row["val_auroc"], nan=-1.0))
    val_teacher = teacher_logits(teachers, splits.x["val"]).ravel()
    with torch.no_grad():
        val_student = model(torch.from_numpy(splits.x["val"]).float()).numpy().ravel()
    return {
        "student": student,
        "hyperparameters": hyper,
        "parameters_student": count_parameters(model),
        "teachers": [teacher.source for teacher in teachers],
        "best_epoch": best["epoch"],
        "val_auroc": best["val_auroc"],
        "val_logit_pearson": float(np.corrcoef(val_student, val_teacher)[0, 1]),
        "calibration": extras["calibration"],
        "thresholds": extras["thresholds"],
        "path": path,
    }
