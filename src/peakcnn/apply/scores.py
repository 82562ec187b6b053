"""Scores of one-hot windows as ``peakcnn predict``, ``scan`` and ``variants`` use them.

A model (``peakcnn.apply.loading.LoadedModel``) or an ensemble of models
(``peakcnn.apply.ensemble.Ensemble``) scores windows through ``scores(x, both_strands)``, which
returns a ``WindowScores``: the logits and the calibrated probabilities, and for an ensemble
also each member's (for the spread over members). The commands use only this interface, so
they treat one model and an ensemble alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


def reverse_complement(x: np.ndarray) -> np.ndarray:
    """Reverse complement of ACGT one-hot windows (n, 4, L): both axes flipped."""
    return np.ascontiguousarray(x[:, ::-1, ::-1])


def strand_logits(model, x: np.ndarray, both_strands: bool = False) -> np.ndarray:
    """Logits (n, T) of one-hot windows, optionally the mean over both strands.

    Parameters
    ----------
    model : LoadedModel or Ensemble
    x : numpy.ndarray of uint8, shape (n, 4, length)
    both_strands : bool, default False
        Average the logits of each window and its reverse complement; a model trained with
        ``rc_average`` does so by itself, and is run once.
    """
    logits = model.logits(x)
    if both_strands and not model.metadata.rc_average:
        logits = (logits + model.logits(reverse_complement(x))) / 2
    return logits


@dataclass
class WindowScores:
    """Scores of n windows for T tasks, from one model or the mean over an ensemble's members.

    Attributes
    ----------
    logits : numpy.ndarray
        float32 (n, T): the model's raw logits, or the mean of the members' raw logits.
    probabilities : numpy.ndarray
        float64 (n, T): calibrated probabilities, or the mean of the members' calibrated
        probabilities (each member with its own calibration).
    member_logits, member_probabilities : numpy.ndarray or None
        (M, n, T) of an ensemble's M members; None for one model.
    """

    logits: np.ndarray
    probabilities: np.ndarray
    member_logits: np.ndarray | None = None
    member_probabilities: np.ndarray | None = None

    @classmethod
    def empty(cls, n: int, n_tasks: int, n_members: int = 0) -> WindowScores:
        """Zeros for n windows (to fill with ``put``); member arrays when ``n_members`` > 0."""
        members = (
            (np.zeros((n_members, n, n_tasks), np.float32), np.zeros((n_members, n, n_tasks)))
            if n_members
            else (None, None)
        )
        return cls(np.zeros((n, n_tasks), np.float32), np.zeros((n, n_tasks)), *members)

    def put(self, rows, other: WindowScores) -> None:
        """Write the scores of ``other`` into ``rows`` of these."""
        self.logits[rows] = other.logits
        self.probabilities[rows] = other.probabilities
        if self.member_logits is not None:
            self.member_logits[:, rows] = other.member_logits
            self.member_probabilities[:, rows] = other.member_probabilities

    @property
    def probability_sd(self) -> np.ndarray | None:
        """Standard deviation (ddof=1) of the members' probabilities, (n, T); None for one model."""
        if self.member_probabilities is None:
            return None
        return self.member_probabilities.std(axis=0, ddof=1)


def members_of(model) -> int:
    """Return the number of members of an ensemble, 0 for one model."""
    return len(getattr(model, "members", ()))


def effect_spread(scores: dict[str, WindowScores], keep: list[int]) -> pd.DataFrame | None:
    """Spread over members of variant effects, rows as ``peakcnn.apply.variants.effect_table``.

    Parameters
    ----------
    scores : dict of str to WindowScores
        ``ref`` and ``alt`` scores of every variant.
    keep : list of int
        The scored variants, in table order (one row per variant and task, tasks inner).

    Returns
    -------
    pandas.DataFrame or None
        ``probability_difference_sd`` and ``logit_difference_sd`` (ddof=1 over members of each
        member's alt - ref), or None for one model.
    """
    ref, alt = scores["ref"], scores["alt"]
    if ref.member_logits is None:
        return None
    logit = alt.member_logits[:, keep].astype(np.float64) - ref.member_logits[:, keep]
    probability = alt.member_probabilities[:, keep] - ref.member_probabilities[:, keep]
    return pd.DataFrame(
        {
            "probability_difference_sd": probability.std(axis=0, ddof=1).reshape(-1),
            "logit_difference_sd": logit.std(axis=0, ddof=1).reshape(-1),
        }
    )
