"""Fitting the k-mer baseline: one pass, no epochs, written like a trained CNN.

``fit_kmer_baseline`` fits k-mer frequencies + logistic regression (``C`` chosen on validation
AUROC); ``fit_kmer`` is ``train_model``'s path for ``kmer_baseline``: it fits, calibrates and
writes ``model.pt``, ``history.tsv`` (one row), TensorBoard scalars and the training report.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from torch import nn

from peakcnn.evaluation.multitask import macro_mean
from peakcnn.io import atomic_path
from peakcnn.models.calibration import CHECKPOINT_KEY, fit_calibration
from peakcnn.models.checkpoint import save_checkpoint
from peakcnn.models.inference import predict_logits
from peakcnn.models.kmer import KmerBaseline, kmer_features
from peakcnn.models.registry import build_model
from peakcnn.training.config import TrainConfig
from peakcnn.training.loop import validation_metrics
from peakcnn.training.monitor import (
    TENSORBOARD_DIR,
    history_row,
    log_scalars,
    open_tensorboard,
    training_report,
    write_history,
)
from peakcnn.training.optim import weighted_bce

logger = logging.getLogger(__name__)

#: The grid of inverse regularisations ``C`` tried by default (the best on validation is kept).
DEFAULT_C = (0.0001, 0.001, 0.01, 0.1)
#: ``kmer_baseline``'s settings in ``train.architecture``, with their defaults.
ARCHITECTURE_DEFAULTS = {"k": 6, "canonical": True, "C": list(DEFAULT_C)}


def fit_kmer_baseline(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    *,
    k: int = 6,
    canonical: bool = True,
    C: float | Sequence[float] = DEFAULT_C,
    pos_weight: np.ndarray | None = None,
    max_iter: int = 2000,
    device: torch.device | str = "cpu",
) -> tuple[KmerBaseline, dict]:
    """Fit the k-mer baseline, choosing ``C`` on validation AUROC.

    Parameters
    ----------
    x_train, x_val : numpy.ndarray
        uint8 one-hot (N, 4, L).
    y_train, y_val : numpy.ndarray
        Labels (N, T) in {0, 1}.
    k : int, default 6
        k-mer length.
    canonical : bool, default True
        Merge reverse-complement k-mers.
    C : float or sequence of float, default (0.0001, 0.001, 0.01, 0.1)
        Inverse L2 regularisation of the logistic regression; with several, the one with the
        best mean validation AUROC is kept (ties: the smaller C).
    pos_weight : numpy.ndarray, optional
        Weight of positive windows per task (T,), as in ``BCEWithLogitsLoss``; None = 1.
    max_iter : int, default 2000
        lbfgs iterations.
    device : torch.device or str, default "cpu"
        Where k-mers are counted.

    Returns
    -------
    model : KmerBaseline
        The fitted model, on CPU, in eval mode.
    report : dict
        ``n_features``, ``C`` chosen, the validation AUROC of every ``C`` tried, and the
        training loss (BCE, weighted by ``pos_weight``) of the chosen fit.
    """
    device = torch.device(device)
    length, n_tasks = x_train.shape[2], y_train.shape[1]
    model = KmerBaseline(length, n_tasks, k=k, canonical=canonical)
    features = model.features.to(device)
    train = kmer_features(features, x_train, device)
    val = kmer_features(features, x_val, device)
    features.cpu()
    mean = train.mean(axis=0)
    scale = train.std(axis=0)
    scale[scale < 1e-8] = 1.0
    train, val = (train - mean) / scale, (val - mean) / scale
    grid = sorted({float(C)} if np.isscalar(C) else {float(c) for c in C})
    tried, best = [], None
    for c in grid:
        fits = []
        for task in range(n_tasks):
            labels = y_train[:, task].astype(int)
            if labels.min() == labels.max():
                raise ValueError(f"task {task}: the train split has one class only")
            weight = None
            if pos_weight is not None:
                weight = np.where(labels == 1, float(pos_weight[task]), 1.0)
            fits.append(
                LogisticRegression(C=c, max_iter=max_iter).fit(train, labels, sample_weight=weight)
            )
        scores = np.stack([fit.decision_function(val) for fit in fits], axis=1)
        auroc = macro_mean(roc_auc_score, y_val, scores)
        tried.append({"C": c, "val_auroc": auroc})
        logger.info("k-mer baseline k=%d, C=%g: val AUROC %.4f", k, c, auroc)
        if best is None or auroc > best[0]:
            best = (auroc, c, fits)
    _, chosen, fits = best
    train_logits = torch.from_numpy(np.stack([fit.decision_function(train) for fit in fits], 1))
    train_loss = nn.functional.binary_cross_entropy_with_logits(
        train_logits,
        torch.from_numpy(y_train.astype(np.float64)),
        pos_weight=None if pos_weight is None else torch.as_tensor(pos_weight, dtype=torch.float64),
    )
    with torch.no_grad():
        model.standardize.mean.copy_(torch.from_numpy(mean))
        model.standardize.scale.copy_(torch.from_numpy(scale))
        model.linear.weight.copy_(torch.from_numpy(np.concatenate([f.coef_ for f in fits])))
        model.linear.bias.copy_(torch.from_numpy(np.concatenate([f.intercept_ for f in fits])))
    report = {
        "n_features": features.n_features,
        "C": chosen,
        "C_tried": tried,
        "train_loss": float(train_loss),
    }
    return model.eval(), report


def kmer_settings(architecture: dict) -> dict:
    """``k``, ``canonical`` and ``C`` of the baseline: ``architecture`` over the defaults.

    Raises
    ------
    ValueError
        For a hyperparameter the baseline does not take.
    """
    unknown = set(architecture) - set(ARCHITECTURE_DEFAULTS)
    if unknown:
        raise ValueError(f"model 'kmer_baseline' does not take hyperparameter(s) {sorted(unknown)}")
    return {**ARCHITECTURE_DEFAULTS, **architecture}


def fit_kmer(
    train: dict,
    val: dict,
    *,
    config: TrainConfig,
    architecture: dict,
    pos_weight: np.ndarray | None,
    header: dict,
    model_path: str,
    history_path: str,
    device: torch.device,
) -> dict:
    """Fit, calibrate and write the k-mer baseline (``train_model``'s path for it).

    Parameters
    ----------
    train, val : dict
        The splits' arrays (training windows already cropped to the model length).
    config : TrainConfig
        Reads ``rc_average`` (a no-op for canonical k-mers, so not applied) and
        ``calibration``.
    architecture : dict
        ``k``, ``canonical``, ``C`` (see ``kmer_settings``).
    pos_weight : numpy.ndarray, optional
        Positive-class weight per task.
    header : dict
        The report's first fields (``monitor.report_header``).
    model_path, history_path : str
        Outputs: checkpoint and one-row history.
    device : torch.device

    Returns
    -------
    dict
        The training report.
    """
    settings = kmer_settings(architecture)
    start = time.perf_counter()
    baseline, fit_report = fit_kmer_baseline(
        train["x"],
        train["y"],
        val["x"],
        val["y"],
        k=settings["k"],
        canonical=settings["canonical"],
        C=settings["C"],
        pos_weight=pos_weight,
        device=device,
    )
    seconds = time.perf_counter() - start
    hyperparameters = {
        "length": train["x"].shape[2],
        "n_tasks": train["y"].shape[1],
        "k": settings["k"],
        "canonical": settings["canonical"],
    }
    # Canonical k-mer counts are equal on both strands: averaging them would change nothing.
    strand_average = config.rc_average and not settings["canonical"]
    if strand_average:
        hyperparameters["rc_average"] = True
    model = build_model("kmer_baseline", **hyperparameters)
    (model.model if strand_average else model).load_state_dict(baseline.state_dict())
    model = model.to(device).eval()
    loss_fn = weighted_bce(pos_weight, device)
    metrics = validation_metrics(model, val["x"], val["y"], loss_fn, device)
    row = history_row(1, fit_report["train_loss"], metrics, "", seconds, len(train["y"]))
    logits = predict_logits(model, val["x"], device)
    calibration = fit_calibration(logits, val["y"], config.calibration)
    _write_outputs(model, hyperparameters, calibration, row, model_path, history_path)
    logger.info(
        "k-mer baseline (k=%d, canonical %s, C=%g, %d features): val AUROC %.4f in %.1f s",
        settings["k"],
        settings["canonical"],
        fit_report["C"],
        fit_report["n_features"],
        metrics["val_auroc"],
        seconds,
    )
    return training_report(
        header,
        hyperparameters,
        {"fit": fit_report, "amp": False, "compile": False},
        [row],
        1,
        resumed_after_epoch=0,
        windows_per_s=row["windows_per_s"],
        parameters=sum(p.numel() for p in model.parameters()),
        calibration=calibration,
    )


def _write_outputs(
    model: nn.Module,
    hyperparameters: dict,
    calibration: dict,
    row: dict,
    model_path: str,
    history_path: str,
) -> None:
    """Write the baseline's checkpoint, its one-row history and its TensorBoard scalars."""
    with atomic_path(model_path) as tmp:
        save_checkpoint(
            tmp,
            model.cpu(),
            "kmer_baseline",
            hyperparameters,
            extra={"explainer": None, CHECKPOINT_KEY: calibration},
        )
    write_history(history_path, [row])
    writer = open_tensorboard(Path(model_path).with_name(TENSORBOARD_DIR), fresh=True, purge_step=1)
    log_scalars(writer, row, ("train_loss", "val_loss", "val_auroc", "val_auprc"), 1)
    if writer is not None:
        writer.close()
