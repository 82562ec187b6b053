"""Fine-tuning: start a network from another model's weights (``datasets.<name>.finetune``).

``start_from_source`` loads the source ``model.pt``, checks that it is the same model with the
same hyperparameters (all but the task count), copies its weights into the new model (all of
them, or all but the head when the task counts differ: the head then keeps its fresh, seeded
initialisation), and replaces the optimiser by one with two parameter groups: the pretrained
body at ``lr * body_lr_factor`` and the head at ``lr``. ``freeze`` (``convolutions`` or
``all_but_head``) keeps part of the body fixed for the first ``freeze_epochs`` epochs
(``set_frozen``, called before every epoch); BatchNorm running statistics still follow the
new data.

No leak through pretraining: when the source's run folder holds its split (``split/`` beside
``dataset/train.npz``), none of the source's training windows may overlap a validation or test
window of the target (``check_no_overlap``), unless ``allow_overlap`` is set; both the setting
and the overlap count are recorded in ``train.json`` (``init_from``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from peakcnn.errors import InputError
from peakcnn.models.checkpoint import model_from_checkpoint, read_checkpoint
from peakcnn.models.layers import RCAverage
from peakcnn.models.registry import build_model
from peakcnn.training.optim import TrainingSetup, make_scheduler

logger = logging.getLogger(__name__)

FREEZE_MODES = ("none", "convolutions", "all_but_head")
# Hyperparameters that may differ between source and target: the head's size, the RC wrapper.
_FREE_HYPERPARAMETERS = ("n_tasks", "rc_average")
# Modules of the convolution blocks (``models.layers.conv_blocks``), frozen by ``convolutions``.
_CONV_MODULES = (nn.Conv1d, nn.BatchNorm1d)


@dataclass(frozen=True)
class Finetune:
    """Where a model starts from, and how it is fine-tuned (a dataset's ``finetune`` entry).

    Parameters
    ----------
    source : str
        The source ``model.pt``.
    val_path, test_path : str, optional
        The target's validation and test split npz: the windows the source must not have
        trained on.
    freeze : {"none", "convolutions", "all_but_head"}, default "none"
    freeze_epochs : int, default 0
        Epochs (from the first) with ``freeze`` applied; the whole body trains after them.
    body_lr_factor : float, default 1.0
        Learning rate of the pretrained body relative to ``train.lr`` (the head's).
    allow_overlap : bool, default False
        Accept a source whose training windows overlap the target's val/test windows.
    """

    source: str
    val_path: str | None = None
    test_path: str | None = None
    freeze: str = "none"
    freeze_epochs: int = 0
    body_lr_factor: float = 1.0
    allow_overlap: bool = False

    def __post_init__(self) -> None:
        """Check the settings."""
        if self.freeze not in FREEZE_MODES:
            raise ValueError(f"finetune.freeze {self.freeze!r} must be one of {FREEZE_MODES}")
        if self.freeze_epochs < 0 or self.body_lr_factor <= 0:
            raise ValueError(
                f"finetune: freeze_epochs ({self.freeze_epochs}) must be >= 0 and "
                f"body_lr_factor ({self.body_lr_factor}) > 0"
            )

    def settings(self) -> dict:
        """Return the settings as plain values (for the resume fingerprint and the report)."""
        return {**asdict(self), "source_sha256": sha256_of(self.source)}


def sha256_of(path: str) -> str:
    """Return the sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_source(path: str) -> tuple[str, dict, nn.Module]:
    """Read a source ``model.pt``: its model name, hyperparameters and core network (CPU)."""
    if not Path(path).is_file():
        raise InputError(f"finetune: source model {path} does not exist; train it first")
    checkpoint = read_checkpoint(path)
    module = model_from_checkpoint(checkpoint)
    core = module.model if isinstance(module, RCAverage) else module
    return checkpoint["name"], checkpoint["hyperparameters"], core


def check_compatible(source: str, source_model: tuple[str, dict], target: tuple[str, dict]):
    """Fail with one line when the source is another model or has other hyperparameters.

    ``source_model`` and ``target`` are (model name, hyperparameters); the task count and
    ``rc_average`` may differ.
    """
    (source_name, source_hp), (target_name, target_hp) = source_model, target
    shared_source = {k: v for k, v in source_hp.items() if k not in _FREE_HYPERPARAMETERS}
    shared_target = {k: v for k, v in target_hp.items() if k not in _FREE_HYPERPARAMETERS}
    if source_name != target_name or shared_source != shared_target:
        differ = sorted(
            key
            for key in set(shared_source) | set(shared_target)
            if shared_source.get(key) != shared_target.get(key)
        )
        raise InputError(
            f"finetune: cannot start {target_name} {shared_target} from {source} "
            f"({source_name} {shared_source}): they differ in "
            f"{'the model' if source_name != target_name else differ}; use the source's model "
            "and train.architecture (and windows.length)"
        )


def head_keys(name: str, hyperparameters: dict) -> set[str]:
    """State keys of the head: those whose shape follows the task count (built on ``meta``)."""
    shapes = []
    for n_tasks in (1, 2):
        hp = {**hyperparameters, "n_tasks": n_tasks, "rc_average": False}
        with torch.device("meta"):
            model = build_model(name, **hp)
        shapes.append({key: value.shape for key, value in model.state_dict().items()})
    return {key for key, shape in shapes[0].items() if shapes[1][key] != shape}


def copy_weights(source: nn.Module, target: nn.Module, head: set[str], same_tasks: bool) -> int:
    """Copy the source's weights into ``target`` (without the head unless ``same_tasks``).

    Returns
    -------
    int
        Number of state entries copied.
    """
    state = {
        key: value for key, value in source.state_dict().items() if same_tasks or key not in head
    }
    missing, unexpected = target.load_state_dict(state, strict=False)
    if unexpected or set(missing) - head:
        raise InputError(f"finetune: source weights do not fit: {missing=} {unexpected=}")
    return len(state)


def frozen_names(core: nn.Module, freeze: str, head: set[str]) -> set[str]:
    """Names of the parameters ``freeze`` keeps fixed."""
    if freeze == "all_but_head":
        return {name for name, _ in core.named_parameters() if name not in head}
    if freeze == "convolutions":
        return {
            f"{prefix}.{name}" if prefix else name
            for prefix, module in core.named_modules()
            if isinstance(module, _CONV_MODULES)
            for name, _ in module.named_parameters(recurse=False)
        }
    return set()


def set_frozen(core: nn.Module, frozen: set[str], epoch: int, freeze_epochs: int) -> None:
    """Before ``epoch``: parameters in ``frozen`` take no gradient up to ``freeze_epochs``."""
    trainable = epoch > freeze_epochs
    for name, parameter in core.named_parameters():
        parameter.requires_grad_(trainable or name not in frozen)


def regroup_optimizer(setup: TrainingSetup, config, head: set[str], factor: float, steps: int):
    """Replace the optimiser by one with the body at ``lr * factor`` and the head at ``lr``."""
    named = list(setup.core.named_parameters())
    groups = [
        {"params": [p for n, p in named if n not in head], "lr": config.lr * factor},
        {"params": [p for n, p in named if n in head], "lr": config.lr},
    ]
    groups = [group for group in groups if group["params"]]
    setup.optimizer = type(setup.optimizer)(groups, **setup.optimizer.defaults)
    setup.scheduler, setup.per_step = make_scheduler(
        setup.optimizer,
        config.schedule,
        epochs=config.epochs,
        steps_per_epoch=steps,
        lr=[group["lr"] for group in groups],  # one_cycle's peak, per group
        monitor=config.monitor,
        lr_factor=config.lr_factor,
        lr_patience=config.lr_patience,
    )


def source_train_split(source: str) -> Path | None:
    """Return the training split of the source's run folder (``<run>/models/<model>/``), if any."""
    run = Path(source).parent.parent.parent
    if not (run / "split").is_dir():
        return None
    train = run / "dataset" / "train.npz"
    if not train.is_file():
        raise InputError(
            f"finetune: {run} has split/ but no dataset/train.npz: cannot check that the "
            "source's training windows leave the target's val/test windows alone; build it"
        )
    return train


def _intervals(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chromosomes, starts and ends of a split npz's windows (the big ``x`` is not read)."""
    with np.load(path) as split:
        return split["chrom"].astype(str), split["start"], split["end"]


def overlapping(source: tuple, target: tuple) -> np.ndarray:
    """Mask of the ``target`` windows that overlap any ``source`` window (half-open)."""
    chrom, start, end = target
    mask = np.zeros(len(chrom), dtype=bool)
    for name in np.intersect1d(np.unique(chrom), np.unique(source[0])):
        on = source[0] == name
        order = np.argsort(source[1][on], kind="stable")
        starts, reach = source[1][on][order], np.maximum.accumulate(source[2][on][order])
        here = np.flatnonzero(chrom == name)
        before = np.searchsorted(starts, end[here], side="left")  # sources starting before end
        mask[here] = (before > 0) & (reach[np.maximum(before - 1, 0)] > start[here])
    return mask


def check_no_overlap(finetune: Finetune) -> dict:
    """Refuse a source trained on windows that overlap the target's val/test windows.

    Returns
    -------
    dict
        What was checked: the source's split file, windows compared, overlaps, the override.
    """
    train = source_train_split(finetune.source)
    if train is None:
        logger.warning("finetune: %s has no split/ beside it: no leak check", finetune.source)
        return {"source_split": None, "overlapping_windows": None}
    source = _intervals(train)
    overlaps, windows, first = 0, 0, None
    for path in (p for p in (finetune.val_path, finetune.test_path) if p):
        target = _intervals(path)
        mask = overlapping(source, target)
        overlaps, windows = overlaps + int(mask.sum()), windows + len(mask)
        if first is None and mask.any():
            i = int(np.flatnonzero(mask)[0])
            first = f"{target[0][i]}:{target[1][i]}-{target[2][i]} of {path}"
    if overlaps and not finetune.allow_overlap:
        raise InputError(
            f"finetune: {overlaps} of {windows} val/test windows overlap training windows of "
            f"the source {finetune.source} ({train}; first: {first}): its test metrics would "
            "leak; pretrain on other regions (the same split regions) or set "
            "finetune.allow_overlap: true"
        )
    if overlaps:
        logger.warning("finetune: %d val/test windows overlap the source's training", overlaps)
    return {"source_split": str(train), "checked_windows": windows, "overlapping_windows": overlaps}


def source_report(source: str) -> dict:
    """Return the source's own ``train.json`` settings and tasks, when they lie beside its model."""
    path = Path(source).with_name("train.json")
    report = json.loads(path.read_text()) if path.is_file() else {}
    keys = ("model", "hyperparameters", "seed", "optimizer", "lr", "schedule", "best_epoch")
    train = source_train_split(source)
    tasks = None
    if train is not None:
        with np.load(train) as split:
            tasks = split["tasks"].astype(str).tolist()
    return {"train_json": {k: report[k] for k in keys if k in report}, "tasks": tasks}


def start_from_source(
    finetune: Finetune,
    setup: TrainingSetup,
    run: tuple[str, dict],
    config,
    *,
    steps_per_epoch: int,
) -> tuple[set[str], dict]:
    """Initialise a run's network from its source; regroup its optimiser.

    Parameters
    ----------
    finetune : Finetune
    setup : TrainingSetup
        The freshly built run (its ``core`` is changed in place, its optimiser replaced).
    run : tuple of (str, dict)
        The run's model name and hyperparameters.
    config : TrainConfig
    steps_per_epoch : int

    Returns
    -------
    frozen : set of str
        Parameters to freeze for the first ``freeze_epochs`` epochs (``set_frozen``).
    report : dict
        ``init_from`` of ``train.json``.
    """
    leak = check_no_overlap(finetune)
    source_name, source_hp, source_core = read_source(finetune.source)
    name, hyperparameters = run
    check_compatible(finetune.source, (source_name, source_hp), run)
    head = head_keys(name, hyperparameters)
    same_tasks = source_hp["n_tasks"] == hyperparameters["n_tasks"]
    copied = copy_weights(source_core, setup.core, head, same_tasks)
    regroup_optimizer(setup, config, head, finetune.body_lr_factor, steps_per_epoch)
    logger.info(
        "fine-tuning %s from %s: %d weights copied, head %s, freeze %s for %d epoch(s)",
        name,
        finetune.source,
        copied,
        "kept"
        if same_tasks
        else f"re-initialised ({source_hp['n_tasks']} -> {hyperparameters['n_tasks']} tasks)",
        finetune.freeze,
        finetune.freeze_epochs,
    )
    report = {
        **finetune.settings(),
        **leak,
        "source_n_tasks": source_hp["n_tasks"],
        "head_reinitialised": not same_tasks,
        **source_report(finetune.source),
    }
    return frozen_names(setup.core, finetune.freeze, head), report
