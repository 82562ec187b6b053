"""Side by side: the original model and its compressed versions on the same test windows.

For each model: test AUROC and AUPRC (macro over tasks, ``peakcnn.evaluation.metrics``), their
per-task bootstrap 95% intervals, the paired bootstrap difference to the original
(``peakcnn.evaluation.compare.paired_bootstrap``: same resampled windows for both), file size,
parameter count, and CPU throughput in windows per second at batch 1 and batch 256, on one
thread and on all threads, each with its ratio to the original. Written as a TSV and an
accuracy-vs-speed PNG.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from peakcnn.apply.loading import LoadedModel, load_model
from peakcnn.compress.prune import count_parameters
from peakcnn.evaluation.compare import paired_bootstrap
from peakcnn.evaluation.metrics import auprc, auroc, bootstrap_ci
from peakcnn.io import save_png, write_tsv
from peakcnn.models.inference import sigmoid
from peakcnn.models.registry import build_model

logger = logging.getLogger(__name__)

#: Throughput settings: (column suffix, batch size, threads; 0 = all of torch's threads).
SPEEDS = (("b1_t1", 1, 1), ("b1_tall", 1, 0), ("b256_t1", 256, 1), ("b256_tall", 256, 0))
#: Hyperparameters a quantized export adds that ``build_model`` does not take.
EXPORT_FLAGS = ("quantized", "inference_only")


@dataclass
class Candidate:
    """A model in the benchmark: its label, file, and how it was made from the original."""

    label: str
    path: str
    method: str = "original"
    level: str = ""


def parameter_count(model: LoadedModel) -> int:
    """Parameters of a loaded model; an int8 export counts those of the float model it holds."""
    network = model.network
    count = count_parameters(network) if isinstance(network, torch.nn.Module) else 0
    if count == 0:
        hyper = {k: v for k, v in model.metadata.hyperparameters.items() if k not in EXPORT_FLAGS}
        count = count_parameters(build_model(model.metadata.name, **hyper))
    return count


def throughput(network, x: np.ndarray, batch: int, threads: int, seconds: float) -> float:
    """Windows per second of a torch model on the CPU at one batch size and thread count."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads or before)
    inputs = torch.from_numpy(np.resize(x, (batch,) + x.shape[1:])).float()
    try:
        with torch.no_grad():
            network(inputs)  # warm-up
            done, start = 0, time.perf_counter()
            while True:
                network(inputs)
                done += batch
                elapsed = time.perf_counter() - start
                if elapsed >= seconds and done >= batch * 3:
                    return done / elapsed
    finally:
        torch.set_num_threads(before)


def _intervals(labels: np.ndarray, scores: np.ndarray, n_boot: int, seed: int) -> dict:
    """Per-task bootstrap 95% intervals of AUROC and AUPRC, as ``low-high`` joined by ';'."""
    cells: dict[str, list[str]] = {"auroc_ci95": [], "auprc_ci95": []}
    for t in range(labels.shape[1]):
        ci = bootstrap_ci(labels[:, t], scores[:, t], n_boot, seed)
        for key in cells:
            low, high = ci[key]
            cells[key].append(f"{low:.4f}-{high:.4f}")
    return {key: ";".join(values) for key, values in cells.items()}


def _accuracy(labels: np.ndarray, scores: np.ndarray) -> dict:
    """Test AUROC and AUPRC, macro means over tasks."""
    return {
        "auroc": float(
            np.mean([auroc(labels[:, t], scores[:, t]) for t in range(labels.shape[1])])
        ),
        "auprc": float(
            np.mean([auprc(labels[:, t], scores[:, t]) for t in range(labels.shape[1])])
        ),
    }


def benchmark_row(
    candidate: Candidate, x: np.ndarray, y: np.ndarray, *, n_boot: int, seed: int, seconds: float
) -> tuple[dict, np.ndarray]:
    """Accuracy, size and speed of one model; returns the row and its test scores."""
    model = load_model(candidate.path)
    scores = sigmoid(model.logits(x).astype(np.float64))
    row = {
        "model": candidate.label,
        "method": candidate.method,
        "level": candidate.level,
        "kind": model.kind,
        "file": Path(candidate.path).name,
        "file_bytes": Path(candidate.path).stat().st_size,
        "parameters": parameter_count(model),
        **_accuracy(y, scores),
        **_intervals(y, scores, n_boot, seed),
    }
    network = model.network.cpu().eval()
    for suffix, batch, threads in SPEEDS:
        row[f"windows_per_s_{suffix}"] = throughput(network, x, batch, threads, seconds)
    return row, scores


def benchmark(
    candidates: list[Candidate],
    x: np.ndarray,
    y: np.ndarray,
    tsv: str,
    png: str,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    seconds: float = 1.0,
) -> pd.DataFrame:
    """Compare the original (first candidate) with each compressed model on the test windows.

    Parameters
    ----------
    candidates : list of Candidate
        The original first, then the compressed models.
    x : numpy.ndarray of uint8, shape (n, 4, L)
        Test windows.
    y : numpy.ndarray, shape (n, T)
        Their labels.
    tsv, png : str
        Outputs: the table, and test AUROC against batch-256 one-thread speed-up.
    n_boot, seed : int
        Bootstrap resamples and seed (intervals and paired differences).
    seconds : float, default 1.0
        Time spent timing each throughput setting.

    Returns
    -------
    pandas.DataFrame
        One row per model: see the module docstring; ``*_ratio`` and ``speedup_*`` columns
        divide by the original's.
    """
    rows, scores = [], []
    for candidate in candidates:
        row, score = benchmark_row(candidate, x, y, n_boot=n_boot, seed=seed, seconds=seconds)
        delta = paired_bootstrap(y, scores[0] if scores else score, score, n_boot, seed)
        for metric in ("auroc", "auprc"):
            low, high = delta.get(f"{metric}_delta_ci95", [np.nan, np.nan])
            row[f"{metric}_delta"] = delta[f"{metric}_delta"]
            row[f"{metric}_delta_ci95"] = f"{low:.4f}-{high:.4f}"
        rows.append(row)
        scores.append(score)
        logger.info("benchmarked %s: test AUROC %.4f", candidate.label, row["auroc"])
    table = pd.DataFrame(rows)
    original = table.iloc[0]
    for column in ("file_bytes", "parameters"):
        table[f"{column}_ratio"] = table[column] / original[column]
    for suffix, _, _ in SPEEDS:
        column = f"windows_per_s_{suffix}"
        table[f"speedup_{suffix}"] = table[column] / original[column]
    write_tsv(tsv, table)
    save_png(accuracy_speed_figure(table), png)
    return table


def accuracy_speed_figure(table: pd.DataFrame):
    """Test AUROC against the batch-256 one-thread speed-up over the original, one dot a model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4.5))
    for method, group in table.groupby("method", sort=False):
        axis.scatter(group["speedup_b256_t1"], group["auroc"], label=method, s=40)
        for _, row in group.iterrows():
            axis.annotate(
                row["model"],
                (row["speedup_b256_t1"], row["auroc"]),
                fontsize=7,
                xytext=(4, 4),
                textcoords="offset points",
            )
    axis.axvline(1.0, color="grey", linewidth=0.8, linestyle=":")
    axis.set_xscale("log")
    axis.set_xlabel("speed-up over the original (CPU, batch 256, 1 thread)")
    axis.set_ylabel("test AUROC (macro over tasks)")
    axis.set_title("Compressed models: accuracy against speed")
    axis.legend(fontsize=8)
    return figure
