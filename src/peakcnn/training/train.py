"""Training: minibatch SGD/AdamW on uint8 one-hot data, early stopping, resumable checkpoints.

One call of ``train_model`` trains one model (``peakcnn.models.networks.MODELS``) on the train split
and
keeps the epoch with the best validation score (``monitor``: AUROC or loss). Design points:

- Data stay uint8 until a batch is on the device. On CUDA the whole uint8 training set is
  moved to the GPU once when it fits (else it is pinned), so a step is a gather, a cast and
  the model; on CPU a batch is one fancy index. The shuffle order (and the reverse-complement
  coin flips) are drawn once per epoch from a seeded CPU generator; nothing is done per sample
  in Python.
- Mixed precision (bf16, or fp16 with a GradScaler) only on CUDA; ``torch.compile`` optional.
- After every epoch a ``checkpoint.pt`` beside ``model.pt`` holds the model, optimiser,
  scheduler, scaler, best weights, history and every RNG state (as tensors and lists, loaded
  with ``weights_only=True``). A rerun after a crash or kill resumes from it when its
  fingerprint (the settings and the contents of the split files) matches, and ends with the
  same result on CPU as an uninterrupted run. It is removed once the outputs are written; it is
  not a declared output, so it never triggers or blocks a rerun.
- Logs: one line per epoch in the log, ``history.tsv``, TensorBoard event files in
  ``tensorboard/`` beside the model, ``train.json``; a progress bar only on a terminal.
- The kept model's validation logits fit a calibration per task (``peakcnn.models.calibration``),
  stored in ``model.pt`` and reported in ``train.json``: every consumer reads it from there.
- ``kmer_baseline`` is fitted in one pass (``peakcnn.models.kmer``) and written the same way.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import json
import logging
import math
import random
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import average_precision_score, roc_auc_score
from torch import nn

from peakcnn.data.splitfile import load_split
from peakcnn.devices import device_name, resolve_device, set_seed, set_threads
from peakcnn.errors import InputError
from peakcnn.evaluation.multitask import has_both_classes
from peakcnn.io import atomic_path, remove_stale_temporaries, write_json
from peakcnn.logs import progress
from peakcnn.models.calibration import CHECKPOINT_KEY, fit_calibration
from peakcnn.models.calibration import METHODS as CALIBRATION_METHODS
from peakcnn.models.inference import predict_logits
from peakcnn.models.kmer import DEFAULT_C, fit_kmer_baseline
from peakcnn.models.networks import MODELS, build_model, explainer_for, save_checkpoint

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
OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("none", "reduce_on_plateau", "cosine", "one_cycle")
MONITORS = ("val_auroc", "val_loss")
AMP_MODES = ("auto", "none", "bf16", "fp16")
# A split smaller than this (windows, or positives of a task) gets a warning: its metrics are
# noisy, and so is the choice of the best epoch or model made on it.
SMALL_SPLIT_WINDOWS = 1000
SMALL_SPLIT_POSITIVES = 200
CHECKPOINT_NAME = "checkpoint.pt"
TENSORBOARD_DIR = "tensorboard"
CHECKPOINT_VERSION = 1


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
    """Autocast dtype for ``amp`` on ``device``: None (float32) on anything but CUDA.

    Parameters
    ----------
    amp : {"auto", "none", "bf16", "fp16"}
        ``auto``: bf16 where the GPU supports it, else fp16.
    device : torch.device

    Returns
    -------
    torch.dtype or None
    """
    if amp not in AMP_MODES:
        raise ValueError(f"train.amp {amp!r} must be one of {list(AMP_MODES)}")
    if amp == "none":
        return None
    if device.type != "cuda":
        if amp != "auto":
            logger.warning(
                "train.amp %s asked for on %s: mixed precision is CUDA only", amp, device
            )
        return None
    if amp == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if amp == "bf16" else torch.float16


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
        Autocast dtype (CUDA only).
    scaler : torch.amp.GradScaler, optional
        Loss scaler for fp16.
    max_shift : int, default 0
        Random shifts of training windows, up to this many bp either way; must match the
        margin the dataset was built with (``build_dataset``'s ``max_shift``).
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


def _mean_over_tasks(metric: Callable, y: np.ndarray, scores: np.ndarray) -> list[float]:
    """Compute a ranking metric per task (NaN where a task has one class only)."""
    return [
        float(metric(y[:, t], scores[:, t])) if has_both_classes(y[:, t]) else float("nan")
        for t in range(y.shape[1])
    ]


def validate(
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
    aurocs = _mean_over_tasks(roc_auc_score, y, logits)
    auprcs = _mean_over_tasks(average_precision_score, y, logits)
    defined = [a for a in aurocs if not math.isnan(a)]
    return {
        "val_loss": loss,
        "val_auroc": float(np.mean(defined)) if defined else float("nan"),
        "val_auprc": float(np.nanmean(auprcs)) if defined else float("nan"),
        "val_auroc_tasks": aurocs,
        "val_auprc_tasks": auprcs,
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


def write_history(path: str, rows: list[dict]) -> None:
    """Write per-epoch history as a TSV, atomically (columns ``HISTORY_FIELDS``)."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, HISTORY_FIELDS, delimiter="\t", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def resolve_architecture(name: str, architecture: dict | None) -> dict:
    """Return the hyperparameters of model ``name`` from ``train.architecture``.

    ``architecture`` is either keyed by model name (``{basset: {...}, hybrid: {...}}``) or a
    flat dict of the model's own hyperparameters.
    """
    architecture = dict(architecture or {})
    if architecture and set(architecture) <= set(MODELS):
        return dict(architecture.get(name) or {})
    return architecture


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


