"""SHAP values checked for additivity, with a diagnosis of the layers that break it.

``explain_checked`` makes the references of some windows, computes their SHAP values and checks
every window for additivity, ``sum(shap) == f(x) - mean f(refs)`` in logit space, before
anything is written. When DeepSHAP fails or does not add up, the error names the layers it
likely cannot propagate through (unsupported modules, or a functional activation). Windows with N
columns, and windows with no distinct shuffle, are counted in the QC record.
"""

from __future__ import annotations

import logging
from importlib.metadata import version
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from peakcnn.interpret.deeplift import SUPPORTED
from peakcnn.interpret.shap_values import (
    EXPLAINER,
    N_HANDLING,
    engine_of,
    explain,
    make_references,
    output_deltas,
)
from peakcnn.logs import throughput

if TYPE_CHECKING:
    from peakcnn.interpret.attribute import ChunkOptions

logger = logging.getLogger(__name__)


def _suspect_layers(model: nn.Module, x: torch.Tensor) -> str:
    """Name the layers that DeepSHAP may not propagate through, found in one forward pass.

    Parameters
    ----------
    model : torch.nn.Module
        The model, in eval mode.
    x : torch.Tensor
        One input batch, float32 (B, 4, L), on the model's device.

    Returns
    -------
    str
        A short description of the suspects (leaf modules with no DeepLIFT rule in
        ``peakcnn.interpret.deeplift``), or of the usual cause when none is found (a functional
        activation in ``forward``).
    """
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
        f"{name} ({type(module).__name__}, called {calls[name]}x) has no DeepLIFT rule"
        for name, module in leaves.items()
        if name in calls and not isinstance(module, SUPPORTED)
    ]
    if suspects:
        return "suspect layers: " + ", ".join(suspects)
    return (
        "no layer module without a DeepLIFT rule found, so likely a functional activation in "
        "forward() (e.g. torch.nn.functional.relu) that DeepSHAP cannot see"
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
        f"{len(errors)} windows; DeepSHAP needs every nonlinearity as a module (nn.ReLU(), "
        f"nn.MaxPool1d, ...), not functional; {suspects}; fix the model or raise "
        f"additivity_tolerance"
    )


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


def _explain_or_name_suspects(
    model: nn.Module,
    x: np.ndarray,
    references: np.ndarray,
    task: int,
    device: torch.device,
    opts: ChunkOptions,
) -> tuple[np.ndarray, np.ndarray | None, dict]:
    """SHAP values of ``x`` against ``references``, timed; a failure names the suspect layers.

    Returns
    -------
    values, hypothetical
        As ``peakcnn.interpret.shap_values.explain``.
    record : dict
        ``peakcnn.logs.throughput``'s record: ``count`` (pairs), ``seconds``, ``rate``.
    """
    explainer = opts.explainer
    with throughput(f"SHAP {explainer}", "pairs") as record:
        try:
            values, hypothetical = explain(
                model,
                x,
                references,
                task,
                device,
                opts.batch_pairs,
                explainer,
                opts.gradient_samples,
                opts.seed,
            )
        except (RuntimeError, ValueError) as error:
            suspects = _suspect_layers(model, torch.from_numpy(x[:1]).to(device, torch.float32))
            reason = (str(error).splitlines() or [type(error).__name__])[0][:160]
            raise ValueError(
                f"{explainer} failed on this model ({reason}); {suspects}; it needs every "
                "nonlinearity as a module (nn.ReLU(), nn.MaxPool1d, ...), not functional"
            ) from error
        record["count"] = len(x) * opts.n_shuffles
    return values, hypothetical, record


def _shap_qc(
    errors: np.ndarray,
    deltas: np.ndarray,
    opts: ChunkOptions,
    record: dict,
    unknown: tuple[int, int],
    shuffled: np.ndarray,
) -> dict:
    """Build the QC record of ``explain_checked``: explainer, counts, timing, additivity, N."""
    enforced = opts.explainer == EXPLAINER
    tolerance = opts.additivity_tolerance
    return {
        "errors": errors,
        "deltas": deltas,
        "explainer": opts.explainer,
        "gradient_samples": None if enforced else opts.gradient_samples,
        "additivity_enforced": enforced,
        "engine": engine_of(opts.explainer),
        "shap_version": version("shap"),
        "references": "tangermeme.ersatz.dinucleotide_shuffle",
        "n_windows": len(errors),
        "pairs": record["count"],
        "seconds": record["seconds"],
        "attributions_per_second": record["rate"],
        "additivity_max_error": float(errors.max()),
        "additivity_mean_error": float(errors.mean()),
        "additivity_tolerance": tolerance,
        "additivity_passed": bool(not enforced or errors.max() <= tolerance),
        "windows_with_n": unknown[0],
        "n_columns": unknown[1],
        "n_handling": N_HANDLING,
        "unshuffled_windows": int((~shuffled).sum()),
    }


def explain_checked(
    model: nn.Module,
    x: np.ndarray,
    rows: np.ndarray,
    task: int,
    device: torch.device,
    opts: ChunkOptions,
) -> tuple[np.ndarray, np.ndarray | None, dict]:
    """Make references, compute SHAP values and check their additivity.

    DeepSHAP's values must add up exactly (within ``opts.additivity_tolerance``) or this
    raises; GradientExplainer's add up only in expectation, so their error is recorded, not
    enforced.

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
    opts : peakcnn.interpret.attribute.ChunkOptions
        ``n_shuffles``, ``batch_pairs``, ``seed``, ``additivity_tolerance``,
        ``gradient_samples`` and ``explainer`` (``shap.DeepExplainer`` or
        ``shap.GradientExplainer``, already resolved) are used.

    Returns
    -------
    values : numpy.ndarray
        Raw SHAP values, float64 (n, 4, L).
    hypothetical : numpy.ndarray or None
        Hypothetical contributions, float64 (n, 4, L) (DeepSHAP), or None
        (GradientExplainer); see ``peakcnn.interpret.shap_values.explain``.
    qc : dict
        Explainer, counts, timing, additivity errors (``errors``: per window) and N handling.
    """
    references, shuffled = make_references(x, rows, opts.n_shuffles, opts.seed)
    unknown = _log_unknown_bases(x, shuffled)
    values, hypothetical, record = _explain_or_name_suspects(
        model, x, references, task, device, opts
    )
    deltas = output_deltas(model, x, references, task, device)
    errors = np.abs(values.sum(axis=(1, 2)) - deltas)
    relative = errors / np.maximum(np.abs(deltas), 1e-6)
    logger.info(
        "additivity error: max %.3g, mean %.3g logits (tolerance %g), median %.3g of |delta|",
        np.max(errors),
        np.mean(errors),
        opts.additivity_tolerance,
        np.median(relative),
    )
    if opts.explainer == EXPLAINER:
        _check_additivity(errors, opts.additivity_tolerance, model, x, device)
    else:
        logger.warning(
            "%s is additive only in expectation: additivity is recorded, not enforced (median "
            "error %.3g of |f(x) - mean f(refs)|); the SHAP-vs-ISM correlation is the check",
            opts.explainer,
            np.median(relative),
        )
    return values, hypothetical, _shap_qc(errors, deltas, opts, record, unknown, shuffled)
