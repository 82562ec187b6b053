"""Calibrated probabilities ``sigmoid(logit / T + b)``, one ``T`` (and ``b``) per task.

Temperature scaling (the default) fits ``T`` with ``b = 0``; Platt scaling fits both; ``none``
keeps ``T = 1, b = 0``. Each task is fitted on the validation logits of the trained model by
minimising the negative log-likelihood (temperature: a bounded 1-D search over ``1 / T``,
where the NLL is convex; Platt: bounded L-BFGS over ``(1 / T, b)``, also convex). It is
fitted once, at the end of training, and stored in the checkpoint (``model.pt``, key
``calibration``), so every consumer (evaluation, ``peakcnn predict``, ``scan``, ``variants``,
``export``) reads it from the same file. The map is increasing (``T > 0``): rankings (AUROC,
AUPRC) are unchanged, probabilities and the probability threshold chosen on validation are
not.

A task whose validation set cannot support a fit (one class only, constant logits) keeps
``T = 1, b = 0`` and says why in ``status``; a checkpoint without a ``calibration`` entry
(trained before calibration existed) is used uncalibrated.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize, minimize_scalar

from peakcnn.errors import InputError

#: Fitting methods (``train.calibration``).
METHODS = ("temperature", "platt", "none")
#: Bounds of the temperature search; a fit at a bound is recorded as such.
TEMPERATURE_BOUNDS = (0.05, 20.0)
#: Bounds of the Platt bias (logit units).
BIAS_BOUNDS = (-20.0, 20.0)
#: Key of the fit in a checkpoint and in ``train.json``.
CHECKPOINT_KEY = "calibration"


def binary_nll(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean binary cross-entropy of ``sigmoid(logits)`` against 0/1 labels, computed stably."""
    logits = np.asarray(logits, dtype=np.float64)
    return float(np.mean(np.logaddexp(0.0, logits) - labels * logits))


def fit_temperature(logits: np.ndarray, labels: np.ndarray, method: str = "temperature") -> dict:
    """Fit the temperature (and with Platt the bias) of one task by minimising the NLL.

    Parameters
    ----------
    logits : numpy.ndarray of float, shape (n,)
        Raw validation logits.
    labels : numpy.ndarray of {0, 1}, shape (n,)
    method : {"temperature", "platt"}, default "temperature"

    Returns
    -------
    dict
        ``temperature`` (1.0 when not fitted), ``bias`` (0.0 unless Platt), ``status``
        (``fitted``, ``at_bound``, ``one_class``, ``constant_logits``, ``no_gain``), ``n``,
        ``positives``, ``nll_before`` and ``nll_after`` (validation NLL before and after).

    Raises
    ------
    ValueError
        On non-finite logits or labels other than 0/1.
    """
    logits = np.asarray(logits, dtype=np.float64).ravel()
    labels = np.asarray(labels).ravel()
    if logits.shape != labels.shape:
        raise ValueError(f"logits {logits.shape} and labels {labels.shape} differ in shape")
    if not np.isfinite(logits).all():
        raise ValueError("validation logits are NaN or infinite; the model output is broken")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError(f"labels must be 0/1, got {np.unique(labels)[:5].tolist()}")
    labels = labels.astype(np.float64)
    record = {"n": int(labels.size), "positives": int(labels.sum())}
    before = binary_nll(logits, labels) if labels.size else float("nan")
    record.update(temperature=1.0, bias=0.0, nll_before=before, nll_after=before)
    if labels.size == 0 or labels.min() == labels.max():
        return {**record, "status": "one_class"}
    if np.ptp(logits) == 0 and logits[0] == 0:
        return {**record, "status": "constant_logits"}
    low, high = 1 / TEMPERATURE_BOUNDS[1], 1 / TEMPERATURE_BOUNDS[0]
    if method == "platt":
        scale, bias, after = _fit_platt(logits, labels, (low, high))
    elif method == "temperature":
        found = minimize_scalar(
            lambda value: binary_nll(value * logits, labels),
            bounds=(low, high),
            method="bounded",
            options={"xatol": 1e-6},
        )
        scale, bias, after = float(found.x), 0.0, float(found.fun)
    else:
        raise ValueError(f"calibration method {method!r} must be one of {list(METHODS)}")
    if not after < before:
        return {**record, "status": "no_gain"}
    near_bound = min(abs(scale - low) / low, abs(scale - high) / high) < 1e-3
    near_bound |= min(abs(bias - b) for b in BIAS_BOUNDS) < 1e-3
    return {
        **record,
        "temperature": float(1 / scale),
        "bias": float(bias),
        "nll_after": after,
        "status": "at_bound" if near_bound else "fitted",
    }


