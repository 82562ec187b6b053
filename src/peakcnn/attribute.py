"""SHAP attributions (DeepExplainer, dinucleotide-shuffled references) for top-scoring positives.

Each explained window is attributed against its own ``n_shuffles`` dinucleotide shuffles
(``tangermeme.ersatz.dinucleotide_shuffle``, seeded per window). SHAP values come from
``shap.DeepExplainer`` on the logit of one task; several windows share one explainer call by
stacking them along the channel axis of a small wrapper model (see ``_StackedTask``), so one
call holds about ``batch_pairs`` sequence-reference pairs. Every window is checked for
additivity, ``sum(shap) == f(x) - mean f(refs)`` in logit space, before anything is written.

Unknown bases (all-zero columns) are kept in place: only the ACGT positions of a window are
joined and dinucleotide-shuffled, and the N columns stay all-zero in every reference. Their raw
SHAP values are therefore exactly zero, and so is their projection. Windows with N are counted
in the QC record.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from contextlib import ExitStack
from importlib.metadata import version

import numpy as np
import torch
from torch import nn

from peakcnn.dataset import load_split
from peakcnn.devices import resolve_device, set_seed, set_threads
from peakcnn.errors import InputError
from peakcnn.inference import predict_logits
from peakcnn.io import atomic_path, write_json
from peakcnn.ism import ism, ism_importance, pearson_rows, saliency
from peakcnn.logs import throughput
from peakcnn.model import load_checkpoint
from peakcnn.shuffle import shuffle_window

logger = logging.getLogger(__name__)

EXPLAINER = "shap.DeepExplainer"
GRADIENT_EXPLAINER = "shap.GradientExplainer"
EXPLAINERS = (EXPLAINER, GRADIENT_EXPLAINER)
ALPHABET = "ACGT"
SCORE_BATCH = 256
N_HANDLING = (
    "N (all-zero) columns kept in place in every reference; only the ACGT positions are "
    "joined and dinucleotide-shuffled, so N columns get zero SHAP"
)
_DATASET_KEYS = ("x", "y", "chrom", "start", "end", "tasks")


def load_dataset(path: str) -> dict[str, np.ndarray]:
    """Read an encoded dataset split and check its arrays.

    Parameters
    ----------
    path : str
        ``dataset/{split}.npz`` with ``x`` uint8 (N, 4, L), ``y`` uint8 (N, T), ``chrom`` (N,)
        str, ``start``/``end`` (N,) int64 and ``tasks`` (T,) str.

    Returns
    -------
    dict of str to numpy.ndarray
        The arrays, keyed as in the file.

    Raises
    ------
    InputError
        If an array is missing or the shapes disagree.
    """
    data = load_split(path)
    missing = [key for key in _DATASET_KEYS if key not in data]
    if missing:
        raise InputError(f"missing arrays {missing}; re-run the encode step", path=path)
    x, y = data["x"], data["y"]
    if x.ndim != 3 or x.shape[1] != len(ALPHABET) or y.ndim != 2 or len(y) != len(x):
        raise InputError(
            f"x {x.shape} must be (N, 4, L) and y {y.shape} (N, T); re-run the encode step",
            path=path,
        )
    return data


def score_windows(
    model: nn.Module,
    x: np.ndarray,
    task: int,
    device: torch.device,
    rows: np.ndarray | None = None,
    batch: int = SCORE_BATCH,
) -> np.ndarray:
    """Compute the logit of one task for windows, a batch at a time.

    Parameters
    ----------
    model : torch.nn.Module
        The model, in eval mode, on ``device``; maps (B, 4, L) float32 to (B, T) logits.
    x : numpy.ndarray
        One-hot windows, uint8 (N, 4, L).
    task : int
        Output column to return.
    device : torch.device
        Where each batch is moved.
    rows : numpy.ndarray or None, default None
        Rows of ``x`` to score, int (n,); None scores all of them.
    batch : int, default 256
        Windows per forward pass.

    Returns
    -------
    numpy.ndarray
        Logits, float64 (n,).
    """
    rows = np.arange(len(x)) if rows is None else np.asarray(rows)
    return predict_logits(model, x[rows], device, batch)[:, task].astype(np.float64)


def select_windows(logits: np.ndarray, labels: np.ndarray, n_windows: int) -> np.ndarray:
    """Pick the positives with the highest scores.

    Parameters
    ----------
    logits : numpy.ndarray
        Model logits of the task, float (N,).
    labels : numpy.ndarray
        Labels of the task, (N,); 1 marks a positive.
    n_windows : int
        How many to pick at most.

    Returns
    -------
    numpy.ndarray
        Row indices, int64 (n,), highest score first; ties go to the lower row.
    """
    positives = np.flatnonzero(labels == 1)
    order = np.lexsort((positives, -logits[positives]))
    return positives[order[:n_windows]].astype(np.int64)


def make_references(
    x: np.ndarray, rows: np.ndarray, n_shuffles: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Make the dinucleotide-shuffled references of each window.

    Window ``i`` is shuffled with seed ``seed + rows[i]``, so its references do not depend on
    which other windows are explained.

    Parameters
    ----------
    x : numpy.ndarray
        The windows, uint8 (n, 4, L).
    rows : numpy.ndarray
        Their rows in the dataset, int64 (n,).
    n_shuffles : int
        References per window.
    seed : int
        Base seed.

    Returns
    -------
    references : numpy.ndarray
        uint8 (n, n_shuffles, 4, L).
    shuffled : numpy.ndarray
        bool (n,); False where no shuffle other than the window itself exists.
    """
    references = np.empty((len(x), n_shuffles) + x.shape[1:], dtype=np.uint8)
    shuffled = np.ones(len(x), dtype=bool)
    for i, (window, row) in enumerate(zip(x, rows, strict=True)):
        references[i], shuffled[i] = shuffle_window(window, n_shuffles, seed + int(row))
    return references, shuffled


