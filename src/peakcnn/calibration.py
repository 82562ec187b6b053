"""Temperature scaling: calibrated probabilities ``sigmoid(logit / T)``, one ``T`` per task.

The temperature of each task is fitted on the validation logits of the trained model by
minimising the negative log-likelihood (a bounded 1-D search over ``1 / T``, where the NLL is
convex). It is fitted once, at the end of training, and stored in the checkpoint
(``model.pt``, key ``calibration``), so every consumer (evaluation, ``peakcnn predict``,
``scan``, ``variants``, ``export``) reads it from the same file. Scaling by a positive
temperature is monotone: rankings (AUROC, AUPRC) are unchanged, probabilities and the
probability threshold chosen on validation are not.

A task whose validation set cannot support a fit (one class only, constant logits) keeps
``T = 1`` and says why in ``status``; a checkpoint without a ``calibration`` entry (trained
before calibration existed) is used uncalibrated.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar

from peakcnn.errors import InputError

#: Method name stored with the fit.
METHOD = "temperature"
#: Bounds of the temperature search; a fit at a bound is recorded as such.
TEMPERATURE_BOUNDS = (0.05, 20.0)
#: Key of the fit in a checkpoint and in ``train.json``.
CHECKPOINT_KEY = "calibration"


def binary_nll(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean binary cross-entropy of ``sigmoid(logits)`` against 0/1 labels, computed stably."""
    logits = np.asarray(logits, dtype=np.float64)
    return float(np.mean(np.logaddexp(0.0, logits) - labels * logits))


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> dict:
    """Fit the temperature of one task on validation logits by minimising the NLL.

    Parameters
    ----------
    logits : numpy.ndarray of float, shape (n,)
        Raw validation logits.
    labels : numpy.ndarray of {0, 1}, shape (n,)

    Returns
    -------
    dict
        ``temperature`` (1.0 when not fitted), ``status`` (``fitted``, ``at_bound``,
        ``one_class``, ``constant_logits``, ``no_gain``), ``n``, ``positives``,
        ``nll_before`` and ``nll_after`` (validation NLL at T = 1 and at the fitted T).

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
    record.update(temperature=1.0, nll_before=before, nll_after=before)
    if labels.size == 0 or labels.min() == labels.max():
        return {**record, "status": "one_class"}
    if np.ptp(logits) == 0 and logits[0] == 0:
        return {**record, "status": "constant_logits"}
    low, high = 1 / TEMPERATURE_BOUNDS[1], 1 / TEMPERATURE_BOUNDS[0]
    found = minimize_scalar(
        lambda scale: binary_nll(scale * logits, labels),
        bounds=(low, high),
        method="bounded",
        options={"xatol": 1e-6},
    )
    after = float(found.fun)
    if not after < before:
        return {**record, "status": "no_gain"}
    temperature = float(1 / found.x)
    near_bound = min(abs(found.x - low) / low, abs(found.x - high) / high) < 1e-3
    return {
        **record,
        "temperature": temperature,
        "nll_after": after,
        "status": "at_bound" if near_bound else "fitted",
    }


def fit_calibration(logits: np.ndarray, labels: np.ndarray) -> dict:
    """Fit one temperature per task; the record stored in the checkpoint and ``train.json``.

    Parameters
    ----------
    logits : numpy.ndarray of float, shape (n, T)
        Raw validation logits of the trained model.
    labels : numpy.ndarray of {0, 1}, shape (n, T)

    Returns
    -------
    dict
        ``method``, ``fitted_on`` and per task (lists in output order) ``temperature``,
        ``status``, ``n``, ``positives``, ``nll_before``, ``nll_after``.
    """
    logits = np.asarray(logits).reshape(len(logits), -1)
    labels = np.asarray(labels).reshape(len(labels), -1)
    fits = [fit_temperature(logits[:, t], labels[:, t]) for t in range(logits.shape[1])]
    record: dict = {"method": METHOD, "fitted_on": "validation"}
    for key in ("temperature", "status", "n", "positives", "nll_before", "nll_after"):
        record[key] = [fit[key] for fit in fits]
    return record


def temperatures_of(record: dict | None, n_tasks: int, where: str) -> np.ndarray | None:
    """Return the per-task temperatures of a calibration record (None for no record).

    Raises
    ------
    InputError
        If the record is malformed: not one positive finite temperature per task.
    """
    if record is None:
        return None
    try:
        values = np.asarray(record["temperature"], dtype=np.float64).reshape(-1)
    except (KeyError, TypeError, ValueError) as error:
        raise InputError(
            f"its calibration entry is unreadable ({error!r}); retrain the model", where
        ) from None
    if values.size != n_tasks or not (np.isfinite(values) & (values > 0)).all():
        raise InputError(
            f"its calibration holds temperatures {values.tolist()} for {n_tasks} task(s); each "
            "must be one positive number per task; retrain the model",
            where,
        )
    return values


def calibrated_probabilities(logits: np.ndarray, temperatures: np.ndarray | None) -> np.ndarray:
    """``sigmoid(logit / T)`` per task in float64; plain ``sigmoid`` without temperatures.

    Parameters
    ----------
    logits : numpy.ndarray of float, shape (n, T) or (n,)
    temperatures : numpy.ndarray of float, shape (T,), or None
    """
    scaled = np.asarray(logits, dtype=np.float64)
    if temperatures is not None:
        scaled = scaled / np.asarray(temperatures, dtype=np.float64)
    return 0.5 * (1.0 + np.tanh(0.5 * scaled))


def read_calibration(path: str) -> dict | None:
    """Return the calibration record stored in a checkpoint (``model.pt``), or None."""
    import torch

    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    return checkpoint.get(CHECKPOINT_KEY) if isinstance(checkpoint, dict) else None
