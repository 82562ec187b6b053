"""Training: one call of ``train_model`` trains one model and writes it, with its history.

``train_model`` trains one model (``peakcnn.models.registry.MODELS``) on the train split with
minibatch SGD/AdamW and BCE loss, and keeps the epoch with the best value of ``train.monitor``
on validation: the highest validation AUROC (``val_auroc``, the default) or the lowest
validation loss (``val_loss``), which also drives early stopping. The pieces:

- ``config``: the ``train`` section as a checked ``TrainConfig``;
- ``inputs``: the two splits read and checked, and their tensors on the device;
- ``optim``: model, optimiser, schedule, mixed precision (``resolve_amp``), loss;
- ``loop``: one epoch of steps on uint8 data, validation metrics, the shift-margin check;
- ``resume``: the ``checkpoint.pt`` written after every epoch and resumed after a crash;
- ``monitor``: best epoch and early stop, history, TensorBoard, progress bar, the report;
- ``outputs``: where a run writes, and the finish that calibrates and writes it;
- ``kmer_fit``: ``kmer_baseline``, fitted in one pass and written the same way;
- ``finetune``: a network started from another model's weights (``datasets.<name>.finetune``).

The kept model's validation logits fit a calibration per task (``peakcnn.models.calibration``),
stored in ``model.pt`` and reported in ``train.json``: every consumer reads it from there.
"""

from __future__ import annotations

import logging
import math
import time

import torch

from peakcnn.devices import resolve_device, set_seed, set_threads
from peakcnn.io import write_json
from peakcnn.models.registry import is_kmer_baseline
from peakcnn.training.config import TrainConfig, resolve_architecture
from peakcnn.training.finetune import Finetune, set_frozen, start_from_source
from peakcnn.training.inputs import (
    DeviceSplits,
    TrainingData,
    device_splits,
    load_training_data,
)
from peakcnn.training.kmer_fit import fit_kmer
from peakcnn.training.loop import train_epoch, validation_metrics
from peakcnn.training.monitor import (
    BestEpoch,
    history_row,
    log_scalars,
    open_tensorboard,
    progress_for,
    report_header,
)
from peakcnn.training.optim import TrainingSetup, build_setup
from peakcnn.training.outputs import Outputs, count_parameters, finish_training
from peakcnn.training.resume import (
    fingerprint,
    load_resumable,
    restore_state,
    save_state,
)

logger = logging.getLogger(__name__)

# Scalars of every epoch written to TensorBoard.
EPOCH_SCALARS = ("train_loss", "val_loss", "val_auroc", "val_auprc", "lr", "windows_per_s")


def train_model(
    train_path: str,
    val_path: str,
    model_path: str,
    history_path: str,
    report_path: str,
    *,
    model: str = "basset",
    threads: int = 1,
    resume: bool = True,
    finetune: dict | None = None,
    **settings: object,
) -> dict:
    """Train a model with BCE loss, keep the epoch with the best ``train.monitor`` value.

    Parameters
    ----------
    train_path, val_path : str
        Encoded split npz files (``x`` uint8 (N, 4, L), ``y`` uint8 (N, T)).
    model_path : str
        Output checkpoint (state_dict of the best epoch, hyperparameters, calibration).
    history_path : str
        Output per-epoch TSV (``monitor.HISTORY_FIELDS``).
    report_path : str
        Output ``train.json``: device, AMP, epochs run, best epoch, throughput, explainer,
        the calibration fitted on validation.
    model : str, default "basset"
        Model name (see ``peakcnn.models.registry.MODELS``).
    threads : int, default 1
        CPU threads for torch.
    resume : bool, default True
        Resume from a matching ``checkpoint.pt`` beside ``model_path`` when one is there.
    finetune : dict, optional
        Start from another model's weights: ``Finetune``'s fields (``source``, ``test_path``,
        ``freeze``, ...); None trains from scratch.
    **settings
        The ``train`` config section (``TrainConfig``; its keys, e.g. ``compile``).

    Returns
    -------
    dict
        The training report (also written to ``report_path``).

    Raises
    ------
    TypeError
        For a setting that is no ``train`` key.
    """
    config = TrainConfig.from_section(**settings)
    set_threads(threads)
    generator = set_seed(config.seed)
    device = resolve_device(config.device)
    data = load_training_data(train_path, val_path, config)
    architecture = resolve_architecture(model, config.architecture)
    header = report_header(model, config, data, device)
    outputs = Outputs(model_path, history_path, report_path)
    plan = Finetune(**finetune, val_path=val_path) if finetune else None
    if plan is not None and is_kmer_baseline(model):
        raise ValueError(f"finetune: {model} has no network weights; fine-tune a network")
    if is_kmer_baseline(model):  # k-mer counts hardly move with a shift: central windows
        centred = data.train["x"][:, :, data.margin : data.margin + data.length]
        report = fit_kmer(
            {**data.train, "x": centred},
            data.val,
            config=config,
            architecture=architecture,
            pos_weight=data.pos_weight,
            header=header,
            model_path=model_path,
            history_path=history_path,
            device=device,
        )
        write_json(report_path, report)
        return report
    hyperparameters = {"length": data.length, "n_tasks": data.train["y"].shape[1], **architecture}
    if config.rc_average:
        hyperparameters["rc_average"] = True
    return train_network(
        model,
        hyperparameters,
        data,
        config,
        header,
        outputs,
        device,
        generator,
        fingerprint=run_fingerprint(train_path, val_path, outputs, model, config, plan),
        resume=resume,
        finetune=plan,
    )