class _StackedTask(nn.Module):
    """One task's logit summed over ``k`` windows stacked along the channel axis.

    Input (B, k * 4, L) is viewed as (B * k, 4, L), so pair ``b`` of window ``j`` is row
    ``b * k + j``; the first and second halves of DeepExplainer's joint batch (inputs, then
    references) stay in the same order, so every window is paired with its own references.
    The windows do not interact (eval mode), so the SHAP values of the sum are those of each
    window's own logit.
    """

    def __init__(self, model: nn.Module, task: int, channels: int = len(ALPHABET)) -> None:
        super().__init__()
        self.model = model
        self.task = task
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map (B, k * 4, L) float to the summed task logit (B, 1)."""
        rows, stacked, length = x.shape
        k = stacked // self.channels
        logits = self.model(x.reshape(rows * k, self.channels, length))
        return logits[:, self.task].reshape(rows, k).sum(dim=1, keepdim=True)


def _clear_shap_attributes(model: nn.Module) -> None:
    """Remove the ``x``/``y`` tensors DeepExplainer's forward hooks leave on leaf modules."""
    for module in model.modules():
        for name in ("x", "y"):
            if name in module._parameters:
                delattr(module, name)


def _as_input_array(values: np.ndarray | list, shape: tuple[int, ...]) -> np.ndarray:
    """Drop shap's output axis: a list of per-output arrays or a trailing axis of size 1."""
    if isinstance(values, list):
        values = values[0]
    values = np.asarray(values)
    if values.ndim == len(shape) + 1:
        values = values[..., 0]
    return values.reshape(shape)


def _explain_call(
    wrapper: _StackedTask,
    x: np.ndarray,
    references: np.ndarray,
    device: torch.device,
    explainer: str = EXPLAINER,
    samples: int = 200,
    seed: int = 0,
) -> np.ndarray:
    """Run one SHAP explainer call for ``k`` windows against their own references.

    Parameters
    ----------
    wrapper : _StackedTask
        The wrapped model, in eval mode.
    x : numpy.ndarray
        Windows, uint8 (k, 4, L).
    references : numpy.ndarray
        Their references, uint8 (k, S, 4, L).
    device : torch.device
        Where the call runs.
    explainer : {"shap.DeepExplainer", "shap.GradientExplainer"}
        DeepExplainer (DeepLIFT rescale rules, exact additivity) or GradientExplainer
        (expected gradients: ``samples`` random points between the window and a random
        reference; additive only in expectation).
    samples : int, default 200
        GradientExplainer samples per window.
    seed : int, default 0
        GradientExplainer's random seed.

    Returns
    -------
    numpy.ndarray
        SHAP values averaged over the ``S`` references, float64 (k, 4, L).
    """
    import shap  # imported here: the gather step does not need it (2 s)

    k, n_refs, channels, length = references.shape
    background = torch.from_numpy(references.transpose(1, 0, 2, 3).copy())
    background = background.reshape(n_refs, k * channels, length).to(device, torch.float32)
    inputs = torch.from_numpy(x).reshape(1, k * channels, length).to(device, torch.float32)
    if explainer == GRADIENT_EXPLAINER:
        values = shap.GradientExplainer(wrapper, background).shap_values(
            inputs, nsamples=samples, rseed=seed
        )
        return _as_input_array(values, (k, channels, length)).astype(np.float64)
    deep = shap.DeepExplainer(wrapper, background)
    try:
        values = deep.shap_values(inputs, check_additivity=False)
    finally:
        _clear_shap_attributes(wrapper)
    return _as_input_array(values, (k, channels, length)).astype(np.float64)