def _fit_platt(
    logits: np.ndarray, labels: np.ndarray, scale_bounds: tuple[float, float]
) -> tuple[float, float, float]:
    """Minimise the NLL of ``sigmoid(a * logit + b)`` over bounded ``(a, b)``; (a, b, NLL)."""

    def nll_and_gradient(params: np.ndarray) -> tuple[float, np.ndarray]:
        z = params[0] * logits + params[1]
        residual = 0.5 * (1.0 + np.tanh(0.5 * z)) - labels
        gradient = np.array([np.mean(residual * logits), np.mean(residual)])
        return binary_nll(z, labels), gradient

    found = minimize(
        nll_and_gradient,
        x0=np.array([1.0, 0.0]),
        jac=True,
        method="L-BFGS-B",
        bounds=[scale_bounds, BIAS_BOUNDS],
        options={"ftol": 1e-14, "gtol": 1e-10},
    )
    return float(found.x[0]), float(found.x[1]), float(found.fun)


def _identity(logits: np.ndarray, labels: np.ndarray) -> dict:
    """Describe a task left uncalibrated on request (``T = 1, b = 0``)."""
    nll = binary_nll(logits, labels) if labels.size else float("nan")
    return {
        "n": int(labels.size),
        "positives": int(labels.sum()),
        "temperature": 1.0,
        "bias": 0.0,
        "nll_before": nll,
        "nll_after": nll,
        "status": "not_requested",
    }


def fit_calibration(logits: np.ndarray, labels: np.ndarray, method: str = "temperature") -> dict:
    """Fit one calibration per task; the record stored in the checkpoint and ``train.json``.

    Parameters
    ----------
    logits : numpy.ndarray of float, shape (n, T)
        Raw validation logits of the trained model.
    labels : numpy.ndarray of {0, 1}, shape (n, T)
    method : {"temperature", "platt", "none"}, default "temperature"
        ``none`` records ``T = 1, b = 0`` (status ``not_requested``).

    Returns
    -------
    dict
        ``method``, ``fitted_on`` and per task (lists in output order) ``temperature``,
        ``bias``, ``status``, ``n``, ``positives``, ``nll_before``, ``nll_after``.
    """
    if method not in METHODS:
        raise ValueError(f"train.calibration {method!r} must be one of {list(METHODS)}")
    logits = np.asarray(logits).reshape(len(logits), -1)
    labels = np.asarray(labels).reshape(len(labels), -1)
    if method == "none":
        fits = [_identity(logits[:, t], labels[:, t]) for t in range(logits.shape[1])]
    else:
        fits = [fit_temperature(logits[:, t], labels[:, t], method) for t in range(logits.shape[1])]
    record: dict = {"method": method, "fitted_on": "validation"}
    for key in ("temperature", "bias", "status", "n", "positives", "nll_before", "nll_after"):
        record[key] = [fit[key] for fit in fits]
    return record


def calibration_of(
    record: dict | None, n_tasks: int, where: str
) -> tuple[np.ndarray, np.ndarray] | None:
    """Return the per-task ``(temperatures, biases)`` of a calibration record, or None.

    A record without biases (temperature scaling) has ``b = 0``.

    Raises
    ------
    InputError
        If the record is malformed: not one positive finite temperature and one finite bias
        per task.
    """
    if record is None:
        return None
    try:
        temperatures = np.asarray(record["temperature"], dtype=np.float64).reshape(-1)
        biases = np.asarray(record.get("bias", [0.0] * n_tasks), dtype=np.float64).reshape(-1)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise InputError(
            f"its calibration entry is unreadable ({error!r}); retrain the model", where
        ) from None
    good = temperatures.size == biases.size == n_tasks and np.isfinite(biases).all()
    if not good or not (np.isfinite(temperatures) & (temperatures > 0)).all():
        raise InputError(
            f"its calibration holds temperatures {temperatures.tolist()} and biases "
            f"{biases.tolist()} for {n_tasks} task(s); each must be one positive number per "
            "task (biases finite); retrain the model",
            where,
        )
    return temperatures, biases


def calibrated_probabilities(
    logits: np.ndarray, temperatures: np.ndarray | None, biases: np.ndarray | None = None
) -> np.ndarray:
    """``sigmoid(logit / T + b)`` per task in float64; plain ``sigmoid`` without a calibration.

    Parameters
    ----------
    logits : numpy.ndarray of float, shape (n, T) or (n,)
    temperatures : numpy.ndarray of float, shape (T,), or None
    biases : numpy.ndarray of float, shape (T,), or None
    """
    scaled = np.asarray(logits, dtype=np.float64)
    if temperatures is not None:
        scaled = scaled / np.asarray(temperatures, dtype=np.float64)
    if biases is not None:
        scaled = scaled + np.asarray(biases, dtype=np.float64)
    return 0.5 * (1.0 + np.tanh(0.5 * scaled))


def read_calibration(path: str) -> dict | None:
    """Return the calibration record stored in a checkpoint (``model.pt``), or None."""
    import torch

    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    return checkpoint.get(CHECKPOINT_KEY) if isinstance(checkpoint, dict) else None