def _file_digest(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fingerprint(settings: dict, *paths: str) -> str:
    """Hash of the training settings and the contents of the input files."""
    text = json.dumps(settings, sort_keys=True, default=str)
    text += "".join(_file_digest(p) for p in paths)
    return hashlib.sha256(text.encode()).hexdigest()


def _rng_state(generator: torch.Generator) -> dict:
    """Every RNG state, as tensors, lists and numbers (loadable with ``weights_only=True``)."""
    key, mt, pos, has_gauss, cached = np.random.get_state()
    version, python_state, gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "generator": generator.get_state(),
        "numpy": [key, torch.from_numpy(mt.astype(np.int64)), pos, has_gauss, cached],
        "python": [version, list(python_state), gauss],
    }


def _set_rng_state(state: dict, generator: torch.Generator) -> None:
    """Restore the states saved by ``_rng_state``."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    generator.set_state(state["generator"])
    key, mt, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((key, mt.numpy().astype(np.uint32), pos, has_gauss, cached))
    version, python_state, gauss = state["python"]
    random.setstate((version, tuple(python_state), gauss))


def _progress_for(total: int, epoch: int, epochs: int) -> Callable[[int], None] | None:
    """Return a callback drawing the epoch's progress bar on a terminal, or None without one."""
    bar = progress(total, f"epoch {epoch}/{epochs}", "windows")
    if bar.disable:
        return None

    def update(done: int) -> None:
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return update


def _tensorboard(folder: Path, fresh: bool, purge_step: int) -> object | None:
    """Return a TensorBoard SummaryWriter in ``folder`` (emptied on a fresh start), or None."""
    if fresh and folder.exists():
        shutil.rmtree(folder)
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as error:  # pragma: no cover - tensorboard is a dependency of the env
        logger.warning("no TensorBoard event files: %s", error)
        return None
    return SummaryWriter(log_dir=str(folder), purge_step=None if fresh else purge_step)