def run_fingerprint(
    train_path: str,
    val_path: str,
    outputs: Outputs,
    model: str,
    config: TrainConfig,
    finetune: Finetune | None = None,
) -> str:
    """Fingerprint a checkpoint must carry to be resumed: settings, paths, the splits' contents.

    The settings are every argument of ``train_model`` but ``threads``, ``resume`` and
    ``calibration``, under their config keys, so that a checkpoint keeps resuming across
    versions; a fine-tuned run adds its ``finetune`` settings (with the source's sha256).
    """
    extra = {"finetune": finetune.settings()} if finetune is not None else {}
    settings = {
        "train_path": train_path,
        "val_path": val_path,
        "model_path": outputs.model,
        "history_path": outputs.history,
        "report_path": outputs.report,
        "model": model,
        **config.resumable_settings(),
        **extra,
    }
    return fingerprint(settings, train_path, val_path)


def train_network(
    name: str,
    hyperparameters: dict,
    data: TrainingData,
    config: TrainConfig,
    header: dict,
    outputs: Outputs,
    device: torch.device,
    generator: torch.Generator,
    *,
    fingerprint: str,
    resume: bool,
    finetune: Finetune | None = None,
) -> dict:
    """Train a network epoch by epoch (resuming when it can), then write its outputs.

    With ``finetune`` the network starts from the source's weights (``start_from_source``).

    Returns
    -------
    dict
        The training report.
    """
    splits = device_splits(data, device)
    steps = math.ceil(len(splits.x) / config.batch_size)
    setup = build_setup(
        name,
        hyperparameters,
        config,
        steps_per_epoch=steps,
        pos_weight=data.pos_weight,
        device=device,
    )
    frozen, init_from = fine_tune(finetune, setup, (name, hyperparameters), config, steps)
    logger.info(
        "training %s on %s (amp %s, compile %s): %d train, %d val windows, %d parameters",
        name,
        device,
        setup.amp_dtype,
        config.torch_compile,
        len(splits.x),
        len(splits.x_val),
        count_parameters(setup),
    )
    best, history = BestEpoch(config.monitor, config.patience), []
    state = load_resumable(outputs.checkpoint, fingerprint, resume)
    if state is not None:
        restore_state(state, setup, generator)
        best.record, history = state["best"], state["history"]
    resumed_from = state["epoch"] if state is not None else 0
    writer = open_tensorboard(
        outputs.tensorboard, fresh=not resumed_from, purge_step=resumed_from + 1
    )
    for epoch in range(resumed_from + 1, config.epochs + 1):
        if best.should_stop(epoch):
            break
        if frozen:
            set_frozen(setup.core, frozen, epoch, finetune.freeze_epochs)
        row = run_epoch(setup, splits, config, generator, epoch, device)
        history.append(row)
        log_scalars(writer, row, EPOCH_SCALARS, epoch)
        best.update(row, setup.core)
        if setup.scheduler is not None and not setup.per_step:
            setup.scheduler.step(row[config.monitor])
        save_state(
            outputs.checkpoint,
            setup,
            fingerprint=fingerprint,
            epoch=epoch,
            best=best.record,
            history=history,
            generator=generator,
        )
    if writer is not None:
        writer.close()
    best.log_early_stop(history[-1]["epoch"] if history else 0, config.epochs)
    run = {"name": name, "hyperparameters": hyperparameters, "resumed_from": resumed_from}
    if init_from is not None:
        run["init_from"] = init_from
    return finish_training(setup, splits, config, header, outputs, history, best, run, device)


def fine_tune(
    finetune: Finetune | None, setup: TrainingSetup, run: tuple, config: TrainConfig, steps: int
) -> tuple[set[str], dict | None]:
    """Start a fine-tuned run from its source: (parameters frozen at first, ``init_from``)."""
    if finetune is None:
        return set(), None
    return start_from_source(finetune, setup, run, config, steps_per_epoch=steps)


def run_epoch(
    setup: TrainingSetup,
    splits: DeviceSplits,
    config: TrainConfig,
    generator: torch.Generator,
    epoch: int,
    device: torch.device,
) -> dict:
    """Train one epoch, time it, validate, and log its history row; return the row."""
    lr = setup.optimizer.param_groups[0]["lr"]  # at the start of the epoch
    start = time.perf_counter()
    train_loss = train_epoch(
        setup.core_compiled,
        splits.x,
        splits.y,
        setup.optimizer,
        setup.loss_fn,
        config.batch_size,
        generator,
        device,
        scheduler=setup.scheduler if setup.per_step else None,
        amp_dtype=setup.amp_dtype,
        scaler=setup.scaler,
        augment_rc=config.augment_rc,
        length=splits.x_val.shape[2],
        progress=progress_for(len(splits.x), epoch, config.epochs),
    )
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    metrics = validation_metrics(setup.model, splits.x_val, splits.y_val, setup.loss_fn, device)
    row = history_row(epoch, train_loss, metrics, lr, seconds, len(splits.x))
    logger.info(
        "epoch %d: train loss %.4f, val loss %.4f, val AUROC %.4f, AUPRC %.4f, lr %.3g, "
        "%.1f s (%.0f windows/s)",
        epoch,
        train_loss,
        row["val_loss"],
        row["val_auroc"],
        row["val_auprc"],
        lr,
        seconds,
        row["windows_per_s"],
    )
    return row
