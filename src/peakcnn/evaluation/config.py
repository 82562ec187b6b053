"""Settings and files of ``evaluate_model``: one frozen dataclass each.

``EvalConfig`` holds the ``evaluate`` config keys the evaluation reads, built with
``EvalConfig(**section)`` so that an unknown key fails with a ``TypeError`` naming it.
``baseline`` is not one of them: only the comparison of models reads it, so editing it
reruns the comparison alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from peakcnn.evaluation.metrics import THRESHOLD_METHODS


@dataclass(frozen=True)
class EvalConfig:
    """The ``evaluate`` settings ``evaluate_model`` reads (not ``baseline``: the comparison's).

    Attributes
    ----------
    threshold : {"max_f1", "youden"}
        How the decision threshold is chosen on validation (never on test).
    bootstrap : int
        Bootstrap resamples for the test CIs (0 to skip).
    seed : int
        Seeds the bootstrap and the substitutions.
    group_bp : int
        Sub-block size for per-group metrics; 0 = whole split regions.
    substitution_rates : tuple of float
    shifts : tuple of int
        In bp; need the genome FASTA.
    calibration_bins : int
    device : str
    """

    threshold: str = "max_f1"
    bootstrap: int = 1000
    seed: int = 0
    group_bp: int = 0
    substitution_rates: tuple[float, ...] = (0.01, 0.05, 0.1)
    shifts: tuple[int, ...] = (-50, -10, 10, 50)
    calibration_bins: int = 10
    device: str = "auto"

    def __post_init__(self):
        """Store the lists of a config section as tuples; reject an unknown threshold method."""
        object.__setattr__(self, "substitution_rates", tuple(self.substitution_rates))
        object.__setattr__(self, "shifts", tuple(self.shifts))
        if self.threshold not in THRESHOLD_METHODS:
            raise ValueError(
                f"evaluate.threshold {self.threshold!r} must be one of {list(THRESHOLD_METHODS)}"
            )


@dataclass(frozen=True)
class EvalInputs:
    """The files ``evaluate_model`` reads; the optional ones enable optional parts.

    Attributes
    ----------
    model : str
        Checkpoint from ``peakcnn.training.train.train_model``.
    val, test : str
        Encoded split npz files.
    history, train_report : str or None
        ``history.tsv`` and ``train.json`` of training (for the training-curve PNG).
    regions : str or None
        ``split/regions.bed`` (for the per-group metrics).
    fasta : str or None
        Genome FASTA the dataset was encoded from (needed for shifts).
    homology : str or None
        ``homology.tsv`` of ``peakcnn.data.homology``: test metrics without the windows that
        have a near-identical train window go to ``metrics["homology"]`` (and ``metrics.tsv``).
    """

    model: str
    val: str
    test: str
    history: str | None = None
    train_report: str | None = None
    regions: str | None = None
    fasta: str | None = None
    homology: str | None = None


@dataclass(frozen=True)
class EvalOutputs:
    """The files ``evaluate_model`` writes; an optional one left None is not made.

    Attributes
    ----------
    metrics : str
        ``metrics.json``: test and val metrics, test bootstrap CIs, calibration, groups and
        robustness.
    table : str
        ``metrics.tsv``: the headline test metrics with CIs, for the report.
    predictions : str
        ``predictions.tsv.gz``: one row per val and test window and task.
    roc, pr : str
        ROC and precision-recall PNGs.
    calibration, scores, training : str or None
        PNGs: reliability diagram; test score histograms by label; training curves.
    groups : str or None
        Per-chromosome/per-block metrics TSV (needs ``EvalInputs.regions``).
    robustness, robustness_plot : str or None
        Robustness TSV and PNG (substitutions, and shifts when the FASTA is given).
    """

    metrics: str
    table: str
    predictions: str
    roc: str
    pr: str
    calibration: str | None = None
    scores: str | None = None
    training: str | None = None
    groups: str | None = None
    robustness: str | None = None
    robustness_plot: str | None = None