def explain(
    model: nn.Module,
    x: np.ndarray,
    references: np.ndarray,
    task: int,
    device: torch.device,
    batch_pairs: int = 20,
    explainer: str = EXPLAINER,
    samples: int = 200,
    seed: int = 0,
) -> np.ndarray:
    """Compute SHAP values of one task's logit, each window against its own references.

    One explainer call holds about ``batch_pairs`` pairs: ``batch_pairs // S`` windows
    when that is at least one, else one window with its references split into chunks (their
    SHAP values are averaged, weighted by chunk size, which equals using all at once).

    Parameters
    ----------
    model : torch.nn.Module
        The model, in eval mode, on ``device``; (B, 4, L) float32 to (B, T) logits.
    x : numpy.ndarray
        Windows, uint8 (n, 4, L).
    references : numpy.ndarray
        References, uint8 (n, S, 4, L).
    task : int
        Output column explained.
    device : torch.device
        Where the calls run.
    batch_pairs : int, default 20
        Sequence-reference pairs per call.
    explainer : {"shap.DeepExplainer", "shap.GradientExplainer"}
        See ``_explain_call``.
    samples : int, default 200
        GradientExplainer samples per window (and per reference chunk).
    seed : int, default 0
        GradientExplainer's seed (each call adds its position).

    Returns
    -------
    numpy.ndarray
        Raw SHAP values, float64 (n, 4, L).
    """
    if explainer not in EXPLAINERS:
        raise InputError(f"explainer {explainer!r} must be one of {list(EXPLAINERS)}")
    wrapper = _StackedTask(model, task).eval()
    n_refs = references.shape[1]
    per_call = max(1, batch_pairs // n_refs)
    chunk = min(n_refs, max(1, batch_pairs))
    values = np.zeros(x.shape, dtype=np.float64)
    for first in range(0, len(x), per_call):
        group = slice(first, first + per_call)
        for ref_first in range(0, n_refs, chunk):
            refs = references[group, ref_first : ref_first + chunk]
            call = _explain_call(
                wrapper, x[group], refs, device, explainer, samples, seed + first + ref_first
            )
            values[group] += call * refs.shape[1]
    return values / n_refs


def output_deltas(
    model: nn.Module, x: np.ndarray, references: np.ndarray, task: int, device: torch.device
) -> np.ndarray:
    """Compute ``f(x) - mean f(refs)`` of one task's logit, the sum SHAP values should reach.

    Parameters
    ----------
    model : torch.nn.Module
        The model, in eval mode, on ``device``.
    x : numpy.ndarray
        Windows, uint8 (n, 4, L).
    references : numpy.ndarray
        References, uint8 (n, S, 4, L).
    task : int
        Output column.
    device : torch.device
        Where the forward passes run.

    Returns
    -------
    numpy.ndarray
        float64 (n,).
    """
    n, n_refs = references.shape[:2]
    flat = references.reshape((n * n_refs,) + references.shape[2:])
    reference_logits = score_windows(model, flat, task, device).reshape(n, n_refs)
    return score_windows(model, x, task, device) - reference_logits.mean(axis=1)


def project(values: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Place each position's summed SHAP value on its observed base.

    Parameters
    ----------
    values : numpy.ndarray
        Raw SHAP values, float (n, 4, L).
    x : numpy.ndarray
        One-hot windows, uint8 (n, 4, L); all-zero columns (N) get zero.

    Returns
    -------
    numpy.ndarray
        float32 (n, 4, L), non-zero only on the observed base.
    """
    return (values.sum(axis=1, keepdims=True) * x).astype(np.float32)


def _suspect_layers(model: nn.Module, x: torch.Tensor) -> str:
    """Name the layers that DeepExplainer cannot propagate through, found in one forward pass.

    Parameters
    ----------
    model : torch.nn.Module
        The model, in eval mode.
    x : torch.Tensor
        One input batch, float32 (B, 4, L), on the model's device.

    Returns
    -------
    str
        A short description of the suspects (reused, in-place or unsupported leaf modules), or
        of the usual cause when none is found (a functional activation in ``forward``).
    """
    from shap.explainers._deep.deep_pytorch import op_handler

    calls: dict[str, int] = {}
    leaves = {name: module for name, module in model.named_modules() if not list(module.children())}
    handles = [
        module.register_forward_hook(
            lambda *_, name=name: calls.__setitem__(name, calls.get(name, 0) + 1)
        )
        for name, module in leaves.items()
    ]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    suspects = [
        f"{name} ({type(leaves[name]).__name__}) called {count}x"
        for name, count in calls.items()
        if count > 1
    ]
    suspects += [
        f"{name} ({type(module).__name__}) in-place"
        for name, module in leaves.items()
        if getattr(module, "inplace", False)
    ]
    suspects += [
        f"{name} ({type(module).__name__}) unsupported by DeepExplainer"
        for name, module in leaves.items()
        if type(module).__name__ not in op_handler
    ]
    if suspects:
        return "suspect layers: " + ", ".join(suspects)
    return (
        "no reused, in-place or unsupported layer module found, so likely a functional "
        "activation in forward() (e.g. torch.nn.functional.relu) that DeepExplainer cannot see"
    )


def _check_additivity(
    errors: np.ndarray, tolerance: float, model: nn.Module, x: np.ndarray, device: torch.device
) -> None:
    """Raise if a window's SHAP values do not add up to its output difference.

    Parameters
    ----------
    errors : numpy.ndarray
        Per-window ``|sum(shap) - (f(x) - mean f(refs))|``, float64 (n,).
    tolerance : float
        Largest error allowed, in logits.
    model : torch.nn.Module
        The explained model, for naming suspect layers.
    x : numpy.ndarray
        The windows, uint8 (n, 4, L).
    device : torch.device
        The model's device.

    Raises
    ------
    ValueError
        One line: the error, the tolerance option and the layer kinds that may be to blame.
    """
    if np.all(np.isfinite(errors)) and errors.max() <= tolerance:
        return
    bad = int(np.sum(~(errors <= tolerance)))
    suspects = _suspect_layers(model, torch.from_numpy(x[:1]).to(device, torch.float32))
    raise ValueError(
        f"SHAP additivity check failed: max |sum(shap) - (f(x) - mean f(refs))| = "
        f"{np.nanmax(errors):.3g} logits > additivity_tolerance={tolerance:g} in {bad} of "
        f"{len(errors)} windows; DeepExplainer needs one nn.ReLU()/nn.MaxPool1d module per use "
        f"(not functional, reused or in-place); {suspects}; fix the model or raise "
        f"additivity_tolerance"
    )


def _logo_offset(projected: np.ndarray, width: int) -> int:
    """First position of the ``width``-bp crop with the largest summed ``|projected|``.

    Parameters
    ----------
    projected : numpy.ndarray
        Projected SHAP values of one window, float (4, L).
    width : int
        Crop width in bp.

    Returns
    -------
    int
        Offset into the window; 0 if the window is not longer than ``width``.
    """
    weight = np.abs(projected).sum(axis=0)
    if width >= len(weight):
        return 0
    return int(np.argmax(np.convolve(weight, np.ones(width), mode="valid")))


def plot_logos(path: str, projected: np.ndarray, meta: dict[str, np.ndarray], width: int) -> None:
    """Draw one sequence logo of projected SHAP values per window, a row each, as a PNG.

    Parameters
    ----------
    path : str
        The PNG to write.
    projected : numpy.ndarray
        Projected SHAP values, float32 (n, 4, L), in the order to draw.
    meta : dict of str to numpy.ndarray
        ``chrom`` (n,) str, ``start``/``end`` (n,) int64 and ``score`` (n,) float.
    width : int
        Bases shown per logo, cropped around the highest-attribution stretch.
    """
    import logomaker
    import pandas as pd
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    length = projected.shape[2]
    width = min(width, length)
    figure = Figure(figsize=(max(6.0, 0.16 * width), 1.9 * len(projected)), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(projected), 1, squeeze=False)[:, 0]
    for ax, values, chrom, start, end, score in zip(
        axes, projected, meta["chrom"], meta["start"], meta["end"], meta["score"], strict=True
    ):
        offset = _logo_offset(values, width)
        crop = values[:, offset : offset + width].T
        index = pd.RangeIndex(int(start) + offset, int(start) + offset + width, name="pos")
        logomaker.Logo(pd.DataFrame(crop, columns=list(ALPHABET), index=index), ax=ax)
        ax.set_title(f"{chrom}:{start}-{end}  score {score:.3f}", fontsize=9)
        ax.set_ylabel("SHAP")
    figure.savefig(path, format="png", dpi=100)


def _save_npz(path: str, arrays: dict[str, np.ndarray]) -> None:
    """Write arrays to an ``.npz`` at exactly ``path`` (no suffix added)."""
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def _write_outputs(writers: dict[str, Callable[[str], None]]) -> None:
    """Write every output to a temporary file, then move them all into place.

    Parameters
    ----------
    writers : dict of str to callable
        Output path to a function that writes that output to the path it is given.
        Nothing is moved into place unless every writer succeeds.
    """
    with ExitStack() as stack:
        for path, write in writers.items():
            write(stack.enter_context(atomic_path(path)))


def _check_options(options: dict[str, float]) -> None:
    """Raise ``InputError`` for a non-positive count or tolerance among ``options``."""
    for name, value in options.items():
        if not value > 0:
            raise InputError(f"{name} must be > 0, got {value!r}; fix the attribution settings")


def task_index(task: int | str | None, tasks: np.ndarray, data_path: str) -> int:
    """Column of ``task`` (a name, an index, or None for the first task) in the dataset."""
    names = [str(name) for name in tasks]
    if task is None:
        return 0
    if isinstance(task, str):
        if task not in names:
            raise InputError(
                f"attribute.task {task!r} is not a task of the dataset {names}; "
                "set it to one of them or null (the first)",
                path=data_path,
            )
        return names.index(task)
    return int(task)


def _choose_windows(
    model: nn.Module,
    data: dict[str, np.ndarray],
    task: int,
    n_windows: int,
    device: torch.device,
    data_path: str,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Score the positives of ``task`` and pick the ``n_windows`` highest.

    Returns
    -------
    rows : numpy.ndarray
        Chosen rows, int64 (n,), highest score first.
    logits : numpy.ndarray
        Their logits, float64 (n,).
    n_positives : int
        Positives of the task in the dataset.
    """
    tasks = data["tasks"]
    if not 0 <= task < data["y"].shape[1]:
        raise InputError(
            f"task {task} out of range: the dataset has tasks {list(tasks)}", path=data_path
        )
    positives = np.flatnonzero(data["y"][:, task] == 1)
    if len(positives) == 0:
        raise InputError(
            f"no window has label 1 for task {task} ({tasks[task]}); "
            "nothing to explain, pick another task or split",
            path=data_path,
        )
    logits = np.full(len(data["y"]), -np.inf)
    logits[positives] = score_windows(model, data["x"], task, device, rows=positives)
    rows = select_windows(logits, data["y"][:, task], n_windows)
    logger.info(
        "explaining the %d top-scoring of %d positive windows of task %d (%s); n_windows=%d",
        len(rows),
        len(positives),
        task,
        tasks[task],
        n_windows,
    )
    return rows, logits[rows], len(positives)


def _log_unknown_bases(x: np.ndarray, shuffled: np.ndarray) -> tuple[int, int]:
    """Log and count windows with N columns and windows with no distinct shuffle.

    Returns
    -------
    windows_with_n : int
        Windows holding at least one all-zero column.
    n_columns : int
        All-zero columns over all windows.
    """
    unknown = ~x.any(axis=1)
    windows_with_n, n_columns = int(unknown.any(axis=1).sum()), int(unknown.sum())
    if windows_with_n:
        logger.info(
            "%d of %d windows hold N columns (%d in all); %s",
            windows_with_n,
            len(x),
            n_columns,
            N_HANDLING,
        )
    if not shuffled.all():
        logger.warning(
            "%d windows have no dinucleotide shuffle other than themselves; their "
            "references are copies and their SHAP values zero",
            int((~shuffled).sum()),
        )
    return windows_with_n, n_columns


def _attribute(
    model: nn.Module,
    x: np.ndarray,
    rows: np.ndarray,
    task: int,
    device: torch.device,
    n_shuffles: int,
    batch_pairs: int,
    seed: int,
    tolerance: float,
    explainer: str = EXPLAINER,
    samples: int = 200,
) -> tuple[np.ndarray, dict]:
    """Make references, compute SHAP values and check their additivity.

    DeepExplainer's values must add up exactly (within ``tolerance``) or this raises;
    GradientExplainer's add up only in expectation, so their error is recorded, not enforced.

    Parameters
    ----------
    model : torch.nn.Module
        The model, in eval mode, on ``device``.
    x : numpy.ndarray
        Windows to explain, uint8 (n, 4, L).
    rows : numpy.ndarray
        Their rows in the dataset, int64 (n,), which seed their shuffles.
    task : int
        Output column explained.
    device : torch.device
        Where the model runs.
    n_shuffles, batch_pairs, seed : int
        See ``compute_attributions``.
    tolerance : float
        Largest additivity error allowed, in logits.
    explainer : {"shap.DeepExplainer", "shap.GradientExplainer"}
    samples : int, default 200
        GradientExplainer samples per window.

    Returns
    -------
    values : numpy.ndarray
        Raw SHAP values, float64 (n, 4, L).
    qc : dict
        Explainer, counts, timing, additivity errors (``errors``: per window) and N handling.
    """
    references, shuffled = make_references(x, rows, n_shuffles, seed)
    windows_with_n, n_columns = _log_unknown_bases(x, shuffled)
    with throughput(f"SHAP {explainer}", "pairs") as record:
        try:
            values = explain(
                model, x, references, task, device, batch_pairs, explainer, samples, seed
            )
        except RuntimeError as error:
            suspects = _suspect_layers(model, torch.from_numpy(x[:1]).to(device, torch.float32))
            reason = (str(error).splitlines() or [type(error).__name__])[0][:160]
            raise ValueError(
                f"shap.DeepExplainer failed on this model ({reason}); {suspects}; it needs one "
                "nn.ReLU()/nn.MaxPool1d module per use (not functional, reused or in-place)"
            ) from error
        record["count"] = len(x) * n_shuffles
    deltas = output_deltas(model, x, references, task, device)
    errors = np.abs(values.sum(axis=(1, 2)) - deltas)
    relative = errors / np.maximum(np.abs(deltas), 1e-6)
    logger.info(
        "additivity error: max %.3g, mean %.3g logits (tolerance %g), median %.3g of |delta|",
        np.max(errors),
        np.mean(errors),
        tolerance,
        np.median(relative),
    )
    enforced = explainer == EXPLAINER
    if enforced:
        _check_additivity(errors, tolerance, model, x, device)
    else:
        logger.warning(
            "%s is additive only in expectation: additivity is recorded, not enforced (median "
            "error %.3g of |f(x) - mean f(refs)|); the SHAP-vs-ISM correlation is the check",
            explainer,
            np.median(relative),
        )
    return values, {
        "errors": errors,
        "deltas": deltas,
        "explainer": explainer,
        "gradient_samples": None if enforced else samples,
        "additivity_enforced": enforced,
        "shap_version": version("shap"),
        "references": "tangermeme.ersatz.dinucleotide_shuffle",
        "n_windows": len(x),
        "pairs": record["count"],
        "seconds": record["seconds"],
        "attributions_per_second": record["rate"],
        "additivity_max_error": float(errors.max()),
        "additivity_mean_error": float(errors.mean()),
        "additivity_tolerance": tolerance,
        "additivity_passed": bool(not enforced or errors.max() <= tolerance),
        "windows_with_n": windows_with_n,
        "n_columns": n_columns,
        "n_handling": N_HANDLING,
        "unshuffled_windows": int((~shuffled).sum()),
    }


def resolve_explainer(model_path: str, explainer: str = "auto") -> str:
    """Return the SHAP explainer to use for a checkpoint.

    Parameters
    ----------
    model_path : str
        Checkpoint; training stores the explainer that suits the model under ``explainer``.
    explainer : str, default "auto"
        ``auto`` (the checkpoint's, DeepExplainer when it names none) or an explainer name.

    Returns
    -------
    str
        ``shap.DeepExplainer`` or ``shap.GradientExplainer``.

    Raises
    ------
    InputError
        For an unknown name, or a model that SHAP cannot explain (e.g. the k-mer baseline).
    """
    if explainer == "auto":
        checkpoint = torch.load(model_path, map_location="cpu", weights_only=True)
        if "explainer" not in checkpoint:
            return EXPLAINER
        explainer = checkpoint["explainer"]
        if explainer is None:
            raise InputError(
                f"model {checkpoint.get('name')!r} has no SHAP explainer (its inputs are not "
                "differentiable); leave it out of attribution",
                path=model_path,
            )
    if explainer not in EXPLAINERS:
        raise InputError(f"attribute.explainer {explainer!r} must be auto or one of {EXPLAINERS}")
    return explainer


#: Options of ``attribute_chunk`` (the config's ``attribute`` section minus the gather ones).
CHUNK_OPTIONS = (
    "n_windows",
    "n_shuffles",
    "batch_pairs",
    "seed",
    "additivity_tolerance",
    "ism_windows",
    "ism_width",
    "explainer",
    "gradient_samples",
    "task",
    "device",
)
#: Options of ``gather_attributions``.
GATHER_OPTIONS = ("logo_windows", "logo_width", "additivity_tolerance")


def chunk_ranks(n: int, chunk: int, chunks: int) -> np.ndarray:
    """Ranks (0 = highest score) of the windows explained by one chunk: every ``chunks``-th.

    Interleaving gives every chunk a similar share of windows and of the ISM subset (the
    top-ranked windows).

    Parameters
    ----------
    n : int
        Windows selected in all.
    chunk : int
        This chunk, ``0 <= chunk < chunks``.
    chunks : int
        Number of chunks.

    Returns
    -------
    numpy.ndarray of int64
    """
    if not 0 <= chunk < chunks:
        raise InputError(f"chunk {chunk} must be in [0, {chunks}); fix attribute.chunks")
    return np.arange(chunk, n, chunks, dtype=np.int64)


def ism_stretch(length: int, width: int) -> tuple[int, int]:
    """Central ``[start, end)`` of ``width`` bp (the whole window if it is shorter)."""
    width = min(width, length)
    start = (length - width) // 2
    return start, start + width


def _explain_chunk(
    model: nn.Module,
    data: dict[str, np.ndarray],
    rows: np.ndarray,
    ranks: np.ndarray,
    logits: np.ndarray,
    task: int,
    device: torch.device,
    *,
    n_shuffles: int,
    batch_pairs: int,
    seed: int,
    tolerance: float,
    ism_windows: int,
    ism_width: int,
    explainer: str = EXPLAINER,
    gradient_samples: int = 200,
) -> tuple[dict[str, np.ndarray], dict]:
    """SHAP, saliency and (for ranks below ``ism_windows``) ISM of the given windows.

    Returns
    -------
    arrays : dict of str to numpy.ndarray
        Per window: ``rank, index, x, shap, projected, saliency, additivity_error, chrom,
        start, end, score``; ISM: ``ism`` (m, 4, w), ``ism_rank`` (m,), ``ism_start`` and
        ``ism_end`` (scalars).
    qc : dict
        SHAP QC of this chunk plus ISM and saliency timing.
    """
    x = data["x"][rows]
    if x.max(initial=0) > 1 or (x.sum(axis=1) > 1).any():
        raise InputError("x is not one-hot (a column sums to > 1); re-run encode")
    length = data["x"].shape[2]
    ism_start, ism_end = ism_stretch(length, ism_width)
    if len(rows):
        values, qc = _attribute(
            model,
            x,
            rows,
            task,
            device,
            n_shuffles,
            batch_pairs,
            seed,
            tolerance,
            explainer,
            gradient_samples,
        )
        errors, deltas = np.asarray(qc.pop("errors")), np.asarray(qc.pop("deltas"))
    else:
        values, errors, deltas = np.zeros(x.shape), np.zeros(0), np.zeros(0)
        qc = {"pairs": 0, "seconds": 0.0, "windows_with_n": 0, "n_columns": 0}
        qc.update(unshuffled_windows=0, explainer=explainer, additivity_enforced=True)
    with throughput("saliency (gradient x input)", "windows") as record:
        salient = saliency(model, x, task, device)
        record["count"] = len(x)
    qc["saliency_seconds"] = record["seconds"]
    in_ism = ranks < ism_windows
    with throughput("ISM", "mutants") as record:
        mutated = ism(model, x[in_ism], task, device, ism_start, ism_end) if in_ism.any() else None
        record["count"] = int(in_ism.sum()) * (ism_end - ism_start) * 3
    qc.update(ism_seconds=record["seconds"], ism_mutants=record["count"])
    if mutated is None:
        mutated = np.zeros((0, 4, ism_end - ism_start), dtype=np.float32)
    arrays = {
        "rank": ranks.astype(np.int64),
        "index": rows.astype(np.int64),
        "x": x,
        "shap": values.astype(np.float32),
        "projected": project(values, x),
        "saliency": salient,
        "additivity_error": errors.astype(np.float64),
        "output_delta": deltas.astype(np.float64),
        "chrom": data["chrom"][rows].astype(str),
        "start": data["start"][rows].astype(np.int64),
        "end": data["end"][rows].astype(np.int64),
        "score": np.exp(-np.logaddexp(0.0, -logits)).astype(np.float32),
        "ism": mutated,
        "ism_rank": ranks[in_ism].astype(np.int64),
        "ism_start": np.int64(ism_start),
        "ism_end": np.int64(ism_end),
    }
    return arrays, qc


def _select(
    model: nn.Module,
    data: dict[str, np.ndarray],
    data_path: str,
    task: int,
    n_windows: int,
    device: torch.device,
    chunk: int,
    chunks: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """Rank the top positives and keep this chunk's share: rows, ranks, logits, counts."""
    rows, logits, n_positives = _choose_windows(model, data, task, n_windows, device, data_path)
    ranks = chunk_ranks(len(rows), chunk, chunks)
    return rows[ranks], ranks, logits[ranks], n_positives, len(rows)


def _chunk(
    model_path: str,
    data_path: str,
    *,
    chunk: int,
    chunks: int,
    n_windows: int,
    n_shuffles: int,
    batch_pairs: int,
    seed: int,
    additivity_tolerance: float,
    ism_windows: int,
    ism_width: int,
    explainer: str,
    gradient_samples: int,
    task: int,
    threads: int,
    device: str,
) -> tuple[dict[str, np.ndarray], dict]:
    """Select, explain and check one chunk; return its arrays and QC record."""
    started = time.perf_counter()
    _check_options(
        {
            "n_windows": n_windows,
            "n_shuffles": n_shuffles,
            "batch_pairs": batch_pairs,
            "additivity_tolerance": additivity_tolerance,
            "chunks": chunks,
            "ism_width": ism_width,
            "ism_windows + 1": ism_windows + 1,
            "gradient_samples": gradient_samples,
        }
    )
    explainer = resolve_explainer(model_path, explainer)
    set_threads(threads)
    set_seed(seed)
    torch_device = resolve_device(device)
    model = load_checkpoint(model_path, torch_device).eval()
    data = load_dataset(data_path)
    task = task_index(task, data["tasks"], data_path)
    rows, ranks, logits, n_positives, n_selected = _select(
        model, data, data_path, task, n_windows, torch_device, chunk, chunks
    )
    logger.info("chunk %d of %d: %d of %d windows", chunk + 1, chunks, len(rows), n_selected)
    arrays, qc = _explain_chunk(
        model,
        data,
        rows,
        ranks,
        logits,
        task,
        torch_device,
        n_shuffles=n_shuffles,
        batch_pairs=batch_pairs,
        seed=seed,
        tolerance=additivity_tolerance,
        ism_windows=ism_windows,
        ism_width=ism_width,
        explainer=explainer,
        gradient_samples=gradient_samples,
    )
    qc.update(
        chunk=chunk,
        chunks=chunks,
        n_selected=n_selected,
        task=task,
        task_name=str(data["tasks"][task]),
        n_windows_requested=n_windows,
        n_positives=n_positives,
        n_shuffles=n_shuffles,
        batch_pairs=batch_pairs,
        seed=seed,
        ism_windows_requested=ism_windows,
        device=str(torch_device),
        threads=torch.get_num_threads(),
        total_seconds=time.perf_counter() - started,
    )
    return arrays, qc


def attribute_chunk(
    model_path: str,
    data_path: str,
    chunk_path: str,
    *,
    chunk: int = 0,
    chunks: int = 1,
    n_windows: int = 100,
    n_shuffles: int = 20,
    batch_pairs: int = 20,
    seed: int = 0,
    additivity_tolerance: float = 1e-3,
    ism_windows: int = 10,
    ism_width: int = 100,
    explainer: str = "auto",
    gradient_samples: int = 200,
    task: int | str | None = 0,
    threads: int = 1,
    device: str = "auto",
) -> dict:
    """Explain one chunk of the top-scoring positives (scatter step) and write it as an npz.

    Every chunk ranks the same positives (a deterministic forward pass) and takes the ranks
    ``chunk, chunk + chunks, ...``; ``gather_attributions`` joins the chunks. The additivity
    check runs here, so a failing chunk writes nothing.

    Parameters
    ----------
    model_path, data_path : str
        See ``compute_attributions``.
    chunk_path : str
        Output ``.npz``: the arrays of ``compute_attributions``' ``shap.npz`` for this chunk,
        plus ``rank`` and the QC record as a JSON string (``qc``).
    chunk, chunks : int
        This chunk and the number of chunks.
    n_windows, n_shuffles, batch_pairs, seed, additivity_tolerance, ism_windows, ism_width,
    explainer, gradient_samples, task, threads, device
        See ``compute_attributions``.

    Returns
    -------
    dict
        The chunk's QC record.
    """
    arrays, qc = _chunk(
        model_path,
        data_path,
        chunk=chunk,
        chunks=chunks,
        n_windows=n_windows,
        n_shuffles=n_shuffles,
        batch_pairs=batch_pairs,
        seed=seed,
        additivity_tolerance=additivity_tolerance,
        ism_windows=ism_windows,
        ism_width=ism_width,
        explainer=explainer,
        gradient_samples=gradient_samples,
        task=task,
        threads=threads,
        device=device,
    )
    arrays["qc"] = np.array(json.dumps(qc, sort_keys=True))
    with atomic_path(chunk_path) as tmp:
        _save_npz(tmp, arrays)
    return qc


def _load_chunk(path: str) -> tuple[dict[str, np.ndarray], dict]:
    """Read a chunk written by ``attribute_chunk``."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    return arrays, json.loads(str(arrays.pop("qc")))


_PER_WINDOW = (
    "rank",
    "index",
    "x",
    "shap",
    "projected",
    "saliency",
    "additivity_error",
    "output_delta",
    "chrom",
    "start",
    "end",
    "score",
)


def _join(parts: list[tuple[dict[str, np.ndarray], dict]], tolerance: float) -> tuple[dict, dict]:
    """Join chunk arrays in rank order, check them and summarise the QC of all chunks."""
    if not parts:
        raise InputError("no attribution chunks to gather")
    qcs = [qc for _, qc in parts]
    chunks = {qc["chunks"] for qc in qcs}
    selected = {qc["n_selected"] for qc in qcs}
    if (
        len(chunks) != 1
        or len(selected) != 1
        or sorted(qc["chunk"] for qc in qcs) != list(range(qcs[0]["chunks"]))
    ):
        raise InputError(
            f"attribution chunks do not fit together (chunks {sorted(chunks)}, selected "
            f"{sorted(selected)}, got chunk ids {sorted(qc['chunk'] for qc in qcs)}); re-run them"
        )
    joined = {
        key: np.concatenate([arrays[key] for arrays, _ in parts]) for key in _PER_WINDOW + ("ism",)
    }
    joined["ism_rank"] = np.concatenate([arrays["ism_rank"] for arrays, _ in parts])
    order = np.argsort(joined["rank"], kind="stable")
    if not np.array_equal(joined["rank"][order], np.arange(selected.pop())):
        raise InputError("attribution chunks miss or repeat windows; re-run them")
    for key in _PER_WINDOW:
        joined[key] = joined[key][order]
    ism_order = np.argsort(joined["ism_rank"], kind="stable")
    joined["ism"], joined["ism_rank"] = joined["ism"][ism_order], joined["ism_rank"][ism_order]
    joined["ism_start"], joined["ism_end"] = parts[0][0]["ism_start"], parts[0][0]["ism_end"]
    errors = joined["additivity_error"]
    enforced = all(qc["additivity_enforced"] for qc in qcs)
    if enforced and len(errors) and not (np.all(np.isfinite(errors)) and errors.max() <= tolerance):
        raise ValueError(
            f"SHAP additivity check failed on gather: max error {np.nanmax(errors):.3g} > "
            f"additivity_tolerance={tolerance:g}; re-run the chunks with the current model"
        )
    return joined, _summary_qc(joined, qcs, tolerance)


def _summary_qc(joined: dict[str, np.ndarray], qcs: list[dict], tolerance: float) -> dict:
    """QC of the whole attribution: SHAP additivity per window, cost, ISM and saliency checks."""
    first = min(qcs, key=lambda qc: qc["chunk"])
    pairs = sum(qc["pairs"] for qc in qcs)
    seconds = sum(qc["seconds"] for qc in qcs)
    errors = joined["additivity_error"]
    qc = {
        key: first[key]
        for key in (
            "task",
            "task_name",
            "n_windows_requested",
            "n_positives",
            "n_shuffles",
            "batch_pairs",
            "seed",
            "device",
            "threads",
            "ism_windows_requested",
        )
    }
    qc.update(
        explainer=first["explainer"],
        additivity_enforced=first["additivity_enforced"],
        shap_version=version("shap"),
        references="tangermeme.ersatz.dinucleotide_shuffle",
        chunks=first["chunks"],
        n_windows=len(errors),
        pairs=pairs,
        seconds=seconds,
        attributions_per_second=pairs / seconds if seconds > 0 else 0.0,
        additivity_max_error=float(errors.max(initial=0.0)),
        additivity_mean_error=float(errors.mean()) if len(errors) else 0.0,
        additivity_median_relative_error=_nanstat(
            np.median, errors / np.maximum(np.abs(joined["output_delta"]), 1e-6)
        ),
        additivity_errors=[float(e) for e in errors],
        additivity_tolerance=tolerance,
        additivity_passed=bool(
            not first["additivity_enforced"] or errors.max(initial=0) <= tolerance
        ),
        windows_with_n=sum(qc["windows_with_n"] for qc in qcs),
        n_columns=sum(qc["n_columns"] for qc in qcs),
        n_handling=N_HANDLING,
        unshuffled_windows=sum(qc["unshuffled_windows"] for qc in qcs),
        total_seconds=sum(qc["total_seconds"] for qc in qcs),
    )
    shap_track = joined["projected"].sum(axis=1)
    per_window = pearson_rows(shap_track, joined["saliency"].sum(axis=1))
    qc["saliency"] = {
        "method": "gradient x input of the logit",
        "seconds": sum(qc["saliency_seconds"] for qc in qcs),
        "pearson_with_shap_per_window": _floats(per_window),
        "pearson_with_shap_median": _nanstat(np.nanmedian, per_window),
    }
    qc["ism"] = _ism_qc(joined, shap_track, qcs)
    return qc


def _ism_qc(joined: dict[str, np.ndarray], shap_track: np.ndarray, qcs: list[dict]) -> dict:
    """Correlation of projected SHAP with ISM importance over the ISM stretch."""
    start, end = int(joined["ism_start"]), int(joined["ism_end"])
    ranks = joined["ism_rank"]
    x = joined["x"][ranks][:, :, start:end]
    importance = ism_importance(joined["ism"], x)
    shap_part = shap_track[ranks][:, start:end]
    per_window = pearson_rows(shap_part, importance)
    pooled = (
        float(np.corrcoef(shap_part.ravel(), importance.ravel())[0, 1])
        if importance.size > 1 and importance.std() > 0 and shap_part.std() > 0
        else None
    )
    return {
        "method": "logit change of every single-base substitution; importance of the "
        "observed base = mean logit loss over its 3 substitutions",
        "windows": len(ranks),
        "start": start,
        "end": end,
        "mutants": sum(qc["ism_mutants"] for qc in qcs),
        "seconds": sum(qc["ism_seconds"] for qc in qcs),
        "pearson_with_shap_per_window": _floats(per_window),
        "pearson_with_shap_median": _nanstat(np.nanmedian, per_window),
        "pearson_with_shap_min": _nanstat(np.nanmin, per_window),
        "pearson_with_shap_pooled": pooled,
    }


def _floats(values: np.ndarray) -> list:
    """Return floats for JSON, with None for NaN."""
    return [None if not np.isfinite(v) else float(v) for v in values]


def _nanstat(function: Callable, values: np.ndarray) -> float | None:
    """Return a NaN-ignoring statistic, or None when no finite value exists."""
    finite = np.asarray(values)[np.isfinite(values)]
    return float(function(finite)) if finite.size else None


def _write_attribution(
    joined: dict[str, np.ndarray],
    qc: dict,
    shap_path: str,
    logos_path: str,
    qc_path: str,
    logo_windows: int,
    logo_width: int,
) -> None:
    """Write shap.npz, the logos and qc.json, all or nothing."""
    arrays = {key: joined[key] for key in _PER_WINDOW if key != "rank"}
    arrays["ism"] = joined["ism"]
    arrays["ism_index"] = joined["index"][joined["ism_rank"]]
    arrays["ism_start"], arrays["ism_end"] = joined["ism_start"], joined["ism_end"]
    meta = {key: joined[key] for key in ("chrom", "start", "end", "score")}
    top = {key: value[:logo_windows] for key, value in meta.items()}
    _write_outputs(
        {
            shap_path: lambda path: _save_npz(path, arrays),
            logos_path: lambda path: plot_logos(
                path, joined["projected"][:logo_windows], top, logo_width
            ),
            qc_path: lambda path: write_json(path, qc),
        }
    )
    logger.info(
        "SHAP additivity max %.3g; SHAP vs ISM Pearson median %s; SHAP vs saliency median %s",
        qc["additivity_max_error"],
        qc["ism"]["pearson_with_shap_median"],
        qc["saliency"]["pearson_with_shap_median"],
    )


def gather_attributions(
    chunk_paths: list[str],
    shap_path: str,
    logos_path: str,
    qc_path: str,
    *,
    logo_windows: int = 5,
    logo_width: int = 60,
    additivity_tolerance: float = 1e-3,
) -> dict:
    """Join the chunks of ``attribute_chunk`` (gather step) and write values, logos and QC.

    Parameters
    ----------
    chunk_paths : list of str
        One npz per chunk, all chunks of one run.
    shap_path, logos_path, qc_path : str
        Outputs, as in ``compute_attributions``.
    logo_windows, logo_width : int
        Sequence logos drawn.
    additivity_tolerance : float, default 1e-3
        Checked again on the joined windows.

    Returns
    -------
    dict
        The QC record written to ``qc_path``.
    """
    _check_options({"logo_windows": logo_windows, "logo_width": logo_width})
    joined, qc = _join([_load_chunk(path) for path in chunk_paths], additivity_tolerance)
    _write_attribution(joined, qc, shap_path, logos_path, qc_path, logo_windows, logo_width)
    return qc


def compute_attributions(
    model_path: str,
    data_path: str,
    shap_path: str,
    logos_path: str,
    qc_path: str,
    *,
    n_windows: int = 100,
    n_shuffles: int = 20,
    batch_pairs: int = 20,
    seed: int = 0,
    logo_windows: int = 5,
    logo_width: int = 60,
    additivity_tolerance: float = 1e-3,
    ism_windows: int = 10,
    ism_width: int = 100,
    explainer: str = "auto",
    gradient_samples: int = 200,
    task: int | str | None = 0,
    threads: int = 1,
    device: str = "auto",
) -> dict:
    """Explain the top-scoring positive windows with SHAP and write values, logos and QC.

    The same as one ``attribute_chunk`` followed by ``gather_attributions``, in one process.

    Parameters
    ----------
    model_path : str
        Checkpoint written by ``peakcnn.model.save_checkpoint``.
    data_path : str
        Encoded split (``dataset/test.npz``), see ``load_dataset``.
    shap_path : str
        Output ``.npz``: ``shap`` and ``projected`` float32 (n, 4, L), ``saliency`` float32
        (n, 4, L) (gradient x input), ``x`` uint8 (n, 4, L), ``chrom`` (n,) str,
        ``start``/``end`` int64 (n,), ``score`` float32 (n,) (probability), ``index`` int64
        (n,) (row in ``data_path``), ``additivity_error`` and ``output_delta`` (``f(x) - mean
        f(refs)``, the sum SHAP values should reach) float64 (n,); ISM of the top
        ``ism_windows``: ``ism`` float32 (m, 4, w) (logit change per substitution),
        ``ism_index`` int64 (m,), ``ism_start``/``ism_end`` (the stretch in the window).
    logos_path : str
        Output PNG: logos of ``projected`` for the top ``logo_windows`` windows.
    qc_path : str
        Output JSON: explainer, counts, per-window additivity errors, N handling, timing, and
        the Pearson correlation of projected SHAP with ISM and with saliency.
    n_windows : int, default 100
        Most windows to explain: the positives of ``task`` with the highest scores.
    n_shuffles : int, default 20
        Dinucleotide-shuffled references per window.
    batch_pairs : int, default 20
        Sequence-reference pairs per DeepExplainer call.
    seed : int, default 0
        Seed; window at row ``r`` is shuffled with ``seed + r``.
    logo_windows : int, default 5
        Windows drawn in the logo PNG.
    logo_width : int, default 60
        Bases per logo.
    additivity_tolerance : float, default 1e-3
        Largest ``|sum(shap) - (f(x) - mean f(refs))|`` allowed per window, in logits.
    ism_windows : int, default 10
        Top-ranked windows also explained by ISM (0 = none).
    ism_width : int, default 100
        Central bases mutated by ISM (ISM costs 3 forward passes per base).
    explainer : {"auto", "shap.DeepExplainer", "shap.GradientExplainer"}, default "auto"
        auto = the explainer stored in the checkpoint by training (the one that suits the
        model), else DeepExplainer. DeepExplainer's additivity is enforced; GradientExplainer's
        (expected gradients) is only recorded.
    gradient_samples : int, default 200
        GradientExplainer samples per window.
    task : int, str or None, default 0
        Output column explained: its index, its task name, or None for the first.
    threads : int, default 1
        Torch intra-op threads.
    device : str, default "auto"
        ``auto``, ``cpu`` or ``cuda[:i]``.

    Returns
    -------
    dict
        The QC record written to ``qc_path``.

    Raises
    ------
    InputError
        For bad options, a task out of range or a task with no positive window.
    ValueError
        If the additivity check fails; no output is written then.
    """
    _check_options({"logo_windows": logo_windows, "logo_width": logo_width})
    part = _chunk(
        model_path,
        data_path,
        chunk=0,
        chunks=1,
        n_windows=n_windows,
        n_shuffles=n_shuffles,
        batch_pairs=batch_pairs,
        seed=seed,
        additivity_tolerance=additivity_tolerance,
        ism_windows=ism_windows,
        ism_width=ism_width,
        explainer=explainer,
        gradient_samples=gradient_samples,
        task=task,
        threads=threads,
        device=device,
    )
    joined, qc = _join([part], additivity_tolerance)
    _write_attribution(joined, qc, shap_path, logos_path, qc_path, logo_windows, logo_width)
    return qc
