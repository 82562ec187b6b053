"""Optimiser, learning-rate schedule, mixed precision and the (weighted) BCE loss."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from peakcnn.models.registry import build_model
from peakcnn.training.config import AMP_MODES, OPTIMIZERS, SCHEDULES, TrainConfig

logger = logging.getLogger(__name__)


def make_optimizer(
    model: nn.Module, name: str, lr: float, momentum: float, weight_decay: float
) -> torch.optim.Optimizer:
    """Build the optimiser: ``sgd`` (with momentum) or ``adamw``."""
    if name == "sgd":
        return torch.optim.SGD(
            model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay
        )
    if name == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    raise ValueError(f"train.optimizer {name!r} must be one of {list(OPTIMIZERS)}")


def make_scheduler(
    optimizer: torch.optim.Optimizer,
    schedule: str,
    *,
    epochs: int,
    steps_per_epoch: int,
    lr: float,
    monitor: str = "val_auroc",
    lr_factor: float = 0.5,
    lr_patience: int = 2,
) -> tuple[object | None, bool]:
    """Build the learning-rate schedule.

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
    schedule : {"none", "reduce_on_plateau", "cosine", "one_cycle"}
        ``reduce_on_plateau`` multiplies the LR by ``lr_factor`` after ``lr_patience`` epochs
        without a better monitored value; ``cosine`` anneals from ``lr`` to 0 over all steps;
        ``one_cycle`` warms up to ``lr`` (30% of the steps) then anneals.
    epochs, steps_per_epoch : int
        Length of the run, for the per-step schedules.
    lr : float
        Peak learning rate.
    monitor : {"val_auroc", "val_loss"}, default "val_auroc"
        The value ``reduce_on_plateau`` watches.
    lr_factor : float, default 0.5
    lr_patience : int, default 2

    Returns
    -------
    scheduler : object or None
    per_step : bool
        True when the scheduler steps after every batch, False once per epoch.
    """
    total = max(1, epochs * steps_per_epoch)
    if schedule == "none":
        return None, False
    if schedule == "reduce_on_plateau":
        mode = "max" if monitor == "val_auroc" else "min"
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode=mode, factor=lr_factor, patience=lr_patience
        )
        return plateau, False
    if schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total), True
    if schedule == "one_cycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=total), True
    raise ValueError(f"train.schedule {schedule!r} must be one of {list(SCHEDULES)}")


def compute_pos_weight(y: np.ndarray, setting: str | float | None) -> np.ndarray | None:
    """Weight of the positive class per task for the BCE loss.

    Parameters
    ----------
    y : numpy.ndarray
        Training labels (N, T) in {0, 1}.
    setting : "auto", float or None
        ``auto``: negatives / positives of each task in the train split; a number: that weight
        for every task; None (or ``"none"``): no weighting.

    Returns
    -------
    numpy.ndarray or None
        float32 (T,).

    Raises
    ------
    ValueError
        For ``auto`` when a task has no positive, or an invalid setting.
    """
    if setting is None or setting == "none":
        return None
    n_tasks = y.shape[1]
    if setting == "auto":
        positives = y.sum(axis=0).astype(np.float64)
        if (positives == 0).any():
            raise ValueError("train.pos_weight auto: a task has no positive in the train split")
        return ((len(y) - positives) / positives).astype(np.float32)
    if isinstance(setting, bool) or not isinstance(setting, int | float) or setting <= 0:
        raise ValueError(f"train.pos_weight {setting!r} must be auto, a positive number or null")
    return np.full(n_tasks, float(setting), dtype=np.float32)


def resolve_amp(amp: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype for ``amp`` on ``device``; None trains in float32.

    Parameters
    ----------
    amp : {"auto", "none", "bf16", "fp16"}
        ``auto``: on CUDA bf16 where the GPU supports it, else fp16; on a CPU with native
        bfloat16 instructions (``cpu_has_native_bf16``) bf16, else float32. ``fp16`` is CUDA
        only; ``bf16`` on a CPU without native support runs, emulated and slower.
    device : torch.device

    Returns
    -------
    torch.dtype or None
    """
    if amp not in AMP_MODES:
        raise ValueError(f"train.amp {amp!r} must be one of {list(AMP_MODES)}")
    if amp == "none":
        return None
    if device.type == "cuda":
        if amp == "auto":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.bfloat16 if amp == "bf16" else torch.float16
    if device.type == "cpu" and amp in ("auto", "bf16"):
        return torch.bfloat16 if amp == "bf16" or cpu_has_native_bf16() else None
    if amp != "auto":
        logger.warning("train.amp %s is not available on %s: training in float32", amp, device)
    return None


