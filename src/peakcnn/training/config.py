"""The ``train`` config section as one frozen, checked settings object (``TrainConfig``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from peakcnn.models.calibration import METHODS as CALIBRATION_METHODS
from peakcnn.models.catalog import architecture_of
from peakcnn.models.registry import MODELS

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("none", "reduce_on_plateau", "cosine", "one_cycle")
MONITORS = ("val_auroc", "val_loss")
AMP_MODES = ("auto", "none", "bf16", "fp16")

# Config keys whose field has another name here: ``compile`` would shadow the builtin.
_RENAMED = {"compile": "torch_compile"}
# Settings fitted after training: they do not change what a checkpoint resumes.
_NOT_RESUMED = ("calibration",)


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run: the ``train`` config section (less ``seeds``), checked.

    Build it with ``TrainConfig.from_section(**section)``, which takes the config's own keys.

    Parameters
    ----------
    architecture : dict, optional
        Model hyperparameters, flat or keyed by model name; model defaults when empty. For
        ``kmer_baseline``: ``k``, ``canonical`` and ``C`` (a number or a grid chosen on
        validation).
    epochs : int, default 20
        Maximum epochs.
    batch_size : int, default 64
    optimizer : {"sgd", "adamw"}, default "sgd"
    lr : float, default 0.02
        Learning rate (the peak for ``one_cycle``).
    momentum : float, default 0.9
        SGD momentum.
    weight_decay : float, default 0.0
    schedule : {"none", "reduce_on_plateau", "cosine", "one_cycle"}, default "none"
    lr_factor : float, default 0.5
        ``reduce_on_plateau``: LR multiplier.
    lr_patience : int, default 2
        ``reduce_on_plateau``: epochs without improvement before the LR is lowered.
    monitor : {"val_auroc", "val_loss"}, default "val_auroc"
        What picks the kept (best) epoch and drives early stopping: the highest validation
        AUROC or the lowest validation loss.
    patience : int, default 5
        Stop after this many epochs without a better monitored value (0: never stop early);
        the best epoch's weights are restored.
    pos_weight : "auto", float or None, default None
        Positive-class weight of the loss: negatives/positives of the train split (auto), a
        number, or none.
    augment_rc : bool, default False
        Reverse-complement each training window with probability 1/2.
    max_shift : int, default 0
        Random shifts of training windows, up to this many bp either way; the dataset must
        have been built with the same margin (``check_margin``).
    rc_average : bool, default False
        Predict with the mean logit of a window and its reverse complement (also used for the
        validation scores that pick the best epoch; stored in the checkpoint).
    amp : {"auto", "none", "bf16", "fp16"}, default "auto"
        Mixed precision (``optim.resolve_amp``): auto = bf16 (fp16 without bf16) on CUDA,
        bf16 on CPUs with bfloat16 instructions, else float32; none = float32.
    torch_compile : bool, default False
        Run training steps through ``torch.compile`` (config key ``compile``).
    calibration : {"temperature", "platt", "none"}, default "platt"
        How the kept model's probabilities are calibrated on validation
        (``peakcnn.models.calibration``); stored in the checkpoint.
    seed : int, default 0
    subsample : int, optional
        Train on this many positive training windows (one per peak) drawn at random, with
        negatives drawn at the split's negative-to-positive ratio (``inputs.subsample_split``);
        None trains on all. Validation is never subsampled. For learning curves.
    subsample_seed : int, default 0
        Seed of that draw (the same draw for every ``seed`` of a model).
    device : str, default "auto"
        ``auto`` picks CUDA when available, else CPU.

    Raises
    ------
    ValueError
        If a setting with a fixed set of values has another one.
    """

    architecture: dict | None = None
    epochs: int = 20
    batch_size: int = 64
    optimizer: str = "sgd"
    lr: float = 0.02
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "none"
    lr_factor: float = 0.5
    lr_patience: int = 2
    monitor: str = "val_auroc"
    patience: int = 5
    pos_weight: str | float | None = None
    augment_rc: bool = False
    max_shift: int = 0
    rc_average: bool = False
    amp: str = "auto"
    torch_compile: bool = False
    calibration: str = "platt"
    seed: int = 0
    subsample: int | None = None
    subsample_seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        """Check the settings that take one of a fixed set of values."""
        for key, allowed in (
            ("optimizer", OPTIMIZERS),
            ("schedule", SCHEDULES),
            ("monitor", MONITORS),
            ("amp", AMP_MODES),
            ("calibration", CALIBRATION_METHODS),
        ):
            value = getattr(self, key)
            if value not in allowed:
                raise ValueError(f"train.{key} {value!r} must be one of {list(allowed)}")
        if self.subsample is not None and self.subsample < 1:
            raise ValueError(f"train.subsample {self.subsample} must be >= 1 or null (all)")

    @classmethod
    def from_section(cls, **section: object) -> TrainConfig:
        """Build the settings from the ``train`` section's own keys (``compile``, ...).

        Raises
        ------
        TypeError
            For a key that is no training setting.
        """
        known = [_key(field.name) for field in dataclasses.fields(cls)]
        unknown = sorted(set(section) - set(known))
        if unknown:
            raise TypeError(f"train: unknown setting(s) {unknown}; the settings are {known}")
        return cls(**{_RENAMED.get(key, key): value for key, value in section.items()})

    def resumable_settings(self) -> dict:
        """Return the settings a resumable checkpoint must match, under their config keys."""
        return {
            _key(field.name): getattr(self, field.name)
            for field in dataclasses.fields(self)
            if field.name not in _NOT_RESUMED
        }


def _key(field: str) -> str:
    """Config key of a ``TrainConfig`` field."""
    return next((key for key, name in _RENAMED.items() if name == field), field)


def resolve_architecture(name: str, architecture: dict | None) -> dict:
    """Return the hyperparameters of model ``name`` from ``train.architecture``.

    ``architecture`` is either keyed by model name (``{basset: {...}, hybrid: {...}}``) or a
    flat dict of the model's own hyperparameters (``catalog.architecture_of``).
    """
    return architecture_of(name, architecture, models=MODELS)