def _on_device(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Move a whole uint8 split to the GPU when it fits easily, else pin it on the host."""
    if device.type != "cuda":
        return x
    free, _ = torch.cuda.mem_get_info(device)
    if x.numel() * x.element_size() < 0.25 * free:
        return x.to(device)
    return x.pin_memory()


def train_model(
    train_path: str,
    val_path: str,
    model_path: str,
    history_path: str,
    report_path: str,
    *,
    model: str = "basset",
    architecture: dict | None = None,
    epochs: int = 20,
    batch_size: int = 64,
    optimizer: str = "sgd",
    lr: float = 0.02,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    schedule: str = "none",
    lr_factor: float = 0.5,
    lr_patience: int = 2,
    monitor: str = "val_auroc",
    patience: int = 5,
    pos_weight: str | float | None = None,
    augment_rc: bool = False,
    max_shift: int = 0,
    rc_average: bool = False,
    amp: str = "auto",
    compile: bool = False,
    calibration: str = "platt",
    seed: int = 0,
    device: str = "auto",
    threads: int = 1,
    resume: bool = True,
) -> dict:
    """Train a model with BCE loss, keep the epoch with the best validation score.

    Parameters
    ----------
    train_path, val_path : str
        Encoded split npz files (``x`` uint8 (N, 4, L), ``y`` uint8 (N, T)).
    model_path : str
        Output checkpoint (state_dict of the best epoch, hyperparameters, calibration).
    history_path : str
        Output per-epoch TSV (``HISTORY_FIELDS``).
    report_path : str
        Output ``train.json``: device, AMP, epochs run, best epoch, throughput, explainer,
        the calibration fitted on validation.
    model : str, default "basset"
        Model name (see ``peakcnn.models.networks.MODELS``).
    architecture : dict, optional
        Model hyperparameters, flat or keyed by model name; model defaults when empty. For
        ``kmer_baseline``: ``k``, ``canonical`` and ``C`` (a number or a grid chosen on
        validation).
    epochs : int, default 20
        Maximum epochs.
    batch_size : int, default 64
    optimizer : {"sgd", "adamw"}, default "sgd"
    lr : float, default 0.02
        Learning rate (the peak for ``one_cycle``).
    momentum : float, default 0.9
        SGD momentum.
    weight_decay : float, default 0.0
    schedule : {"none", "reduce_on_plateau", "cosine", "one_cycle"}, default "none"
    lr_factor : float, default 0.5
        ``reduce_on_plateau``: LR multiplier.
    lr_patience : int, default 2
        ``reduce_on_plateau``: epochs without improvement before the LR is lowered.
    monitor : {"val_auroc", "val_loss"}, default "val_auroc"
        What picks the best epoch and drives early stopping.
    patience : int, default 5
        Stop after this many epochs without a better monitored value (0: never stop early);
        the best epoch's weights are restored.
    pos_weight : "auto", float or None, default None
        Positive-class weight of the loss: negatives/positives of the train split (auto), a
        number, or none.
    augment_rc : bool, default False
        Reverse-complement each training window with probability 1/2.
    rc_average : bool, default False
        Predict with the mean logit of a window and its reverse complement (also used for the
        validation scores that pick the best epoch; stored in the checkpoint).
    amp : {"auto", "none", "bf16", "fp16"}, default "auto"
        Mixed precision on CUDA (auto: bf16 where supported, else fp16); never on CPU.
    compile : bool, default False
        Run training steps through ``torch.compile``.
    calibration : {"temperature", "platt", "none"}, default "platt"
        How the kept model's probabilities are calibrated on validation
        (``peakcnn.models.calibration``); stored in the checkpoint.
    seed : int, default 0
    device : str, default "auto"
        ``auto`` picks CUDA when available, else CPU.
    threads : int, default 1
        CPU threads for torch.
    resume : bool, default True
        Resume from a matching ``checkpoint.pt`` beside ``model_path`` when one is there.

    Returns
    -------
    dict
        The training report (also written to ``report_path``).
    """
    # calibration is fitted after training: it does not change what a checkpoint resumes
    settings = {k: v for k, v in locals().items() if k not in ("threads", "resume", "calibration")}
    for value, allowed, key in (
        (optimizer, OPTIMIZERS, "optimizer"),
        (schedule, SCHEDULES, "schedule"),
        (monitor, MONITORS, "monitor"),
        (amp, AMP_MODES, "amp"),
        (calibration, CALIBRATION_METHODS, "calibration"),
    ):
        if value not in allowed:
            raise ValueError(f"train.{key} {value!r} must be one of {list(allowed)}")
    set_threads(threads)
    generator = set_seed(seed)
    target = resolve_device(device)
    train, val = load_split(train_path), load_split(val_path)
    length, margin = check_margin(train, val, max_shift, train_path)
    own = resolve_architecture(model, architecture)
    warnings = split_warnings("train", train["y"]) + split_warnings("val", val["y"])
    for warning in warnings:
        logger.warning(warning)
    weights = compute_pos_weight(train["y"], pos_weight)
    common = {
        "model": model,
        "explainer": explainer_for(model),
        "device": str(target),
        "device_name": device_name(target),
        "threads": torch.get_num_threads(),
        "seed": seed,
        "monitor": monitor,
        "pos_weight": None if weights is None else weights.tolist(),
        "rc_average": rc_average,
        "train_windows": len(train["y"]),
        "train_positives": train["y"].sum(axis=0).tolist(),
        "val_windows": len(val["y"]),
        "val_positives": val["y"].sum(axis=0).tolist(),
        "warnings": warnings,
    }
    common["max_shift"] = margin
    if model == "kmer_baseline":  # k-mer counts hardly move with a shift: central windows
        centred = {**train, "x": train["x"][:, :, margin : margin + length]}
        report = _fit_kmer(
            centred,
            val,
            model_path,
            history_path,
            own,
            weights,
            rc_average,
            target,
            common,
            calibration,
        )
        write_json(report_path, report)
        return report

    x = _on_device(torch.from_numpy(train["x"]), target)
    y = _on_device(torch.from_numpy(train["y"].astype(np.float32)), target)
    x_val = _on_device(torch.from_numpy(val["x"]), target)
    hyperparameters = {"length": length, "n_tasks": y.shape[1], **own}
    if rc_average:
        hyperparameters["rc_average"] = True
    predictor = build_model(model, **hyperparameters).to(target)
    network = predictor.model if rc_average else predictor
    opt = make_optimizer(network, optimizer, lr, momentum, weight_decay)
    steps = math.ceil(len(x) / batch_size)
    scheduler, per_step = make_scheduler(
        opt,
        schedule,
        epochs=epochs,
        steps_per_epoch=steps,
        lr=lr,
        monitor=monitor,
        lr_factor=lr_factor,
        lr_patience=lr_patience,
    )
    amp_dtype = resolve_amp(amp, target)
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None
    if target.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.set_float32_matmul_precision("high")
    step_model = torch.compile(network) if compile else network
    loss_fn = nn.BCEWithLogitsLoss(
        pos_weight=None if weights is None else torch.from_numpy(weights).to(target)
    )
    n_parameters = sum(p.numel() for p in network.parameters())
    logger.info(
        "training %s on %s (amp %s, compile %s): %d train, %d val windows, %d parameters",
        model,
        target,
        amp_dtype,
        compile,
        len(x),
        len(x_val),
        n_parameters,
    )

    sign = 1.0 if monitor == "val_auroc" else -1.0
    history: list[dict] = []
    best = {"score": -math.inf, "epoch": 0, "state": None}
    checkpoint_path = Path(model_path).with_name(CHECKPOINT_NAME)
    remove_stale_temporaries(checkpoint_path)  # left by a killed run
    fingerprint = _fingerprint(settings, train_path, val_path)
    resumed_from = 0
    if resume and checkpoint_path.exists():
        # on the CPU: RNG states must stay CPU tensors; load_state_dict moves the rest
        state = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
        if state.get("fingerprint") == fingerprint and state.get("version") == CHECKPOINT_VERSION:
            network.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            if scheduler is not None:
                scheduler.load_state_dict(state["scheduler"])
            if scaler is not None:
                scaler.load_state_dict(state["scaler"])
            best = state["best"]
            history = state["history"]
            _set_rng_state(state["rng"], generator)
            resumed_from = state["epoch"]
            logger.info("resuming from %s after epoch %d", checkpoint_path, resumed_from)
        else:
            logger.info("ignoring %s: it was written for other settings or data", checkpoint_path)
    writer = _tensorboard(
        Path(model_path).with_name(TENSORBOARD_DIR),
        fresh=not resumed_from,
        purge_step=resumed_from + 1,
    )

    for epoch in range(resumed_from + 1, epochs + 1):
        if patience and epoch - 1 - best["epoch"] >= patience:
            break
        lr_used = opt.param_groups[0]["lr"]  # at the start of the epoch
        start = time.perf_counter()
        train_loss = train_epoch(
            step_model,
            x,
            y,
            opt,
            loss_fn,
            batch_size,
            generator,
            target,
            scheduler=scheduler if per_step else None,
            amp_dtype=amp_dtype,
            scaler=scaler,
            augment_rc=augment_rc,
            length=length,
            progress=_progress_for(len(x), epoch, epochs),
        )
        if target.type == "cuda":
            torch.cuda.synchronize(target)
        seconds = time.perf_counter() - start
        metrics = validate(predictor, x_val, val["y"], loss_fn, target)
        row = {
            "epoch": epoch,
            "train_loss": train_loss,
            **metrics,
            "lr": lr_used,
            "seconds": round(seconds, 3),
            "windows_per_s": round(len(x) / seconds, 1),
        }
        history.append(row)
        logger.info(
            "epoch %d: train loss %.4f, val loss %.4f, val AUROC %.4f, AUPRC %.4f, lr %.3g, "
            "%.1f s (%.0f windows/s)",
            epoch,
            train_loss,
            row["val_loss"],
            row["val_auroc"],
            row["val_auprc"],
            lr_used,
            seconds,
            row["windows_per_s"],
        )
        if writer is not None:
            for key in ("train_loss", "val_loss", "val_auroc", "val_auprc", "lr", "windows_per_s"):
                writer.add_scalar(key, row[key], epoch)
            writer.flush()
        score = sign * row[monitor]
        if math.isnan(score):
            raise ValueError(
                f"{monitor} is undefined on the validation split (one class only); "
                "check the split or use train.monitor: val_loss"
            )
        if score > best["score"]:
            best = {"score": score, "epoch": epoch, "state": copy.deepcopy(network.state_dict())}
        if scheduler is not None and not per_step:
            scheduler.step(row[monitor])
        _save_state(
            checkpoint_path,
            {
                "version": CHECKPOINT_VERSION,
                "fingerprint": fingerprint,
                "epoch": epoch,
                "model": network.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "scaler": scaler.state_dict() if scaler is not None else None,
                "best": best,
                "history": history,
                "rng": _rng_state(generator),
            },
        )
    if writer is not None:
        writer.close()
    last = history[-1]["epoch"] if history else 0
    if patience and last < epochs and last - best["epoch"] >= patience:
        logger.info("early stop: no better %s for %d epochs", monitor, patience)
    network.load_state_dict(best["state"])
    best_row = history[best["epoch"] - 1]
    fitted = fit_calibration(predict_logits(predictor, x_val, target), val["y"], calibration)
    with atomic_path(model_path) as tmp:
        save_checkpoint(
            tmp,
            predictor,
            model,
            hyperparameters,
            extra={"explainer": explainer_for(model), CHECKPOINT_KEY: fitted},
        )
    write_history(history_path, history)
    seconds = sum(row["seconds"] for row in history)
    report = {
        **common,
        "hyperparameters": hyperparameters,
        "amp": str(amp_dtype).removeprefix("torch.") if amp_dtype is not None else False,
        "compile": compile,
        "optimizer": optimizer,
        "lr": lr,
        "schedule": schedule,
        "augment_rc": augment_rc,
        "batch_size": batch_size,
        "epochs_run": len(history),
        "resumed_after_epoch": resumed_from,
        "best_epoch": best["epoch"],
        "best_val_auroc": best_row["val_auroc"],
        "best_val_auprc": best_row["val_auprc"],
        "best_val_loss": best_row["val_loss"],
        "best_val_auroc_tasks": best_row["val_auroc_tasks"],
        "windows_per_s": round(len(x) * len(history) / max(seconds, 1e-9), 1),
        "parameters": n_parameters,
        CHECKPOINT_KEY: fitted,
    }
    write_json(report_path, report)
    checkpoint_path.unlink(missing_ok=True)
    logger.info(
        "trained %s: best epoch %d of %d, val AUROC %.4f, %.0f windows/s, %s T %s b %s (%s)",
        model,
        best["epoch"],
        len(history),
        best_row["val_auroc"],
        report["windows_per_s"],
        calibration,
        [round(t, 4) for t in fitted["temperature"]],
        [round(b, 4) for b in fitted["bias"]],
        ", ".join(fitted["status"]),
    )
    return report


def _save_state(path: Path, state: dict) -> None:
    """Write the resumable training state atomically."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def _fit_kmer(
    train: dict,
    val: dict,
    model_path: str,
    history_path: str,
    architecture: dict,
    weights: np.ndarray | None,
    rc_average: bool,
    device: torch.device,
    common: dict,
    calibration: str = "platt",
) -> dict:
    """Fit and write the k-mer baseline; return its training report."""
    settings = {"k": 6, "canonical": True, "C": list(DEFAULT_C), **architecture}
    unknown = set(settings) - {"k", "canonical", "C"}
    if unknown:
        raise ValueError(f"model 'kmer_baseline' does not take hyperparameter(s) {sorted(unknown)}")
    start = time.perf_counter()
    fitted, fit_report = fit_kmer_baseline(
        train["x"],
        train["y"],
        val["x"],
        val["y"],
        k=settings["k"],
        canonical=settings["canonical"],
        C=settings["C"],
        pos_weight=weights,
        device=device,
    )
    seconds = time.perf_counter() - start
    hyperparameters = {
        "length": train["x"].shape[2],
        "n_tasks": train["y"].shape[1],
        "k": settings["k"],
        "canonical": settings["canonical"],
    }
    if rc_average:
        hyperparameters["rc_average"] = True
    predictor = build_model("kmer_baseline", **hyperparameters)
    (predictor.model if rc_average else predictor).load_state_dict(fitted.state_dict())
    predictor = predictor.to(device).eval()
    loss_fn = nn.BCEWithLogitsLoss(
        pos_weight=None if weights is None else torch.from_numpy(weights).to(device)
    )
    metrics = validate(predictor, val["x"], val["y"], loss_fn, device)
    row = {
        "epoch": 1,
        "train_loss": fit_report["train_loss"],
        **metrics,
        "lr": "",
        "seconds": round(seconds, 3),
        "windows_per_s": round(len(train["y"]) / seconds, 1),
    }
    fitted = fit_calibration(predict_logits(predictor, val["x"], device), val["y"], calibration)
    with atomic_path(model_path) as tmp:
        save_checkpoint(
            tmp,
            predictor.cpu(),
            "kmer_baseline",
            hyperparameters,
            extra={"explainer": None, CHECKPOINT_KEY: fitted},
        )
    write_history(history_path, [row])
    writer = _tensorboard(Path(model_path).with_name(TENSORBOARD_DIR), fresh=True, purge_step=1)
    if writer is not None:
        for key in ("train_loss", "val_loss", "val_auroc", "val_auprc"):
            writer.add_scalar(key, row[key], 1)
        writer.close()
    logger.info(
        "k-mer baseline (k=%d, canonical %s, C=%g, %d features): val AUROC %.4f in %.1f s",
        settings["k"],
        settings["canonical"],
        fit_report["C"],
        fit_report["n_features"],
        metrics["val_auroc"],
        seconds,
    )
    return {
        **common,
        "hyperparameters": hyperparameters,
        "fit": fit_report,
        "amp": False,
        "compile": False,
        "epochs_run": 1,
        "resumed_after_epoch": 0,
        "best_epoch": 1,
        "best_val_auroc": metrics["val_auroc"],
        "best_val_auprc": metrics["val_auprc"],
        "best_val_loss": metrics["val_loss"],
        "best_val_auroc_tasks": metrics["val_auroc_tasks"],
        "windows_per_s": row["windows_per_s"],
        "parameters": sum(p.numel() for p in predictor.parameters()),
        CHECKPOINT_KEY: fitted,
    }
