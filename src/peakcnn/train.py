"""Training loop: minibatch SGD/AdamW on uint8 one-hot data, early stopping on validation."""

from __future__ import annotations

import copy
import csv
import logging
import time

import numpy as np
import torch
from sklearn.metrics import average_precision_score, roc_auc_score
from torch import nn

from peakcnn.dataset import load_split
from peakcnn.devices import resolve_device, set_seed, set_threads
from peakcnn.inference import predict_logits
from peakcnn.io import atomic_path, write_json
from peakcnn.model import build_model, save_checkpoint

logger = logging.getLogger(__name__)

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
    raise ValueError(f"train.optimizer {name!r} must be sgd or adamw")


def train_epoch(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    loss_fn: nn.Module,
    batch_size: int,
    generator: torch.Generator,
    device: torch.device,
) -> float:
    """Run one epoch over shuffled minibatches; return the mean training loss.

    ``x`` stays uint8 on the host; each batch is moved to ``device`` and cast to float there.
    """
    model.train()
    order = torch.randperm(len(x), generator=generator)
    total = 0.0
    for first in range(0, len(x), batch_size):
        index = order[first : first + batch_size]
        xb = x[index].to(device, non_blocking=True).float()
        yb = y[index].to(device, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(xb), yb)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(index)
    return total / len(x)


def validate(
    model: nn.Module, x: np.ndarray, y: np.ndarray, loss_fn: nn.Module, device: torch.device
) -> dict:
    """Compute the validation loss, AUROC and AUPRC (first task) of the model."""
    logits = torch.from_numpy(predict_logits(model, x, device))
    target = torch.from_numpy(y.astype(np.float32))
    scores = logits[:, 0].numpy()
    return {
        "val_loss": float(loss_fn(logits, target)),
        "val_auroc": float(roc_auc_score(y[:, 0], scores)),
        "val_auprc": float(average_precision_score(y[:, 0], scores)),
    }


def write_history(path: str, rows: list[dict]) -> None:
    """Write per-epoch history as a TSV, atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, HISTORY_FIELDS, delimiter="\t")
        writer.writeheader()
        writer.writerows(rows)


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
    patience: int = 5,
    seed: int = 0,
    device: str = "auto",
    threads: int = 1,
) -> dict:
    """Train a model with BCE loss, keep the epoch with the best validation AUROC.

    Parameters
    ----------
    train_path, val_path : str
        Encoded split npz files (``x`` uint8 (N, 4, L), ``y`` uint8 (N, T)).
    model_path : str
        Output checkpoint (state_dict of the best epoch + hyperparameters).
    history_path : str
        Output per-epoch TSV (``HISTORY_FIELDS``).
    report_path : str
        Output ``train.json``: device, epochs run, best epoch, throughput.
    model : str, default "basset"
        Model name (see ``peakcnn.model.MODELS``).
    architecture : dict, optional
        Model hyperparameters (filters, kernels, ...); model defaults when empty.
    epochs : int, default 20
        Maximum epochs.
    batch_size : int, default 64
    optimizer : {"sgd", "adamw"}, default "sgd"
    lr : float, default 0.02
    momentum : float, default 0.9
        SGD momentum.
    weight_decay : float, default 0.0
    patience : int, default 5
        Stop after this many epochs without a better validation AUROC (0: never stop early).
    seed : int, default 0
    device : str, default "auto"
        ``auto`` picks CUDA when available, else CPU.
    threads : int, default 1
        CPU threads for torch.

    Returns
    -------
    dict
        The training report.
    """
    set_threads(threads)
    generator = set_seed(seed)
    target = resolve_device(device)
    train, val = load_split(train_path), load_split(val_path)
    x = torch.from_numpy(train["x"])
    y = torch.from_numpy(train["y"].astype(np.float32))
    hyperparameters = {"length": x.shape[2], "n_tasks": y.shape[1], **(architecture or {})}
    network = build_model(model, **hyperparameters).to(target)
    opt = make_optimizer(network, optimizer, lr, momentum, weight_decay)
    loss_fn = nn.BCEWithLogitsLoss()
    logger.info(
        "training %s on %s: %d train, %d val windows, %d parameters",
        model,
        target,
        len(x),
        len(val["x"]),
        sum(p.numel() for p in network.parameters()),
    )
    history: list[dict] = []
    best = {"val_auroc": -np.inf, "epoch": 0, "state": None}
    train_seconds = 0.0
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        train_loss = train_epoch(network, x, y, opt, loss_fn, batch_size, generator, target)
        seconds = time.perf_counter() - start
        train_seconds += seconds
        row = {
            "epoch": epoch,
            "train_loss": train_loss,
            **validate(network, val["x"], val["y"], loss_fn, target),
            "lr": opt.param_groups[0]["lr"],
            "seconds": round(seconds, 3),
            "windows_per_s": round(len(x) / seconds, 1),
        }
        history.append(row)
        logger.info("epoch %d: %s", epoch, row)
        if row["val_auroc"] > best["val_auroc"]:
            best = {
                "val_auroc": row["val_auroc"],
                "epoch": epoch,
                "state": copy.deepcopy(network.state_dict()),
            }
        elif patience and epoch - best["epoch"] >= patience:
            logger.info("early stop: no better val AUROC for %d epochs", patience)
            break
    network.load_state_dict(best["state"])
    with atomic_path(model_path) as tmp:
        save_checkpoint(tmp, network, model, hyperparameters)
    write_history(history_path, history)
    report = {
        "model": model,
        "hyperparameters": hyperparameters,
        "device": str(target),
        "amp": False,
        "threads": torch.get_num_threads(),
        "seed": seed,
        "epochs_run": len(history),
        "best_epoch": best["epoch"],
        "best_val_auroc": best["val_auroc"],
        "train_windows": len(x),
        "windows_per_s": round(len(x) * len(history) / train_seconds, 1),
        "parameters": sum(p.numel() for p in network.parameters()),
    }
    write_json(report_path, report)
    logger.info(
        "trained: best epoch %d, val AUROC %.4f, %.0f windows/s",
        best["epoch"],
        best["val_auroc"],
        report["windows_per_s"],
    )
    return report