def cpu_has_native_bf16() -> bool:
    """Whether this CPU has bfloat16 instructions oneDNN uses (AVX512-BF16 or AMX)."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # private: may go
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def weighted_bce(pos_weight: np.ndarray | None, device: torch.device) -> nn.Module:
    """Return the training loss: BCE on logits, positives weighted per task by ``pos_weight``."""
    return nn.BCEWithLogitsLoss(
        pos_weight=None if pos_weight is None else torch.from_numpy(pos_weight).to(device)
    )


@dataclass
class TrainingSetup:
    """The model of a run and everything that steps it.

    Attributes
    ----------
    model : torch.nn.Module
        The model that predicts (validated and saved): under ``rc_average`` an ``RCAverage``
        around ``core``, else ``core`` itself.
    core : torch.nn.Module
        The module whose weights are optimised, checkpointed and kept at the best epoch.
    core_compiled : torch.nn.Module
        What the training steps call: ``torch.compile(core)`` or ``core`` itself.
    optimizer : torch.optim.Optimizer
    scheduler : object or None
    per_step : bool
        Whether ``scheduler`` steps after every batch (else once per epoch).
    amp_dtype : torch.dtype or None
        Autocast dtype (``resolve_amp``); None = float32.
    scaler : torch.amp.GradScaler or None
        Loss scaler for fp16.
    loss_fn : torch.nn.Module
    """

    model: nn.Module
    core: nn.Module
    core_compiled: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: object | None
    per_step: bool
    amp_dtype: torch.dtype | None
    scaler: torch.amp.GradScaler | None
    loss_fn: nn.Module


def build_setup(
    name: str,
    hyperparameters: dict,
    config: TrainConfig,
    *,
    steps_per_epoch: int,
    pos_weight: np.ndarray | None,
    device: torch.device,
) -> TrainingSetup:
    """Build model ``name`` on ``device`` with its optimiser, schedule, AMP and loss.

    Parameters
    ----------
    name : str
        Model name (``peakcnn.models.registry.MODELS``).
    hyperparameters : dict
        ``build_model``'s keyword arguments (with ``rc_average`` when set).
    config : TrainConfig
    steps_per_epoch : int
        Batches per epoch, for the per-step schedules.
    pos_weight : numpy.ndarray, optional
        Positive-class weight per task.
    device : torch.device

    Returns
    -------
    TrainingSetup
    """
    model = build_model(name, **hyperparameters).to(device)
    core = model.model if config.rc_average else model
    optimizer = make_optimizer(
        core, config.optimizer, config.lr, config.momentum, config.weight_decay
    )
    scheduler, per_step = make_scheduler(
        optimizer,
        config.schedule,
        epochs=config.epochs,
        steps_per_epoch=steps_per_epoch,
        lr=config.lr,
        monitor=config.monitor,
        lr_factor=config.lr_factor,
        lr_patience=config.lr_patience,
    )
    amp_dtype = resolve_amp(config.amp, device)
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.set_float32_matmul_precision("high")
    return TrainingSetup(
        model=model,
        core=core,
        core_compiled=torch.compile(core) if config.torch_compile else core,
        optimizer=optimizer,
        scheduler=scheduler,
        per_step=per_step,
        amp_dtype=amp_dtype,
        scaler=scaler,
        loss_fn=weighted_bce(pos_weight, device),
    )
